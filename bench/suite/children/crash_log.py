"""Crash builder: N one-record committed transactions into one engine, then death without a checkpoint.

    python crash_log.py ENGINE DB_PATH STREAM_FILE N      (ENGINE: oor or sqlite)

Both engines insert the same N random keys (seeded) with record values taken from the first 5,000 sets of
STREAM_FILE, one transaction each, and die with ``os._exit`` (no close, no checkpoint): the crash the recovery
measure recovers from.  A process crash keeps what was handed to the OS, so neither fsyncs per commit.
oor: ``sync="normal"``, checkpoints that never trigger, the log written out; prints the WAL's size in bytes.
sqlite: WAL mode, ``synchronous=NORMAL``, ``wal_autocheckpoint=0``; prints the -wal file's size in bytes.

Caller: measures/recovery.py.
"""
import os
import random
import sqlite3
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.dirname(BENCH), BENCH]      # the project (oor) and the suite

from oor.keys import elset_key  # noqa: E402
from oor.storage import open_database  # noqa: E402
from suite.formats import SQL_TABLE, stream_values  # noqa: E402

engine, path, stream, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
vals = stream_values(stream, 5000)
rng = random.Random(5)
if engine == "oor":
    db = open_database(path, sync="normal", sync_interval=3600, checkpoint_bytes=1 << 50, checkpoint_seconds=1e12)
    t = db.tree("elsets", create=True)
    for i in range(n):
        with db.transaction():
            t.insert(elset_key(rng.randrange(1, 999999), rng.randrange(0, 1 << 52), 0), vals[i % len(vals)])
    db.wal.write_out()
    print(db.stats()["wal"]["bytes"], flush=True)
else:
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
