# oor_core/batch.pxd -- column batches of element sets, decoded straight from the leaf
# pages of the registry's primary tree: C-level contract.
#
# A ColumnBatch holds up to `capacity` rows (BATCH_ROWS by default) as typed
# arrays (array.array, so no numpy is needed; numpy.frombuffer views them
# without a copy).  Row i of every column describes the same element set.
#
#   column        typecode  unit / meaning
#   norad         I         NORAD catalog number (from the key)
#   epoch_us      q         us since 1950-01-01T00:00Z (from the key)
#   source_id     H         registry source id (from the key; 0 = none)
#   mean_motion   d         rev/day          mm_dot, mm_ddot, bstar  d  (TLE units)
#   inclination, raan, eccentricity, arg_perigee, mean_anomaly       d  (deg; e unitless)
#   rev_number    I         elset_no  H      ephemeris  B    classification  B (ASCII)
#   intl          B x 8*cap TLE-form designator, zero padded; intl_len B
#   name_off      i x cap+1 name of row i = name_data[name_off[i]:name_off[i+1]] (UTF-8)
#   keys          B x 14*cap the primary key of row i (to fetch the full record)
#
# A scan may fill only some columns (LeafScan's ``columns``, a mask of the COL_* bits below; the
# key columns norad, epoch_us, source_id are always filled); ``ColumnBatch.columns`` says which
# the last fill wrote.  The other columns hold stale values.
#
# Byte layouts read here have one owner each: the leaf record -> btree.pxd,
# the key -> oor/keys.py, the record -> oor/codec/record.py (offsets of both
# in elset_layout.pxd).  Nothing here knows another layout.
from cpython.array cimport array
from libc.stdint cimport uint8_t, int64_t

from oor_core.btree cimport BTree

cdef enum:
    BATCH_ROWS = 1024
    SCAN_ALL = 0
    SCAN_LATEST = 1
    SCAN_AS_OF = 2

cdef enum:                       # column bits (the key columns are always filled)
    COL_MEAN_MOTION = 1 << 0
    COL_MM_DOT = 1 << 1
    COL_MM_DDOT = 1 << 2
    COL_BSTAR = 1 << 3
    COL_INCLINATION = 1 << 4
    COL_RAAN = 1 << 5
    COL_ECCENTRICITY = 1 << 6
    COL_ARG_PERIGEE = 1 << 7
    COL_MEAN_ANOMALY = 1 << 8
    COL_REV_NUMBER = 1 << 9
    COL_ELSET_NO = 1 << 10
    COL_EPHEMERIS = 1 << 11
    COL_CLASSIFICATION = 1 << 12
    COL_INTL = 1 << 13           # intl and intl_len
    COL_NAME = 1 << 14           # name_off and name_data
    COL_KEYS = 1 << 15
    COL_ARRIVAL = 1 << 16        # arrival_us (record trailer)
    COL_ALL = (1 << 17) - 1


cdef class ColumnBatch:
    cdef readonly int n, capacity
    cdef readonly array norad, epoch_us, source_id
    cdef readonly array mean_motion, mm_dot, mm_ddot, bstar
    cdef readonly array inclination, raan, eccentricity, arg_perigee, mean_anomaly
    cdef readonly array rev_number, elset_no, ephemeris, classification
    cdef readonly array intl, intl_len, name_off, keys, arrival_us
    cdef readonly bytearray name_data
    cdef readonly unsigned int columns      # COL_* bits the last fill wrote
    cdef Py_ssize_t name_used
    cdef int _reset(self) except -1
    cdef int _add_name(self, const uint8_t* p, int n) except -1
    cdef int _need(self, unsigned int col, str what) except -1


cdef class LeafScan:
    cdef readonly BTree tree
    cdef bytes resume          # next key to read (>=); None = from the first key
    cdef bytes hi              # exclusive upper bound; None = to the end
    cdef readonly int mode
    cdef int64_t as_of
    cdef readonly bint done
    cdef readonly unsigned int columns      # COL_* bits each fill writes
    cdef readonly unsigned long long rows_read, leaves_read
