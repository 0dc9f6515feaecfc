# oor_core/bufpool.pyx -- the page cache: frames, page table, CLOCK, pins,
# write-back, hit/miss counters, the pool's mode, and the guards' creation.
# Contract, memory layout and the mode transitions in bufpool.pxd; the other
# concerns the pool composes live in guards.pyx (the guard objects), space.pyx
# (allocation, free list, overflow chains) and capture.pyx (before-images,
# diffs, unlogged pages).  Who may import: oor_core/__init__.py (BufferPool,
# PoolMode), storage, recovery, tests, bench.
import enum

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize

from oor_core.page cimport PAGE_SIZE, PT_FREE, PT_MAX, PT_FILE_HEADER, PT_SLOTTED, pg_id, pg_lsn
from oor_core.pager cimport Pager
from oor_core.guards cimport PageGuard, ReadPageGuard, WritePageGuard
from oor_core.space cimport SpaceManager
from oor_core.capture cimport ChangeCapture
from oor_core.errors import BufferPoolFullError, CorruptPageError, OorError


cdef extern from *:
    """
    #include <sys/mman.h>
    #include <stdlib.h>
    #include <unistd.h>
    #if !defined(MAP_NORESERVE)
    #define MAP_NORESERVE 0
    #endif
    static void *oor_map_frames(size_t n) {
    #if defined(MAP_ANONYMOUS)
        /* address space for every frame up to the ceiling; the OS commits a frame when it is first written */
        void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return NULL;
    #if defined(MADV_HUGEPAGE)
        madvise(p, n, MADV_HUGEPAGE);
    #endif
        return p;
    #else
        void *p = NULL;
        if (posix_memalign(&p, 4096, n) != 0) return NULL;
        return p;
    #endif
    }
    static void oor_unmap_frames(void *p, size_t n) {
    #if defined(MAP_ANONYMOUS)
        munmap(p, n);
    #else
        free(p);
    #endif
    }
    """
    void* oor_map_frames(size_t n) nogil
    void oor_unmap_frames(void* p, size_t n) nogil


cdef extern from *:
    """
    #include <unistd.h>
    static long long oor_phys_bytes(void) {
    #if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        if (pages > 0 && size > 0) return (long long)pages * size;
    #endif
        return 0;
    }
    """
    long long oor_phys_bytes() nogil

cdef enum:
    HUGE = 2 * 1024 * 1024


# ---- the process's frame budget (docs/memory.md) ---------------------------------------------------------
# Frames taken by every open pool of the process, and how many they may take together before a pool past its
# first BASE_FRAMES must evict instead of growing.  Changed with the GIL held (pin_miss, close, set_frame_budget).
cdef long long _in_use = 0
cdef long long _budget = BASE_FRAMES
BASE_POOL_FRAMES = BASE_FRAMES      # frames every pool may take whatever the budget (Python's name for it)


def _default_budget():
    import os
    mb = os.environ.get("OOR_POOL_MEMORY_MB")
    if mb:
        try:
            n = int(mb) * 256
        except ValueError:
            raise ValueError(f"OOR_POOL_MEMORY_MB={mb!r}: not a whole number of MiB") from None
    else:
        n = oor_phys_bytes() // 4 // PAGE_SIZE          # a quarter of the machine's memory
    return max(<long long>BASE_FRAMES, n)


_budget = _default_budget()


def set_frame_budget(long long frames):
    """Set the process's frame budget (4 KiB frames every pool of the process may use together; each pool
    keeps its first 8,192 frames whatever it is).  Returns the previous budget.  docs/memory.md."""
    global _budget
    if frames < BASE_FRAMES:
        raise ValueError(f"a frame budget of {frames} frames is below the {BASE_FRAMES} every pool may keep")
    old = _budget
    _budget = frames
    return old


def frame_budget():
    """The process's frame budget, in 4 KiB frames (default: a quarter of physical memory; environment
    variable OOR_POOL_MEMORY_MB)."""
    return _budget


def frames_in_use():
    """Frames taken by the open pools of this process (the budget's count)."""
    return _in_use


class PoolMode(enum.IntEnum):
    """The pool's modes (bufpool.pxd PoolMode; diagram in docs/architecture.md)."""
    DIRECT = MODE_DIRECT
    READ_ONLY = MODE_READ_ONLY
    RECOVERING = MODE_RECOVERING
    IDLE = MODE_IDLE
    CAPTURING = MODE_CAPTURING
    BULK = MODE_BULK
    CLOSED = MODE_CLOSED
    SNAPSHOT = MODE_SNAPSHOT


# mode -> modes it may change to (who triggers each: docs/architecture.md)
_TRANSITIONS = {
    MODE_DIRECT: (MODE_RECOVERING, MODE_SNAPSHOT, MODE_CLOSED),
    MODE_READ_ONLY: (MODE_SNAPSHOT, MODE_CLOSED),
    MODE_SNAPSHOT: (MODE_CLOSED,),
    MODE_RECOVERING: (MODE_CAPTURING, MODE_IDLE, MODE_CLOSED),
    MODE_IDLE: (MODE_CAPTURING, MODE_CLOSED),
    MODE_CAPTURING: (MODE_IDLE, MODE_BULK, MODE_RECOVERING, MODE_CLOSED),
    MODE_BULK: (MODE_CAPTURING, MODE_CLOSED),
    MODE_CLOSED: (MODE_CLOSED,),
}


cdef class BufferPool:
    """A fixed set of page frames over a Pager, replaced by CLOCK.

    ``BufferPool(pager, nframes)``.  Who may call: the B+ tree, the WAL and
    recovery, the registry (stats), tests.  Not thread-safe: one thread at a
    time (the registry serialises writers; the GIL makes each call atomic).
    """

    def __cinit__(self, Pager pager not None, int nframes=256):
        if nframes < 2:
            raise ValueError("a buffer pool needs at least 2 frames")
        self.pager = pager
        self.nframes = nframes
        # Frames: address space for the ceiling, anonymous zero-filled memory the OS commits as a frame is
        # first written (frames are taken in order: docs/memory.md), asked for transparent huge pages
        # (fewer TLB misses on random lookups in a large pool).
        self.mem_size = (<size_t>nframes * PAGE_SIZE + HUGE - 1) & ~(<size_t>HUGE - 1)
        self.mem = oor_map_frames(self.mem_size)
        self.cap = min(nframes, <int>BASE_FRAMES)
        self.meta = <FrameMeta*>malloc(self.cap * sizeof(FrameMeta))
        if self.mem == NULL or self.meta == NULL:
            raise MemoryError(f"cannot allocate a buffer pool of {nframes} frames")
        self.frames = <uint8_t*>self.mem
        self._init_meta(0, self.cap)
        self.active = 0
        if not self._size_tables(self.cap):
            raise MemoryError(f"cannot allocate a buffer pool of {nframes} frames")
        self.hand = 0
        self.nhot = 0
        self.max_hot = 0
        self.wal_flush_hook = None
        self.mode = MODE_READ_ONLY if pager.read_only else MODE_DIRECT
        self.space = SpaceManager(self)
        self.capture = ChangeCapture(self)

    def __dealloc__(self):
        global _in_use
        if self.mem != NULL:
            oor_unmap_frames(self.mem, self.mem_size)
            _in_use -= self.active
            self.active = 0
        free(self.meta)
        free(self.ht)
        free(self.ghost)

    # ---- mode ----------------------------------------------------------------
    cpdef set_mode(self, int mode):
        """Change the pool's mode; a change not in the diagram is an AssertionError (a bug).

        Callers: storage (transactions, end of recovery), recovery (redo, undo of
        losers), the B+ tree (bulk builds), close()/abandon().
        """
        if mode not in _TRANSITIONS.get(self.mode, ()):
            raise AssertionError(f"buffer pool of {self.pager.path}: invalid mode change "
                                 f"{PoolMode(self.mode).name} -> "
                                 f"{PoolMode(mode).name if 0 <= mode < MODE_COUNT else mode}")
        self.mode = mode

    @property
    def closed(self):
        return self.mode == MODE_CLOSED

    # ---- page table ------------------------------------------------------
    cdef void _ht_put(self, uint32_t pid, int f) noexcept nogil:
        cdef uint32_t i = page_hash(pid, self.ht_shift)
        while self.ht[i].key != NO_PAGE and self.ht[i].key != pid:
            i = (i + 1) & self.ht_mask
        self.ht[i].key = pid
        self.ht[i].frame = f

    cdef void _ht_del(self, uint32_t pid) noexcept nogil:
        # Linear probing with backward-shift deletion (no tombstones).
        cdef uint32_t i = page_hash(pid, self.ht_shift)
        cdef uint32_t j, h
        while self.ht[i].key != pid:
            if self.ht[i].key == NO_PAGE:
                return
            i = (i + 1) & self.ht_mask
        j = i
        while True:
            j = (j + 1) & self.ht_mask
            if self.ht[j].key == NO_PAGE:
                break
            h = page_hash(self.ht[j].key, self.ht_shift)
            # entry j may move to the hole i unless its home lies cyclically in (i, j]
            if (i <= j and i < h <= j) or (i > j and (h > i or h <= j)):
                continue
            self.ht[i] = self.ht[j]
            i = j
        self.ht[i].key = NO_PAGE

    # ---- frames taken as needed (docs/memory.md) -------------------------------
    cdef void _init_meta(self, int lo, int hi) noexcept nogil:
        memset(&self.meta[lo], 0, <size_t>(hi - lo) * sizeof(FrameMeta))
        cdef int f
        for f in range(lo, hi):
            self.meta[f].pid = NO_PAGE

    cdef int _size_tables(self, int cap) except -1:
        """Page table and ghost table for cap frames; the mapped frames [0, active) entered again.  False
        (the old tables kept) when the memory is not there."""
        cdef int bits = 4
        cdef uint32_t i, n
        cdef int f
        while (1 << bits) < 2 * cap:
            bits += 1
        cdef HtEntry* ht = <HtEntry*>malloc((<size_t>1 << bits) * sizeof(HtEntry))
        cdef GhostEntry* ghost = <GhostEntry*>malloc((<size_t>1 << (bits - 1)) * sizeof(GhostEntry))
        if ht == NULL or ghost == NULL:
            free(ht)
            free(ghost)
            return False
        free(self.ht)
        free(self.ghost)
        self.ht = ht
        self.ghost = ghost
        self.ht_mask = (1u << bits) - 1
        self.ht_shift = 32 - bits
        self.ghost_shift = 33 - bits               # 2**(bits - 1) >= cap entries
        n = 1u << bits
        for i in range(n):
            self.ht[i].key = NO_PAGE
        n = 1u << (bits - 1)
        for i in range(n):                         # a doubling forgets the ghosts (a pool's worth of reuse)
            self.ghost[i].pid = NO_PAGE
            self.ghost[i].stamp = 0
        for f in range(self.active):
            if self.meta[f].pid != NO_PAGE:
                self._ht_put(self.meta[f].pid, f)
        return True

    cdef int _grow(self) except -1:
        """Double the bookkeeping (frame records, page table, ghost table), up to the ceiling.  False when
        the memory is not there (the pool then stays at its size and evicts)."""
        cdef int cap = min(self.nframes, 2 * self.cap)
        cdef FrameMeta* meta = <FrameMeta*>realloc(self.meta, <size_t>cap * sizeof(FrameMeta))
        if meta == NULL:
            return False
        self.meta = meta
        self._init_meta(self.cap, cap)
        if not self._size_tables(cap):
            return False
        self.cap = cap
        return True

    cdef int _take_frame(self) except -2:
        """The next never-used frame, when the pool may grow: below its ceiling, and within its first
        BASE_FRAMES or the process's budget (docs/memory.md, invariants 9a-9b).  -1 when it may not.
        Caller: pin_miss, for a miss within the first BASE_FRAMES or a miss that proved a reuse."""
        global _in_use
        cdef int f = self.active
        if f >= self.nframes or self.mem == NULL:
            return -1
        if f >= BASE_FRAMES and _in_use >= _budget:
            return -1
        if f >= self.cap and not self._grow():
            return -1
        self.active = f + 1
        _in_use += 1
        self.max_hot = self.active - max(1, self.active // 4)
        return f

    # ---- replacement -----------------------------------------------------
    cdef void _unhot(self, int f) noexcept nogil:
        if self.meta[f].hot:
            self.meta[f].hot = 0
            self.nhot -= 1

    cdef int _victim(self) except -1:
        """Choose an unpinned frame by a scan-resistant CLOCK, write it back if dirty, unmap it.

        Frames are cold or hot.  A page enters cold; when the hand reaches a cold frame that was hit
        after at least one later load (last != born: a reuse, not the repeated pins of one scan step
        or one sequential pass; a load is a miss or a fresh page, so a writer that only allocates
        still ages its pages), it is promoted to hot and passed over; any other cold frame is the
        victim, hit or not; its id goes to the ghost table (one slot per frame, direct-mapped, with the
        eviction count), and a miss on a page found there, evicted within the last `active` evictions,
        enters hot (a reuse farther apart than the cold quarter holds: 2Q's A1out, CLOCK-Pro's
        non-resident cold pages; an older id, left in a slot no later eviction hashed to, is no such
        reuse).  Hot frames are passed over while at most
        max_hot (three quarters of the frames) are hot; above that the hand gives them CLOCK's
        second chance (clear the reference bit, then demote to cold).  All of this is for clean
        frames (what readers and snapshot views hold): a dirty frame gets plain CLOCK's treatment
        (its reference bit is its second chance, then it is written back), and a turn without a
        victim falls back to plain CLOCK over every frame, so a writer's dirty pages are evicted as
        before (tests/test_full_disk.py: after ENOSPC the abort needs an in-file frame, which a
        hot/cold search over dirty pages had written out and dropped).  So a full scan or
        export, whose pages are each hit only before the next page's miss, cycles through the cold
        quarter and leaves a hot working set cached (tests/test_bufpool.py: misses of a 300-object
        hot set after a full scan, 224 -> 1).

        If writing a dirty victim fails (a full disk, an I/O error), the page
        stays cached and dirty and the sweep goes on: a clean frame, or a dirty
        page that can be written in place, can still make room.  The first such
        error is raised when no frame could be freed.
        """
        cdef int steps = 0
        cdef int f
        cdef FrameMeta* m
        cdef list failure = []
        # one turn: a dirty frame by plain CLOCK, a clean one by hot/cold (hot passed over, aged while
        # too many are hot) ...
        while steps < self.active:
            f = self._advance()
            steps += 1
            m = &self.meta[f]
            if m.pins > 0:
                continue
            if m.dirty:                  # a writer's page: plain CLOCK (second chance, then write back)
                if m.ref:
                    m.ref = 0
                    continue
                if self._evict(f, failure):
                    self._unhot(f)
                    return f
                continue
            if m.hot:
                if self.nhot <= self.max_hot:
                    continue
                if m.ref:
                    m.ref = 0
                    continue
                self._unhot(f)           # demoted: evicted now if it is the victim, like any cold frame
            elif m.ref and m.last != m.born and m.pid != NO_PAGE:
                m.ref = 0
                m.hot = 1
                self.nhot += 1
                continue
            if self._evict(f, failure):
                return f
        # ... else plain CLOCK over every frame, hot or cold, clean or dirty (a writer's pool)
        steps = 0
        while steps < 2 * self.active + 1:
            f = self._advance()
            steps += 1
            m = &self.meta[f]
            if m.pins > 0:
                continue
            if m.ref:
                m.ref = 0
                continue
            if self._evict(f, failure):
                self._unhot(f)
                return f
        if failure:
            raise failure[0]
        raise BufferPoolFullError(self.active)

    cdef bint _evict(self, int f, list failure) except -1:
        """Write frame f back if dirty and unmap it: True.  False when the write fails (the first
        failure is appended to failure)."""
        cdef FrameMeta* m = &self.meta[f]
        cdef GhostEntry* g
        if m.pid != NO_PAGE:
            if m.dirty:
                try:
                    self._write_back(f)
                except Exception as e:
                    # e.g. a full disk refuses to grow the file: another page, one
                    # inside the file or a clean one, may still make room
                    if not failure:
                        failure.append(e)
                    return False
            self._ht_del(m.pid)
            g = &self.ghost[page_hash(m.pid, self.ghost_shift)]
            g.pid = m.pid
            g.stamp = <uint32_t>self.evictions
            m.pid = NO_PAGE
            self.evictions += 1
        return True

    cdef bint _direct_copy(self, uint32_t pid, int f) except -1:
        """A SNAPSHOT pool's miss in the writer's process, in C: copy pid into frame f from the writer's
        frame (when cached and not changed since the last log record) or from the data file (verified),
        and keep it when its LSN is at or below the view's snapshot.  False leaves the miss to
        page_source (oor/snapshots.py, WriterSource.page_at), which takes the same copy and rolls it
        back: a page the view parked, a page the writer changed since its last record (its
        before-image), a copy newer than the snapshot, a torn or missing file copy.  The writer changes
        its frames only while holding the GIL, which this holds, so the frame copy is one state."""
        cdef BufferPool b = self.base_pool
        cdef uint8_t* dst = self.fdata(f)
        cdef int wf
        if self.parked_map and pid in self.parked_map:
            return False
        wf = b.lookup(pid)
        if wf >= 0:
            if b.capture is not None and b.capture.is_captured(pid):
                return False
            memcpy(dst, b.fdata(wf), PAGE_SIZE)
        else:
            try:
                self.pager.read_page(pid, dst)
            except CorruptPageError:
                return False
        return pg_lsn(dst) <= self.snap_lsn

    cdef bint _file_direct(self, uint32_t pid, int f) except -1:
        """A SNAPSHOT pool's miss in a reader process, in C: the data file's verified copy of pid into frame
        f, kept when its LSN L is at or below the view's snapshot S and the followed log lists no record
        of pid with L < LSN <= S (log_pages: PageLog.by_page, ascending LSNs) -- FileSource.page_at's
        common case, whose answer it then is.  False leaves the miss to page_source
        (oor/snapshots.py), which decides the rest: a page the view parked, a record of pid after the
        copy (rolled forward), a copy torn, never written (past the end, a hole) or newer than S.  Why:
        every miss of a reader process went through Python (10 us a page; `oor check` reads every page)."""
        cdef uint8_t* dst = self.fdata(f)
        cdef uint64_t lsn, x
        cdef list lst
        cdef Py_ssize_t i
        if self.parked_map and pid in self.parked_map:
            return False
        try:
            self.pager.read_page(pid, dst)
        except CorruptPageError:
            return False
        lsn = pg_lsn(dst)
        if lsn > self.snap_lsn:
            return False
        if not self.log_pages:                  # (no record followed: no int and dict lookup a miss)
            return True
        lst = self.log_pages.get(pid)
        if lst is not None:
            for i in range(len(lst) - 1, -1, -1):
                x = lst[i]
                if x <= lsn:
                    break
                if x <= self.snap_lsn:
                    return False            # a record of pid between the copy and S: roll it (Python)
        return True

    cdef int _write_back(self, int f) except -1:
        """Write a dirty frame to the file, after the WAL hook (invariant 2)."""
        cdef uint8_t* p = self.fdata(f)
        if self.wal_flush_hook is not None:
            self.wal_flush_hook(pg_lsn(p))
        self.pager.write_page(self.meta[f].pid, p)
        self.meta[f].dirty = 0
        self.writes += 1
        return 0

    # ---- pins ------------------------------------------------------------
    cdef int pin_miss(self, uint32_t pid, bint fresh) except -1:
        """pin()'s slow path: a closed pool, or pid not cached (read it, or zero it when fresh)."""
        if self.mode == MODE_CLOSED:
            raise OorError("buffer pool is closed")
        if pid == NO_PAGE:
            raise ValueError("invalid page id")
        # A page evicted cold within the last pool's worth of evictions and wanted again: a reuse the cold
        # quarter was too small to see.  It enters hot, and it is the pool's evidence that its working set
        # is larger than its frames: past the first BASE_FRAMES a pool grows only on such a miss
        # (docs/memory.md), so one pass over a large file (a scan, an export, a check) evicts instead of
        # taking memory it would not use again.  An older ghost entry (a slot no later eviction happened to
        # overwrite) is no such reuse: a second full scan's pages, whose reuse distance is the file, would
        # otherwise enter hot and push the hot set out.
        cdef GhostEntry* g = &self.ghost[page_hash(pid, self.ghost_shift)]
        cdef bint reuse = False
        if not fresh and g.pid == pid:
            g.pid = NO_PAGE
            reuse = <uint32_t>(<uint32_t>self.evictions - g.stamp) <= <uint32_t>self.active
        cdef int f = -1
        if reuse or self.active < BASE_FRAMES:
            f = self._take_frame()          # may double the tables (g is not used after this)
        cdef const uint8_t[::1] version
        if f < 0:
            f = self._victim()
        if fresh:
            memset(self.fdata(f), 0, PAGE_SIZE)
        elif self.mode == MODE_SNAPSHOT:
            # a reader's pool: the page as of its snapshot -- in C when the newest copy at hand is
            # already at or below it (_direct_copy), else built by the snapshot layer
            # (oor/snapshots.py: the writer's frame or the file, rolled along the log)
            self.misses += 1
            if self.base_pool is not None and self._direct_copy(pid, f):
                self.direct_misses += 1
            elif self.log_pages is not None and self._file_direct(pid, f):
                self.direct_misses += 1
            else:
                version = self.page_source(pid)
                if version.shape[0] != PAGE_SIZE:
                    raise AssertionError(f"page source gave {version.shape[0]} bytes for page {pid}")
                memcpy(self.fdata(f), &version[0], PAGE_SIZE)
        else:
            self.misses += 1
            self.pager.read_page(pid, self.fdata(f))   # raises CorruptPageError; frame stays unmapped
        self.meta[f].pid = pid
        self._ht_put(pid, f)
        self.meta[f].pins = 1
        self.meta[f].ref = 0
        self.meta[f].dirty = 0
        self.meta[f].wlatch = 0
        self.meta[f].hot = 0
        self.loads += 1
        self.meta[f].born = self.meta[f].last = <uint16_t>self.loads
        if reuse:
            self.meta[f].hot = 1
            self.nhot += 1
        return f

    cdef int pin_image(self, uint32_t pid, uint64_t lsn) except -2:
        """Pin pid to overwrite it with a full page image logged at lsn; -1 when the page at hand is
        already as new or newer (its cached frame, or its copy in the file when that verifies); lsn 0
        installs over whatever is at hand (salvage).  A copy
        that fails its checksum (torn by a power cut) or lies past the end of the file is not read:
        the frame comes zeroed.  So redo never installs an older image over a newer page (invariant
        14), and never needs a readable old page (invariant 6).  Caller: walscan's redo, RECOVERING only."""
        cdef int f
        if self.mode != MODE_RECOVERING:
            raise AssertionError(f"pin_image outside recovery (mode {PoolMode(self.mode).name})")
        if lsn == 0:                   # lsn 0: install whatever is at hand (salvage), without reading
            return self.pin(pid, self.lookup(pid) < 0)
        if self.lookup(pid) < 0:
            try:
                f = self.pin(pid, False)
            except CorruptPageError:
                return self.pin(pid, True)
        else:
            f = self.pin(pid, False)
        if pg_lsn(self.fdata(f)) >= lsn:
            self.unpin(f)
            return -1
        return f

    # ---- guards: the pins callers hold (guards.pxd) -----------------------
    cdef ReadPageGuard read_guard(self, uint32_t pid):
        """Pin pid for reading.  Caller: the B+ tree, the space manager, read()."""
        cdef int f = self.pin(pid, False)
        cdef ReadPageGuard g = <ReadPageGuard>ReadPageGuard.__new__(ReadPageGuard)   # cast: no type test
        g.pool = self
        g.frame = f
        g.page_id = pid
        g.p = self.fdata(f)
        return g

    cdef WritePageGuard write_guard(self, uint32_t pid):
        """Pin pid for writing (marks it dirty; captured when CAPTURING or BULK)."""
        cdef int f = self.pin(pid, False)
        if self.meta[f].wlatch:
            self.meta[f].pins -= 1
            raise OorError(f"page {pid} already has a write guard")
        return self._writer(pid, f, False)

    cdef WritePageGuard fresh_guard(self, uint32_t pid):
        """Pin a zeroed frame for page pid, new at the end of the file (not read).  In BULK mode the
        page is listed as unlogged instead of captured.  Caller: SpaceManager.new_page."""
        return self._writer(pid, self.pin(pid, True), True)

    cdef WritePageGuard _writer(self, uint32_t pid, int f, bint fresh):
        cdef WritePageGuard g = <WritePageGuard>WritePageGuard.__new__(WritePageGuard)
        g.pool = self
        g.frame = f
        g.page_id = pid
        g.p = self.fdata(f)
        g.writer = True
        self.meta[f].wlatch = 1
        self.meta[f].dirty = 1
        self.nwriters += 1
        cdef int m = self.mode
        if m == MODE_CAPTURING or m == MODE_BULK:
            if fresh and m == MODE_BULK:
                self.capture.add_unlogged(pid)
            else:
                self.capture.capture(pid, f, fresh)
        elif m == MODE_IDLE:
            g.unpin_now()
            if fresh:
                raise OorError(f"page {pid} allocated outside a transaction")
            raise OorError(f"page {pid} changed outside a transaction (every change must be logged)")
        elif m == MODE_READ_ONLY or m == MODE_SNAPSHOT:
            g.unpin_now()
            raise OorError(f"{self.pager.path}: opened read-only; page {pid} cannot change")
        return g

    # ---- change capture (capture.pyx) -----------------------------------------
    cpdef end_op(self):
        """A tree operation (or a safe point inside a long one) is complete: let the WAL log it.
        Caller: the B+ tree and the overflow writer.  See ChangeCapture.end_op."""
        self.capture.end_op()

    def maybe_end_op(self):
        self.capture.maybe_end_op()

    @property
    def op_hook(self):
        """Called by end_op() to log the captured changes (storage's logger)."""
        return self.capture.op_hook

    @op_hook.setter
    def op_hook(self, hook):
        self.capture.op_hook = hook

    @property
    def batch_pages(self):
        """end_op() logs once this many pages are captured (0/1: at every operation)."""
        return self.capture.batch_pages

    @batch_pages.setter
    def batch_pages(self, int n):
        self.capture.batch_pages = n

    def captured_changes(self):
        return self.capture.captured_changes()

    def release_captured(self, uint64_t lsn):
        self.capture.release_captured(lsn)

    def unlogged_count(self):
        return self.capture.unlogged_count()

    def take_unlogged_new(self):
        return self.capture.take_unlogged_new()

    def flush_unlogged(self):
        self.capture.flush_unlogged()

    def forget_unlogged(self):
        self.capture.forget_unlogged()

    def discard_page(self, uint32_t page_id):
        """Drop page_id's frame without writing it (redo: the file holds a newer, unlogged copy)."""
        cdef int f = self.lookup(page_id)
        if f < 0:
            return False
        if self.meta[f].pins:
            raise OorError(f"page {page_id} is pinned; cannot discard it")
        self._ht_del(page_id)
        self._unhot(f)
        self.meta[f].pid = NO_PAGE
        self.meta[f].dirty = 0
        self.meta[f].ref = 0
        return True

    def committed_copy(self, uint32_t page_id):
        """The cached page as of its last logged change, or None when it is not cached.

        A page changed since the last log record (captured) gives its before-image --
        b"" when it is new at the end of the file -- else the frame's bytes.  One C
        call under the GIL, so the writer cannot change the frame meanwhile.
        Caller: the snapshot layer (oor/snapshots.py), the writer's own process."""
        cdef int f = self.lookup(page_id)
        if f < 0:
            return None
        if self.capture.is_captured(page_id):
            before = self.capture.before_image(page_id)
            return b"" if before is None else before
        return PyBytes_FromStringAndSize(<const char*>self.fdata(f), PAGE_SIZE)

    def snapshot_page(self, uint32_t page_id):
        """A SNAPSHOT pool's cached copy of page_id (None: not cached, or pinned by a reader).
        Caller: the snapshot layer, moving an idle view forward (oor/snapshots.py)."""
        if self.mode != MODE_SNAPSHOT:
            raise AssertionError("snapshot_page is for a SNAPSHOT pool")
        cdef int f = self.lookup(page_id)
        if f < 0 or self.meta[f].pins:
            return None
        return PyBytes_FromStringAndSize(<const char*>self.fdata(f), PAGE_SIZE)

    def replace_snapshot_page(self, uint32_t page_id, const uint8_t[::1] data):
        """Overwrite an unpinned cached page of a SNAPSHOT pool (its version at the view's new LSN)."""
        if self.mode != MODE_SNAPSHOT:
            raise AssertionError("replace_snapshot_page is for a SNAPSHOT pool")
        if data.shape[0] != PAGE_SIZE:
            raise ValueError(f"a page is {PAGE_SIZE} bytes")
        cdef int f = self.lookup(page_id)
        if f < 0 or self.meta[f].pins:
            raise AssertionError(f"page {page_id} is not cached unpinned")
        memcpy(self.fdata(f), &data[0], PAGE_SIZE)

    def discard_clean(self, pages=None):
        """Drop the unpinned clean frames of the given page ids (all when None).  Returns how many.

        Caller: the snapshot layer, moving a reader's pool to a newer snapshot."""
        cdef int f, n = 0
        cdef uint32_t pid
        if pages is None:
            pages = [self.meta[f].pid for f in range(self.active) if self.meta[f].pid != NO_PAGE]
        for pid in pages:
            f = self.lookup(pid)
            if f < 0 or self.meta[f].pins or self.meta[f].dirty:
                continue
            self._ht_del(pid)
            self._unhot(f)
            self.meta[f].pid = NO_PAGE
            self.meta[f].ref = 0
            n += 1
        return n

    # ---- Python API --------------------------------------------------------
    def read(self, uint32_t page_id):
        """Pin page_id for reading; returns a ReadPageGuard.  O(1) when cached."""
        return self.read_guard(page_id)

    def write(self, uint32_t page_id):
        """Pin page_id for writing; returns a WritePageGuard (the page is marked dirty)."""
        return self.write_guard(page_id)

    def allocate(self, int page_type=PT_SLOTTED):
        """Allocate and format a page; returns its WritePageGuard.  Reuses the free list first."""
        if page_type <= PT_FREE or page_type > PT_MAX or page_type == PT_FILE_HEADER:
            raise ValueError(f"cannot allocate a page of type {page_type}")
        return self.space.new_page(<uint8_t>page_type)

    def free(self, uint32_t page_id):
        """Return page_id to the persistent free list."""
        self.space.free_page(page_id)

    @property
    def page_count(self):
        """Pages in use in the file (from the header page)."""
        return self.space.page_count

    @property
    def free_count(self):
        """Pages on the free list (from the header page)."""
        return self.space.free_count

    # ---- write-back --------------------------------------------------------
    cdef int write_dirty(self, list pids) except -1:
        """Write back the cached dirty pages among pids (no fsync): the WAL hook first, once.
        Caller: ChangeCapture.flush_unlogged."""
        cdef int f
        cdef uint64_t max_lsn = 0
        dirty = []
        for pid in pids:
            f = self.lookup(pid)
            if f >= 0 and self.meta[f].dirty:
                dirty.append((pid, f))
                max_lsn = max(max_lsn, pg_lsn(self.fdata(f)))
        return self._write_frames(dirty, max_lsn)

    cdef int _write_frames(self, list dirty, uint64_t max_lsn) except -1:
        """Write [(page id, frame)]: the WAL hook once, with max_lsn, before any of them is written
        (invariant 2); pages in id order, consecutive ids in one system call."""
        cdef int f, i, j, n
        cdef uint8_t** bufs
        if not dirty:
            return 0
        if self.wal_flush_hook is not None:
            self.wal_flush_hook(max_lsn)
        dirty.sort()
        n = len(dirty)
        bufs = <uint8_t**>malloc(n * sizeof(uint8_t*))
        if bufs == NULL:
            raise MemoryError()
        try:
            i = 0
            while i < n:
                j = i
                while j + 1 < n and dirty[j + 1][0] == dirty[j][0] + 1:
                    j += 1
                for f in range(i, j + 1):
                    bufs[f - i] = self.fdata(dirty[f][1])
                self.pager.write_run(dirty[i][0], bufs, j - i + 1)
                for f in range(i, j + 1):
                    self.meta[<int>dirty[f][1]].dirty = 0
                self.writes += j - i + 1
                i = j + 1
        finally:
            free(bufs)
        return 0

    def flush_all(self):
        """Write back every dirty frame, then fsync the file.

        The WAL hook is called once, with the highest page LSN among them,
        before any of them is written (invariant 2).  Pages are written in id
        order, consecutive ids in one system call.
        """
        cdef int f
        cdef uint64_t max_lsn = 0
        dirty = []
        for f in range(self.active):
            if self.meta[f].pid != NO_PAGE and self.meta[f].dirty:
                dirty.append((self.meta[f].pid, f))
                max_lsn = max(max_lsn, pg_lsn(self.fdata(f)))
        self._write_frames(dirty, max_lsn)
        self.pager.sync()

    def flush_page(self, uint32_t page_id):
        """Write back one page if it is cached and dirty (no fsync).  Returns True if written."""
        cdef int f = self.lookup(page_id)
        if f < 0 or not self.meta[f].dirty:
            return False
        self._write_back(f)
        return True

    # ---- inspection --------------------------------------------------------
    def pin_count(self, uint32_t page_id):
        """Pins currently held on page_id (0 when not cached).  Tests."""
        cdef int f = self.lookup(page_id)
        return self.meta[f].pins if f >= 0 else 0

    def is_cached(self, uint32_t page_id):
        """True when page_id occupies a frame.  Tests."""
        return self.lookup(page_id) >= 0

    def is_dirty(self, uint32_t page_id):
        cdef int f = self.lookup(page_id)
        return f >= 0 and self.meta[f].dirty != 0

    def pinned_pages(self):
        """{page_id: pin count} of every pinned frame.  Tests and leak checks."""
        return {self.meta[f].pid: self.meta[f].pins for f in range(self.active) if self.meta[f].pins > 0}

    def cached_pages(self):
        return sorted(self.meta[f].pid for f in range(self.active) if self.meta[f].pid != NO_PAGE)

    def stats(self):
        """Counters: hits, misses, evictions, writes, hit_rate, frames (the ceiling), active (frames taken),
        cached, dirty, pinned, hot, file reads / writes, fsyncs."""
        cached = dirty = pinned = 0
        for f in range(self.active):
            if self.meta[f].pid != NO_PAGE:
                cached += 1
                dirty += self.meta[f].dirty != 0
                pinned += self.meta[f].pins > 0
        total = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "writes": self.writes, "hit_rate": (self.hits / total) if total else 0.0,
                "frames": self.nframes, "active": self.active, "cached": cached, "dirty": dirty,
                "pinned": pinned, "hot": self.nhot,
                "file_reads": self.pager.reads, "file_writes": self.pager.writes,
                "fsyncs": self.pager.syncs}

    # ---- closing -----------------------------------------------------------
    def close(self):
        """Flush everything, fsync and close the file (idempotent)."""
        if self.mode == MODE_CLOSED:
            return
        if not self.pager.read_only:
            self.flush_all()
        self.set_mode(MODE_CLOSED)
        self._drop_frames()
        self.pager.close()

    def abandon(self):
        """Close without writing anything (a failed or read-only database).  Idempotent."""
        self.set_mode(MODE_CLOSED)
        self._drop_frames()
        self.pager.close()

    def detach(self):
        """Close without writing anything or closing the pager (a snapshot view's pool, over a pager it shares
        with the database): its frames go back to the OS and the process's budget now (docs/memory.md), not
        when the garbage collector frees the pool.  Idempotent."""
        self.set_mode(MODE_CLOSED)
        self._drop_frames()

    cdef int _drop_frames(self) except -1:
        """Closed: give the frames' memory back now, unless a frame is pinned (a live guard points into
        it).  The space manager and the capture hold the pool (a reference cycle, freed only by the
        garbage collector), so without this a closed pool's frames would outlive its close()."""
        global _in_use
        cdef int f
        if self.mem == NULL:
            return 0
        for f in range(self.active):
            if self.meta[f].pins != 0:
                return 0
        for f in range(self.active):
            if self.meta[f].pid != NO_PAGE:
                self._ht_del(self.meta[f].pid)
                self._unhot(f)
                self.meta[f].pid = NO_PAGE
                self.meta[f].dirty = 0
        oor_unmap_frames(self.mem, self.mem_size)
        self.mem = NULL
        self.frames = NULL
        _in_use -= self.active                 # the frames go back to the process's budget
        self.active = 0
        self.hand = 0
        return 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check(self):
        """Problems with the pool's invariants (frames, page table, write latches) and those of its
        parts (the free list: space.pxd; the capture: capture.pxd), as strings.  Tests, oor check."""
        problems = []
        mapped = latched = hot = 0
        if not (0 <= self.active <= self.cap <= self.nframes):
            problems.append(f"frames: {self.active} taken, bookkeeping for {self.cap}, ceiling {self.nframes}")
        if self.active and not (0 <= self.hand < self.active):
            problems.append(f"the hand at frame {self.hand} outside the {self.active} taken")
        for f in range(self.active, self.cap):
            if self.meta[f].pid != NO_PAGE or self.meta[f].pins:
                problems.append(f"frame {f}: mapped or pinned, but not yet taken ({self.active} taken)")
        for f in range(self.active):
            pid = self.meta[f].pid
            if self.meta[f].pins < 0:
                problems.append(f"frame {f}: negative pin count {self.meta[f].pins}")
            if pid == NO_PAGE:
                if self.meta[f].pins != 0:
                    problems.append(f"frame {f}: unmapped but pinned")
                if self.meta[f].hot:
                    problems.append(f"frame {f}: unmapped but hot")
                continue
            mapped += 1
            hot += self.meta[f].hot != 0
            latched += self.meta[f].wlatch != 0
            if self.lookup(pid) != f:
                problems.append(f"frame {f}: page {pid} missing from the page table")
            if pg_id(self.fdata(f)) != pid:
                problems.append(f"frame {f}: holds page {pg_id(self.fdata(f))}, mapped as {pid}")
        entries = sum(1 for i in range(self.ht_mask + 1) if self.ht[i].key != NO_PAGE)
        if entries != mapped:
            problems.append(f"page table has {entries} entries for {mapped} mapped frames")
        if latched != self.nwriters:
            problems.append(f"{latched} write-latched frames for {self.nwriters} write guards")
        if hot != self.nhot:
            problems.append(f"{hot} hot frames, the pool counts {self.nhot}")
        problems.extend(self.space._check())
        problems.extend(self.capture._check())
        return problems
