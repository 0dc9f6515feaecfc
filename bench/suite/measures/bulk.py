"""The load measures: ``unsorted`` (the real catalog in shuffled order) and ``bulk`` (the sorted history).

unsorted: fresh databases, one transaction of inserts in shuffled order, durable; median of ``rounds_load``.
bulk: one round per engine (it is the biggest write); the loaded databases are returned open, and the lookup
and scan measures then read them.  ``profile_loads`` cProfiles OOR's side of both (after the timed runs).

Caller: ``suite.cli``.
"""
import cProfile
import gc
import shutil
import statistics
import tempfile
import time

from ..engines import OOREngine, SQLiteEngine, all_engines
from ..harness import profile_text


def unsorted(res, tmp, w, cfg):
    vals = {}
    for E in all_engines():
        times = []
        for r in range(cfg["rounds_load"]):
            d = tempfile.mkdtemp(dir=tmp)
            e = E(d, 4096)
            gc.collect()
            t0 = time.perf_counter()
            if E is SQLiteEngine:
                e.insert_rows(w.sh_rows)
            else:
                e.insert_all(w.shuffled)
            times.append(time.perf_counter() - t0)
            e.close()
            shutil.rmtree(d, ignore_errors=True)
        vals[E.name] = statistics.median(times)
    res.add("unsorted", "s", "lower", vals,
            f"insert the {len(w.shuffled):,} sets of catalog-2022-07 in shuffled order, one transaction, durable")


def bulk(res, tmp, hist, w, cfg):
    """Bulk-load ``hist`` into every engine; {name: engine}, each open on its loaded database."""
    engines = {}
    vals = {}
    for E in all_engines():
        d = tempfile.mkdtemp(dir=tmp)
        e = E(d, w.pool_pages)
        gc.collect()
        t0 = time.perf_counter()
        if E is SQLiteEngine:
            e.bulk_rows(w.hist_rows)
        else:
            e.bulk(hist)
        vals[E.name] = time.perf_counter() - t0
        engines[E.name] = e
    res.add("bulk", "s", "lower", vals, f"sorted bulk load of {len(hist):,} sets (x{cfg['copies']} history), "
            "durable at the end")
    return engines


def profile_loads(res, tmp, hist, w):
    for label, fn_name, data in (("bulk", "bulk", hist), ("unsorted", "insert_all", w.shuffled)):
        d = tempfile.mkdtemp(dir=tmp)
        e = OOREngine(d, w.pool_pages if label == "bulk" else 4096)
        pr = cProfile.Profile()
        pr.enable()
        getattr(e, fn_name)(data)
        pr.disable()
        e.close()
        shutil.rmtree(d, ignore_errors=True)
        res.profiles[label] = profile_text(pr)
