# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A load batch's index counts, summed in C from the records it stores (the rule of oor/index_counts.py).

Who may import: ``oor.index_counts`` (``IndexCounts`` during a load batch) and tests.  Contract and the
key texts: indexkeys.pxd (``name_key``, ``cospar_key``, shared with the check in regcheck.pyx).

``KeyCounter.add_record(rec, norad, delta)`` counts the two index keys a stored record implies, made in
C from the record's bytes (``tlecodec.record_facts``): no ElementSet attribute is read and no text is
built in Python.  A record C does not decide (metadata, a non-ASCII name, a designator not starting
with two digits, a TEXT record with its lines: 1% of ../shared/data) returns False, counted nowhere:
the caller counts its keys with ``add_key`` from ``index_texts``.  ``take(i)`` hands index i's
non-zero sums back in key order (for ``BTree.add_counts``) and empties it.

Why: the Python batch (a tuple and two dict operations per index per set, then the texts and keys
made per entry at the flush) was 5.8 us of a loaded set's 15 us (cProfile of the 1M load).
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.ref cimport PyObject
from libc.stdint cimport uint8_t, uint32_t

from oor_core.tlecodec cimport RecordFacts, record_facts


cdef inline int _bump(dict d, const uint8_t* k, Py_ssize_t n, long delta) except -1:
    cdef bytes key = PyBytes_FromStringAndSize(<const char*>k, n)
    cdef PyObject* cur = PyDict_GetItem(d, key)
    if cur == NULL:
        PyDict_SetItem(d, key, delta)
    else:
        PyDict_SetItem(d, key, <long>(<object>cur) + delta)
    return 0


cdef class KeyCounter:
    """Summed index-key deltas of one load batch: names (index 0) and cospar (index 1)."""

    def __cinit__(self):
        self.names = {}
        self.cospar = {}
        self.fast = 0
        self.slow = 0

    def add_record(self, bytes rec not None, uint32_t norad, long delta):
        """Count the index keys of rec (an encoded record of object norad) with delta.  False, and
        nothing counted, when C cannot tell this record's keys: the caller counts them with add_key."""
        cdef RecordFacts f
        cdef uint8_t nk[NAME_KEY_CAP]
        cdef uint8_t ck[COSPAR_KEY_CAP]
        cdef uint8_t n4[4]
        cdef Py_ssize_t ln, lc
        if not record_facts(<const unsigned char*>PyBytes_AS_STRING(rec), PyBytes_GET_SIZE(rec), &f):
            self.slow += 1
            return False
        n4[0] = norad >> 24
        n4[1] = (norad >> 16) & 0xFF
        n4[2] = (norad >> 8) & 0xFF
        n4[3] = norad & 0xFF
        ln = name_key(&f, n4, nk)
        lc = cospar_key(&f, n4, ck)
        if ln < 0 or lc < 0:
            self.slow += 1
            return False
        if ln:
            _bump(self.names, nk, ln, delta)
        if lc:
            _bump(self.cospar, ck, lc, delta)
        self.fast += 1
        return True

    def add_key(self, int index, bytes key not None, long delta):
        """Count one index key (index 0 names, 1 cospar) with delta."""
        if index not in (0, 1):
            raise ValueError(f"index {index} is not 0 (names) or 1 (cospar)")
        _bump(self.names if index == 0 else self.cospar,
              <const uint8_t*>PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key), delta)

    def take(self, int index):
        """Index index's [(key, delta)] with delta != 0, in key order; the index's sums start again empty."""
        cdef dict d
        if index == 0:
            d, self.names = self.names, {}
        elif index == 1:
            d, self.cospar = self.cospar, {}
        else:
            raise ValueError(f"index {index} is not 0 (names) or 1 (cospar)")
        return sorted([kv for kv in d.items() if kv[1]])
