"""Typing stub for the compiled oor_core.page: it has no Python API (the slotted-page operations are cdef
functions declared in page.pxd, called from the pager, the buffer pool and the B+ tree)."""
