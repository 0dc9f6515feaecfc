"""The registry: every element set ever seen, by object, epoch and source, with name and COSPAR indexes.

Who may import: anyone (``oor.open``, ``oor.Registry`` and ``oor.LoadReport``
are re-exported by ``oor``).  The registry sits on ``oor.storage.Database``
(named B+ trees, transactions) and the codec; it never touches pages.

Trees (key layouts: ``oor.keys`` and docs/registry.md):
  elsets   (norad, epoch, source id) -> codec record           the data
  sources  source name <-> u16 id                              keeps keys short
  names    casefolded name | 0 | norad -> count                find() by name prefix
  cospar   "1998-067A" | 0 | norad -> count                    find() by COSPAR id

Index rule: an index entry (text, norad) exists iff at least one stored set
of that object carries that name / designator, and its value counts those
sets.  One class owns it, ``oor.index_counts.IndexCounts``: put/replace/
delete/load adjust the counts through it in the same transaction as the
primary change; ``check()`` recomputes them from the primary tree with the
same module.  Times are parsed by ``oor.times``; ``at`` with a mode and
``find``'s matching (COSPAR forms by ``oor.codec.cospar``) are functions of
``oor.lookups`` over the trees; the format names are ``oor.codec.formats``';
``to_arrow`` / ``to_pandas`` and the other interop doors are ``oor.interop``.

Concurrency: one writer process (the Database's file lock); in-process, every
read runs under ``Database.reading()`` and every change inside a transaction.
Iterators (``scan``, ``iter_sets``) take the lock per step, never across a
``yield``, and re-seek, so a change made while iterating is safe.

Reads of the current state (no ``as_of`` / ``source``) go through ``oor_core.reads``: C from
the seek to the returned ElementSet (``latest``, ``latest_many``, ``at``, ``history``, ``scan``
in runs of ``SCAN_RUN`` objects, ``find``, ``export``); the selections keep the Python path.
"""
from __future__ import annotations

import itertools
import operator
import os
import struct
import time
from collections import Counter
from contextlib import nullcontext
from itertools import islice
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional

if TYPE_CHECKING:
    from oor.query.merge import MergeResult
    from oor.query.query import Query
    from oor.query.screen import ScreenResult
    from oor.query.source import Reader
    from oor.typing import DurationLike, PathLike, TimeLike

from oor_core.regcheck import PrimaryCheck
from oor_core.reads import (NOT_GATED, current_tree, datetime_us, gate_at, gate_history, gate_latest, index_ids,
                            latest_run, latest_set, latest_sets, latest_text_run, scan_view, set_at, sets_between)
from oor_core.errors import ConflictError, LoadInterrupted, OorError, TLEParseError

from oor import index_counts
from oor.codec import ElementSet, WriteCount, decode_record, encode_record, read_elements, write_elements
from oor.codec.formats import READ_FORMATS, WRITE_FORMATS, canonical as canonical_format, resolve as resolve_format
from oor.codec.record import check_record
from oor.index_counts import IndexCounts
from oor.keys import (
    FORMAT,
    FORMAT_NO_LATEST,
    KEY_SIZE,
    MAX_EPOCH_US,
    MAX_SEQ,
    MIN_EPOCH_US,
    SIGN,
    REV_KEY_SIZE,
    TOMB,
    TOMB_EPOCH,
    TREE_NAMES,
    elset_key,
    epoch_hi,
    epoch_lo,
    index_key,
    is_tombstone,
    last_entries,
    object_hi,
    object_lo,
    pack_time,
    pack_u16,
    revision_key,
    revision_value,
    split_elset_key,
    split_revision_key,
    split_revision_value,
    split_stamp_key,
    split_tombstone,
    stamp_key,
    tombstone,
    unpack_time,
    unpack_u16,
)
from oor.lookups import check_mode, find_ids, pick_at
from oor.revisions import (
    PruneReport,
    Revision,
    arrival_of,
    bound,
    object_versions,
    prune_trees,
    revisions_of,
    versioned_objects,
)
from oor.storage import DEFAULT_POOL_PAGES, Database, batched_items
from oor.times import parse_duration, to_datetime, to_epoch_us, us_to_iso

__all__ = ["Registry", "RegistrySnapshot", "RegistryTransaction", "LoadReport", "Revision", "PruneReport", "open",
           "restore",
           "to_epoch_us", "merge_sets", "INSERTED", "UPDATED", "REPLACED", "UNCHANGED"]

INSERTED, UPDATED, UNCHANGED = "inserted", "updated", "unchanged"
REPLACED = UPDATED             # the format-1 name of an update
_NO_LOCK = nullcontext()       # a snapshot's reads need no lock: its trees never change


class _Released:
    """Stands for the trees of a released snapshot: any use is an OorError."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)        # introspection (doctest, copy) is not a use
        raise OorError("this snapshot was released; take a new one with reg.snapshot()")


_RELEASED = _Released()
TREES = TREE_NAMES             # oor.keys owns the list (format 3)
_TREE_ATTRS = ("_elsets", "_sources", "_names", "_cospar", "_revisions", "_commits", "_info", "_latest")
_US_1950_TO_1970 = 631_152_000_000_000
_FF4 = b"\xff" * 4
_FF12 = b"\xff" * 12
_EPOCH_KEY = struct.Struct(">IQ")     # the first 12 bytes of an elsets key (oor.keys.epoch_lo, inlined in _put)
_SEQ_SRC = struct.Struct(">HH")       # its last 4 (seq, source id)


def _now_us():
    """Wall-clock now in us since 1950-01-01T00:00Z (the stamps' scale)."""
    return time.time_ns() // 1000 + _US_1950_TO_1970


def _bind_trees(view, get):
    """Give a read view (or the Registry) its trees: view._elsets ... view._latest = get(tree name), and
    view._current: the tree that answers "each object's last entry" -- latest (format 3, docs/latest.md),
    or elsets in a format-2 file, which has no latest tree."""
    for name, attr in zip(TREES, _TREE_ATTRS):
        setattr(view, attr, get(name))
    view._current = view._latest if view._latest is not None else view._elsets


def _copy_trees(view, reg):
    """view gets the Registry's own (the writer's) trees."""
    for attr in _TREE_ATTRS:
        setattr(view, attr, getattr(reg, attr))
    view._current = reg._current


def _object_end(norad_id):
    """The key bound above every key of norad_id (None: no bound, for the last possible id)."""
    return object_lo(norad_id + 1) if norad_id < MAX_NORAD_ID else None


def arrival_of_safe(value):
    try:
        return arrival_of(value)
    except (ValueError, UnicodeDecodeError, IndexError, struct.error):
        return -(1 << 63)


def _check_format(path, have, info):
    """The registry format of a file (None for a new one); refuses one this OOR does not read -- format 3,
    and format 2, which lacks the latest tree and is upgraded by a writer (docs/latest.md, invariant 25)."""
    if "elsets" not in have:
        return None
    fmt = None
    if info is not None:
        b = info.get(b"format")
        fmt = unpack_u16(b) if b is not None and len(b) == 2 else b
    if fmt == FORMAT or fmt == FORMAT_NO_LATEST:
        return fmt
    if fmt is None:
        raise OorError(f"{path}: registry format 1 (written by OOR before revisions were kept); this OOR reads "
                       f"format {FORMAT} -- convert it with `oor upgrade --db {path}` (the original is kept beside it)")
    raise OorError(f"{path}: registry format {fmt!r} is not one this OOR reads (formats {FORMAT_NO_LATEST} and {FORMAT})")


def merge_sets(old, new):
    """What a repeat ``new`` of the stored set ``old`` makes of it (docs/revisions.md, rule 3), or None
    when it brings nothing: a name where old had none (or another name: renamed), exact TLE text where old
    had none, OMM keywords old lacked.  Never removes anything old had; old's origin is kept."""
    base = old
    if not old.has_text and new.has_text:
        base = new
    name = old.name
    if new.name and new.name.strip() and new.name != old.name:
        name = new.name
    meta = old.meta
    added = [(k, v) for k, v in new.meta.items() if k not in meta]
    if base is old and name == old.name and not added:
        return None
    out = base if name == base.name else base.replace(name=name)
    if added or base is not old:
        pairs = tuple(meta.items()) + tuple(added)
        out = out.with_provenance(meta=pairs or None, origin=old.origin)
    return out
MAX_NORAD_ID = 999_999_999
MAX_SOURCE_ID = 0xFFFF
# Format names the registry and the CLI accept, -> the codec's names.
FORMAT_ALIASES = {"auto": "auto", "tle": "tle", "3le": "3le", "xml": "xml", "json": "json", "csv": "csv",
                  "omm-xml": "xml", "omm-json": "json", "omm-csv": "csv", "omm": "xml",
                  "kvn": "kvn", "omm-kvn": "kvn"}
_ANY = object()


# ---- arguments ------------------------------------------------------------------------------
def _check_norad(norad_id):
    if type(norad_id) is int and 0 <= norad_id <= MAX_NORAD_ID:
        return norad_id              # the common case in one test (latest()'s per-call cost, issue 12)
    if isinstance(norad_id, bool) or not isinstance(norad_id, int):
        raise TypeError(f"norad_id must be an int, not {type(norad_id).__name__}")
    if not 0 <= norad_id <= MAX_NORAD_ID:
        raise ValueError(f"norad_id {norad_id} is outside 0..{MAX_NORAD_ID}")
    return norad_id


def _clamp(us):
    return max(MIN_EPOCH_US, min(MAX_EPOCH_US, us))


# ---- load report ----------------------------------------------------------------------------
class LoadReport:
    """What one ``Registry.load`` did.

    ``inserted``, ``updated``, ``unchanged``: counts of sets stored as new,
    repeats of a stored set that added to it (a name, text, OMM keywords; the
    version before is kept as a revision), and repeats that added nothing
    (docs/revisions.md).  ``rejected``: the TLEParseErrors of the sets not stored,
    one per set (each has ``file``, ``line``, ``column``, ``reason``).
    ``skipped``: lines that are no part of a set and no error (``#`` comments,
    names without elements; see ``oor.codec.ElementReader``).  ``seconds``: wall time.
    """

    __slots__ = ("inserted", "updated", "unchanged", "rejected", "skipped", "seconds")

    def __init__(self, inserted: int = 0, updated: int = 0, unchanged: int = 0,
                 rejected: Optional[List[TLEParseError]] = None, seconds: float = 0.0, skipped: int = 0) -> None:
        self.inserted = inserted
        self.updated = updated
        self.unchanged = unchanged
        self.rejected = [] if rejected is None else rejected
        self.skipped = skipped
        self.seconds = seconds

    @property
    def replaced(self) -> int:
        """The format-1 name of ``updated``."""
        return self.updated

    @property
    def stored(self) -> int:
        """Sets read and accepted (inserted + updated + unchanged)."""
        return self.inserted + self.updated + self.unchanged

    @property
    def ok(self) -> bool:
        return not self.rejected

    @property
    def rate(self) -> float:
        """Accepted sets per second."""
        return self.stored / self.seconds if self.seconds > 0 else 0.0

    def __iadd__(self, other):
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected.extend(other.rejected)
        self.skipped += other.skipped
        self.seconds += other.seconds
        return self

    def summary(self) -> str:
        """One line: counts and rate."""
        return (f"{self.inserted:,} inserted, {self.updated:,} updated, {self.unchanged:,} unchanged, "
                f"{len(self.rejected):,} rejected in {self.seconds:.2f} s ({self.rate:,.0f} sets/s)"
                + (f", {self.skipped:,} lines skipped" if self.skipped else ""))

    __str__ = summary

    def __repr__(self):
        return (f"<LoadReport inserted={self.inserted} updated={self.updated} unchanged={self.unchanged} "
                f"rejected={len(self.rejected)} seconds={self.seconds:.3f}>")


# ---- transactions ---------------------------------------------------------------------------


_LOAD_ORDER = operator.attrgetter("norad_id", "epoch_us")   # load's order within a batch: the primary key's
SCAN_RUN = 256      # objects per C call of scan (oor_core.reads.latest_run): a run's sets are one list
_AT_MODE = {"before": 0, "after": 1, "nearest": 2}       # oor_core.reads AT_BEFORE / AT_AFTER / AT_NEAREST


def _live(tree):
    """tree, or OorError when it stands for a released snapshot's (the C reads take only a BTree)."""
    if tree.__class__ is _Released:
        tree.cursor                      # raises the released snapshot's OorError
    return tree


def _latest_in(elsets, norad_id):
    """The newest set of norad_id in the elsets tree (None when absent or deleted).  One descent, in C."""
    if elsets is None:
        return None
    return latest_set(_live(elsets), norad_id)


def _at_in(elsets, norad_id, us, mode, age):
    """``at`` on the current state, in C (oor_core.reads.set_at; the rules: oor.lookups)."""
    if elsets is None:
        return None
    return set_at(_live(elsets), norad_id, us, _AT_MODE[mode], age)


def _history_bounds(since, until):
    """(lo_us, hi_us, empty) of history(since, until): inclusive epoch bounds (None: open)."""
    lo_us = None if since is None else _clamp(to_epoch_us(since))
    hi_us = None if until is None else to_epoch_us(until)
    empty = hi_us is not None and (hi_us < MIN_EPOCH_US or (lo_us is not None and lo_us > hi_us))
    return lo_us, hi_us, empty


class _LatestRuns:
    """The latest set of each object in [first, last] at one read view, read SCAN_RUN objects a C call:
    iterated, the sets (as scan); ``tle_runs(names, one)``, their TLE / 3LE text in runs, for
    ``oor.codec.io``'s writer (``oor_core.reads.latest_text_run``: most records need no ElementSet)."""

    def __init__(self, view, first, last):
        self.view, self.first, self.last = view, first, last

    def __iter__(self):
        return self.view.scan(self.first, self.last)

    def tle_runs(self, names, one):
        view, nid = self.view, self.first
        while nid >= 0:
            with view._reading():
                if view._current is None:
                    return
                text, k, nid = latest_text_run(_live(view._current), nid, self.last, 4 * SCAN_RUN, names, one)
            yield text, k


# ---- the registry ---------------------------------------------------------------------------
class _Reads:
    """The read methods, over the four trees of one consistent state.

    Subclasses give ``path``, the trees ``_elsets``, ``_sources``, ``_names``,
    ``_cospar`` (None when absent) and ``_reading()``: the context each read runs
    in (nothing for a snapshot, whose trees never change; the writer's lock for a
    transaction).  Registry runs each call on a fresh snapshot.
    """

    def sources(self):
        """{source name: id} of every source ever stored (None, id 0, not listed)."""
        with self._reading():
            if self._sources is None:
                return {}
            return {k[1:].decode("utf-8"): unpack_u16(v) for k, v in self._sources.items(b"n", b"o")}

    # ---- selection: as_of and source (docs/revisions.md) ------------------------------------------
    def _bound(self, as_of):
        """The stamp bound of wall-clock time as_of (oor.revisions.bound)."""
        return bound(self._reading, self._commits, _clamp(to_epoch_us(as_of)))

    def _sid(self, source):
        """Source id of a source name for filtering (0 for None; -1 when never stored: matches nothing)."""
        if source is None:
            return 0
        if not isinstance(source, str):
            raise TypeError(f"source must be a str or None, not {type(source).__name__}")
        return self.sources().get(source, -1)

    def _sel(self, as_of, source):
        """(stamp bound or None, source id or _ANY): a call's as_of / source, resolved once per call (one
        "now" and one read of the sources tree for a whole scan)."""
        return (None if as_of is None else self._bound(as_of)), (_ANY if source is _ANY else self._sid(source))

    def _versions(self, norad_id, b, sid):
        """[(key, value)] of an object at stamp bound b (None: now), of source id sid (or _ANY), ascending
        key; a valid tombstone is kept (last) whatever the source."""
        if b is not None:
            items = object_versions(self._reading, self._elsets, self._revisions, norad_id, b)
        elif self._elsets is None:
            return []
        else:
            items = list(self._range(self._elsets, object_lo(norad_id), _object_end(norad_id)))
        if sid is not _ANY:
            items = [kv for kv in items if kv[1][0] == TOMB or unpack_u16(kv[0][14:16]) == sid]
        return items

    def _latest_sel(self, norad_id, b, sid):
        items = self._versions(norad_id, b, sid)
        if not items or items[-1][1][0] == TOMB:
            return None
        return decode_record(items[-1][1])

    # ---- lookups -----------------------------------------------------------------------------
    def latest(self, norad_id, *, as_of=None, source=_ANY):
        """The newest set of an object, or None (also when the object was deleted).  One seek.

        At equal epochs the last arrival wins.  ``as_of``: as the registry answered at that wall-clock time
        (any time ``oor.times`` reads); ``source``: only sets of that source.
        """
        _check_norad(norad_id)
        if as_of is None and source is _ANY:
            with self._reading():
                return _latest_in(self._current, norad_id)
        return self._latest_sel(norad_id, *self._sel(as_of, source))

    def latest_many(self, ids, *, as_of=None, source=_ANY):
        """[latest(id) for id in ids] as a list (None where an object has no current set), read at once.

        ``as_of`` / ``source``: as ``latest`` (then one selection per id).  Current state: one C call
        (oor_core.reads.latest_sets: ids probed in sorted order, neighbours reuse the leaf)."""
        if as_of is None and source is _ANY:
            with self._reading():
                if self._current is None:
                    return [None for _ in ids]
                return latest_sets(_live(self._current), ids)
        ids = [_check_norad(i) for i in ids]
        b, sid = self._sel(as_of, source)
        return [self._latest_sel(i, b, sid) for i in ids]

    def at(self, norad_id: int, when: TimeLike, mode: str = "before",
           max_age: Optional[DurationLike] = None, *, as_of: Optional[TimeLike] = None,
           source: Any = _ANY) -> Optional[ElementSet]:
        """The set of an object at a time, or None.  One to three seeks (rules: ``oor.lookups``).

        ``when``: any time ``oor.times`` reads (datetime, date, ISO 8601 text, TLE epoch, ``now-30d``, Unix
        seconds).  ``mode``: "before" (default: the newest set with epoch <= when, the one valid then),
        "after" (the oldest with epoch >= when) or "nearest".  ``max_age`` (``14d``, a timedelta, seconds):
        None unless the set found lies within that much of when.  A deleted object's sets still answer
        (its history stays readable).  ``as_of`` / ``source``: as ``latest``.
        """
        _check_norad(norad_id)
        check_mode(mode)
        us = min(_clamp(to_epoch_us(when)), TOMB_EPOCH - 1)
        age = None if max_age is None else parse_duration(max_age)
        if as_of is None and source is _ANY:
            with self._reading():
                return _at_in(self._elsets, norad_id, us, mode, age)
        item = pick_at([kv for kv in self._versions(norad_id, *self._sel(as_of, source))
                        if kv[1][0] != TOMB], us, mode, age)
        return None if item is None else decode_record(item[1])

    def history(self, norad_id, since=None, until=None, *, as_of=None, source=_ANY, revisions=False):
        """The sets of an object with since <= epoch <= until (both optional), ordered by epoch, then
        arrival, as a list.  A deleted object's history stays readable.

        ``as_of`` / ``source``: as ``latest``.  ``revisions=True``: every version of every set instead
        (``oor.revisions.Revision`` objects: current and superseded, tombstones too, with arrival and
        supersession times), ordered by set, then arrival.
        """
        _check_norad(norad_id)
        lo_us, hi_us, empty = _history_bounds(since, until)
        if revisions:
            if as_of is not None:
                raise ValueError("history(revisions=True) lists every version; as_of does not apply")
            sid = None if source is _ANY else self._sid(source)       # resolved once for the call
            out = []
            for r in revisions_of(self._reading, self._elsets, self._revisions, norad_id):
                if not r.tombstone and ((lo_us is not None and r.epoch_us < lo_us)
                                        or (hi_us is not None and r.epoch_us > hi_us)
                                        or (sid is not None and r.source_id != sid)):
                    continue
                out.append(r)
            return out
        if as_of is not None or source is not _ANY:
            return [decode_record(v) for k, v in self._versions(norad_id, *self._sel(as_of, source))
                    if v[0] != TOMB and (lo_us is None or split_elset_key(k)[1] >= lo_us)
                    and (hi_us is None or split_elset_key(k)[1] <= hi_us)]
        if empty or self._elsets is None:
            return []
        with self._reading():
            return sets_between(_live(self._elsets), norad_id, lo_us, hi_us)

    def __contains__(self, norad_id):
        return self.latest(norad_id) is not None

    def _index_ids(self, tree, lo, hi):
        """The ids of an index range (names, cospar) in one C call (oor_core.reads.index_ids)."""
        if tree is None:
            return set()
        with self._reading():
            return index_ids(_live(tree), lo, hi)

    def _range(self, tree, lo, hi, batch=1024):
        """(key, value) pairs with lo <= key < hi, read in batches under the lock (none held across yield)."""
        return batched_items(self._reading, tree, lo, hi, batch)

    def objects(self, first_id=None, last_id=None, *, as_of=None):
        """Iterator of the NORAD ids stored, ascending, within [first_id, last_id].  One seek per object.

        Deleted objects are listed (their history is readable); ``as_of``: the objects with a set then.
        """
        nid = 0 if first_id is None else _check_norad(first_id)
        last = MAX_NORAD_ID if last_id is None else _check_norad(last_id)
        if as_of is not None:
            b = self._bound(as_of)                 # one bound for the whole iteration
            for norad in versioned_objects(self._reading, self._elsets, self._revisions, nid, last):
                if any(not is_tombstone(v) for _, v in
                       object_versions(self._reading, self._elsets, self._revisions, norad, b)):
                    yield norad
            return
        while nid <= last:
            with self._reading():
                if self._elsets is None:
                    return
                item = self._elsets.cursor().seek(object_lo(nid), ">=")
            if item is None:
                return
            norad = split_elset_key(item[0])[0]
            if norad > last:
                return
            if item[1][0] != TOMB:         # a tombstone as the first key: every set was deleted
                yield norad
            nid = norad + 1

    def scan(self, first_id=None, last_id=None, *, as_of=None, source=_ANY):
        """Iterator of the latest set of every object with first_id <= id <= last_id, ascending id
        (deleted objects left out).

        Constant memory: one walk along the leaves, SCAN_RUN objects a C call (oor_core.reads.latest_run).
        ``as_of`` / ``source``: as ``latest`` (then O(sets) per object).
        """
        nid = 0 if first_id is None else _check_norad(first_id)
        last = MAX_NORAD_ID if last_id is None else _check_norad(last_id)
        if as_of is not None or source is not _ANY:
            b, sid = self._sel(as_of, source)
            ids = (versioned_objects(self._reading, self._elsets, self._revisions, nid, last)
                   if b is not None else self.objects(nid, last))
            for norad in ids:
                es = self._latest_sel(norad, b, sid)
                if es is not None:
                    yield es
            return
        while nid >= 0:
            # a run of SCAN_RUN objects per call; the view (self) is one snapshot for the whole scan
            with self._reading():
                if self._current is None:
                    return
                sets, nid = latest_run(_live(self._current), nid, last, SCAN_RUN)
            yield from sets

    def iter_sets(self, first_id=None, last_id=None, *, as_of=None, source=_ANY):
        """Iterator of every stored set in key order (id, epoch, arrival).  Constant memory.
        ``as_of`` / ``source``: as ``latest``."""
        first = 0 if first_id is None else _check_norad(first_id)
        last = MAX_NORAD_ID if last_id is None else _check_norad(last_id)
        if as_of is not None or source is not _ANY:
            b, sid = self._sel(as_of, source)
            ids = (versioned_objects(self._reading, self._elsets, self._revisions, first, last)
                   if b is not None else self.objects(first, last))
            for norad in ids:
                for _, v in self._versions(norad, b, sid):
                    if v[0] != TOMB:
                        yield decode_record(v)
            return
        for _, v in self._range(self._elsets, object_lo(first), _object_end(last)):
            if v[0] != TOMB:
                yield decode_record(v)

    def find(self, text: str, *, contains: bool = False, as_of: Optional[TimeLike] = None,
             source: Any = _ANY) -> List[ElementSet]:
        """Latest sets of the objects matching text, ascending id, as a list (``oor.lookups.find_ids``).

        text is a COSPAR id (``1998-067A``; ``1998-067`` gives every piece of
        the launch; the TLE form ``98067A`` works too; ``2022-`` every object
        launched in 2022), a catalog number (``25544``, alpha-5 ``T0288``),
        or a name prefix, case-insensitive (``iss`` finds ``ISS (ZARYA)``);
        ``contains=True``: names containing text anywhere (CelesTrak's ``NAME=``).
        """
        if not isinstance(text, str):
            raise TypeError("find() takes a str")
        ids = find_ids(self._range, self._names, self._cospar, self.__contains__, text, contains, self._index_ids)
        if as_of is None and source is _ANY:
            return [es for es in self.latest_many(sorted(ids)) if es is not None]
        out = []
        b, sid = self._sel(as_of, source)
        for norad in sorted(ids):
            es = self._latest_sel(norad, b, sid)
            if es is not None:
                out.append(es)
        return out

    # ---- queries (thin doors into oor.query; docs/query.md) --------------------------------------
    def reader(self):
        """What the query layer reads through (oor.query.Reader): trees, a read guard, the source table."""
        from oor.query.source import Reader
        return Reader(self._reading, self._elsets, self._names, self._cospar, self.sources(), self.path, hold=self)

    def query(self, *, now: Optional[TimeLike] = None) -> Query:
        """A Query over this registry: ``reg.query().where(inclination__gt=80).select(...)`` (oor.query.Query)."""
        from oor.query.query import Query
        return Query(self.reader(), now=now)

    def merge(self, sources: Optional[List[str]] = None, policy: Any = "newest") -> MergeResult:
        """One winner per object across stored sources, with a conflict report (oor.query.MergeResult).

        policy: "newest" or a list of source names in priority order."""
        from oor.query.merge import merge_stored
        return merge_stored(self.reader(), sources, policy)

    def screen(self, norad_id: int, pad_km: float = 10.0, geometry: bool = True) -> ScreenResult:
        """Conjunction screening prefilter: objects that may come within pad_km of norad_id
        (oor.query.ScreenResult)."""
        from oor.query.screen import screen
        return screen(self.reader(), _check_norad(norad_id), pad_km, geometry)

    def export(self, dest: Any, *, format: Optional[str] = None, latest: bool = True, at: Optional[TimeLike] = None, mode: str = "before",
               max_age: Optional[DurationLike] = None, first_id: Optional[int] = None, last_id: Optional[int] = None,
               skip_unrepresentable: bool = False, as_of: Optional[TimeLike] = None, source: Any = _ANY) -> int:
        """Write sets to a path ('-' = stdout, '.gz' compresses) or open file; returns the count written.

        ``latest=True``: the newest set of each object; ``latest=False``: every
        set (id, epoch order); ``at=t``: for each object the set ``at(id, t,
        mode, max_age)`` returns (objects with none are left out).  ``format``:
        a name of ``oor.codec.formats`` or "parquet" (pyarrow); default: the
        extension of a path (``latest.xml`` -> omm-xml), else 3le; a format the
        extension contradicts is a ValueError.  Sets read from TLE text
        are written as their exact lines.  A path is replaced atomically; a set
        the format cannot hold raises UnrepresentableError, or is left out and
        counted in the result's ``.skipped`` with ``skip_unrepresentable=True``.  ``as_of`` / ``source``:
        as ``latest`` (the registry as it was at that time; one source's sets).
        """
        path = dest if isinstance(dest, (str, os.PathLike)) else None
        fmt = resolve_format(format, path, "3le", WRITE_FORMATS + ("parquet",))
        if as_of is not None:
            as_of = to_datetime(as_of)           # one instant for every object ("now-1h" read once)
        sel = {"as_of": as_of, "source": source}
        plain = as_of is None and source is _ANY
        if at is not None:
            check_mode(mode)
            if fmt == "parquet" and mode == "before" and max_age is None and plain:
                from oor.interop import write_parquet
                return WriteCount.make(write_parquet(self.to_arrow(at=at, first_id=first_id, last_id=last_id),
                                                     dest), ())
            sets = (es for es in (self.at(n, at, mode, max_age, **sel)
                                  for n in self.objects(first_id, last_id, as_of=as_of))
                    if es is not None)
        elif fmt == "parquet" and plain:
            from oor.interop import write_parquet
            return WriteCount.make(write_parquet(self.to_arrow(latest=latest, first_id=first_id, last_id=last_id),
                                                 dest), ())
        elif latest and plain:
            sets = _LatestRuns(self, 0 if first_id is None else _check_norad(first_id),
                               MAX_NORAD_ID if last_id is None else _check_norad(last_id))
        elif latest:
            sets = self.scan(first_id, last_id, **sel)
        else:
            sets = self.iter_sets(first_id, last_id, **sel)
        if fmt == "parquet":
            from oor.interop import sets_to_arrow, write_parquet
            return WriteCount.make(write_parquet(sets_to_arrow(sets, self.sources()), dest), ())
        return write_elements(sets, dest, fmt, skip_unrepresentable=skip_unrepresentable)

    # ---- columns for Arrow, pandas, Parquet, DuckDB (oor/interop.py; optional extras arrow, pandas) ----
    def to_arrow(self, *, latest: bool = True, at: Optional[TimeLike] = None, first_id: Optional[int] = None,
                 last_id: Optional[int] = None, columns: Optional[List[str]] = None,
                 as_of: Optional[TimeLike] = None, source: Any = _ANY) -> Any:
        """The sets as a ``pyarrow.Table`` (needs pyarrow: ``pip install 'oor[arrow]'``), one row per set.

        ``latest=True``: the newest set of each object; ``latest=False``: every
        set (id, epoch order); ``at=t``: each object's set valid at t.  Columns
        (``oor.interop.COLUMNS``, or those named in ``columns``): norad_id, name,
        cospar_id, epoch (``timestamp[us, tz=UTC]``), the elements in TLE units,
        classification, ephemeris_type, element_set_no, rev_number, source.
        Read in column batches from the leaf pages (no ElementSet built); with ``as_of`` / ``source``
        (as ``latest``) from the selected sets.
        """
        from oor.interop import to_arrow
        if as_of is not None:
            as_of = to_datetime(as_of)           # one instant for every object
        if as_of is not None or source is not _ANY:
            from oor.interop import sets_to_arrow
            f, l_ = first_id, last_id
            if at is not None:
                sets = (es for es in (self.at(n, at, as_of=as_of, source=source)
                                      for n in self.objects(f, l_, as_of=as_of)) if es is not None)
            elif latest:
                sets = self.scan(f, l_, as_of=as_of, source=source)
            else:
                sets = self.iter_sets(f, l_, as_of=as_of, source=source)
            table = sets_to_arrow(sets, self.sources())
            return table.select(columns) if columns else table
        mode, as_of = ("as_of", _clamp(to_epoch_us(at))) if at is not None else ("latest" if latest else "all", None)
        return to_arrow(self.reader(), mode, as_of, None if first_id is None else _check_norad(first_id),
                        None if last_id is None else _check_norad(last_id), columns)

    def to_pandas(self, *, latest: bool = True, at: Optional[TimeLike] = None, first_id: Optional[int] = None,
                  last_id: Optional[int] = None, columns: Optional[List[str]] = None,
                  as_of: Optional[TimeLike] = None, source: Any = _ANY) -> Any:
        """``to_arrow(...)`` as a ``pandas.DataFrame`` (needs pandas and pyarrow: ``pip install 'oor[pandas]'``);
        ``epoch`` is ``datetime64[us, UTC]``."""
        return self.to_arrow(latest=latest, at=at, first_id=first_id, last_id=last_id,
                             columns=columns, as_of=as_of, source=source).to_pandas()

    def stats(self):
        """Counts (objects, sets, sources, index entries, epoch range), all at one snapshot."""
        objects = sets = deleted = 0
        per_source = Counter()
        prev = None
        oldest = newest = None
        for k, _ in self._range(self._elsets, None, None, 4096):
            norad, us, _seq, sid = split_elset_key(k)
            if us == TOMB_EPOCH:
                deleted += 1
                continue
            sets += 1
            per_source[sid] += 1
            if norad != prev:
                objects += 1
                prev = norad
            oldest = us if oldest is None or us < oldest else oldest
            newest = us if newest is None or us > newest else newest
        with self._reading():
            names = {v: k for k, v in self.sources().items()}
            n_names = sum(1 for _ in self._names.keys()) if self._names is not None else 0
            n_cospar = sum(1 for _ in self._cospar.keys()) if self._cospar is not None else 0
            n_revisions = sum(1 for _ in self._revisions.keys()) if self._revisions is not None else 0
            n_commits = sum(1 for _ in self._commits.keys()) if self._commits is not None else 0
        return {"path": self.path, "objects": objects, "element_sets": sets, "deleted_objects": deleted,
                "revisions": n_revisions, "commits": n_commits,
                "sources": {("(none)" if sid == 0 else names.get(sid, f"#{sid}")): n
                            for sid, n in sorted(per_source.items())},
                "name_entries": n_names, "cospar_entries": n_cospar,
                "oldest_epoch": us_to_iso(oldest), "newest_epoch": us_to_iso(newest)}

    def _check_trees(self):
        """Problems found, as strings naming the page, tree or index entry; empty when clean.

        In order: the Database's checks (pages, trees and page ownership, the
        log: ``Database.check``); the sources tree maps both ways
        (``_check_sources``); every primary key is 14 bytes and agrees with its
        valid record (codec conditions 1-9, ``_check_primary``); each index
        holds exactly the entries and counts the primary tree implies
        (``_check_index``, the rule of ``oor.index_counts``).
        """
        trees = self._trees()
        missing = [n for n, t in zip(TREES, trees) if t is None]
        if missing:
            if all(t is None for t in trees):
                return []
            if missing != ["latest"] or self._stored_format() != FORMAT_NO_LATEST:
                return [f"tree {n}: missing" for n in missing]
        src, problems = self._check_sources()
        stamps, more = self._check_commits()
        problems += more
        pc, more = self._check_primary(src, stamps)
        problems += more
        problems += self._check_revisions(src, stamps)
        for i, (label, tree) in enumerate(zip(index_counts.INDEXES, (self._names, self._cospar))):
            problems += self._check_index(i, label, tree, pc, src, stamps)
        if self._latest is not None:
            for chunk in self._chunks(self._latest):
                pc.take_latest(chunk)
            if not pc.latest_clean():
                problems += self._latest_exact(pc.objects)
        return problems

    def _trees(self):
        return (self._elsets, self._sources, self._names, self._cospar, self._revisions, self._commits,
                self._info, self._latest)

    def _stored_format(self):
        """info["format"] as an int (None when absent or malformed)."""
        if self._info is None:
            return None
        with self._reading():
            b = self._info.get(b"format")
        return unpack_u16(b) if b is not None and len(b) == 2 else None

    def _latest_exact(self, objects):
        """Problems of the latest tree (invariant 26), each named: strictly increasing objects, each entry
        its object's last elsets entry (one seek each), and one entry per object of elsets (objects: the
        primary pass's count).  Memory: one chunk.  Run only when the check's sums disagree (a damaged
        file); an object with no latest entry shows as the count's difference."""
        problems = []
        n, prev = 0, None
        for chunk in self._chunks(self._latest):
            n += len(chunk)
            with self._reading():
                for k, v in chunk:
                    if len(k) != KEY_SIZE:
                        problems.append(f"tree latest: key {k.hex()} is {len(k)} bytes, not {KEY_SIZE}")
                        continue
                    norad = split_elset_key(k)[0]
                    if prev is not None and norad <= prev:
                        problems.append(f"tree latest: NORAD {norad} has more than one entry")
                    prev = norad
                    last = self._elsets.cursor().seek(object_hi(norad), "<=")
                    if last is None or last[0][:4] != k[:4]:
                        problems.append(f"tree latest: NORAD {norad} has an entry but no elsets entry")
                    elif last[0] != k:
                        problems.append(f"tree latest: NORAD {norad}: entry {k.hex()} is not its last elsets "
                                        f"entry {last[0].hex()}")
                    elif last[1] != v:
                        problems.append(f"tree latest: NORAD {norad}: the value under {k.hex()} differs from "
                                        f"elsets'")
        if n != objects:
            problems.append(f"tree latest: {n:,} entries for the {objects:,} objects of elsets (one each)")
        return problems

    def _check_commits(self):
        """(set of committed stamps, problems): keys 8 bytes, values 8 bytes, stamp <= commit time, both
        strictly increasing (keys.py condition 5), and info["format"] is 3 (2 in a file without the
        latest tree)."""
        problems = []
        stamps = set()
        prev_t = None
        for k, v in self._range(self._commits, None, None, 4096):
            if len(k) != 8 or len(v) != 8:
                problems.append(f"tree commits: entry {k.hex()} -> {v.hex()} is not 8 + 8 bytes")
                continue
            st, t = split_stamp_key(k), unpack_time(v)
            if t < st or (prev_t is not None and st <= prev_t):
                problems.append(f"tree commits: stamp {us_to_iso(st)} committed {us_to_iso(t)} is out of order "
                                f"(a stamp must exceed the previous commit time)")
            stamps.add(st)
            prev_t = t
        with self._reading():
            fmt = self._info.get(b"format")
        want = FORMAT if self._latest is not None else FORMAT_NO_LATEST
        if fmt is None or len(fmt) != 2 or unpack_u16(fmt) != want:
            problems.append(f"tree info: registry format is {fmt!r}, expected {want}"
                            + ("" if want == FORMAT else " (a file without the latest tree)"))
        return stamps, problems

    def _check_sources(self):
        """({source id: name}, problems): the sources tree maps names to ids and back, one to one."""
        problems = []
        src = {}
        with self._reading():
            for k, v in self._sources.items():
                if k[:1] == b"n":
                    src_id = unpack_u16(v)
                    back = self._sources.get(b"i" + v)
                    if back != k[1:]:
                        problems.append(f"tree sources: name {k[1:]!r} -> id {src_id}, but id {src_id} -> {back!r}")
                    src[src_id] = k[1:].decode("utf-8", "replace")
                elif k[:1] == b"i":
                    if len(k) != 3 or self._sources.get(b"n" + v) != k[1:]:
                        problems.append(f"tree sources: id entry {k!r} -> {v!r} has no matching name entry")
                else:
                    problems.append(f"tree sources: unexpected key {k!r}")
        src[0] = None
        return src, problems

    def _check_value(self, tree, k, v, src, stamps, problems):
        """The ElementSet of one stored value (None for a tombstone or a bad value, reported in problems)."""
        norad, us, _seq, sid = split_elset_key(k)
        if v and is_tombstone(v):
            if us != TOMB_EPOCH or sid != 0 or len(v) < 9:
                problems.append(f"tree {tree}: tombstone under key {k.hex()} (NORAD {norad}) must have the "
                                f"maximum epoch and source 0")
            else:
                try:
                    arrival = split_tombstone(v)[0]
                except UnicodeDecodeError:
                    problems.append(f"tree {tree}: tombstone of NORAD {norad}: reason is not UTF-8")
                    return None
                if arrival not in stamps:
                    problems.append(f"tree {tree}: tombstone of NORAD {norad} arrived at {us_to_iso(arrival)}, "
                                    f"a stamp with no commits entry")
            return None
        try:
            es = check_record(v)
        except ValueError as exc:
            problems.append(f"tree {tree}: record of key {k.hex()} (NORAD {norad}): {exc}")
            return None
        if es.norad_id != norad or es.epoch_us != us:
            problems.append(f"tree {tree}: key {k.hex()} says NORAD {norad} epoch_us {us}, record holds "
                            f"{es.norad_id} / {es.epoch_us}")
        if sid not in src:
            problems.append(f"tree {tree}: key {k.hex()} names unknown source id {sid}")
        elif src[sid] != es.source:
            problems.append(f"tree {tree}: key {k.hex()} has source id {sid} ({src[sid]!r}), record says "
                            f"{es.source!r}")
        if es.arrival_us is not None and es.arrival_us not in stamps:
            problems.append(f"tree {tree}: set of NORAD {norad} epoch {us_to_iso(us)} arrived at "
                            f"{us_to_iso(es.arrival_us)}, a stamp with no commits entry")
        return es

    def _check_revisions(self, src, stamps):
        """Problems of the revisions tree: key size, superseding stamp committed and after the value's arrival,
        valid values."""
        problems = []
        for rk, rv in self._range(self._revisions, None, None, 4096):
            if len(rk) != REV_KEY_SIZE or len(rv) < 2:
                problems.append(f"tree revisions: entry {rk.hex()} is malformed")
                continue
            k, sup = split_revision_key(rk)
            try:
                _why, v = split_revision_value(rv)
            except (UnicodeDecodeError, ValueError):
                problems.append(f"tree revisions: entry {rk.hex()}: reason is not UTF-8")
                continue
            if not v:
                problems.append(f"tree revisions: entry {rk.hex()} holds no value")
                continue
            self._check_value("revisions", k, v, src, stamps, problems)
            if sup not in stamps:
                problems.append(f"tree revisions: entry {rk.hex()} was superseded at {us_to_iso(sup)}, a stamp "
                                f"with no commits entry")
            if arrival_of_safe(v) >= sup:
                problems.append(f"tree revisions: entry {rk.hex()} was superseded at {us_to_iso(sup)}, not after "
                                f"its arrival")
        return problems

    def _chunks(self, tree, batch=4096):
        """Lists of up to batch (key, value) pairs of the whole tree, in key order, each read under the lock."""
        lo = None
        while True:
            with self._reading():
                chunk = list(islice(tree.items(lo, None), batch))
            if chunk:
                yield chunk
            if len(chunk) < batch:
                return
            lo = chunk[-1][0] + b"\x00"

    def _primary_check(self, src, stamps):
        """(PrimaryCheck, problems) ready to take the elsets records and index entries: records it
        does not decide go to ``_check_value`` here, which words every problem."""
        problems = []
        pc = PrimaryCheck(stamps, {sid: name.encode("utf-8") for sid, name in src.items() if sid}, problems)
        texts = index_counts.index_texts

        def slow(k, v):
            es = self._check_value("elsets", k, v, src, stamps, problems)
            if es is not None:
                norad = split_elset_key(k)[0]
                for i, text in enumerate(texts(es)):
                    if text:
                        pc.add_key(i, index_key(text, norad))

        pc.slow = slow
        pc.space = self._elsets.pool.space
        return pc, problems

    def _check_primary(self, src, stamps):
        """(PrimaryCheck, problems) of the elsets tree: key size, record validity, key = record, known
        source, arrival committed, tombstones last.

        One pass, per record in C (``oor_core.regcheck``: no ElementSet for a record it finds fine).
        The returned PrimaryCheck holds the index entries the valid records imply, as sums (its doc).
        """
        pc, problems = self._primary_check(src, stamps)
        for chunk in self._chunks(self._elsets):
            pc.feed(chunk)
        return pc, problems

    def _check_index(self, i, label, tree, pc, src, stamps):
        """Problems of index i (label) against the primary tree: malformed, stale, missing, miscounted
        entries.  The entries go through pc's sums (fixed memory); only when they disagree is the exact
        comparison run (``_index_exact``)."""
        for chunk in self._chunks(tree):
            pc.take_index(i, chunk)
        if pc.index_clean(i):
            return []
        return self._index_exact(label, tree, src, stamps)

    def _index_exact(self, label, tree, src, stamps):
        """``index_counts.compare`` of one index against every valid record: names each malformed, stale,
        missing or miscounted entry (memory: one counter per entry).  Run only on a damaged file."""
        want = index_counts.new_expectation()
        for k, v in self._range(self._elsets, None, None, 4096):
            if len(k) == KEY_SIZE:
                es = self._check_value("elsets", k, v, src, stamps, [])
                if es is not None:
                    index_counts.expect(want, es, split_elset_key(k)[0])
        return index_counts.compare(label, self._range(tree, None, None, 4096), want[label])

    def _check_begin(self, out):
        """The registry's part of ``Database.check(deep)`` (a reader's ``oor check``): (leaf visitors,
        finish).  Sources and commits are read first (small trees); the elsets records and both
        indexes are checked as the file's walk passes their leaves, so every page is read once;
        finish() adds the revisions and, where an index's sums disagree, the exact comparison, and
        appends the problems (the order of ``_check_trees``) to out."""
        if any(t is None for t in self._trees()):
            return {}, lambda: out.append(self._check_trees())
        src, problems = self._check_sources()
        stamps, more = self._check_commits()
        problems += more
        pc, prim = self._primary_check(src, stamps)

        def finish():
            problems.extend(prim)
            problems.extend(self._check_revisions(src, stamps))
            for i, (label, tree) in enumerate(zip(index_counts.INDEXES, (self._names, self._cospar))):
                if not pc.index_clean(i):
                    problems.extend(self._index_exact(label, tree, src, stamps))
            if self._latest is not None and not pc.latest_clean():
                problems.extend(self._latest_exact(pc.objects))
            out.append(problems)

        return {"elsets": pc.visit_elsets, "names": pc.visit_names, "cospar": pc.visit_cospar,
                "latest": pc.visit_latest}, finish


class _CheckView(_Reads):
    """The trees as Database.check's walk sees them (its snapshot), for ``_check_begin``."""

    def __init__(self, path, tree_of):
        self.path = path
        _bind_trees(self, tree_of)

    def _reading(self):
        return _NO_LOCK



class Registry(_Reads):
    """An open registry file.  Use ``oor.open(path)``; a context manager.

    Who may call: anyone.  All lookups are O(log n) seeks: ``latest`` and
    ``at`` are one seek each; ``history`` one seek plus the sets returned.
    """

    def __init__(self, path: PathLike, *, create: bool = True, read_only: bool = False, pool_pages: int = DEFAULT_POOL_PAGES,
                 sync: str = "full", **storage: Any) -> None:
        self.path = os.fspath(path)
        self.read_only = read_only
        self.db = Database(self.path, create=create, read_only=read_only, pool_pages=pool_pages, sync=sync,
                           **storage)
        self._src_id = {}        # source name -> id  (cache of the sources tree)
        self._src_name = {0: None}
        self._next_src = None
        self._counts = None      # IndexCounts over the names and cospar trees
        self._tracking = None    # keys written by a snapshot-based transaction (conflict check)
        self._stamp = None       # the running transaction's arrival stamp (taken at its first write)
        self._last_commit = None # commit time of the last registry commit (the next stamp exceeds it)
        self._revs_empty = None  # whether the revs tree is empty (then an insert skips its seq seek)
        _bind_trees(self, lambda n: None)
        try:
            self._open_trees()
        except BaseException:
            self.db.close()
            raise

    def _open_trees(self):
        if self.read_only:
            with self.db.snapshot() as snap:      # every read runs at a snapshot; only the format is checked
                have = set(snap.tree_names())
                _check_format(self.path, have, snap.tree("info") if "info" in have else None)
            return
        have = set(self.db.tree_names())
        fmt = _check_format(self.path, have, self.db.tree("info") if "info" in have else None)
        if fmt == FORMAT_NO_LATEST:
            self._upgrade_latest()
        elif not have.issuperset(TREES):
            with self.db.transaction():
                for name in TREES:
                    self.db.tree(name, create=True)
                self.db.tree("info").upsert(b"format", pack_u16(FORMAT))
        have = set(self.db.tree_names())
        _bind_trees(self, lambda n: self.db.tree(n) if n in have else None)
        self._counts = IndexCounts(self._names, self._cospar)

    def _upgrade_latest(self):
        """Format 2 -> 3 in place, in one transaction: the latest tree built from elsets (the last entry of
        each object, in key order), then info["format"] = 3 (docs/latest.md).  A crash before the commit
        leaves the format-2 file as it was."""
        with self.db.transaction():
            lt = self.db.tree("latest", create=True)
            for k, v in last_entries(self.db.tree("elsets").items()):
                lt.insert(k, v)
            self.db.tree("info").upsert(b"format", pack_u16(FORMAT))

    # ---- the latest tree (docs/latest.md, invariant 26) ---------------------------------------
    def _set_latest(self, lo4, key, value):
        """The latest entry of object lo4 (its 4-byte key prefix) becomes (key, value)."""
        lt = self._latest
        old = lt.cursor().seek(lo4 + _FF12, "<=")
        if old is not None and old[0][:4] == lo4:
            if old[0] == key:
                lt.upsert(key, value)
                return
            lt.delete(old[0])
        lt.insert(key, value)

    def _sync_latest(self, norad_id):
        """Bring norad_id's latest entry to its last elsets entry (nothing written when they agree)."""
        lo4, hi = object_lo(norad_id), object_hi(norad_id)
        last = self._elsets.cursor().seek(hi, "<=")
        if last is not None and last[0][:4] != lo4:
            last = None
        lt = self._latest
        cur = lt.cursor().seek(hi, "<=")
        if cur is not None and cur[0][:4] != lo4:
            cur = None
        if cur == last:
            return
        if last is None:
            lt.delete(cur[0])
        else:
            self._set_latest(lo4, last[0], last[1])

    # ---- life cycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Checkpoint and close the file (idempotent)."""
        self.db.close()

    @property
    def closed(self) -> bool:
        return self.db.closed

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self):
        return f"<oor.Registry {self.path!r}{' read-only' if self.read_only else ''}{' closed' if self.closed else ''}>"

    def transaction(self, snapshot: Optional[RegistrySnapshot] = None) -> RegistryTransaction:
        """A write transaction (context manager; a RegistryTransaction): commit on success, abort (undo
        everything) on exception.  It offers the read methods too and reads its own writes.

        Nested calls are savepoints: an exception leaving the inner block, or its abort(), undoes exactly
        the inner work, and the outer transaction goes on (docs/durability.md).  snapshot: base it on a
        RegistrySnapshot; its commit then fails with ConflictError if a key it writes changed since.
        """
        return RegistryTransaction(self, snapshot)

    def checkpoint(self) -> None:
        """Make every committed change durable in the data file (and let the WAL shrink)."""
        self.db.checkpoint()

    def _forget(self):
        """Drop caches that an abort could make stale."""
        self._revs_empty = None
        self._src_id = {}
        self._src_name = {0: None}
        self._next_src = None

    # ---- sources -----------------------------------------------------------------------------
    def _source_id(self, name, create):
        """u16 id of a source name (0 for None); None when unknown and not create.  Caller holds the lock."""
        if name is None:
            return 0
        sid = self._src_id.get(name)
        if sid is not None:
            return sid
        if self._sources is None:
            return None
        b = self._sources.get(b"n" + name.encode("utf-8"))
        if b is not None:
            sid = unpack_u16(b)
        elif not create:
            return None
        else:
            if self._next_src is None:
                last = self._sources.cursor().seek(b"j", "<")
                self._next_src = unpack_u16(last[0][1:3]) + 1 if last and last[0][:1] == b"i" else 1
            sid = self._next_src
            if sid > MAX_SOURCE_ID:
                raise OorError(f"{self.path}: too many distinct sources (at most {MAX_SOURCE_ID})")
            self._sources.insert(b"n" + name.encode("utf-8"), pack_u16(sid))
            self._sources.insert(b"i" + pack_u16(sid), name.encode("utf-8"))
            self._next_src = sid + 1
        self._src_id[name] = sid
        self._src_name[sid] = name
        return sid

    # ---- arrival stamps and commits (docs/revisions.md, rule 4) --------------------------------
    def _tx_stamp(self):
        """The running transaction's arrival stamp, taken at its first registry write: now (us since
        1950), and above the previous commit's time."""
        if self._stamp is None:
            if self._last_commit is None:
                last = self._commits.last() if self._commits is not None else None
                self._last_commit = unpack_time(last[1]) if last is not None else MIN_EPOCH_US
            self._stamp = max(_now_us(), self._last_commit + 1)
        return self._stamp

    def _before_commit(self):
        """Write commits[stamp] = commit time into the outermost transaction, just before its COMMIT (under
        the writer's lock, like every use of the stamp state: the next transaction resets it when it begins).
        The next stamp must exceed this commit time even if the COMMIT then fails: a higher floor is harmless."""
        if self._stamp is not None:
            t = max(_now_us(), self._stamp)
            self._commits.insert(stamp_key(self._stamp), pack_time(t))
            self._last_commit = t
            self._stamp = None

    def _supersede(self, key, value, stamp, why):
        """Keep value (what key held) as a revision superseded at stamp -- unless it arrived in this same
        transaction (nobody ever saw it)."""
        if arrival_of(value) == stamp:
            return
        self._revs_empty = False
        try:
            self._revisions.insert(revision_key(key, stamp), revision_value(why, value))
        except KeyError:
            pass                       # superseded twice in one transaction: the first (committed) one is kept

    # ---- changes -----------------------------------------------------------------------------
    def put(self, element_set: ElementSet) -> str:
        """Store one ElementSet; returns "inserted", "updated" or "unchanged".  O(log n).

        A set is stored unless the same set is stored already: same object, epoch, source and element
        values (docs/revisions.md, rule 2).  A repeat only adds what it brings (a name, exact TLE text, OMM
        keywords) and counts "updated" if it did, "unchanged" if not; a repeat with another name renames
        the set.  Nothing is lost: the version it replaced stays readable (``history(revisions=True)``,
        ``as_of``).
        """
        if not isinstance(element_set, ElementSet):
            raise TypeError(f"put() takes an ElementSet, not {type(element_set).__name__}")
        with self.transaction():
            return self._put(element_set)

    def _put(self, es):
        """put() inside a running transaction.  The common case -- a new set -- costs one seek (no set at
        that (object, epoch) yet), the encode, and the insert."""
        sid = self._source_id(es.source, True)
        norad, epoch = es.norad_id, es.epoch_us
        if epoch >= TOMB_EPOCH:
            raise ValueError(f"NORAD {norad}: epoch_us {epoch} is the registry's reserved maximum")
        prefix = _EPOCH_KEY.pack(norad, epoch + SIGN)
        if self._tracking is not None:
            self._tracking.add((prefix, prefix + _FF4))
        elsets = self._elsets
        c = elsets.cursor()
        item = c.seek(prefix, ">=")
        seq = 0
        if item is not None and item[0][:12] == prefix:       # other sets at this (object, epoch)
            same = None
            sid_b = pack_u16(sid)
            while item is not None and item[0][:12] == prefix:
                k, v = item
                seq = unpack_u16(k[12:14]) + 1
                if same is None and k[14:16] == sid_b:
                    old = decode_record(v)
                    if old.same_elements(es):
                        same = (k, v, old)
                item = c.next()
            if same is not None:
                return self._merge(same, es)
        stamp = self._stamp or self._tx_stamp()
        if self._revs_empty is None:
            self._revs_empty = self._revisions.last() is None
        if not self._revs_empty:
            r = self._revisions.cursor().seek(prefix + _FF4, "<=")
            if r is not None and r[0][:12] == prefix:
                seq = max(seq, unpack_u16(r[0][12:14]) + 1)     # a deleted set's seq is not reused
        if seq > MAX_SEQ:
            raise OorError(f"{self.path}: NORAD {norad} has {MAX_SEQ + 1} distinct sets at epoch "
                           f"{us_to_iso(epoch)}; no more can be stored")
        rec = encode_record(es, stamp)
        key = prefix + _SEQ_SRC.pack(seq, sid)
        elsets.insert(key, rec)
        self._counts.add(es, rec)
        lo4 = prefix[:4]
        if item is None or item[0][:4] != lo4:
            # no later key of this object: the new set is its newest (docs/latest.md)
            self._set_latest(lo4, key, rec)
        elif item[1][0] == TOMB:
            # the new set is the object's newest: the deleted object is back (its tombstone is kept as a revision)
            if self._tracking is not None:
                self._tracking.add(item[0])
            elsets.delete(item[0])
            self._supersede(item[0], item[1], stamp, "revived")
            self._set_latest(lo4, key, rec)
        return INSERTED

    def _merge(self, same, es):
        """A repeat of a stored set: add what it brings (rule 3); UNCHANGED (nothing written) when it brings
        nothing."""
        key, old_v, old = same
        merged = merge_sets(old, es)
        if merged is None:
            return UNCHANGED
        stamp = self._tx_stamp()
        rec = encode_record(merged, stamp)
        self._elsets.upsert(key, rec)
        self._supersede(key, old_v, stamp, "renamed" if merged.name != old.name else "updated")
        self._counts.replace(old, merged)
        self._sync_latest(merged.norad_id)
        return UPDATED

    def delete(self, norad_id: int, epoch: Optional[TimeLike] = None, *, source: Any = _ANY,
               reason: Optional[str] = None) -> int:
        """Delete sets; nothing is destroyed (docs/revisions.md, rule 6).

        ``delete(id)`` (no epoch, no source): the object is deleted -- a tombstone makes ``latest``,
        ``scan`` and ``find`` leave it out, while its history stays readable; returns how many sets it
        holds (0, and nothing written, when it holds none or is deleted already).  A later set newer than
        all of its sets brings it back.  With ``epoch`` and/or ``source``: those sets are superseded (gone
        from every current read, kept for ``as_of`` and ``history(revisions=True)``); returns how many.
        ``reason`` is kept with the tombstone or the superseded versions.
        """
        _check_norad(norad_id)
        if reason is not None and not isinstance(reason, str):
            raise TypeError("reason must be a str")
        with self.transaction():
            if self._elsets is None:
                return 0
            if epoch is None and source is _ANY:
                return self._tombstone(norad_id, reason)
            if epoch is None:
                lo, hi = object_lo(norad_id), object_hi(norad_id)
            else:
                us = min(_clamp(to_epoch_us(epoch)), TOMB_EPOCH - 1)
                lo, hi = epoch_lo(norad_id, us), epoch_hi(norad_id, us)
            sid = None
            if source is not _ANY:
                sid = self._source_id(source, False)
                if sid is None:
                    return 0
            doomed = [(k, v) for k, v in self._elsets.items(lo, hi)
                      if v[0] != TOMB and (sid is None or unpack_u16(k[14:16]) == sid)]
            if self._tracking is not None:
                self._tracking.update(k for k, _ in doomed)
            if not doomed:
                return 0
            stamp = self._tx_stamp()
            for key, rec in doomed:
                self._elsets.delete(key)
                self._supersede(key, rec, stamp, reason or "deleted")
                self._counts.remove(decode_record(rec))
            self._sync_latest(norad_id)
            return len(doomed)

    def _tombstone(self, norad_id, reason):
        last = self._elsets.cursor().seek(object_hi(norad_id), "<=")
        if last is None or last[0][:4] != object_lo(norad_id) or last[1][0] == TOMB:
            return 0
        if self._tracking is not None:
            self._tracking.add((object_lo(norad_id), object_lo(norad_id + 1)))
        n = sum(1 for _ in self._elsets.keys(object_lo(norad_id), object_hi(norad_id)))
        key, value = elset_key(norad_id, TOMB_EPOCH, 0, 0), tombstone(self._tx_stamp(), reason)
        self._elsets.insert(key, value)
        self._set_latest(object_lo(norad_id), key, value)
        return n

    def prune(self, before: TimeLike, *, keep_latest: int = 0, purge_deleted: bool = False) -> PruneReport:
        """Remove superseded versions older than ``before`` (docs/revisions.md, rule 8); returns a PruneReport.

        Removed: versions superseded by a transaction that committed before ``before`` -- except each
        object's ``keep_latest`` newest.  Never removed: any current set, any current tombstone (with
        ``purge_deleted=True``, objects deleted before ``before`` go entirely, sets and history).  Every
        ``as_of`` answer at or after ``before`` stays the same; live snapshots are not affected.  The
        space is reused by later writes; ``compact()`` gives it back to the file system.
        """
        if keep_latest < 0:
            raise ValueError("keep_latest must be >= 0")
        t = _clamp(to_epoch_us(before))
        with self.transaction():
            b = bound(self.db.reading, self._commits, t)

            def removed(key, value):
                self._counts.remove(decode_record(value))
            return prune_trees(self._elsets, self._revisions, b, keep_latest, purge_deleted, removed,
                               self._sync_latest)

    # ---- reads: each call at one snapshot (docs/concurrency.md) ------------------------------
    def snapshot(self) -> RegistrySnapshot:
        """A read-only view frozen at the last commit, for as long as it is held (a context manager
        offering every read method); the writer goes on committing meanwhile and never waits for it."""
        self._require_reads()
        return RegistrySnapshot(self, self.db.snapshot())

    def _require_reads(self):
        if self.db.closed:
            raise OorError(f"{self.path}: registry is closed")

    def _reads(self):
        """What one read call runs on: a fresh snapshot -- or, in the thread running a transaction,
        that transaction's own view (its writes included), as inside ``with reg.transaction():``."""
        if self.db.in_own_transaction():
            return _OwnReads(self)
        return self.snapshot()

    def latest(self, norad_id: int, *, as_of: Optional[TimeLike] = None,
               source: Any = _ANY) -> Optional[ElementSet]:
        """The newest set of an object, or None (also when it was deleted).  One seek, at one snapshot.

        At equal epochs the last arrival wins.  ``as_of``: as the registry answered at that wall-clock
        time; ``source``: only that source's sets (docs/revisions.md).
        """
        db = self.db
        if as_of is None and source is _ANY and (db.tx_thread is None or not db.in_own_transaction()):
            es = gate_latest(db.gate, norad_id)      # the common case: one C call (checks norad_id)
            if es is not NOT_GATED:
                return es
        if as_of is not None or source is not _ANY:
            _check_norad(norad_id)
            with self._reads() as v:
                return v.latest(norad_id, as_of=as_of, source=source)
        if db.tx_thread is not None and db.in_own_transaction():
            _check_norad(norad_id)
            with db.reading():
                return _latest_in(self._current, norad_id)
        view = db.acquire_view()
        try:
            tree = current_tree(view)
            if tree is None:
                _check_norad(norad_id)
                return None
            return latest_set(tree, norad_id)          # checks norad_id as _check_norad does
        finally:
            db.release_view(view)

    def latest_many(self, ids: Iterable[int], **sel: Any) -> List[Optional[ElementSet]]:
        """[latest(id) for id in ids] as a list, all at one snapshot (None where an object has no
        current set); ``as_of=`` / ``source=``: as ``latest``.  One C call for the batch
        (oor_core.reads.latest_sets): the ids are probed in sorted order, neighbours share a leaf."""
        ids = ids if type(ids) is list else list(ids)
        db = self.db
        if sel or (db.tx_thread is not None and db.in_own_transaction()):
            with self._reads() as v:
                return v.latest_many(ids, **sel)
        view = db.acquire_view()
        try:
            tree = current_tree(view)
            return [None] * len(ids) if tree is None else latest_sets(tree, ids)
        finally:
            db.release_view(view)

    def at(self, norad_id: int, when: TimeLike, mode: str = "before",
           max_age: Optional[DurationLike] = None, **sel: Any) -> Optional[ElementSet]:
        """The set of an object at a time, or None, at one snapshot.  ``mode``: "before" (default: the
        newest set with epoch <= when), "after" or "nearest"; ``max_age``: None unless the set lies within
        that much of when (rules: ``oor.lookups``; times: ``oor.times``); ``as_of=`` / ``source=``: as
        ``latest``."""
        db = self.db
        if sel or (db.tx_thread is not None and db.in_own_transaction()):
            with self._reads() as v:
                return v.at(norad_id, when, mode, max_age, **sel)
        code = _AT_MODE.get(mode) if type(mode) is str else None
        if code is None:
            check_mode(mode)
        us = datetime_us(when)           # a UTC or naive datetime in C; set_at clamps below the tombstone
        if us is None:
            us = to_epoch_us(when)
        age = None if max_age is None else parse_duration(max_age)
        es = gate_at(db.gate, norad_id, us, code, age)     # the common case: one C call
        if es is not NOT_GATED:
            return es
        view = db.acquire_view()         # one lookup: the bare view, as latest
        try:
            tree = view.tree("elsets")
            return None if tree is None else set_at(tree, norad_id, us, code, age)
        finally:
            db.release_view(view)

    def history(self, norad_id: int, since: Optional[TimeLike] = None,
                until: Optional[TimeLike] = None, **sel: Any) -> List[Any]:
        """The sets of an object with since <= epoch <= until (both optional), by epoch then arrival, as a
        list; ``as_of=`` / ``source=`` as ``latest``; ``revisions=True``: every version (Revision objects)."""
        db = self.db
        if since is None and until is None and not sel and (db.tx_thread is None or not db.in_own_transaction()):
            sets = gate_history(db.gate, norad_id)      # the common case: one C call (checks norad_id)
            if sets is not NOT_GATED:
                return sets
        if sel or (db.tx_thread is not None and db.in_own_transaction()):
            with self._reads() as v:
                return v.history(norad_id, since, until, **sel)
        _check_norad(norad_id)
        lo_us, hi_us, empty = _history_bounds(since, until)
        view = db.acquire_view()         # one C call: the bare view, as latest
        try:
            tree = view.tree("elsets")
            return [] if empty or tree is None else sets_between(tree, norad_id, lo_us, hi_us)
        finally:
            db.release_view(view)

    def __contains__(self, norad_id: int) -> bool:
        return self.latest(norad_id) is not None

    def objects(self, first_id: Optional[int] = None, last_id: Optional[int] = None,
                **sel: Any) -> Iterator[int]:
        """Iterator of the NORAD ids stored, ascending, within [first_id, last_id] (one snapshot throughout)."""
        with self._reads() as v:
            yield from v.objects(first_id, last_id, **sel)

    def scan(self, first_id: Optional[int] = None, last_id: Optional[int] = None,
             **sel: Any) -> Iterator[ElementSet]:
        """Iterator of the latest set of every object with first_id <= id <= last_id, ascending id
        (deleted objects left out; ``as_of=`` / ``source=`` as ``latest``).

        Constant memory; one walk along the leaves; one snapshot, taken at the call, however long it is
        consumed (``close()`` on the iterator, or dropping it, lets the snapshot go early).
        """
        db = self.db
        if not sel and not db.in_own_transaction():
            nid = 0 if first_id is None else _check_norad(first_id)
            last = MAX_NORAD_ID if last_id is None else _check_norad(last_id)
            # the common case: a C iterator that owns the view (reads.LatestSets)
            return scan_view(db.gate, db.acquire_view(), nid, last, SCAN_RUN)
        return self._scan_reads(first_id, last_id, sel)

    def _scan_reads(self, first_id, last_id, sel):
        with self._reads() as v:
            yield from v.scan(first_id, last_id, **sel)

    def iter_sets(self, first_id: Optional[int] = None, last_id: Optional[int] = None,
                  **sel: Any) -> Iterator[ElementSet]:
        """Iterator of every stored set in key order (id, epoch, arrival), at one snapshot."""
        with self._reads() as v:
            yield from v.iter_sets(first_id, last_id, **sel)

    def find(self, text: str, *, contains: bool = False, **sel: Any) -> List[ElementSet]:
        """Latest sets of the objects matching text (COSPAR id or launch, catalog number, alpha-5, name
        prefix; contains=True: name substring), ascending id, at one snapshot (oor.lookups.find_ids)."""
        with self._reads() as v:
            return v.find(text, contains=contains, **sel)

    def sources(self) -> Dict[str, int]:
        """{source name: id} of every source ever stored (None, id 0, not listed)."""
        with self._reads() as v:
            return v.sources()

    def reader(self) -> Reader:
        """What the query layer reads through (oor.query.Reader): the trees of one snapshot, held as long
        as the reader (and the query built on it) lives."""
        return self._reads().reader()

    def export(self, dest: Any, **kw: Any) -> int:
        """Write sets to a path or open file, all from one snapshot (options: RegistrySnapshot.export)."""
        with self._reads() as v:
            return v.export(dest, **kw)

    def to_arrow(self, **kw: Any) -> Any:
        """The sets as a ``pyarrow.Table``, read at one snapshot (options: RegistrySnapshot.to_arrow)."""
        with self._reads() as v:
            return v.to_arrow(**kw)

    def to_pandas(self, **kw: Any) -> Any:
        """``to_arrow(...)`` as a ``pandas.DataFrame`` (options: RegistrySnapshot.to_pandas)."""
        with self._reads() as v:
            return v.to_pandas(**kw)

    def stats(self) -> Dict[str, Any]:
        """Counts (objects, sets, sources, index entries, epoch range) at one snapshot, the Database's
        file statistics, and the snapshot watermark."""
        with self._reads() as v:
            out = v.stats()
            out["snapshot_lsn"] = v.lsn
        db = self.db.stats()
        out.update({k: db[k] for k in ("file_bytes", "page_count", "free_pages", "trees", "pool")})
        out["watermark"] = db["watermark"]
        out["snapshots"] = db["snapshots"]
        return out

    def check(self) -> List[str]:
        """Problems found, as strings naming the page, tree or index entry; empty when clean.

        In order: the Database's checks (pages, trees and page ownership, the
        log: ``Database.check``); then, at one snapshot, the sources tree maps
        both ways (``_check_sources``); every primary key is 14 bytes and agrees
        with its valid record (codec conditions 1-9, ``_check_primary``); each
        index holds exactly the entries and counts the primary tree implies
        (``_check_index``, the rule of ``oor.index_counts``).
        """
        done = []
        problems = list(self.db.check(lambda tree_of: _CheckView(self.path, tree_of)._check_begin(done)))
        if problems:
            return problems       # trees are not trustworthy; index checks would only add noise
        if done:
            return done[0]        # a reader: checked in the file's own walk (Database.check's deep)
        with self._reads() as v:
            return v._check_trees()

    # ---- load and export ---------------------------------------------------------------------
    def load(self, source: Any, *, format: str = "auto", source_name: Optional[str] = None, strict: bool = False,
             batch: int = 10_000, progress: Any = None) -> LoadReport:
        """Store every element set of a path, open file, ``"-"`` (stdin) or iterable; returns a LoadReport.

        An iterable may hold ElementSets, OMM dicts (CelesTrak JSON or
        Space-Track strings) and ``(line1, line2)`` / ``(name, line1, line2)``
        tuples (``oor.interop.as_element_set``).  ``format``: "auto" or a name of
        ``oor.codec.formats`` (aliases included) for a file input.
        Default mode: good sets are stored (committed every ``batch`` sets, so
        memory stays bounded) and bad ones reported in ``LoadReport.rejected``.
        ``strict=True``: one transaction; the first bad set aborts it (nothing
        is stored) and its TLEParseError is raised.  ``source_name`` is stored
        as every set's source.  A set whose key is stored already counts as
        unchanged when its record is identical, else it replaces the stored one;
        so loading a file twice changes nothing.  ``progress(report)`` is called
        every 1,000 sets.  A KeyboardInterrupt (Ctrl-C) rolls the batch in
        progress back and is raised as ``LoadInterrupted`` whose ``report``
        counts what was committed.
        """
        fmt = "auto" if format == "auto" else canonical_format(format, READ_FORMATS)
        if batch < 1:
            raise ValueError("batch must be >= 1")
        t0 = time.perf_counter()
        report = LoadReport()
        reader = None
        if isinstance(source, (str, bytes, os.PathLike)) or hasattr(source, "read"):
            if isinstance(source, bytes):
                source = os.fsdecode(source)
            reader = read_elements(source, fmt, errors="strict" if strict else "collect", source=source_name)
            sets = iter(reader)
        else:
            from oor.interop import as_element_set
            sets = (as_element_set(item, source_name) for item in source)
        counts = {INSERTED: 0, UPDATED: 0, UNCHANGED: 0}

        def run(n):
            """Store up to n more sets (fewer: the input is done); False when there were none.  The sets go in
            key order, (object, epoch): while they arrive in that order each is stored as it comes; from the
            first that does not, the rest of the batch is held and stored after a stable sort -- sets of one
            key keep their arrival order, so the outcome is the input order's -- so a file in any order fills
            leaves one after another instead of jumping across the tree per set (docs/registry.md, load()).
            (Holding every batch cost an ordered 1M-set load 1-2 s: the sets went cold in the cache.)"""
            k, last, held = 0, None, None
            for es in itertools.islice(sets, n):
                k += 1
                if not isinstance(es, ElementSet):
                    raise TypeError(f"load() got a {type(es).__name__} where an ElementSet was expected")
                if held is None:
                    key = _LOAD_ORDER(es)
                    if last is None or key >= last:
                        last = key
                        store(es)
                        continue
                    held = []
                held.append(es)
            if held:
                held.sort(key=_LOAD_ORDER)
                for es in held:
                    store(es)
            return k == n

        def store(es):
            counts[self._put(es)] += 1
            if progress is not None and (counts[INSERTED] + counts[UPDATED] + counts[UNCHANGED]) % 1000 == 0:
                progress(_fill(report, counts, reader, t0))

        counter = self._counts
        committed = dict(counts)           # the counts as of the last commit (what LoadInterrupted reports)
        try:
            if strict:
                with self.transaction():
                    counter.begin_batch()
                    while run(batch):
                        pass
                    counter.flush_batch()
                committed = dict(counts)
            else:
                done = False
                while not done:
                    with self.transaction():
                        counter.begin_batch()
                        done = not run(batch)
                        counter.flush_batch()
                    committed = dict(counts)
                    if reader is not None and reader.errors:
                        report.rejected.extend(reader.errors)
                        reader.errors.clear()
        except KeyboardInterrupt as exc:
            if isinstance(exc, LoadInterrupted):
                raise
            raise LoadInterrupted(_fill(report, committed, reader, t0)) from None
        finally:
            counter.end_batch()
        return _fill(report, counts, reader, t0)

    # ---- whole-file operations: bodies in oor.archive (docs/revisions.md, rule 9) ----------------------
    def dump(self, dest: Any = "-") -> Dict[str, int]:
        """Write every stored value (sets, tombstones, revisions, sources, commits) as JSON lines, at one
        snapshot, to a path (atomically), "-" or an open text file; returns {"elsets": n, "revs": m}.
        ``oor.restore`` rebuilds exactly this registry from it (dump format: oor/archive.py)."""
        from oor import archive
        with self.snapshot() as snap:
            return archive.dump(snap._snap, dest, self.path)

    def backup(self, dest: PathLike) -> int:
        """Copy the registry, at one snapshot, into the new file dest (full leaves) while writers go on;
        returns dest's size in bytes."""
        from oor import archive
        with self.snapshot() as snap:
            return archive.copy_file(snap._snap, dest)

    def compact(self) -> Any:
        """Rebuild the file with full leaves and replace it atomically (oor.archive.compact); returns a
        CompactReport (bytes before and after).  Refuses while reader processes are attached or this
        process holds a snapshot; other threads' calls meanwhile wait, or fail if the file was swapped."""
        from oor import archive
        if self.read_only:
            raise OorError(f"{self.path}: opened read-only; compaction needs the writer")
        db, report = archive.compact(self.db)
        self.db = db
        self._forget()
        self._tracking = self._stamp = self._last_commit = None
        _bind_trees(self, lambda n: None)
        self._open_trees()
        return report


class RegistryTransaction(_Reads):
    """``reg.transaction()``: a write transaction with the read methods, reading its own writes.

    Invisible to every other reader until its COMMIT is durable.  Based on a snapshot
    (``snap.transaction()`` or ``reg.transaction(snapshot=snap)``), its commit fails
    with ConflictError and stores nothing when a key it wrote -- or read with
    ``latest(id, for_update=True)`` -- was changed by a commit after that snapshot.
    Nested ``with reg.transaction():`` blocks are savepoints (docs/durability.md).
    """

    def __init__(self, reg, snapshot=None):
        self.registry = reg
        self.path = reg.path
        self._first = not reg.db.in_own_transaction()     # the outermost: it writes the commits entry
        self._tx = reg.db.transaction()                    # from here on the writer's lock is held
        if self._first:
            reg._stamp = None                              # this transaction takes its own stamp
        self._outer = reg._tracking is None
        self._base = snapshot
        if self._outer:
            reg._tracking = set() if snapshot is not None else None
        _copy_trees(self, reg)

    def _reading(self):
        return self.registry.db.reading()

    def __enter__(self):
        self._tx.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None and not self._tx.closed:
            try:
                self._check_conflicts()
                if self._first:
                    self.registry._before_commit()
            except BaseException:
                self._close_tracking()
                self.registry._forget()
                self._tx.abort()
                raise
        if exc_type is not None:
            self.registry._forget()
        self._close_tracking()          # while the writer's lock is held: the next transaction's state is its own
        return self._tx.__exit__(exc_type, exc, tb)

    def _close_tracking(self):
        if self._outer:
            self.registry._tracking = None

    def commit(self):
        try:
            self._check_conflicts()
            if self._first:
                self.registry._before_commit()
        except BaseException:
            self.abort()
            raise
        self._close_tracking()
        self._tx.commit()

    def abort(self):
        self.registry._forget()
        self._close_tracking()
        self._tx.abort()

    # ---- writes (inside this transaction) ----
    def put(self, element_set):
        """Store one ElementSet in this transaction; returns "inserted", "updated" or "unchanged"."""
        if not isinstance(element_set, ElementSet):
            raise TypeError(f"put() takes an ElementSet, not {type(element_set).__name__}")
        return self.registry._put(element_set)

    def delete(self, norad_id, epoch=None, *, source=_ANY, reason=None):
        return self.registry.delete(norad_id, epoch, source=source, reason=reason)

    def load(self, source, **kw):
        return self.registry.load(source, **kw)

    def latest(self, norad_id, *, for_update=False, as_of=None, source=_ANY):
        """The newest set of an object as this transaction sees it; for_update: the commit fails with
        ConflictError if another transaction changed the object after this one's snapshot."""
        _check_norad(norad_id)
        if for_update and self.registry._tracking is not None:
            self.registry._tracking.add((object_lo(norad_id), object_lo(norad_id + 1)))
        return super().latest(norad_id, as_of=as_of, source=source)

    def _check_conflicts(self):
        """First committer wins: every key this transaction wrote (or read for update) must be as its
        base snapshot saw it in the state just before this transaction (nobody else writes meanwhile)."""
        base = self._base
        keys = self.registry._tracking
        if not self._outer or base is None or not keys:
            return
        now = self.registry.db.snapshot()     # the state before this transaction's own writes
        try:
            if now.lsn == base.lsn:
                return
            then_t, now_t = base._elsets, now.tree("elsets")
            for k in sorted(keys, key=lambda x: x if isinstance(x, bytes) else x[0]):
                if isinstance(k, tuple):
                    a = list(then_t.items(*k)) if then_t is not None else []
                    b = list(now_t.items(*k)) if now_t is not None else []
                    key = k[0]
                else:
                    a = then_t.get(k) if then_t is not None else None
                    b = now_t.get(k) if now_t is not None else None
                    key = k
                if a != b:
                    norad = split_elset_key(key)[0] if len(key) == KEY_SIZE else int.from_bytes(key[:4], "big")
                    raise ConflictError(f"{self.path}: NORAD {norad} was changed by a commit after this "
                                        f"transaction's snapshot (LSN {base.lsn}); nothing was stored -- "
                                        f"read it again and retry")
        finally:
            now.release()


class _OwnReads(_Reads):
    """The read methods over the writer's trees, for the thread running the transaction (own writes seen)."""

    def __init__(self, reg):
        self.path = reg.path
        self._db = reg.db
        _copy_trees(self, reg)
        self.lsn = reg.db.visible_lsn

    def _reading(self):
        return self._db.reading()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def release(self):
        return None


class RegistrySnapshot(_Reads):
    """``reg.snapshot()``: every read method, frozen at one commit while held.  A context manager.

    ``lsn`` is the snapshot's LSN.  Reads never wait for a writer, in this process
    or another; ``release()`` (or leaving the ``with`` block) lets the writer drop
    the log it kept for this snapshot.  ``transaction()`` begins a write transaction
    based on this snapshot: a key it writes that changed after the snapshot makes
    its commit fail with ConflictError (first committer wins).
    """

    def __init__(self, reg, snap):
        self.path = reg.path
        self.registry = reg
        self._snap = snap
        self.lsn = snap.lsn
        _bind_trees(self, snap.tree)

    def _reading(self):
        return _NO_LOCK

    def release(self):
        """Let the snapshot go (idempotent); its read methods raise OorError afterwards."""
        self._snap.release()
        _bind_trees(self, lambda n: _RELEASED)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return f"<oor.RegistrySnapshot {self.path!r} at LSN {self.lsn}>"

    def check(self):
        """The tree and index checks of Registry.check, at this snapshot."""
        return self._check_trees()

    def transaction(self):
        """A write transaction based on this snapshot (conflict-checked at commit)."""
        return self.registry.transaction(snapshot=self)


def _fill(report, counts, reader, t0):
    report.inserted = counts[INSERTED]
    report.updated = counts[UPDATED]
    report.unchanged = counts[UNCHANGED]
    if reader is not None:
        report.skipped = reader.skipped
    if reader is not None and reader.errors:
        report.rejected.extend(reader.errors)
        reader.errors.clear()
    report.seconds = time.perf_counter() - t0
    return report


def restore(dump: Any, path: PathLike, *, pool_pages: int = DEFAULT_POOL_PAGES) -> Dict[str, int]:
    """Build a new registry at path from an ``oor dump`` (a path, "-" or an open text file): exactly the
    dumped keys and values; refuses an existing path; a damaged line is one OorError naming it, and nothing
    is left behind.  Returns {"elsets": n, "revs": m}."""
    from oor import archive
    return archive.restore(dump, path, pool_pages=pool_pages)


def open(path: PathLike, *, create: bool = True, read_only: bool = False, pool_pages: int = DEFAULT_POOL_PAGES,  # noqa: A001
         sync: str = "full", **storage: Any) -> Registry:
    """Open (by default create) the registry at path; returns a Registry (a context manager).

    Recovers the file first if it was not closed cleanly.  ``storage`` passes the
    log and checkpoint settings on to ``oor.storage.Database`` (``segment_bytes``,
    ``checkpoint_bytes``, ``checkpoint_seconds``, ``sync_interval``).

    >>> import tempfile, os
    >>> with open(os.path.join(tempfile.mkdtemp(), "doc.oor")) as reg:
    ...     reg.latest(25544) is None
    True
    """
    return Registry(path, create=create, read_only=read_only, pool_pages=pool_pages, sync=sync, **storage)
