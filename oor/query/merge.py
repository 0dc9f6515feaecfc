"""Merging sources: one winner per object, with a conflict report.

Who may import: ``oor.registry`` (``Registry.merge``), ``oor.query.cli``
(``oor merge``), tests and benchmarks.

Policies: ``"newest"`` -- the newest epoch wins; at equal epochs the source
listed first (or, unlisted, the lower source id) wins.  A list of source
names -- the first listed source that has the object wins, with its newest
set; unlisted sources are left out.  A *conflict* is an object offered by two
or more sources (resolution had to choose); a *tie* (newest) is an object
whose winning epoch two or more sources offered.

Stored sources need no k-way merge: the primary key is (object, epoch,
source), so one vectorized scan of every set already arrives grouped by
object, and ``vecops.resolve_groups`` (Cython) picks the winners.  Files, or
any sorted inputs, go through ``merge_columns``: ``vecops.kway_merge`` (a
binary heap of k cursors over int64 key columns) then the same resolution.
"""
from array import array

from oor_core import vecops
from oor.keys import KEY_SIZE

__all__ = ["MergeResult", "merge_stored", "merge_columns", "merge_sets", "sort_columns"]


class MergeResult:
    """Winners (ElementSets, ascending id) and the report.  ``report`` keys: objects, conflicts, ties,
    wins {source: objects won}, sources (inputs in rank order), policy, samples [(norad, winner, offered by)]."""

    __slots__ = ("winners", "report")

    def __init__(self, winners, report):
        self.winners = winners
        self.report = report

    def summary(self):
        r = self.report
        wins = ", ".join(f"{s}: {n:,}" for s, n in r["wins"].items())
        return (f"{r['objects']:,} objects, {r['conflicts']:,} conflicts ({r['ties']:,} ties) resolved by "
                f"{r['policy']}; wins: {wins}")

    def __repr__(self):
        return f"<MergeResult {self.summary()}>"


def _policy(policy, names):
    """(newest flag, rank per input index) for a policy over inputs called names."""
    if policy == "newest":
        return True, list(range(len(names)))
    if isinstance(policy, str):
        policy = [p.strip() for p in policy.split(",") if p.strip()]
    order = list(policy)
    unknown = [p for p in order if p not in names]
    if unknown:
        raise ValueError(f"policy names unknown source(s) {', '.join(map(repr, unknown))}; sources: "
                         f"{', '.join(map(repr, names))}")
    return False, [order.index(n) if n in order else -1 for n in names]


def _report(policy, names, winners_src, n_src, tied, g, norads, samples=5):
    wins = {}
    for i in range(g):
        s = names[winners_src[i]]
        wins[s] = wins.get(s, 0) + 1
    conflicts = sum(1 for i in range(g) if n_src[i] > 1)
    ties = sum(1 for i in range(g) if tied[i] > 0)
    sample = [(norads[i], names[winners_src[i]], n_src[i]) for i in range(g) if n_src[i] > 1][:samples]
    return {"objects": g, "conflicts": conflicts, "ties": ties, "wins": wins, "sources": list(names),
            "policy": policy if isinstance(policy, str) else "priority " + ",".join(policy), "samples": sample}


def merge_stored(reader, sources=None, policy="newest"):
    """Merge the stored sources named in sources (None: every source) of a Reader.  Vectorized scan of
    every set, resolution in Cython; fetches the winners' records."""
    from oor.query.operators import BatchScan
    all_names = sorted(reader.source_ids, key=reader.source_ids.get)
    names = list(sources) if sources is not None else all_names
    missing = [n for n in names if n not in reader.source_ids]
    if missing:
        raise ValueError(f"no stored source called {', '.join(map(repr, missing))}; stored: "
                         f"{', '.join(map(repr, all_names))}")
    if isinstance(policy, (list, tuple)) or policy != "newest":
        plist = list(policy) if isinstance(policy, (list, tuple)) else [p.strip() for p in policy.split(",")]
        unknown = [p for p in plist if p not in reader.source_ids]
        if unknown:
            raise ValueError(f"policy names unknown source(s) {', '.join(map(repr, unknown))}; stored: "
                             f"{', '.join(map(repr, all_names))}")
        names = plist + [n for n in names if n not in plist]
    newest, rank_by_input = _policy(policy, names)
    rank = array("i", [-1]) * 65536                  # by source id
    for j, n in enumerate(names):
        rank[reader.source_ids[n]] = rank_by_input[j]
    norad, epoch, src, keys = array("q"), array("q"), array("i"), []
    for b in BatchScan(reader, "all", columns=("keys",)):     # the key columns and the keys only
        n = b.n
        norad.extend(b.norad[:n].tolist())
        epoch.extend(b.epoch_us[:n])
        src.extend(b.source_id[:n].tolist())
        kb = bytes(b.keys[:KEY_SIZE * n])
        keys.extend(kb[i:i + KEY_SIZE] for i in range(0, KEY_SIZE * n, KEY_SIZE))
    n = len(norad)
    w, ns, td = array("i", bytes(4 * n)), array("i", bytes(4 * n)), array("i", bytes(4 * n))
    g = vecops.resolve_groups(norad, epoch, src, rank, newest, w, ns, td, n)
    id_to_input = {reader.source_ids[nm]: j for j, nm in enumerate(names)}
    winners = [reader.get_set(keys[w[i]]) for i in range(g)]
    wsrc = [id_to_input[src[w[i]]] for i in range(g)]
    rep = _report(policy, names, wsrc, ns, td, g, [norad[w[i]] for i in range(g)])
    return MergeResult(winners, rep)


def sort_columns(sets):
    """(sorted sets, norad int64 array, epoch int64 array) of a list of ElementSets."""
    s = sorted(sets, key=lambda es: (es.norad_id, es.epoch_us))
    return s, array("q", [es.norad_id for es in s]), array("q", [es.epoch_us for es in s])


def merge_columns(norads, epochs, ranks, newest=True):
    """k-way merge of k (norad, epoch)-sorted int64 column pairs, then per-object resolution (Cython).

    Returns (winners as (input, row) pairs, n_sources, tied, groups).  O(N log k)."""
    total = sum(len(a) for a in norads)
    out_src, out_row = array("i", bytes(4 * total)), array("i", bytes(4 * total))
    t = vecops.kway_merge(list(norads), list(epochs), out_src, out_row)
    mn, me = array("q", bytes(8 * t)), array("q", bytes(8 * t))
    vecops.gather_keys(list(norads), list(epochs), out_src, out_row, mn, me, t)
    rank = array("i", ranks)
    w, ns, td = array("i", bytes(4 * t)), array("i", bytes(4 * t)), array("i", bytes(4 * t))
    g = vecops.resolve_groups(mn, me, out_src, rank, newest, w, ns, td, t)
    return [(out_src[w[i]], out_row[w[i]]) for i in range(g)], ns, td, g


def merge_sets(inputs, names, policy="newest"):
    """Merge lists of ElementSets (one list per source, any order): sort each, k-way merge, resolve."""
    newest, ranks = _policy(policy, names)
    cols = [sort_columns(s) for s in inputs]
    winners, ns, td, g = merge_columns([c[1] for c in cols], [c[2] for c in cols], ranks, newest)
    sets = [cols[j][0][r] for j, r in winners]
    rep = _report(policy, names, [j for j, _ in winners], ns, td, g, [es.norad_id for es in sets])
    return MergeResult(sets, rep)
