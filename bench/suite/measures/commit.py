"""The durable-commit measures: ``commit`` (one-record commit latency) and ``group`` (8 writer threads).

commit: a fresh database per engine, 50 warm-up commits, then the median latency of ``commits`` one-record
durable commits (fsync per commit).  group: 8 threads of ``group_per_thread`` such commits on one database
(SQLite: a connection per thread), commits/s; for OOR also the WAL fsyncs, so commits per fsync.
``--profile`` adds a cProfile of OOR's commits with its fsyncs per commit.

Caller: ``suite.cli``.
"""
import cProfile
import shutil
import statistics
import tempfile
import time

from ..data import synth_kv
from ..engines import OOREngine, SQLiteEngine, all_engines
from ..engines.sqlite import sqlite_connect
from ..formats import split_key
from ..harness import note, profile_text, timed_threads


def commit(res, tmp, w, cfg, profile):
    kv = synth_kv(cfg["commits"] + 50, seed=3, cat_items=w.cat_items)
    vals = {}
    for E in all_engines():
        d = tempfile.mkdtemp(dir=tmp)
        e = E(d, 2048)
        for k, v in kv[:50]:
            e.commit_one(k, v)
        lat = []
        for k, v in kv[50:]:
            t0 = time.perf_counter()
            e.commit_one(k, v)
            lat.append(time.perf_counter() - t0)
        e.close()
        shutil.rmtree(d, ignore_errors=True)
        vals[E.name] = statistics.median(lat) * 1e6
    res.add("commit", "us", "lower", vals, f"durable one-record commit, median of {cfg['commits']}")
    if profile:
        d = tempfile.mkdtemp(dir=tmp)
        e = OOREngine(d, 2048)
        for k, v in kv[:50]:
            e.commit_one(k, v)
        f0 = e.db.wal.fsyncs
        pr = cProfile.Profile()
        pr.enable()
        for k, v in kv[50:]:
            e.commit_one(k[:4] + b"\x7f" + k[5:], v)
        pr.disable()
        res.profiles["commit"] = (f"WAL fsyncs per commit: {(e.db.wal.fsyncs - f0) / (len(kv) - 50):.2f}\n"
                                  + profile_text(pr))
        e.close()
        shutil.rmtree(d, ignore_errors=True)


def group(res, tmp, w, cfg):
    threads, per = 8, cfg["group_per_thread"]
    kvs = [synth_kv(per, 100 + i, w.cat_items) for i in range(threads)]
    vals, extra = {}, {}
    for E in all_engines():
        d = tempfile.mkdtemp(dir=tmp)
        e = E(d, 2048)
        if E is SQLiteEngine:
            cons = [sqlite_connect(e.path) for _ in range(threads)]

            def commit(i, k, v):
                n, ep, s = split_key(k)
                cons[i].execute("INSERT INTO elsets VALUES (?, ?, ?, ?)", (n, ep, s, v))
        else:
            def commit(i, k, v):
                e.commit_one(k, v)

        def worker(i):
            for k, v in kvs[i]:
                commit(i, k, v)
        f0 = e.db.wal.fsyncs if E is OOREngine else 0
        el = timed_threads([lambda i=i: worker(i) for i in range(threads)])
        if E is OOREngine:
            fs = e.db.wal.fsyncs - f0
            extra["oor_fsyncs"] = fs
            extra["oor_commits_per_fsync"] = threads * per / fs
        if E is SQLiteEngine:
            for c in cons:
                c.close()
        e.close()
        shutil.rmtree(d, ignore_errors=True)
        vals[E.name] = threads * per / el
    res.add("group", "commits/s", "higher", vals,
            f"{threads} threads x {per} durable one-record commits (SQLite: a connection per thread)", extra)
    note(f"  {'':12} OOR commits per fsync: {extra['oor_commits_per_fsync']:.2f} "
         "(SQLite WAL FULL and LMDB sync: one fsync per commit by design)")
