"""Whole-file operations of a registry: dump, restore, backup, compact, upgrade (docs/revisions.md, rule 9).
Format owner of the dump (JSON lines) below.

Who may import: ``oor.registry`` (``Registry.dump`` / ``backup`` / ``compact`` and ``oor.restore`` are thin
calls into this module), ``oor.cli`` (``oor upgrade``), tests.  Caller of the storage layer through its
public API only: ``Database`` (a new file, its trees, ``bulk_load``), ``Snapshot.tree``, ``raise_clean_end``.

Every operation that makes a file builds it under a temporary name beside the target (``<target>.building``),
with every tree bulk-loaded from sorted items into full leaves inside one transaction, closes it cleanly
(fsync), and only then renames it into place (fsync of the directory): a failure at any point leaves the
target as it was and no temporary file behind.

Dump format (``oor dump``): UTF-8 text, one JSON object per line, written at one snapshot.  Floats are
written as Python's ``repr`` writes them (the shortest text that reads back to the same double), so a
restore rebuilds the same bytes.

  line 1   {"oor_dump": 1, "registry_format": 3, "sources": [[id, name], ...], "commits": [[stamp, time], ...]}
           the sources tree (id 1..65535 <-> name) and the commits tree (arrival stamp -> commit time, both
           microseconds since 1950), ascending
  then     one line per ``elsets`` entry, ascending key: {"set": SET} or {"tombstone": TOMB}
  then     one line per ``revs`` entry, ascending key:
           {"revision": {"superseded_us": stamp, "reason": text, "set": SET}}  (or "tombstone": TOMB)
  last     {"end": {"elsets": count, "revs": count}}

  SET   {"norad", "epoch_us", "seq", "source" (name or null), "arrival_us", "origin", "name",
         "fields": {the 16 element fields under their OMM keywords, EPOCH as ISO text},
         "tle": [line1, line2] (only when the set keeps TLE text), "name_prefix": bool (with "tle"),
         "meta": [[keyword, text], ...] (the OMM keywords beyond the elements, file order)}
  TOMB  {"norad", "seq", "arrival_us", "reason"}   (key epoch: the reserved maximum, source 0)

A dump is valid if and only if (checked by ``restore``, which names the line of the first failure):
  1. every line is a JSON object; line 1 is the header with oor_dump 1 and registry_format 3 or 2 (a format-2
     dump holds the same lines: the latest tree is derived, docs/latest.md, never dumped); source ids are
     1..65535 and ids and names unique; commits strictly increase in stamp and in time, time >= stamp;
  2. the entry lines hold the elsets entries, then the revs entries, each part in strictly ascending key,
     and the last line is "end" with those two counts (a dump cut short is refused);
  3. a SET is a valid ElementSet of a source the header names; with "tle", the lines parse and give exactly
     the "fields"; EPOCH agrees with epoch_us;
  4. a revision's superseding stamp is an int and its reason text.
"""
from __future__ import annotations

import io
import json
import os

from oor_core.errors import OorError

from oor import index_counts
from oor.codec import ElementSet, decode_record, encode_record, parse_tle, read_elements
from oor.codec.elements import FLAG_NAME_PREFIX, FLAGS, element_values, us_to_epoch
from oor.codec.io import atomic_output
from oor.codec.omm import format_epoch
from oor.keys import (
    FORMAT,
    FORMAT_NO_LATEST,
    TOMB_EPOCH,
    TREE_NAMES,
    elset_key,
    is_tombstone,
    pack_count,
    pack_u16,
    revision_key,
    revision_value,
    split_elset_key,
    split_revision_key,
    split_revision_value,
    split_stamp_key,
    split_tombstone,
    stamp_key,
    tee_last_entries,
    tombstone,
    pack_time,
    unpack_time,
    unpack_u16,
)
from oor.storage import Database, raise_clean_end
from oor.vfs import OS_VFS

__all__ = ["DUMP_VERSION", "dump", "restore", "copy_file", "compact", "upgrade", "CompactReport", "TREES",
           "FORMAT1_KEY_SIZE"]

DUMP_VERSION = 1
TREES = TREE_NAMES                     # oor.keys owns the list
DUMP_TREES = tuple(n for n in TREES if n != "latest")   # what a dump reads (latest is derived from elsets)
FORMAT1_TREES = ("elsets", "sources", "names", "cospar")
FORMAT1_KEY_SIZE = 14                  # format 1 elsets key: norad u32 | epoch i64 flipped | source u16
BUILD_SUFFIX = ".building"
# Why fill 1.0: the point of these files is their size; a later insert into a full leaf splits it, the
# cost a B+ tree pays anyway.  Measured on ../shared/data: see docs/revisions.md (compact figures).
FULL = 1.0
# A new file's log starts this far above the old file's last LSN: the old writer's close appends a
# checkpoint (a few hundred bytes) after the mark is taken.
LSN_MARGIN = 1 << 20

_OMM = (("NORAD_CAT_ID", 0), ("CLASSIFICATION_TYPE", 1), ("OBJECT_ID", 2), ("EPOCH", 3), ("MEAN_MOTION", 4),
        ("MEAN_MOTION_DOT", 5), ("MEAN_MOTION_DDOT", 6), ("BSTAR", 7), ("EPHEMERIS_TYPE", 8),
        ("ELEMENT_SET_NO", 9), ("INCLINATION", 10), ("RA_OF_ASC_NODE", 11), ("ECCENTRICITY", 12),
        ("ARG_OF_PERICENTER", 13), ("MEAN_ANOMALY", 14), ("REV_AT_EPOCH", 15))
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class DumpError(OorError):
    """A dump line that is not what the dump format says (restore names the file and the line)."""


# ---- the element set <-> JSON --------------------------------------------------------------------
def _fields(es):
    """The 16 element fields under their OMM keywords (values as stored; OBJECT_ID in COSPAR form)."""
    v = element_values(es)
    out = {}
    for key, i in _OMM:
        if i == 2:
            out[key] = es.cospar_id
        elif i == 3:
            out[key] = format_epoch(v[3])
        else:
            out[key] = v[i]
    return out


def _meta_pairs(es):
    pairs = getattr(es, "meta_pairs", None)          # every pair in file order, when the codec keeps them
    if pairs is None:
        pairs = tuple(es.meta.items())
    return [[k, v] for k, v in pairs]


def _set_obj(key, es, source):
    norad, epoch, seq, _sid = split_elset_key(key)
    d = {"norad": norad, "epoch_us": epoch, "seq": seq, "source": source, "arrival_us": es.arrival_us,
         "origin": es.origin, "name": es.name, "fields": _fields(es)}
    if es.has_text:
        d["tle"] = [es.line1, es.line2]
        d["name_prefix"] = bool(element_values(es)[FLAGS] & FLAG_NAME_PREFIX)
    d["meta"] = _meta_pairs(es)
    return d


def _value_obj(key, value, names, where):
    """("set" | "tombstone", JSON object) of one stored elsets value."""
    norad, epoch, seq, sid = split_elset_key(key)
    if is_tombstone(value):
        if epoch != TOMB_EPOCH or sid != 0:
            raise OorError(f"{where}: tombstone of NORAD {norad} under key {key.hex()} (not the reserved "
                           f"epoch and source 0); run `oor check`")
        arrival, reason = split_tombstone(value)
        return "tombstone", {"norad": norad, "seq": seq, "arrival_us": arrival, "reason": reason}
    es = decode_record(value)
    if sid not in names or names[sid] != es.source:
        raise OorError(f"{where}: key {key.hex()} names source id {sid}, its record source {es.source!r}; "
                       f"run `oor check`")
    return "set", _set_obj(key, es, es.source)


def _line(obj):
    return _JSON.encode(obj) + "\n"


# ---- dump ----------------------------------------------------------------------------------------
def dump(snapshot, dest, path="registry"):
    """Write the dump of a registry at one storage snapshot (``Database.snapshot()``) to dest: a path
    (written atomically; ``.gz`` compresses), ``"-"`` (stdout) or an open text file.  Returns
    {"elsets": n, "revs": m}.  Memory: one line (plus the commits and sources lists)."""
    if dest == "-":
        import sys
        return _dump_to(snapshot, sys.stdout, path)
    if hasattr(dest, "write"):
        return _dump_to(snapshot, dest, path)
    with atomic_output(dest) as out:
        return _dump_to(snapshot, out, path)


def _dump_to(snapshot, out, path):
    have = set(snapshot.tree_names())
    missing = [n for n in DUMP_TREES if n not in have]
    if missing:
        raise OorError(f"{path}: not a registry of format {FORMAT} (no tree {missing[0]!r})")
    t = {n: snapshot.tree(n) for n in DUMP_TREES}
    names = {0: None}
    sources = []
    for k, v in t["sources"].items(b"i", b"j"):
        sid = unpack_u16(k[1:3])
        names[sid] = bytes(v).decode("utf-8")
        sources.append([sid, names[sid]])
    commits = [[split_stamp_key(k), unpack_time(v)] for k, v in t["commits"].items()]
    out.write(_line({"oor_dump": DUMP_VERSION, "registry_format": FORMAT, "sources": sources,
                     "commits": commits}))
    n = 0
    for k, v in t["elsets"].items():
        kind, obj = _value_obj(k, v, names, path)
        out.write(_line({kind: obj}))
        n += 1
    m = 0
    for rk, rv in t["revs"].items():
        k, sup = split_revision_key(rk)
        reason, v = split_revision_value(rv)
        kind, obj = _value_obj(k, v, names, path)
        out.write(_line({"revision": {"superseded_us": sup, "reason": reason, kind: obj}}))
        m += 1
    counts = {"elsets": n, "revs": m}
    out.write(_line({"end": counts}))
    return counts


# ---- restore -------------------------------------------------------------------------------------
class _Lines:
    """The numbered JSON objects of a dump, one at a time, with one object of look-ahead."""

    def __init__(self, stream, name):
        self.stream = stream
        self.name = name
        self.lineno = 0
        self._ahead = None

    def fail(self, why, lineno=None):
        raise DumpError(f"{self.name}:{self.lineno if lineno is None else lineno}: {why} -- the dump is "
                        f"damaged or not an oor dump; nothing was restored")

    def peek(self):
        if self._ahead is None:
            text = self.stream.readline()
            if not text:
                return None
            self.lineno += 1
            try:
                obj = json.loads(text)
            except ValueError as exc:
                self.fail(f"not a JSON line ({exc})")
            if not isinstance(obj, dict) or len(obj) != 1:
                if not (isinstance(obj, dict) and "oor_dump" in obj):
                    self.fail("not a dump entry (an object with one key: set, tombstone, revision or end)")
            self._ahead = obj
        return self._ahead

    def take(self):
        obj = self.peek()
        self._ahead = None
        return obj


def _get(d, key, types, lines, what):
    if not isinstance(d, dict) or key not in d:
        lines.fail(f"{what}: no {key!r}")
    v = d[key]
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in (types if isinstance(types, tuple)
                                                                         else (types,))):
        lines.fail(f"{what}: {key!r} is {v!r}")
    return v


_NONE = type(None)


def _make_set(d, lines, source_ids):
    """(elsets key, record bytes, ElementSet) of a SET object; DumpError naming the line when invalid."""
    what = "set"
    norad = _get(d, "norad", int, lines, what)
    epoch = _get(d, "epoch_us", int, lines, what)
    seq = _get(d, "seq", int, lines, what)
    source = _get(d, "source", (str, _NONE), lines, what)
    arrival = _get(d, "arrival_us", (int, _NONE), lines, what)
    origin = _get(d, "origin", (str, _NONE), lines, what)
    name = _get(d, "name", (str, _NONE), lines, what)
    fields = _get(d, "fields", dict, lines, what)
    meta = _get(d, "meta", list, lines, what)
    if source not in source_ids:
        lines.fail(f"set of NORAD {norad}: source {source!r} is not in the header's sources")
    if not 0 <= seq <= 0xFFFF or not 0 <= norad < 1 << 32 or not -(1 << 63) <= epoch < TOMB_EPOCH:
        lines.fail(f"set of NORAD {norad}: key out of range")
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in meta):
        lines.fail(f"set of NORAD {norad}: meta must be [[keyword, text], ...]")
    try:
        if "tle" in d:
            tle = d["tle"]
            if not (isinstance(tle, list) and len(tle) == 2 and all(isinstance(x, str) for x in tle)):
                lines.fail(f"set of NORAD {norad}: tle must be [line1, line2]")
            if d.get("name_prefix") is True:
                # the "0 " name-prefix flag is set by the 3LE reader only: read the lines as a 3LE set
                text = f"0 X\n{tle[0]}\n{tle[1]}\n"
                es = next(iter(read_elements(io.StringIO(text), "3le", allow_missing_checksum=True)))
                es = es.replace(name=name, source=source)
            else:
                es = parse_tle(tle[0], tle[1], name=name, source=source, allow_missing_checksum=True)
            if _fields(es) != fields:
                lines.fail(f"set of NORAD {norad}: its TLE lines give other element values than its fields")
        else:
            f = fields
            es = ElementSet(norad_id=f["NORAD_CAT_ID"], epoch=us_to_epoch(epoch), mean_motion=f["MEAN_MOTION"],
                            eccentricity=f["ECCENTRICITY"], inclination=f["INCLINATION"],
                            raan=f["RA_OF_ASC_NODE"], arg_perigee=f["ARG_OF_PERICENTER"],
                            mean_anomaly=f["MEAN_ANOMALY"], classification=f["CLASSIFICATION_TYPE"],
                            intl_designator=f["OBJECT_ID"], mean_motion_dot=f["MEAN_MOTION_DOT"],
                            mean_motion_ddot=f["MEAN_MOTION_DDOT"], bstar=f["BSTAR"],
                            ephemeris_type=f["EPHEMERIS_TYPE"], element_set_no=f["ELEMENT_SET_NO"],
                            rev_number=f["REV_AT_EPOCH"], name=name, source=source)
            if _fields(es) != fields:
                lines.fail(f"set of NORAD {norad}: fields do not round-trip (EPOCH or OBJECT_ID disagree)")
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        if isinstance(exc, DumpError):
            raise
        lines.fail(f"set of NORAD {norad}: not a valid element set ({type(exc).__name__}: {exc})")
    if es.norad_id != norad or es.epoch_us != epoch:
        lines.fail(f"set of NORAD {norad}: its fields say NORAD {es.norad_id} epoch_us {es.epoch_us}")
    es = es.with_provenance(meta=tuple((k, v) for k, v in meta) or None, origin=origin, arrival_us=arrival)
    key = elset_key(norad, epoch, seq, source_ids[source])
    return key, encode_record(es), es


def _make_tomb(d, lines):
    norad = _get(d, "norad", int, lines, "tombstone")
    seq = _get(d, "seq", int, lines, "tombstone")
    arrival = _get(d, "arrival_us", int, lines, "tombstone")
    reason = _get(d, "reason", str, lines, "tombstone")
    if not 0 <= seq <= 0xFFFF or not 0 <= norad < 1 << 32:
        lines.fail(f"tombstone of NORAD {norad}: key out of range")
    return elset_key(norad, TOMB_EPOCH, seq, 0), tombstone(arrival, reason)


def _entry(obj, lines, source_ids):
    """(key, value, ElementSet or None) of a "set" / "tombstone" object."""
    if "set" in obj:
        return _make_set(obj["set"], lines, source_ids)
    if "tombstone" in obj:
        return _make_tomb(obj["tombstone"], lines) + (None,)
    lines.fail("expected a set or a tombstone")


def _header(lines):
    h = lines.take()
    if h is None or "oor_dump" not in h:
        lines.fail("line 1 is not an oor dump header ({\"oor_dump\": 1, ...})", 1)
    if h.get("oor_dump") != DUMP_VERSION or h.get("registry_format") not in (FORMAT, FORMAT_NO_LATEST):
        lines.fail(f"dump version {h.get('oor_dump')!r} of registry format {h.get('registry_format')!r}; this "
                   f"OOR restores dump {DUMP_VERSION} of formats {FORMAT_NO_LATEST} and {FORMAT}")
    sources = h.get("sources")
    commits = h.get("commits")
    if not isinstance(sources, list) or not isinstance(commits, list):
        lines.fail("header: sources and commits must be lists")
    ids = {None: 0}
    items = []
    for p in sources:
        if not (isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) and isinstance(p[1], str)
                and 1 <= p[0] <= 0xFFFF) or p[1] in ids or p[0] in ids.values():
            lines.fail(f"header: bad or repeated source {p!r}")
        ids[p[1]] = p[0]
        items.append((b"n" + p[1].encode("utf-8"), pack_u16(p[0])))
        items.append((b"i" + pack_u16(p[0]), p[1].encode("utf-8")))
    citems = []
    prev = None
    for p in commits:
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                            for x in p)) or p[1] < p[0] \
                or (prev is not None and (p[0] <= prev[0] or p[1] <= prev[1])):
            lines.fail(f"header: commit {p!r} is malformed or out of order")
        citems.append((stamp_key(p[0]), pack_time(p[1])))
        prev = p
    return ids, sorted(items), citems


def restore(src, path, *, pool_pages=2048):
    """Build a new registry file at path from a dump (a path, ``"-"`` or an open text file); returns
    {"elsets": n, "revs": m}.  Refuses an existing path.  The keys and values are exactly the dump's; the
    name and COSPAR index counts are recomputed from the current sets."""
    path = os.fspath(path)
    if os.path.exists(path):
        raise OorError(f"{path}: exists; restore builds a new registry -- give a new path (or remove it)")
    if src == "-":
        name = "<stdin>"
    elif hasattr(src, "readline"):
        name = getattr(src, "name", None) or "<dump>"
    else:
        name = os.fspath(src)
    if src == "-":
        import sys
        return _restore(_Lines(sys.stdin, name), path, pool_pages)
    if hasattr(src, "readline"):
        return _restore(_Lines(src, name), path, pool_pages)
    opener = open
    if os.fspath(src).endswith(".gz"):
        import gzip
        opener = gzip.open
    with opener(src, "rt", encoding="utf-8") as f:
        return _restore(_Lines(f, name), path, pool_pages)


def _restore(lines, path, pool_pages):
    source_ids, source_items, commit_items = _header(lines)
    want = index_counts.new_expectation()
    counts = {"elsets": 0, "revs": 0}

    def elsets():
        prev = None
        while True:
            obj = lines.peek()
            if obj is None or "revision" in obj or "end" in obj:
                return
            lines.take()
            key, value, es = _entry(obj, lines, source_ids)
            if prev is not None and key <= prev:
                lines.fail("entry out of key order (a dump lists the elsets entries in ascending key)")
            if prev is not None and prev[:4] == key[:4] and is_tombstone(prev_value[0]):
                lines.fail("an entry after its object's tombstone")
            prev = key
            prev_value[0] = value
            if es is not None:
                index_counts.expect(want, es, es.norad_id)
            counts["elsets"] += 1
            yield key, value

    prev_value = [b""]
    last = []                     # the latest tree, each object's last entry (memory: one per object)

    def revs():
        prev = None
        while True:
            obj = lines.peek()
            if obj is None or "end" in obj:
                return
            if "revision" not in obj:
                lines.fail("expected a revision (the elsets entries come first, then the revisions)")
            lines.take()
            r = obj["revision"]
            sup = _get(r, "superseded_us", int, lines, "revision")
            reason = _get(r, "reason", str, lines, "revision")
            key, value, _es = _entry(r, lines, source_ids)
            rkey = revision_key(key, sup)
            if prev is not None and rkey <= prev:
                lines.fail("revision out of key order")
            prev = rkey
            counts["revs"] += 1
            yield rkey, revision_value(reason, value)

    def index(label):
        return lambda: ((k, pack_count(n)) for k, n in sorted(want[label].items()))

    def finish():
        end = lines.take()
        if end is None or "end" not in end:
            lines.fail("the dump ends before its \"end\" line (cut short?)")
        if end["end"] != counts:
            lines.fail(f"the end line counts {end['end']!r}, the dump holds {counts!r}")
        if lines.peek() is not None:
            lines.fail("a line after the end line")
        return iter(())

    trees = [("info", [(b"format", pack_u16(FORMAT))]), ("sources", source_items), ("commits", commit_items),
             ("elsets", lambda: tee_last_entries(elsets(), last)), ("latest", lambda: iter(last)), ("revs", revs), ("names", index("names")),
             ("cospar", index("cospar")), (None, finish)]
    _build(path, trees, pool_pages=pool_pages)
    return counts


# ---- building a file -----------------------------------------------------------------------------
def _remove_db_files(path, vfs):
    """Remove a database file we built and everything beside it (its log directory, its lock file)."""
    wal_dir = path + "-wal"
    for n in vfs.listdir(wal_dir):
        vfs.remove(os.path.join(wal_dir, n))
    try:
        os.rmdir(wal_dir)
    except OSError:
        pass
    vfs.remove(path + "-lock")
    vfs.remove(path)


def _build(target, trees, *, pool_pages=2048, vfs=None, rename=True, lsn_floor=0):
    """Build a new database at target from [(tree name, items or a callable giving them)] (sorted keys),
    each bulk-loaded into full leaves, in one transaction; tree None only runs its callable (a final check).
    Built under target + BUILD_SUFFIX and renamed into place; on any failure nothing is left.  Returns the
    temporary path when rename is False (the caller renames)."""
    tmp = target + BUILD_SUFFIX
    vfs = vfs if vfs is not None else OS_VFS
    _remove_db_files(tmp, vfs)                      # a build a crash left behind: ours to remove
    db = Database(tmp, create=True, pool_pages=pool_pages, vfs=vfs)
    try:
        with db.transaction():
            made = {n: db.tree(n, create=True) for n, _ in trees if n is not None}
            for n, items in trees:
                if callable(items):
                    items = items()
                if n is None:
                    for _ in items:
                        pass
                    continue
                made[n].bulk_load(items, FULL)
        db.close()             # clean: the file holds everything; its short log goes with it (a reader
        if lsn_floor:          # needs a log that reaches the pages' LSNs)
            raise_clean_end(tmp, lsn_floor, vfs)
        if rename:
            _install(tmp, target, vfs)
            return None
        return tmp
    except BaseException:
        db.close()
        _remove_db_files(tmp, vfs)
        raise


def _install(tmp, target, vfs):
    """Put a finished build in target's place: first its log (no stale log of an earlier file of that name
    may stay beside it), then the file itself (os.replace, then fsync of the directory)."""
    _clear_log(target, vfs)
    _move_log(tmp, target, vfs)
    vfs.rename(tmp, target)
    vfs.remove(tmp + "-lock")


def _clear_log(path, vfs):
    wal_dir = path + "-wal"
    names = [n for n in vfs.listdir(wal_dir) if n.endswith(".wal")]
    for n in names:
        vfs.remove(os.path.join(wal_dir, n))
    if names:
        vfs.sync_dir(wal_dir)


def _move_log(tmp, target, vfs):
    """Move the log segments of the build tmp into target's log directory."""
    src, dst = tmp + "-wal", target + "-wal"
    vfs.makedirs(dst)
    for n in sorted(vfs.listdir(src)):
        vfs.rename(os.path.join(src, n), os.path.join(dst, n))
    try:
        os.rmdir(src)
    except OSError:
        pass
    vfs.sync_dir(dst)


def copy_file(snapshot, dest, *, pool_pages=2048):
    """Copy every tree of a storage snapshot into a new database file dest (``oor backup``): one consistent
    state, while writers go on.  Refuses an existing dest.  Returns dest's size in bytes."""
    dest = os.fspath(dest)
    if os.path.exists(dest):
        raise OorError(f"{dest}: exists; a backup goes to a new file")
    names = snapshot.tree_names()
    _build(dest, [(n, snapshot.tree(n).items()) for n in names], pool_pages=pool_pages)
    return os.path.getsize(dest)


# ---- compact -------------------------------------------------------------------------------------
class CompactReport:
    """What ``Registry.compact`` did: file and log bytes before, file bytes after, seconds."""

    __slots__ = ("path", "bytes_before", "log_bytes_before", "bytes_after", "seconds")

    def __init__(self, path, before, log_before, after, seconds):
        self.path, self.bytes_before, self.log_bytes_before = path, before, log_before
        self.bytes_after, self.seconds = after, seconds

    def summary(self):
        saved = self.bytes_before + self.log_bytes_before - self.bytes_after
        return (f"{self.path}: {self.bytes_before:,} bytes (+ {self.log_bytes_before:,} of log) -> "
                f"{self.bytes_after:,} bytes ({saved:,} given back) in {self.seconds:.2f} s")

    __str__ = summary

    def __repr__(self):
        return f"<CompactReport {self.summary()}>"


def _refuse_readers(db, when):
    held, pids = db.attached_readers()
    if pids:
        raise OorError(f"{db.path}: {len(pids)} reader process(es) attached (pid {', '.join(map(str, pids))}); "
                       f"compaction replaces the file -- {when}; close them and retry")
    if held:
        raise OorError(f"{db.path}: this process holds {held} snapshot(s); release them (snapshot.release()) "
                       f"and retry -- {when}")


def compact(db):
    """Rebuild every tree of the writer's Database db into a new file with full leaves and rename it over
    db's file; returns (the reopened Database, CompactReport).  db is closed on return.

    Holds db's writer lock and its transaction lock throughout (no commit of this process can slip in),
    refuses (OorError, nothing changed) while a reader process is attached or this process holds a
    snapshot, checked before the build and again just before the rename.  Crash safety: the new file is
    complete and synced before the rename; after the rename the old log is never replayed into it (its
    clean-close mark lies above every old LSN, and the old segments are removed before it is reopened).
    """
    import time
    t0 = time.perf_counter()
    if db.read_only:
        raise OorError(f"{db.path}: opened read-only; compaction needs the writer")
    if db.in_own_transaction():
        raise OorError(f"{db.path}: compact() inside a transaction; commit it first")
    path, vfs = db.path, db.vfs
    opts = {"pool_pages": db.pool.nframes, "sync": db.sync, "checkpoint_bytes": db.checkpoint_bytes,
            "checkpoint_seconds": db.checkpoint_seconds, "max_snapshot_age": db.max_snapshot_age,
            "segment_bytes": db.wal.segment_bytes, "vfs": vfs}
    with db.reading():                    # the writer's lock: no transaction of this process meanwhile
        _refuse_readers(db, "before the rebuild")
        before = db.pager.file_size()
        log_before = db.wal.size_bytes()
        with db.snapshot() as snap:
            names = snap.tree_names()
            tmp = _build(path, [(n, snap.tree(n).items()) for n in names], pool_pages=opts["pool_pages"],
                         vfs=vfs, rename=False, lsn_floor=db.wal.next_lsn + LSN_MARGIN)
        try:
            _refuse_readers(db, "nothing was changed")
            vfs.rename(tmp, path)                 # the new file, synced, is now the registry
        except BaseException:
            _remove_db_files(tmp, vfs)
            raise
        # Still holding the writer lock: no other writer can open the registry and start a log that the
        # next two steps would remove.  The old log is never to be replayed into the new file; the new
        # file's own log (clean: the writer discards it) takes its place.
        _clear_log(path, vfs)
        _move_log(tmp, path, vfs)
        db.abandon()                              # the old file and log are no longer the registry's
    vfs.remove(tmp + "-lock")
    new = Database(path, create=False, timeout=5.0, **opts)
    after = new.pager.file_size()
    return new, CompactReport(path, before, log_before, after, time.perf_counter() - t0)


# ---- upgrade (format 1 -> 3) ---------------------------------------------------------------------
def upgrade(path, *, pool_pages=2048):
    """Convert a format-1 registry file (docs/revisions.md, invariant 25) to format 3: a new file renamed
    into place, the original kept as ``PATH.format1``.  Returns the number of sets converted.

    Format 1: trees elsets (14-byte keys norad | epoch | source id, v1 records), sources, names, cospar,
    no info tree.  Each (object, epoch) had at most one set per source, so a set's seq is its rank among
    the sets of its (object, epoch) in source-id order -- the format-1 key order.  Records are re-encoded by
    the current codec; they carry no arrival stamp (they arrived before stamps were kept: every as-of
    query sees them), so commits and revs start empty.  Index counts are recomputed.
    """
    path = os.fspath(path)
    keep = path + ".format1"
    if not os.path.exists(path):
        raise OorError(f"{path}: no such file")
    if os.path.exists(keep):
        raise OorError(f"{keep}: exists (an earlier upgrade?); move it away and retry")
    src = Database(path, create=False, read_only=False, pool_pages=pool_pages)
    try:
        have = set(src.tree_names())
        if "info" in have:
            fmt = src.tree("info").get(b"format")
            raise OorError(f"{path}: already registry format {unpack_u16(fmt) if fmt else '?'}; nothing to do")
        if not set(FORMAT1_TREES) <= have:
            raise OorError(f"{path}: not a format-1 registry (trees {sorted(have)})")
        elsets, sources = src.tree("elsets"), src.tree("sources")
        src_names = {0: None}
        for k, v in sources.items(b"i", b"j"):
            src_names[unpack_u16(k[1:3])] = bytes(v).decode("utf-8")
        want = index_counts.new_expectation()
        count = [0]
        last = []                 # the latest tree, each object's last entry (memory: one per object)

        def converted():
            group, seq = None, 0
            for k, v in elsets.items():
                if len(k) != FORMAT1_KEY_SIZE:
                    raise OorError(f"{path}: elsets key {k.hex()} is {len(k)} bytes, not the {FORMAT1_KEY_SIZE} "
                                   f"of format 1; run `oor check` on a copy")
                norad, e, sid = int.from_bytes(k[:4], "big"), int.from_bytes(k[4:12], "big") - (1 << 63), \
                    int.from_bytes(k[12:14], "big")
                seq = seq + 1 if group == k[:12] else 0
                group = k[:12]
                es = decode_record(v)
                if es.source != src_names.get(sid, ()):
                    raise OorError(f"{path}: key {k.hex()} names source id {sid}, its record {es.source!r}")
                index_counts.expect(want, es, norad)
                count[0] += 1
                yield elset_key(norad, e, seq, sid), encode_record(es)

        def index(label):
            return lambda: ((k, pack_count(n)) for k, n in sorted(want[label].items()))

        trees = [("info", [(b"format", pack_u16(FORMAT))]), ("sources", list(sources.items())),
                 ("commits", []), ("revs", []), ("elsets", lambda: tee_last_entries(converted(), last)),
                 ("latest", lambda: iter(last)),
                 ("names", index("names")), ("cospar", index("cospar"))]
        lsn = src.wal.next_lsn + LSN_MARGIN
        tmp = _build(path, trees, pool_pages=pool_pages, rename=False, lsn_floor=lsn)
    except BaseException:
        src.close()
        raise
    src.close()          # clean close: the format-1 file alone holds everything
    os.link(path, keep)  # the original stays, under its new name
    try:
        _install(tmp, path, OS_VFS)
    except BaseException:
        os.unlink(keep)
        raise
    return count[0]

