"""The layouts the benchmark's processes share: the key as an SQL row, the SQL table, the stream file.

Owns: the split of the registry's 16-byte key (norad u32 BE | epoch i64 BE sign-flipped | seq u16 BE | source
u16 BE; oor/keys.py, registry format 2; the suite's sets all have seq 0) into the (norad, epoch, source) row SQLite
stores, that table's definition, and the stream file the parent writes once and the children read (one set a
record: length u16 LE | key 16 bytes | record bytes).  Imports only the standard
library, so the RSS child measures no more than it did when it was a string.

Who may import: every module of the suite, and the children (``children/*.py``).
"""
import struct

SIGN = 1 << 63
KEY = struct.Struct(">IQHH")
KEY_SIZE = KEY.size
_LEN = struct.Struct("<H")

SQL_TABLE = ("CREATE TABLE elsets (norad INTEGER NOT NULL, epoch INTEGER NOT NULL, source INTEGER NOT NULL, "
             "rec BLOB NOT NULL, PRIMARY KEY (norad, epoch, source)) WITHOUT ROWID")


def split_key(k):
    """(norad, epoch_us, source) of a 16-byte key."""
    n, e, _seq, s = KEY.unpack(k)
    return n, e - SIGN, s


def rows_of(items):
    """SQL rows (norad, epoch, source, record) of (key, record) pairs."""
    return [(*split_key(k), v) for k, v in items]


def write_stream(path, items):
    with open(path, "wb") as f:
        for k, v in items:
            f.write(_LEN.pack(len(v)) + k + v)


def stream_items(path, n):
    """The first n (key, record) pairs of a stream file (fewer if it is shorter), in file order."""
    with open(path, "rb", buffering=1 << 16) as f:
        rd = f.read
        for _ in range(n):
            h = rd(2)
            if not h:
                return
            ln = _LEN.unpack(h)[0]
            k = rd(KEY_SIZE)
            yield k, rd(ln)


def stream_values(path, n):
    """The records of the first n sets of a stream file."""
    return [v for _k, v in stream_items(path, n)]
