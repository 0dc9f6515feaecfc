# oor_core/ommcodec.pyx -- OMM values -> ElementSet in C: the fast path of oor.codec.omm.from_omm and the
# conversion every record scanner ends in (build_set); the keyword table; newline counting.
#
# The OMM formats are owned by oor/codec/omm*.py (field tables, rules, every error message);
# the C code only skips work on the common path: it returns None or stops at anything else,
# and the Python readers then read that record (same values, every error).  The ElementSet's
# value layout and the calendar come from tlecodec (tlecodec.pxd).  The scanners of whole
# records are one module per encoding: ommcsv, ommkvn, ommjson, ommxml (contract: ommcodec.pxd).
# Callers: oor.codec.omm (omm_fast*, omm_keywords), oor.codec.io, omm_xml and omm_json (count_newlines);
# build_set and key_index: the scanners (cimport).
from libc.string cimport memcmp, memcpy
from libc.stdint cimport int64_t, uint64_t
from libc.math cimport isfinite

from oor_core.tlecodec cimport (PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8,
                                days_before_year, epoch_year_day, is_leap, make_element, year_of)

cdef double POW10[23]     # exact powers of ten for the decimal fast path
cdef int _k, _j
POW10[0] = 1.0
for _k in range(1, 23):
    POW10[_k] = POW10[_k - 1] * 10.0

cdef int64_t US_PER_DAY = 86400000000
# C-typed: Cython takes a literal beyond 32 bits compared with a C integer as a Python int, and
# compared by making a Python int of the C value: 65 PyLong_FromUnsignedLong a set, a third of a
# KVN set's time (callgrind).
cdef uint64_t M_DIGITS_MAX = 100000000000000000ULL      # 10^17: one more digit still fits in 64 bits
cdef uint64_t M_EXACT_MAX = 9007199254740992ULL         # 2^53: every integer up to it is a double


# ---------------------------------------------------------------------------------------------
# OMM values -> ElementSet, fast path (rules in oor/codec/omm.py).  Returns None for anything
# off the common path (whitespace around values, day-of-year epochs, leap seconds, non-canonical
# OBJECT_ID, errors, ...): the caller then runs the Python conversion, which gives the same
# value or the error message.  So this never decides an error; it only skips work.

from cpython.object cimport PyObject

cdef extern from "Python.h":
    # overflow_exception NULL: an overflowing decimal gives +-inf (then refused by isfinite), no exception.
    # (Python's None there made it raise SystemError on "1e400".)
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow_exception) except? -1.0

DEF MAX_NORAD = 999999999
cdef str _U = "U", _C = "C", _S = "S", _EMPTY = ""
cdef int DAYS_IN_MONTH[13]
DAYS_IN_MONTH[:] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


cdef inline bint _ascii_bytes(object s, const unsigned char** p, Py_ssize_t* n):
    if type(s) is not str or not PyUnicode_IS_ASCII(s):
        return False
    p[0] = <const unsigned char*>PyUnicode_DATA(s)
    n[0] = PyUnicode_GET_LENGTH(s)
    return True


cdef bint _float_of(object v, double* out):
    """A finite double from a str decimal (as float() reads it), a float or an int; False if off the fast path."""
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef double d
    if type(v) is float:
        d = v
    elif type(v) is int:
        if not -9007199254740992 <= v <= 9007199254740992:
            return False
        d = <double><int64_t>v
    else:
        return _ascii_bytes(v, &p, &n) and _dec_text(p, n, out)
    if not isfinite(d):
        return False
    out[0] = d
    return True


cdef bint _int_of(object v, int64_t lo, int64_t hi, int64_t* out):
    cdef const unsigned char* p
    cdef Py_ssize_t n, i
    cdef int64_t r = 0
    if type(v) is int:
        if not lo <= v <= hi:
            return False
        out[0] = v
        return True
    if not _ascii_bytes(v, &p, &n) or n == 0 or n > 10:
        return False
    for i in range(n):
        if not 48 <= p[i] <= 57:
            return False
        r = r * 10 + (p[i] - 48)
    if not lo <= r <= hi:
        return False
    out[0] = r
    return True


cdef inline int _dig(const unsigned char* p, int a, int b):
    cdef int r = 0, i
    for i in range(a, b):
        if not 48 <= p[i] <= 57:
            return -1
        r = r * 10 + (p[i] - 48)
    return r


cdef bint _epoch_of(object v, int64_t* out):
    """'YYYY-MM-DDThh:mm:ss[.f{1,6}][Z]' -> microseconds since 1950; False otherwise."""
    cdef const unsigned char* p
    cdef Py_ssize_t n
    if not _ascii_bytes(v, &p, &n):
        return False
    return _epoch_bytes(p, n, out)


cdef bint _epoch_bytes(const unsigned char* p, Py_ssize_t n, int64_t* out):
    cdef Py_ssize_t i
    cdef int y, mo, d, hh, mi, ss, dim
    cdef int64_t us = 0, scale = 100000
    if n < 19 or n > 27:
        return False
    if p[n - 1] == 90:
        n -= 1
    if p[4] != 45 or p[7] != 45 or p[10] != 84 or p[13] != 58 or p[16] != 58:
        return False
    y = _dig(p, 0, 4); mo = _dig(p, 5, 7); d = _dig(p, 8, 10)
    hh = _dig(p, 11, 13); mi = _dig(p, 14, 16); ss = _dig(p, 17, 19)
    if y < 1 or mo < 1 or mo > 12 or d < 1 or hh < 0 or hh > 23 or mi < 0 or mi > 59 or ss < 0 or ss > 59:
        return False
    dim = DAYS_IN_MONTH[mo] + (1 if mo == 2 and is_leap(y) else 0)
    if d > dim:
        return False
    if n > 19:
        if p[19] != 46 or n == 20 or n > 26:
            return False
        for i in range(20, n):
            if not 48 <= p[i] <= 57:
                return False
            us += (p[i] - 48) * scale
            scale //= 10
    cdef int64_t doy = d - 1
    for i in range(1, mo):
        doy += DAYS_IN_MONTH[i]
    if mo > 2 and is_leap(y):
        doy += 1
    out[0] = ((days_before_year(y) + doy) * 86400 + hh * 3600 + mi * 60 + ss) * 1000000 + us
    return True


cdef object _intl_of(object v):
    """OBJECT_ID in canonical COSPAR form -> TLE form; '' for none; None if off the fast path."""
    cdef const unsigned char* p
    cdef Py_ssize_t n
    if v is None:
        return _EMPTY
    if not _ascii_bytes(v, &p, &n):
        return None
    return _intl_bytes(p, n)


cdef object _intl_bytes(const unsigned char* p, Py_ssize_t n):
    cdef Py_ssize_t i
    cdef int y
    cdef char buf[8]
    if n == 0:
        return _EMPTY
    if n < 8 or n > 11 or p[4] != 45:
        return None
    y = _dig(p, 0, 4)
    if y < 1957 or y > 2056 or _dig(p, 5, 8) < 0:
        return None
    for i in range(8, n):
        if not 65 <= p[i] <= 90:
            return None
    buf[0] = p[2]
    buf[1] = p[3]
    for i in range(5, n):
        buf[i - 3] = p[i]
    return PyUnicode_DecodeASCII(buf, n - 3, NULL)


def omm_fast(tuple vals, source):
    """17 OMM values in oor.codec.omm.KEYWORDS order (None = absent) -> ElementSet, or None (see above)."""
    cdef double mm, ecc, incl, raan, argp, ma, bstar = 0.0, ndot = 0.0, nddot = 0.0
    cdef int64_t norad, eph = 0, elnum = 999, rev = 0, epoch_us
    cdef object name, cls, intl, v
    if len(vals) != 17:
        return None
    if source is not None and (type(source) is not str or len(<str>source) > 63):
        return None
    if not (_epoch_of(vals[2], &epoch_us) and _float_of(vals[3], &mm) and _float_of(vals[4], &ecc)
            and _float_of(vals[5], &incl) and _float_of(vals[6], &raan) and _float_of(vals[7], &argp)
            and _float_of(vals[8], &ma) and _int_of(vals[11], 0, MAX_NORAD, &norad)):
        return None
    if not (mm > 0.0 and 0.0 <= ecc < 1.0 and 0.0 <= incl <= 180.0 and 0.0 <= raan <= 360.0
            and 0.0 <= argp <= 360.0 and 0.0 <= ma <= 360.0):
        return None
    v = vals[9]
    if v is not None and v != _EMPTY and not _int_of(v, 0, 9, &eph):
        return None
    v = vals[12]
    if v is not None and v != _EMPTY and not _int_of(v, 0, 9999, &elnum):
        return None
    v = vals[13]
    if v is not None and v != _EMPTY and not _int_of(v, 0, 4294967295, &rev):
        return None
    v = vals[14]
    if v is not None and v != _EMPTY and not _float_of(v, &bstar):
        return None
    v = vals[15]
    if v is not None and v != _EMPTY and not _float_of(v, &ndot):
        return None
    v = vals[16]
    if v is not None and v != _EMPTY and not _float_of(v, &nddot):
        return None
    cls = vals[10]
    if cls is None or cls == _EMPTY or cls == _U:
        cls = _U
    elif cls == _C:
        cls = _C
    elif cls == _S:
        cls = _S
    else:
        return None
    intl = _intl_of(vals[1])
    if intl is None:
        return None
    name = vals[0]
    if name is not None:
        if type(name) is not str or len(<str>name) > 16000:
            return None
        name = (<str>name).strip()
        if not name:
            name = None
    year, day = epoch_year_day(epoch_us)
    return make_element((norad, cls, intl, epoch_us, mm, ndot, nddot, bstar, eph, elnum, incl, raan, ecc, argp, ma,
                  rev, name, source, year, day, None, None, 0, None, None, None))


def omm_fast_dict(dict d, tuple keys, source):
    """omm_fast on a mapping: the values of ``keys`` (KEYWORDS) looked up in ``d``."""
    return omm_fast(tuple([d.get(k) for k in keys]), source)


def omm_fast_row(list row, tuple index, source):
    """omm_fast on a CSV row: ``index[k]`` is the row position of keyword k, or -1."""
    cdef Py_ssize_t i, n = len(row)
    cdef list vals = []
    for j in index:
        i = j
        vals.append(row[i] if 0 <= i < n else None)
    return omm_fast(tuple(vals), source)


# ---------------------------------------------------------------------------------------------
# 17 value slices -> ElementSet, for the whole-record scanners (ommcsv, ommkvn, ommjson, ommxml).
# Each scanner consumes only records it recognises in full and whose values ``build_set`` accepts
# -- exactly the records on which the Python reader would hand the same values to ``omm_fast``
# and get a set -- and stops at the first other record, which the Python reader then reads (slow
# path: same values, every error message).  Why: per-record Python work was 40-140 us per set
# (cProfile, issue 14); the scanners run at 2-5 us.

cdef extern from "Python.h":
    object PyUnicode_FromKindAndData(int, const void*, Py_ssize_t)

# oor.codec.omm.KEYWORDS, in order
cdef const char* KEYNAMES[17]
KEYNAMES[:] = [b"OBJECT_NAME", b"OBJECT_ID", b"EPOCH", b"MEAN_MOTION", b"ECCENTRICITY", b"INCLINATION",
               b"RA_OF_ASC_NODE", b"ARG_OF_PERICENTER", b"MEAN_ANOMALY", b"EPHEMERIS_TYPE",
               b"CLASSIFICATION_TYPE", b"NORAD_CAT_ID", b"ELEMENT_SET_NO", b"REV_AT_EPOCH", b"BSTAR",
               b"MEAN_MOTION_DOT", b"MEAN_MOTION_DDOT"]
cdef int KEYLEN[17]
KEYLEN[:] = [11, 9, 5, 11, 12, 11, 14, 17, 12, 14, 19, 12, 14, 12, 5, 15, 16]


def omm_keywords():
    """The keyword table compiled in here (oor.codec.omm asserts it equals KEYWORDS)."""
    return tuple(KEYNAMES[i][:KEYLEN[i]].decode() for i in range(NKEYS))


# KEYWORDS' indices by keyword length (-1 ends a list): key_index compares at most 4 names.
# Why: the loop over all 17 names (length, then memcmp) was 4-5% of reading XML and KVN (perf).
cdef signed char BY_LEN[20][5]
for _k in range(20):
    for _j in range(5):
        BY_LEN[_k][_j] = -1
for _k in range(NKEYS):
    for _j in range(4):
        if BY_LEN[KEYLEN[_k]][_j] < 0:
            BY_LEN[KEYLEN[_k]][_j] = _k
            BY_LEN[KEYLEN[_k]][_j + 1] = -1
            break


cdef int key_index(const unsigned char* p, Py_ssize_t n):
    """Index in KEYWORDS of the keyword p[0:n], or -1.  Callers: the scanners."""
    cdef int j, i
    if n < 5 or n > 19:
        return -1
    for j in range(4):
        i = BY_LEN[n][j]
        if i < 0:
            return -1
        if <unsigned char>KEYNAMES[i][0] == p[0] and <unsigned char>KEYNAMES[i][n - 1] == p[n - 1] \
                and memcmp(KEYNAMES[i], p, n) == 0:
            return i
    return -1


cdef bint _dec_text(const unsigned char* p, Py_ssize_t n, double* out):
    """As _float_of on a str: the plain-decimal grammar, then float() of the text.

    Why not always PyOS_string_to_double: it was half of the per-set time (9 calls).  With at most
    2^53 as the digits m and a net power of ten x with |x| <= 22, m and 10^|x| are exact doubles and
    one multiplication or division rounds once, correctly (Clinger's fast path), so the result is
    float()'s; anything else goes to PyOS_string_to_double.
    """
    cdef Py_ssize_t i = 0
    cdef int digits = 0, nf = 0, ex = 0, exd = 0
    cdef uint64_t m = 0
    cdef bint neg = False, eneg = False, big = False
    cdef char buf[48]
    cdef char* end
    cdef double d
    if n == 0 or n > 40:
        return False
    if p[0] == 43 or p[0] == 45:
        neg = p[0] == 45
        i = 1
    while i < n and 48 <= p[i] <= 57:
        if m < M_DIGITS_MAX:
            m = m * 10 + (p[i] - 48)
        else:
            big = True
        i += 1
        digits += 1
    if i < n and p[i] == 46:
        i += 1
        while i < n and 48 <= p[i] <= 57:
            if m < M_DIGITS_MAX:
                m = m * 10 + (p[i] - 48)
                nf += 1
            else:
                big = True
            i += 1
            digits += 1
    if digits == 0:
        return False
    if i < n and (p[i] == 101 or p[i] == 69):
        i += 1
        if i < n and (p[i] == 43 or p[i] == 45):
            eneg = p[i] == 45
            i += 1
        if i == n or not 48 <= p[i] <= 57:
            return False
        while i < n and 48 <= p[i] <= 57:
            if exd < 5:
                ex = ex * 10 + (p[i] - 48)
            exd += 1
            i += 1
    if i != n:
        return False
    if eneg:
        ex = -ex
    ex -= nf
    if not big and exd < 5 and m <= M_EXACT_MAX and -22 <= ex <= 22:
        if m == 0:
            d = 0.0
        elif ex >= 0:
            d = <double>m * POW10[ex]
        else:
            d = <double>m / POW10[-ex]
        out[0] = -d if neg else d
        return True
    memcpy(buf, p, n)
    buf[n] = 0
    d = PyOS_string_to_double(buf, &end, NULL)
    if end != buf + n or not isfinite(d):
        return False
    out[0] = d
    return True


cdef bint _json_int(const unsigned char* p, Py_ssize_t n, int64_t* out):
    """A JSON integer literal (grammar already checked) of at most 15 digits -> its value."""
    cdef Py_ssize_t i = 0
    cdef int64_t r = 0
    cdef bint neg = False
    if p[0] == 45:
        neg = True
        i = 1
    if n - i > 15:
        return False
    while i < n:
        r = r * 10 + (p[i] - 48)
        i += 1
    out[0] = -r if neg else r
    return True


cdef bint _val_float(Val* v, double* out):
    cdef int64_t r
    if v.kind == V_TEXT:
        return _dec_text(v.p, v.n, out)
    if v.kind == V_FLOAT:
        return _dec_text(v.p, v.n, out)          # float() of a JSON number's text, as json does
    if v.kind == V_INT:
        if not _json_int(v.p, v.n, &r):
            return False
        out[0] = <double>r                        # float(int), exact below 10^15
        return True
    return False


cdef bint _val_int(Val* v, int64_t lo, int64_t hi, int64_t* out):
    cdef Py_ssize_t i
    cdef int64_t r = 0
    if v.kind == V_INT:
        if not _json_int(v.p, v.n, &r):
            return False
    elif v.kind == V_TEXT:
        if v.n == 0 or v.n > 10:
            return False
        for i in range(v.n):
            if not 48 <= v.p[i] <= 57:
                return False
            r = r * 10 + (v.p[i] - 48)
    else:
        return False
    if not lo <= r <= hi:
        return False
    out[0] = r
    return True


cdef inline bint _given(Val* v):
    """Neither absent (None) nor empty text: omm_fast's ``v is not None and v != ''``."""
    return v.kind != V_ABSENT and not (v.kind == V_TEXT and v.n == 0)


cdef object _text_str(Val* v, int enc):
    if enc == ENC_UTF8:
        try:
            return PyUnicode_DecodeUTF8(<const char*>v.p, v.n, NULL)
        except UnicodeDecodeError:
            return None
    return PyUnicode_FromKindAndData(1, v.p, v.n)


cdef object extras_meta(Extra* x, int nx, int enc, tuple keys):
    """The META tuple of the nx extra keywords (None if none is kept), or False when a value is not
    text in ``enc`` (the Python reader then decides).  ``keys`` (CSV): the key strs, x[i].kn indexing it."""
    cdef list pairs = []
    cdef int i
    cdef Extra* e
    cdef object k, val
    for i in range(nx):
        e = &x[i]
        if e.v.kind == V_ABSENT or e.v.n == 0:
            continue
        if keys is not None:
            k = keys[e.kn]
        else:
            if e.kn == 0 or e.kn > 255:
                continue
            try:
                k = PyUnicode_DecodeASCII(<const char*>e.kp, e.kn, NULL)
            except UnicodeDecodeError:
                continue
        if k is None:
            continue
        if e.v.kind == V_TEXT:
            val = _text_str(&e.v, enc)
            if val is None:
                return False
        else:
            val = PyUnicode_DecodeASCII(<const char*>e.v.p, e.v.n, NULL)       # a JSON number's literal
        pairs.append((k, val))
    return tuple(pairs) if pairs else None


cdef object build_set(Val* v, object source, int enc, Extra* x, int nx, tuple keys):
    """omm_fast on 17 value slices (KEYWORDS order): the same ElementSet, or None off the fast path.

    ``enc``: how OBJECT_NAME's bytes are characters (ENC_LATIN1 for 1-byte-kind str input, ENC_UTF8
    for bytes).  ``x[:nx]``: the record's other keywords, for META (see extras_meta).  Callers: the
    scanners.
    """
    cdef double mm, ecc, incl, raan, argp, ma, bstar = 0.0, ndot = 0.0, nddot = 0.0, day
    cdef int64_t norad, eph = 0, elnum = 999, rev = 0, epoch_us, year
    cdef object name, cls, intl
    cdef Val* c
    cdef Val t
    cdef Py_ssize_t a, b
    if source is not None and (type(source) is not str or len(<str>source) > 63):
        return None
    if v[2].kind != V_TEXT or not _epoch_bytes(v[2].p, v[2].n, &epoch_us):
        return None
    if not (_val_float(&v[3], &mm) and _val_float(&v[4], &ecc) and _val_float(&v[5], &incl)
            and _val_float(&v[6], &raan) and _val_float(&v[7], &argp) and _val_float(&v[8], &ma)
            and _val_int(&v[11], 0, MAX_NORAD, &norad)):
        return None
    if not (mm > 0.0 and 0.0 <= ecc < 1.0 and 0.0 <= incl <= 180.0 and 0.0 <= raan <= 360.0
            and 0.0 <= argp <= 360.0 and 0.0 <= ma <= 360.0):
        return None
    if _given(&v[9]) and not _val_int(&v[9], 0, 9, &eph):
        return None
    if _given(&v[12]) and not _val_int(&v[12], 0, 9999, &elnum):
        return None
    if _given(&v[13]) and not _val_int(&v[13], 0, 4294967295, &rev):
        return None
    if _given(&v[14]) and not _val_float(&v[14], &bstar):
        return None
    if _given(&v[15]) and not _val_float(&v[15], &ndot):
        return None
    if _given(&v[16]) and not _val_float(&v[16], &nddot):
        return None
    c = &v[10]
    if c.kind == V_ABSENT or (c.kind == V_TEXT and c.n == 0):
        cls = _U
    elif c.kind == V_TEXT and c.n == 1 and c.p[0] == 85:
        cls = _U
    elif c.kind == V_TEXT and c.n == 1 and c.p[0] == 67:
        cls = _C
    elif c.kind == V_TEXT and c.n == 1 and c.p[0] == 83:
        cls = _S
    else:
        return None
    c = &v[1]
    if c.kind == V_ABSENT:
        intl = _EMPTY
    elif c.kind == V_TEXT and c.n <= 11:
        intl = _intl_bytes(c.p, c.n)
        if intl is None:
            return None
    else:
        return None
    c = &v[0]
    if c.kind == V_ABSENT:
        name = None
    elif c.kind == V_TEXT:
        if c.n > 64000:
            return None
        # str.strip() in C where it can be: ASCII white space cut from the bytes first; only a name
        # that then starts or ends with a byte >= 0x80 (maybe U+00A0, U+3000...) is stripped by Python.
        # Why: the strip() method call was 280 instructions of a set (callgrind).
        a = 0
        b = c.n
        while a < b and strip_space(c.p[a]):
            a += 1
        while b > a and strip_space(c.p[b - 1]):
            b -= 1
        if a == b:
            name = None
        elif c.p[a] < 128 and c.p[b - 1] < 128:
            t.p = c.p + a
            t.n = b - a
            t.kind = V_TEXT
            name = _text_str(&t, enc)
            if name is None or len(<str>name) + (c.n - (b - a)) > 16000:
                return None
        else:
            name = _text_str(c, enc)
            if name is None or len(<str>name) > 16000:
                return None
            name = (<str>name).strip()
            if not name:
                name = None
    else:
        return None
    meta = extras_meta(x, nx, enc, keys) if nx else None
    if meta is False:
        return None
    year = year_of(epoch_us)                  # as epoch_year_day, without its tuple
    day = 1.0 + <double>(epoch_us - days_before_year(year) * US_PER_DAY) / <double>US_PER_DAY
    return make_element((norad, cls, intl, epoch_us, mm, ndot, nddot, bstar, eph, elnum, incl, raan, ecc, argp, ma,
                  rev, name, source, year, day, None, None, 0, meta, None, None))


# ---------------------------------------------------------------------------------------------
# Newline counting for the readers' line numbers.  Why: bytes.count / str.count of one character
# run at about 0.8 ns a byte here (a byte loop); the OMM XML and JSON readers count every byte of
# their input once (0.8 us of a 9 us XML set); this loop is vectorised by the compiler (-O3).

cdef Py_ssize_t _count_byte(const unsigned char* p, Py_ssize_t n, unsigned char c):
    cdef Py_ssize_t i = 0, k, m, r = 0
    cdef unsigned char acc
    while i < n:                       # byte counters in runs of 255: 16 bytes a step (SSE2)
        m = n - i if n - i < 255 else 255
        acc = 0
        for k in range(m):
            acc += p[i + k] == c
        r += acc
        i += m
    return r


def count_newlines(buf, Py_ssize_t start=0, Py_ssize_t end=-1):
    """``buf.count(newline, start, end)`` for bytes or str, 0 <= start (end -1: to the end).

    Who may call: oor.codec.io, omm_xml, omm_json.
    """
    cdef const unsigned char* p
    cdef Py_ssize_t n
    if not text_view(buf, &p, &n):
        return buf.count("\n", start, len(buf) if end < 0 else end)
    if end < 0 or end > n:
        end = n
    if start < 0:
        start = 0
    if start >= end:
        return 0
    return _count_byte(p + start, end - start, 10)
