"""Snapshot reads beside a writer (issue 12): OOR against SQLite (WAL mode) and LMDB, alternated in one run.

    PYTHONPATH=. python bench/bench_concurrency.py [--quick] [--rounds N] [--figures 1,3,4] [--profile]
                                                 [--main-tree /work/wt-bench-main] [--out FILE]

Every figure is taken in separate processes, through each engine's public API, on the same data: the three
real catalogs as the starting database (36,949 objects), then a writer PROCESS loading the full history data
set (the 15 files of ../shared/data/history, 38,622 sets, 15 objects) in its normal batches (``reg.load(file)``,
a commit every 10,000 sets or at the end of each file; SQLite and LMDB parse with the same codec and commit the
same batches).  OOR: ``oor.open(path)`` for the writer, ``oor.open(path, read_only=True)`` for a reader,
``reg.latest(id)`` per lookup (one snapshot per call).  SQLite: stdlib sqlite3, ``journal_mode=WAL``,
``synchronous=FULL``, the table (norad, epoch, source, rec) of ``suite.formats.SQL_TABLE`` (primary key, WITHOUT
ROWID); a lookup is the natural "latest set of an object" query ``WHERE norad = ? ORDER BY epoch DESC, source DESC
LIMIT 1`` in autocommit (one read transaction per call) and decodes the record.  LMDB: py-lmdb, OOR's 16-byte
keys, the codec's records, ``sync=True``; a lookup is one read transaction (``env.begin()``), a seek to the last key
of the object, the decode.

  1 reader     lookups/s of one reader process (random ``latest(id)`` over the loaded objects) while the writer
               loads, relative to the same reader just before the writer starts (goal >= 0.8x, and no worse than
               SQLite WAL's ratio); also the reader's CPU microseconds per lookup in both windows (what it costs,
               whatever share of the 2 cores the scheduler gave it).  ``hot``: the same with the reader asking
               only for the 15 objects the writer is rewriting (full mode).
  2 latency    the reader's p50 / p99 (/ p99.9, max) per lookup, without and during writes.
  3 writer     the writer's load rate (sets/s, open and close not timed) with 4 reader processes relative to none
               (goal >= 0.9x).  ``paced4``: each reader does 2,000 lookups/s in bursts of 64 (busy analysts: CPU is
               left for the writer, so the ratio shows what readers cost the writer through the engine);
               ``tight4``: each reader in a tight loop (5 busy processes on 2 cores: the CPU share dominates; the
               anchors pay it too).
  4 snapshot   single-reader ``reg.latest(id)`` on this tree relative to the same loop on the engine before
               snapshots (``--main-tree``: a checkout of commit ac88e00, built in place), each tree loading the
               same data (catalogs + histories) into its own file, then one subprocess per (tree, mode) with
               PYTHONPATH at that tree, alternated in every round.  Modes: ``latest`` (writer-mode open),
               ``latest_ro`` (``read_only=True``), ``snapshot`` (this tree only: ``with reg.snapshot() as s:``
               then ``s.latest(id)`` over all probes).  Goal <= 1.1x.

Sessions: the writer and every reader process start in a session of their own (``start_new_session``), as a
cron loader and analysts' shells are.  With the kernel's autogroup scheduling (``/proc/sys/kernel/
sched_autogroup_enabled``) each session is one scheduling group, so on a shared machine processes of one session
split that session's CPU share between them: a reader started in the writer's session lost half its CPU when the
writer started, for every engine alike, and the wall ratios measured that split.  ``--shared-session`` runs every
child in the benchmark's own session (the earlier runs).

Rounds alternate the engines (and the conditions) in a seeded order; each figure is the median of the rounds
with the spread (min-max) in brackets, ratios taken within a round.  ``--quick``: 4 history files, 3 rounds,
shorter windows (seconds per figure); full: every file, 5 rounds.  ``--profile`` cProfiles OOR's reader process
(idle and during writes) and the figure 4 loops, printed by own time.  The load average of the machine is
recorded before and after every figure.  Results: bench/results/concurrency.json (``--out``).  Not part of the
test run (``testpaths = tests``).
"""
import argparse
import bisect
import json
import mmap
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from array import array

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [p for p in (ROOT, os.path.join(ROOT, "bench")) if p not in sys.path]   # the project, the suite

import oor  # noqa: E402
from oor.codec import decode_record, encode_record, read_elements  # noqa: E402
from oor.keys import elset_key, object_lo  # noqa: E402
from suite.data import CATALOGS, HISTORY_DIR  # noqa: E402
from suite.engines.sqlite import registry_readers, sqlite_connect  # noqa: E402
from suite.formats import SQL_TABLE  # noqa: E402
from suite.harness import note  # noqa: E402

try:
    import lmdb
except ImportError:  # pragma: no cover
    lmdb = None

ENGINES = ["oor", "sqlite"] + (["lmdb"] if lmdb is not None else [])
BATCH = 10_000                 # reg.load's default batch: the anchors commit the same batches
LMDB_MAP = 4 << 30
PACE = 2000                    # lookups/s of a paced reader (figure 3)
BURST = 64
MAIN_COMMIT = "ac88e00"
GOALS = {"reader": 0.8, "writer": 0.9, "snapshot": 1.1}


def config(quick):
    hist = sorted(os.path.join(HISTORY_DIR, f) for f in os.listdir(HISTORY_DIR) if f.endswith(".tle"))
    if quick:
        return {"quick": True, "history": hist[:4], "rounds": 3, "idle_s": 1.0, "probes": 20_000,
                "snap_probes": 20_000, "snap_passes": 3, "hot": False, "tight": False}
    return {"quick": False, "history": hist, "rounds": 5, "idle_s": 2.5, "probes": 50_000,
            "snap_probes": 100_000, "snap_passes": 5, "hot": True, "tight": True}


# ---- the engines' sides, run in the child processes ------------------------------------------------------------
def open_reader(engine, path, pool_pages):
    """(lookup(norad) -> ElementSet or None, close()) of a reader of ``path`` in this process."""
    if engine == "oor":
        reg = oor.open(path, read_only=True, pool_pages=pool_pages)
        return reg.latest, reg.close
    if engine == "sqlite":
        con = sqlite_connect(path)
        return registry_readers(con)[0], con.close
    env = lmdb.open(path, readonly=True, lock=True, map_size=LMDB_MAP, max_readers=126)
    begin = env.begin

    def lm_latest(n):
        if not 0 <= n <= 999_999_999:
            raise ValueError(n)
        with begin(buffers=False) as txn:       # one read transaction per call, as reg.latest's snapshot
            cur = txn.cursor()
            ok = cur.prev() if cur.set_range(object_lo(n + 1)) else cur.last()
            if ok:
                k, v = cur.item()
                if k[:4] == object_lo(n):
                    return decode_record(v)
        return None
    return lm_latest, env.close


def batches(files):
    """The (key, record) pairs of every set of ``files`` in commits of BATCH, a file's tail its own commit
    (what reg.load(file) commits)."""
    for f in files:
        chunk = []
        for es in read_elements(f, errors="collect"):
            chunk.append((es.norad_id, es.epoch_us, encode_record(es)))
            if len(chunk) >= BATCH:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def load(engine, path, files, pool_pages):
    """Load ``files`` into ``path``: {t0, t1 (perf_counter around the loads), cpu_s (the process's CPU seconds
    between them), sets, commits, close_s}."""
    sets = commits = 0
    c0 = time.process_time()
    if engine == "oor":
        reg = oor.open(path, pool_pages=pool_pages)
        c0 = time.process_time()
        t0 = time.perf_counter()
        for f in files:
            rep = reg.load(f)
            sets += rep.stored + rep.unchanged
            commits += -(-(rep.stored + rep.unchanged) // BATCH)
        t1 = time.perf_counter()
        c1 = time.process_time()
        reg.close()
    elif engine == "sqlite":
        con = sqlite_connect(path)
        con.execute(SQL_TABLE.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
        c0 = time.process_time()
        t0 = time.perf_counter()
        for chunk in batches(files):
            con.execute("BEGIN")
            con.executemany("INSERT OR REPLACE INTO elsets VALUES (?, ?, 0, ?)", chunk)
            con.execute("COMMIT")
            sets += len(chunk)
            commits += 1
        t1 = time.perf_counter()
        c1 = time.process_time()
        con.close()
    else:
        env = lmdb.open(path, map_size=LMDB_MAP, sync=True, metasync=True, max_readers=126)
        c0 = time.process_time()
        t0 = time.perf_counter()
        for chunk in batches(files):
            with env.begin(write=True) as txn:
                put = txn.put
                for n, us, rec in chunk:
                    put(elset_key(n, us, 0), rec)
            sets += len(chunk)
            commits += 1
        t1 = time.perf_counter()
        c1 = time.process_time()
        env.close()
    return {"t0": t0, "t1": t1, "cpu_s": c1 - c0, "sets": sets, "commits": commits,
            "close_s": time.perf_counter() - t1}


def read_ids(path):
    ids = array("I")
    with open(path, "rb") as f:
        ids.frombytes(f.read())
    return ids.tolist()


def reader_child(a):
    """Look up ids until the control byte is set (after a warm pass over them), then write the arrays of
    ``lookup_loop`` and print a summary line."""
    lookup, close = open_reader(a["engine"], a["db"], a["pool"])
    ids = read_ids(a["ids"])
    for n in ids:                       # warm: every page the loop will touch is in cache
        lookup(n)
    with open(a["ctl"], "r+b") as f:
        ctl = mmap.mmap(f.fileno(), 1)
    prof = None
    if a.get("profile"):
        import cProfile
        prof = cProfile.Profile(time.process_time)   # CPU time: on a shared machine, wall time would
    print("ready", flush=True)                         # charge preemption to whichever call was running
    t_start = time.perf_counter()
    if prof is not None:
        prof.enable()
    done, arrays = lookup_loop(lookup, ids, ctl, a["record"], a["pace"])
    if prof is not None:
        prof.disable()
        prof.dump_stats(a["profile"])
    with open(a["out"], "wb") as f:
        for arr in arrays:
            f.write(len(arr).to_bytes(8, "little"))
            arr.tofile(f)
    close()
    print(json.dumps({"lookups": done, "seconds": time.perf_counter() - t_start}), flush=True)


def lookup_loop(lookup, ids, ctl, record, pace):
    """(lookups done, (ends, latencies, marks)).  record: the end time and latency of every lookup and
    (wall, CPU) marks every 256 lookups (figures 1, 2); else bursts of BURST, paced at ``pace`` lookups/s
    when it is not 0 (figure 3)."""
    pc, cpu = time.perf_counter, time.process_time
    ends, lats, marks = array("d"), array("d"), array("d")
    add_end, add_lat, add_mark = ends.append, lats.append, marks.append
    n_ids = len(ids)
    i = done = 0
    t_start = pc()
    while not ctl[0]:
        if record:
            add_mark(pc())
            add_mark(cpu())
            for _ in range(256):
                t0 = pc()
                lookup(ids[i])
                t1 = pc()
                add_end(t1)
                add_lat(t1 - t0)
                i += 1
                if i == n_ids:
                    i = 0
            done += 256
        else:
            add_mark(pc())
            add_mark(cpu())
            for _ in range(BURST):
                lookup(ids[i])
                i += 1
                if i == n_ids:
                    i = 0
            done += BURST
            if pace:
                ahead = t_start + done / pace - pc()
                if ahead > 0:
                    time.sleep(ahead)
    return done, (ends, lats, marks)


def writer_child(a):
    if a.get("profile"):
        import cProfile
        prof = cProfile.Profile(time.process_time)
        out = prof.runcall(load, a["engine"], a["db"], a["files"], a["pool"])
        prof.dump_stats(a["profile"])
    else:
        out = load(a["engine"], a["db"], a["files"], a["pool"])
    print(json.dumps(out), flush=True)


# ---- figure 4's child: the same loop for either tree (imports only what both trees have) ------------------------
LOOKUP_CHILD = r"""
import json, os, statistics, sys, time
from array import array
a = json.loads(sys.argv[1])
import oor, oor_core.btree
for m in (oor, oor_core.btree):
    assert os.path.abspath(m.__file__).startswith(a["tree"] + os.sep), (m.__file__, a["tree"])
if a["mode"] == "build":
    reg = oor.open(a["db"], pool_pages=a["pool"])
    for f in a["files"]:
        reg.load(f)
    reg.close()
    print(json.dumps({"file": oor.__file__}))
    sys.exit(0)
ids = array("I")
with open(a["ids"], "rb") as fh:
    ids.frombytes(fh.read())
ids = ids.tolist()
reg = oor.open(a["db"], read_only=a["mode"] != "latest", pool_pages=a["pool"])
pc, cpu = time.perf_counter, time.process_time
def per_call():
    f = reg.latest
    t0, c0 = pc(), cpu()
    for n in ids:
        f(n)
    return pc() - t0, cpu() - c0
def one_snapshot():
    t0, c0 = pc(), cpu()
    with reg.snapshot() as s:
        f = s.latest
        for n in ids:
            f(n)
    return pc() - t0, cpu() - c0
fn = one_snapshot if a["mode"] == "snapshot" else per_call
assert reg.latest(ids[0]) is not None
fn()
prof = None
if a.get("profile"):
    import cProfile, io, pstats
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    fn()
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(14)
    prof = s.getvalue()
t = [fn() for _ in range(a["passes"])]
reg.close()
print(json.dumps({"us": statistics.median(w for w, _c in t) / len(ids) * 1e6,
                  "cpu_us": statistics.median(c for _w, c in t) / len(ids) * 1e6,
                  "file": oor.__file__, "profile": prof}))
"""


# ---- the parent ------------------------------------------------------------------------------------------------
def child_cmd(role, args):
    return [sys.executable, os.path.abspath(__file__), "--child", role, json.dumps(args)]


def child_env(tree=ROOT):
    env = dict(os.environ)
    env["PYTHONPATH"] = tree
    return env


def spread(vals):
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def show(s, f="{:.2f}", scale=1.0):
    return f"{f.format(s['median'] * scale)} [{f.format(s['min'] * scale)}-{f.format(s['max'] * scale)}]"


def autogroup():
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            return f.read().strip() == "1"
    except OSError:
        return None


def load_avg():
    return [round(x, 2) for x in os.getloadavg()]


class Run:
    """A run's working directory, its base databases and the results document."""

    def __init__(self, cfg, tmp, out_meta):
        self.cfg = cfg
        self.tmp = tmp
        self.doc = {"meta": out_meta, "figures": {}, "goals": [], "profiles": {}, "load": []}
        self.base = {}
        self.pool = 2048
        self.sessions = cfg.get("sessions", True)

    def mark_load(self, what):
        la = load_avg()
        self.doc["load"].append({"at": what, "loadavg": la})
        note(f"  [{what}: load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}]")

    def db_path(self, engine, d):
        return os.path.join(d, {"oor": "reg.oor", "sqlite": "reg.sqlite", "lmdb": "reg.lmdb"}[engine])

    def build_bases(self):
        """Each engine's starting database: the three catalogs, loaded by the writer child (not timed)."""
        for e in ENGINES:
            d = os.path.join(self.tmp, f"base-{e}")
            os.makedirs(d)
            p = subprocess.run(child_cmd("writer", {"engine": e, "db": self.db_path(e, d), "files": CATALOGS,
                                                    "pool": 8192}),
                               env=child_env(), capture_output=True, text=True, check=False)
            if p.returncode:
                raise RuntimeError(f"building the {e} base failed:\n{p.stderr[-3000:]}")
            self.base[e] = d
            if e == "lmdb":
                lock = os.path.join(self.db_path(e, d), "lock.mdb")
                if os.path.exists(lock):
                    os.remove(lock)
        size = os.path.getsize(self.db_path("oor", self.base["oor"]))
        # the whole file fits in OOR's pools (SQLite: a 256 MiB cache; LMDB: the OS page cache)
        self.pool = max(2048, 2 * size // 4096)
        norads = sorted({es.norad_id for f in CATALOGS for es in read_elements(f)})
        hot = sorted({es.norad_id for f in self.cfg["history"] for es in read_elements(f)})
        rng = random.Random(12)
        self.ids = {"all": self.write_ids("all", [rng.choice(norads) for _ in range(self.cfg["probes"])]),
                    "hot": self.write_ids("hot", [rng.choice(hot) for _ in range(self.cfg["probes"])])}
        # the same answers from every engine (the anchors do the same job)
        got = {}
        for e in ENGINES:
            lookup, close = open_reader(e, self.db_path(e, self.base[e]), self.pool)
            got[e] = [lookup(n) for n in norads[::97]]
            close()
        for e in ENGINES:
            assert got[e] == got["oor"], f"{e} answers differ from OOR's"
        self.doc["meta"].update({"objects": len(norads), "hot_objects": hot, "oor_pool_pages": self.pool,
                                 "base_bytes": {e: dir_bytes(d) for e, d in self.base.items()}})

    def write_ids(self, name, ids):
        path = os.path.join(self.tmp, f"ids-{name}.bin")
        with open(path, "wb") as f:
            array("I", ids).tofile(f)
        return path

    def fresh(self, engine, tag):
        d = os.path.join(self.tmp, f"work-{engine}-{tag}")
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(self.base[engine], d)
        return d

    def start_readers(self, engine, db, k, ids, record, pace, profile=None, wrap=()):
        procs = []
        for j in range(k):
            ctl = os.path.join(os.path.dirname(db), f"ctl{j}")
            with open(ctl, "wb") as f:
                f.write(b"\0")
            args = {"engine": engine, "db": db, "pool": self.pool, "ids": ids, "ctl": ctl, "record": record,
                    "pace": pace, "out": os.path.join(os.path.dirname(db), f"reader{j}.bin"),
                    "profile": profile}
            procs.append((subprocess.Popen(list(wrap) + child_cmd("reader", args), env=child_env(),
                                           stdout=subprocess.PIPE, text=True,
                                           start_new_session=self.sessions), args))
        for p, _ in procs:
            line = next_line(p, lambda t: t == "ready")
            if line is None:
                p.wait()
                raise RuntimeError(f"{engine} reader did not start (exit {p.returncode})")
        return procs

    def stop_readers(self, procs):
        out = []
        for p, a in procs:
            with open(a["ctl"], "r+b") as f:
                f.write(b"\1")
        for p, a in procs:
            summary = json.loads(next_line(p, lambda t: t.startswith("{")))
            p.stdout.read()
            p.wait()
            if p.returncode:
                raise RuntimeError(f"reader exit {p.returncode}")
            out.append((summary, a))
        return out

    def writer(self, engine, db, profile=None):
        p = subprocess.run(child_cmd("writer", {"engine": engine, "db": db, "files": self.cfg["history"],
                                                "pool": self.pool, "profile": profile}),
                           env=child_env(), capture_output=True, text=True, check=False,
                           start_new_session=self.sessions)
        if p.returncode:
            raise RuntimeError(f"{engine} writer failed:\n{p.stderr[-3000:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    # ---- figures 1 and 2 ----------------------------------------------------------------------------------------
    def read_during_write(self, engine, ids, tag, profile=None):
        """One reader process: an idle window, then a writer process loading the history."""
        d = self.fresh(engine, tag)
        db = self.db_path(engine, d)
        procs = self.start_readers(engine, db, 1, ids, True, 0, profile)
        t_ready = time.perf_counter()
        time.sleep(self.cfg["idle_s"])
        t_spawn = time.perf_counter()
        w = self.writer(engine, db)
        time.sleep(0.05)
        (_s, a), = self.stop_readers(procs)
        ends, lats, marks = read_arrays(a["out"])
        shutil.rmtree(d, ignore_errors=True)
        idle = window(ends, lats, marks, t_ready + 0.05, t_spawn)
        busy = window(ends, lats, marks, w["t0"], w["t1"])
        return {"idle": idle, "busy": busy, "writer_s": w["t1"] - w["t0"], "commits": w["commits"],
                "sets": w["sets"], "ratio": busy["rate"] / idle["rate"],
                "cpu_ratio": idle["cpu_us"] / busy["cpu_us"]}     # lookups per CPU-second, writing / idle

    def figure_reader(self, which):
        note(f"figures 1-2 ({which}): one reader process, idle then while a writer process loads "
             f"{len(self.cfg['history'])} history files")
        self.mark_load(f"fig1 {which} start")
        runs = {e: [] for e in ENGINES}
        for r in range(self.cfg["rounds"]):
            order = list(ENGINES)
            random.Random(100 + r).shuffle(order)
            for e in order:
                x = self.read_during_write(e, self.ids[which], f"r{r}")
                runs[e].append(x)
                note(f"    round {r} {e:6} idle {x['idle']['rate'] / 1e3:6.1f}k/s  writing "
                     f"{x['busy']['rate'] / 1e3:6.1f}k/s  ratio {x['ratio']:.2f}  cpu/lookup "
                     f"{x['idle']['cpu_us']:.1f} -> {x['busy']['cpu_us']:.1f} us  cpu share "
                     f"{x['idle']['cpu_share']:.2f} -> {x['busy']['cpu_share']:.2f}  p99 "
                     f"{x['idle']['p99_us']:.0f} -> {x['busy']['p99_us']:.0f} us  writer {x['writer_s']:.2f} s")
        self.mark_load(f"fig1 {which} end")
        fig = {}
        for e, xs in runs.items():
            fig[e] = {"ratio": spread([x["ratio"] for x in xs]),
                      "cpu_ratio": spread([x["cpu_ratio"] for x in xs]),
                      "writer_s": spread([x["writer_s"] for x in xs]), "commits": xs[0]["commits"],
                      "sets": xs[0]["sets"], "rounds": xs}
            for ph in ("idle", "busy"):
                for k in ("rate", "cpu_us", "cpu_share", "p50_us", "p99_us", "p999_us", "max_us", "n"):
                    fig[e][f"{ph}_{k}"] = spread([x[ph][k] for x in xs])
        self.doc["figures"][f"reader_{which}"] = fig
        return fig

    # ---- figure 3 -----------------------------------------------------------------------------------------------
    def figure_writer(self):
        conds = ["none", "paced4"] + (["tight4"] if self.cfg["tight"] else [])
        note(f"figure 3: writer process load rate with 4 reader processes ({', '.join(conds[1:])}) vs none")
        self.mark_load("fig3 start")
        runs = {e: {c: [] for c in conds} for e in ENGINES}
        for r in range(self.cfg["rounds"]):
            order = [(e, c) for e in ENGINES for c in conds]
            random.Random(200 + r).shuffle(order)
            for e, c in order:
                d = self.fresh(e, f"w{r}{c}")
                db = self.db_path(e, d)
                procs = []
                if c != "none":
                    procs = self.start_readers(e, db, 4, self.ids["all"], False, PACE if c == "paced4" else 0)
                    time.sleep(0.2)
                w = self.writer(e, db)
                looked = rcpu = 0
                for _s, ra in self.stop_readers(procs):
                    n, c_s = marks_between(read_arrays(ra["out"])[2], w["t0"], w["t1"])
                    looked += n * BURST
                    rcpu += c_s
                shutil.rmtree(d, ignore_errors=True)
                secs = w["t1"] - w["t0"]
                rate = w["sets"] / secs
                runs[e][c].append({"rate": rate, "seconds": secs, "writer_cpu_s": w["cpu_s"],
                                   "reader_lookups": looked, "readers_cpu_s": rcpu})
                note(f"    round {r} {e:6} {c:7} {rate / 1e3:6.1f}k sets/s ({secs:.2f} s, writer CPU "
                     f"{w['cpu_s']:.2f} s)" + (f", readers meanwhile: {looked:,} lookups, {rcpu:.2f} CPU s"
                                               if procs else ""))
        self.mark_load("fig3 end")
        fig = {}
        for e in ENGINES:
            fig[e] = {"rate_" + c: spread([x["rate"] for x in runs[e][c]]) for c in conds}
            fig[e].update({"writer_cpu_s_" + c: spread([x["writer_cpu_s"] for x in runs[e][c]]) for c in conds})
            fig[e].update({"readers_cpu_s_" + c: spread([x["readers_cpu_s"] for x in runs[e][c]])
                           for c in conds[1:]})
            for c in conds[1:]:
                fig[e]["ratio_" + c] = spread([a["rate"] / b["rate"] for a, b in zip(runs[e][c], runs[e]["none"])])
            fig[e]["rounds"] = runs[e]
        self.doc["figures"]["writer"] = fig
        return fig

    # ---- figure 4 -----------------------------------------------------------------------------------------------
    def figure_snapshot(self, main_tree, profile):
        note(f"figure 4: single-reader latest() here vs the engine before snapshots ({main_tree})")
        self.mark_load("fig4 start")
        files = CATALOGS + sorted(os.path.join(HISTORY_DIR, f) for f in os.listdir(HISTORY_DIR)
                                  if f.endswith(".tle"))
        trees = {"branch": ROOT, "main": os.path.abspath(main_tree)}
        dbs = {}
        for name, tree in trees.items():
            dbs[name] = os.path.join(self.tmp, f"snap-{name}", "reg.oor")
            os.makedirs(os.path.dirname(dbs[name]))
            self.lookup_child(tree, {"mode": "build", "db": dbs[name], "files": files, "pool": 16384})
        norads = sorted({es.norad_id for f in files for es in read_elements(f)})
        rng = random.Random(4)
        ids = self.write_ids("snap", [rng.choice(norads) for _ in range(self.cfg["snap_probes"])])
        cases = [("main", "latest"), ("main", "latest_ro"), ("branch", "latest"), ("branch", "latest_ro"),
                 ("branch", "snapshot")]
        runs = {c: [] for c in cases}
        for r in range(self.cfg["rounds"]):
            order = list(cases)
            random.Random(300 + r).shuffle(order)
            for tree, mode in order:
                out = self.lookup_child(trees[tree], {"mode": mode, "db": dbs[tree], "ids": ids, "pool": 16384,
                                                      "passes": self.cfg["snap_passes"]})
                runs[(tree, mode)].append(out)
            note("    round %d  " % r + "  ".join(f"{t}/{m} {runs[(t, m)][-1]['us']:.2f} us "
                                                 f"(cpu {runs[(t, m)][-1]['cpu_us']:.2f})" for t, m in cases))
        if profile:
            for tree, mode in cases:
                out = self.lookup_child(trees[tree], {"mode": mode, "db": dbs[tree], "ids": ids, "pool": 16384,
                                                      "passes": 1, "profile": True})
                self.doc["profiles"][f"fig4 {tree}/{mode}"] = out["profile"]
        self.mark_load("fig4 end")
        fig = {"wall_us": {}, "cpu_us": {}, "ratio_wall": {}, "ratio_cpu": {}, "probes": self.cfg["snap_probes"]}
        for (t, m), v in runs.items():
            fig["wall_us"][f"{t}/{m}"] = spread([x["us"] for x in v])
            fig["cpu_us"][f"{t}/{m}"] = spread([x["cpu_us"] for x in v])
        for num, den in ((("branch", "latest"), ("main", "latest")),
                         (("branch", "latest_ro"), ("main", "latest_ro")),
                         (("branch", "snapshot"), ("main", "latest")),
                         (("branch", "snapshot"), ("main", "latest_ro"))):
            key = f"{num[0]}/{num[1]} : {den[0]}/{den[1]}"
            fig["ratio_wall"][key] = spread([a["us"] / b["us"] for a, b in zip(runs[num], runs[den])])
            fig["ratio_cpu"][key] = spread([a["cpu_us"] / b["cpu_us"] for a, b in zip(runs[num], runs[den])])
        self.doc["figures"]["snapshot"] = fig
        return fig

    def lookup_child(self, tree, args):
        args = dict(args, tree=tree)
        p = subprocess.run([sys.executable, "-c", LOOKUP_CHILD, json.dumps(args)], env=child_env(tree),
                           cwd=self.tmp, capture_output=True, text=True, check=False)
        if p.returncode:
            raise RuntimeError(f"lookup child ({tree}, {args['mode']}) failed:\n{p.stderr[-3000:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    # ---- profiles -----------------------------------------------------------------------------------------------
    def profile_reader(self, ids_name):
        """OOR's reader process while a writer process loads, and idle for as long: a cProfile (CPU-time timer)
        of the lookup loop, and (when installed) a py-spy sampling profile of it in a separate run; the
        difference between the two windows is what the writer costs the reader."""
        import pstats
        import io
        spy = shutil.which("py-spy")
        kinds = [("cprofile", label, w) for label, w in (("idle", False), ("writing", True))]
        if spy:
            kinds += [("py-spy", label, w) for label, w in (("idle", False), ("writing", True))]
        for kind, label, with_writer in kinds:
            d = self.fresh("oor", f"prof-{label}")
            db = self.db_path("oor", d)
            pf = os.path.join(self.tmp, f"reader-{label}.prof")
            if kind == "py-spy":
                # attaching to a running process needs ptrace rights; starting it under py-spy does not
                wrap = [spy, "record", "-r", "250", "--nonblocking", "--format", "raw", "-o", pf, "--"]
                procs = self.start_readers("oor", db, 1, self.ids[ids_name], True, 0, wrap=wrap)
            else:
                procs = self.start_readers("oor", db, 1, self.ids[ids_name], True, 0, profile=pf)
            if with_writer:
                w = self.writer("oor", db)
                secs = w["t1"] - w["t0"]
            else:
                time.sleep(self.last_writer_s)
                secs = self.last_writer_s
            (s, _a), = self.stop_readers(procs)
            buf = io.StringIO()
            buf.write(f"reader process, {label}: {s['lookups']:,} lookups in {s['seconds']:.2f} s "
                      f"(window {secs:.2f} s)\n")
            if kind == "py-spy":
                buf.write(spy_summary(pf, s["lookups"]))
            else:
                st = pstats.Stats(pf, stream=buf)
                st.sort_stats("tottime").print_stats(22)
                st.sort_stats("cumulative").print_stats(18)
            self.doc["profiles"][f"reader {ids_name} {label} ({kind})"] = buf.getvalue()
            shutil.rmtree(d, ignore_errors=True)


def next_line(p, want):
    """The next line of p's stdout that ``want`` accepts (a profiler's own lines are skipped), or None at EOF."""
    for line in p.stdout:
        if want(line.strip()):
            return line.strip()
    return None


# what the reader's time is split into, by the function a py-spy sample is in (inclusive); see profile_reader
SPY_KEYS = [("latest", "registry.py"), ("_require_open", "storage.py"), ("snapshot", "storage.py"),
            ("acquire", "snapshots.py"), ("_reader_visible", "storage.py"), ("_durable_point", "storage.py"),
            ("durable_hint", "lockfile.py"), ("writer_alive", "lockfile.py"), ("_follow_locked", "storage.py"),
            ("publish", "lockfile.py"), ("oldest", "snapshots.py"), ("move_to", "snapshots.py"),
            ("tree", "storage.py"), ("page_at", "snapshots.py"), ("roll", "snapshots.py"),
            ("_change_of", "snapshots.py"), ("read", "wal.py"), ("_latest_in", "registry.py"),
            ("release", "storage.py")]


def spy_summary(path, lookups):
    """Share of a py-spy raw profile's samples spent in (inclusive) each of SPY_KEYS, and the top own-time frames."""
    total = 0
    inc = {k: 0 for k in SPY_KEYS}
    own = {}
    with open(path) as f:
        for line in f:
            stack, _, cnt = line.rstrip("\n").rpartition(" ")
            if not stack or not cnt.isdigit():
                continue
            n = int(cnt)
            frames = stack.split(";")
            if not any(fr.startswith("lookup_loop ") for fr in frames):
                continue                  # the keeper thread, start-up, the warm pass
            total += n
            seen = set()
            for fr in frames:
                name, _, where = fr.partition(" (")       # "Class.func (/path/file.py:line)"
                name, where = name.rpartition(".")[2], where.rpartition("/")[2]
                for k in SPY_KEYS:
                    if k not in seen and name == k[0] and where.startswith(k[1] + ":"):
                        inc[k] += n
                        seen.add(k)
            leaf = frames[-1].split(" (")[0] + " " + frames[-1].rpartition("/")[2].rstrip(")")
            own[leaf] = own.get(leaf, 0) + n
    if not total:
        return "py-spy: no samples\n"
    out = [f"py-spy: {total} samples of the lookup loop ({lookups:,} lookups); inclusive share of the samples:"]
    for k, n in inc.items():
        if n:
            out.append(f"  {n / total * 100:5.1f}%  {k[0]} ({k[1]})")
    out.append("  own time, top frames:")
    for leaf, n in sorted(own.items(), key=lambda kv: -kv[1])[:12]:
        out.append(f"  {n / total * 100:5.1f}%  {leaf}")
    return "\n".join(out) + "\n"


def profile_writer(run):
    """cProfile (CPU-time timer) of OOR's writer process loading the history alone and beside 4 paced readers."""
    import io
    import pstats
    for label, k in (("alone", 0), ("4 paced readers", 4)):
        d = run.fresh("oor", f"wprof{k}")
        db = run.db_path("oor", d)
        procs = run.start_readers("oor", db, k, run.ids["all"], False, PACE) if k else []
        pf = os.path.join(run.tmp, f"writer{k}.prof")
        w = run.writer("oor", db, profile=pf)
        run.stop_readers(procs)
        buf = io.StringIO()
        buf.write(f"writer process, {label}: {w['sets']:,} sets in {w['t1'] - w['t0']:.2f} s, "
                  f"CPU {w['cpu_s']:.2f} s (profiled)\n")
        st = pstats.Stats(pf, stream=buf)
        st.sort_stats("tottime").print_stats(16)
        run.doc["profiles"][f"writer {label}"] = buf.getvalue()
        shutil.rmtree(d, ignore_errors=True)


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _ds, fs in os.walk(d) for f in fs)


def read_arrays(path):
    out = []
    with open(path, "rb") as f:
        for _ in range(3):
            n = int.from_bytes(f.read(8), "little")
            a = array("d")
            a.fromfile(f, n)
            out.append(a)
    return out


def marks_between(marks, lo, hi):
    """(bursts, CPU seconds) of a reader between the first and last of its (wall, CPU) marks within [lo, hi]."""
    walls, cpus = marks[0::2], marks[1::2]
    a, b = bisect.bisect_left(walls, lo), bisect.bisect_right(walls, hi) - 1
    return (b - a, cpus[b] - cpus[a]) if b > a else (0, 0.0)


def window(ends, lats, marks, lo, hi):
    """The lookups that ended within [lo, hi]: rate, CPU us per lookup (between the (wall, CPU) marks inside
    the window, 256 lookups apart), latency quantiles in us."""
    i, j = bisect.bisect_left(ends, lo), bisect.bisect_right(ends, hi)
    lat = sorted(lats[i:j])
    n = len(lat)
    if n < 100:
        raise RuntimeError(f"only {n} lookups in a window of {hi - lo:.3f} s")
    walls = marks[0::2]
    cpus = marks[1::2]
    a, b = bisect.bisect_left(walls, lo), bisect.bisect_right(walls, hi) - 1
    cpu_us = (cpus[b] - cpus[a]) / (256 * (b - a)) * 1e6 if b > a else float("nan")
    share = (cpus[b] - cpus[a]) / (walls[b] - walls[a]) if b > a else float("nan")   # of one core

    def q(p):
        return lat[min(n - 1, int(p * n))] * 1e6
    return {"rate": n / (hi - lo), "n": n, "cpu_us": cpu_us, "cpu_share": share, "p50_us": q(0.50), "p99_us": q(0.99),
            "p999_us": q(0.999), "max_us": lat[-1] * 1e6, "seconds": hi - lo}


# ---- the report ------------------------------------------------------------------------------------------------
def goal(doc, name, value, op, threshold, label):
    ok = value >= threshold if op == ">=" else value <= threshold
    doc["goals"].append({"figure": name, "value": value, "op": op, "threshold": threshold, "met": ok,
                         "label": label})


def report(doc):
    print()
    figs = doc["figures"]
    for which in ("all", "hot"):
        fig = figs.get(f"reader_{which}")
        if not fig:
            continue
        print(f"1-2  reader process, latest(id) over "
              f"{'the loaded objects' if which == 'all' else 'the 15 objects being written'}, idle vs during "
              f"writes (median [min-max] of {fig['oor']['ratio']['n']} rounds)")
        print(f"  {'engine':7} {'lookups/s idle':>20} {'writing':>20} {'ratio':>18}   {'CPU us/lookup idle':>20}"
              f" {'writing':>20} {'ratio per CPU-s':>18}   {'CPU share':>11}")
        for e, f in fig.items():
            idle_k, busy_k = show(f['idle_rate'], '{:.1f}', 1e-3) + "k", show(f['busy_rate'], '{:.1f}', 1e-3) + "k"
            print(f"  {e:7} {idle_k:>20} {busy_k:>20} {show(f['ratio']):>18}   {show(f['idle_cpu_us']):>20}"
                  f" {show(f['busy_cpu_us']):>20} {show(f['cpu_ratio']):>18}   "
                  f"{f['idle_cpu_share']['median']:.2f}->{f['busy_cpu_share']['median']:.2f}")
        print(f"  {'latency us':10} {'p50 idle':>18} {'p50 writing':>18} {'p99 idle':>18} {'p99 writing':>18}"
              f" {'p99.9 writing':>20} {'max writing':>22}   writer")
        for e, f in fig.items():
            print(f"  {e:10} {show(f['idle_p50_us'], '{:.1f}'):>18} {show(f['busy_p50_us'], '{:.1f}'):>18}"
                  f" {show(f['idle_p99_us'], '{:.0f}'):>18} {show(f['busy_p99_us'], '{:.0f}'):>18}"
                  f" {show(f['busy_p999_us'], '{:.0f}'):>20} {show(f['busy_max_us'], '{:.0f}'):>22}"
                  f"   {show(f['writer_s'])} s, {f['commits']} commits, {f['sets']:,} sets")
        o, s = fig["oor"]["ratio"]["median"], fig["sqlite"]["ratio"]["median"]
        goal(doc, f"reader_{which}", o, ">=", GOALS["reader"], f"OOR busy/idle {o:.2f}x >= {GOALS['reader']}x")
        goal(doc, f"reader_{which} vs sqlite", o - s, ">=", 0.0, f"OOR {o:.2f}x >= SQLite WAL {s:.2f}x")
    fig = figs.get("writer")
    if fig:
        print("\n3  writer process load rate, sets/s (median [min-max])")
        conds = [k[5:] for k in fig["oor"] if k.startswith("rate_")]
        print(f"  {'engine':7}" + "".join(f" {c:>24}" for c in conds) +
              "".join(f" {'ratio ' + c:>20}" for c in conds[1:]))
        for e, f in fig.items():
            print(f"  {e:7}" + "".join(f" {show(f['rate_' + c], '{:.1f}', 1e-3) + 'k':>24}" for c in conds) +
                  "".join(f" {show(f['ratio_' + c]):>20}" for c in conds[1:]))
        print(f"  {'CPU s':7}" + "".join(f" {'writer ' + c:>24}" for c in conds) +
              "".join(f" {'readers ' + c:>20}" for c in conds[1:]))
        for e, f in fig.items():
            print(f"  {e:7}" + "".join(f" {show(f['writer_cpu_s_' + c]):>24}" for c in conds) +
                  "".join(f" {show(f['readers_cpu_s_' + c]):>20}" for c in conds[1:]))
        o = fig["oor"]["ratio_paced4"]["median"]
        goal(doc, "writer paced4", o, ">=", GOALS["writer"], f"OOR with/without {o:.2f}x >= {GOALS['writer']}x")
        if "ratio_tight4" in fig["oor"]:
            o, s = fig["oor"]["ratio_tight4"]["median"], fig["sqlite"]["ratio_tight4"]["median"]
            goal(doc, "writer tight4 vs sqlite", o - s, ">=", 0.0, f"OOR {o:.2f}x >= SQLite WAL {s:.2f}x (info)")
    fig = figs.get("snapshot")
    if fig:
        print(f"\n4  single reader, us per latest(id) over {fig['probes']:,} probes, wall and CPU (median [min-max])")
        for k in fig["wall_us"]:
            print(f"  {k:20} wall {show(fig['wall_us'][k], '{:.2f}'):>22} us   "
                  f"cpu {show(fig['cpu_us'][k], '{:.2f}'):>22} us")
        for k in fig["ratio_wall"]:
            print(f"  {k:34} wall {show(fig['ratio_wall'][k]):>18}x   cpu {show(fig['ratio_cpu'][k]):>18}x")
        for k, lab in (("branch/latest : main/latest", "latest()"),
                       ("branch/latest_ro : main/latest_ro", "latest() read_only"),
                       ("branch/snapshot : main/latest", "snapshot s.latest()")):
            for unit in ("wall", "cpu"):
                v = fig[f"ratio_{unit}"][k]["median"]
                goal(doc, f"snapshot {lab} ({unit})", v, "<=", GOALS["snapshot"],
                     f"{v:.2f}x <= {GOALS['snapshot']}x")
    print("\ngoals (issue 12):")
    for g in doc["goals"]:
        print(f"  {g['figure']:36} {g['label']:44} {'met' if g['met'] else 'NOT met'}")
    print("load average (1/5/15 min) at each figure's start and end: " +
          "; ".join(f"{x['at']} {x['loadavg'][0]:.1f}/{x['loadavg'][1]:.1f}/{x['loadavg'][2]:.1f}"
                    for x in doc["load"]))
    for k, v in doc["profiles"].items():
        print(f"\nprofile: {k}\n{v}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 history files, 3 rounds, short windows")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--figures", default="1,3,4", help="which figures (2 comes with 1)")
    ap.add_argument("--main-tree", default=os.path.join(os.path.dirname(ROOT), "wt-bench-main"),
                    help=f"a checkout of the engine before snapshots (commit {MAIN_COMMIT}), built in place")
    ap.add_argument("--profile", action="store_true", help="cProfile OOR's reader and the figure 4 loops")
    ap.add_argument("--shared-session", action="store_true",
                    help="run the writer and the readers in the benchmark's session (one autogroup)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "concurrency.json"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("child_args", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return {"reader": reader_child, "writer": writer_child}[args.child](json.loads(args.child_args))
    cfg = config(args.quick)
    if args.rounds:
        cfg["rounds"] = args.rounds
    cfg["sessions"] = not args.shared_session
    figures = {int(x) for x in args.figures.split(",") if x}
    t_start = time.perf_counter()
    meta = {"mode": "quick" if cfg["quick"] else "full", "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
            "lmdb": ".".join(map(str, lmdb.version())) if lmdb else None,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus", "loadavg_start": load_avg(),
            "sessions": "separate" if cfg["sessions"] else "shared", "autogroup": autogroup(),
            "config": {k: (len(v) if k == "history" else v) for k, v in cfg.items()}}
    tmp = tempfile.mkdtemp(prefix="oor-bench-conc-")
    run = Run(cfg, tmp, meta)
    try:
        note(f"building the base databases (3 catalogs) in {tmp}")
        run.build_bases()
        run.last_writer_s = 2.0
        if 1 in figures:
            fig = run.figure_reader("all")
            run.last_writer_s = fig["oor"]["writer_s"]["median"]
            if cfg["hot"]:
                run.figure_reader("hot")
        if 3 in figures:
            run.figure_writer()
        if 4 in figures:
            if not os.path.exists(os.path.join(args.main_tree, "oor", "__init__.py")):
                run.doc["notes"] = [f"figure 4 skipped: no checkout at {args.main_tree}"]
                note(f"figure 4 skipped: no checkout at {args.main_tree} "
                     f"(git worktree add {args.main_tree} {MAIN_COMMIT}, then build it in place)")
            else:
                run.figure_snapshot(args.main_tree, args.profile)
        if args.profile:
            profile_writer(run)
            run.profile_reader("all")
            if cfg["hot"]:
                run.profile_reader("hot")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = run.doc
    report(doc)
    doc["meta"]["seconds"] = time.perf_counter() - t_start
    doc["meta"]["loadavg_end"] = load_avg()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    print(f"\nwrote {args.out} in {doc['meta']['seconds']:.0f} s")
    return doc


if __name__ == "__main__":
    main()
