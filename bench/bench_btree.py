"""B+ tree against LMDB and SQLite on the registry's shape, in one run.

    python bench/bench_btree.py [--n 1000000] [--json bench/results/btree.json]

Data: N keys of 16 bytes (norad u32 BE, flipped epoch i64 BE, source u16 BE,
pad u16) and ~140-byte values, generated from a fixed seed.  Measures, for
each engine, on the same keys:
  bulk   sorted bulk load, durable at the end (fsync)
  get    random point lookups of existing keys (median of 5 rounds)
  scan   full cursor scan, records per second (median of 5 rounds)
OOR runs with a buffer pool large enough to hold the tree (as LMDB's page
cache and SQLite's cache are the OS page cache and a 256 MiB cache).
Ratios: get = OOR time / LMDB time (target <= 0.8); scan = OOR rate / LMDB
rate (target >= 1.2); bulk = LMDB time / OOR time (target >= 1.0).
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import struct
import sys
import tempfile
import time

from oor_core import BufferPool, Pager
from oor_core.btree import BTree

try:
    import lmdb
except ImportError:  # pragma: no cover
    lmdb = None


def make_items(n, seed=1950):
    rng = random.Random(seed)
    base = bytes(rng.randrange(256) for _ in range(4096))
    items = []
    norad = 1
    epoch = 0
    for i in range(n):
        if rng.random() < 0.05:
            norad += rng.randrange(1, 4)
            epoch = 0
        epoch += rng.randrange(1, 86_400_000_000)
        key = struct.pack(">IQHH", norad, (epoch + (1 << 63)) & 0xFFFFFFFFFFFFFFFF, 1, 0)
        off = (i * 37) % 3900
        items.append((key, base[off:off + 140]))
    items.sort()
    return items


def timed(fn, rounds=5):
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def bench_oor(items, probe, tmp):
    path = os.path.join(tmp, "bench.oor")
    frames = len(items) * 170 // 4096 + 1024
    pool = BufferPool(Pager(path), frames)
    tree = BTree.create(pool, "bench")
    t0 = time.perf_counter()
    tree.bulk_load(iter(items))
    pool.flush_all()
    bulk = time.perf_counter() - t0
    get = tree.get

    def gets():
        for k in probe:
            get(k)

    def scan():
        n = 0
        for _ in tree.items():
            n += 1
        assert n == len(items)

    res = {"bulk_s": bulk, "get_s": timed(gets) / len(probe), "scan_s": timed(scan)}
    res["stats"] = tree.stats()
    pool.close()
    return res


def bench_lmdb(items, probe, tmp):
    path = os.path.join(tmp, "bench.lmdb")
    env = lmdb.open(path, map_size=8 << 30, sync=True, metasync=True, writemap=False)
    t0 = time.perf_counter()
    with env.begin(write=True) as txn:
        txn.cursor().putmulti(items, append=True)
    env.sync(True)
    bulk = time.perf_counter() - t0
    txn = env.begin(buffers=False)
    get = txn.get

    def gets():
        for k in probe:
            get(k)

    def scan():
        n = 0
        for _ in txn.cursor():
            n += 1
        assert n == len(items)

    res = {"bulk_s": bulk, "get_s": timed(gets) / len(probe), "scan_s": timed(scan)}
    txn.abort()
    env.close()
    return res


def bench_sqlite(items, probe, tmp):
    path = os.path.join(tmp, "bench.sqlite")
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA cache_size=-262144")
    con.execute("CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
    t0 = time.perf_counter()
    con.execute("BEGIN")
    con.executemany("INSERT INTO t VALUES (?, ?)", items)
    con.execute("COMMIT")
    bulk = time.perf_counter() - t0
    cur = con.cursor()
    q = "SELECT v FROM t WHERE k = ?"

    def gets():
        for k in probe:
            cur.execute(q, (k,)).fetchone()

    def scan():
        n = 0
        for _ in con.execute("SELECT k, v FROM t ORDER BY k"):
            n += 1
        assert n == len(items)

    res = {"bulk_s": bulk, "get_s": timed(gets, 3) / len(probe), "scan_s": timed(scan, 3)}
    con.close()
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--probes", type=int, default=200_000)
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--dir", help="scratch directory (default: a temp dir)")
    args = ap.parse_args(argv)
    items = make_items(args.n)
    rng = random.Random(7)
    probe = [items[rng.randrange(len(items))][0] for _ in range(args.probes)]
    tmp = tempfile.mkdtemp(dir=args.dir)
    try:
        results = {"n": args.n, "oor": bench_oor(items, probe, tmp)}
        if lmdb is not None:
            results["lmdb"] = bench_lmdb(items, probe, tmp)
        results["sqlite"] = bench_sqlite(items, probe, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = args.n
    print(f"{'engine':8} {'bulk load s':>12} {'get us':>8} {'scan Mrec/s':>12}")
    for name in ("oor", "lmdb", "sqlite"):
        r = results.get(name)
        if r:
            print(f"{name:8} {r['bulk_s']:12.3f} {r['get_s'] * 1e6:8.3f} {n / r['scan_s'] / 1e6:12.2f}")
    o = results["oor"]
    ratios = {}
    for anchor in ("lmdb", "sqlite"):
        a = results.get(anchor)
        if not a:
            continue
        ratios[anchor] = {
            "get_time_ratio": o["get_s"] / a["get_s"],
            "scan_rate_ratio": a["scan_s"] / o["scan_s"],
            "bulk_speed_ratio": a["bulk_s"] / o["bulk_s"],
        }
        r = ratios[anchor]
        print(f"vs {anchor}: get time {r['get_time_ratio']:.2f}x, scan rate {r['scan_rate_ratio']:.2f}x, "
              f"bulk load speed {r['bulk_speed_ratio']:.2f}x")
    if "lmdb" in ratios:
        r = ratios["lmdb"]
        print("targets vs LMDB: get <= 0.8x: %s; scan >= 1.2x: %s; bulk >= 1.0x: %s" % (
            "met" if r["get_time_ratio"] <= 0.8 else "NOT met",
            "met" if r["scan_rate_ratio"] >= 1.2 else "NOT met",
            "met" if r["bulk_speed_ratio"] >= 1.0 else "NOT met"))
    results["ratios"] = ratios
    print("tree:", o["stats"])
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
