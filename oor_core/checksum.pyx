"""CRC32C for Python callers (tests, the WAL); the page code calls the C function directly."""
from libc.stdint cimport uint32_t


def crc32c(const unsigned char[::1] data not None, uint32_t prev=0):
    """CRC32C of ``data`` (bytes-like), continuing from ``prev``.  Any caller.

    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    return oor_crc32c(prev, &data[0] if data.shape[0] else NULL, data.shape[0])


def crc32c_portable(const unsigned char[::1] data not None, uint32_t prev=0):
    """The table-driven CRC32C, bypassing the SSE4.2 path.  Tests only."""
    return oor_crc32c_sw(prev, &data[0] if data.shape[0] else NULL, data.shape[0])


def hardware_crc32c():
    """True when the SSE4.2 crc32 instruction is in use."""
    return bool(oor_crc32c_hw_available())
