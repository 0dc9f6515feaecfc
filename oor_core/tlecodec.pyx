# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Hot path of the element-set codec: TLE column parsing, the binary record, and the OMM fast paths.

Who may call: only ``oor.codec`` (``oor/codec/tle.py``, ``oor/codec/record.py``, and the OMM
readers ``oor/codec/omm*.py`` for the OMM section at the end).
The column layout of a TLE is documented in ``oor/codec/tle.py``; the byte
table of the binary record (and its numbered validity conditions) in
``oor/codec/record.py``; the OMM keyword rules in ``oor/codec/omm.py``.  This
file implements them and nothing else; the Python modules own the API, the
documentation, every error message and everything off the hot path.  The
OMM scanners (``csv_run``, ``kvn_run``, ``json_run``, ``xml_run``) never
raise for bad input: they stop, and the Python reader reads from there.

The parser never raises anything but ``TLEParseError`` for a bad line pair
(``line`` is 1 or 2, relative to the pair; ``column`` is 1-based), and never
anything but ``ValueError`` for a bad record.

Numbers are converted exactly as ``float()`` converts their decimal text:
every TLE field has at most 11 significant digits, so ``digits / 10**k``
(both exactly representable, one correctly rounded IEEE division) equals the
correctly rounded value of the decimal.
"""
from libc.string cimport memcmp, memcpy
from libc.stdint cimport int64_t, uint64_t
from libc.math cimport isfinite
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF

from oor_core.errors import TLEParseError


# Layout of ElementSet._v (23 values, oor/codec/elements.py, which asserts it).
DEF N_COMPARED = 20     # values and raw epoch year/day
DEF MAX_TLE_LINE = 255  # the record stores each line's length in one byte (oor/codec/record.py)

cdef double POW10[23]
cdef int _k
POW10[0] = 1.0
for _k in range(1, 23):
    POW10[_k] = POW10[_k - 1] * 10.0

cdef int64_t US_PER_DAY = 86400000000
# C-typed: a literal beyond 32 bits compared with a C integer is a Python comparison in Cython
cdef int64_t UNITS_MAX = 36700000000LL                  # epoch day 367.0 in units of 1e-8 day
cdef int64_t DAYS_0001_TO_1950 = 711857   # days from 0001-01-01 to 1950-01-01 (proleptic Gregorian)

cdef dict _CLASS = {85: "U", 67: "C", 83: "S"}
cdef object _element_class = None
cdef PyTypeObject* _element_type = NULL
cdef Py_ssize_t _v_offset = 0          # where ElementSet's one slot (_v) sits in an instance


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    object PyType_GenericAlloc(PyTypeObject* t, Py_ssize_t n)


def set_element_class(cls):
    """Register ElementSet so the parser can build instances; called once by oor.codec.elements.

    The class must have exactly one slot, ``_v`` (and no __dict__): make_element allocates an instance
    and stores the value tuple at the slot's offset, as object.__new__ and the slot's setter would.
    Why: the Python-level __new__ call and the attribute set were 850 instructions of a set (callgrind).
    """
    global _element_class, _element_type, _v_offset
    d = cls.__dict__.get("_v")
    if (type(d).__name__ != "member_descriptor" or getattr(cls, "__slots__", None) != ("_v",)
            or cls.__mro__ != (cls, object) or cls.__new__ is not object.__new__):
        raise TypeError("the element class must be a plain class with __slots__ = ('_v',)")
    off = (<PyMemberDescrObject*><PyObject*>d).d_member.offset
    if not 0 < off <= cls.__basicsize__ - sizeof(PyObject*) or cls.__itemsize__ != 0:
        raise TypeError("unexpected slot layout of the element class")
    _element_class = cls
    _element_type = <PyTypeObject*>cls
    _v_offset = off


cdef object make_element(tuple v):
    """A new ElementSet holding the value tuple v.  Callers: the parsers here and in ommcodec.pyx."""
    obj = PyType_GenericAlloc(_element_type, 0)
    Py_INCREF(v)
    (<PyObject**>(<char*><PyObject*>obj + _v_offset))[0] = <PyObject*>v
    return obj


# ---------------------------------------------------------------------------------------------
# Calendar helpers (proleptic Gregorian, integer arithmetic only).

cdef int64_t floordiv(int64_t a, int64_t b):
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef int64_t year_of(int64_t epoch_us):
    """Calendar year containing epoch_us (microseconds since 1950-01-01T00:00Z)."""
    cdef int64_t days = floordiv(epoch_us, US_PER_DAY)
    cdef int64_t y = 1950 + floordiv(days * 400, 146097)
    if y < 1:
        y = 1
    while y > 1 and days_before_year(y) > days:
        y -= 1
    while days_before_year(y + 1) <= days:
        y += 1
    return y


cpdef tuple epoch_year_day(int64_t epoch_us):
    """(year, day-of-year with fraction, 1.0 = Jan 1 00:00) of an epoch; for sets built from fields."""
    cdef int64_t y = year_of(epoch_us)
    cdef int64_t into = epoch_us - days_before_year(y) * US_PER_DAY
    return y, 1.0 + <double>into / <double>US_PER_DAY


# ---------------------------------------------------------------------------------------------
# Field parsers.  Columns a..b are 0-based, end exclusive; messages use 1-based columns.

cdef int fail(str reason, int line, int col, str text) except -1:
    raise TLEParseError(reason, None, line, col, text)


cdef inline str shown(unsigned char c):
    return repr(chr(c))


cdef int blank(const unsigned char* s, int i, int line, str text) except -1:
    if s[i] != 32:
        fail(f"column {i + 1} must be blank, found {shown(s[i])}", line, i + 1, text)
    return 0


cdef int uint_field(const unsigned char* s, int a, int b, int line, str text, str what,
                    bint blank_ok, int64_t* out) except -1:
    """Unsigned integer, right-justified: leading blanks, then digits."""
    cdef int i = a
    cdef int64_t v = 0
    cdef unsigned char c
    while i < b and s[i] == 32:
        i += 1
    if i == b:
        if blank_ok:
            out[0] = 0
            return 0
        fail(f"{what} (columns {a + 1}-{b}) is blank", line, a + 1, text)
    while i < b:
        c = s[i]
        if c < 48 or c > 57:
            fail(f"{what}: unexpected {shown(c)} in column {i + 1}, expected a digit", line, i + 1, text)
        v = v * 10 + (c - 48)
        i += 1
    out[0] = v
    return 0


cdef int decimal_field(const unsigned char* s, int a, int b, int line, str text, str what,
                       bint signed, int64_t* mant, int* nfrac, bint* neg) except -1:
    """Decimal number: leading blanks, optional sign, digits with at most one '.'."""
    cdef int i = a
    cdef int64_t m = 0
    cdef int ndig = 0, nf = -1
    cdef unsigned char c
    neg[0] = False
    while i < b and s[i] == 32:
        i += 1
    if i < b and (s[i] == 43 or s[i] == 45):
        if not signed:
            fail(f"{what}: sign {shown(s[i])} not allowed in column {i + 1}", line, i + 1, text)
        neg[0] = s[i] == 45
        i += 1
    while i < b:
        c = s[i]
        if 48 <= c <= 57:
            m = m * 10 + (c - 48)
            ndig += 1
            if nf >= 0:
                nf += 1
        elif c == 46 and nf < 0:
            nf = 0
        else:
            fail(f"{what}: unexpected {shown(c)} in column {i + 1}", line, i + 1, text)
        i += 1
    if ndig == 0:
        fail(f"{what} (columns {a + 1}-{b}) has no digits", line, a + 1, text)
    mant[0] = m
    nfrac[0] = nf if nf > 0 else 0
    return 0


cdef inline bint _has_point(const unsigned char* s, int a, int b):
    cdef int i
    for i in range(a, b):
        if s[i] == 46:
            return True
    return False


cdef int exp_field(const unsigned char* s, int a, int line, str text, str what, double* out) except -1:
    """Implied-point exponent field, 8 columns: sign, 5 digits (.ddddd), exponent sign, exponent digit.

    As sgp4 does, the last two columns are read as one signed integer, so ``01`` is +1.
    """
    cdef int i
    cdef int64_t m = 0, e
    cdef unsigned char c = s[a], c6 = s[a + 6], c7 = s[a + 7]
    cdef bint neg = False
    cdef double v
    if c == 45:
        neg = True
    elif c != 32 and c != 43:
        fail(f"{what}: column {a + 1} must be a sign or blank, found {shown(c)}", line, a + 1, text)
    i = a + 1
    while i < a + 6 and s[i] == 32:
        i += 1
    if i == a + 6:
        fail(f"{what}: mantissa (columns {a + 2}-{a + 6}) is blank", line, a + 2, text)
    while i < a + 6:
        c = s[i]
        if c < 48 or c > 57:
            fail(f"{what}: unexpected {shown(c)} in column {i + 1}, expected a digit", line, i + 1, text)
        m = m * 10 + (c - 48)
        i += 1
    if c7 < 48 or c7 > 57:
        fail(f"{what}: exponent digit in column {a + 8} is {shown(c7)}", line, a + 8, text)
    e = c7 - 48
    if c6 == 45:
        e = -e
    elif 48 <= c6 <= 57:
        e = (c6 - 48) * 10 + e
    elif c6 != 43 and c6 != 32:
        fail(f"{what}: exponent sign in column {a + 7} is {shown(c6)}", line, a + 7, text)
    e -= 5
    if e < 0:
        v = <double>m / POW10[-e]
    else:
        v = <double>m * POW10[e]
    out[0] = -v if neg else v
    return 0


cdef int norad_field(const unsigned char* s, int line, str text, int64_t* out) except -1:
    """Catalog number, columns 3-7: digits (blank- or zero-padded) or alpha-5 (A-Z without I, O)."""
    cdef unsigned char c = s[2]
    cdef int64_t lead, rest
    cdef int i
    if 65 <= c <= 90:
        if c == 73 or c == 79:
            fail(f"catalog number: alpha-5 letter {shown(c)} is not used (I and O are skipped)", line, 3, text)
        lead = c - 55
        if c > 73:
            lead -= 1
        if c > 79:
            lead -= 1
        for i in range(3, 7):
            if s[i] < 48 or s[i] > 57:
                fail(f"catalog number: alpha-5 id needs 4 digits after the letter, column {i + 1} is {shown(s[i])}",
                     line, i + 1, text)
        uint_field(s, 3, 7, line, text, "catalog number", False, &rest)
        out[0] = lead * 10000 + rest
        return 0
    return uint_field(s, 2, 7, line, text, "catalog number", False, out)


cdef int check_line(str text, int line, bint allow68, const unsigned char** data) except -1:
    """Length, ASCII and checksum checks; return 0 and set data, or raise."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef const unsigned char* s
    cdef int i, total = 0, want
    cdef unsigned char c
    if not PyUnicode_IS_ASCII(text):
        for i in range(n):
            if ord(text[i]) > 127:
                fail(f"non-ASCII character U+{ord(text[i]):04X} in column {i + 1}", line, i + 1, text)
    s = <const unsigned char*>PyUnicode_DATA(text)
    if n < 68:
        fail(f"line {line} is too short: {n} columns, a TLE line has 69", line, n + 1, text)
    if s[0] != 48 + line:
        fail(f"line {line} must start with '{line}', found {shown(s[0])}", line, 1, text)
    if n > MAX_TLE_LINE:
        fail(f"line {line} is {n} columns long; a stored TLE line holds at most {MAX_TLE_LINE}",
             line, MAX_TLE_LINE + 1, text)
    if n == 68:
        if not allow68:
            fail(f"line {line} has 68 columns: the checksum (column 69) is missing; "
                 f"pass allow_missing_checksum=True to accept such lines", line, 69, text)
    else:
        # columns 70 and on (sgp4's verification file puts start/stop times there) are kept, not read
        c = s[68]
        if c < 48 or c > 57:
            fail(f"checksum (column 69) must be a digit, found {shown(c)}", line, 69, text)
        want = c - 48
        for i in range(68):
            c = s[i]
            if 48 <= c <= 57:
                total += c - 48
            elif c == 45:
                total += 1
        if total % 10 != want:
            fail(f"checksum mismatch: column 69 says {want}, the line sums to {total % 10}", line, 69, text)
    data[0] = s
    return 0


def tle_checksum(str text):
    """Checksum digit of columns 1-68 (digits count their value, '-' counts 1, modulo 10); for the writer."""
    cdef Py_ssize_t n = min(PyUnicode_GET_LENGTH(text), 68)
    cdef int total = 0, i
    cdef Py_UCS4 c
    for i in range(n):
        c = text[i]
        if u'0' <= c <= u'9':
            total += <int>c - 48
        elif c == u'-':
            total += 1
    return total % 10


cdef tuple parse_pair(str l1, str l2, bint allow68, object name, object source, object flags):
    """Parse and validate one line pair into the ElementSet value tuple; raise TLEParseError."""
    cdef const unsigned char* a
    cdef const unsigned char* b
    cdef int64_t id1, id2, yy, units, eph, elnum, rev, year, ecc_int, epoch_us
    cdef int64_t m
    cdef int nf, i
    cdef bint neg
    cdef double ndot, nddot, bstar, incl, raan, argp, ma, mm, day
    cdef str intl
    cdef unsigned char c
    cdef char ibuf[8]
    cdef Py_ssize_t n

    check_line(l1, 1, allow68, &a)
    check_line(l2, 2, allow68, &b)

    # ---- line 1
    blank(a, 1, 1, l1)
    norad_field(a, 1, l1, &id1)
    c = a[7]
    if c != 85 and c != 67 and c != 83:
        fail(f"classification (column 8) must be U, C or S, found {shown(c)}", 1, 8, l1)
    blank(a, 8, 1, l1)
    # international designator, columns 10-17: blank, or yy nnn ppp
    i = 9
    while i < 17 and a[i] == 32:
        i += 1
    if i == 17:
        intl = ""
    else:
        for i in range(9, 14):
            if a[i] < 48 or a[i] > 57:
                fail(f"international designator: column {i + 1} must be a digit, found {shown(a[i])}", 1, i + 1, l1)
        for i in range(14, 17):
            if a[i] != 32 and not (65 <= a[i] <= 90):
                fail(f"international designator: piece (columns 15-17) has {shown(a[i])} in column {i + 1}",
                     1, i + 1, l1)
        n = 0
        for i in range(9, 17):
            if a[i] != 32:
                ibuf[n] = a[i]
                n += 1
        intl = PyUnicode_DecodeASCII(ibuf, n, NULL)
    blank(a, 17, 1, l1)
    uint_field(a, 18, 20, 1, l1, "epoch year", False, &yy)
    decimal_field(a, 20, 32, 1, l1, "epoch day", False, &m, &nf, &neg)
    if nf > 8:
        fail("epoch day has more than 8 decimals", 1, 21, l1)
    units = m
    for i in range(nf, 8):
        units *= 10
    if units >= UNITS_MAX:
        fail(f"epoch day {l1[20:32].strip()} is out of range (0 to 366.99999999)", 1, 21, l1)
    day = <double>m / POW10[nf]
    year = 2000 + yy if yy < 57 else 1900 + yy
    epoch_us = (days_before_year(year) - 1) * US_PER_DAY + units * 864
    blank(a, 32, 1, l1)
    decimal_field(a, 33, 43, 1, l1, "first derivative of mean motion", True, &m, &nf, &neg)
    if nf == 0 and not _has_point(a, 33, 43):
        # without its point the field would read 10^8 times too large; sgp4's Python reader refuses it too
        fail("first derivative of mean motion (columns 34-43) has no decimal point", 1, 34, l1)
    ndot = -(<double>m / POW10[nf]) if neg else <double>m / POW10[nf]
    blank(a, 43, 1, l1)
    exp_field(a, 44, 1, l1, "second derivative of mean motion", &nddot)
    blank(a, 52, 1, l1)
    exp_field(a, 53, 1, l1, "BSTAR", &bstar)
    blank(a, 61, 1, l1)
    c = a[62]
    if c == 32:
        eph = 0
    elif 48 <= c <= 57:
        eph = c - 48
    elif 65 <= c <= 90:
        eph = 0         # a letter (Find_Orb writes 'H'): kept in the text; sgp4's Satrec reads it as 0
    else:
        fail(f"ephemeris type (column 63) must be a digit or a letter, found {shown(c)}", 1, 63, l1)
    blank(a, 63, 1, l1)
    uint_field(a, 64, 68, 1, l1, "element set number", True, &elnum)

    # ---- line 2
    blank(b, 1, 2, l2)
    norad_field(b, 2, l2, &id2)
    if id2 != id1:
        fail(f"catalog number {id2} on line 2 differs from {id1} on line 1", 2, 3, l2)
    blank(b, 7, 2, l2)
    decimal_field(b, 8, 16, 2, l2, "inclination", True, &m, &nf, &neg)
    incl = <double>m / POW10[nf]
    if neg or incl > 180.0:
        fail(f"inclination {l2[8:16].strip()} is outside 0-180 degrees", 2, 9, l2)
    blank(b, 16, 2, l2)
    decimal_field(b, 17, 25, 2, l2, "right ascension of the ascending node", True, &m, &nf, &neg)
    raan = <double>m / POW10[nf]
    if neg or raan > 360.0:
        fail(f"right ascension {l2[17:25].strip()} is outside 0-360 degrees", 2, 18, l2)
    blank(b, 25, 2, l2)
    ecc_int = 0
    for i in range(26, 33):
        c = b[i]
        if c == 32:
            c = 48
        if c < 48 or c > 57:
            fail(f"eccentricity: unexpected {shown(c)} in column {i + 1}, expected a digit", 2, i + 1, l2)
        ecc_int = ecc_int * 10 + (c - 48)
    blank(b, 33, 2, l2)
    decimal_field(b, 34, 42, 2, l2, "argument of perigee", True, &m, &nf, &neg)
    argp = <double>m / POW10[nf]
    if neg or argp > 360.0:
        fail(f"argument of perigee {l2[34:42].strip()} is outside 0-360 degrees", 2, 35, l2)
    blank(b, 42, 2, l2)
    decimal_field(b, 43, 51, 2, l2, "mean anomaly", True, &m, &nf, &neg)
    ma = <double>m / POW10[nf]
    if neg or ma > 360.0:
        fail(f"mean anomaly {l2[43:51].strip()} is outside 0-360 degrees", 2, 44, l2)
    blank(b, 51, 2, l2)
    decimal_field(b, 52, 63, 2, l2, "mean motion", False, &m, &nf, &neg)
    if m == 0:
        fail("mean motion is zero", 2, 53, l2)
    mm = <double>m / POW10[nf]
    uint_field(b, 63, 68, 2, l2, "revolution number", True, &rev)

    return (id1, _CLASS[a[7]], intl, epoch_us, mm, ndot, nddot, bstar, eph, elnum,
            incl, raan, <double>ecc_int / 1e7, argp, ma, rev, name, source,
            year, day, l1, l2, flags)


def parse_tle(str line1, str line2, bint allow_missing_checksum=False, name=None, source=None, int flags=0):
    """Build an ElementSet from one line pair (no line endings); for oor.codec.tle only.

    Raises TLEParseError with line 1 or 2 (relative to the pair) and the 1-based column.
    """
    return make_element(parse_pair(line1, line2, allow_missing_checksum, name, source, flags))


cdef inline str _chomp(str s):
    """s without trailing CR/LF characters (s.rstrip("\\r\\n")), the same object when it has none."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef char c
    if n and PyUnicode_IS_ASCII(s):
        c = (<const char*>PyUnicode_DATA(s))[n - 1]
        if c != 13 and c != 10:
            return s
    return s.rstrip("\r\n")


def parse_line_pair(line1, line2, *, name=None, source=None, bint allow_missing_checksum=False):
    """One line pair (no line endings) -> ElementSet.

    Who may call: anyone (it is ``oor.parse_tle``; documented in oor/codec/tle.py).  Raises
    TLEParseError whose ``line`` is 1 or 2 and ``column`` the 1-based column of the fault.  O(1), about
    a microsecond.  Why here and not a Python wrapper: the wrapper's frame, type checks and two
    rstrip calls were a fifth of the time per pair (callgrind).
    """
    if not isinstance(line1, str) or not isinstance(line2, str):
        raise TypeError("TLE lines must be str")
    return make_element(parse_pair(_chomp(line1), _chomp(line2), allow_missing_checksum, name, source, 0))


# ---------------------------------------------------------------------------------------------
# Binary record (byte table in oor/codec/record.py).

DEF VERSION = 1
DEF KIND_TEXT = 1
DEF KIND_FIELDS = 2
DEF F_NAME = 1
DEF F_SOURCE = 2
DEF F_PREFIX = 4
DEF HDR = 6
DEF FIXED = 101          # size of the FIELDS block


cdef inline void put_u16(unsigned char* p, unsigned int v):
    p[0] = v & 0xFF
    p[1] = (v >> 8) & 0xFF


cdef inline void put_u32(unsigned char* p, uint64_t v):
    cdef int i
    for i in range(4):
        p[i] = (v >> (8 * i)) & 0xFF


cdef inline void put_u64(unsigned char* p, uint64_t v):
    cdef int i
    for i in range(8):
        p[i] = (v >> (8 * i)) & 0xFF


cdef inline uint64_t get_u(const unsigned char* p, int n):
    cdef uint64_t v = 0
    cdef int i
    for i in range(n - 1, -1, -1):
        v = (v << 8) | p[i]
    return v


cdef inline void put_f64(unsigned char* p, double d):
    cdef uint64_t u
    memcpy(&u, &d, 8)
    put_u64(p, u)


cdef inline double get_f64(const unsigned char* p):
    cdef uint64_t u = get_u(p, 8)
    cdef double d
    memcpy(&d, &u, 8)
    return d


def encode_record(es):
    """ElementSet -> record bytes (see oor/codec/record.py); for oor.codec.record only."""
    cdef tuple v = es._v
    cdef const char* name_p = NULL
    cdef const char* src_p = NULL
    cdef const char* l1p = NULL
    cdef const char* l2p = NULL
    cdef const char* ip
    cdef Py_ssize_t nn = 0, ns = 0, n1 = 0, n2 = 0, ni, total, off
    cdef int flags = 0, i
    cdef unsigned char* p
    cdef unsigned char* q
    cdef object l1 = v[20], l2 = v[21], name = v[16], source = v[17]
    if name is not None:
        name_p = PyUnicode_AsUTF8AndSize(name, &nn)
        flags |= F_NAME
        if nn > 65535:
            raise ValueError(f"name is {nn} bytes long; a record holds at most 65535")
    if source is not None:
        src_p = PyUnicode_AsUTF8AndSize(source, &ns)
        flags |= F_SOURCE
        if ns > 255:
            raise ValueError(f"source is {ns} bytes long; a record holds at most 255")
    if <int>v[22] & 1:
        flags |= F_PREFIX
    ip = PyUnicode_AsUTF8AndSize(v[2], &ni)
    if ni > 8:
        raise ValueError("international designator longer than 8 characters")
    total = HDR + FIXED + nn + ns
    if l1 is not None:
        l1p = PyUnicode_AsUTF8AndSize(l1, &n1)
        l2p = PyUnicode_AsUTF8AndSize(l2, &n2)
        if n1 > 255 or n2 > 255:
            raise ValueError("TLE line longer than 255 columns cannot be stored")
        total += 2 + n1 + n2
    out = PyBytes_FromStringAndSize(NULL, total)
    p = <unsigned char*>PyBytes_AS_STRING(out)
    p[0] = VERSION
    p[1] = KIND_TEXT if l1 is not None else KIND_FIELDS
    p[2] = flags
    p[3] = <unsigned char>ns
    put_u16(p + 4, <unsigned int>nn)
    q = p + HDR
    put_u32(q + 0, <uint64_t>v[0])
    q[4] = ord(v[1])
    q[5] = <unsigned char>(<int>v[8])
    put_u64(q + 6, <uint64_t>(<int64_t>v[3]))
    put_f64(q + 14, v[4])
    put_f64(q + 22, v[5])
    put_f64(q + 30, v[6])
    put_f64(q + 38, v[7])
    put_f64(q + 46, v[10])
    put_f64(q + 54, v[11])
    put_f64(q + 62, v[12])
    put_f64(q + 70, v[13])
    put_f64(q + 78, v[14])
    put_u32(q + 86, <uint64_t>v[15])
    put_u16(q + 90, <unsigned int>v[9])
    q[92] = <unsigned char>ni
    for i in range(8):
        q[93 + i] = ip[i] if i < ni else 0
    off = HDR + FIXED
    if l1 is not None:
        p[off] = <unsigned char>n1
        p[off + 1] = <unsigned char>n2
        memcpy(p + off + 2, l1p, n1)
        memcpy(p + off + 2 + n1, l2p, n2)
        off += 2 + n1 + n2
    if nn:
        memcpy(p + off, name_p, nn)
    if ns:
        memcpy(p + off + nn, src_p, ns)
    return out


cdef int bad(str reason) except -1:
    raise ValueError(f"invalid element-set record: {reason}")


def decode_record(buf):
    """Record bytes -> ElementSet, checking validity conditions 1-8; for oor.codec.record only."""
    cdef bytes data = buf if type(buf) is bytes else bytes(buf)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), nn, ns, n1 = 0, n2 = 0, off, ni
    cdef int flags, kind, nf
    cdef const unsigned char* q
    cdef const unsigned char* t
    cdef object name = None, source = None, l1 = None, l2 = None, year, day
    cdef int64_t epoch_us, yy, m
    cdef unsigned char c
    cdef int i
    cdef bint neg
    cdef double mm, incl, raan, ecc, argp, ma, ndot, nddot, bstar
    if n < HDR + FIXED:
        bad(f"{n} bytes is shorter than header and fields ({HDR + FIXED} bytes)")
    if p[0] != VERSION:
        bad(f"version byte is {p[0]}, expected {VERSION}")
    kind = p[1]
    flags = p[2]
    if kind != KIND_TEXT and kind != KIND_FIELDS:
        bad(f"kind byte is {kind}, expected 1 (TEXT) or 2 (FIELDS)")
    if flags & ~(F_NAME | F_SOURCE | F_PREFIX):
        bad(f"unknown flag bits 0x{flags:02x}")
    ns = p[3]
    nn = <Py_ssize_t>get_u(p + 4, 2)
    if (not flags & F_NAME and nn) or (not flags & F_SOURCE and ns):
        bad("name or source length set without its presence flag")
    off = HDR + FIXED
    if kind == KIND_TEXT:
        if n < off + 2:
            bad("TEXT record too short for its line lengths")
        n1 = p[off]
        n2 = p[off + 1]
        if n1 < 68 or n2 < 68:
            bad("stored TLE line shorter than 68 columns")
        off += 2 + n1 + n2
    if off + nn + ns != n:
        bad(f"length is {n} bytes, the header describes {off + nn + ns}")
    try:
        if flags & F_NAME:
            name = PyUnicode_DecodeUTF8(<const char*>p + off, nn, NULL)
        if flags & F_SOURCE:
            source = PyUnicode_DecodeUTF8(<const char*>p + off + nn, ns, NULL)
    except UnicodeDecodeError as exc:
        bad(f"name or source is not UTF-8 ({exc.reason})")
    q = p + HDR
    c = q[4]
    if c != 85 and c != 67 and c != 83:
        bad("classification is not U, C or S")
    if q[5] > 9:
        bad("ephemeris type above 9")
    ni = q[92]
    if ni > 8:
        bad("international designator length above 8")
    for i in range(ni):
        if not (48 <= q[93 + i] <= 57 or 65 <= q[93 + i] <= 90):
            bad("international designator holds a character other than 0-9, A-Z")
    epoch_us = <int64_t>get_u(q + 6, 8)
    mm = get_f64(q + 14)
    ndot = get_f64(q + 22)
    nddot = get_f64(q + 30)
    bstar = get_f64(q + 38)
    incl = get_f64(q + 46)
    raan = get_f64(q + 54)
    ecc = get_f64(q + 62)
    argp = get_f64(q + 70)
    ma = get_f64(q + 78)
    if not (isfinite(mm) and isfinite(ndot) and isfinite(nddot) and isfinite(bstar)):
        bad("a float field is infinite or NaN")
    if not (mm > 0.0 and 0.0 <= incl <= 180.0 and 0.0 <= raan <= 360.0 and 0.0 <= ecc < 1.0
            and 0.0 <= argp <= 360.0 and 0.0 <= ma <= 360.0):
        bad("an orbital element is out of range (or NaN)")
    if kind == KIND_TEXT:
        t = p + HDR + FIXED + 2
        try:
            l1 = PyUnicode_DecodeASCII(<const char*>t, n1, NULL)
            l2 = PyUnicode_DecodeASCII(<const char*>t + n1, n2, NULL)
        except UnicodeDecodeError:
            bad("TLE text is not ASCII")
        # raw epoch year and day come from the text (columns 19-32 of line 1)
        try:
            uint_field(t, 18, 20, 1, l1, "epoch year", False, &yy)
            decimal_field(t, 20, 32, 1, l1, "epoch day", False, &m, &nf, &neg)
        except TLEParseError as exc:
            bad(f"stored line 1: {exc.reason}")
        if nf > 8:
            bad("stored line 1: epoch day has more than 8 decimals")
        year = 2000 + yy if yy < 57 else 1900 + yy
        day = <double>m / POW10[nf]
    else:
        year, day = epoch_year_day(epoch_us)
    return make_element((get_u(q, 4), _CLASS[c], PyUnicode_DecodeASCII(<const char*>q + 93, ni, NULL), epoch_us,
                  mm, ndot, nddot, bstar, <int>q[5], get_u(q + 90, 2),
                  incl, raan, ecc, argp, ma, get_u(q + 86, 4), name, source,
                  year, day, l1, l2, 1 if flags & F_PREFIX else 0))


def check_record(buf):
    """Full check of one record: decode_record's conditions plus condition 9 (TEXT lines re-parse to
    exactly the stored fields).  Returns the ElementSet or raises ValueError.  For oor.codec.record only."""
    es = decode_record(buf)
    cdef tuple v = es._v
    if v[20] is not None:
        try:
            w = parse_pair(v[20], v[21], True, v[16], v[17], v[22])
        except TLEParseError as exc:
            bad(f"stored TLE line {exc.line} does not parse: {exc.reason}")
        for i in range(N_COMPARED):
            a, b = v[i], w[i]
            if not (a == b and type(a) is type(b)):
                bad(f"stored field {i} ({a!r}) differs from what the stored text says ({b!r})")
    return es


def longest(list lines):
    """Length of the longest str in ``lines`` (io._line_chunks' over-long-line check, without a Python loop)."""
    cdef Py_ssize_t best = 0, n
    for x in lines:
        n = PyUnicode_GET_LENGTH(x) if type(x) is str else len(x)
        if n > best:
            best = n
    return best

