"""The Cython core of OOR: checksummed slotted pages, the page file, the CLOCK buffer pool
(cache, page guards, space manager, change capture), the B+ tree.

This module only re-exports; each concept lives in its own file.
"""
from oor_core.errors import (  # noqa: F401
    BufferPoolFullError,
    CorruptLogError,
    CorruptPageError,
    DatabaseLockedError,
    ForeignProcessError,
    NotAnOorFileError,
    OorError,
    PageFullError,
    TLEParseError,
    TxClosedError,
    VersionMismatchError,
    WalError,
)
from oor_core.checksum import crc32c  # noqa: F401
from oor_core.pager import Pager  # noqa: F401
from oor_core.bufpool import (BASE_POOL_FRAMES, BufferPool, PoolMode, frame_budget, frames_in_use,  # noqa: F401
                              set_frame_budget)
from oor_core.guards import PageGuard, ReadPageGuard, WritePageGuard  # noqa: F401
from oor_core.space import SpaceManager  # noqa: F401
from oor_core.capture import ChangeCapture, page_diff  # noqa: F401
from oor_core.constants import (  # noqa: F401
    FORMAT_VERSION,
    MAX_INLINE,
    PAGE_HEADER_SIZE,
    PAGE_SIZE,
    PT_BTREE_INTERNAL,
    PT_BTREE_LEAF,
    PT_FILE_HEADER,
    PT_FREE,
    PT_OVERFLOW,
    PT_SLOTTED,
)
