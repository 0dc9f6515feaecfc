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
from libc.string cimport memcmp, memcpy, strlen
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdio cimport snprintf
from libc.math cimport isfinite, floor, signbit, log10
from cpython.object cimport PyObject, PyTypeObject, Py_TYPE
from cpython.ref cimport Py_INCREF, Py_XDECREF

from oor_core.errors import TLEParseError


# Layout of ElementSet._v (26 values, oor/codec/elements.py, which asserts it): 0-22 the set and its
# text, 23 META, 24 ORIGIN, 25 ARRIVAL.
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


cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void* op)


cdef object _lazy_class = None
cdef PyTypeObject* _lazy_type = NULL
cdef Py_ssize_t _rec_offset = 0        # where RecordElementSet's _rec slot sits in an instance
cdef Py_ssize_t _l1_offset = 0         # ... and its line1 and line2 slots
cdef Py_ssize_t _l2_offset = 0


def set_lazy_class(cls):
    """Register the lazy element class (oor.codec.elements.RecordElementSet, an ElementSet whose fields are
    decoded from its record on first use); called once by oor.codec.elements.  lazy_at allocates an
    instance and stores the record bytes at the ``_rec`` slot and the two lines at the ``line1`` and
    ``line2`` slots (member descriptors: reading a line is a C-level slot read, no property call),
    leaving ``_v`` unset."""
    global _lazy_class, _lazy_type, _rec_offset, _l1_offset, _l2_offset
    descrs = [cls.__dict__.get(name) for name in ("_rec", "line1", "line2")]
    if (_element_class is None or any(type(d).__name__ != "member_descriptor" for d in descrs)
            or cls.__mro__ != (cls, _element_class, object) or cls.__new__ is not object.__new__):
        raise TypeError("the lazy element class must subclass the element class with _rec, line1 and line2 slots")
    if type(cls.__dict__.get("_v")) is not LazyValues:
        raise TypeError("the lazy element class must read _v through tlecodec.LazyValues")
    offs = [(<PyMemberDescrObject*><PyObject*>d).d_member.offset for d in descrs]
    for o in offs:
        if not 0 < o <= cls.__basicsize__ - sizeof(PyObject*) or cls.__itemsize__ != 0:
            raise TypeError("unexpected slot layout of the lazy element class")
    _lazy_class = cls
    _lazy_type = <PyTypeObject*>cls
    _rec_offset, _l1_offset, _l2_offset = offs


cdef class LazyValues:
    """The ``_v`` attribute of the lazy element class (a data descriptor on RecordElementSet that
    shadows ElementSet's slot): the slot's value tuple when it is set, else the values decoded now from
    the ``_rec`` slot and kept in the slot.  Why a descriptor in C and not ``__getattr__``: a class with
    ``__getattr__`` gets CPython's getattr hook for every attribute read, so ``es.line1`` lost its
    C-level slot read (the hook, a type lookup and a failed generic lookup: 6% of reading a deep
    history, perf).  Only instances of the registered lazy class are read (anything else: TypeError)."""

    def __get__(self, obj, objtype):
        if obj is None:
            return self
        if _lazy_type == NULL or Py_TYPE(obj) != _lazy_type:
            raise TypeError("LazyValues reads only the lazy element class")
        cdef PyObject** slot = <PyObject**>(<char*><PyObject*>obj + _v_offset)
        if slot[0] != NULL:
            return <object>slot[0]
        cdef PyObject* rec = (<PyObject**>(<char*><PyObject*>obj + _rec_offset))[0]
        if rec == NULL or type(<object>rec) is not bytes:
            raise AttributeError("this element set has no record to decode")
        cdef object es = decode_at(<const unsigned char*>PyBytes_AS_STRING(<object>rec), PyBytes_GET_SIZE(<object>rec))
        cdef PyObject* v = (<PyObject**>(<char*><PyObject*>es + _v_offset))[0]
        if slot[0] == NULL:                 # (decode_at ran Python code: keep a value set meanwhile)
            Py_INCREF(<object>v)
            slot[0] = v
        return <object>slot[0]

    def __set__(self, obj, value):
        # object.__setattr__(obj, "_v", v), as ElementSet's own builders do: stored in the slot
        if _lazy_type == NULL or Py_TYPE(obj) != _lazy_type:
            raise TypeError("LazyValues sets only the lazy element class")
        if type(value) is not tuple:
            raise TypeError("_v is a tuple")
        cdef PyObject** slot = <PyObject**>(<char*><PyObject*>obj + _v_offset)
        cdef PyObject* old = slot[0]
        Py_INCREF(value)
        slot[0] = <PyObject*>value
        Py_XDECREF(old)

    def __delete__(self, obj):
        raise AttributeError("ElementSet is immutable")


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
        total = checksum_char(<const char*>s) - 48
        if total != want:
            fail(f"checksum mismatch: column 69 says {want}, the line sums to {total}", line, 69, text)
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


cdef tuple parse_pair(str l1, str l2, bint allow68, object name, object source, object flags,
                      object origin=None):
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
            year, day, l1, l2, flags, None, origin, None)


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t, Py_UCS4)
    int PyUnicode_KIND(object)


cdef object make_origin(object prefix, Py_ssize_t line):
    """prefix + str(line) (the reader's "FILE:LINE" origin); one allocation for a 1-byte-kind prefix.
    Why: the f-string was 110 ns of a 3.2 us set; this is about 35 ns."""
    cdef char digits[24]
    cdef int nd = 0, i
    cdef Py_ssize_t n
    if type(prefix) is not str or PyUnicode_KIND(prefix) != 1 or line < 0:
        return f"{prefix}{line}"
    while True:
        digits[nd] = 48 + line % 10
        nd += 1
        line //= 10
        if line == 0:
            break
    n = PyUnicode_GET_LENGTH(prefix)
    out = PyUnicode_New(n + nd, 127 if PyUnicode_IS_ASCII(prefix) else 255)
    cdef char* d = <char*>PyUnicode_DATA(out)
    memcpy(d, PyUnicode_DATA(prefix), n)
    for i in range(nd):
        d[n + i] = digits[nd - 1 - i]
    return out


def parse_tle(str line1, str line2, bint allow_missing_checksum=False, name=None, source=None, int flags=0,
              origin_prefix=None, Py_ssize_t origin_line=0):
    """Build an ElementSet from one line pair (no line endings); for oor.codec.tle only.

    ``origin_prefix`` (``"FILE:"``) given: the set's origin is it followed by ``origin_line``.
    Raises TLEParseError with line 1 or 2 (relative to the pair) and the 1-based column.
    """
    return make_element(parse_pair(line1, line2, allow_missing_checksum, name, source, flags,
                                   None if origin_prefix is None else make_origin(origin_prefix, origin_line)))


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
# Canonical TLE lines in C: the bytes oor.codec.tle.format_lines gives (which calls this first).
# Used by the record encoder (a TEXT set whose lines are canonical is stored without them) and
# decoder (which rebuilds them).  Returns False for anything format_lines would refuse and for
# -0.0 fields; the Python formatter then decides.  Why C: format_lines in Python is ~9 us a set;
# the encoder compares every TEXT set with its canonical form.
#
# Rounding: each field is printed as Python's format() prints it (correctly rounded, ties to even).
# value * 10^d is computed in one IEEE operation (error below 1e-9 of a unit here); unless it lies
# within 1e-4 of a rounding tie, rounding that product is the correct rounding of the value; near
# a tie, C's snprintf (glibc: exact, ties to even) decides.

cdef const char* ALPHA5 = b"ABCDEFGHJKLMNPQRSTUVWXYZ"


# "00" "01" ... "99": two digits per division (put_digits)
cdef char DIGITS2[200]
for _k in range(100):
    DIGITS2[2 * _k] = 48 + _k // 10
    DIGITS2[2 * _k + 1] = 48 + _k % 10


cdef inline void put_digits(char* p, uint64_t v, int width):
    """v as exactly ``width`` zero-padded decimal digits (v < 10^width); two digits per step (a
    division by 100 and a table pair), half the dependent divisions of one per digit."""
    cdef int i = width
    cdef uint64_t q
    while i >= 2:
        q = v // 100
        memcpy(p + i - 2, &DIGITS2[2 * (v - q * 100)], 2)
        v = q
        i -= 2
    if i == 1:
        p[0] = 48 + <int>v


cdef inline int put_right(char* p, uint64_t v, int width):
    """v right-justified in ``width`` columns with blanks (as f"{v:{width}d}"); -1 if it needs more."""
    cdef int i = width - 1
    if v == 0:
        for i in range(width - 1):
            p[i] = 32
        p[width - 1] = 48
        return 0
    while i >= 0 and v:
        p[i] = 48 + <int>(v % 10)
        v //= 10
        i -= 1
    if v:
        return -1
    while i >= 0:
        p[i] = 32
        i -= 1
    return 0


cdef inline uint64_t _p10(int d) noexcept nogil:
    """10^d as an integer; a literal for the d the TLE columns use, so that once inlined with a
    constant d the divisions by it are multiplications."""
    if d == 4:
        return 10000
    if d == 7:
        return 10000000
    if d == 8:
        return 100000000
    return <uint64_t>POW10[d]


cdef inline bint round_scaled(double x, int d, uint64_t* out):
    """round(x * 10^d) as format(x, f'.{d}f') rounds it, for 0 <= x < 1e8 and d <= 8; False if x is odd."""
    cdef double s, f
    cdef char buf[64]
    cdef int n, i
    cdef uint64_t r = 0
    if not (x >= 0.0) or signbit(x) or x >= 1e9:
        return False
    s = x * POW10[d]
    f = s - floor(s)
    if -1e-4 < f - 0.5 < 1e-4:
        n = snprintf(buf, 64, b"%.*f", d, x)
        if n <= 0 or n >= 64:
            return False
        for i in range(n):
            if 48 <= buf[i] <= 57:
                r = r * 10 + (buf[i] - 48)
        out[0] = r
        return True
    out[0] = <uint64_t>floor(s + 0.5)
    return True


cdef inline bint round_exact(double x, double scale, uint64_t* out) noexcept:
    """round_scaled's common case without floor or snprintf: x * scale truncated (floor, for x >= 0) and
    rounded up when the rest is at least a half; False when x is negative, -0.0, not finite or too
    large, or the rest lies within 1e-4 of a half (then round_scaled's exact path decides).  Equal to
    round_scaled wherever the caller's field fits: x * scale < 2^40 there, so the rest is exact and
    far from the tie window."""
    cdef double s
    cdef uint64_t t
    cdef double f
    if not (x >= 0.0) or signbit(x) or x >= 1e9:
        return False
    s = x * scale
    if s >= 1099511627776.0:                        # 2^40
        return False
    t = <uint64_t>s
    f = s - <double>t
    if -1e-4 < f - 0.5 < 1e-4:
        return False
    out[0] = t + (f >= 0.5)
    return True


cdef inline bint fixed_8_4(char* p, double x) noexcept:
    """fixed_field(p, x, 8, 4) (the angles) with its widths as constants, so that every division by
    a power of ten is a multiplication and the digit loops unroll."""
    cdef uint64_t r, ip
    if not round_exact(x, 10000.0, &r):
        return fixed_field(p, x, 8, 4)
    ip = r // 10000
    if put_right(p, ip, 3) < 0:
        return False
    p[3] = 46
    put_digits(p + 4, r - ip * 10000, 4)
    return True


cdef inline bint fixed_field(char* p, double x, int width, int d):
    """format(x, f'{width}.{d}f') into p (width columns, blank-padded); False if it does not fit or is odd."""
    cdef uint64_t r, ip
    if not round_scaled(x, d, &r):
        return False
    ip = r // _p10(d)
    if put_right(p, ip, width - d - 1) < 0:
        return False
    p[width - d - 1] = 46
    put_digits(p + width - d, r % _p10(d), d)
    return True


cdef bint exp_field_out(char* p, double value):
    """oor.codec.tle._exp_field: 8 columns ' 12345-3'; False when it raises or for odd values."""
    cdef double a, s, f
    cdef int e10, e, i, n
    cdef uint64_t r
    cdef char buf[64]
    if value == 0.0:
        memcpy(p, b" 00000+0", 8)
        return True
    if not isfinite(value):
        return False
    a = -value if value < 0.0 else value
    e10 = <int>floor(log10(a))
    if e10 < -30 or e10 > 30:
        return False
    while True:                    # a * 10^(4 - e10) in [10^4, 10^5), one IEEE operation
        if 4 - e10 >= 0:
            if 4 - e10 > 22:
                return False
            s = a * POW10[4 - e10]
        else:
            if e10 - 4 > 22:
                return False
            s = a / POW10[e10 - 4]
        if s < 10000.0:
            e10 -= 1
        elif s >= 100000.0:
            e10 += 1
        else:
            break
    f = s - floor(s)
    if -1e-4 < f - 0.5 < 1e-4:
        n = snprintf(buf, 64, b"%.4e", a)       # d.dddde[+-]XX
        if n < 10 or n >= 64 or buf[1] != 46:
            return False
        r = 0
        for i in range(6):
            if i != 1:
                r = r * 10 + (buf[i] - 48)
        e10 = 0
        for i in range(8, n):
            e10 = e10 * 10 + (buf[i] - 48)
        if buf[7] == 45:
            e10 = -e10
    else:
        r = <uint64_t>floor(s + 0.5)
        if r == 100000:
            r = 10000
            e10 += 1
    e = e10 + 1
    if e < -9:
        memcpy(p, b" 00000+0", 8)
        return True
    if e > 9:
        return False
    p[0] = 45 if value < 0.0 else 32
    put_digits(p + 1, r, 5)
    p[6] = 45 if e < 0 else 43
    p[7] = 48 + (-e if e < 0 else e)
    return True


cdef inline char checksum_char(const char* p):
    """The TLE checksum digit of the line's first 68 columns (a digit counts its value, '-' 1).
    Branch-free, so the compiler vectorizes it: a test per column was 45% of canon_fields' time
    (perf annotate), a table lookup per column still 30%."""
    cdef int i, total = 0
    cdef unsigned int d
    cdef unsigned char c
    for i in range(68):
        c = <unsigned char>p[i]
        d = <unsigned int>c - 48
        total += <int>((d < 10) * d + (c == 45))
    return 48 + total % 10


cdef bint canon_lines(tuple v, char* l1, char* l2):
    """The canonical lines of the value tuple v (69 bytes each into l1, l2); False if format_lines
    would raise (or for -0.0 fields: the Python formatter decides those)."""
    cdef int64_t norad = v[0], epoch_us = v[3]
    cdef int64_t eph = v[8], elnum = v[9], rev = v[15]
    cdef object cls = v[1], intl = v[2]
    if type(intl) is not str or not PyUnicode_IS_ASCII(intl) or type(cls) is not str \
            or PyUnicode_GET_LENGTH(cls) != 1 or not PyUnicode_IS_ASCII(cls):
        return False
    return canon_fields(norad, (<const char*>PyUnicode_DATA(cls))[0], <const char*>PyUnicode_DATA(intl),
                        PyUnicode_GET_LENGTH(intl), epoch_us, v[4], v[5], v[6], v[7], eph, elnum, v[10], v[11],
                        v[12], v[13], v[14], rev, l1, l2)


cdef bint canon_fields(int64_t norad, char cls, const char* ip, Py_ssize_t ni, int64_t epoch_us, double mm,
                       double ndot, double nddot, double bstar, int64_t eph, int64_t elnum, double incl,
                       double raan, double ecc, double argp, double ma, int64_t rev, char* l1, char* l2) noexcept:
    """canon_lines on C values (no Python object); the designator ip[:ni] ASCII."""
    cdef int64_t start, units, year, diy
    cdef uint64_t r
    cdef char sid[5]
    cdef int i
    if norad < 0 or norad > 339999 or rev < 0 or rev > 99999 or eph < 0 or eph > 9 or elnum < 0 or elnum > 9999:
        return False
    if norad <= 99999:
        put_digits(sid, norad, 5)
    else:
        sid[0] = ALPHA5[norad // 10000 - 10]
        put_digits(sid + 1, norad % 10000, 4)
    if ni > 8:
        return False
    # epoch: 1e-8 day, rounded half up; the year rolls over at the end of the year
    year = year_of(epoch_us)
    start = days_before_year(year) * US_PER_DAY
    units = floordiv((epoch_us - start) * 2 + 864, 1728)
    diy = 366 if is_leap(year) else 365
    if units >= diy * 100000000:
        year += 1
        units -= diy * 100000000
    if year < 1957 or year > 2056:
        return False
    # ---- line 1: "1 NNNNNC IIIIIIII YYDDD.DDDDDDDD S.NNNNNNNN SNNNNN-N SNNNNN-N E NNNN"
    l1[0] = 49
    l1[1] = 32
    memcpy(l1 + 2, sid, 5)
    l1[7] = cls
    l1[8] = 32
    for i in range(8):
        l1[9 + i] = ip[i] if i < ni else 32
    l1[17] = 32
    put_digits(l1 + 18, year % 100, 2)
    put_digits(l1 + 20, units // 100000000 + 1, 3)
    l1[23] = 46
    put_digits(l1 + 24, units % 100000000, 8)
    l1[32] = 32
    if not round_scaled(-ndot if ndot < 0.0 else ndot, 8, &r) or r >= 100000000:
        return False
    # -0.0 (Space-Track's "-.00000000", 75 sets of ../shared/data/history) is left to the Python formatter,
    # so such a set keeps its lines: a record elided here would be refused by every earlier build, whose
    # decoder rebuilds the lines with this function alone (docs/codec.md)
    if ndot == 0.0 and signbit(ndot):
        return False
    l1[33] = 45 if ndot < 0.0 else 32
    l1[34] = 46
    put_digits(l1 + 35, r, 8)
    l1[43] = 32
    if not exp_field_out(l1 + 44, nddot):
        return False
    l1[52] = 32
    if not exp_field_out(l1 + 53, bstar):
        return False
    l1[61] = 32
    l1[62] = 48 + <int>eph
    l1[63] = 32
    put_right(l1 + 64, elnum, 4)
    l1[68] = checksum_char(l1)
    # ---- line 2: "2 NNNNN III.IIII RRR.RRRR EEEEEEE PPP.PPPP MMM.MMMM NN.NNNNNNNNRRRRR"
    l2[0] = 50
    l2[1] = 32
    memcpy(l2 + 2, sid, 5)
    l2[7] = 32
    if not fixed_8_4(l2 + 8, incl):
        return False
    l2[16] = 32
    if not fixed_8_4(l2 + 17, raan):
        return False
    l2[25] = 32
    if not round_scaled(ecc, 7, &r) or r >= 10000000:
        return False
    put_digits(l2 + 26, r, 7)
    l2[33] = 32
    if not fixed_8_4(l2 + 34, argp):
        return False
    l2[42] = 32
    if not fixed_8_4(l2 + 43, ma):
        return False
    l2[51] = 32
    if not fixed_field(l2 + 52, mm, 11, 8):
        return False
    put_right(l2 + 63, rev, 5)
    l2[68] = checksum_char(l2)
    return True


# Text styles: the formatting variants of real files that an elided record rebuilds (record.py's
# style byte).  Why: only 0.7% of the sets of ../shared/data are byte-identical to the canonical
# lines (most write a zero exponent as '-0'); with these seven variants 99.6% are.
DEF ST_NDDOT_MINUS0 = 1      # line 1 cols 45-52 zero written ' 00000-0' (canonical ' 00000+0')
DEF ST_BSTAR_MINUS0 = 2      # cols 54-61 likewise
DEF ST_BLANK_ID = 4          # catalog number blank-padded ('    5'), both lines
DEF ST_PLUS = 8              # '+' for the sign of non-negative ndot, nddot, bstar (cols 34, 45, 54)
DEF ST_ZERO_ANGLES = 16      # line 2 angles and mean motion zero-padded ('066.0797', '01.00278485')
DEF ST_ZERO_REV = 32         # line 2 revolution number zero-padded ('02349')
DEF ST_ZERO_ELNUM = 64       # line 1 element set number zero-padded ('0999')
DEF ST_ALL = 127


cdef inline void zero_pad(char* p, int a, int b):
    """Blanks before the first non-blank of p[a:b] -> '0' (a field that is all blank keeps its last blank)."""
    cdef int i = a
    while i < b - 1 and p[i] == 32:
        p[i] = 48
        i += 1


cdef void apply_style(char* l1, char* l2, int style):
    """Canonical lines (69 bytes each) -> the lines of ``style``, checksums kept right.

    The checksum counts digits and 1 for each '-': a blank for a '0' (or back) and a '+' for a blank
    leave it as it is, so only the two minus zeros move it (line 1's, by 1 each) -- a recount of both
    lines was a twentieth of decoding an elided record (perf, a scan)."""
    cdef int i, minus = 0
    if style & ST_NDDOT_MINUS0 and memcmp(l1 + 44, b" 00000+0", 8) == 0:
        l1[50] = 45
        minus += 1
    if style & ST_BSTAR_MINUS0 and memcmp(l1 + 53, b" 00000+0", 8) == 0:
        l1[59] = 45
        minus += 1
    if style & ST_BLANK_ID:
        i = 2
        while i < 6 and l1[i] == 48:
            l1[i] = 32
            l2[i] = 32
            i += 1
    if style & ST_PLUS:
        if l1[33] == 32:
            l1[33] = 43
        if l1[44] == 32:
            l1[44] = 43
        if l1[53] == 32:
            l1[53] = 43
    if style & ST_ZERO_ANGLES:
        zero_pad(l2, 8, 16)
        zero_pad(l2, 17, 25)
        zero_pad(l2, 34, 42)
        zero_pad(l2, 43, 51)
        zero_pad(l2, 52, 63)
    if style & ST_ZERO_REV:
        zero_pad(l2, 63, 68)
    if style & ST_ZERO_ELNUM:
        zero_pad(l1, 64, 68)
    if minus:
        l1[68] = 48 + (l1[68] - 48 + minus) % 10


cdef int find_style(const char* a1, const char* a2, char* c1, char* c2):
    """The style that turns the canonical lines c1, c2 into a1, a2 (69 bytes each), or -1; c1, c2 are
    left styled."""
    cdef int style = 0
    if a1[50] == 45 and memcmp(c1 + 44, b" 00000+0", 8) == 0:
        style |= ST_NDDOT_MINUS0
    if a1[59] == 45 and memcmp(c1 + 53, b" 00000+0", 8) == 0:
        style |= ST_BSTAR_MINUS0
    if a1[2] == 32:
        style |= ST_BLANK_ID
    if a1[33] == 43 or a1[44] == 43 or a1[53] == 43:
        style |= ST_PLUS
    if a2[8] == 48 or a2[17] == 48 or a2[34] == 48 or a2[43] == 48 or a2[52] == 48:
        style |= ST_ZERO_ANGLES
    if a2[63] == 48:
        style |= ST_ZERO_REV
    if a1[64] == 48:
        style |= ST_ZERO_ELNUM
    apply_style(c1, c2, style)
    if memcmp(c1, a1, 69) == 0 and memcmp(c2, a2, 69) == 0:
        return style
    return -1


def canonical_lines(tuple v):
    """(line1, line2) as oor.codec.tle.format_lines gives them for the value tuple v, or None when
    the Python formatter must decide (it raises, or -0.0).  Caller: oor.codec.tle.format_lines."""
    cdef char l1[69]
    cdef char l2[69]
    if len(v) < 16 or not canon_lines(v, l1, l2):
        return None
    return (PyUnicode_DecodeASCII(l1, 69, NULL), PyUnicode_DecodeASCII(l2, 69, NULL))


# ---------------------------------------------------------------------------------------------
# Binary record (byte table in oor/codec/record.py).

DEF VERSION = 2
DEF VERSION_1 = 1        # still decoded: a version-1 record has no trailer
DEF KIND_TEXT = 1
DEF KIND_FIELDS = 2
DEF F_NAME = 1
DEF F_SOURCE = 2
DEF F_PREFIX = 4
DEF F_ARRIVAL = 8
DEF F_ORIGIN = 16
DEF F_META = 32
DEF F_ELIDED = 64
DEF F_V1 = 7             # the flag bits a version-1 record may have
DEF F_V2 = 127
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


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* little-endian loads of the record's integers and doubles: one load each (the byte loop they replace
       was 280 instructions of a set's read, callgrind) */
    static inline uint64_t oor_le64(const unsigned char *p) {
        uint64_t v; memcpy(&v, p, 8);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
    #endif
        return v;
    }
    static inline uint32_t oor_le32(const unsigned char *p) {
        uint32_t v; memcpy(&v, p, 4);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap32(v);
    #endif
        return v;
    }
    """
    uint64_t oor_le64(const unsigned char* p) noexcept nogil
    uint32_t oor_le32(const unsigned char* p) noexcept nogil


cdef inline uint64_t get_u(const unsigned char* p, int n) noexcept:
    """The n-byte little-endian unsigned integer at p."""
    cdef uint64_t v = 0
    cdef int i
    if n == 8:
        return oor_le64(p)
    if n == 4:
        return oor_le32(p)
    for i in range(n - 1, -1, -1):
        v = (v << 8) | p[i]
    return v


cdef inline void put_f64(unsigned char* p, double d):
    cdef uint64_t u
    memcpy(&u, &d, 8)
    put_u64(p, u)


cdef inline double get_f64(const unsigned char* p) noexcept:
    cdef uint64_t u = oor_le64(p)
    cdef double d
    memcpy(&d, &u, 8)
    return d


cdef inline bint same_ascii(object s, const char* c, Py_ssize_t n):
    """s is an ASCII str equal to the n bytes at c."""
    return (type(s) is str and PyUnicode_IS_ASCII(s) and PyUnicode_GET_LENGTH(s) == n
            and memcmp(PyUnicode_DATA(s), c, n) == 0)


def encode_record(es, arrival_us=None):
    """ElementSet -> record bytes (see oor/codec/record.py); for oor.codec.record only.  ``arrival_us``: the
    arrival stamp to store instead of the set's own (the registry stamps every record it writes: no copy
    of the ElementSet for it)."""
    cdef tuple v = es._v
    cdef const char* name_p = NULL
    cdef const char* src_p = NULL
    cdef const char* l1p = NULL
    cdef const char* l2p = NULL
    cdef const char* org_p = NULL
    cdef const char* ip
    cdef const char* kp
    cdef const char* vp
    cdef Py_ssize_t nn = 0, ns = 0, n1 = 0, n2 = 0, ni, total, off, no = 0, nm = 0, kn, vn, j
    cdef int flags = 0, i, kind, style = -1
    cdef unsigned char* p
    cdef unsigned char* q
    cdef char c1[69]
    cdef char c2[69]
    cdef object l1 = v[20], l2 = v[21], name = v[16], source = v[17], meta = v[23], origin = v[24]
    cdef object arrival = v[25] if arrival_us is None else arrival_us
    cdef int64_t arrival_v = 0
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
    kind = KIND_FIELDS
    if l1 is not None:
        kind = KIND_TEXT
        l1p = PyUnicode_AsUTF8AndSize(l1, &n1)
        l2p = PyUnicode_AsUTF8AndSize(l2, &n2)
        if n1 > 255 or n2 > 255:
            raise ValueError("TLE line longer than 255 columns cannot be stored")
        if n1 == 69 and n2 == 69 and canon_lines(v, c1, c2):
            style = find_style(l1p, l2p, c1, c2)
        if style >= 0:
            flags |= F_ELIDED          # the lines are what decode_record rebuilds from the fields
            total += 1                 # the style byte
        else:
            total += 2 + n1 + n2
    if arrival is not None:
        arrival_v = arrival
        flags |= F_ARRIVAL
        total += 8
    if origin is not None:
        org_p = PyUnicode_AsUTF8AndSize(origin, &no)
        if no > 65535:
            raise ValueError(f"origin is {no} bytes long; a record holds at most 65535")
        flags |= F_ORIGIN
        total += 2 + no
    if meta is not None:
        if type(meta) is not tuple:
            raise TypeError("meta must be a tuple of (str, str) pairs")
        nm = len(<tuple>meta)
        if nm > 65535:
            raise ValueError(f"meta holds {nm} pairs; a record holds at most 65535")
        if nm:
            flags |= F_META
            total += 2
            for pair in <tuple>meta:
                k, val = pair
                if type(k) is not str or not PyUnicode_IS_ASCII(k) or not 1 <= PyUnicode_GET_LENGTH(k) <= 255:
                    raise ValueError(f"meta key {k!r} must be 1-255 ASCII characters")
                if type(val) is not str:
                    raise TypeError(f"meta value of {k} must be a str, not {type(val).__name__}")
                PyUnicode_AsUTF8AndSize(val, &vn)
                if vn > 0xFFFFFFFF:
                    raise ValueError(f"meta value of {k} is too long")
                total += 1 + PyUnicode_GET_LENGTH(k) + 4 + vn
    out = PyBytes_FromStringAndSize(NULL, total)
    p = <unsigned char*>PyBytes_AS_STRING(out)
    p[0] = VERSION
    p[1] = kind
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
    if flags & F_ELIDED:
        p[off] = <unsigned char>style
        off += 1
    elif kind == KIND_TEXT:
        p[off] = <unsigned char>n1
        p[off + 1] = <unsigned char>n2
        memcpy(p + off + 2, l1p, n1)
        memcpy(p + off + 2 + n1, l2p, n2)
        off += 2 + n1 + n2
    if nn:
        memcpy(p + off, name_p, nn)
    if ns:
        memcpy(p + off + nn, src_p, ns)
    off += nn + ns
    # ---- trailer: arrival, origin, meta (each when its flag is set)
    if flags & F_ARRIVAL:
        put_u64(p + off, <uint64_t>arrival_v)
        off += 8
    if flags & F_ORIGIN:
        put_u16(p + off, <unsigned int>no)
        memcpy(p + off + 2, org_p, no)
        off += 2 + no
    if flags & F_META:
        put_u16(p + off, <unsigned int>nm)
        off += 2
        for pair in <tuple>meta:
            k, val = pair
            kn = PyUnicode_GET_LENGTH(k)
            p[off] = <unsigned char>kn
            memcpy(p + off + 1, PyUnicode_DATA(k), kn)
            off += 1 + kn
            vp = PyUnicode_AsUTF8AndSize(val, &vn)
            put_u32(p + off, <uint64_t>vn)
            memcpy(p + off + 4, vp, vn)
            off += 4 + vn
    assert off == total
    return out


cdef int bad(str reason) except -1:
    raise ValueError(f"invalid element-set record: {reason}")


cdef tuple decode_trailer(const unsigned char* p, Py_ssize_t off, Py_ssize_t n, int flags):
    """The trailer at p[off:n] (record.py conditions 10-12) -> (meta, origin, arrival), each None if absent."""
    cdef Py_ssize_t no, nm, j, kn, vn
    cdef list pairs
    cdef object k
    meta = origin = arrival = None
    if flags & F_ARRIVAL:
        if off + 8 > n:
            bad("record too short for its arrival stamp")
        arrival = <int64_t>get_u(p + off, 8)
        off += 8
    if flags & F_ORIGIN:
        if off + 2 > n:
            bad("record too short for its origin length")
        no = <Py_ssize_t>get_u(p + off, 2)
        if off + 2 + no > n:
            bad("record too short for its origin")
        try:
            origin = PyUnicode_DecodeUTF8(<const char*>p + off + 2, no, NULL)
        except UnicodeDecodeError as exc:
            bad(f"origin is not UTF-8 ({exc.reason})")
        off += 2 + no
    if flags & F_META:
        if off + 2 > n:
            bad("record too short for its metadata count")
        nm = <Py_ssize_t>get_u(p + off, 2)
        off += 2
        if nm == 0:
            bad("metadata flag set with a count of 0")
        pairs = []
        for j in range(nm):
            if off + 1 > n:
                bad(f"record too short for metadata pair {j + 1}")
            kn = p[off]
            if kn == 0 or off + 1 + kn + 4 > n:
                bad(f"metadata pair {j + 1}: empty key or record too short")
            try:
                k = PyUnicode_DecodeASCII(<const char*>p + off + 1, kn, NULL)
            except UnicodeDecodeError:
                bad(f"metadata pair {j + 1}: key is not ASCII")
            off += 1 + kn
            vn = <Py_ssize_t>get_u(p + off, 4)
            if off + 4 + vn > n:
                bad(f"metadata pair {j + 1} ({k}): record too short for its value")
            try:
                pairs.append((k, PyUnicode_DecodeUTF8(<const char*>p + off + 4, vn, NULL)))
            except UnicodeDecodeError as exc:
                bad(f"metadata value of {k} is not UTF-8 ({exc.reason})")
            off += 4 + vn
        meta = tuple(pairs)
    if off != n:
        bad(f"length is {n} bytes, the header and trailer describe {off}")
    return (meta, origin, arrival)


def decode_record(buf):
    """Record bytes -> ElementSet, checking validity conditions 1-8 and 10-12; for oor.codec.record only."""
    cdef bytes data = buf if type(buf) is bytes else bytes(buf)
    return decode_at(<const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef object decode_at(const unsigned char* p, Py_ssize_t n):
    """The n-byte record at p -> ElementSet, as decode_record (tlecodec.pxd): no bytes object made first,
    so oor_core/reads.pyx decodes straight from a pinned leaf.  The set is untracked by the cyclic GC
    (``untracked``)."""
    cdef Py_ssize_t nn, ns, n1 = 0, n2 = 0, off, ni
    cdef int flags, kind, nf
    cdef const unsigned char* q
    cdef const unsigned char* t
    cdef object name = None, source = None, l1 = None, l2 = None, year, day
    cdef object meta = None, origin = None, arrival = None
    cdef int64_t epoch_us, yy, m
    cdef unsigned char c
    cdef int i
    cdef bint neg, elided
    cdef int style = 0
    cdef double mm, incl, raan, ecc, argp, ma, ndot, nddot, bstar
    cdef char c1[69]
    cdef char c2[69]
    cdef tuple v
    cdef object intl
    if n < HDR + FIXED:
        bad(f"{n} bytes is shorter than header and fields ({HDR + FIXED} bytes)")
    if p[0] != VERSION and p[0] != VERSION_1:
        bad(f"version byte is {p[0]}, expected {VERSION} (or {VERSION_1})")
    kind = p[1]
    flags = p[2]
    if kind != KIND_TEXT and kind != KIND_FIELDS:
        bad(f"kind byte is {kind}, expected 1 (TEXT) or 2 (FIELDS)")
    if flags & ~(F_V2 if p[0] == VERSION else F_V1):
        bad(f"unknown flag bits 0x{flags:02x} for a version-{p[0]} record")
    elided = flags & F_ELIDED
    if elided and kind != KIND_TEXT:
        bad("text-elided flag on a FIELDS record")
    ns = p[3]
    nn = <Py_ssize_t>get_u(p + 4, 2)
    if (not flags & F_NAME and nn) or (not flags & F_SOURCE and ns):
        bad("name or source length set without its presence flag")
    off = HDR + FIXED
    if elided:
        if n < off + 1:
            bad("text-elided record too short for its style byte")
        style = p[off]
        if style & ~ST_ALL:
            bad(f"unknown text style bits 0x{style:02x}")
        off += 1
    elif kind == KIND_TEXT:
        if n < off + 2:
            bad("TEXT record too short for its line lengths")
        n1 = p[off]
        n2 = p[off + 1]
        if n1 < 68 or n2 < 68:
            bad("stored TLE line shorter than 68 columns")
        off += 2 + n1 + n2
    if off + nn + ns > n or (off + nn + ns != n and not flags & (F_ARRIVAL | F_ORIGIN | F_META)):
        bad(f"length is {n} bytes, the header describes {off + nn + ns}")
    try:
        if flags & F_NAME:
            name = PyUnicode_DecodeUTF8(<const char*>p + off, nn, NULL)
        if flags & F_SOURCE:
            source = PyUnicode_DecodeUTF8(<const char*>p + off + nn, ns, NULL)
    except UnicodeDecodeError as exc:
        bad(f"name or source is not UTF-8 ({exc.reason})")
    if flags & (F_ARRIVAL | F_ORIGIN | F_META):
        meta, origin, arrival = decode_trailer(p, off + nn + ns, n, flags)
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
    intl = PyUnicode_DecodeASCII(<const char*>q + 93, ni, NULL)
    if kind == KIND_TEXT:
        if elided:
            # the lines are the canonical ones of the fields (condition 13): canon_lines on the C values
            # themselves (a value tuple first cost 16 more objects per set: 0.3 us of a 1.2 us decode)
            if not canon_fields(<int64_t>get_u(q, 4), <char>c, <const char*>q + 93, ni, epoch_us, mm, ndot, nddot,
                                bstar, <int64_t>q[5], <int64_t>get_u(q + 90, 2), incl, raan, ecc, argp, ma,
                                <int64_t>get_u(q + 86, 4), c1, c2):
                bad("text-elided record whose fields have no canonical TLE lines")
            apply_style(c1, c2, style)
            t = <const unsigned char*>c1
            l1 = PyUnicode_DecodeASCII(c1, 69, NULL)
            l2 = PyUnicode_DecodeASCII(c2, 69, NULL)
        else:
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
    return untracked(make_element((get_u(q, 4), _CLASS[c], intl, epoch_us,
                                   mm, ndot, nddot, bstar, <int>q[5], get_u(q + 90, 2),
                                   incl, raan, ecc, argp, ma, get_u(q + 86, 4), name, source,
                                   year, day, l1, l2, 1 if flags & F_PREFIX else 0, meta, origin, arrival)))




cdef object untracked(object es):
    """es, a decoded ElementSet, taken off the cyclic GC's lists together with its value tuple.

    Safe: neither can be part of a reference cycle.  The instance has one slot, ``_v``, and refuses
    attribute changes; the tuple holds ints, floats, strs, None and the metadata (a tuple of pairs of
    strs), none of which refers back.  A tracked object that an untracked one refers to still counts
    as referenced from outside, so nothing is collected early (CPython untracks such tuples itself, at
    the first collection they survive).  Why: a batch of 100,000 decoded sets (latest_many, history,
    scan into a list) made the collector walk every set again in each older-generation pass."""
    cdef PyObject* v = (<PyObject**>(<char*><PyObject*>es + _v_offset))[0]
    PyObject_GC_UnTrack(v)
    PyObject_GC_UnTrack(<PyObject*>es)
    return es


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



# ---- the registry check's fast path (caller: oor_core/regcheck.pyx, through tlecodec.pxd) ----------
cdef inline bint _ascii(const unsigned char* p, Py_ssize_t n):
    """No byte of p[:n] has its top bit set: 8 bytes a step (the byte loop over each record's origin,
    a file path, was a third of the record check's time)."""
    cdef Py_ssize_t i = 0
    cdef uint64_t w, acc = 0
    while i + 8 <= n:
        memcpy(&w, p + i, 8)
        acc |= w
        i += 8
    while i < n:
        acc |= p[i]
        i += 1
    return (acc & <uint64_t>0x8080808080808080) == 0


cdef int record_facts(const unsigned char* p, Py_ssize_t n, RecordFacts* f) except -1:
    """_facts without the lines (regcheck's path)."""
    cdef char c1[69]
    cdef char c2[69]
    return _facts(p, n, f, c1, c2)


cdef int _facts(const unsigned char* p, Py_ssize_t n, RecordFacts* f, char* c1, char* c2) except -1:
    """1 when the n-byte record at p is valid (record.py conditions 1-8 and 10-13, as decode_record
    checks them) and of a kind this C path decides alone, with its facts in f; 0 when check_record
    must decide: a TEXT record with its lines kept (condition 9 re-parses them), version 1, metadata,
    non-ASCII name, source or origin, and every record that fails a condition (the Python path words
    the error).  Never 1 for a record decode_record refuses.  For a text-elided record (F_ELIDED) the 1
    also leaves its canonical lines (before the style) in c1 and c2, 69 bytes each: condition 13 is
    "the lines can be written", so the check writes them once for tle_text_at.  No Python object is made."""
    cdef int flags, kind, style
    cdef Py_ssize_t nn, ns, off, no
    cdef const unsigned char* q
    cdef unsigned char c
    cdef int ni, i
    cdef double mm, incl, raan, ecc, argp, ma, ndot, nddot, bstar
    if n < HDR + FIXED or p[0] != VERSION:
        return 0
    kind = p[1]
    flags = p[2]
    if flags & ~F_V2 or flags & F_META:
        return 0
    if kind == KIND_TEXT:
        if not flags & F_ELIDED:
            return 0                        # condition 9: check_record re-parses the stored lines
    elif kind != KIND_FIELDS or flags & F_ELIDED:
        return 0
    ns = p[3]
    nn = <Py_ssize_t>get_u(p + 4, 2)
    if (not flags & F_NAME and nn) or (not flags & F_SOURCE and ns):
        return 0
    off = HDR + FIXED
    if flags & F_ELIDED:
        if n < off + 1:
            return 0
        style = p[off]
        if style & ~ST_ALL:
            return 0
        off += 1
    if off + nn + ns > n or not _ascii(p + off, nn + ns):
        return 0
    f.has_name = (flags & F_NAME) != 0
    f.name = p + off
    f.name_len = nn
    f.has_source = (flags & F_SOURCE) != 0
    f.source = p + off + nn
    f.source_len = ns
    off += nn + ns
    f.has_arrival = (flags & F_ARRIVAL) != 0
    f.arrival = 0
    if flags & F_ARRIVAL:
        if off + 8 > n:
            return 0
        f.arrival = <int64_t>get_u(p + off, 8)
        off += 8
    if flags & F_ORIGIN:
        if off + 2 > n:
            return 0
        no = <Py_ssize_t>get_u(p + off, 2)
        if off + 2 + no > n or not _ascii(p + off + 2, no):
            return 0
        off += 2 + no
    if off != n:
        return 0
    q = p + HDR
    c = q[4]
    if (c != 85 and c != 67 and c != 83) or q[5] > 9:
        return 0
    ni = q[92]
    if ni > 8:
        return 0
    for i in range(ni):
        if not (48 <= q[93 + i] <= 57 or 65 <= q[93 + i] <= 90):
            return 0
    f.norad = <int64_t>get_u(q, 4)
    f.epoch_us = <int64_t>get_u(q + 6, 8)
    f.intl = q + 93
    f.intl_len = ni
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
        return 0
    if not (mm > 0.0 and 0.0 <= incl <= 180.0 and 0.0 <= raan <= 360.0 and 0.0 <= ecc < 1.0
            and 0.0 <= argp <= 360.0 and 0.0 <= ma <= 360.0):
        return 0
    if flags & F_ELIDED:
        # condition 13, exactly as decode_record checks it
        if not canon_fields(f.norad, <char>c, <const char*>q + 93, ni, f.epoch_us, mm, ndot, nddot, bstar, q[5],
                            <int64_t>get_u(q + 90, 2), incl, raan, ecc, argp, ma, <int64_t>get_u(q + 86, 4), c1, c2):
            return 0
    return 1


cdef int _elided_lines(const unsigned char* p, Py_ssize_t n, RecordFacts* f, char* l1, char* l2) except -1:
    """1 when the n-byte record at p is a valid text-elided TEXT record that _facts decides alone, with its
    two TLE lines (canonical, then in its style) in l1 and l2, 69 bytes each, and its facts in f; 0 for
    any other record.  The one place both readers of elided lines go through (tle_text_at, lazy_at)."""
    if n < HDR + FIXED or p[1] != KIND_TEXT or not (p[2] & F_ELIDED) or _facts(p, n, f, l1, l2) != 1:
        return 0
    apply_style(l1, l2, p[HDR + FIXED])
    return 1


cdef Py_ssize_t tle_text_at(const unsigned char* p, Py_ssize_t n, bint names, char* out, Py_ssize_t cap) except -2:
    """The TLE / 3LE text format_tle writes for the n-byte record at p (name_prefix None, newline "\\n"):
    ``[0 ]NAME\\n`` when names and the record has a name, then line 1 and line 2, each with "\\n"; written
    to out, its length returned.  Only for what record_facts decides alone and that has TLE lines without
    Python: a valid text-elided TEXT record (its lines are the canonical ones of its fields in its style;
    the name prefix is "0 " exactly when the set was read with one).  -1 for every other record (and when
    cap is too small): the caller decodes it and formats the ElementSet.  No Python object is made.
    Caller: oor_core/reads.pyx (export of the latest sets)."""
    cdef RecordFacts f
    cdef Py_ssize_t k = 0
    cdef char c1[69]
    cdef char c2[69]
    if not _elided_lines(p, n, &f, c1, c2):
        return -1
    if cap < 2 + f.name_len + 1 + 2 * 70:
        return -1
    if names and f.has_name:
        if p[2] & F_PREFIX:
            out[0] = 48
            out[1] = 32
            k = 2
        memcpy(out + k, f.name, f.name_len)
        k += f.name_len
        out[k] = 10
        k += 1
    memcpy(out + k, c1, 69)                 # the lines _facts wrote checking condition 13, styled
    memcpy(out + k + 70, c2, 69)
    out[k + 69] = 10
    out[k + 139] = 10
    return k + 140


cdef object lazy_at(const unsigned char* p, Py_ssize_t n):
    """The n-byte record at p -> an ElementSet, decoded on first use when it can be (tlecodec.pxd): a
    valid text-elided TEXT record -- what record_facts decides alone, the same conditions decode_at
    checks (tle_text_at: record_facts) -- becomes a RecordElementSet holding a copy of the record and its
    two TLE lines, written straight from the record (its fields are decoded when first asked for);
    any other record is decoded now (decode_at).  Untracked by the cyclic GC (it holds bytes, then a
    value tuple of atoms and the lines: no cycle).  The lines are written into the two new strings'
    own buffers (ASCII by construction: no decode pass, no copy).  Caller: oor_core/reads.pyx."""
    cdef RecordFacts f
    cdef char* d1
    cdef char* d2
    if _lazy_type == NULL or n < HDR + FIXED or p[1] != KIND_TEXT or not (p[2] & F_ELIDED):
        return decode_at(p, n)              # (checked first: no strings made for a record kept as text)
    l1 = PyUnicode_New(69, 127)
    l2 = PyUnicode_New(69, 127)
    d1 = <char*>PyUnicode_DATA(l1)
    d2 = <char*>PyUnicode_DATA(l2)
    if not _elided_lines(p, n, &f, d1, d2):
        return decode_at(p, n)
    rec = PyBytes_FromStringAndSize(<const char*>p, n)
    obj = PyType_GenericAlloc(_lazy_type, 0)
    Py_INCREF(rec)
    (<PyObject**>(<char*><PyObject*>obj + _rec_offset))[0] = <PyObject*>rec
    Py_INCREF(l1)
    (<PyObject**>(<char*><PyObject*>obj + _l1_offset))[0] = <PyObject*>l1
    Py_INCREF(l2)
    (<PyObject**>(<char*><PyObject*>obj + _l2_offset))[0] = <PyObject*>l2
    PyObject_GC_UnTrack(<PyObject*>obj)
    return obj
