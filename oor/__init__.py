"""OOR, the Orbital Object Registry: an embedded storage engine for satellite element sets."""
from oor_core.errors import (  # noqa: F401
    BufferPoolFullError,
    ConflictError,
    CorruptLogError,
    CorruptPageError,
    DatabaseLockedError,
    ForeignProcessError,
    LoadInterrupted,
    NotAnOorFileError,
    OorError,
    PageFullError,
    SnapshotTooOldError,
    TLEParseError,
    TxClosedError,
    VersionMismatchError,
    WalError,
)
from oor import codec  # noqa: E402
from oor.codec import *  # noqa: F401,F403,E402  (ElementSet, read_elements, write_elements, parse_tle, encode_record, ...)
from oor.registry import Registry, LoadReport, open, restore  # noqa: F401,E402
from oor.times import parse_duration, to_datetime, to_epoch_us  # noqa: F401,E402

__version__ = "0.1.0"

# the public names (explicit, so that type checkers in strict mode see them as re-exported)
__all__ = ["BufferPoolFullError", "CorruptLogError", "CorruptPageError", "DatabaseLockedError",
           "ForeignProcessError", "LoadInterrupted", "NotAnOorFileError", "OorError", "PageFullError",
           "TLEParseError", "TxClosedError", "VersionMismatchError", "WalError", "Registry", "LoadReport", "open", "restore",
           "to_epoch_us", "to_datetime", "parse_duration", "__version__"]
__all__ += codec.__all__  # noqa: F405  (the codec's names: ElementSet, read_elements, ...)
