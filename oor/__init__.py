"""OOR, the Orbital Object Registry: an embedded storage engine for satellite element sets."""
from oor_core.errors import (  # noqa: F401
    BufferPoolFullError,
    CorruptPageError,
    DatabaseLockedError,
    NotAnOorFileError,
    OorError,
    PageFullError,
    TLEParseError,
    TxClosedError,
    VersionMismatchError,
)

__version__ = "0.1.0"
