"""Python-visible copies of the on-disk constants declared in page.pxd and pager.pxd."""
from oor_core.page cimport (PAGE_SIZE as _PS, PAGE_HDR, MAX_INLINE as _MI, PT_FREE as _F,
                            PT_FILE_HEADER as _H, PT_SLOTTED as _S, PT_BTREE_LEAF as _L,
                            PT_BTREE_INTERNAL as _I, PT_OVERFLOW as _O)
from oor_core.pager cimport FORMAT_VERSION as _V

PAGE_SIZE = _PS
PAGE_HEADER_SIZE = PAGE_HDR
MAX_INLINE = _MI
PT_FREE = _F
PT_FILE_HEADER = _H
PT_SLOTTED = _S
PT_BTREE_LEAF = _L
PT_BTREE_INTERNAL = _I
PT_OVERFLOW = _O
FORMAT_VERSION = _V
