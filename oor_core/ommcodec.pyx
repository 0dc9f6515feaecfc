# oor_core/ommcodec.pyx -- the OMM fast paths: values -> ElementSet, and whole-record scanners
# (CSV lines, KVN messages, flat JSON objects, XML <omm> segments), in C.
#
# The OMM formats are owned by oor/codec/omm*.py (field tables, rules, every error message);
# this module only skips work on the common path: it returns None or stops at anything else,
# and the Python readers then read that record (same values, every error).  The ElementSet's
# value layout and the calendar come from tlecodec (tlecodec.pxd).
# Callers: oor.codec.omm, omm_csv, omm_json, omm_kvn, omm_xml.
from libc.string cimport memcmp, memcpy
from libc.stdint cimport int64_t, uint64_t
from libc.math cimport isfinite

from oor_core.tlecodec cimport (PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE,
                                PyObject_GenericSetAttr, PyUnicode_AsUTF8AndSize, PyUnicode_DATA,
                                PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8, PyUnicode_GET_LENGTH,
                                PyUnicode_IS_ASCII, days_before_year, epoch_year_day, is_leap,
                                make_element, year_of)

cdef double POW10[23]     # exact powers of ten for the decimal fast path
cdef int _k
POW10[0] = 1.0
for _k in range(1, 23):
    POW10[_k] = POW10[_k - 1] * 10.0

cdef int64_t US_PER_DAY = 86400000000


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
                  rev, name, source, year, day, None, None, 0))


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
# Whole-record fast paths (issue 14): CSV lines, KVN messages, flat JSON objects and XML <omm>
# segments are scanned here and their 17 values converted without building any Python object but
# the ElementSet.  Each scanner consumes only records it recognises in full and whose values
# ``_build`` accepts -- exactly the records on which the Python reader would hand the same values to
# ``omm_fast`` and get a set -- and stops at the first other record, which the Python reader then
# reads (slow path: same values, every error message).  Why: per-record Python work was 40-140 us
# per set (cProfile, issue 14); these run at 2-5 us.

cdef extern from "Python.h":
    int PyUnicode_KIND(object)
    object PyUnicode_FromKindAndData(int, const void*, Py_ssize_t)
    int PyList_Append(object, object) except -1

DEF NKEYS = 17
DEF V_ABSENT = 0
DEF V_TEXT = 1       # characters p[0:n] (1-byte kind: latin-1 from str input; UTF-8 from XML bytes)
DEF V_INT = 2        # a JSON integer literal
DEF V_FLOAT = 3      # a JSON number with a fraction or exponent
DEF ENC_LATIN1 = 0
DEF ENC_UTF8 = 1
DEF MAX_CSV_COLS = 256
DEF MAX_UNKNOWN = 32

cdef struct Val:
    const unsigned char* p
    Py_ssize_t n
    int kind

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


cdef inline int _key_index(const unsigned char* p, Py_ssize_t n):
    cdef int i
    for i in range(NKEYS):
        if KEYLEN[i] == n and memcmp(KEYNAMES[i], p, n) == 0:
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
        if m < 100000000000000000:
            m = m * 10 + (p[i] - 48)
        else:
            big = True
        i += 1
        digits += 1
    if i < n and p[i] == 46:
        i += 1
        while i < n and 48 <= p[i] <= 57:
            if m < 100000000000000000:
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
    if not big and exd < 5 and m <= 9007199254740992 and -22 <= ex <= 22:
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


cdef object _build(Val* v, object source, int enc):
    """omm_fast on 17 value slices (KEYWORDS order): the same ElementSet, or None off the fast path."""
    cdef double mm, ecc, incl, raan, argp, ma, bstar = 0.0, ndot = 0.0, nddot = 0.0, day
    cdef int64_t norad, eph = 0, elnum = 999, rev = 0, epoch_us, year
    cdef object name, cls, intl
    cdef Val* c
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
        name = _text_str(c, enc)
        if name is None or len(<str>name) > 16000:
            return None
        name = (<str>name).strip()
        if not name:
            name = None
    else:
        return None
    year = year_of(epoch_us)                  # as epoch_year_day, without its tuple
    day = 1.0 + <double>(epoch_us - days_before_year(year) * US_PER_DAY) / <double>US_PER_DAY
    return make_element((norad, cls, intl, epoch_us, mm, ndot, nddot, bstar, eph, elnum, incl, raan, ecc, argp, ma,
                  rev, name, source, year, day, None, None, 0))


cdef inline bint _latin1(object s, const unsigned char** p, Py_ssize_t* n):
    """1-byte-kind str (ASCII or latin-1 characters) -> its characters as bytes."""
    if type(s) is not str or PyUnicode_KIND(s) != 1:
        return False
    p[0] = <const unsigned char*>PyUnicode_DATA(s)
    n[0] = PyUnicode_GET_LENGTH(s)
    return True


def csv_run(list lines, Py_ssize_t i, tuple order, Py_ssize_t ncols, source, list out):
    """Convert CSV lines[i:] while each is a plain row (omm_csv's fast path); return the first index not taken.

    A plain row: a str of 1-byte characters, none a quote or a control character, with exactly
    ``ncols - 1`` commas -- the rows csv.reader splits as ``line.split(',')`` -- whose values
    ``_build`` accepts.  ``order[k]`` is the column of KEYWORDS[k], or -1.
    """
    cdef Py_ssize_t n_lines = len(lines), n, j, k, col
    cdef const unsigned char* p
    cdef Py_ssize_t starts[MAX_CSV_COLS + 1]
    cdef int idx[NKEYS]
    cdef Val v[NKEYS]
    cdef unsigned char ch
    if len(order) != NKEYS or ncols > MAX_CSV_COLS or ncols < 1:
        return i
    for k in range(NKEYS):
        idx[k] = order[k]
        if idx[k] >= ncols:
            return i
    while i < n_lines:
        line = lines[i]
        if not _latin1(line, &p, &n) or n == 0:
            return i
        col = 1
        starts[0] = 0
        for j in range(n):
            ch = p[j]
            if ch == 44:
                if col == ncols:
                    return i
                starts[col] = j + 1
                col += 1
            elif ch == 34 or ch < 32 or ch == 127:
                return i
        if col != ncols:
            return i
        starts[ncols] = n + 1
        for k in range(NKEYS):
            col = idx[k]
            if col < 0:
                v[k].kind = V_ABSENT
            else:
                v[k].kind = V_TEXT
                v[k].p = p + starts[col]
                v[k].n = starts[col + 1] - 1 - starts[col]
        es = _build(v, source, ENC_LATIN1)
        if es is None:
            return i
        PyList_Append(out, es)
        i += 1
    return i


# str.strip()'s whitespace among ASCII characters
cdef inline bint _space(unsigned char c):
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31


def kvn_run(list lines, Py_ssize_t i, source, list out):
    """Convert KVN messages starting at lines[i] (a CCSDS_OMM_VERS line) while each is plain; return the
    index of the first line not taken (the CCSDS_OMM_VERS line of the message the Python reader must read).

    A plain message: ASCII lines (exact str) up to the next CCSDS_OMM_VERS line *within this list*
    (a message running past the list's end is left to the Python reader), each blank, a COMMENT, or
    ``KEY = value`` with KEY of A-Z, 0-9 and '_', no keyword twice, at most 32 keywords outside
    KEYWORDS, and values ``_build`` accepts.  Units in brackets are cut from the numeric keywords'
    values as omm_kvn does.
    """
    cdef Py_ssize_t n_lines = len(lines), n, j, a, b, e, va, vb, cut, k, u, n_unknown
    cdef const unsigned char* p
    cdef const unsigned char* unk_p[MAX_UNKNOWN]
    cdef Py_ssize_t unk_n[MAX_UNKNOWN]
    cdef Val v[NKEYS]
    cdef int key
    cdef bint ok
    while i < n_lines:
        for k in range(NKEYS):
            v[k].kind = V_ABSENT
        n_unknown = 0
        ok = True
        j = i + 1
        while True:
            if j >= n_lines:
                return i                   # the message may go on in the next list
            line = lines[j]
            if type(line) is not str or not PyUnicode_IS_ASCII(line):
                return i
            p = <const unsigned char*>PyUnicode_DATA(line)
            n = PyUnicode_GET_LENGTH(line)
            a = 0
            while a < n and _space(p[a]):
                a += 1
            b = n
            while b > a and _space(p[b - 1]):
                b -= 1
            if a == b or (b - a >= 7 and memcmp(p + a, b"COMMENT", 7) == 0):
                j += 1
                continue
            e = a
            while e < b and p[e] != 61:
                e += 1
            k = e
            while k > a and _space(p[k - 1]):
                k -= 1
            if k - a == 14 and memcmp(p + a, b"CCSDS_OMM_VERS", 14) == 0:
                break                      # the next message starts at line j
            if e == b or k == a:
                return i                   # not KEY = value: the Python reader names the line
            for u in range(a, k):
                if not (48 <= p[u] <= 57 or 65 <= p[u] <= 90 or p[u] == 95):
                    return i
            va = e + 1
            while va < b and _space(p[va]):
                va += 1
            vb = b
            key = _key_index(p + a, k - a)
            if key >= 0:
                if v[key].kind != V_ABSENT:
                    return i               # twice: the Python reader names the line
                if key != 0 and key != 1 and key != 2 and key != 10 and vb > va and p[vb - 1] == 93:
                    cut = vb - 1                      # units in brackets: value[:value.rfind('[')].rstrip()
                    while cut >= va and p[cut] != 91:
                        cut -= 1
                    if cut >= va:
                        vb = cut
                        while vb > va and _space(p[vb - 1]):
                            vb -= 1
                v[key].kind = V_TEXT
                v[key].p = p + va
                v[key].n = vb - va
            else:
                for u in range(n_unknown):
                    if unk_n[u] == k - a and memcmp(unk_p[u], p + a, k - a) == 0:
                        return i
                if n_unknown == MAX_UNKNOWN:
                    return i
                unk_p[n_unknown] = p + a
                unk_n[n_unknown] = k - a
                n_unknown += 1
            j += 1
        es = _build(v, source, ENC_LATIN1)
        if es is None:
            return i
        PyList_Append(out, es)
        i = j
    return i


cdef inline bint _jws(unsigned char c):
    return c == 32 or c == 10 or c == 13 or c == 9


cdef Py_ssize_t _json_string(const unsigned char* p, Py_ssize_t i, Py_ssize_t n):
    """p[i] is '"': index after the closing quote of a string without escapes or control characters; -1 if
    the string is not of that kind or not complete."""
    cdef unsigned char c
    i += 1
    while i < n:
        c = p[i]
        if c == 34:
            return i + 1
        if c == 92 or c < 32:
            return -1
        i += 1
    return -1


cdef Py_ssize_t _json_number(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, bint* is_int):
    """Index after a JSON number starting at p[i] (strict JSON grammar); -1 if none or it may go on past n."""
    cdef bint integer = True
    if i < n and p[i] == 45:
        i += 1
    if i >= n:
        return -1
    if p[i] == 48:
        i += 1
    elif 49 <= p[i] <= 57:
        while i < n and 48 <= p[i] <= 57:
            i += 1
    else:
        return -1
    if i < n and p[i] == 46:
        integer = False
        i += 1
        if i >= n or not 48 <= p[i] <= 57:
            return -1
        while i < n and 48 <= p[i] <= 57:
            i += 1
    if i < n and (p[i] == 101 or p[i] == 69):
        integer = False
        i += 1
        if i < n and (p[i] == 43 or p[i] == 45):
            i += 1
        if i >= n or not 48 <= p[i] <= 57:
            return -1
        while i < n and 48 <= p[i] <= 57:
            i += 1
    if i >= n:
        return -1                     # the number may go on in the next chunk
    is_int[0] = integer
    return i


def json_run(str buf, Py_ssize_t pos, bint in_array, source, list out):
    """Convert the flat JSON objects starting at buf[pos] (omm_json's fast path); return the position of
    the first value not taken.

    Taken: objects (complete within buf) whose keys and string values have no escapes or control
    characters, whose values are strings, numbers or null, and whose values ``_build`` accepts --
    exactly the objects json decodes to a flat dict that omm_fast converts.  Between objects, JSON
    white space (and, in an array, commas, as omm_json skips them).  Only 1-byte-kind buffers.
    """
    cdef const unsigned char* p
    cdef Py_ssize_t n, q, ka, kb, e
    cdef Val v[NKEYS]
    cdef int key, k
    cdef bint is_int
    if not _latin1(buf, &p, &n):
        return pos
    while True:
        while pos < n and (_jws(p[pos]) or (in_array and p[pos] == 44)):
            pos += 1
        if pos >= n or p[pos] != 123:
            return pos
        for k in range(NKEYS):
            v[k].kind = V_ABSENT
        q = pos + 1
        while q < n and _jws(p[q]):
            q += 1
        if q >= n or p[q] != 34:
            return pos                     # {} or malformed: the Python reader decides
        while True:
            ka = q + 1
            q = _json_string(p, q, n)
            if q < 0:
                return pos
            kb = q - 1
            while q < n and _jws(p[q]):
                q += 1
            if q >= n or p[q] != 58:
                return pos
            q += 1
            while q < n and _jws(p[q]):
                q += 1
            if q >= n:
                return pos
            key = _key_index(p + ka, kb - ka)
            if p[q] == 34:
                e = _json_string(p, q, n)
                if e < 0:
                    return pos
                if key >= 0:
                    v[key].kind = V_TEXT
                    v[key].p = p + q + 1
                    v[key].n = e - 1 - (q + 1)
            elif p[q] == 45 or 48 <= p[q] <= 57:
                e = _json_number(p, q, n, &is_int)
                if e < 0:
                    return pos
                if key >= 0:
                    v[key].kind = V_INT if is_int else V_FLOAT
                    v[key].p = p + q
                    v[key].n = e - q
            elif p[q] == 110 and q + 4 <= n and memcmp(p + q, b"null", 4) == 0:
                e = q + 4
                if key >= 0:
                    v[key].kind = V_ABSENT
            else:
                return pos
            q = e
            while q < n and _jws(p[q]):
                q += 1
            if q >= n:
                return pos
            if p[q] == 44:
                q += 1
                while q < n and _jws(p[q]):
                    q += 1
                if q >= n or p[q] != 34:
                    return pos
                continue
            if p[q] == 125:
                q += 1
                break
            return pos
        es = _build(v, source, ENC_LATIN1)
        if es is None:
            return pos
        PyList_Append(out, es)
        pos = q


# ---- XML: a well-formedness check of a subset of XML 1.0, with the <omm> segments converted.
#
# The subset (anything else stops the scan with XML_BAIL; omm_xml then hands the rest of the document to
# expat, primed with the open elements, so every malformed-XML error is expat's own): elements with
# ASCII names ([A-Za-z_][A-Za-z0-9._-]*, at most one inner ':'), attributes with quoted values,
# character data without '&' or ']]>', UTF-8 checked (no overlong forms, surrogates, U+FFFE/U+FFFF
# or control characters but TAB, LF, CR); no comments, CDATA, processing instructions, references or
# DOCTYPE (the prolog is checked by omm_xml).  Every document in the subset is well-formed, so
# expat accepts it.  An <omm> segment's keywords are read as omm_xml._segment reads them: the text
# after each start or empty tag without attributes whose local name is [A-Z_]+, up to the next '<',
# the last one winning.

DEF XML_STACK = 64
DEF XML_NAME = 64
DEF XML_MORE = 0        # the buffer ends inside a token or segment: call again from pos with more data
DEF XML_SLOW = 1        # the segment [a, b) is for omm_xml._segment; go on from pos (= b)
DEF XML_BAIL = 2        # outside the subset at pos (a token or segment start): expat takes over
DEF XML_END = 3         # final, and the document is complete


# byte classes: TEXT_PLAIN[c] for character data needing no further check (printable ASCII but < & ] >),
# NAME_CH[c] for [A-Za-z0-9._:-]
cdef unsigned char TEXT_PLAIN[256]
cdef unsigned char NAME_CH[256]
for _k in range(256):
    TEXT_PLAIN[_k] = 1 if (32 <= _k < 128 and _k != 60 and _k != 38 and _k != 93 and _k != 62) or _k == 9 or _k == 10 \
        or _k == 13 else 0
    NAME_CH[_k] = 1 if (65 <= _k <= 90 or 97 <= _k <= 122 or 48 <= _k <= 57 or _k == 95 or _k == 46
                        or _k == 45 or _k == 58) else 0


cdef class XmlScan:
    """State of xml_run between buffers: the open elements and whether the root element was seen."""
    cdef int depth
    cdef int nlen[XML_STACK]
    cdef char names[XML_STACK][XML_NAME]
    cdef readonly bint root_seen

    def prefix(self):
        """Bytes that bring a fresh expat parser to this state: the open start tags, or '<_/>' after the root."""
        if self.root_seen and self.depth == 0:
            return b"<_/>"
        return b"".join(b"<" + self.names[i][:self.nlen[i]] + b">" for i in range(self.depth))


cdef Py_ssize_t _utf8(const unsigned char* p, Py_ssize_t i, Py_ssize_t n):
    """p[i] >= 0x80: index after a valid UTF-8 XML character there; -1 invalid; -2 cut by the buffer end."""
    cdef unsigned char c = p[i], c1, c2
    cdef int need
    if 0xC2 <= c <= 0xDF:
        need = 1
    elif 0xE0 <= c <= 0xEF:
        need = 2
    elif 0xF0 <= c <= 0xF4:
        need = 3
    else:
        return -1
    if i + need >= n:
        return -2
    c1 = p[i + 1]
    if not 0x80 <= c1 <= 0xBF:
        return -1
    if need == 1:
        return i + 2
    c2 = p[i + 2]
    if not 0x80 <= c2 <= 0xBF:
        return -1
    if need == 2:
        if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 > 0x9F):
            return -1
        if c == 0xEF and c1 == 0xBF and c2 >= 0xBE:
            return -1                                # U+FFFE, U+FFFF
        return i + 3
    if not 0x80 <= p[i + 3] <= 0xBF:
        return -1
    if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 > 0x8F):
        return -1
    return i + 4


cdef inline bint _xname_start(unsigned char c):
    return 65 <= c <= 90 or 97 <= c <= 122 or c == 95


cdef inline bint _xname(unsigned char c):
    return 65 <= c <= 90 or 97 <= c <= 122 or c == 95 or 48 <= c <= 57 or c == 46 or c == 45 or c == 58


cdef inline bint _xs(unsigned char c):
    return c == 32 or c == 10 or c == 13 or c == 9


cdef Py_ssize_t _xname_end(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, Py_ssize_t* colon):
    """Index after the name at p[i]; -1 outside the subset; -2 cut by the buffer end. colon: its ':' or -1."""
    cdef Py_ssize_t a = i
    colon[0] = -1
    if i >= n:
        return -2
    if not _xname_start(p[i]):
        return -1
    while i < n and NAME_CH[p[i]]:
        if p[i] == 58:
            if colon[0] >= 0 or i == a:
                return -1
            colon[0] = i
        i += 1
    if i >= n:
        return -2
    if colon[0] == i - 1 or i - a > XML_NAME:
        return -1
    return i


cdef Py_ssize_t _xref(const unsigned char* p, Py_ssize_t i, Py_ssize_t n):
    """p[i] is '&': index after a predefined entity or character reference to an XML character; -1 if
    it is none of those; -2 cut by the buffer end."""
    cdef Py_ssize_t j = i + 1, a
    cdef int64_t cp = 0
    cdef int d
    if j < n and p[j] == 35:
        j += 1
        if j < n and p[j] == 120:
            j += 1
            a = j
            while j < n and j - a <= 8:
                d = p[j]
                if 48 <= d <= 57:
                    cp = cp * 16 + d - 48
                elif 97 <= d <= 102:
                    cp = cp * 16 + d - 87
                elif 65 <= d <= 70:
                    cp = cp * 16 + d - 55
                else:
                    break
                j += 1
        else:
            a = j
            while j < n and j - a <= 8 and 48 <= p[j] <= 57:
                cp = cp * 10 + p[j] - 48
                j += 1
        if j >= n:
            return -2
        if j == a or p[j] != 59 or j - a > 8:
            return -1
        if not (cp == 9 or cp == 10 or cp == 13 or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD
                or 0x10000 <= cp <= 0x10FFFF):
            return -1
        return j + 1
    a = j
    while j < n and j - a <= 5 and 97 <= p[j] <= 122:
        j += 1
    if j >= n:
        return -2
    if p[j] != 59:
        return -1
    if ((j - a == 2 and (memcmp(p + a, b"lt", 2) == 0 or memcmp(p + a, b"gt", 2) == 0))
            or (j - a == 3 and memcmp(p + a, b"amp", 3) == 0)
            or (j - a == 4 and (memcmp(p + a, b"apos", 4) == 0 or memcmp(p + a, b"quot", 4) == 0))):
        return j + 1
    return -1


def xml_run(XmlScan st, bytes buf, Py_ssize_t pos, bint final, source, list out):
    """Scan buf[pos:] (see above), appending the sets of plain <omm> segments to ``out``.

    Returns (code, pos, a, b): XML_MORE/SLOW/BAIL/END as defined above.
    """
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buf)
    cdef Py_ssize_t i, t, e, colon, an, j, k, q, nattr, seg_start = -1, vstart = -1
    cdef Py_ssize_t attr_a[16]
    cdef Py_ssize_t attr_n[16]
    cdef int seg_depth = 0, key = -1, saved_depth = st.depth, capture
    cdef bint empty, seg_slow = False
    cdef unsigned char c, quote
    cdef Val v[NKEYS]
    i = pos
    while True:
        if i >= n:
            if seg_start >= 0:
                st.depth = saved_depth
                return (XML_MORE if not final else XML_BAIL, seg_start, 0, 0)
            if final:
                if st.root_seen and st.depth == 0:
                    return (XML_END, i, 0, 0)
                return (XML_BAIL, i, 0, 0)
            return (XML_MORE, i, 0, 0)
        c = p[i]
        if c != 60:
            # character data up to the next '<'
            t = i
            while i < n:
                if st.depth > 0:
                    while i < n and TEXT_PLAIN[p[i]]:    # the common bytes in one tight loop
                        i += 1
                    if i >= n:
                        break
                c = p[i]
                if c == 60:
                    break
                if c >= 0x80:
                    e = _utf8(p, i, n)
                    if e == -2 and not final:
                        i = -2
                        break
                    if e < 0 or st.depth == 0:
                        i = -1
                        break
                    i = e
                    continue
                if c < 32 and c != 9 and c != 10 and c != 13:
                    i = -1
                    break
                if c == 38:
                    e = _xref(p, i, n)
                    if e == -2 and not final:
                        i = -2
                        break
                    if e < 0 or st.depth == 0:
                        i = -1
                        break
                    seg_slow = True                  # omm_xml._segment reads the references
                    i = e
                    continue
                if c == 62 and i >= t + 2 and p[i - 1] == 93 and p[i - 2] == 93:
                    i = -1
                    break
                if st.depth == 0 and not _xs(c):
                    i = -1
                    break
                i += 1
            if i == -2 or (i >= n and not final):
                if seg_start >= 0:
                    st.depth = saved_depth
                    return (XML_MORE, seg_start, 0, 0)
                return (XML_MORE, t, 0, 0)
            if i < 0:
                if seg_start >= 0:
                    st.depth = saved_depth
                    return (XML_BAIL, seg_start, 0, 0)
                return (XML_BAIL, t, 0, 0)
            continue
        # markup at i
        t = i
        if i + 1 >= n:
            e = -2
        elif p[i + 1] == 47:                          # end tag: the open element's name, S?, '>'
            if st.depth == 0:
                e = -1
            else:
                k = st.depth - 1
                an = st.nlen[k]
                e = i + 2 + an
                if e >= n:
                    e = -2                            # more data decides
                elif memcmp(st.names[k], p + i + 2, an) != 0 or NAME_CH[p[e]]:
                    e = -1
                else:
                    while e < n and _xs(p[e]):
                        e += 1
                    if e >= n:
                        e = -2
                    elif p[e] != 62:
                        e = -1
                    else:
                        st.depth = k
                        e += 1
                        if seg_start >= 0 and st.depth == seg_depth:
                            es = None if seg_slow else _build(v, source, ENC_UTF8)
                            if es is None:
                                return (XML_SLOW, e, seg_start, e)
                            PyList_Append(out, es)
                            seg_start = -1
                            saved_depth = st.depth
        elif _xname_start(p[i + 1]):                  # start or empty-element tag
            e = _xname_end(p, i + 1, n, &colon)
            an = e - (i + 1)
            nattr = 0
            empty = False
            j = e
            while j >= 0:
                k = j
                while j < n and _xs(p[j]):
                    j += 1
                if j >= n:
                    j = -2
                    break
                if p[j] == 62:
                    j += 1
                    break
                if p[j] == 47:
                    if j + 1 >= n:
                        j = -2
                    elif p[j + 1] == 62:
                        empty = True
                        j += 2
                    else:
                        j = -1
                    break
                if j == k or nattr == 16:             # an attribute needs white space before it
                    j = -1
                    break
                q = _xname_end(p, j, n, &colon)
                if q < 0:
                    j = q
                    break
                attr_a[nattr] = j
                attr_n[nattr] = q - j
                for k in range(nattr):
                    if attr_n[k] == q - j and memcmp(p + attr_a[k], p + j, q - j) == 0:
                        q = -1
                        break
                if q < 0:
                    j = -1
                    break
                nattr += 1
                j = q
                while j < n and _xs(p[j]):
                    j += 1
                if j >= n:
                    j = -2
                    break
                if p[j] != 61:
                    j = -1
                    break
                j += 1
                while j < n and _xs(p[j]):
                    j += 1
                if j >= n:
                    j = -2
                    break
                quote = p[j]
                if quote != 34 and quote != 39:
                    j = -1
                    break
                j += 1
                while j < n and p[j] != quote:
                    c = p[j]
                    if c == 60 or c == 38 or (c < 32 and c != 9 and c != 10 and c != 13):
                        j = -1
                        break
                    if c >= 0x80:
                        q = _utf8(p, j, n)
                        if q < 0:
                            j = q
                            break
                        j = q
                        continue
                    j += 1
                if j < 0:
                    break
                if j >= n:
                    j = -2
                    break
                j += 1
            if e >= 0:
                e = j
            if e >= 0:
                if (st.root_seen and st.depth == 0) or st.depth >= XML_STACK:
                    e = -1
            if e >= 0:
                _xname_end(p, i + 1, n, &colon)      # the element's own ':' (the attributes reused colon)
                k = colon + 1 if colon >= 0 else i + 1   # its local name starts at k
                if (i + 1 + an) - k == 3 and memcmp(p + k, b"omm", 3) == 0:
                    if seg_start >= 0 or empty:
                        e = -1
                    else:
                        seg_start = t
                        seg_slow = False
                        seg_depth = st.depth
                        saved_depth = st.depth
                        for q in range(NKEYS):
                            v[q].kind = V_ABSENT
                elif seg_start >= 0 and nattr == 0:
                    capture = 1
                    for q in range(k, i + 1 + an):
                        if not (65 <= p[q] <= 90 or p[q] == 95):
                            capture = 0
                            break
                    if capture:
                        key = _key_index(p + k, i + 1 + an - k)
                        if key >= 0:
                            q = e
                            while q < n and p[q] != 60:
                                q += 1
                            v[key].kind = V_TEXT
                            v[key].p = p + e
                            v[key].n = q - e          # checked as character data when the scan gets there
            if e >= 0:
                st.root_seen = True
                if not empty:
                    memcpy(st.names[st.depth], p + i + 1, an)
                    st.nlen[st.depth] = an
                    st.depth += 1
        else:
            e = -1
        if e == -2:
            if final:
                e = -1
            else:
                if seg_start >= 0:
                    st.depth = saved_depth
                    return (XML_MORE, seg_start, 0, 0)
                return (XML_MORE, t, 0, 0)
        if e < 0:
            if seg_start >= 0:
                st.depth = saved_depth
                return (XML_BAIL, seg_start, 0, 0)
            return (XML_BAIL, t, 0, 0)
        i = e

