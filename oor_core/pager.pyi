"""Typing stub for the compiled oor_core.pager (the page file; byte table in pager.pxd)."""
import os
from typing import Any, List, Optional, Union

MAGIC: bytes

class Pager:
    path: str                      # read-only
    file: Optional[Any]            # read-only: optional Python file layer (power-loss simulator)
    read_only: bool                # read-only
    created: bool                  # read-only: True when open() made a new database
    reads: int                     # read-only counters
    writes: int
    syncs: int
    def __init__(self, path: Union[str, os.PathLike[str]], *, create: bool = True,
                 read_only: bool = False, file: Optional[Any] = None, check_header: bool = True) -> None:
        """Open (or create) a page file.  Raises NotAnOorFileError, VersionMismatchError,
        CorruptPageError(0)."""
    def read(self, page_id: int) -> bytes:
        """Verified copy of a page; raises CorruptPageError (checksum, page id, beyond EOF)."""
    def read_if_written(self, page_id: int) -> Optional[bytes]:
        """Verified copy of a page, or None when never written (beyond EOF, or all zeros)."""
    def write(self, page_id: int, data: Union[bytes, bytearray]) -> None:
        """Seal (checksum) and write a 4096-byte page at page_id * 4096."""
    def clean_end(self) -> int:
        """The clean-close mark of page 0 on disk (0: none)."""
    def set_clean_end(self, lsn: int) -> None:
        """Write the clean-close mark into page 0 on disk (the caller syncs)."""
    def bad_pages(self, first: int, end: int) -> List[int]: ...
    def read_raw(self, page_id: int) -> bytes:
        """Unverified bytes of a page (zero-filled past the end)."""
    def file_size(self) -> int: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...

def new_file_header() -> bytes: ...
def header_bounds(header: bytes) -> Optional[str]: ...   # why page 0's references disagree with its page count
def fsync_directory(dirpath: str) -> None: ...
