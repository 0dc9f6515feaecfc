# oor_core/bufpool.pxd -- the page cache (CLOCK buffer pool): C-level contract.
#
# Owns: a fixed array of 4096-byte frames (aligned to 4096), the page table
# (open-addressing hash, page id -> frame, no Python objects), per frame its
# page id, pin count, reference bit, hot flag and load/hit miss stamps, dirty
# flag and write-latch flag, the CLOCK hand (scan-resistant: see _victim), write-back (after the WAL hook: invariant 2), the hit/miss counters,
# and the pool's mode (one state variable, MODE_* below).  nframes is a ceiling:
# frames are taken in order as misses need them (active of them), their memory
# committed by the OS when first written, the bookkeeping doubled with them, and
# growth past BASE_FRAMES shares one budget with every pool of the process
# (docs/memory.md).  Memory is active * 4096 plus a few bytes per frame (invariant 9).
#
# The pool is the one object callers hold; it composes the other concerns:
#   guards.pxd   PageGuard / ReadPageGuard / WritePageGuard (the pool creates them)
#   space.pxd    SpaceManager: allocation, the free list, overflow chains (pool.space)
#   capture.pxd  ChangeCapture: before-images, diffs, unlogged pages (pool.capture)
#
# Who may cimport: the guards, the space manager and the change capture (the
# frame accessors below), the B+ tree (guards, and the raw pins documented in
# guards.pxd), walscan's redo (pin / pin_image / mark_dirty, RECOVERING only).
# Python callers (storage, recovery, tests) use the pool's Python API.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t

from oor_core.pager cimport Pager
from oor_core.guards cimport ReadPageGuard, WritePageGuard
from oor_core.space cimport SpaceManager
from oor_core.capture cimport ChangeCapture

cdef enum:
    NO_PAGE = 0xFFFFFFFF
    BASE_FRAMES = 8192      # frames a pool may always take, budget or not (the old fixed default)

# The pool's mode (BufferPool.mode; PoolMode is the Python enum).  Transitions
# (set_mode; anything else is an AssertionError), drawn in docs/architecture.md:
#   DIRECT     -> RECOVERING, SNAPSHOT, CLOSED     no log attached (tests, tools): writes need no capture
#   READ_ONLY  -> SNAPSHOT, CLOSED               the pager is read-only: no write pin at all
#   RECOVERING -> CAPTURING, IDLE, CLOSED  redo writes frames without capture; undo of a loser captures
#   IDLE       -> CAPTURING, CLOSED      log attached, no transaction: a write pin is a bug
#   CAPTURING  -> IDLE, BULK, RECOVERING, CLOSED   a transaction: first write pins save before-images
#   BULK       -> CAPTURING, CLOSED      a bulk build inside a transaction: new pages unlogged
#   SNAPSHOT   -> CLOSED                 a reader's pool at one snapshot: misses come from page_source
#   CLOSED     -> CLOSED                 every pin raises
cdef enum:                 # the modes (PoolMode in Python)
    MODE_DIRECT = 0
    MODE_READ_ONLY = 1
    MODE_RECOVERING = 2
    MODE_IDLE = 3
    MODE_CAPTURING = 4
    MODE_BULK = 5
    MODE_CLOSED = 6
    MODE_SNAPSHOT = 7
    MODE_COUNT = 8

# Per-frame state in one 16-byte record, so a pin touches one cache line.
ctypedef struct FrameMeta:
    uint32_t pid        # page held (NO_PAGE = free frame)
    int32_t pins        # pin count (guards alive, capture pins, raw pins)
    uint8_t ref         # CLOCK reference bit (set by every hit)
    uint8_t dirty       # differs from the file
    uint8_t wlatch      # a WritePageGuard exists
    uint8_t hot         # promoted: re-referenced after a later miss (scan resistance, bufpool.pyx _victim)
    uint16_t born       # the pool's load count (mod 2**16: misses and fresh pages) when the page was loaded
    uint16_t last       # the load count at its latest hit: last != born means a hit after another load

# Ghost-table slot: a cold page's id at its eviction and the pool's eviction count then (mod 2**32);
# a miss on it is a reuse only within one pool's worth of later evictions (bufpool.pyx _victim).
ctypedef struct GhostEntry:
    uint32_t pid        # NO_PAGE = empty
    uint32_t stamp      # evictions (mod 2**32) when it was evicted

# Page-table slot: linear probing, backward-shift deletion.
ctypedef struct HtEntry:
    uint32_t key        # page id (NO_PAGE = empty)
    int32_t frame


cdef inline uint32_t page_hash(uint32_t pid, int shift) noexcept nogil:
    return <uint32_t>(pid * <uint32_t>2654435761u) >> shift


cdef class BufferPool:
    cdef readonly Pager pager
    cdef void* mem
    cdef size_t mem_size            # bytes mapped for the frames
    cdef uint8_t* frames
    cdef FrameMeta* meta
    cdef readonly int nframes          # the ceiling: at most this many frames (address space reserved)
    cdef readonly int active           # frames taken so far, [0, active): the only ones ever mapped
    cdef int cap                       # frames the bookkeeping (meta, ht, ghost) is sized for: active <= cap
    cdef int hand                      # the CLOCK hand, in [0, active)
    cdef readonly int nhot             # frames with hot set (the hand ages them while above max_hot)
    cdef int max_hot                   # active minus the quarter kept for cold pages
    cdef GhostEntry* ghost             # recently evicted cold pages (direct-mapped, ghost_shift bits)
    cdef int ghost_shift
    cdef HtEntry* ht
    cdef uint32_t ht_mask
    cdef int ht_shift
    cdef public object wal_flush_hook
    cdef public object page_source     # SNAPSHOT: page_source(pid) -> the page's 4096 bytes at the pool's snapshot
    # SNAPSHOT in the writer's process, a miss's C path (bufpool.pyx, _direct_copy): the writer's pool, the
    # view's LSN, the view's parked pages (left to page_source); direct_misses counts the misses it served
    cdef public BufferPool base_pool
    cdef public uint64_t snap_lsn
    cdef public dict parked_map
    # SNAPSHOT in a reader process, a miss's C path (bufpool.pyx, _file_direct): the page ids its followed
    # log lists (oor/snapshots.py PageLog.by_page); a page not among them is the data file's copy
    cdef public dict log_pages
    cdef readonly unsigned long long direct_misses
    cdef readonly int mode             # a MODE_* value; changed only by set_mode()
    cdef readonly SpaceManager space
    cdef readonly ChangeCapture capture
    cdef readonly int nwriters         # write guards alive
    # Bumped by every tree change of this pool's database (and by storage after an
    # abort or recovery); a cursor re-seeks when it differs from its snapshot.
    cdef readonly unsigned long long change_count
    cdef readonly unsigned long long hits, misses, evictions, writes
    cdef unsigned long long loads      # misses plus fresh pages: the clock of the hot/cold decision

    # ---- frame accessors (inline: the lookup path makes no calls) ----
    cdef inline uint8_t* fdata(self, int f) noexcept nogil:
        return self.frames + (<size_t>f << 12)

    cdef inline int lookup(self, uint32_t pid) noexcept nogil:
        """Frame holding pid, or -1."""
        cdef uint32_t i = page_hash(pid, self.ht_shift)
        cdef uint32_t k
        while True:
            k = self.ht[i].key
            if k == pid:
                return self.ht[i].frame
            if k == NO_PAGE:
                return -1
            i = (i + 1) & self.ht_mask

    cdef inline int pin(self, uint32_t pid, bint fresh) except -1:
        """Pin page pid in a frame and return the frame.  fresh: a new page, not read from disk.

        Raw pin: only the guards and the callers listed in guards.pxd use it."""
        cdef int f
        if self.mode != MODE_CLOSED:
            f = self.lookup(pid)
            if f >= 0:
                self.hits += 1
                self.meta[f].pins += 1
                self.meta[f].ref = 1
                self.meta[f].last = <uint16_t>self.loads
                return f
        return self.pin_miss(pid, fresh)

    cdef inline void unpin(self, int f) noexcept nogil:
        self.meta[f].pins -= 1

    cdef inline void add_pin(self, int f) noexcept nogil:
        self.meta[f].pins += 1

    cdef inline int frame_pins(self, int f) noexcept nogil:
        return self.meta[f].pins

    cdef inline bint write_latched(self, int f) noexcept nogil:
        return self.meta[f].wlatch != 0

    cdef inline void drop_write_latch(self, int f) noexcept nogil:
        self.meta[f].wlatch = 0
        self.nwriters -= 1

    cdef inline void mark_dirty(self, int f) noexcept nogil:
        self.meta[f].dirty = 1

    cdef inline unsigned long long bump_changes(self) noexcept nogil:
        self.change_count += 1
        return self.change_count

    cdef int pin_miss(self, uint32_t pid, bint fresh) except -1
    cdef int pin_image(self, uint32_t pid, uint64_t lsn) except -2
    cdef void _ht_put(self, uint32_t pid, int f) noexcept nogil
    cdef void _ht_del(self, uint32_t pid) noexcept nogil
    cdef int _victim(self) except -1
    cdef int _take_frame(self) except -2
    cdef void _init_meta(self, int lo, int hi) noexcept nogil
    cdef int _grow(self) except -1
    cdef int _size_tables(self, int cap) except -1

    cdef inline int _advance(self) noexcept nogil:
        """The CLOCK hand's frame, the hand moved on by one (wrapping)."""
        cdef int f = self.hand
        self.hand += 1
        if self.hand >= self.active:
            self.hand = 0
        return f

    cdef bint _evict(self, int f, list failure) except -1
    cdef void _unhot(self, int f) noexcept nogil
    cdef bint _direct_copy(self, uint32_t pid, int f) except -1
    cdef bint _file_direct(self, uint32_t pid, int f) except -1
    cdef int _write_back(self, int f) except -1
    cdef int _drop_frames(self) except -1
    cdef int write_dirty(self, list pids) except -1
    cdef int _write_frames(self, list dirty, uint64_t max_lsn) except -1
    cdef ReadPageGuard read_guard(self, uint32_t pid)
    cdef WritePageGuard write_guard(self, uint32_t pid)
    cdef WritePageGuard fresh_guard(self, uint32_t pid)
    cdef WritePageGuard _writer(self, uint32_t pid, int f, bint fresh)
    cpdef end_op(self)
    cpdef set_mode(self, int mode)
