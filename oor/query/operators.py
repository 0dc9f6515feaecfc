"""Pull-based operators of the query layer (volcano style: each is an iterable of its output).

Who may import: the rest of ``oor.query``, tests and benchmarks.  Every
operator has ``children`` and ``label()``; ``explain(op)`` draws a plan.

Row-wise operators stream ElementSets (scans, Filter) or tuples (the rest);
vectorized ones stream ColumnBatches: ``BatchScan`` fills batches straight
from leaf pages (oor_core.batch, Cython), ``BatchFilter`` evaluates the
predicate on whole batches (oor_core.vecops kernels) and ``BatchExtract``
turns only the surviving rows into tuples.  Both paths meet at tuples of
internal field values with a handle last (the primary key of the set for
the vectorized path, the ElementSet itself for the row-wise one), so Sort,
Limit and Present serve both.

Generic operators over any iterables: HashJoin, SortMergeJoin,
NestedLoopJoin, KWayMerge (a heap over sorted inputs), Resolve (group by
object, pick the winner by "newest" or "source priority", count conflicts).
"""
import abc
import heapq
from array import array

from oor_core.batch import COL_ALL, SCAN_ALL, SCAN_AS_OF, SCAN_LATEST, ColumnBatch, LeafScan, column_mask
from oor_core.vecops import take_rows

from oor.codec import decode_record
from oor.codec.elements import tle_to_cospar
from oor.keys import is_tombstone, split_elset_key

__all__ = ["Operator", "RowScan", "BatchScan", "Filter", "BatchFilter", "BatchExtract", "Extract", "Sort",
           "Limit", "HashJoin", "SortMergeJoin", "NestedLoopJoin", "KWayMerge", "Resolve", "explain"]

MODES = {"all": SCAN_ALL, "latest": SCAN_LATEST, "as_of": SCAN_AS_OF}


class Operator(abc.ABC):
    """A pull-based plan node: iterating it yields its rows (each subclass defines __iter__)."""
    children = ()

    def label(self):
        return type(self).__name__

    @abc.abstractmethod
    def __iter__(self):
        """The operator's rows, pulled from its children."""


def explain(op, depth=0):
    """The plan under op, one operator a line, children indented."""
    lines = ["  " * depth + ("<- " if depth else "") + op.label()]
    for c in op.children:
        lines.append(explain(c, depth + 1))
    return "\n".join(lines)


def _range_label(ranges):
    if ranges is None:
        return "all ids"
    if len(ranges) == 1:
        lo, hi = ranges[0]
        return f"ids {lo}..{hi}"
    return f"{len(ranges)} id ranges"


def _bounds(lo, hi):
    from oor.keys import object_lo
    return object_lo(lo), (object_lo(hi + 1) if hi < 999_999_999 else None)


# ---- scans -----------------------------------------------------------------------------------
class RowScan(Operator):
    """ElementSets of the primary tree, row by row (cursor + decode_record per set): the baseline path.

    mode "all" (every set), "latest" (newest per object), "as_of" (newest with epoch <= as_of_us).
    ranges: list of inclusive (first_id, last_id), or None for every object.  O(sets in range) keys read,
    one decode per set returned.
    """

    def __init__(self, reader, mode="latest", as_of_us=None, ranges=None, access="primary"):
        self.reader = reader
        self.mode = mode
        self.as_of_us = as_of_us
        self.ranges = ranges
        self.access = access

    def label(self):
        t = f" <= {self.as_of_us}" if self.mode == "as_of" else ""
        return f"RowScan[{self.access}]({self.mode}{t}, {_range_label(self.ranges)})  python"

    def __iter__(self):
        r = self.reader
        for lo, hi in (self.ranges or [(0, 999_999_999)]):
            klo, khi = _bounds(lo, hi)
            if self.mode == "all":
                for _, v in r.items(r.elsets, klo, khi):
                    if not is_tombstone(v):
                        yield decode_record(v)
                continue
            pend_n, pend_v = None, None
            t = self.as_of_us
            for k, v in r.items(r.elsets, klo, khi):
                n = int.from_bytes(k[:4], "big")
                if n != pend_n:
                    if pend_v is not None and not is_tombstone(pend_v):
                        yield decode_record(pend_v)
                    pend_n, pend_v = n, None
                if t is None or split_elset_key(k)[1] <= t:
                    pend_v = v          # latest: a tombstone (the object's last key) hides the object
            if pend_v is not None and not is_tombstone(pend_v):
                yield decode_record(pend_v)


class BatchScan(Operator):
    """ColumnBatches straight from leaf pages (oor_core.batch.LeafScan, Cython), ~1,024 rows each.

    Same modes and ranges as RowScan.  One reading() per fill, no pin kept between fills.  The batch object
    is reused: a consumer reads it before pulling the next one.
    """

    def __init__(self, reader, mode="latest", as_of_us=None, ranges=None, capacity=1024, access="primary",
                 columns=None):
        self.reader = reader
        self.mode = mode
        self.as_of_us = as_of_us
        self.ranges = ranges
        self.capacity = capacity
        self.access = access
        self.columns = None if columns is None else sorted(set(columns))   # None: every column
        self.rows = 0

    def label(self):
        t = f" <= {self.as_of_us}" if self.mode == "as_of" else ""
        cols = "" if self.columns is None else f", columns {','.join(self.columns) or 'key only'}"
        return (f"BatchScan[{self.access}]({self.mode}{t}, {_range_label(self.ranges)}, {self.capacity} rows{cols})"
                f"  cython")

    def __iter__(self):
        r = self.reader
        if r.elsets is None:
            return
        batch = ColumnBatch(self.capacity)
        cols = COL_ALL if self.columns is None else column_mask(self.columns)
        for lo, hi in (self.ranges or [(0, 999_999_999)]):
            klo, khi = _bounds(lo, hi)
            scan = LeafScan(r.elsets, klo, khi, MODES[self.mode], self.as_of_us or 0, cols)
            while True:
                with r.reading():
                    n = scan.fill(batch)
                if n == 0:
                    break
                self.rows += n
                yield batch


# ---- filter and extract ----------------------------------------------------------------------
class Filter(Operator):
    """ElementSets for which test(es) is true (row-wise)."""

    def __init__(self, child, test, text=""):
        self.children = (child,)
        self.test = test
        self.text = text

    def label(self):
        return f"Filter({self.text})  python, per row"

    def __iter__(self):
        t = self.test
        for es in self.children[0]:
            if t(es):
                yield es


class BatchFilter(Operator):
    """(batch, selected row indices, count) for each batch: the predicate on whole batches (vecops)."""

    def __init__(self, child, evaluator, text=""):
        self.children = (child,)
        self.ev = evaluator
        self.text = text

    def label(self):
        return f"BatchFilter({self.text})  cython kernels, per batch"

    def __iter__(self):
        from oor_core import vecops
        idx = None
        for b in self.children[0]:
            if idx is None or len(idx) < b.capacity:
                idx = array("i", bytes(4 * b.capacity))
            m = self.ev.mask(b)
            k = vecops.selected(m, b.n, idx)
            if k:
                yield b, idx, k


class Extract(Operator):
    """Tuples (value of each field..., ElementSet) from ElementSets: the row-wise end of a scan."""

    def __init__(self, child, fields, ctx):
        self.children = (child,)
        self.fields = fields
        self.ctx = ctx

    def label(self):
        return f"Extract({', '.join(f.name for f in self.fields)})  python"

    def __iter__(self):
        ctx = self.ctx
        getters = [f.row for f in self.fields]
        for es in self.children[0]:
            yield tuple([g(es, ctx) for g in getters] + [es])


class BatchExtract(Operator):
    """Tuples (value of each field..., primary key) of the rows a BatchFilter kept.

    With ``handles=False`` the last item is None.  ``batches(handle=False)``
    gives the rows of each batch as one list of tuples without that item
    (``Query.rows`` reads them).  The tuples are built in C (vecops.take_rows);
    only name, cospar and source values are made in Python, for kept rows.
    """

    def __init__(self, child, fields, ctx, reader, evaluator, handles=True):
        self.handles = handles
        self.children = (child,)
        self.fields = fields
        self.ctx = ctx
        self.reader = reader
        self.ev = evaluator

    def label(self):
        return f"BatchExtract({', '.join(f.name for f in self.fields)})  cython, surviving rows only"

    def batches(self, handle=True):
        """Lists of row tuples, one list per batch; ``handle``: end each tuple with the key (or None)."""
        names = {i: n for n, i in self.reader.source_ids.items()}
        for b, idx, k in self.children[0]:
            sel = idx[:k]
            cols = []
            for f in self.fields:
                if f.name == "name":
                    cols.append([b.name(i) for i in sel])
                elif f.name == "cospar":
                    cols.append([tle_to_cospar(b.intl_designator(i)) for i in sel])
                elif f.name == "source":
                    sid = b.source_id
                    cols.append([names.get(sid[i]) for i in sel])
                else:
                    cols.append(self.ev.column(b, f))
            if handle:
                cols.append([b.key(i) for i in sel] if self.handles else None)
            rows = []
            take_rows(cols, idx, k, k == b.n, rows)
            yield rows

    def __iter__(self):
        for rows in self.batches():
            yield from rows


# ---- sort and limit --------------------------------------------------------------------------
def _sortable(v):
    return (v is None, v if v is not None else 0)


class Sort(Operator):
    """Sorts tuples by keys [(position, descending)], stably; None sorts last.  O(n log n), in memory."""

    def __init__(self, child, keys, names=()):
        self.children = (child,)
        self.keys = keys
        self.names = names

    def label(self):
        return f"Sort({', '.join(self.names)})  python"

    def __iter__(self):
        rows = list(self.children[0])
        for pos, desc in reversed(self.keys):
            rows.sort(key=lambda r: _sortable(r[pos]), reverse=desc)
        return iter(rows)


class Limit(Operator):
    def __init__(self, child, n):
        self.children = (child,)
        self.n = n

    def label(self):
        return f"Limit({self.n})"

    def __iter__(self):
        if self.n <= 0:
            return
        i = 0
        for row in self.children[0]:
            yield row
            i += 1
            if i >= self.n:
                return


# ---- joins -----------------------------------------------------------------------------------
class HashJoin(Operator):
    """(left row, right row) pairs with lkey(l) == rkey(r): builds a hash table of the right input.

    O(|L| + |R| + pairs) time, O(|R|) memory.  Output in left order, right matches in input order.
    """

    def __init__(self, left, right, lkey, rkey):
        self.children = (left, right)
        self.lkey, self.rkey = lkey, rkey

    def label(self):
        return "HashJoin(build right, probe left)  python"

    def __iter__(self):
        table = {}
        rk = self.rkey
        for r in self.children[1]:
            table.setdefault(rk(r), []).append(r)
        lk = self.lkey
        for l in self.children[0]:
            for r in table.get(lk(l), ()):
                yield l, r


class SortMergeJoin(Operator):
    """Matching pairs of two inputs sorted by their keys (sorts them first unless presorted=True).

    O(|L| + |R| + pairs) after sorting; memory: the run of equal right keys.
    """

    def __init__(self, left, right, lkey, rkey, presorted=False):
        self.children = (left, right)
        self.lkey, self.rkey = lkey, rkey
        self.presorted = presorted

    def label(self):
        return f"SortMergeJoin({'presorted' if self.presorted else 'sorting both'})  python"

    def __iter__(self):
        lk, rk = self.lkey, self.rkey
        L = self.children[0] if self.presorted else sorted(self.children[0], key=lk)
        R = self.children[1] if self.presorted else sorted(self.children[1], key=rk)
        ri = iter(R)
        r = next(ri, _END)
        run_key, run = _END, []
        for l in L:
            k = lk(l)
            if run_key is not _END and k == run_key:
                for x in run:
                    yield l, x
                continue
            while r is not _END and rk(r) < k:
                r = next(ri, _END)
            run_key, run = k, []
            while r is not _END and rk(r) == k:
                run.append(r)
                r = next(ri, _END)
            for x in run:
                yield l, x


_END = object()


class NestedLoopJoin(Operator):
    """Pairs (l, r) with match(l, r): every pair tested.  O(|L| |R|); the reference for the other joins."""

    def __init__(self, left, right, match):
        self.children = (left, right)
        self.match = match

    def label(self):
        return "NestedLoopJoin  python"

    def __iter__(self):
        R = list(self.children[1])
        m = self.match
        for l in self.children[0]:
            for r in R:
                if m(l, r):
                    yield l, r


# ---- merge and resolve -----------------------------------------------------------------------
class KWayMerge(Operator):
    """One stream in key order from k inputs each sorted by key: a heap of k heads.  O(N log k).

    Ties go to the earlier input.  Yields (input index, item).
    """

    def __init__(self, inputs, key):
        self.children = tuple(inputs)
        self.key = key

    def label(self):
        return f"KWayMerge({len(self.children)} inputs, heap)  python"

    def __iter__(self):
        key = self.key
        heap = []
        its = [iter(c) for c in self.children]
        for j, it in enumerate(its):
            x = next(it, _END)
            if x is not _END:
                heap.append((key(x), j, x))
        heapq.heapify(heap)
        while heap:
            k, j, x = heap[0]
            yield j, x
            nx = next(its[j], _END)
            if nx is _END:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (key(nx), j, nx))


class Resolve(Operator):
    """Group (input index, ElementSet) pairs, sorted by object, into one winner per object.

    policy "newest": newest epoch wins, ties to the better-ranked input; a list of ranks: the best-ranked
    input that has the object wins, with its newest set.  ``stats`` after the run: objects, conflicts
    (objects offered by >= 2 inputs), ties (newest: the winning epoch offered by >= 2 inputs), wins per input.
    Yields (winner input, ElementSet, number of inputs offering the object).
    """

    def __init__(self, child, newest=True, ranks=None):
        self.children = (child,)
        self.newest = newest
        self.ranks = ranks
        self.stats = None

    def label(self):
        return f"Resolve({'newest epoch' if self.newest else 'source priority'})  python"

    def __iter__(self):
        ranks = self.ranks
        st = {"objects": 0, "conflicts": 0, "ties": 0, "wins": {}}
        self.stats = st
        cur, best, bj, seen, ties = None, None, None, set(), 0

        def emit():
            st["objects"] += 1
            if len(seen) > 1:
                st["conflicts"] += 1
            if ties:
                st["ties"] += 1
            st["wins"][bj] = st["wins"].get(bj, 0) + 1
            return bj, best, len(seen)

        for j, es in self.children[0]:
            r = ranks[j] if ranks is not None else j
            if r < 0:
                continue
            if es.norad_id != cur:
                if best is not None:
                    yield emit()
                cur, best, bj, seen, ties = es.norad_id, es, j, {j}, 0
                continue
            seen.add(j)
            br = ranks[bj] if ranks is not None else bj
            if self.newest:
                if es.epoch_us > best.epoch_us:
                    best, bj, ties = es, j, 0
                elif es.epoch_us == best.epoch_us:
                    if j != bj:
                        ties += 1
                    if r < br:
                        best, bj = es, j
            elif r < br or (r == br and es.epoch_us >= best.epoch_us):
                best, bj = es, j
        if best is not None:
            yield emit()
