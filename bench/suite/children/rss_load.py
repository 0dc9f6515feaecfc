"""RSS child: load the first N sets of the stream file into one engine, in a fresh process; print its peak RSS.

    python rss_load.py ENGINE DB_PATH STREAM_FILE N POOL_MB      (ENGINE: oor, sqlite or lmdb)

oor: ``oor.open(pool_pages=POOL_MB * 256).load(...)`` of the decoded sets (the registry's 10k-set transactions);
sqlite: a POOL_MB cache, 10k-row transactions; lmdb: 10k-put transactions (its RSS counts the mapped file pages
it touched).  Prints two lines: "VmHWM-at-start VmHWM-at-end sets-stored" (MB), then the RSS samples (every
100,000 sets) as a Python literal.

Caller: measures/rss.py.
"""
import os
import sqlite3
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.dirname(BENCH), BENCH]      # the project (oor) and the suite

import oor  # noqa: E402
from oor.codec import decode_record  # noqa: E402
from suite.formats import SQL_TABLE, split_key, stream_items  # noqa: E402

try:
    import lmdb
except ImportError:
    lmdb = None

engine, path, stream, n, pool_mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


def hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


samples = []


def items():
    for i, kv in enumerate(stream_items(stream, n)):
        yield kv
        if i % 100000 == 0:
            samples.append((i, round(rss(), 1)))


base = hwm()
count = 0
if engine == "oor":
    reg = oor.open(path, pool_pages=pool_mb * 256)
    samples.append(("open", round(rss(), 1)))
    rep = reg.load(decode_record(v) for _k, v in items())
    count = rep.stored
    reg.close()
elif engine == "sqlite":
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA cache_size=-%d" % (pool_mb * 1024))
    con.execute(SQL_TABLE)
    batch = []

    def flush():
        con.execute("BEGIN")
        con.executemany("INSERT OR REPLACE INTO elsets VALUES (?, ?, ?, ?)", batch)
        con.execute("COMMIT")
        batch.clear()
    for k, v in items():
        batch.append((*split_key(k), v))
        count += 1
        if len(batch) >= 10000:
            flush()
    flush()
    con.close()
else:
    env = lmdb.open(path, map_size=16 << 30, sync=True)
    it = items()
    while True:
        with env.begin(write=True) as txn:
            m = 0
            for k, v in it:
                txn.put(k, v)
                m += 1
                if m >= 10000:
                    break
        count += m
        if m < 10000:
            break
    env.close()
samples.append(("end", round(rss(), 1)))
print(base, hwm(), count, flush=True)
print(repr(samples), flush=True)
