"""Registry time travel: the versions valid at a time, revision listings, and prune (docs/revisions.md).

Who may import: ``oor.registry`` (its read views and ``Registry.prune``) and tests.
Functions over the trees of one read view and its ``reading()`` guard; no Registry
state.  Key and value layouts are ``oor.keys``'.

A version (a value an ``elsets`` key held) is valid at stamp bound B when it arrived
at or before B and was not superseded at or before B.  ``bound(commits, T)`` turns a
wall-clock time T into B: T itself, unless a transaction took its stamp at or before
T and committed after T -- at T nobody could see it -- and then its stamp - 1.
"""
from __future__ import annotations

import datetime as _dt
from typing import Iterator, List, Optional, Tuple

from oor.codec import decode_record
from oor.keys import (
    KEY_SIZE,
    TOMB_EPOCH,
    is_tombstone,
    object_lo,
    split_elset_key,
    split_revision_key,
    split_revision_value,
    split_stamp_key,
    split_tombstone,
    stamp_key,
    unpack_time,
)
from oor.times import us_to_iso

__all__ = ["bound", "arrival_of", "object_versions", "versioned_objects", "Revision", "revisions_of",
           "prune_trees", "PruneReport"]

_EPOCH_1950 = _dt.datetime(1950, 1, 1, tzinfo=_dt.timezone.utc)
_MAX_NORAD = 999_999_999


def _dt_of(us):
    return None if us is None else _EPOCH_1950 + _dt.timedelta(microseconds=us)


def bound(reading, commits, t_us):
    """The stamp bound B of wall-clock time t_us (module doc).  One seek in ``commits``."""
    if commits is None:
        return t_us
    with reading():
        item = commits.cursor().seek(stamp_key(t_us), "<=")
    if item is not None and unpack_time(item[1]) > t_us:
        return split_stamp_key(item[0]) - 1
    return t_us


def arrival_of(value):
    """Arrival stamp of an elsets value (record or tombstone); 0 for a record without one."""
    if is_tombstone(value):
        return split_tombstone(value)[0]
    a = decode_record(value).arrival_us
    return 0 if a is None else a


def _object_range(norad):
    return object_lo(norad), (object_lo(norad + 1) if norad < _MAX_NORAD else None)


def object_versions(reading, elsets, revisions, norad, b) -> List[Tuple[bytes, bytes]]:
    """[(elsets key, value)] of object norad valid at stamp bound b, ascending key (a tombstone, if valid,
    last).  O(sets + revisions of the object)."""
    lo, hi = _object_range(norad)
    with reading():
        cur = list(elsets.items(lo, hi)) if elsets is not None else []
        revs = list(revisions.items(lo, hi)) if revisions is not None else []
    out = {}
    for k, v in cur:
        if arrival_of(v) <= b:
            out[k] = v
    for rk, rv in revs:
        k, sup = split_revision_key(rk)
        if sup > b:
            v = split_revision_value(rv)[1]
            if arrival_of(v) <= b:
                out[k] = v
    return sorted(out.items())


def versioned_objects(reading, elsets, revisions, first, last) -> Iterator[int]:
    """NORAD ids with any entry (current or superseded) in [first, last], ascending.  One seek per object
    and tree."""
    nid = first
    while nid <= last:
        best = None
        for tree in (elsets, revisions):
            if tree is None:
                continue
            with reading():
                item = tree.cursor().seek(object_lo(nid), ">=")
            if item is not None:
                n = int.from_bytes(item[0][:4], "big")
                best = n if best is None or n < best else best
        if best is None or best > last:
            return
        yield best
        nid = best + 1


class Revision:
    """One version of a stored set (or of an object's tombstone), as ``history(id, revisions=True)`` lists it.

    ``element_set``: the set as this version held it (None for a tombstone); ``tombstone``: this version is a
    deletion marker (``reason`` its reason); ``epoch_us``, ``seq``, ``source_id``: its key; ``arrival_us``:
    the stamp of the transaction that stored it; ``superseded_us``: the stamp of the one that replaced or
    deleted it (None: current), ``superseded_by``: why ("updated", "renamed", "deleted" or the reason given
    to ``delete``, "revived").  ``arrival`` / ``superseded``: the same as UTC datetimes.
    """

    __slots__ = ("element_set", "tombstone", "reason", "norad_id", "epoch_us", "seq", "source_id",
                 "arrival_us", "superseded_us", "superseded_by")

    def __init__(self, key, value, superseded_us=None, superseded_by=None):
        self.norad_id, self.epoch_us, self.seq, self.source_id = split_elset_key(key)
        self.tombstone = is_tombstone(value)
        if self.tombstone:
            self.arrival_us, self.reason = split_tombstone(value)
            self.element_set = None
        else:
            self.element_set = decode_record(value)
            self.arrival_us = self.element_set.arrival_us or 0
            self.reason = None
        self.superseded_us = superseded_us
        self.superseded_by = superseded_by

    @property
    def current(self) -> bool:
        return self.superseded_us is None

    @property
    def arrival(self) -> Optional[_dt.datetime]:
        return _dt_of(self.arrival_us)

    @property
    def superseded(self) -> Optional[_dt.datetime]:
        return _dt_of(self.superseded_us)

    def as_dict(self):
        """A JSON-ready dict (the CLI's ``history --revisions --format json``)."""
        d = {"norad_id": self.norad_id, "epoch": None if self.tombstone else us_to_iso(self.epoch_us),
             "seq": self.seq, "arrival": us_to_iso(self.arrival_us),
             "superseded": us_to_iso(self.superseded_us) if self.superseded_us is not None else None,
             "superseded_by": self.superseded_by, "tombstone": self.tombstone}
        if self.tombstone:
            d["reason"] = self.reason
        else:
            es = self.element_set
            d.update(name=es.name, source=es.source, line1=es.line1, line2=es.line2)
        return d

    def __repr__(self):
        what = f"tombstone {self.reason!r}" if self.tombstone else f"epoch {us_to_iso(self.epoch_us)} seq {self.seq}"
        return (f"<Revision NORAD {self.norad_id} {what} arrived {us_to_iso(self.arrival_us)}"
                f"{'' if self.current else ' superseded ' + us_to_iso(self.superseded_us)}>")


def revisions_of(reading, elsets, revisions, norad) -> List[Revision]:
    """Every version of every set of an object (current and superseded, tombstones too), ordered by key, then
    arrival."""
    lo, hi = _object_range(norad)
    with reading():
        cur = list(elsets.items(lo, hi)) if elsets is not None else []
        revs = list(revisions.items(lo, hi)) if revisions is not None else []
    out = [Revision(k, v) for k, v in cur]
    for rk, rv in revs:
        k, sup = split_revision_key(rk)
        why, v = split_revision_value(rv)
        out.append(Revision(k, v, sup, why))
    out.sort(key=lambda r: (r.norad_id, r.epoch_us, r.seq, r.source_id, r.arrival_us, r.superseded_us is None))
    return out


class PruneReport:
    """What ``Registry.prune`` removed: ``revisions`` (superseded versions), ``tombstones`` (ended ones among
    them), ``objects`` and ``sets`` purged with ``purge_deleted=True``; ``bound_us`` the stamp bound used."""

    __slots__ = ("revisions", "tombstones", "objects", "sets", "bound_us")

    def __init__(self):
        self.revisions = self.tombstones = self.objects = self.sets = 0
        self.bound_us = None

    def summary(self):
        s = f"{self.revisions:,} superseded versions removed ({self.tombstones:,} of them ended tombstones)"
        if self.objects:
            s += f", {self.objects:,} deleted objects purged ({self.sets:,} sets)"
        return s

    __str__ = summary

    def __repr__(self):
        return f"<PruneReport {self.summary()}>"


def prune_trees(elsets, revisions, b, keep_latest, purge_deleted, on_remove_set, on_purged=None):
    """Remove superseded versions with superseding stamp <= b, keeping each object's keep_latest newest;
    with purge_deleted, objects whose current tombstone arrived <= b go entirely (their current sets through
    on_remove_set(key, value), which keeps the index counts; then on_purged(norad), which keeps the latest
    tree).  Inside the caller's transaction."""
    rep = PruneReport()
    rep.bound_us = b
    if revisions is not None:
        per_object = {}
        for rk, rv in list(revisions.items()):
            k, sup = split_revision_key(rk)
            per_object.setdefault(k[:4], []).append((sup, rk, rv))
        for entries in per_object.values():
            entries.sort(reverse=True)                      # newest superseding stamp first
            for i, (sup, rk, rv) in enumerate(entries):
                if sup <= b and i >= keep_latest:
                    revisions.delete(rk)
                    rep.revisions += 1
                    if is_tombstone(split_revision_value(rv)[1]):
                        rep.tombstones += 1
    if purge_deleted and elsets is not None:
        doomed = []
        for k, v in elsets.items():
            if len(k) == KEY_SIZE and split_elset_key(k)[1] == TOMB_EPOCH and is_tombstone(v) \
                    and split_tombstone(v)[0] <= b:
                doomed.append(int.from_bytes(k[:4], "big"))
        for norad in doomed:
            lo, hi = _object_range(norad)
            for k, v in list(elsets.items(lo, hi)):
                elsets.delete(k)
                if not is_tombstone(v):
                    on_remove_set(k, v)
                    rep.sets += 1
            if revisions is not None:
                for rk in list(revisions.keys(lo, hi)):
                    revisions.delete(rk)
                    rep.revisions += 1
            if on_purged is not None:
                on_purged(norad)
            rep.objects += 1
    return rep
