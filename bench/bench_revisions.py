"""Issue 13's benchmarks: what registry format 2 (revisions, provenance) costs, through the public API.

    PYTHONPATH=. python bench/bench_revisions.py [--before /work/wt-before13] [--rounds 3] [--lookups 50000]
                                                [--out bench/results/revisions.json]

In alternated rounds (seeded order), one subprocess per (tree, job), PYTHONPATH at that tree:
  ingest   ``oor.open(path)`` then ``reg.load(file, source_name=...)`` of all of ../shared/data (3 catalogs
           "celestrak", 15 histories "space-track", the OMM folder "omm"; 102,7xx sets), sync="full", durable;
           sets/s, timed from open to close.  Goal: this tree's time <= 1.1x the tree before the change.
  latest   ``reg.latest(id)`` of N random loaded ids in a fresh process on that file (median us per call), the
           file opened for writing (``latest``) and ``read_only=True`` (``latest_ro``).  Goal <= 1.1x.
  size     the data file (+ log) after close, and after ``compact()`` when the tree has it, against SQLite
           (stdlib sqlite3, WAL, synchronous=FULL) holding the same sets and fields the way a user would: one
           row per set keyed (norad, epoch, seq) WITHOUT ROWID with the parsed elements, name, designator,
           source, both TLE lines, arrival, origin and the OMM keywords (JSON), plus a name index.  Goal <= 1.0x.
Ratios are taken within a round; the figure is the median with the spread (min-max).  The "before" tree is a
checkout of the commit before the change built in place (``git worktree add --detach DIR f9f4d90`` then
``python setup.py build_ext --inplace``).  Not part of the test run.
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("OOR_DATA") or os.path.join(os.path.dirname(ROOT), "shared", "data")


def inputs():
    d = DATA
    out = [(os.path.join(d, "catalogs", f), "celestrak") for f in sorted(os.listdir(os.path.join(d, "catalogs")))]
    out += [(os.path.join(d, "history", f), "space-track") for f in sorted(os.listdir(os.path.join(d, "history")))]
    out += [(os.path.join(d, "omm", f), "omm") for f in sorted(os.listdir(os.path.join(d, "omm")))]
    return out


def _files_bytes(path):
    base = os.path.dirname(path)
    name = os.path.basename(path)
    return sum(os.path.getsize(os.path.join(base, f)) for f in os.listdir(base)
               if f == name or (f.startswith(name + "-") and not f.endswith("-lock")))


# ---- children (run in a subprocess with PYTHONPATH at one tree) ----------------------------------------
def child_ingest(db):
    import oor
    t0 = time.perf_counter()
    reg = oor.open(db)
    n = 0
    for f, src in inputs():
        rep = reg.load(f, source_name=src)
        n += rep.inserted + rep.unchanged + getattr(rep, "updated", getattr(rep, "replaced", 0))
    reg.close()
    dt = time.perf_counter() - t0
    size = _files_bytes(db)
    compacted = None
    if hasattr(oor.Registry, "compact"):
        with oor.open(db) as reg:
            reg.compact()
        compacted = _files_bytes(db)
    return {"seconds": dt, "sets": n, "bytes": size, "compacted_bytes": compacted}


def child_latest(db, n, read_only):
    import oor
    with oor.open(db, read_only=read_only) as reg:
        ids = list(reg.objects())
        rnd = random.Random(7)
        probe = [rnd.choice(ids) for _ in range(n)]
        latest = reg.latest
        for x in probe[:2000]:
            latest(x)
        times = []
        for k in range(0, n, 5000):
            chunk = probe[k:k + 5000]
            t0 = time.perf_counter()
            for x in chunk:
                latest(x)
            times.append((time.perf_counter() - t0) / len(chunk) * 1e6)
    return {("us_per_latest_ro" if read_only else "us_per_latest"): statistics.median(times)}


def sqlite_size(tmp):
    """SQLite holding the same sets and fields (module doc); returns bytes of the db + WAL after close."""
    sys.path.insert(0, ROOT)
    import oor
    path = os.path.join(tmp, "same.sqlite")
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE elsets (norad INTEGER NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL, "
                "source TEXT, name TEXT, intl TEXT, classification TEXT, mean_motion REAL, ndot REAL, nddot REAL, "
                "bstar REAL, inclination REAL, raan REAL, eccentricity REAL, arg_perigee REAL, mean_anomaly REAL, "
                "ephemeris_type INTEGER, element_set_no INTEGER, rev_number INTEGER, line1 TEXT, line2 TEXT, "
                "arrival INTEGER, origin TEXT, meta TEXT, PRIMARY KEY (norad, epoch, seq)) WITHOUT ROWID")
    con.execute("CREATE INDEX by_name ON elsets (name)")
    seen = {}
    for f, src in inputs():
        rows = []
        for es in oor.read_elements(f, source=src):
            k = (es.norad_id, es.epoch_us)
            seq = seen.get(k, -1) + 1
            seen[k] = seq
            meta = getattr(es, "meta", None) or {}
            rows.append((es.norad_id, es.epoch_us, seq, src, es.name, es.intl_designator, es.classification,
                         es.mean_motion, es.mean_motion_dot, es.mean_motion_ddot, es.bstar, es.inclination, es.raan,
                         es.eccentricity, es.arg_perigee, es.mean_anomaly, es.ephemeris_type, es.element_set_no,
                         es.rev_number, es.line1, es.line2, int(time.time() * 1e6), getattr(es, "origin", None),
                         json.dumps(meta) if meta else None))
        with con:
            con.executemany("INSERT OR IGNORE INTO elsets VALUES (" + ",".join("?" * 24) + ")", rows)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return os.path.getsize(path) + (os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0)


def run_child(tree, job, db, n=0):
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", job, "--db", db, "--n", str(n)],
                         env=env, capture_output=True, text=True, cwd=tree, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{tree} {job}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(xs):
    return f"{statistics.median(xs):.2f}x [{min(xs):.2f}-{max(xs):.2f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="/work/wt-before13")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lookups", type=int, default=50_000)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "revisions.json"))
    ap.add_argument("--child")
    ap.add_argument("--db")
    ap.add_argument("--n", type=int, default=0)
    a = ap.parse_args()
    if a.child == "ingest":
        print(json.dumps(child_ingest(a.db)))
        return
    if a.child in ("latest", "latest_ro"):
        print(json.dumps(child_latest(a.db, a.n, a.child == "latest_ro")))
        return
    trees = {"before": a.before, "this": ROOT}
    rnd = random.Random(13)
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        sq = sqlite_size(tmp)
        for r in range(a.rounds):
            order = list(trees)
            rnd.shuffle(order)
            res = {}
            for name in order:
                db = os.path.join(tmp, f"{name}{r}.oor")
                res[name] = run_child(trees[name], "ingest", db)
            for job in ("latest", "latest_ro"):
                for name in reversed(order):
                    res[name].update(run_child(trees[name], job, os.path.join(tmp, f"{name}{r}.oor"), a.lookups))
            print(f"round {r}: " + json.dumps(res), flush=True)
            rounds.append(res)
            for name in trees:
                for f in os.listdir(tmp):
                    if f.startswith(f"{name}{r}.oor"):
                        p = os.path.join(tmp, f)
                        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    ing = [x["this"]["seconds"] / x["before"]["seconds"] for x in rounds]
    lat = [x["this"]["us_per_latest"] / x["before"]["us_per_latest"] for x in rounds]
    lat_ro = [x["this"]["us_per_latest_ro"] / x["before"]["us_per_latest_ro"] for x in rounds]
    size = [x["this"]["bytes"] / sq for x in rounds]
    comp = [x["this"]["compacted_bytes"] / sq for x in rounds if x["this"].get("compacted_bytes")]
    before_size = [x["before"]["bytes"] / sq for x in rounds]
    print(f"ingest time, this / before (goal <= 1.1x):     {spread(ing)}   "
          f"({statistics.median(x['this']['sets'] / x['this']['seconds'] for x in rounds):,.0f} sets/s)")
    print(f"latest() time, this / before (goal <= 1.1x):   {spread(lat)}   "
          f"({statistics.median(x['this']['us_per_latest'] for x in rounds):.2f} us; writer-mode open)")
    print(f"latest() read_only=True, this / before:        {spread(lat_ro)}   "
          f"({statistics.median(x['this']['us_per_latest_ro'] for x in rounds):.2f} us)")
    print(f"file size / SQLite same sets+fields ({sq / 1e6:.1f} MB; goal <= 1.0x): this {spread(size)}"
          + (f", after compact {spread(comp)}" if comp else "") + f"; before {spread(before_size)}")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"rounds": rounds, "sqlite_bytes": sq, "ingest_ratio": ing, "latest_ratio": lat, "latest_ro_ratio": lat_ro,
                   "size_ratio": size, "compacted_ratio": comp}, f, indent=1)


if __name__ == "__main__":
    main()
