# oor_core/tlecodec.pxd -- what the codec's C fast paths share: C-level contract.
#
# tlecodec.pyx holds the TLE columns and the binary record; ommcodec.pyx the OMM
# record scanners.  Both build ElementSets the same way (make_element) and count
# epochs the same way (the calendar helpers below, proleptic Gregorian, integer
# arithmetic only).  Who may cimport: oor_core/ommcodec.pyx (decode_at: oor_core/reads.pyx).
from libc.stdint cimport int64_t

# CPython's C API calls the codec's fast paths use (string data without copies)
cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    object PyUnicode_DecodeASCII(const char*, Py_ssize_t, const char*)
    object PyUnicode_DecodeUTF8(const char*, Py_ssize_t, const char*)
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL
    object PyBytes_FromStringAndSize(const char*, Py_ssize_t)
    char* PyBytes_AS_STRING(object)
    Py_ssize_t PyBytes_GET_SIZE(object)

cdef inline int64_t days_before_year(int64_t y):
    """Days from 1950-01-01 to y-01-01 (y >= 1)."""
    cdef int64_t p = y - 1
    return 365 * p + p // 4 - p // 100 + p // 400 - 711857    # 711857: days from 0001-01-01 to 1950-01-01


cdef inline bint is_leap(int64_t y):
    """Gregorian leap year.  Caller: the OMM epoch check (valid day of month)."""
    return (y % 4 == 0 and y % 100 != 0) or y % 400 == 0


cdef object make_element(tuple v)
# The n-byte binary record at p -> ElementSet (or ValueError), as decode_record; p need not be a bytes
# object (oor_core/reads.pyx decodes straight from a pinned leaf page).  Who may cimport: oor_core/reads.pyx.
cdef object decode_at(const unsigned char* p, Py_ssize_t n)
# The same, decoded on first use when the record allows it (a RecordElementSet holding a copy of the record;
# tlecodec.pyx, lazy_at).  Who may cimport: oor_core/reads.pyx.
cdef object lazy_at(const unsigned char* p, Py_ssize_t n)
cdef int64_t year_of(int64_t epoch_us)
cpdef tuple epoch_year_day(int64_t epoch_us)


# What the registry check's record loop (oor_core/regcheck.pyx) learns from one valid record without
# making an ElementSet: pointers into the record's bytes (valid while the caller holds them).
cdef struct RecordFacts:
    int64_t norad
    int64_t epoch_us
    int64_t arrival
    bint has_arrival
    bint has_name
    bint has_source
    const unsigned char* name
    Py_ssize_t name_len
    const unsigned char* source
    Py_ssize_t source_len
    const unsigned char* intl
    int intl_len

cdef int record_facts(const unsigned char* p, Py_ssize_t n, RecordFacts* f) except -1

# The TLE / 3LE text of a text-elided record, written without Python objects (-1: decode and format the
# ElementSet instead).  Who may cimport: oor_core/reads.pyx.
cdef Py_ssize_t tle_text_at(const unsigned char* p, Py_ssize_t n, bint names, char* out, Py_ssize_t cap) except -2
