"""The command line of ``python bench/run.py``: the flags, the configuration of a run and the order of the measures.

Owns: the flags (--quick, --sets, --profile, --out, --no-chart), the two configurations (quick: a slice of the
data and few rounds, seconds; full: the whole data, minutes), the run's ``meta`` (mode, time, versions, machine,
config), the temp dir every measure works in (under the system temp dir, removed at the end) and the order the
measures run and print in: data, engine level (unsorted, bulk, latest, at, scan, history, commit, group,
recovery, rss), registry level and codec (reg_latest, reg_at, reg_history, parse, ingest).

Caller: bench/run.py (``main(argv, description)``).
"""
import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time

from . import data, harness
from .engines import bdb, lmdb, sgp4, sqlite
from .measures import bulk, commit, ingest, lookup, parse, recovery, registry, rss, scan
from .harness import note


def config(args):
    if args.quick:
        return {"quick": True, "sets": args.sets or 1500, "copies": 4, "probes": 2000, "hist_probes": 100,
                "rounds": 2, "rounds_load": 1, "commits": 20, "group_per_thread": 5, "recovery": 2000,
                "rss_sets": 5000, "reg_probes": 1000}
    return {"quick": False, "sets": args.sets, "copies": 40, "probes": 100_000, "hist_probes": 5000,
            "rounds": 5, "rounds_load": 3, "commits": 500, "group_per_thread": 100, "recovery": 50_000,
            "rss_sets": 1_000_000, "reg_probes": 20_000}


def engine_level(res, tmp, cat, hist, cfg, profile):
    """unsorted, bulk, then the reads on the bulk-loaded databases, then the commits."""
    w = data.Workload(cat, hist, cfg)
    bulk.unsorted(res, tmp, w, cfg)
    engines = bulk.bulk(res, tmp, hist, w, cfg)
    w.hist_rows = None
    lookup.latest(res, engines, w, cfg)
    lookup.at(res, engines, w, cfg)
    scan.scan(res, engines, hist, cfg)
    scan.history(res, engines, w, cfg)
    if profile:
        lookup.latest_breakdown(res, engines["oor"], w.probe_ids)
    for e in engines.values():
        e.close()
    engines.clear()
    if profile:
        bulk.profile_loads(res, tmp, hist, w)
    commit.commit(res, tmp, w, cfg, profile)
    commit.group(res, tmp, w, cfg)


def main(argv=None, description=None):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="small data, few rounds (smoke test)")
    ap.add_argument("--sets", type=int, default=None, help="use the first N sets of the catalog")
    ap.add_argument("--profile", action="store_true", help="cProfile OOR's side of unmet targets")
    ap.add_argument("--out", default=os.path.join(data.ROOT, "bench", "results", "latest.json"))
    ap.add_argument("--no-chart", action="store_true")
    args = ap.parse_args(argv)
    cfg = config(args)
    t_start = time.perf_counter()
    res = harness.Results({"mode": "quick" if cfg["quick"] else "full",
                           "when": dt.datetime.now(dt.timezone.utc).isoformat(),
                           "python": sys.version.split()[0], "sqlite": sqlite.VERSION, "lmdb": lmdb.VERSION,
                           "machine": f"{platform.machine()} {os.cpu_count()} cpus", "config": cfg})
    if not lmdb.AVAILABLE:
        res.notes.append("py-lmdb not importable: LMDB anchor skipped (pip install -e '.[bench]')")
    if not bdb.AVAILABLE:
        res.notes.append("Berkeley DB (berkeleydb / bsddb3) not importable: anchor skipped")
    tmp = tempfile.mkdtemp(prefix="oor-bench-")
    try:
        note(f"data: {data.CATALOG}")
        cat = data.catalog_sets(cfg["sets"])
        t0 = time.perf_counter()
        stream = os.path.join(tmp, "history.bin")
        hist, n_rss = data.prepare(cat, cfg, stream)
        note(f"data: {len(cat):,} catalog sets, history x{cfg['copies']} = {len(hist):,} sets, "
             f"{n_rss:,} sets for RSS (prepared in {time.perf_counter() - t0:.1f} s)")
        res.meta.update({"catalog_sets": len(cat), "history_sets": len(hist), "rss_sets": n_rss})
        note("engine level:")
        engine_level(res, tmp, cat, hist, cfg, args.profile)
        del hist
        recovery.recovery(res, tmp, stream, cfg, args.profile)
        rss.peak_rss(res, tmp, stream, n_rss, cfg)
        note("registry level and codec:")
        registry.registry_level(res, tmp, cfg, args.profile)
        if sgp4.Satrec is None:  # pragma: no cover
            res.notes.append("sgp4 not importable: codec and ingest anchors skipped")
        else:
            parse.parse(res, cfg)
            ingest.ingest(res, tmp, cfg, args.profile)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return harness.finish(res, args.out, t_start, with_chart=not args.no_chart)
