"""Key encodings of the registry's trees: format owner (see docs/registry.md).

Who may import: ``oor.registry``, ``oor.query`` and tests.  Pure functions, no I/O.
C-level offsets of the ``elsets`` key, for Cython readers of leaf pages
(``oor_core/batch.pyx``), are in ``oor_core/elset_layout.pxd``.

Every key is a memcmp-ordered byte string: comparing two keys byte by byte
gives the order of the values they encode.  Byte order: big-endian for every
integer.  The epoch is an i64 of microseconds since 1950-01-01T00:00Z stored
as ``epoch_us + 2**63`` (the sign bit flipped), so a negative epoch sorts
before a positive one.

Primary tree ``elsets`` (one entry per stored element set), 14 bytes:

  OFFSET  SIZE  DESCRIPTION
  0       4     NORAD catalog number, u32 BE
  4       8     epoch, i64 us since 1950 BE with the sign bit flipped
  12      2     source id, u16 BE (0 = no source; see ``sources``)
  value:        the codec record (oor.codec.record) of the set

Tree ``sources`` (source name <-> u16 id; both directions in one tree):

  b"n" + name (UTF-8)       -> id, u16 BE
  b"i" + id (u16 BE)        -> name (UTF-8)
  Source None is id 0 and has no entries; the empty string is an ordinary name.

Tree ``names`` (case-insensitive name -> object):

  casefold(name) UTF-8, cut to NAME_KEY_MAX bytes at a character boundary
  | 0x00 | NORAD u32 BE     -> count, u32 BE: how many stored sets of that
                               object carry a name with that key

Tree ``cospar`` (international designator -> object):

  COSPAR id ASCII ("1998-067A") | 0x00 | NORAD u32 BE -> count, u32 BE

A key is valid if and only if:
  1. elsets: it is exactly 14 bytes long;
  2. names / cospar: it holds a 0x00 byte followed by exactly 4 bytes, and the
     text before it is non-empty UTF-8;
  3. every count is >= 1 (an entry whose count drops to 0 is deleted).
"""
import struct

__all__ = ["KEY_SIZE", "SIGN", "NAME_KEY_MAX", "elset_key", "split_elset_key", "object_lo", "object_hi",
           "index_key", "split_index_key", "name_text", "prefix_end", "pack_count", "unpack_count"]

KEY_SIZE = 14
SIGN = 1 << 63
NAME_KEY_MAX = 256                    # bytes of casefolded name kept in a names key
MIN_EPOCH_US = -(1 << 63)
MAX_EPOCH_US = (1 << 63) - 1
_KEY = struct.Struct(">IQH")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")


def elset_key(norad_id, epoch_us, source_id):
    """The 14-byte primary key.  O(1).

    >>> elset_key(25544, 0, 0).hex()
    '000063c880000000000000000000'
    >>> elset_key(1, -1, 0) < elset_key(1, 0, 0) < elset_key(1, 1, 0) < elset_key(2, MIN_EPOCH_US, 0)
    True
    """
    return _KEY.pack(norad_id, epoch_us + SIGN, source_id)


def split_elset_key(key):
    """(norad_id, epoch_us, source_id) of a primary key."""
    norad, e, src = _KEY.unpack(key)
    return norad, e - SIGN, src


def object_lo(norad_id):
    """The smallest possible key of an object (every key of norad_id is >= it)."""
    return _U32.pack(norad_id)


def object_hi(norad_id):
    """A key above every key of norad_id and below every key of norad_id + 1."""
    return _U32.pack(norad_id) + b"\xff" * 10


def name_text(name):
    """The indexed text of a name: casefolded UTF-8, at most NAME_KEY_MAX bytes; b"" for None/blank."""
    if not name:
        return b""
    b = name.strip().casefold().encode("utf-8")
    if len(b) > NAME_KEY_MAX:
        b = b[:NAME_KEY_MAX].decode("utf-8", "ignore").encode("utf-8")
    return b


def index_key(text, norad_id):
    """names / cospar key: text bytes | 0x00 | NORAD u32 BE."""
    return text + b"\x00" + _U32.pack(norad_id)


def split_index_key(key):
    """(text bytes, norad_id) of a names / cospar key."""
    return key[:-5], _U32.unpack(key[-4:])[0]


def prefix_end(prefix):
    """The smallest byte string above every string starting with prefix (None: no bound)."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)


def pack_count(n):
    return _U32.pack(n)


def unpack_count(b):
    return _U32.unpack(b)[0]


pack_u16 = _U16.pack


def unpack_u16(b):
    return _U16.unpack(b)[0]
