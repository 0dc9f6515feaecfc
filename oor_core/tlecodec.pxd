# oor_core/tlecodec.pxd -- what the codec's C fast paths share: C-level contract.
#
# tlecodec.pyx holds the TLE columns and the binary record; ommcodec.pyx the OMM
# record scanners.  Both build ElementSets the same way (make_element) and count
# epochs the same way (the calendar helpers below, proleptic Gregorian, integer
# arithmetic only).  Who may cimport: oor_core/ommcodec.pyx.
from libc.stdint cimport int64_t

cdef inline int64_t days_before_year(int64_t y):
    """Days from 1950-01-01 to y-01-01 (y >= 1)."""
    cdef int64_t p = y - 1
    return 365 * p + p // 4 - p // 100 + p // 400 - 711857    # 711857: days from 0001-01-01 to 1950-01-01


cdef inline bint is_leap(int64_t y):
    """Gregorian leap year.  Caller: the OMM epoch check (valid day of month)."""
    return (y % 4 == 0 and y % 100 != 0) or y % 400 == 0


cdef object make_element(tuple v)
cdef int64_t year_of(int64_t epoch_us)
cpdef tuple epoch_year_day(int64_t epoch_us)
