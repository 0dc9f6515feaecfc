"""OOR, the Orbital Object Registry: an embedded storage engine for satellite element sets."""
from oor_core.errors import (  # noqa: F401
    BufferPoolFullError,
    ConflictError,
    CorruptLogError,
    CorruptPageError,
    DatabaseLockedError,
    ForeignProcessError,
    NotAnOorFileError,
    OorError,
    PageFullError,
    SnapshotTooOldError,
    TLEParseError,
    TxClosedError,
    VersionMismatchError,
    WalError,
)
from oor.codec import *  # noqa: F401,F403,E402  (ElementSet, read_elements, write_elements, parse_tle, encode_record, ...)
from oor.registry import Registry, LoadReport, open  # noqa: F401,E402

__version__ = "0.1.0"
