"""Typing stub for the compiled oor_core.checksum (CRC32C, Castagnoli)."""
from typing import Union

_Buffer = Union[bytes, bytearray, memoryview]

def crc32c(data: _Buffer, prev: int = 0) -> int:
    """CRC32C of ``data`` (C-contiguous bytes-like), continuing from ``prev``."""
def crc32c_portable(data: _Buffer, prev: int = 0) -> int:
    """The table-driven CRC32C, bypassing the SSE4.2 path.  Tests only."""
def hardware_crc32c() -> bool:
    """True when the SSE4.2 crc32 instruction is in use."""
