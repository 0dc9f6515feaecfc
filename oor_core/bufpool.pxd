# oor_core/bufpool.pxd -- CLOCK buffer pool and page guards: C-level contract.
#
# The pool owns a fixed array of 4096-byte frames (aligned to 4096), a page
# table (open-addressing hash, page id -> frame, no Python objects), and per
# frame: page id, pin count, reference bit, dirty flag and write-latch flag.
# Memory is nframes * 4096 plus a few bytes per frame (invariant 9).
#
# Pins are guard objects that only the pool creates (invariant 8): a
# ReadPageGuard reads, a WritePageGuard reads and writes.  A guard releases
# its pin on release(), on leaving a with-block, and when it is collected;
# release() is idempotent.  A pinned frame is never chosen as a victim.
# Before a dirty page is written back, the pool calls wal_flush_hook(page_lsn)
# (invariant 2: the WAL makes itself durable up to that LSN first).
#
# Allocation and the free list live here (not in the pager) so that the file
# header page and free pages change only through write guards.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t

from oor_core.pager cimport Pager

cdef enum:
    NO_PAGE = 0xFFFFFFFF

# Per-frame state in one 16-byte record, so a pin touches one cache line.
ctypedef struct FrameMeta:
    uint32_t pid        # page held (NO_PAGE = free frame)
    int32_t pins        # pin count (guards alive)
    uint8_t ref         # CLOCK reference bit
    uint8_t dirty       # differs from the file
    uint8_t wlatch      # a WritePageGuard exists
    uint8_t pad[5]

# Page-table slot: linear probing, backward-shift deletion.
ctypedef struct HtEntry:
    uint32_t key        # page id (NO_PAGE = empty)
    int32_t frame


cdef class BufferPool:
    cdef readonly Pager pager
    cdef void* mem
    cdef size_t mem_size            # bytes mapped for the frames
    cdef uint8_t* frames
    cdef FrameMeta* meta
    cdef readonly int nframes
    cdef int hand
    cdef HtEntry* ht
    cdef uint32_t ht_mask
    cdef int ht_shift
    cdef public object wal_flush_hook
    # Change capture for the WAL (mini-transactions, invariant 5).  While
    # `capturing`, the first write pin of a page saves its before-image and
    # an extra pin (so the page cannot be written back before it is logged);
    # the storage layer logs captured_changes() and calls release_captured().
    cdef public bint capturing
    cdef public bint require_capture   # a write pin outside capture is a bug (WAL attached)
    cdef dict captured                 # page id -> before-image bytes (None: page new at end of file)
    cdef readonly int nwriters         # write guards alive
    cdef public object op_hook         # called by end_op() when a tree operation is complete
    cdef public int batch_pages        # end_op() logs once this many pages are captured (0/1: always)
    cdef public bint bulk_unlogged     # set by a bulk build: new pages come from the file's end, unlogged
    cdef set unlogged                  # those pages, written and synced by the storage layer before COMMIT
    cdef list unlogged_new             # those not yet named in the log (an UNLOGGED record)
    cdef readonly unsigned long long hits, misses, evictions, writes
    cdef readonly bint closed

    cdef inline uint8_t* fdata(self, int f) noexcept nogil:
        return self.frames + (<size_t>f << 12)
    cdef int _lookup(self, uint32_t pid) noexcept nogil
    cdef void _ht_put(self, uint32_t pid, int f) noexcept nogil
    cdef void _ht_del(self, uint32_t pid) noexcept nogil
    cdef int _victim(self) except -1
    cdef int _write_back(self, int f) except -1
    cdef int pin(self, uint32_t pid, bint fresh) except -1
    cdef int _capture(self, uint32_t pid, int f, bint fresh) except -1
    cpdef end_op(self)
    cdef void unpin(self, int f) noexcept nogil
    cdef ReadPageGuard read_guard(self, uint32_t pid)
    cdef WritePageGuard write_guard(self, uint32_t pid)
    cdef WritePageGuard new_page(self, uint8_t ptype)
    cdef int free_page(self, uint32_t pid) except -1
    cdef uint32_t write_overflow(self, const uint8_t* data, Py_ssize_t n) except 0
    cdef bytes read_overflow(self, uint32_t first, uint32_t total)
    cdef int free_overflow(self, uint32_t first) except -1


cdef class PageGuard:
    cdef BufferPool pool
    cdef int frame                  # -1 once released
    cdef readonly uint32_t page_id
    cdef uint8_t* p                 # the frame's bytes while pinned
    cdef bint writer                # a WritePageGuard (holds the frame's write latch)
    cdef int _release(self) except -1
    cdef const uint8_t* _live(self) except NULL


cdef class ReadPageGuard(PageGuard):
    pass


cdef class WritePageGuard(PageGuard):
    cdef int _insert_record(self, int idx, const uint8_t* data, Py_ssize_t n, bint positional) except -1
