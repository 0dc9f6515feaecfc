"""Query layer benchmark: OOR vs SQLite (indexed table of parsed fields) vs DuckDB, alternated in one run.

Run: ``PYTHONPATH=. python bench/bench_query.py [--rounds 5]`` (DuckDB: the ``bench`` extra; skipped when
absent).  Same data for every engine: every set of ../shared/data (about 100k), each engine through its
public API.  Queries: (1) latest set per object with inclination > 80 and perigee < 600 km, projecting
(norad, epoch); (2) group-by-newest over all sets (per object its newest epoch).  Also: vectorized vs
row-wise filter, the 5 x 100k merge (kernel) and its speed-up over a nested-loop match on 1,000 rows per
source.  Prints medians and spreads (min-max) of the times and of the per-round ratios (oor time / other
engine's time in the same round) and writes bench/results/query.json.
"""
import argparse
import glob
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from array import array

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import oor  # noqa: E402
from oor.codec import read_elements  # noqa: E402
from oor.query.merge import merge_columns  # noqa: E402
from oor.query.operators import KWayMerge, NestedLoopJoin  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
R = oor.codec.elements.EARTH_RADIUS_KM if hasattr(oor, "codec") else 6378.135


def files():
    return sorted(glob.glob(os.path.join(DATA, "catalogs", "*.3le"))) + \
        sorted(glob.glob(os.path.join(DATA, "history", "*.tle")))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "query.json"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="oor-bench-query-")
    reg = oor.open(os.path.join(tmp, "q.oor"), pool_pages=20000, sync="normal")
    sets = []
    for f in files():
        src = os.path.basename(f).split(".")[0] if "catalogs" in f else "history"
        reg.load(f, source_name=src)
        sets.extend(read_elements(f, "auto", source=src))
    reg.checkpoint()
    print(f"{len(sets):,} sets loaded", file=sys.stderr)

    from oor.codec.elements import EARTH_RADIUS_KM, MU_KM3_S2
    sq = sqlite3.connect(os.path.join(tmp, "q.sqlite"))
    sq.execute("create table elsets (norad int, epoch_us int, source text, name text, inclination real, "
               "eccentricity real, mean_motion real, perigee_km real, apogee_km real, primary key (norad, epoch_us, source))")
    rows = []
    for e in sets:
        w = e.mean_motion * 2 * math.pi / 86400.0
        a = (MU_KM3_S2 / (w * w)) ** (1 / 3)
        rows.append((e.norad_id, e.epoch_us, e.source, e.name, e.inclination, e.eccentricity, e.mean_motion,
                     a * (1 - e.eccentricity) - EARTH_RADIUS_KM, a * (1 + e.eccentricity) - EARTH_RADIUS_KM))
    sq.executemany("insert or replace into elsets values (?,?,?,?,?,?,?,?,?)", rows)
    sq.execute("create index by_incl on elsets (inclination)")
    sq.commit()
    try:
        import duckdb
    except ImportError:
        duckdb = None
    if duckdb is not None:
        dk = duckdb.connect()
        dk.execute("create table elsets (norad int, epoch_us bigint, source varchar, name varchar, inclination double, "
                   "eccentricity double, mean_motion double, perigee_km double, apogee_km double)")
        dk.executemany("insert into elsets values (?,?,?,?,?,?,?,?,?)", rows) if len(rows) < 0 else None
        import csv
        csvp = os.path.join(tmp, "rows.csv")
        with open(csvp, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        dk.execute(f"insert into elsets select * from read_csv('{csvp}', header=false)")

    latest_sql = ("select norad, epoch_us from (select norad, epoch_us, inclination, perigee_km, row_number() over "
                  "(partition by norad order by epoch_us desc, source desc) rn from elsets) where rn = 1 and "
                  "inclination > 80 and perigee_km < 600 order by norad")
    group_sql = "select norad, max(epoch_us) from elsets group by norad order by norad"
    engines = {
        "filter": {
            "oor": lambda: list(reg.query().where("inclination > 80 and perigee_km < 600").select("norad", "epoch").rows(raw=True)),
            "oor_rowwise": lambda: list(reg.query().where("inclination > 80 and perigee_km < 600")
                                        .select("norad", "epoch").vectorized(False).rows(raw=True)),
            "sqlite": lambda: sq.execute(latest_sql).fetchall(),
        },
        "group_newest": {
            "oor": lambda: list(reg.query().select("norad", "epoch").rows(raw=True)),
            "sqlite": lambda: sq.execute(group_sql).fetchall(),
        },
        "filter_all_sets": {
            "oor": lambda: list(reg.query().all_sets().where("inclination > 80").select("norad", "epoch").rows(raw=True)),
            "oor_rowwise": lambda: list(reg.query().all_sets().where("inclination > 80").select("norad", "epoch")
                                        .vectorized(False).rows(raw=True)),
            "sqlite": lambda: sq.execute("select norad, epoch_us from elsets where inclination > 80 "
                                         "order by norad, epoch_us, source").fetchall(),
        },
    }
    if duckdb is not None:
        engines["filter"]["duckdb"] = lambda: dk.execute(latest_sql).fetchall()
        engines["group_newest"]["duckdb"] = lambda: dk.execute(group_sql).fetchall()
        engines["filter_all_sets"]["duckdb"] = lambda: dk.execute(
            "select norad, epoch_us from elsets where inclination > 80 order by norad, epoch_us, source").fetchall()
    times = {q: {e: [] for e in es} for q, es in engines.items()}
    counts = {}
    for rnd in range(args.rounds):
        for q, es in engines.items():
            order = list(es)
            random.Random(rnd).shuffle(order)         # alternate the engines within each round
            for e in order:
                t, out = timed(es[e])
                times[q][e].append(t)
                counts.setdefault(q, {})[e] = len(out)

    # 5 x 100k merge: five sources of every set, epochs moved by up to a day, presorted columns
    rnd = random.Random(16)
    base = sorted((e.norad_id, e.epoch_us) for e in sets)
    srcs = [sorted((n, ep + rnd.randrange(-86_400_000_000, 86_400_000_000)) for n, ep in base) for _ in range(5)]
    norads = [array("q", [n for n, _ in s]) for s in srcs]
    epochs = [array("q", [e for _, e in s]) for s in srcs]
    merge_t = [timed(lambda: merge_columns(norads, epochs, list(range(5)), True))[0] for _ in range(args.rounds)]
    heap_t = [timed(lambda: sum(1 for _ in KWayMerge(srcs, key=lambda x: x)))[0] for _ in range(max(1, args.rounds // 2))]
    small = [s[:1000] for s in srcs]
    nl_t = timed(lambda: sum(1 for a in range(5) for b in range(a + 1, 5)
                             for _ in NestedLoopJoin(small[a], small[b], lambda x, y: x[0] == y[0])))[0]
    km_small = [timed(lambda: merge_columns([n[:1000] for n in norads], [e[:1000] for e in epochs],
                                            list(range(5)), True))[0] for _ in range(args.rounds)]

    def st(v):
        return {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v)}

    res = {"sets": len(sets), "rounds": args.rounds, "queries": {}, "counts": counts}
    for q, es in times.items():
        res["queries"][q] = {e: st(v) for e, v in es.items()}
    res["merge_5x100k"] = {"kernel": st(merge_t), "heap_python": st(heap_t),
                           "rows_per_source": len(srcs[0]),
                           "nested_loop_1000_per_source_s": nl_t, "kernel_1000_per_source": st(km_small)}
    for q, es in res["queries"].items():
        line = [f"{q:16}"]
        for e, v in es.items():
            line.append(f"{e} {v['median_s'] * 1e3:7.1f} ms [{v['min_s'] * 1e3:.1f}-{v['max_s'] * 1e3:.1f}]")
        # per-round ratios (each round ran every engine once, in shuffled order): median [min-max]
        ratios, spread = {}, {}
        for e in es:
            if e == "oor":
                continue
            rr = [a / b for a, b in zip(times[q]["oor"], times[q][e])]
            ratios[f"oor/{e}"] = statistics.median(rr)
            spread[f"oor/{e}"] = [min(rr), max(rr)]
        res["queries"][q]["ratios"] = ratios
        res["queries"][q]["ratio_spread"] = spread
        line.append(" ".join(f"{k}={v:.2f}x [{spread[k][0]:.2f}-{spread[k][1]:.2f}]" for k, v in ratios.items()))
        print("  ".join(line))
    m = res["merge_5x100k"]
    print(f"merge 5 x {len(srcs[0]):,}: kernel {m['kernel']['median_s'] * 1e3:.1f} ms "
          f"[{m['kernel']['min_s'] * 1e3:.1f}-{m['kernel']['max_s'] * 1e3:.1f}], python heap "
          f"{m['heap_python']['median_s'] * 1e3:.0f} ms; 1,000/source: nested loop {nl_t * 1e3:.0f} ms vs kernel "
          f"{m['kernel_1000_per_source']['median_s'] * 1e3:.2f} ms "
          f"({nl_t / m['kernel_1000_per_source']['median_s']:.0f}x)")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    reg.close()


if __name__ == "__main__":
    main()
