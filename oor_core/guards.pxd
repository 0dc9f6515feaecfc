# oor_core/guards.pxd -- page guards, the pins callers hold: C-level contract.
#
# Owns: PageGuard and its two kinds.  A ReadPageGuard reads; a WritePageGuard
# reads and writes, and holds the frame's write latch (one per page at a
# time).  A guard releases its pin on release(), on leaving a with-block and
# when it is collected; release() is idempotent (invariant 8).  Every change
# to a page goes through a WritePageGuard, so change capture sees it.
#
# Who creates guards: only the BufferPool (read_guard / write_guard /
# fresh_guard, bufpool.pyx) and, through fresh_guard, the space manager's
# new_page.  Who may cimport: the B+ tree, the space manager, the pool.
#
# Raw pins (BufferPool.pin / unpin, no guard object) exist only where a guard's
# allocation would show in the lookup path (a guard costs ~45 ns against ~10 ns
# for pin + unpin, bench/bench_bufpool.py).  Each is a read, released on every
# path (no call that can raise sits between pin and unpin, or a try/finally
# covers it), and none outlives the function:
#   btree.pyx  BTree._root (root entry of page 0), _get and _descend (search
#              descent), _set_root_height_from_page, __len__ (leaf walk),
#              _bulk_load (root slot count), _stat_node; Cursor._position,
#              _seek, _edge (cursor steps hold no pin between calls); BTree.leaf_for
#              (the leaf handed to oor_core/reads.pyx, which unpins it in a finally
#              before it returns: no pin outlives a read call);
#   walscan.pyx redo: pin / pin_image, mark_dirty, unpin on one frame while the
#              pool is RECOVERING (one record's change; redo allocates nothing).
# The change capture adds one pin per captured page (released when logged).
from libc.stdint cimport uint8_t, uint32_t

from oor_core.bufpool cimport BufferPool


cdef class PageGuard:
    cdef BufferPool pool
    cdef int frame                  # -1 once released
    cdef readonly uint32_t page_id
    cdef uint8_t* p                 # the frame's bytes while pinned
    cdef bint writer                # a WritePageGuard (holds the frame's write latch)
    cdef int unpin_now(self) except -1
    cdef const uint8_t* _live(self) except NULL


cdef class ReadPageGuard(PageGuard):
    pass


cdef class WritePageGuard(PageGuard):
    cdef int _insert_record(self, int idx, const uint8_t* data, Py_ssize_t n, bint positional) except -1
