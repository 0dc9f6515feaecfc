"""Key and value encodings of the registry's trees (registry format 3): format owner (docs/registry.md,
docs/revisions.md, docs/latest.md).

Who may import: ``oor.registry``, ``oor.revisions``, ``oor.query`` and tests.  Pure functions, no I/O.
C-level offsets of the ``elsets`` key, for Cython readers of leaf pages
(``oor_core/batch.pyx``, ``oor_core/reads.pyx``), are in ``oor_core/elset_layout.pxd``; ``reads.index_ids``
reads the norad at the end of a names / cospar key.

Every key is a memcmp-ordered byte string: comparing two keys byte by byte
gives the order of the values they encode.  Byte order: big-endian for every
integer in a key.  The epoch is an i64 of microseconds since 1950-01-01T00:00Z
stored as ``epoch_us + 2**63`` (the sign bit flipped), so a negative epoch sorts
before a positive one.  Stamps (arrival / superseding times, us since 1950) are
stored the same way.

Primary tree ``elsets`` (the current state: one entry per stored set), 16 bytes:

  OFFSET  SIZE  DESCRIPTION
  0       4     NORAD catalog number, u32 BE
  4       8     epoch, i64 us since 1950 BE with the sign bit flipped
                (MAX_EPOCH_US only for the object's tombstone)
  12      2     seq, u16 BE: arrival order among the sets of this (object, epoch)
  14      2     source id, u16 BE (0 = no source; see ``sources``)
  value:        the codec record v2 (oor.codec.record) of the set, or a tombstone

Tombstone value (``delete(id, reason=...)``: the object stops being "latest"):

  0       1     0xFF (never the first byte of a codec record)
  1       8     arrival stamp, i64 LE
  9       n     reason, UTF-8 (may be empty)

Tree ``latest`` (format 3; docs/latest.md): each object's last ``elsets`` entry,
the same 16-byte key and the same value (a record, or the object's tombstone).

Tree ``revs`` (superseded versions: what an update, a delete or the end of a
tombstone replaced), 24 bytes:

  0       16    the elsets key of the version
  16      8     superseding stamp, i64 BE sign bit flipped
  value:        u16 LE reason length R | reason UTF-8 | the superseded elsets value

Tree ``commits`` (one entry per committed registry transaction):

  stamp, 8 bytes (i64 BE, sign flipped) -> commit time, i64 LE us since 1950

Tree ``info``:  b"format" -> u16 BE registry format (3; a format-2 file has no ``latest``
tree and is upgraded by the first writer that opens it).

Tree ``sources`` (source name <-> u16 id; both directions in one tree):

  b"n" + name (UTF-8)       -> id, u16 BE
  b"i" + id (u16 BE)        -> name (UTF-8)
  Source None is id 0 and has no entries; the empty string is an ordinary name.

Tree ``names`` (case-insensitive name -> object):

  casefold(name) UTF-8, cut to NAME_KEY_MAX bytes at a character boundary
  | 0x00 | NORAD u32 BE     -> count, u32 BE: how many current sets of that
                               object carry a name with that key

Tree ``cospar`` (international designator -> object):

  COSPAR id ASCII ("1998-067A") | 0x00 | NORAD u32 BE -> count, u32 BE

A key or value is valid if and only if:
  1. elsets: the key is exactly 16 bytes; its value is a valid record whose
     (norad, epoch, source) are the key's, or a tombstone whose key has epoch
     MAX_EPOCH_US and source 0 and is the object's last key;
  2. names / cospar: it holds a 0x00 byte followed by exactly 4 bytes, and the
     text before it is non-empty UTF-8;
  3. every count is >= 1 (an entry whose count drops to 0 is deleted); the
     registry changes counts only through BTree.add_counts (oor_core/btree.pyx),
     which reads and writes this u32 BE value and deletes an entry at 0 -- the
     same layout as pack_count below (archive rebuilds write whole counts);
  4. revs: the key is 24 bytes, the value at least 2 + R bytes, the reason
     UTF-8, and the stored value valid for the key's first 16 bytes as in 1
     (without the last-key rule);
  5. commits: 8-byte keys, 8-byte values, commit time >= stamp, and both strictly
     increasing in key order; info["format"] is 3;
  6. latest: for every object with an elsets entry exactly one entry, equal in
     key and value to that object's last elsets entry, and nothing else.
Checked by ``Registry.check`` (``oor.registry`` and ``oor.revisions``).
"""
import struct

__all__ = ["KEY_SIZE", "SIGN", "NAME_KEY_MAX", "FORMAT", "FORMAT_NO_LATEST", "TREE_NAMES", "TOMB_EPOCH", "elset_key", "split_elset_key",
           "object_lo", "object_hi", "epoch_lo", "epoch_hi", "is_tombstone", "tombstone", "split_tombstone",
           "revision_key", "split_revision_key", "revision_value", "split_revision_value", "stamp_key",
           "split_stamp_key", "pack_time", "unpack_time",
           "index_key", "split_index_key", "name_text", "prefix_end", "pack_count", "unpack_count",
           "last_entries", "tee_last_entries"]

FORMAT = 3                            # the registry format these encodings are (info["format"])
FORMAT_NO_LATEST = 2                  # the format before the latest tree: read as it is, upgraded by a writer
# The trees of a format-3 registry file (names: at most 8 characters, the file header's limit).
TREE_NAMES = ("elsets", "sources", "names", "cospar", "revs", "commits", "info", "latest")
KEY_SIZE = 16
REV_KEY_SIZE = 24
SIGN = 1 << 63
NAME_KEY_MAX = 256                    # bytes of casefolded name kept in a names key
MIN_EPOCH_US = -(1 << 63)
MAX_EPOCH_US = (1 << 63) - 1
TOMB_EPOCH = MAX_EPOCH_US             # the epoch field of a tombstone's key
TOMB = 0xFF
MAX_SEQ = 0xFFFF
_KEY = struct.Struct(">IQHH")
_EPOCH = struct.Struct(">IQ")
_EPOCH_HI = struct.Struct(">IQI")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_Q = struct.Struct(">Q")
_QLE = struct.Struct("<q")
_HLE = struct.Struct("<H")


def elset_key(norad_id, epoch_us, seq=0, source_id=0):
    """The 16-byte primary key.  O(1).

    >>> elset_key(25544, 0).hex()
    '000063c8800000000000000000000000'
    >>> elset_key(1, -1) < elset_key(1, 0) < elset_key(1, 0, 1) < elset_key(1, 1) < elset_key(2, MIN_EPOCH_US)
    True
    """
    return _KEY.pack(norad_id, epoch_us + SIGN, seq, source_id)


def split_elset_key(key):
    """(norad_id, epoch_us, seq, source_id) of a primary key."""
    norad, e, seq, src = _KEY.unpack(key)
    return norad, e - SIGN, seq, src


def last_entries(items):
    """The last (key, value) of each object among elsets items in key order: what the latest tree holds
    (condition 6)."""
    prev = None
    for kv in items:
        if prev is not None and kv[0][:4] != prev[0][:4]:
            yield prev
        prev = kv
    if prev is not None:
        yield prev


def tee_last_entries(items, out):
    """items passed through unchanged, while each object's last (key, value) is appended to out (a list,
    complete once items is exhausted): a whole-file build derives the latest tree from its elsets stream."""
    prev = None
    for kv in items:
        if prev is not None and kv[0][:4] != prev[0][:4]:
            out.append(prev)
        prev = kv
        yield kv
    if prev is not None:
        out.append(prev)


def object_lo(norad_id):
    """The smallest possible key of an object (every key of norad_id is >= it)."""
    return _U32.pack(norad_id)


def object_hi(norad_id):
    """A key above every key of norad_id and below every key of norad_id + 1."""
    return _U32.pack(norad_id) + b"\xff" * 12


def epoch_lo(norad_id, epoch_us):
    """The 12-byte prefix of every key of (norad_id, epoch_us); the smallest of them."""
    return _EPOCH.pack(norad_id, epoch_us + SIGN)


def epoch_hi(norad_id, epoch_us):
    """A key above every key of (norad_id, epoch_us) and below the next epoch's (one pack: at()'s seek)."""
    return _EPOCH_HI.pack(norad_id, epoch_us + SIGN, 0xFFFFFFFF)


# ---- stored values: tombstones --------------------------------------------------------------
def is_tombstone(value):
    """Whether an elsets value is a tombstone (else a codec record)."""
    return value[0] == TOMB


def tombstone(arrival_us, reason):
    return bytes((TOMB,)) + _QLE.pack(arrival_us) + (reason or "").encode("utf-8")


def split_tombstone(value):
    """(arrival stamp, reason) of a tombstone value."""
    return _QLE.unpack_from(value, 1)[0], bytes(value[9:]).decode("utf-8")


# ---- revisions and commits ------------------------------------------------------------------
def revision_key(key, stamp):
    return key + _Q.pack(stamp + SIGN)


def split_revision_key(rkey):
    """(elsets key, superseding stamp)."""
    return rkey[:KEY_SIZE], _Q.unpack_from(rkey, KEY_SIZE)[0] - SIGN


def revision_value(reason, value):
    r = (reason or "").encode("utf-8")
    return _HLE.pack(len(r)) + r + value


def split_revision_value(v):
    """(reason, superseded elsets value)."""
    n = _HLE.unpack_from(v, 0)[0]
    return bytes(v[2:2 + n]).decode("utf-8"), bytes(v[2 + n:])


def stamp_key(stamp):
    return _Q.pack(stamp + SIGN)


def split_stamp_key(k):
    return _Q.unpack(k)[0] - SIGN


def pack_time(us):
    return _QLE.pack(us)


def unpack_time(b):
    return _QLE.unpack(b)[0]


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
