"""The index-count rule of the registry's secondary indexes (``names``, ``cospar``): applied and checked here only.

Who may import: ``oor.registry`` (put/replace/delete/load apply the rule through
an ``IndexCounts``; ``Registry.check`` verifies it in fixed memory with the hash
sums of ``oor_core/regcheck.pyx``, and only when those disagree with ``expect``
and ``compare`` here, which name each entry), tests.  Key layouts: ``oor.keys``.
The C check computes the two texts itself for ASCII names and two-digit-year
designators (others come from ``index_texts``): a change of the rule below
changes regcheck.pyx in the same commit.

The rule (docs/registry.md): an index entry ``(text, norad)`` exists if and
only if at least one stored set of that object carries that text, and its
value (u32 BE) counts those sets.  The text of a set is, per index:

  names   ``keys.name_text(es.name)``  (casefolded, cut to 256 bytes; b"" = none)
  cospar  ``es.cospar_id`` in ASCII    (``1998-067A``; b"" = none)

A set with an empty text has no entry in that index.  Changes adjust the
counts in the caller's transaction: +1 per index for a new set, -1 for a
deleted one, and on a replace -1/+1 only for the indexes whose text changed
(O(1) tree operations per set, never a re-scan of the object's history).
Inside a load batch the changes are summed per key and applied in key order
at the end of the batch (neighbouring keys share pages); a new set's keys are made
in C from its record (``oor_core.indexkeys``, which follows the rule above for
ASCII names and two-digit-year designators and leaves every other set to
``index_texts`` here).
"""
from collections import Counter

from oor.keys import index_key, name_text, split_index_key, unpack_count
from oor_core.indexkeys import KeyCounter

__all__ = ["INDEXES", "IndexCounts", "index_texts", "new_expectation", "expect", "compare"]

INDEXES = ("names", "cospar")


def index_texts(es):
    """(names text, cospar text) of an ElementSet: the index entries it implies (b"" = none)."""
    c = es.cospar_id
    return name_text(es.name), (c.encode("ascii") if c else b"")


class IndexCounts:
    """Applies the rule to the two index trees.  Who may create: the Registry (caller holds the write lock)."""

    __slots__ = ("trees", "_batch")

    def __init__(self, names, cospar):
        self.trees = (names, cospar)
        self._batch = None       # a KeyCounter during a load batch: the summed deltas per index key

    def add(self, es, record=None):
        """A new set was stored (record: its encoded bytes, when the caller has them)."""
        b = self._batch
        if b is not None:
            if record is None or not b.add_record(record, es.norad_id, 1):
                self._count(b, es, 1)
            return
        for i, text in enumerate(index_texts(es)):
            self._bump(i, text, es.norad_id, +1)

    def remove(self, es):
        """A stored set was deleted."""
        b = self._batch
        if b is not None:
            self._count(b, es, -1)
            return
        for i, text in enumerate(index_texts(es)):
            self._bump(i, text, es.norad_id, -1)

    def replace(self, old, new):
        """A stored set (old) was overwritten by another with the same key (new)."""
        if self._batch is not None:
            self.remove(old)             # the -1/+1 of an unchanged text cancel at the flush
            self.add(new)
            return
        for i, (t_old, t_new) in enumerate(zip(index_texts(old), index_texts(new))):
            if t_old != t_new:
                self._bump(i, t_old, new.norad_id, -1)
                self._bump(i, t_new, new.norad_id, +1)

    @staticmethod
    def _count(batch, es, delta):
        for i, text in enumerate(index_texts(es)):
            if text:
                batch.add_key(i, index_key(text, es.norad_id), delta)

    def begin_batch(self):
        """Sum the changes from now on instead of applying each (a load batch)."""
        self._batch = KeyCounter()

    def flush_batch(self):
        """Apply the summed changes in key order (each index's sums, sorted, applied in C by
        BTree.add_counts); the batch stays open (empty)."""
        b = self._batch
        for i, tree in enumerate(self.trees):
            items = b.take(i)
            if items:
                tree.add_counts(items)

    def end_batch(self):
        """Back to applying each change (drops what was not flushed: the transaction aborted)."""
        self._batch = None

    def _bump(self, i, text, norad_id, delta):
        if text:
            self.trees[i].add_counts([(index_key(text, norad_id), delta)])


# ---- checking the rule -------------------------------------------------------------------
def expect(want, es, norad_id):
    """Add the entries set es, stored under norad_id, implies to want = {"names": Counter, "cospar": Counter}."""
    for label, text in zip(INDEXES, index_texts(es)):
        if text:
            want[label][index_key(text, norad_id)] += 1


def new_expectation():
    """The empty {"names": Counter(), "cospar": Counter()} that expect() fills."""
    return {label: Counter() for label in INDEXES}


def compare(label, items, want):
    """Problems of one index against what the primary tree implies, as strings; want is consumed.

    items: the index's (key, value) pairs in key order.  Three kinds, each
    naming the entry: a malformed key, an entry no stored set carries (stale)
    or one no entry holds (missing) -- ``_entry_problem`` -- and a count that
    differs from the number of sets (``_count_problem``).
    """
    problems = []
    for k, v in items:
        p = _entry_problem(label, k, want)
        if p is None:
            p = _count_problem(label, k, v, want.pop(k))
        if p is not None:
            problems.append(p)
    for k, n in sorted(want.items()):
        text, norad = split_index_key(k)
        problems.append(f"index {label}: missing entry ({text.decode('utf-8', 'replace')!r}, {norad}) "
                        f"for {n} stored set(s)")
    want.clear()
    return problems


def _shown(k):
    text, norad = split_index_key(k)
    return f"({text.decode('utf-8', 'replace')!r}, {norad})"


def _entry_problem(label, k, want):
    """A malformed or stale entry (None when the primary tree implies it)."""
    if len(k) < 6 or k[-5] != 0:
        return f"index {label}: malformed key {k!r}"
    if want.get(k, 0) == 0:
        want.pop(k, None)
        return f"index {label}: stale entry {_shown(k)}: no stored set carries it"
    return None


def _count_problem(label, k, v, expected):
    """A count that is not the number of stored sets carrying the entry (None when it is)."""
    have = unpack_count(v) if len(v) == 4 else None
    if have != expected:
        return f"index {label}: entry {_shown(k)} counts {have} sets, the primary tree has {expected}"
    return None
