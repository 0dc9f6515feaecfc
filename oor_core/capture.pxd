# oor_core/capture.pxd -- change capture for the WAL (mini-transactions,
# invariant 5): C-level contract.
#
# Owns: while the pool is CAPTURING (or BULK), the before-image of every page
# at its first write pin since the last log record, plus one extra pin per
# such page (so it cannot be written back before it is logged); the diff of
# each captured page against its before-image (page_diff: runs of differing
# bytes, the checksum and LSN fields excluded); the set of pages a bulk build
# allocated without logging (BULK), which the storage layer names in an
# UNLOGGED record and writes and syncs before COMMIT.
#
# Who may call: the pool (capture() on a write pin, add_unlogged() on a bulk
# allocation), the space manager (is_captured), the B+ tree and the overflow
# writer through pool.end_op() / maybe_end_op(), the storage layer through
# the pool's Python API (captured_changes, release_captured, the unlogged set).
# One per pool (pool.capture); it holds the pool.
#
# Valid if and only if (checked by ChangeCapture._check()):
#   1. every captured page is cached and pinned (its capture pin);
#   2. every page awaiting its UNLOGGED record is in the unlogged set.
from libc.stdint cimport uint8_t, uint32_t

from oor_core.bufpool cimport BufferPool


cdef class ChangeCapture:
    cdef BufferPool pool
    cdef dict captured                 # page id -> before-image bytes (None: page new at end of file)
    cdef set unlogged                  # bulk-built pages, written and synced by storage before COMMIT
    cdef list unlogged_new             # those not yet named in the log (an UNLOGGED record)
    cdef public object op_hook         # called by end_op() when a tree operation is complete
    cdef public int batch_pages        # end_op() logs once this many pages are captured (0/1: always)
    cdef int capture(self, uint32_t pid, int f, bint fresh) except -1
    cdef int add_unlogged(self, uint32_t pid) except -1
    cdef bint is_captured(self, uint32_t pid)
    cdef object before_image(self, uint32_t pid)
    cdef int end_op(self) except -1


cdef list diff_runs(const uint8_t* a, const uint8_t* b)
