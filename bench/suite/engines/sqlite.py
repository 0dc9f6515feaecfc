"""SQLite's side of every measure (stdlib sqlite3): the engine-level adapter, the registry-level reads, the ingest.

SQLite stores the same rows as the others, in its natural form of the key: the WITHOUT ROWID table of
``suite.formats.SQL_TABLE`` keyed by (norad, epoch, source), the record as a BLOB; ``journal_mode=WAL``,
``synchronous=FULL``, a 256 MiB cache.  Key-to-row conversion of the bulk load is done before the timing (the
measures pass rows); the one-record commits convert inside it, as an application would.

Caller: the measures, through ``suite.engines``.
"""
import os
import sqlite3

from oor.codec import decode_record
from oor.registry import to_epoch_us

from ..formats import SQL_TABLE, rows_of, split_key
from .sgp4 import Satrec, tle_pairs

VERSION = sqlite3.sqlite_version


def sqlite_connect(path, cache_kib=262144):
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute(f"PRAGMA cache_size=-{cache_kib}")
    return con


def load_rows(con, rows):
    """Insert ``rows`` in one transaction."""
    con.execute("BEGIN")
    con.executemany("INSERT INTO elsets VALUES (?, ?, ?, ?)", rows)
    con.execute("COMMIT")


class SQLiteEngine:
    name = "sqlite"

    def __init__(self, d, pool_pages=None):
        self.path = os.path.join(d, "sqlite.db")
        self.con = sqlite_connect(self.path)
        self.con.execute(SQL_TABLE)

    def bulk(self, items):
        rows = rows_of(items)        # conversion outside the timing would flatter SQLite; it is cheap
        load_rows(self.con, rows)

    def bulk_rows(self, rows):
        load_rows(self.con, rows)

    insert_rows = bulk_rows

    def latest_fn(self, norads):
        cur = self.con.cursor()
        q = "SELECT norad, epoch, source, rec FROM elsets WHERE norad = ? ORDER BY epoch DESC, source DESC LIMIT 1"
        args = [(n,) for n in norads]

        def run():
            for a in args:
                cur.execute(q, a).fetchone()
        return run

    def at_fn(self, probes):
        cur = self.con.cursor()
        q = ("SELECT norad, epoch, source, rec FROM elsets WHERE norad = ? AND epoch <= ? "
             "ORDER BY epoch DESC, source DESC LIMIT 1")

        def run():
            for a in probes:
                cur.execute(q, a).fetchone()
        return run

    def scan_fn(self):
        con = self.con

        def run():
            n = 0
            for _ in con.execute("SELECT norad, epoch, source, rec FROM elsets ORDER BY norad, epoch, source"):
                n += 1
            return n
        return run

    def history_fn(self, norads):
        cur = self.con.cursor()
        q = "SELECT norad, epoch, source, rec FROM elsets WHERE norad = ? ORDER BY epoch, source"
        args = [(n,) for n in norads]

        def run():
            c = 0
            for a in args:
                for _ in cur.execute(q, a):
                    c += 1
            return c
        return run

    def commit_one(self, k, v):
        n, e, s = split_key(k)
        self.con.execute("INSERT INTO elsets VALUES (?, ?, ?, ?)", (n, e, s, v))   # autocommit

    def close(self):
        self.con.close()


# ---- registry level: the same content as the registry, read the way an application over SQLite would ----
def open_registry_copy(path, items):
    """A new database at ``path`` holding the (key, record) pairs ``items``; its connection."""
    con = sqlite_connect(path)
    con.execute(SQL_TABLE)
    load_rows(con, rows_of(items))
    return con


def registry_readers(con):
    """(latest(id), at(id, datetime), history(id)) over ``con``, each decoding to ElementSets as the registry does."""
    cur = con.cursor()

    def sql_latest(n):
        if not 0 <= n <= 999_999_999:
            raise ValueError
        r = cur.execute("SELECT rec FROM elsets WHERE norad = ? ORDER BY epoch DESC, source DESC LIMIT 1",
                        (n,)).fetchone()
        return decode_record(r[0]) if r else None

    def sql_at(n, w):
        us = to_epoch_us(w)
        r = cur.execute("SELECT rec FROM elsets WHERE norad = ? AND epoch <= ? ORDER BY epoch DESC, source DESC "
                        "LIMIT 1", (n, us)).fetchone()
        return decode_record(r[0]) if r else None

    def sql_hist(n):
        return [decode_record(r[0]) for r in
                cur.execute("SELECT rec FROM elsets WHERE norad = ? ORDER BY epoch, source", (n,))]
    return sql_latest, sql_at, sql_hist


# ---- ingest ----------------------------------------------------------------------------------------------
def sgp4_ingest(path, dbpath):
    """The anchor pipeline: read the file, sgp4 Satrec.twoline2rv each pair, insert into SQLite, commit (fsync)."""
    pairs = tle_pairs(path)
    con = sqlite_connect(dbpath)
    con.execute(SQL_TABLE)
    rows = {}
    for name, l1, l2 in pairs:
        s = Satrec.twoline2rv(l1, l2)
        if s.error:
            continue
        # epoch: jdsatepoch + fraction -> microseconds since 1950-01-01 (JD 2433282.5)
        us = round(((s.jdsatepoch - 2433282.5) + s.jdsatepochF) * 86_400_000_000)
        rows[(s.satnum, us)] = "\n".join((name, l1, l2)).encode()
    con.execute("BEGIN")
    con.executemany("INSERT OR REPLACE INTO elsets VALUES (?, ?, 0, ?)", [(k[0], k[1], v) for k, v in rows.items()])
    con.execute("COMMIT")
    con.close()
    return len(rows)
