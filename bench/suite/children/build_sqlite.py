"""Crash builder for SQLite: n autocommit INSERTs in WAL mode with no checkpoint, then death.

    python build_sqlite.py DB_PATH STREAM_FILE N

The same random keys (seeded) and record values as build_oor.py; ``synchronous=NORMAL``,
``wal_autocheckpoint=0``; prints the -wal file's size in bytes and ``os._exit``s.

Caller: measures/recovery.py.
"""
import os
import random
import sqlite3
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.dirname(BENCH), BENCH]      # the project (oor) and the suite

from suite.formats import SQL_TABLE, stream_values  # noqa: E402

path, stream, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
vals = stream_values(stream, 5000)
rng = random.Random(5)
con = sqlite3.connect(path, isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=NORMAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute(SQL_TABLE)
for i in range(n):
    con.execute("INSERT OR REPLACE INTO elsets VALUES (?, ?, 0, ?)",
                (rng.randrange(1, 999999), rng.randrange(0, 1 << 52), vals[i % len(vals)]))
print(os.path.getsize(path + "-wal"), flush=True)
os._exit(0)
