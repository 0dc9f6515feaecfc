"""Typing stub for the compiled oor_core.constants (page and file-format constants; values in constants.pyx)."""

PAGE_SIZE: int
PAGE_HEADER_SIZE: int
MAX_INLINE: int
PT_FREE: int
PT_FILE_HEADER: int
PT_SLOTTED: int
PT_BTREE_LEAF: int
PT_BTREE_INTERNAL: int
PT_OVERFLOW: int
FORMAT_VERSION: int
