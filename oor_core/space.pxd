# oor_core/space.pxd -- the space manager: page allocation, the free list,
# overflow chains.  C-level contract.
#
# Owns: which pages of the file are in use.  Page 0's page_count, free_head
# and free_count (byte table in pager.pxd), the chain of PT_FREE pages linked
# by next_id, and overflow chains (PT_OVERFLOW pages, page.pxd) that hold
# records too long for a slot.  This is the one place that reads or walks the
# free list (free_pages, _check); everyone else asks it.  Every change goes
# through write guards of page 0 and of the pages concerned, so it is
# captured and logged like any page change (invariant 5).
#
# Who may call: the B+ tree (new_page, free_page, overflow chains), the
# guards (overflow records), the pool's Python API (allocate, free,
# page_count, free_count), storage's check (free_pages).  One per pool
# (pool.space); it holds the pool.
#
# Valid if and only if (checked by SpaceManager._check(), pager.pxd 4):
#   1. free_head is 0 or < page_count;
#   2. every page on the free chain is PT_FREE and < page_count, the chain
#      has no cycle and holds exactly free_count pages.
from libc.stdint cimport uint8_t, uint32_t

from oor_core.bufpool cimport BufferPool
from oor_core.guards cimport WritePageGuard


cdef class SpaceManager:
    cdef BufferPool pool
    cdef WritePageGuard new_page(self, uint8_t ptype)
    cdef int free_page(self, uint32_t pid) except -1
    cdef uint32_t write_overflow(self, const uint8_t* data, Py_ssize_t n) except 0
    cdef bytes read_overflow(self, uint32_t first, uint32_t total)
    cdef int free_overflow(self, uint32_t first) except -1
    cdef list walk_free(self, list problems)
