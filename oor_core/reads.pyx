# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The registry's current-state reads in C: seek, walk the leaf, decode, return ElementSets.

Who may import: ``oor.registry`` (its read views call these on their ``elsets`` tree when a read
asks for no ``as_of`` / ``source`` selection) and tests.  Contract: reads.pxd.  Keys are
``norad u32 BE | epoch (sign-flipped i64 BE) | seq u16 BE | source u16 BE`` (oor/keys.py); an
object's keys are adjacent and in epoch order, a deleted object's last key is its tombstone.

  latest_set(tree, norad)              the object's last key (one descent); tombstone -> None
  latest_sets(tree, ids)               latest_set of each id, as a list in the order given; probed in
                                       id order so neighbouring ids reuse the pinned leaf
  set_at(tree, norad, us, mode, age)   ``Registry.at`` (oor/lookups.py): before / after / nearest
  sets_between(tree, norad, lo, hi)    the object's sets with lo <= epoch <= hi, decoded straight from
                                       the leaf records (no (key, value) tuples)
  latest_run(tree, first, last, n)     the latest set of each of up to n objects from first on: one
                                       walk along the leaves, an in-leaf search for each object's end,
                                       a descent only for an object whose sets run past its leaf
  latest_text_run(tree, first, last, n, names, one)   latest_run as TLE / 3LE text (export), elided
                                       records straight from their bytes (tlecodec.tle_text_at)
  index_ids(tree, lo, hi)              the ids of a names / cospar index range (find's prefix search)
  datetime_us(when)                    a naive or UTC datetime as epoch us (None: ask oor.times)
  gate_latest(gate, norad)             latest_set at a database's newest visible commit: the view's join
  gate_at(gate, norad, us, mode, age)  (snapview.ViewGate), the read and the leave in one call; NOT_GATED
  gate_history(gate, norad)            when the gate sends the read to the Python slow path
  scan_view(gate, view, first, last, n)  latest_run's sets as an iterator (LatestSets) owning a joined view

Why: the Python path made per call a cursor, the probe key, the found key and value as bytes and a
(key, value) tuple before decoding (cursor seek + decode_record 2.3-2.4 us against latest_set's 1.8 us,
warm pool), ``at`` and ``history`` a RegistrySnapshot binding seven trees, and ``scan`` two cursor seeks
per object.  Errors: a damaged record is decode_record's ValueError, a key of the
wrong size CorruptPageError with its page.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t, INT64_MIN, INT64_MAX
from libc.stdlib cimport malloc, free, qsort, realloc
from libc.string cimport memcmp, memcpy

from oor_core.bufpool cimport BufferPool
from oor_core.btree cimport BTree, leaf_search, leaf_klen, leaf_overflow
from oor_core.page cimport pg_nslots, pg_next, pg_prev, pg_id, slot_ptr, slot_len
from oor_core.elset_layout cimport KEY_SIZE, VAL_TOMBSTONE, key_norad, key_epoch
from oor_core.tlecodec cimport lazy_at, tle_text_at
from oor_core.snapview cimport ViewGate, ViewBase
from oor_core.tlecodec cimport days_before_year, is_leap
from cpython.datetime cimport (import_datetime, PyDateTime_CheckExact, datetime_tzinfo, datetime_year,
                               datetime_month, datetime_day, datetime_hour, datetime_minute, datetime_second,
                               datetime_microsecond)
import datetime as _datetime
import_datetime()
cdef object _UTC = _datetime.timezone.utc
from oor_core.errors import CorruptPageError

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL
    object PyUnicode_DecodeUTF8(const char*, Py_ssize_t, const char*)

DEF MAX_NORAD = 999999999       # oor.codec.elements.MAX_NORAD_ID
DEF ALL_ONES = 0xFFFFFFFFFFFFFFFF
cdef object _U64_LIMIT = 1 << 64


# ---- keys and positions ------------------------------------------------------------------------
cdef inline void _key(uint8_t* k, uint32_t norad, uint64_t ebits, uint32_t tail) noexcept nogil:
    """k = norad | ebits | tail, all big-endian (16 bytes: a primary key or a probe between keys)."""
    cdef int i
    for i in range(4):
        k[i] = <uint8_t>(norad >> (24 - 8 * i))
    for i in range(8):
        k[4 + i] = <uint8_t>(ebits >> (56 - 8 * i))
    for i in range(4):
        k[12 + i] = <uint8_t>(tail >> (24 - 8 * i))


cdef inline uint64_t _ebits(int64_t us) noexcept nogil:
    """An epoch as its key bytes read as a u64 (sign bit flipped: memcmp order is time order)."""
    return (<uint64_t>us) ^ (<uint64_t>1 << 63)


cdef inline void _release(BufferPool pool, Pos* s) noexcept:
    if s.f >= 0:
        pool.unpin(s.f)
        s.f = -1


cdef int _forward(BufferPool pool, Pos* s) except -1:
    """Stand on a real slot: past a leaf's end, move to the next leaf's first slot (f = -1 at the end)."""
    cdef const uint8_t* p
    cdef uint32_t nxt
    while s.f >= 0:
        p = pool.fdata(s.f)
        if s.idx < pg_nslots(p):
            return 0
        nxt = pg_next(p)
        _release(pool, s)
        if nxt == 0:
            return 0
        s.f = pool.pin(nxt, False)
        s.idx = 0
    return 0


cdef int _back(BufferPool pool, Pos* s) except -1:
    """Stand on a real slot: before a leaf's start, move to the previous leaf's last slot (f = -1: none)."""
    cdef const uint8_t* p
    cdef uint32_t prv
    while s.f >= 0 and s.idx < 0:
        prv = pg_prev(pool.fdata(s.f))
        _release(pool, s)
        if prv == 0:
            return 0
        s.f = pool.pin(prv, False)
        s.idx = pg_nslots(pool.fdata(s.f)) - 1
    return 0


cdef int _seek_le(BTree t, const uint8_t* key, Pos* s) except -1:
    """s = the last slot whose key <= key (f = -1: none).  One descent."""
    cdef bint found
    s.f = -1
    s.f = t.leaf_for(key, KEY_SIZE, &s.idx, &found)
    if not found:
        s.idx -= 1
    return _back(t.pool, s)


cdef int _seek_ge(BTree t, const uint8_t* key, Pos* s) except -1:
    """s = the first slot whose key >= key (f = -1: none).  One descent."""
    cdef bint found
    s.f = -1
    s.f = t.leaf_for(key, KEY_SIZE, &s.idx, &found)
    return _forward(t.pool, s)


cdef const uint8_t* _pkey(BTree t, Pos* s) except NULL:
    """The primary key in slot s (CorruptPageError when it is not 16 bytes)."""
    cdef const uint8_t* p = t.pool.fdata(s.f)
    cdef const uint8_t* rec = slot_ptr(p, s.idx)
    cdef int klen = leaf_klen(rec)
    if klen != KEY_SIZE:
        raise CorruptPageError(pg_id(p), f"primary key of {klen} bytes in slot {s.idx}, expected {KEY_SIZE}; "
                                         f"run `oor check`", t.pool.pager.path)
    return rec + 2


cdef bint _is_tombstone(BTree t, Pos* s) except -1:
    """Whether the value in slot s is a tombstone (first byte 0xFF; oor/keys.py)."""
    cdef const uint8_t* p = t.pool.fdata(s.f)
    cdef const uint8_t* rec = slot_ptr(p, s.idx)
    cdef bytes v
    if leaf_overflow(rec):            # a tombstone with a long reason
        v = t.leaf_value(p, s.idx)
        return PyBytes_GET_SIZE(v) > 0 and (<const uint8_t*>PyBytes_AS_STRING(v))[0] == VAL_TOMBSTONE
    return slot_len(p, s.idx) > 2 + KEY_SIZE and rec[2 + KEY_SIZE] == VAL_TOMBSTONE


cdef object _decode(BTree t, Pos* s):
    """The ElementSet in slot s, or None for a tombstone.  Decoded from the leaf's bytes while pinned;
    a value in an overflow chain through the tree's own value read."""
    cdef const uint8_t* p = t.pool.fdata(s.f)
    cdef const uint8_t* rec = slot_ptr(p, s.idx)
    cdef const uint8_t* val
    cdef Py_ssize_t vlen
    cdef bytes v
    _pkey(t, s)
    if leaf_overflow(rec):
        v = t.leaf_value(p, s.idx)
        val = <const uint8_t*>PyBytes_AS_STRING(v)
        vlen = PyBytes_GET_SIZE(v)
        if vlen > 0 and val[0] == VAL_TOMBSTONE:
            return None
        return lazy_at(val, vlen)
    val = rec + 2 + KEY_SIZE
    vlen = slot_len(p, s.idx) - 2 - KEY_SIZE
    if vlen > 0 and val[0] == VAL_TOMBSTONE:
        return None
    return lazy_at(val, vlen)


cdef inline uint32_t _norad_arg(object norad) except? 0:
    if type(norad) is not int:
        if isinstance(norad, bool) or not isinstance(norad, int):
            raise TypeError(f"norad_id must be an int, not {type(norad).__name__}")
    if not 0 <= norad <= MAX_NORAD:
        raise ValueError(f"norad_id {norad} is outside 0..{MAX_NORAD}")
    return <uint32_t>norad


cdef int64_t _clamped(object us):
    """An epoch in us as an i64 (Python ints beyond it clamped)."""
    if us > INT64_MAX:
        return INT64_MAX
    if us < INT64_MIN:
        return INT64_MIN
    return <int64_t>us


# ---- point reads ---------------------------------------------------------------------------------
def latest_set(BTree tree not None, norad_id):
    """The newest set of an object (last key; at equal epochs the last arrival), or None when it has
    none or was deleted (its last key is a tombstone).  One descent; O(log n)."""
    return _latest(tree, _norad_arg(norad_id))


cdef object _latest(BTree tree, uint32_t norad):
    cdef uint8_t k[KEY_SIZE]
    cdef Pos s
    s.f = -1
    _key(k, norad, ALL_ONES, 0xFFFFFFFF)
    try:
        _seek_le(tree, k, &s)
        if s.f < 0 or key_norad(_pkey(tree, &s)) != norad:
            return None
        return _decode(tree, &s)
    finally:
        _release(tree.pool, &s)


cdef int _cmp_probe(const void* a, const void* b) noexcept nogil:
    cdef uint32_t x = (<const Probe*>a).norad, y = (<const Probe*>b).norad
    return -1 if x < y else (1 if x > y else 0)


def latest_sets(BTree tree not None, ids):
    """[latest_set(tree, id) for id in ids], in the order given (None for an id with no current set).

    The probes run in id order: a probe whose key falls inside the leaf still pinned from the last one
    is answered there (one in-leaf search instead of a descent), and a repeated id shares its answer
    (the same immutable ElementSet).  O(k log k + k log n) for k ids, the sort in C."""
    cdef list seq = ids if type(ids) is list else list(ids)
    cdef Py_ssize_t n = len(seq), i
    cdef list out = [None] * n
    if n == 0:
        return out
    cdef Probe* pr = <Probe*>malloc(n * sizeof(Probe))
    if pr == NULL:
        raise MemoryError()
    cdef BufferPool pool = tree.pool
    cdef uint8_t k[KEY_SIZE]
    cdef Pos s
    cdef const uint8_t* p
    cdef uint32_t norad
    cdef int64_t last = -1
    cdef int idx, m
    cdef bint found, here
    cdef object es = None
    s.f = -1
    try:
        for i in range(n):
            pr[i].norad = _norad_arg(seq[i])
            pr[i].at = i
        qsort(pr, n, sizeof(Probe), _cmp_probe)
        for i in range(n):
            norad = pr[i].norad
            if <int64_t>norad != last:
                _key(k, norad, ALL_ONES, 0xFFFFFFFF)
                here = False
                if s.f >= 0:
                    # the pinned leaf answers when the probe lies strictly inside its keys (the
                    # descent would end there)
                    p = pool.fdata(s.f)
                    m = pg_nslots(p)
                    idx = leaf_search(p, k, KEY_SIZE, &found)
                    if found or 0 < idx < m:
                        s.idx = idx if found else idx - 1
                        here = True
                    else:
                        _release(pool, &s)
                if not here:
                    _seek_le(tree, k, &s)
                es = None
                if s.f >= 0 and key_norad(_pkey(tree, &s)) == norad:
                    es = _decode(tree, &s)
                last = norad
            out[pr[i].at] = es
    finally:
        _release(pool, &s)
        free(pr)
    return out


def set_at(BTree tree not None, norad_id, when_us, int mode=AT_BEFORE, max_age_us=None):
    """The set ``Registry.at`` returns (oor/lookups.py ``at_item``), or None.

    mode AT_BEFORE (0): the newest set with epoch <= us (one descent); AT_AFTER (1): the oldest with
    epoch >= us, the last arrival at that epoch (two); AT_NEAREST (2): both, the smaller distance to
    us wins, a tie goes to before.  max_age_us (None: any): None unless the set found lies within it
    of us.  A tombstone is never an answer: us (a Python int) is clamped below the tombstone epoch."""
    return _at(tree, _norad_arg(norad_id), when_us, mode, max_age_us)


cdef object _at(BTree tree, uint32_t norad, object when_us, int mode, object max_age_us):
    cdef int64_t us = _clamped(when_us)
    if us == INT64_MAX:
        us = INT64_MAX - 1            # oor.keys.TOMB_EPOCH - 1
    if mode != AT_BEFORE and mode != AT_AFTER and mode != AT_NEAREST:
        raise ValueError(f"unknown at mode {mode}")
    cdef uint8_t k[KEY_SIZE]
    cdef Pos b, a
    cdef bint hb = False, ha = False
    cdef int64_t eb = 0, ea = 0, e
    cdef uint64_t d
    cdef BufferPool pool = tree.pool
    b.f = -1
    a.f = -1
    try:
        if mode != AT_AFTER:
            _key(k, norad, _ebits(us), 0xFFFFFFFF)
            _seek_le(tree, k, &b)
            if b.f >= 0 and key_norad(_pkey(tree, &b)) == norad:
                hb = True
                eb = key_epoch(_pkey(tree, &b))
            else:
                _release(pool, &b)
        if mode != AT_BEFORE and not (hb and eb == us):
            _key(k, norad, _ebits(us), 0)
            _seek_ge(tree, k, &a)
            if a.f >= 0 and key_norad(_pkey(tree, &a)) == norad and not _is_tombstone(tree, &a):
                ea = key_epoch(_pkey(tree, &a))
                _release(pool, &a)
                _key(k, norad, _ebits(ea), 0xFFFFFFFF)      # the last arrival at that epoch
                _seek_le(tree, k, &a)
                ha = a.f >= 0
            else:
                _release(pool, &a)
        if hb and ha and mode == AT_NEAREST:
            # eb <= us <= ea, so both distances fit a u64 (not always an i64)
            if <uint64_t>us - <uint64_t>eb <= <uint64_t>ea - <uint64_t>us:
                _release(pool, &a)
                ha = False
            else:
                _release(pool, &b)
                hb = False
        if hb:
            e = eb
        elif ha:
            e = ea
        else:
            return None
        if max_age_us is not None:
            d = <uint64_t>e - <uint64_t>us if e >= us else <uint64_t>us - <uint64_t>e
            if max_age_us < 0 or (max_age_us < _U64_LIMIT and d > <uint64_t>max_age_us):
                return None
        return _decode(tree, &b if hb else &a)
    finally:
        _release(pool, &b)
        _release(pool, &a)


# ---- times -------------------------------------------------------------------------------------
cdef int _CUM[13]
_CUM[:] = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]


def datetime_us(when):
    """The epoch in us since 1950-01-01T00:00Z (oor.times.to_epoch_us) of a datetime that is naive
    (read as UTC, as to_epoch_us reads it) or in ``datetime.timezone.utc``, in C; None for anything
    else (the caller asks to_epoch_us).  Why: ``(when - EPOCH_1950) // 1us`` makes a timedelta and a
    division, 0.5 us of the 2.5 us of ``Registry.at``."""
    cdef int64_t y, m, days
    if not PyDateTime_CheckExact(when):
        return None
    tz = datetime_tzinfo(when)
    if tz is not None and tz is not _UTC:
        return None
    y = datetime_year(when)
    m = datetime_month(when)
    days = days_before_year(y) + _CUM[m] + datetime_day(when) - 1
    if m > 2 and is_leap(y):
        days += 1
    return ((days * 24 + datetime_hour(when)) * 60 + datetime_minute(when)) * 60000000 \
        + datetime_second(when) * 1000000 + datetime_microsecond(when)


# ---- gated point reads: the snapshot join, the read and the leave in one call ----------------------
NOT_GATED = object()    # what gate_latest / gate_at return when the gate sends the read to the slow path


cdef object _current(ViewBase v):
    """The view's tree of each object's last entry: ``latest`` (registry format 3, docs/latest.md: the same
    keys and values as those entries of ``elsets``), or ``elsets`` in a format-2 file; None when neither."""
    t = v.tree("latest")
    return v.tree("elsets") if t is None else t


def current_tree(ViewBase view not None):
    """The storage view's tree answering "each object's last entry" (``_current``): ``latest``, ``elsets`` in a
    format-2 file, or None (the registry's bare-view reads)."""
    return _current(view)


def gate_latest(ViewGate gate not None, norad_id):
    """``Registry.latest`` at the newest visible commit in one call: join the gate's current view
    (ViewGate.enter), latest_set on its ``latest`` tree (``_current``; None when the view has none), leave
    (ViewGate.finish).  NOT_GATED, with nothing joined, when enter() refuses (no current view, a
    newer commit to move to, a refresh due, another process): the caller takes the slow path.
    Why: the same three steps as Python calls cost 0.3-0.4 us a lookup on top of the seek."""
    cdef uint32_t norad = _norad_arg(norad_id)
    cdef ViewBase v = gate.enter()
    if v is None:
        return NOT_GATED
    try:
        tree = _current(v)
        return None if tree is None else _latest(<BTree>tree, norad)
    finally:
        gate.finish(v)


def gate_at(ViewGate gate not None, norad_id, when_us, int mode=AT_BEFORE, max_age_us=None):
    """``Registry.at`` (set_at's arguments) at the newest visible commit in one call, as gate_latest;
    NOT_GATED when the gate refuses."""
    cdef uint32_t norad = _norad_arg(norad_id)
    cdef ViewBase v = gate.enter()
    if v is None:
        return NOT_GATED
    try:
        tree = v.tree("elsets")
        return None if tree is None else _at(<BTree>tree, norad, when_us, mode, max_age_us)
    finally:
        gate.finish(v)


def gate_history(ViewGate gate not None, norad_id):
    """``Registry.history(norad_id)`` (every set, no bounds) at the newest visible commit in one call, as
    gate_latest; NOT_GATED when the gate refuses."""
    cdef uint32_t norad = _norad_arg(norad_id)
    cdef ViewBase v = gate.enter()
    if v is None:
        return NOT_GATED
    try:
        tree = v.tree("elsets")
        return [] if tree is None else _between(<BTree>tree, norad, None, None)
    finally:
        gate.finish(v)


# ---- ranges --------------------------------------------------------------------------------------
def sets_between(BTree tree not None, norad_id, lo_us=None, hi_us=None):
    """The sets of an object with lo_us <= epoch <= hi_us (None: unbounded), in key order (epoch,
    then arrival), as a list; the tombstone of a deleted object is left out.  One descent, then the
    leaf chain; each set decoded from its leaf record.  O(log n + k)."""
    return _between(tree, _norad_arg(norad_id), lo_us, hi_us)


cdef list _between(BTree tree, uint32_t norad, object lo_us, object hi_us):
    cdef int64_t lo = INT64_MIN if lo_us is None else _clamped(lo_us)
    cdef int64_t hi = INT64_MAX if hi_us is None else _clamped(hi_us)
    cdef list out = []
    if lo > hi:
        return out
    cdef uint8_t k[KEY_SIZE]
    cdef const uint8_t* key
    cdef Pos s
    cdef BufferPool pool = tree.pool
    cdef int n
    cdef object es
    s.f = -1
    _key(k, norad, _ebits(lo), 0)
    try:
        _seek_ge(tree, k, &s)
        while s.f >= 0:
            n = pg_nslots(pool.fdata(s.f))
            while s.idx < n:
                key = _pkey(tree, &s)
                if key_norad(key) != norad or key_epoch(key) > hi:
                    return out
                es = _decode(tree, &s)
                if es is not None:
                    out.append(es)
                s.idx += 1
            _forward(pool, &s)
        return out
    finally:
        _release(pool, &s)


cdef class _Taker:
    """What a latest walk does with each object's last slot (latest_run: decode; latest_text_run: text)."""
    cdef list sets
    cdef int count

    cdef int take(self, BTree t, Pos* s) except -1:
        es = _decode(t, s)
        if es is not None:
            self.sets.append(es)
            self.count += 1
        return 0


cdef int64_t _latest_walk(BTree tree, uint32_t first, uint32_t last, int n, _Taker tk) except -2:
    """The walk of latest_run (its doc): tk takes the last slot of each object; returns the next id or -1."""
    cdef uint8_t k[KEY_SIZE]
    cdef const uint8_t* p
    cdef const uint8_t* p2
    cdef const uint8_t* r2
    cdef Pos s
    cdef BufferPool pool = tree.pool
    cdef int m, j, g, covered = 0
    cdef uint32_t x, nl
    cdef bint found, more
    cdef int64_t nxt = -1
    if first > last:
        return -1
    s.f = -1
    _key(k, first, 0, 0)
    try:
        _seek_ge(tree, k, &s)
        while s.f >= 0:
            x = key_norad(_pkey(tree, &s))
            if x > last:
                break
            if covered == n:
                nxt = x
                break
            p = pool.fdata(s.f)
            m = pg_nslots(p)
            _key(k, x + 1, 0, 0)
            j = leaf_search(p, k, KEY_SIZE, &found)        # the first slot of a later object
            if j < m:
                s.idx = j - 1
                tk.take(tree, &s)
                s.idx = j
            else:
                more = False
                nl = pg_next(p)
                if nl != 0:
                    g = pool.pin(nl, False)
                    p2 = pool.fdata(g)
                    if pg_nslots(p2) > 0:
                        r2 = slot_ptr(p2, 0)
                        more = leaf_klen(r2) == KEY_SIZE and key_norad(r2 + 2) == x
                    pool.unpin(g)
                if not more:
                    s.idx = m - 1
                    tk.take(tree, &s)
                    s.idx = m
                else:
                    # x's sets run on past this leaf: one descent to their end (its last key may be the
                    # last slot of the leaf before the one the descent reaches: _seek_le steps back)
                    _release(pool, &s)
                    _key(k, x, ALL_ONES, 0xFFFFFFFF)
                    _seek_le(tree, k, &s)
                    if s.f < 0 or key_norad(_pkey(tree, &s)) != x:
                        raise CorruptPageError(0 if s.f < 0 else pg_id(pool.fdata(s.f)), f"object {x} has no "
                                               f"last key where its leaves lead; run `oor check`", pool.pager.path)
                    tk.take(tree, &s)
                    s.idx += 1
                _forward(pool, &s)
            covered += 1
        return nxt
    finally:
        _release(pool, &s)


def latest_run(BTree tree not None, first_id, last_id, int n):
    """(sets, next_id): the latest set of each object with first_id <= id <= last_id, in id order,
    covering at most n objects (deleted ones count, and give no set); next_id is where the next run
    starts, or -1 when the range is done.

    One walk along the leaves: each object's last key is found by an in-leaf search for the next
    object's first key; an object whose sets run on into the next leaf (a deep history) is finished
    by one descent to its end instead of walking its leaves.  O(objects + leaves + log n)."""
    cdef uint32_t first = _norad_arg(first_id)
    cdef uint32_t last = _norad_arg(last_id)
    if n < 1:
        raise ValueError("a run covers at least one object")
    cdef _Taker tk = _Taker()
    tk.sets = []
    cdef int64_t nxt = _latest_walk(tree, first, last, n, tk)
    return tk.sets, nxt


cdef class LatestSets:
    """Iterator of the latest set of each object in [first, last] of a view's tree, read in runs of n
    objects (latest_run), holding the view until it is exhausted, closed or collected: then it leaves
    the view (gate.finish).  ``Registry.scan``'s common case: one C-level step per set where two
    nested generators (the read call's snapshot, then the run) resumed two frames per set.

    Made by scan_view (given the joined view); ``close()`` leaves it early (idempotent)."""
    cdef BTree tree
    cdef ViewGate gate
    cdef ViewBase view
    cdef int64_t nid
    cdef uint32_t last
    cdef int n
    cdef list run
    cdef Py_ssize_t i

    def __iter__(self):
        return self

    def __next__(self):
        cdef _Taker tk
        while True:
            if self.run is not None and self.i < len(self.run):
                self.i += 1
                return self.run[self.i - 1]
            if self.nid < 0 or self.view is None:
                self.close()
                raise StopIteration
            tk = _Taker()
            tk.sets = []
            try:
                self.nid = _latest_walk(self.tree, <uint32_t>self.nid, self.last, self.n, tk)
            except BaseException:
                self.close()
                raise
            self.run = tk.sets
            self.i = 0

    def close(self):
        """Leave the view now (the iterator then ends)."""
        v = self.view
        if v is not None:
            self.view = None
            self.tree = None
            self.run = None
            self.nid = -1
            self.gate.finish(v)

    def __del__(self):
        self.close()


def scan_view(ViewGate gate not None, ViewBase view not None, first_id, last_id, int n):
    """``Registry.scan(first_id, last_id)`` on a view the caller joined (Database.acquire_view): a
    LatestSets iterator that owns the view from now on (one snapshot for the whole scan, however long
    it is consumed) and leaves it through gate.finish.  The view is left at once when the arguments
    are refused or its tree cannot be read."""
    cdef LatestSets it = LatestSets.__new__(LatestSets)
    it.gate = gate
    it.view = view
    it.nid = -1
    try:
        it.nid = _norad_arg(first_id)
        it.last = _norad_arg(last_id)
        if n < 1:
            raise ValueError("a run covers at least one object")
        it.n = n
        tree = _current(view)
    except BaseException:
        it.close()
        raise
    if tree is None:
        it.close()
    else:
        it.tree = <BTree>tree
    return it


DEF TEXT_ROOM = 4096          # bytes of text one set may need before the buffer grows (a 3LE set: < 220)


cdef class _TextTaker(_Taker):
    """latest_text_run's taker: each set's TLE / 3LE text appended to a UTF-8 buffer."""
    cdef char* buf
    cdef Py_ssize_t used, cap
    cdef bint names
    cdef object one

    def __dealloc__(self):
        free(self.buf)

    cdef int room(self, Py_ssize_t need) except -1:
        cdef char* b
        if self.used + need <= self.cap:
            return 0
        b = <char*>realloc(self.buf, 2 * self.cap + need)
        if b == NULL:
            raise MemoryError()
        self.buf = b
        self.cap = 2 * self.cap + need
        return 0

    cdef int take(self, BTree t, Pos* s) except -1:
        cdef const uint8_t* p = t.pool.fdata(s.f)
        cdef const uint8_t* rec = slot_ptr(p, s.idx)
        cdef const uint8_t* val = rec + 2 + KEY_SIZE
        cdef Py_ssize_t vlen = slot_len(p, s.idx) - 2 - KEY_SIZE, k
        cdef const char* u
        _pkey(t, s)
        if not leaf_overflow(rec) and vlen > 0:
            if val[0] == VAL_TOMBSTONE:
                return 0
            self.room(TEXT_ROOM)
            k = tle_text_at(val, vlen, self.names, self.buf + self.used, self.cap - self.used)
            if k >= 0:
                self.used += k
                self.count += 1
                return 0
        es = _decode(t, s)                    # every other record: the ElementSet, formatted by the codec
        if es is None:
            return 0
        text = self.one(es)                   # "" when the writer skips the set
        if text:
            u = PyUnicode_AsUTF8AndSize(text, &k)
            self.room(k)
            memcpy(self.buf + self.used, u, k)
            self.used += k
            self.count += 1
        return 0


def latest_text_run(BTree tree not None, first_id, last_id, int n, bint names, one):
    """(text, count, next_id): latest_run's sets as the text a TLE (names False) or 3LE writer writes
    for them (``format_tle`` with name_prefix None, newline "\\n"), count sets, in one str.

    A text-elided record (most of them) is written straight from its bytes (``tlecodec.tle_text_at``,
    no ElementSet); any other is decoded and given to ``one(es)``, which returns its text ("" to leave it
    out).  Caller: oor.registry's export of the latest sets (through ``oor.codec.io``)."""
    cdef uint32_t first = _norad_arg(first_id)
    cdef uint32_t last = _norad_arg(last_id)
    if n < 1:
        raise ValueError("a run covers at least one object")
    cdef _TextTaker tk = _TextTaker()
    tk.cap = TEXT_ROOM * 4
    tk.buf = <char*>malloc(tk.cap)
    if tk.buf == NULL:
        raise MemoryError()
    tk.names = names
    tk.one = one
    cdef int64_t nxt = _latest_walk(tree, first, last, n, tk)
    return PyUnicode_DecodeUTF8(tk.buf, tk.used, NULL), tk.count, nxt


# ---- index trees -----------------------------------------------------------------------------------
def index_ids(BTree tree not None, bytes lo not None, bytes hi=None):
    """The NORAD ids of the index keys in [lo, hi) (hi None: to the end), as a set: the trees ``names`` and
    ``cospar``, whose keys end ``0x00 | norad u32 BE`` (oor/keys.py).  One descent, then the leaf chain; no
    (key, value) pair is made.  Caller: ``oor.lookups.find_ids`` (a prefix search).  O(log n + k)."""
    cdef set out = set()
    cdef Pos s
    cdef BufferPool pool = tree.pool
    cdef const uint8_t* p
    cdef const uint8_t* rec
    cdef const uint8_t* key
    cdef const uint8_t* h = NULL if hi is None else <const uint8_t*>PyBytes_AS_STRING(hi)
    cdef int hlen = 0 if hi is None else <int>PyBytes_GET_SIZE(hi)
    cdef int n, klen, c
    cdef bint found
    s.f = -1
    try:
        s.f = tree.leaf_for(<const uint8_t*>PyBytes_AS_STRING(lo), <int>PyBytes_GET_SIZE(lo), &s.idx, &found)
        _forward(pool, &s)
        while s.f >= 0:
            p = pool.fdata(s.f)
            n = pg_nslots(p)
            while s.idx < n:
                rec = slot_ptr(p, s.idx)
                klen = leaf_klen(rec)
                key = rec + 2
                if h != NULL:
                    c = memcmp(key, h, klen if klen < hlen else hlen)
                    if c > 0 or (c == 0 and klen >= hlen):
                        return out
                if klen < 6 or key[klen - 5] != 0:
                    raise CorruptPageError(pg_id(p), f"index key of {klen} bytes in slot {s.idx} does not end "
                                                     f"0x00 | norad; run `oor check`", pool.pager.path)
                out.add(key_norad(key + klen - 4))
                s.idx += 1
            _forward(pool, &s)
        return out
    finally:
        _release(pool, &s)


globals().update(AT_BEFORE=AT_BEFORE, AT_AFTER=AT_AFTER, AT_NEAREST=AT_NEAREST)
