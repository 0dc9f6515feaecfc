"""The point-lookup measures on the bulk-loaded history: ``latest`` and ``at`` (one seek each), in us per lookup.

latest: the newest set of a random object; at: the set valid at a random time of a random object.  Each engine's
lookup function is run once to warm, then timed over all the probes, median of ``rounds``.  ``latest_breakdown``
(``--profile``) says where OOR's seek time goes, since cProfile sees the Cython tree as one call.

Caller: ``suite.cli``, with the engines ``measures.bulk.bulk`` returned.
"""
from oor.keys import object_hi

from ..harness import median_time


def per_op(engines, fn_name, arg, count, rounds):
    """{engine: us per operation} of each engine's ``fn_name(arg)`` function, which does ``count`` operations."""
    out = {}
    for name, e in engines.items():
        fn = getattr(e, fn_name)(arg)
        fn()    # warm
        out[name] = median_time(fn, rounds) / count * 1e6
    return out


def latest(res, engines, w, cfg):
    res.add("latest", "us", "lower", per_op(engines, "latest_fn", w.probe_ids, cfg["probes"], cfg["rounds"]),
            "newest set of a random object: one seek (<= id|FF..), key+record bytes")


def at(res, engines, w, cfg):
    res.add("at", "us", "lower", per_op(engines, "at_fn", w.at_probes, cfg["probes"], cfg["rounds"]),
            "set valid at a random time of a random object: one seek")


def latest_breakdown(res, e, probe_ids):
    """Where a latest() seek's time goes (the tree is Cython: cProfile sees one call): pages pinned per
    seek, the fixed cost of a seek on a one-page tree, and the cost of a seek on the big tree."""
    pool, t = e.db.pool, e.t
    c = t.cursor()
    his = [object_hi(n) for n in probe_ids]
    st0 = pool.stats()
    for h in his:
        c.seek(h, "<=")
    st1 = pool.stats()
    pins = ((st1["hits"] + st1["misses"]) - (st0["hits"] + st0["misses"])) / len(his)
    big = median_time(lambda: [c.seek(h, "<=") for h in his], 3) / len(his) * 1e6
    one = e.db.tree("one", create=True)
    with e.db.transaction():
        one.insert(his[0][:4] + bytes(10), b"x" * 170)
    c1 = one.cursor()
    small = median_time(lambda: [c1.seek(h, "<=") for h in his], 3) / len(his) * 1e6
    same = median_time(lambda: [c.seek(his[0], "<=") for _h in his], 3) / len(his) * 1e6

    def noop(k, op):
        return None
    call = median_time(lambda: [noop(h, "<=") for h in his], 3) / len(his) * 1e6
    res.profiles["latest"] = (
        f"tree height {t.height}, pages pinned per seek {pins:.2f}\n"
        f"seek on the {len(t):,}-key tree, random ids      {big:.3f} us\n"
        f"seek repeated on one key (cache-hot path)         {same:.3f} us\n"
        f"seek on a one-page tree (fixed cost: call, op parse, pin, item tuple) {small:.3f} us\n"
        f"a Python call of a no-op with the same arguments  {call:.3f} us\n")
