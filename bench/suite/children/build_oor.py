"""Crash builder for OOR: n one-record committed transactions, then death without a checkpoint.

    python build_oor.py DB_PATH STREAM_FILE N

Inserts N random keys (seeded) with record values taken from the first 5,000 sets of STREAM_FILE, one transaction
each, ``sync="normal"`` (a process crash keeps what was handed to the OS, so no fsync per commit is needed) and
checkpoints that never trigger; writes the log out, prints the WAL's size in bytes, and ``os._exit``s.

Caller: measures/recovery.py.
"""
import os
import random
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.dirname(BENCH), BENCH]      # the project (oor) and the suite

from oor.keys import elset_key  # noqa: E402
from oor.storage import open_database  # noqa: E402
from suite.formats import stream_values  # noqa: E402

path, stream, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
vals = stream_values(stream, 5000)
rng = random.Random(5)
db = open_database(path, sync="normal", sync_interval=3600, checkpoint_bytes=1 << 50, checkpoint_seconds=1e12)
t = db.tree("elsets", create=True)
for i in range(n):
    with db.transaction():
        t.insert(elset_key(rng.randrange(1, 999999), rng.randrange(0, 1 << 52), 0), vals[i % len(vals)])
db.wal.write_out()
print(db.stats()["wal"]["bytes"], flush=True)
os._exit(0)
