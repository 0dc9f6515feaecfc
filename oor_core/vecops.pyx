# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Vectorized kernels of the query layer: whole-batch comparisons, masks, derived fields,
name / COSPAR patterns, the k-way merge of sorted key columns, group resolution, and the
conjunction-screening prefilter.

Who may import: ``oor.query`` and tests.  Every kernel takes typed buffers
(array.array, numpy arrays, any buffer of the right item type) and a row
count, loops in C and makes no Python object per row.  Masks are uint8
buffers, 1 = row selected.  Physical constants are arguments: their owner is
``oor.codec.elements`` (WGS-72 mu and equatorial radius).

Derived fields (definitions in docs/query.md):
  sma_km      semi-major axis from the mean motion (Kepler's third law)
  period_min  1440 / mean motion
  apogee_km   sma (1 + e) - R;  perigee_km  sma (1 - e) - R
  age_days    (now - epoch) / 86400 s
  launch_year from the designator's two-digit year (57-99 -> 19xx, else 20xx); 0 when none
  regime      0 LEO, 1 MEO, 2 GEO, 3 HEO, 4 OTHER
"""
from cpython.array cimport array
from cpython.float cimport PyFloat_FromDouble
from cpython.long cimport PyLong_FromLong, PyLong_FromLongLong, PyLong_FromUnsignedLong, PyLong_FromUnsignedLongLong
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void*)
from libc.math cimport cbrt, sqrt, sin, cos, atan2, asin, floor, M_PI
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, int32_t
from libc.string cimport memcmp

ctypedef fused num:
    double
    int64_t
    uint32_t
    uint16_t
    uint8_t

cdef enum:
    OP_EQ = 0
    OP_NE = 1
    OP_LT = 2
    OP_LE = 3
    OP_GT = 4
    OP_GE = 5
    C_SET = 0
    C_AND = 1
    C_OR = 2

OPS = {"=": OP_EQ, "==": OP_EQ, "!=": OP_NE, "<": OP_LT, "<=": OP_LE, ">": OP_GT, ">=": OP_GE}
REGIMES = ("LEO", "MEO", "GEO", "HEO", "OTHER")
# Regime bounds, km of altitude (docs/query.md states them).
cdef double LEO_APOGEE_MAX = 2000.0
cdef double GEO_ALT = 35786.0
cdef double GEO_BAND = 200.0
cdef double HEO_ECC_MIN = 0.25
REGIME_BOUNDS = {"leo_apogee_max_km": LEO_APOGEE_MAX, "geo_altitude_km": GEO_ALT, "geo_band_km": GEO_BAND,
                 "heo_eccentricity_min": HEO_ECC_MIN}


def compare(const num[:] col, int op, double value, uint8_t[:] mask, Py_ssize_t n, int combine=C_SET):
    """mask[i] (=, &=, |=) (col[i] op value) for i < n.  Integers compare as doubles (exact below 2**53)."""
    cdef Py_ssize_t i
    cdef double x
    cdef uint8_t r
    if n > col.shape[0] or n > mask.shape[0]:
        raise ValueError("row count exceeds a buffer")
    for i in range(n):
        x = <double>col[i]
        if op == OP_EQ:
            r = x == value
        elif op == OP_NE:
            r = x != value
        elif op == OP_LT:
            r = x < value
        elif op == OP_LE:
            r = x <= value
        elif op == OP_GT:
            r = x > value
        else:
            r = x >= value
        if combine == C_SET:
            mask[i] = r
        elif combine == C_AND:
            mask[i] &= r
        else:
            mask[i] |= r


def mask_fill(uint8_t[:] mask, Py_ssize_t n, int value):
    cdef Py_ssize_t i
    for i in range(n):
        mask[i] = value


def mask_and(uint8_t[:] a, const uint8_t[:] b, Py_ssize_t n):
    cdef Py_ssize_t i
    for i in range(n):
        a[i] &= b[i]


def mask_or(uint8_t[:] a, const uint8_t[:] b, Py_ssize_t n):
    cdef Py_ssize_t i
    for i in range(n):
        a[i] |= b[i]


def mask_not(uint8_t[:] a, Py_ssize_t n):
    cdef Py_ssize_t i
    for i in range(n):
        a[i] = not a[i]


def selected(const uint8_t[:] mask, Py_ssize_t n, int32_t[:] out):
    """Write the indices of selected rows to out; return how many."""
    cdef Py_ssize_t i, k = 0
    for i in range(n):
        if mask[i]:
            out[k] = <int32_t>i
            k += 1
    return k


# ---- result rows ---------------------------------------------------------------------------
# take_rows builds the query's result tuples straight from the columns: the tuples and their
# values are what the caller gets, nothing else is made per row.  Why: the listcomp per column,
# zip() and a slice per row were half of a 45k-row filter over 100k sets (15 of 31 ms, CPU).

DEF MAX_TAKE = 64
cdef enum:
    T_NONE = 0          # None in every row
    T_LIST = 1          # a list of the selected rows' values, in order
    T_F64 = 2
    T_F32 = 3
    T_I64 = 4
    T_U64 = 5
    T_I32 = 6
    T_U32 = 7
    T_I16 = 8
    T_U16 = 9
    T_I8 = 10
    T_U8 = 11


cdef int _kind(array a) except -1:
    cdef char t = a.ob_descr.typecode
    cdef int size = a.ob_descr.itemsize
    if t == c'd':
        return T_F64
    if t == c'f':
        return T_F32
    if t == c'q' or t == c'l' or t == c'i' or t == c'h' or t == c'b':
        return {8: T_I64, 4: T_I32, 2: T_I16, 1: T_I8}[size]
    if t == c'Q' or t == c'L' or t == c'I' or t == c'H' or t == c'B':
        return {8: T_U64, 4: T_U32, 2: T_U16, 1: T_U8}[size]
    raise TypeError(f"take_rows: array typecode {chr(t)!r} is not a number")


def take_rows(list cols, const int32_t[:] idx, Py_ssize_t k, bint whole, list out):
    """Append to ``out`` one tuple per selected row j < k: (value of each column at that row).

    The row is ``idx[j]`` (``j`` when ``whole``).  A column is an array.array of numbers (indexed by
    the row; its items come out as ``array[row]`` gives them: int or float), a list holding the
    selected rows' values in order (indexed by j), or None (None in every row).  O(k x columns).
    Who may call: oor.query.operators.BatchExtract.
    """
    cdef Py_ssize_t m = len(cols), j, c, row
    cdef int kind[MAX_TAKE]
    cdef const void* data[MAX_TAKE]
    cdef Py_ssize_t length[MAX_TAKE]
    cdef array a
    cdef object v, t, col
    cdef bint atomic
    if m > MAX_TAKE:
        raise ValueError(f"take_rows: at most {MAX_TAKE} columns")
    if k < 0 or (not whole and k > idx.shape[0]):
        raise ValueError("take_rows: row count exceeds the index buffer")
    for c in range(m):
        col = cols[c]
        if col is None:
            kind[c] = T_NONE
        elif type(col) is list:
            if len(<list>col) < k:
                raise ValueError("take_rows: a list column is shorter than the row count")
            kind[c] = T_LIST
        elif isinstance(col, array):
            a = col
            kind[c] = _kind(a)
            data[c] = a.data.as_voidptr
            length[c] = len(a)
        else:
            raise TypeError(f"take_rows: a column is a {type(col).__name__}, not an array, list or None")
    for j in range(k):
        row = j if whole else idx[j]
        t = PyTuple_New(m)
        atomic = True
        for c in range(m):
            if kind[c] == T_NONE:
                v = None
            elif kind[c] == T_LIST:
                v = (<list>cols[c])[j]
                if not (v is None or type(v) is str or type(v) is bytes or type(v) is int or type(v) is float):
                    atomic = False
            else:
                if row < 0 or row >= length[c]:
                    raise IndexError(f"take_rows: row {row} is outside a column of {length[c]}")
                if kind[c] == T_F64:
                    v = PyFloat_FromDouble((<const double*>data[c])[row])
                elif kind[c] == T_I64:
                    v = PyLong_FromLongLong((<const int64_t*>data[c])[row])
                elif kind[c] == T_U32:
                    v = PyLong_FromUnsignedLong((<const uint32_t*>data[c])[row])
                elif kind[c] == T_U16:
                    v = PyLong_FromLong((<const uint16_t*>data[c])[row])
                elif kind[c] == T_U8:
                    v = PyLong_FromLong((<const uint8_t*>data[c])[row])
                elif kind[c] == T_I32:
                    v = PyLong_FromLong((<const int32_t*>data[c])[row])
                elif kind[c] == T_F32:
                    v = PyFloat_FromDouble((<const float*>data[c])[row])
                elif kind[c] == T_U64:
                    v = PyLong_FromUnsignedLongLong((<const uint64_t*>data[c])[row])
                elif kind[c] == T_I16:
                    v = PyLong_FromLong((<const short*>data[c])[row])
                else:
                    v = PyLong_FromLong((<const signed char*>data[c])[row])
            Py_INCREF(v)
            PyTuple_SET_ITEM(t, c, v)
        if atomic:
            # what CPython does to such a tuple at its first collection, done now: the collector
            # then never walks the result rows (it was 8% of a 45k-row query, perf: visit_decref)
            PyObject_GC_UnTrack(<void*>t)
        out.append(t)
    return k


# ---- derived fields ------------------------------------------------------------------------
cdef inline double _sma(double mm, double mu) noexcept nogil:
    cdef double w = mm * 2.0 * M_PI / 86400.0
    return cbrt(mu / (w * w))


def derive_orbit(const double[:] mm, const double[:] ecc, int kind, double mu, double radius,
                 double[:] out, Py_ssize_t n):
    """kind 0 sma_km, 1 period_min, 2 apogee_km, 3 perigee_km, 4 regime code."""
    cdef Py_ssize_t i
    cdef double a, ap, pe
    for i in range(n):
        if kind == 1:
            out[i] = 1440.0 / mm[i]
            continue
        a = _sma(mm[i], mu)
        if kind == 0:
            out[i] = a
        elif kind == 2:
            out[i] = a * (1.0 + ecc[i]) - radius
        elif kind == 3:
            out[i] = a * (1.0 - ecc[i]) - radius
        else:
            ap = a * (1.0 + ecc[i]) - radius
            pe = a * (1.0 - ecc[i]) - radius
            out[i] = _regime(ap, pe, ecc[i])


cdef inline double _regime(double ap, double pe, double e) noexcept nogil:
    if ap < LEO_APOGEE_MAX:
        return 0.0
    if e >= HEO_ECC_MIN:
        return 3.0
    if pe >= GEO_ALT - GEO_BAND and ap <= GEO_ALT + GEO_BAND:
        return 2.0
    if ap < GEO_ALT - GEO_BAND:
        return 1.0
    return 4.0


def regime_of(double apogee_km, double perigee_km, double ecc):
    """Regime code of one orbit (the row-wise twin of derive_orbit kind 4)."""
    return int(_regime(apogee_km, perigee_km, ecc))


def derive_age(const int64_t[:] epoch_us, int64_t now_us, double[:] out, Py_ssize_t n):
    """(now - epoch) in days."""
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = <double>(now_us - epoch_us[i]) / 86400e6


def derive_launch_year(const uint8_t[:] intl, const uint8_t[:] intl_len, double[:] out, Py_ssize_t n):
    """Launch year from the TLE-form designator (8 bytes a row); 0 when the set has none."""
    cdef Py_ssize_t i
    cdef int yy
    for i in range(n):
        if intl_len[i] < 2:
            out[i] = 0.0
            continue
        yy = (intl[i * 8] - 48) * 10 + (intl[i * 8 + 1] - 48)
        out[i] = 1900 + yy if yy >= 57 else 2000 + yy


# ---- patterns ------------------------------------------------------------------------------
cdef inline uint8_t _fold(uint8_t c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef bint _glob(const uint8_t* s, Py_ssize_t ns, const uint8_t* p, Py_ssize_t np_) noexcept nogil:
    """Case-insensitive (ASCII) glob: * any run, ? one byte.  Iterative, linear backtracking."""
    cdef Py_ssize_t i = 0, j = 0, star = -1, mark = 0
    while i < ns:
        if j < np_ and (p[j] == 63 or _fold(p[j]) == _fold(s[i])):
            i += 1
            j += 1
        elif j < np_ and p[j] == 42:
            star = j
            mark = i
            j += 1
        elif star >= 0:
            j = star + 1
            mark += 1
            i = mark
        else:
            return False
    while j < np_ and p[j] == 42:
        j += 1
    return j == np_


def glob_match(bytes text, bytes pattern):
    """The row-wise twin of the pattern kernels (same semantics)."""
    return _glob(<const uint8_t*>text, len(text), <const uint8_t*>pattern, len(pattern))


def glob_names(const int32_t[:] off, const uint8_t[:] data, bytes pattern, uint8_t[:] mask, Py_ssize_t n):
    """mask[i] = name of row i matches pattern (names as offsets into data)."""
    cdef Py_ssize_t i
    cdef const uint8_t* p = <const uint8_t*>pattern
    cdef Py_ssize_t np_ = len(pattern)
    cdef const uint8_t* d = &data[0] if data.shape[0] else <const uint8_t*>p
    for i in range(n):
        mask[i] = _glob(d + off[i], off[i + 1] - off[i], p, np_)


def glob_cospar(const uint8_t[:] intl, const uint8_t[:] intl_len, bytes pattern, uint8_t[:] mask, Py_ssize_t n):
    """mask[i] = COSPAR form ("1998-067A") of row i's designator matches pattern; no designator -> ''."""
    cdef Py_ssize_t i
    cdef uint8_t buf[16]
    cdef int k, L, yy, y
    cdef const uint8_t* p = <const uint8_t*>pattern
    cdef Py_ssize_t np_ = len(pattern)
    for i in range(n):
        L = intl_len[i]
        if L < 5:
            mask[i] = _glob(buf, 0, p, np_)
            continue
        yy = (intl[i * 8] - 48) * 10 + (intl[i * 8 + 1] - 48)
        y = 1900 + yy if yy >= 57 else 2000 + yy
        buf[0] = 48 + y // 1000
        buf[1] = 48 + (y // 100) % 10
        buf[2] = 48 + (y // 10) % 10
        buf[3] = 48 + y % 10
        buf[4] = 45
        for k in range(2, L):
            buf[3 + k] = intl[i * 8 + k]
        mask[i] = _glob(buf, L + 3, p, np_)


# ---- k-way merge and group resolution --------------------------------------------------------
cdef inline bint _less(int64_t na, int64_t ea, int sa, int64_t nb, int64_t eb, int sb) noexcept nogil:
    if na != nb:
        return na < nb
    if ea != eb:
        return ea < eb
    return sa < sb


def kway_merge(list norads, list epochs, int32_t[:] out_src, int32_t[:] out_row):
    """Merge k inputs sorted by (norad, epoch) into one order, ties by input index; a binary heap of k
    cursors.  norads[j], epochs[j]: int64 buffers of input j.  Writes (input, row) of each merged row;
    returns the total.  O(N log k)."""
    cdef Py_ssize_t k = len(norads), j, total = 0, t = 0
    if len(epochs) != k:
        raise ValueError("norads and epochs differ in length")
    cdef list nv = [], ev = []
    cdef const int64_t[:] a
    cdef const int64_t[:] b
    for j in range(k):
        a = norads[j]
        b = epochs[j]
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"input {j}: norad and epoch columns differ in length")
        nv.append(a)
        ev.append(b)
        total += a.shape[0]
    if out_src.shape[0] < total or out_row.shape[0] < total:
        raise ValueError(f"output buffers hold fewer than {total} rows")
    if k == 0:
        return 0
    return _merge_run(nv, ev, k, out_src, out_row)


cdef Py_ssize_t _merge_run(list nv, list ev, Py_ssize_t k, int32_t[:] out_src, int32_t[:] out_row) except -1:
    cdef Py_ssize_t j, h = 0, c, parent, child, t = 0, small
    cdef const int64_t[:] col
    # up to 64 inputs in fixed arrays (a catalog merge has a handful of sources)
    cdef const int64_t* pn[64]
    cdef const int64_t* pe[64]
    cdef Py_ssize_t pos[64]
    cdef Py_ssize_t ln[64]
    cdef int heap[64]
    cdef int top, x
    if k > 64:
        raise ValueError("kway_merge takes at most 64 inputs")
    for j in range(k):
        col = nv[j]
        ln[j] = col.shape[0]
        pn[j] = &col[0] if ln[j] else NULL
        col = ev[j]
        pe[j] = &col[0] if ln[j] else NULL
        pos[j] = 0
    # build the heap of non-empty inputs
    for j in range(k):
        if ln[j] == 0:
            continue
        c = h
        heap[h] = <int>j
        h += 1
        while c > 0:
            parent = (c - 1) >> 1
            if _less(pn[heap[c]][0], pe[heap[c]][0], heap[c], pn[heap[parent]][pos[heap[parent]]],
                     pe[heap[parent]][pos[heap[parent]]], heap[parent]):
                heap[c], heap[parent] = heap[parent], heap[c]
                c = parent
            else:
                break
    while h > 0:
        top = heap[0]
        out_src[t] = top
        out_row[t] = <int32_t>pos[top]
        t += 1
        pos[top] += 1
        if pos[top] == ln[top]:
            h -= 1
            heap[0] = heap[h]
        if h == 0:
            break
        # sift down heap[0]
        c = 0
        while True:
            child = 2 * c + 1
            if child >= h:
                break
            small = child
            if child + 1 < h:
                x = heap[child + 1]
                if _less(pn[x][pos[x]], pe[x][pos[x]], x, pn[heap[child]][pos[heap[child]]],
                         pe[heap[child]][pos[heap[child]]], heap[child]):
                    small = child + 1
            x = heap[small]
            if _less(pn[x][pos[x]], pe[x][pos[x]], x, pn[heap[c]][pos[heap[c]]], pe[heap[c]][pos[heap[c]]],
                     heap[c]):
                heap[c], heap[small] = heap[small], heap[c]
                c = small
            else:
                break
    return t


def resolve_groups(const int64_t[:] norad, const int64_t[:] epoch, const int32_t[:] src,
                   const int32_t[:] rank, bint newest, int32_t[:] winners, int32_t[:] n_sources,
                   int32_t[:] tied, Py_ssize_t n):
    """Group rows sorted by norad; per group pick one winner (its row index in 0..n-1).

    newest: the newest epoch wins; at equal epochs the better-ranked source (lower rank[src]).
    else (priority): the best-ranked source that offers the object wins, with its newest set.
    rank[s] < 0 excludes source s.  Writes, per group g: winners[g], n_sources[g] (distinct
    sources offering the object) and tied[g] (newest policy: other sources offering the winning
    epoch).  Returns the number of groups.  O(n)."""
    cdef Py_ssize_t i = 0, g = 0, best, j
    cdef int64_t cur
    cdef int r, br, seen_mask_n
    cdef unsigned long long seen
    cdef int ties
    while i < n:
        cur = norad[i]
        best = -1
        seen = 0
        seen_mask_n = 0
        ties = 0
        j = i
        while j < n and norad[j] == cur:
            r = rank[src[j]]
            if r >= 0:
                if not (seen >> (src[j] & 63)) & 1:
                    seen |= (<unsigned long long>1) << (src[j] & 63)
                    seen_mask_n += 1
                if best < 0:
                    best = j
                    ties = 0
                else:
                    br = rank[src[best]]
                    if newest:
                        if epoch[j] > epoch[best]:
                            best = j
                            ties = 0
                        elif epoch[j] == epoch[best]:
                            if src[j] != src[best]:
                                ties += 1
                            if r < br:
                                best = j
                    else:
                        if r < br or (r == br and epoch[j] >= epoch[best]):
                            best = j
            j += 1
        if best >= 0:
            winners[g] = <int32_t>best
            n_sources[g] = seen_mask_n
            tied[g] = ties
            g += 1
        i = j
    return g


# ---- conjunction screening prefilter ---------------------------------------------------------
cdef inline void _normal(double inc, double raan, double* h) noexcept nogil:
    h[0] = sin(inc) * sin(raan)
    h[1] = -sin(inc) * cos(raan)
    h[2] = cos(inc)


cdef inline void _r_range(double p, double e, double nu0, double half, double* lo, double* hi) noexcept nogil:
    """Range of r = p / (1 + e cos nu) over nu in [nu0 - half, nu0 + half] (r is monotonic between
    perigee, nu = 0, and apogee, nu = pi, so the ends and whichever apsides fall inside suffice)."""
    cdef double a = nu0 - half, b = nu0 + half, ra, rb, two_pi = 2.0 * M_PI
    if half >= M_PI:
        lo[0] = p / (1.0 + e)
        hi[0] = p / (1.0 - e)
        return
    ra = p / (1.0 + e * cos(a))
    rb = p / (1.0 + e * cos(b))
    lo[0] = ra if ra < rb else rb
    hi[0] = ra if ra > rb else rb
    if floor(b / two_pi) * two_pi >= a:
        lo[0] = p / (1.0 + e)
    if floor((b - M_PI) / two_pi) * two_pi + M_PI >= a:
        hi[0] = p / (1.0 - e)


def screen(const double[:] mm, const double[:] ecc, const double[:] inc, const double[:] raan,
           const double[:] argp, Py_ssize_t target, double pad_km, bint geometry, double mu,
           uint8_t[:] band_out, uint8_t[:] out, Py_ssize_t n):
    """Two-stage prefilter of possible close approaches with row `target` (within pad_km).

    Stage 1 (apogee/perigee): the radial bands [perigee, apogee] of both orbits, widened by the
    pad, overlap.  Stage 2 (orbit geometry, if asked): a point of one orbit within pad of the other
    orbit lies within pad of its plane, so within an angle asin(pad / (r_p sin I)) of the mutual
    line of nodes (I = relative inclination, r_p the perigee radius); the radius ranges of both orbits
    in those windows must come within pad at one of the node pairs.  Both stages only drop pairs that
    cannot come closer than pad_km (at the elements' epoch, fixed planes): recall is 1 by construction
    (tests/test_query_screen.py checks it against a sampled brute force).  Writes band_out (stage 1)
    and out (both stages); the target itself is excluded.  Returns the count of out."""
    cdef Py_ssize_t i
    cdef double a0 = _sma(mm[target], mu), e0 = ecc[target]
    cdef double q0 = a0 * (1.0 - e0), Q0 = a0 * (1.0 + e0), p0 = a0 * (1.0 - e0 * e0)
    cdef double a, e, q, Q, p, cI, sI, nx, ny, nz, u0, u1, w0, w1
    cdef double h0[3]
    cdef double h1[3]
    cdef double nu0, nu1, lo0, hi0, lo1, hi1, s
    cdef int na, nb, ok
    cdef Py_ssize_t count = 0
    cdef double deg = M_PI / 180.0
    _normal(inc[target] * deg, raan[target] * deg, h0)
    for i in range(n):
        band_out[i] = 0
        out[i] = 0
        if i == target:
            continue
        a = _sma(mm[i], mu)
        e = ecc[i]
        q = a * (1.0 - e)
        Q = a * (1.0 + e)
        if (q if q > q0 else q0) - (Q if Q < Q0 else Q0) > pad_km:
            continue
        band_out[i] = 1
        if not geometry:
            out[i] = 1
            count += 1
            continue
        _normal(inc[i] * deg, raan[i] * deg, h1)
        cI = h0[0] * h1[0] + h0[1] * h1[1] + h0[2] * h1[2]
        nx = h0[1] * h1[2] - h0[2] * h1[1]
        ny = h0[2] * h1[0] - h0[0] * h1[2]
        nz = h0[0] * h1[1] - h0[1] * h1[0]
        sI = sqrt(nx * nx + ny * ny + nz * nz)
        if sI < 1e-12:                 # coplanar: no line of nodes, the band test is all we have
            out[i] = 1
            count += 1
            continue
        nx /= sI
        ny /= sI
        nz /= sI
        # argument of latitude of the mutual node direction in each plane, then its true anomaly
        u0 = _arg_lat(inc[target] * deg, raan[target] * deg, h0, nx, ny, nz)
        u1 = _arg_lat(inc[i] * deg, raan[i] * deg, h1, nx, ny, nz)
        nu0 = u0 - argp[target] * deg
        nu1 = u1 - argp[i] * deg
        w0 = pad_km / (q0 * sI)
        w1 = pad_km / (q * sI)
        w0 = asin(w0) if w0 < 1.0 else M_PI
        w1 = asin(w1) if w1 < 1.0 else M_PI
        p = a * (1.0 - e * e)
        ok = 0
        for na in range(2):
            _r_range(p0, e0, nu0 + na * M_PI, w0, &lo0, &hi0)
            for nb in range(2):
                _r_range(p, e, nu1 + nb * M_PI, w1, &lo1, &hi1)
                if lo0 - pad_km <= hi1 and lo1 - pad_km <= hi0:
                    ok = 1
        if ok:
            out[i] = 1
            count += 1
    return count


cdef inline double _arg_lat(double inc, double raan, double* h, double nx, double ny, double nz) noexcept nogil:
    """Angle in the orbit plane from the ascending node to the direction (nx, ny, nz)."""
    cdef double Nx = cos(raan), Ny = sin(raan), Nz = 0.0
    cdef double cx = Ny * nz - Nz * ny, cy = Nz * nx - Nx * nz, cz = Nx * ny - Ny * nx
    return atan2(cx * h[0] + cy * h[1] + cz * h[2], Nx * nx + Ny * ny + Nz * nz)


def gather_keys(list norads, list epochs, const int32_t[:] src, const int32_t[:] row, int64_t[:] out_n,
                int64_t[:] out_e, Py_ssize_t n):
    """out_n[i], out_e[i] = norads[src[i]][row[i]], epochs[src[i]][row[i]]: the merged key columns."""
    cdef Py_ssize_t i, k = len(norads), j
    cdef const int64_t* pn[64]
    cdef const int64_t* pe[64]
    cdef const int64_t[:] col
    if k > 64:
        raise ValueError("at most 64 inputs")
    for j in range(k):
        col = norads[j]
        pn[j] = &col[0] if col.shape[0] else NULL
        col = epochs[j]
        pe[j] = &col[0] if col.shape[0] else NULL
    for i in range(n):
        out_n[i] = pn[src[i]][row[i]]
        out_e[i] = pe[src[i]][row[i]]
