"""The range measures on the bulk-loaded history, in sets/s: ``scan`` (all of it, key order) and ``history``.

history: every set of a few random objects, one range each.  Each engine's function is run once (scan: checking
it returns every set), then timed, median of ``rounds``.

Caller: ``suite.cli``, with the engines ``measures.bulk.bulk`` returned.
"""
from ..harness import median_time


def scan(res, engines, hist, cfg):
    vals = {}
    for name, e in engines.items():
        fn = e.scan_fn()
        assert fn() == len(hist), name
        vals[name] = len(hist) / median_time(fn, cfg["rounds"])
    res.add("scan", "sets/s", "higher", vals, f"full range scan of the {len(hist):,}-set history, key order")


def history(res, engines, w, cfg):
    vals = {}
    for name, e in engines.items():
        fn = e.history_fn(w.hist_ids)
        cnt = fn()
        vals[name] = cnt / median_time(fn, cfg["rounds"])
    res.add("history", "sets/s", "higher", vals,
            f"every set of {len(w.hist_ids):,} random objects ({cfg['copies']} each), one range each")
