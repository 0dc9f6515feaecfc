"""Durable commits and recovery: OOR against SQLite and LMDB, in one run.

    python bench/bench_durability.py [--commits 2000] [--threads 8] [--per-thread 250]
                                     [--recovery 10000,50000,100000,200000] [--profile] [--json FILE]

Measures, on the same machine and directory (``--dir``, default a temporary
directory on the same file system as the project):

  latency    durable one-record commit latency, median and p99 microseconds over
             ``--commits`` commits (after 100 warm-up commits), each inserting one
             16-byte key (registry shape) with a 140-byte value:
               OOR     sync="full" (a commit returns when its COMMIT record is fsynced)
               SQLite  stdlib sqlite3, journal_mode=WAL, synchronous=FULL, a WITHOUT ROWID
                       table keyed by a 16-byte blob, one INSERT per autocommit transaction
               LMDB    py-lmdb, sync=True, one put per write transaction
             ratios OOR/SQLite and OOR/LMDB (below 1: OOR is faster).
  group      ``--threads`` threads each doing ``--per-thread`` one-record commits on one
             OOR database: total commits, WAL fsyncs, commits per fsync, commits/s.
  recovery   for WALs of N records = N/2 one-record insert transactions (checkpoint_bytes huge, so nothing
             after the first checkpoint is checkpointed), a child process builds the log and
             dies with os._exit(0); the parent times open_database() and reports
             db.recovery (analysis / redo / undo seconds).  Target: 100k under 100 ms.
             ``--profile`` adds a cProfile of the largest recovery (top functions).

A process crash keeps what was handed to the OS, so the child builds with
sync="normal" (same log records, no fsync per commit) to save time.
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]     # the project (oor) and the suite (bench/suite)

from oor.storage import open_database  # noqa: E402
from suite.engines.oor import keep_files, profiled_open, restore_files  # noqa: E402
from suite.harness import profile_text, timed_threads  # noqa: E402

try:
    import lmdb
except ImportError:  # pragma: no cover
    lmdb = None


def make_kv(n, seed=1950):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        norad = rng.randrange(1, 99999)
        epoch = rng.randrange(0, 1 << 52)
        k = struct.pack(">IQHH", norad, (epoch + (1 << 63)) & 0xFFFFFFFFFFFFFFFF, 1, 0)
        out.append((k, rng.randbytes(140)))
    return out


def summarize(samples):
    s = sorted(samples)
    return {"median_us": statistics.median(s) * 1e6, "p99_us": s[int(len(s) * 0.99) - 1] * 1e6,
            "mean_us": statistics.fmean(s) * 1e6, "n": len(s)}


# ---- latency ------------------------------------------------------------------------------
def lat_oor(d, kv, warm):
    db = open_database(os.path.join(d, "oor.db"), sync="full")
    t = db.tree("t", create=True)
    for k, v in warm:
        with db.transaction():
            t.insert(k, v)
    f0 = db.wal.fsyncs
    out = []
    for k, v in kv:
        t0 = time.perf_counter()
        with db.transaction():
            t.insert(k, v)
        out.append(time.perf_counter() - t0)
    fsyncs = db.wal.fsyncs - f0
    db.close()
    r = summarize(out)
    r["fsyncs_per_commit"] = fsyncs / len(kv)
    return r


def lat_sqlite(d, kv, warm):
    con = sqlite3.connect(os.path.join(d, "sq.db"), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
    for k, v in warm:
        con.execute("INSERT INTO t VALUES (?, ?)", (k, v))
    out = []
    for k, v in kv:
        t0 = time.perf_counter()
        con.execute("INSERT INTO t VALUES (?, ?)", (k, v))     # autocommit: one durable transaction
        out.append(time.perf_counter() - t0)
    con.close()
    return summarize(out)


def lat_lmdb(d, kv, warm):
    env = lmdb.open(os.path.join(d, "lmdb"), map_size=1 << 30, sync=True, metasync=True)
    for k, v in warm:
        with env.begin(write=True) as txn:
            txn.put(k, v)
    out = []
    for k, v in kv:
        t0 = time.perf_counter()
        with env.begin(write=True) as txn:
            txn.put(k, v)
        out.append(time.perf_counter() - t0)
    env.close()
    return summarize(out)


# ---- group commit ---------------------------------------------------------------------------
def group_commit(d, threads, per):
    db = open_database(os.path.join(d, "group.db"), sync="full")
    t = db.tree("t", create=True)
    kvs = [make_kv(per, seed=100 + i) for i in range(threads)]
    f0 = db.wal.fsyncs

    def worker(items):
        for k, v in items:
            with db.transaction():
                t.upsert(k, v)

    el = timed_threads([lambda kv=kv: worker(kv) for kv in kvs])
    fsyncs = db.wal.fsyncs - f0
    db.close()
    commits = threads * per
    return {"threads": threads, "commits": commits, "fsyncs": fsyncs, "commits_per_fsync": commits / fsyncs,
            "seconds": el, "commits_per_s": commits / el}


# ---- recovery ---------------------------------------------------------------------------------
BUILD = """
import os, sys, random, struct
sys.path.insert(0, {root!r})
sys.path.insert(0, os.path.join({root!r}, "bench"))
from bench_durability import make_kv
from oor.storage import open_database
path, n = sys.argv[1], int(sys.argv[2])
db = open_database(path, sync="normal", sync_interval=3600, checkpoint_bytes=1 << 50,
                   checkpoint_seconds=1e12, segment_bytes=16 << 20)
t = db.tree("t", create=True)
for k, v in make_kv(n, seed=7):
    with db.transaction():
        t.insert(k, v)
db.wal.write_out()
st = db.stats()["wal"]
print(st["bytes"], st["segments"], flush=True)
os._exit(0)
"""


def build_crashed(path, n):
    code = textwrap.dedent(BUILD.format(root=ROOT))
    p = subprocess.run([sys.executable, "-c", code, path, str(n)], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    wal_bytes, segments = map(int, p.stdout.split())
    return wal_bytes, segments


def recovery(d, sizes, profile=False):
    out = []
    prof_text = None
    for n in sizes:
        # n WAL records: each one-record transaction logs an UPDATE and a COMMIT
        path = os.path.join(d, f"rec{n}.db")
        wal_bytes, segments = build_crashed(path, n // 2)
        # keep a pristine copy so the profile run recovers the same log
        if profile and n == max(sizes):
            keep_files(path)
        t0 = time.perf_counter()
        db = open_database(path)
        open_s = time.perf_counter() - t0
        rep = dict(db.recovery)
        ok = len(db.tree("t")) == n // 2
        t1 = time.perf_counter()
        db.close()
        close_s = time.perf_counter() - t1
        out.append({"wal_records": n, "records_committed": n // 2, "wal_bytes": wal_bytes, "segments": segments,
                    "log_records": rep["log_records"], "redo_records": rep["redo_records"],
                    "redo_pages": rep["redo_pages"], "open_s": open_s, "total_s": rep["total_s"],
                    "analysis_s": rep["analysis_s"], "redo_s": rep["redo_s"], "undo_s": rep["undo_s"],
                    "close_s": close_s, "all_present": ok})
        if profile and n == max(sizes):
            restore_files(path)
            prof_text = profile_text(profiled_open(path), 14)
    return out, prof_text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--per-thread", type=int, default=250)
    ap.add_argument("--recovery", default="10000,50000,100000,200000",
                    help="log sizes in WAL records (each one-record commit writes two)")
    ap.add_argument("--profile", action="store_true", help="cProfile the largest recovery")
    ap.add_argument("--dir", default=None, help="where the databases go (default: a temp dir)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    d = tempfile.mkdtemp(prefix="oor-bench-dur-", dir=a.dir)
    res = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
           "lmdb": ".".join(map(str, lmdb.version())) if lmdb else None, "dir": d}
    try:
        kv = make_kv(a.commits + 100)
        warm, kv = kv[:100], kv[100:]
        lat = {"OOR": lat_oor(d, kv, warm), "SQLite": lat_sqlite(d, kv, warm)}
        if lmdb is not None:
            lat["LMDB"] = lat_lmdb(d, kv, warm)
        res["latency"] = lat
        res["ratio_oor_sqlite"] = lat["OOR"]["median_us"] / lat["SQLite"]["median_us"]
        res["ratio_oor_lmdb"] = lat["OOR"]["median_us"] / lat["LMDB"]["median_us"] if lmdb else None
        print(f"durable one-record commit latency ({a.commits} commits, microseconds)")
        print(f"  {'engine':8} {'median':>9} {'p99':>9} {'mean':>9}")
        for name, r in lat.items():
            print(f"  {name:8} {r['median_us']:9.1f} {r['p99_us']:9.1f} {r['mean_us']:9.1f}")
        print(f"  OOR/SQLite = {res['ratio_oor_sqlite']:.2f}" +
              (f"   OOR/LMDB = {res['ratio_oor_lmdb']:.2f}" if lmdb else "   (py-lmdb not installed)"))
        print(f"  OOR fsyncs per commit: {lat['OOR']['fsyncs_per_commit']:.2f}")

        g = group_commit(d, a.threads, a.per_thread)
        res["group_commit"] = g
        print(f"\ngroup commit: {g['threads']} threads x {a.per_thread} one-record commits")
        print(f"  commits {g['commits']}  wal fsyncs {g['fsyncs']}  commits/fsync {g['commits_per_fsync']:.2f}"
              f"  throughput {g['commits_per_s']:.0f} commits/s ({g['seconds']:.2f} s)")

        sizes = [int(x) for x in a.recovery.split(",") if x]
        rec, prof = recovery(d, sizes, a.profile)
        res["recovery"] = rec
        print("\nrecovery after a crash (one-record insert transactions, nothing checkpointed)")
        print(f"  {'commits':>8} {'wal MB':>7} {'log recs':>9} {'redo':>8} {'analysis':>9} {'redo s':>8}"
              f" {'total s':>8} {'open s':>8}  ok")
        for r in rec:
            print(f"  {r['records_committed']:8d} {r['wal_bytes'] / 1e6:7.1f} {r['log_records']:9d}"
                  f" {r['redo_records']:8d} {r['analysis_s']:9.3f} {r['redo_s']:8.3f} {r['total_s']:8.3f}"
                  f" {r['open_s']:8.3f}  {r['all_present']}")
        big = min((r for r in rec if r["wal_records"] >= 100_000), key=lambda r: r["wal_records"],
                  default=max(rec, key=lambda r: r["wal_records"]))
        res["recovery_target_100ms_met"] = big["total_s"] < 0.1
        print(f"  target: a log of {big['log_records']} records recovered under 100 ms: "
              f"{'met' if big['total_s'] < 0.1 else 'NOT met'} ({big['total_s'] * 1000:.0f} ms)")
        if prof:
            res["recovery_profile"] = prof
            print("\ncProfile of the largest recovery (open_database), by own time:")
            print(prof)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
