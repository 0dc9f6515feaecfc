"""The user-level benchmark (issue 17): what a user does with OOR, against SQLite, LMDB, RocksDB, DuckDB and
Berkeley DB doing the same job, in one run, engines alternated in every round.

    python bench/run.py                        # this benchmark at the real set (18 files, 102k sets), 3 rounds
    python bench/run.py --scale 1m             # synthetic history from the real catalog, 1.03M sets (1 round)
    python bench/run.py --scale 10m            # 10.1M sets (1 round; generated once into /tmp/oor-bench-user)
    python bench/run.py --quick                # seconds: 300 sets of each file, 1 round (tests/test_bench_smoke.py)
    python bench/run.py --internal [--quick]   # the internal micro benchmarks (bench/suite, issue 7)

Owns: the operations and their order, the rounds (each round: every engine ingests into a fresh directory, is
reopened, then each read operation runs on every engine in a seeded shuffled order; the integrity checks run as
fresh processes), the per-round ratios OOR / peer (time over time: below 1 means OOR is faster; for history and
scan a rate goal of "≥ 1.2x LMDB" is the time ratio ≤ 1/1.2), their medians and min/max, the goals of issue 17,
one cProfile line (top 3 own-time functions) per operation whose goal is missed, the printed tables and the JSON
document (``bench/results/user-<scale>.json``: meta, every round's figures, the ratios, goals, profiles, notes).

What each engine does: bench/user_engines.py; the data and the probes: bench/user_data.py; docs/benchmarks.md,
"User-level, issue 17".

Caller: bench/run.py (``main(argv)``); tests/test_bench_smoke.py runs it with --quick.
"""
import argparse
import cProfile
import datetime as dt
import gc
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [p for p in (os.path.dirname(BENCH), BENCH) if p not in sys.path]

import user_data  # noqa: E402
import user_engines as E  # noqa: E402
from oor.storage import DEFAULT_POOL_PAGES  # noqa: E402

MB = 1 << 20
# (op, what the row says, unit): unit "s" = seconds for the whole operation, "MB" = size
OPS = [
    ("ingest", "ingest the files from text, durable", "s"),
    ("latest", "random latest(id)", "s"),
    ("at", "at(id, t)", "s"),
    ("history", "full history of 1,000 objects", "s"),
    ("deep", "full history of the 15 deep objects", "s"),
    ("scan", "latest set of every object (scan)", "s"),
    ("find", "find by 10 name prefixes", "s"),
    ("export", "export the latest catalog as 3LE", "s"),
    ("size", "file size after ingest", "MB"),
    ("size_main", "the same, main file only (no log)", "MB"),
    ("check", "oor check vs PRAGMA integrity_check, time", "s"),
    ("check_rss", "the same, peak RSS of the process", "MB"),
]
READS = ["latest", "at", "history", "deep", "scan", "find", "export"]
# issue 17's goals as limits on OOR / peer (time or size; a rate goal r is the time limit 1/r)
GOALS = {
    "ingest": {"lmdb": 1.0},
    "latest": {"lmdb": 0.8}, "at": {"lmdb": 0.8},
    "history": {"lmdb": 1 / 1.2, "sqlite": 1.0}, "deep": {"lmdb": 1 / 1.2, "sqlite": 1.0},
    "scan": {"lmdb": 1 / 1.2, "sqlite": 1.0},
    "find": {"sqlite": 1.0}, "export": {"sqlite": 1.0}, "size": {"sqlite": 1.0}, "check": {"sqlite": 1.0},
}
GOAL_TEXT = {
    "ingest": "≤ 1.0 LMDB", "latest": "≤ 0.8 LMDB", "at": "≤ 0.8 LMDB",
    "history": "rate ≥ 1.2 LMDB, ≥ 1.0 SQLite (time ≤ 0.83 / 1.0)", "deep": "as history", "scan": "as history",
    "find": "≤ 1.0 SQLite", "export": "≤ 1.0 SQLite", "size": "≤ 1.0 SQLite", "check": "≤ 1.0 SQLite",
    "check_rss": "≤ pool + 40 MB",
}
POOL_MB = DEFAULT_POOL_PAGES * 4096 / MB   # oor.open's default pool


def note(msg):
    print(msg, flush=True)


def config(args):
    if args.quick:
        return {"scale": "quick", "rounds": args.rounds or 1, "n_latest": 2000, "n_at": 1000, "n_hist": 50,
                "subset": 300}
    # 1m: one round is about 6 min here plus 3 min of profiles (two rounds took 15.5 min)
    rounds = {"real": 3, "1m": 1, "10m": 1}[args.scale]
    return {"scale": args.scale, "rounds": args.rounds or rounds, "n_latest": 50_000, "n_at": 20_000,
            "n_hist": 1_000, "subset": None}


def _tree_hash(paths):
    """sha256 of the named files' bytes (sorted by path), for store_key."""
    import hashlib
    h = hashlib.sha256()
    for f in sorted(paths):
        h.update(f.encode())
        with open(f, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:16]


def _dist_version(mod):
    """The installed distribution's version of a module without __version__ (rocksdict), or "?"."""
    from importlib import metadata
    try:
        return metadata.version(mod)
    except metadata.PackageNotFoundError:
        return "?"


def store_key(cls):
    """What a cached store depends on: the data recipe, the engine adapter (bench/user_engines.py), the
    engine's library version -- and for OOR the sources of oor and oor_core, so that OOR's store (and its
    ingest figure) is rebuilt whenever OOR changes, while the peers' stay built."""
    import glob
    root = os.path.dirname(BENCH)
    key = {"recipe": user_data.RECIPE, "adapter": _tree_hash([os.path.join(BENCH, "user_engines.py")])}
    if cls.name == "oor":
        key["oor"] = _tree_hash(glob.glob(os.path.join(root, "oor", "**", "*.py"), recursive=True)
                                + glob.glob(os.path.join(root, "oor_core", "*.pyx"))
                                + glob.glob(os.path.join(root, "oor_core", "*.pxd")))
    else:
        mod = {"sqlite": "sqlite3", "lmdb": "lmdb", "rocksdb": "rocksdict", "duckdb": "duckdb",
               "bdb": "berkeleydb"}[cls.name]
        m = __import__(mod)
        key["version"] = str(getattr(m, "sqlite_version", None) or getattr(m, "__version__", None)
                             or _dist_version(mod))
        import sgp4
        key["sgp4"] = str(getattr(sgp4, "__version__", "?"))
    return key


def cached_ingest(cls, scale, files, rebuild):
    """(engine on its cached store, ingest seconds, when it was built, built now?) for --reuse-stores.

    A store is kept in ``<cache>/<scale>-stores/<engine>/`` with ``built.json`` (its key and ingest
    figure); it is reused while store_key matches, else built again (timed as one_round times it).
    Why: at 10M sets the engines' text ingests alone take far longer than the 15 minutes the issue gives
    a --scale 10m run here (OOR about 10 min, the peers' together well over that), so the peers' are
    built once and OOR's again only when its code changes; the reads and checks are timed every run."""
    d = os.path.join(user_data.CACHE, f"{scale}-stores", cls.name)
    mark = os.path.join(os.path.dirname(d), f"{cls.name}.built.json")
    key = store_key(cls)
    if not rebuild and os.path.exists(mark):
        with open(mark) as f:
            got = json.load(f)
        if got.get("key") == key and os.path.isdir(d):
            return cls(d), got["ingest_s"], got["built"], False
    shutil.rmtree(d, ignore_errors=True)
    if os.path.exists(mark):
        os.remove(mark)
    os.makedirs(d)
    eng = cls(d)
    gc.collect()
    t0 = time.perf_counter()
    eng.ingest(files)
    sec = time.perf_counter() - t0
    built = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with open(mark, "w") as f:
        json.dump({"key": key, "ingest_s": sec, "built": built}, f)
    return eng, sec, built, True


def run_check(argv):
    """(seconds, peak RSS MB, exit code) of a fresh process running argv (after an untimed import of
    oor in the same environment, so its byte code is cached as an installed package's is)."""
    subprocess.run([sys.executable, "-c", "import oor.cli"], env=E.oor_env(), check=True)
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=E.oor_env(), text=True)
    el = time.perf_counter() - t0
    hwm = [ln.split()[1] for ln in p.stderr.splitlines() if ln.startswith("VmHWM")]
    if not hwm:
        raise RuntimeError(f"{argv[-1]}: integrity check failed ({p.returncode}): {p.stderr[-500:]}")
    return el, int(hwm[-1]) / 1024, p.returncode


def read_fn(eng, op, probes, tmp):
    if op == "latest":
        return lambda: eng.latest(probes.latest_ids)
    if op == "at":
        return lambda: eng.at(probes.at_probes)
    if op == "history":
        return lambda: eng.history(probes.hist_ids)
    if op == "deep":
        return lambda: eng.history(probes.deep_ids)
    if op == "scan":
        return eng.scan
    if op == "find":
        return lambda: eng.find(probes.prefixes)
    path = os.path.join(tmp, f"export-{eng.name}.3le")
    return lambda: eng.export(path)


def supports(eng, op):
    if op in ("latest", "at", "history", "deep"):
        return eng.point_reads
    if op in ("check", "check_rss"):
        return eng.check_argv() is not None
    return True


def one_round(r, classes, files, probes, tmp, rng, rec, keep, ops=None, stores=None):
    """Round r: ingest (shuffled), reopen, the reads (each op shuffled), close, checks.  Returns the engines.
    ``ops``: the read operations (and "check") to time; None: all (ingest and size are always measured).
    ``stores``: None, or {"scale", "rebuild", "built": {}} to ingest into cached stores (cached_ingest; the
    ingest figure is the one of the store's build, which ``built`` records per engine)."""
    engines = {}
    order = rng.sample(classes, len(classes))
    for cls in order:
        if stores is not None:
            eng, sec, when, now = cached_ingest(cls, stores["scale"], files, stores["rebuild"] and r == 0)
            stores["built"][cls.name] = {"built": when, "this_run": now}
            rec(r, "ingest", eng.name, sec)
            rec(r, "size", eng.name, eng.size() / MB)
            if hasattr(eng, "main_size"):
                rec(r, "size_main", eng.name, eng.main_size() / MB)
            engines[cls.name] = eng
            continue
        d = os.path.join(tmp, f"r{r}-{cls.name}")
        os.makedirs(d)
        eng = cls(d)
        gc.collect()
        t0 = time.perf_counter()
        eng.ingest(files)
        rec(r, "ingest", eng.name, time.perf_counter() - t0)
        rec(r, "size", eng.name, eng.size() / MB)
        if hasattr(eng, "main_size"):
            rec(r, "size_main", eng.name, eng.main_size() / MB)
        engines[cls.name] = eng
    for eng in engines.values():
        eng.open()
    for op in READS:
        if ops is not None and op not in ops:
            continue
        names = [n for n in rng.sample(sorted(engines), len(engines)) if supports(engines[n], op)]
        for n in names:
            fn = read_fn(engines[n], op, probes, tmp)
            gc.collect()
            t0 = time.perf_counter()
            count = fn()
            rec(r, op, n, time.perf_counter() - t0, count)
        for n in names:
            p = os.path.join(tmp, f"export-{n}.3le")
            if os.path.exists(p):
                os.remove(p)
    for eng in engines.values():
        eng.close()
    for n in rng.sample(sorted(engines), len(engines)) if ops is None or "check" in ops else []:
        eng = engines[n]
        if eng.check_argv() is None:
            continue
        sec, rss, code = run_check(eng.check_argv())
        rec(r, "check", n, sec, code)
        rec(r, "check_rss", n, rss)
    if not keep and stores is None:
        for eng in engines.values():
            shutil.rmtree(os.path.dirname(eng.path), ignore_errors=True)
    return engines


def precompile(notes):
    """Byte-compile the oor package where it is imported from, as installing it does (pip compiles a
    wheel's modules at install time), so that the check's fresh interpreter reads them compiled.  Why:
    an editable install compiles on first import -- and, under PYTHONDONTWRITEBYTECODE=1 (set on this
    machine), again in every process: 0.11 s of the 0.29 s `oor check` of the real set, which no
    installed user pays and the peers' checks (the standard library's compiled sqlite3) do not."""
    import compileall
    import oor
    compileall.compile_dir(os.path.dirname(oor.__file__), quiet=1)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        notes.append("PYTHONDONTWRITEBYTECODE is set: the oor package was byte-compiled before the rounds, "
                     "as an install does")


def top3(pr):
    """The 3 functions with the most own time, the harness's own loops and the profiler left out."""
    st = pstats.Stats(pr)
    rows = sorted(((k, v) for k, v in st.stats.items()
                   if os.path.dirname(os.path.abspath(k[0])) != BENCH and "_lsprof" not in k[2]),
                  key=lambda kv: kv[1][2], reverse=True)[:3]
    out = []
    for (fn, line, func), (_cc, _nc, tt, _ct, _callers) in rows:
        out.append(f"{func} ({os.path.basename(fn)}:{line}) {tt:.3f}s")
    return "; ".join(out)


def profile_misses(missed, oor_eng, files, probes, tmp):
    """{op: 'top 3 own-time functions'} of OOR's side of each missed operation (after the timed rounds)."""
    out = {}
    for op in missed:
        pr = cProfile.Profile()
        if op == "ingest":
            d = os.path.join(tmp, "profile-ingest")
            os.makedirs(d)
            eng = E.OOR(d)
            pr.enable()
            eng.ingest(files)
            pr.disable()
            shutil.rmtree(d, ignore_errors=True)
        elif op in READS:
            oor_eng.open()
            fn = read_fn(oor_eng, op, probes, tmp)
            pr.enable()
            fn()
            pr.disable()
            oor_eng.close()
        elif op == "check":
            import oor
            pr.enable()
            with oor.open(oor_eng.path) as reg:
                reg.check()
            pr.disable()
        else:
            continue
        out[op] = top3(pr)
    return out


def summarize(rounds, engines):
    """{op: {"median": {engine: v}, "ratios": {peer: {median, min, max, n}}}} from the per-round figures."""
    out = {}
    for op, _what, _unit in OPS:
        vals = {}
        ratios = {}
        for rd in rounds:
            got = rd.get(op, {})
            for e, v in got.items():
                vals.setdefault(e, []).append(v["value"])
            if "oor" in got:
                for e, v in got.items():
                    if e != "oor" and v["value"] > 0:
                        ratios.setdefault(e, []).append(got["oor"]["value"] / v["value"])
        if not vals:
            continue
        out[op] = {"median": {e: statistics.median(v) for e, v in vals.items()},
                   "ratios": {e: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
                              for e, v in ratios.items()}}
    return out


def judge(summary):
    """[(op, peer, limit, value, met)] for every goal that has a measured ratio; check_rss against pool + 40 MB."""
    out = []
    for op, lim in GOALS.items():
        s = summary.get(op)
        if s is None:
            continue
        for peer, limit in lim.items():
            if peer in s["ratios"]:
                v = s["ratios"][peer]["median"]
                out.append({"op": op, "peer": peer, "limit": limit, "value": v, "met": v <= limit})
    s = summary.get("check_rss")
    if s and "oor" in s["median"]:
        v = s["median"]["oor"]
        out.append({"op": "check_rss", "peer": "abs", "limit": POOL_MB + 40, "value": v, "met": v <= POOL_MB + 40})
    return out


def fmt_abs(op, v):
    if op in ("size", "size_main", "check_rss"):
        return f"{v:.1f} MB"
    return f"{v * 1e3:.0f} ms" if v < 10 else f"{v:.1f} s"


def print_tables(summary, goals, peers, meta):
    note("")
    note(f"User-level benchmark (issue 17), scale {meta['scale']}: {meta['sets_in_files']:,} sets in "
         f"{meta['files']} files, {meta['rounds']} round(s); ratio OOR / peer, median [min-max] of the per-round "
         f"ratios (time or size: < 1 means OOR better)")
    hdr = f"| {'operation':40} | {'OOR':>9} | " + " | ".join(f"{p:^19}" for p in peers) + " | goal | met |"
    note(hdr)
    note("|" + "---|" * (len(peers) + 4))
    met_of = {}
    for g in goals:
        met_of.setdefault(g["op"], []).append(g["met"])
    for op, what, _unit in OPS:
        s = summary.get(op)
        if s is None:
            continue
        cells = []
        for p in peers:
            r = s["ratios"].get(p)
            cells.append(f"{r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}]" if r else "–")
        oor_v = s["median"].get("oor")
        m = met_of.get(op)
        met = "–" if not m else ("yes" if all(m) else "**no**")
        note(f"| {what:40} | {fmt_abs(op, oor_v) if oor_v is not None else '–':>9} | "
             + " | ".join(f"{c:^19}" for c in cells) + f" | {GOAL_TEXT.get(op, '')} | {met} |")
    note("")
    note("medians per engine:")
    for op, what, _unit in OPS:
        s = summary.get(op)
        if s is None:
            continue
        note(f"  {op:10} " + "  ".join(f"{e} {fmt_abs(op, v)}" for e, v in s["median"].items()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=["real", "1m", "10m"], default="real")
    ap.add_argument("--quick", action="store_true", help="a few hundred sets of each file, one round (seconds)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--engines", default=None, help="comma-separated subset (oor is always in)")
    ap.add_argument("--ops", default=None,
                    help="comma-separated subset of the reads and check to time (ingest and size always run)")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile of missed goals")
    ap.add_argument("--reuse-stores", action=argparse.BooleanOptionalAction, default=None,
                    help="ingest into stores cached across runs (default: on at --scale 10m only); a store is "
                         "rebuilt when its engine or the data changes (OOR: when its code changes)")
    ap.add_argument("--rebuild", action="store_true", help="with --reuse-stores: build every store again")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--out", default=None, help="JSON path (default bench/results/user-<scale>.json)")
    ap.add_argument("--markdown", metavar="JSON", default=None,
                    help="print the tables of a result file (for docs/benchmarks.md) and exit")
    args = ap.parse_args(argv)
    if args.markdown:
        with open(args.markdown) as f:
            doc = json.load(f)
        names = doc["meta"]["engines"]
        print_tables(doc["summary"], doc["goals"], [n for n in names if n != "oor"] +
                     [n for n in ("bdb",) if n not in names], doc["meta"])
        for op, line in doc["profiles"].items():
            note(f"  profile {op}: {line}")
        return doc
    cfg = config(args)
    t_start = time.perf_counter()
    notes = []
    classes = []
    for cls, why in E.available():
        if cls is None:
            notes.append(why)
            note("note: " + why)
        elif args.engines is None or cls.name == "oor" or cls.name in args.engines.split(","):
            classes.append(cls)
    precompile(notes)
    tmp = tempfile.mkdtemp(prefix="oor-bench-user-")
    try:
        if cfg["subset"]:
            files = user_data.subset_files(cfg["subset"], tmp)
            real = files
        else:
            files = user_data.scale_files(cfg["scale"], note)
            real = user_data.real_files()
        copies = user_data.SCALES.get(cfg["scale"], 1)
        probes = user_data.Probes(real, cfg["n_latest"], cfg["n_at"], cfg["n_hist"], args.seed,
                                  back_days=3.3 * (copies - 1))
        n_sets = sum(len(user_data.read_triples(p)) for p, _ in files) if copies < 20 else 0
        if not n_sets:
            n_sets = sum(len(user_data.read_triples(p)) for p, _ in real) * copies
        meta = {"scale": cfg["scale"], "files": len(files), "sets_in_files": n_sets, "rounds": cfg["rounds"],
                "when": dt.datetime.now(dt.timezone.utc).isoformat(), "python": sys.version.split()[0],
                "machine": f"{platform.machine()} {os.cpu_count()} cpus", "seed": args.seed,
                "engines": [c.name for c in classes], "probes": {
                    "latest": len(probes.latest_ids), "at": len(probes.at_probes), "history": len(probes.hist_ids),
                    "deep": len(probes.deep_ids), "prefixes": probes.prefixes},
                "load_avg_start": os.getloadavg()}
        for mod in ("sqlite3", "lmdb", "duckdb", "sgp4", "rocksdict"):
            try:
                m = __import__(mod)
                meta[f"{mod}_version"] = getattr(m, "sqlite_version", None) or getattr(m, "__version__", "?")
            except ImportError:
                pass
        note(f"data: {n_sets:,} sets in {len(files)} files; engines {', '.join(c.name for c in classes)}; "
             f"{cfg['rounds']} round(s)")
        rounds = []

        def rec(r, op, eng, value, count=None):
            while len(rounds) <= r:
                rounds.append({})
            rounds[r].setdefault(op, {})[eng] = {"value": value, **({"count": count} if count is not None else {})}

        rng = random.Random(args.seed)
        last = None
        reuse = args.reuse_stores if args.reuse_stores is not None else cfg["scale"] == "10m"
        stores = {"scale": cfg["scale"], "rebuild": args.rebuild, "built": {}} if reuse else None
        for r in range(cfg["rounds"]):
            t0 = time.perf_counter()
            keep = r == cfg["rounds"] - 1
            last = one_round(r, classes, files, probes, tmp, rng, rec, keep,
                             None if args.ops is None else set(args.ops.split(",")), stores)
            got = rounds[r]
            note(f"round {r + 1}/{cfg['rounds']} ({time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f}): "
                 + "; ".join(f"{op} " + " ".join(f"{e}={fmt_abs(op, v['value'])}" for e, v in got[op].items())
                             for op in ("ingest", "latest", "scan") if op in got))
        # equal work: the engines' answer counts of the first round
        for op, per in rounds[0].items():
            counts = {e: v["count"] for e, v in per.items() if "count" in v and op not in ("check",)}
            if len(set(counts.values())) > 1:
                notes.append(f"{op}: answer counts differ: {counts}")
        summary = summarize(rounds, [c.name for c in classes])
        goals = judge(summary)
        peers = [c.name for c in classes if c.name != "oor"] + [n for n in ("bdb",) if n not in
                                                                 [c.name for c in classes]]
        profiles = {}
        missed = sorted({g["op"] for g in goals if not g["met"]} - {"size", "size_main", "check_rss"},
                        key=[o for o, _w, _u in OPS].index)
        if stores is not None:
            meta["stores"] = stores["built"]
            old_ones = sorted(n for n, b in stores["built"].items() if not b["this_run"])
            if old_ones:
                notes.append("ingest figures from the cached stores' builds (not alternated in this run): "
                             + ", ".join(f"{n} built {stores['built'][n]['built']}" for n in old_ones))
            missed = [op for op in missed if op != "ingest"]      # (its profile would ingest the scale again)
        if missed and not args.no_profile and last is not None:
            note(f"profiling OOR's side of the missed goals: {', '.join(missed)}")
            profiles = profile_misses(missed, last["oor"], files, probes, tmp)
        meta["seconds"] = time.perf_counter() - t_start
        meta["load_avg_end"] = os.getloadavg()
        print_tables(summary, goals, peers, meta)
        for g in goals:
            lim = g["limit"]
            note(f"  goal {g['op']:9} vs {g['peer']:6}: {g['value']:.2f} ≤ {lim:.2f}  "
                 f"{'met' if g['met'] else 'NOT met'}")
        for op, line in profiles.items():
            note(f"  profile {op}: {line}")
        for n in notes:
            note("note: " + n)
        out = args.out or os.path.join(BENCH, "results", f"user-{cfg['scale']}.json")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        doc = {"meta": meta, "summary": summary, "goals": goals, "profiles": profiles, "notes": notes,
               "rounds": rounds}
        with open(out, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        note(f"wrote {out} in {meta['seconds']:.0f} s")
        return doc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
