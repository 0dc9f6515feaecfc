# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Column batches decoded straight from the leaves of the registry's primary tree.

Who may import: ``oor.query`` (the vectorized scan) and tests.  Contract and
column table: batch.pxd.  ``LeafScan.fill(batch)`` is one call per ~1,024
rows: it stands on the resume key with one Cursor seek, then walks slots and
the leaf chain with bare pins (bufpool.pxd), reading key and record fields
by their offsets (elset_layout.pxd) into the batch's typed arrays.  No Python
object is made per row (a record in an overflow chain, > 1,000 bytes, is the
exception: it is read as one bytes object).

Isolation: a fill holds no pin when it returns and remembers only a key, so
the caller decides how reads are isolated (today: it holds the Database
read lock around each fill; later: a snapshot).  A change between two fills
is seen or not as a whole record, never half.

Columns: ``LeafScan(..., columns=mask)`` fills only the columns in the mask
(COL_* bits, batch.pxd; ``column_mask(names)`` builds one) besides the key
columns.  Why: a query reads two or three of the twenty columns; decoding all
of them (a name copy and a key copy a row among them) was most of a fill.

Modes: SCAN_ALL every set in [lo, hi); SCAN_LATEST the last key of each
object (its newest epoch; at equal epochs the last arrival, as
``Registry.latest``; an object whose last key is a tombstone is left out); SCAN_AS_OF the last key of each object with epoch <= t.
"""
from cpython.array cimport array, clone, resize_smart
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memcmp, memset

from oor_core.bufpool cimport BufferPool
from oor_core.btree cimport BTree, Cursor, leaf_klen, leaf_overflow, leaf_u32
from oor_core.page cimport pg_nslots, pg_next, slot_ptr, slot_len
from oor_core.elset_layout cimport *
from oor_core.errors import CorruptPageError

cdef array _D = array("d")
cdef array _Q = array("q")
cdef array _I = array("I")
cdef array _H = array("H")
cdef array _B = array("B")
cdef array _i = array("i")


cdef class ColumnBatch:
    """Up to `capacity` element sets as typed columns (batch.pxd).  Who may call: oor.query, tests."""

    def __cinit__(self, int capacity=BATCH_ROWS):
        if capacity < 1:
            raise ValueError("a batch holds at least one row")
        self.capacity = capacity
        self.n = 0
        self.norad = clone(_I, capacity, False)
        self.epoch_us = clone(_Q, capacity, False)
        self.source_id = clone(_H, capacity, False)
        self.mean_motion = clone(_D, capacity, False)
        self.mm_dot = clone(_D, capacity, False)
        self.mm_ddot = clone(_D, capacity, False)
        self.bstar = clone(_D, capacity, False)
        self.inclination = clone(_D, capacity, False)
        self.raan = clone(_D, capacity, False)
        self.eccentricity = clone(_D, capacity, False)
        self.arg_perigee = clone(_D, capacity, False)
        self.mean_anomaly = clone(_D, capacity, False)
        self.rev_number = clone(_I, capacity, False)
        self.elset_no = clone(_H, capacity, False)
        self.ephemeris = clone(_B, capacity, False)
        self.classification = clone(_B, capacity, False)
        self.intl = clone(_B, capacity * REC_INTL_MAX, True)
        self.intl_len = clone(_B, capacity, True)
        self.name_off = clone(_i, capacity + 1, True)
        self.keys = clone(_B, capacity * KEY_SIZE, True)
        self.arrival_us = clone(_Q, capacity, False)
        self.name_data = bytearray(capacity * 24)
        self.name_used = 0
        self.columns = COL_ALL

    cdef int _reset(self) except -1:
        self.n = 0
        self.name_used = 0
        self.name_off.data.as_ints[0] = 0
        return 0

    cdef int _add_name(self, const uint8_t* p, int n) except -1:
        cdef Py_ssize_t need = self.name_used + n
        cdef Py_ssize_t have = len(self.name_data)
        if need > have:
            self.name_data.extend(bytes(max(need - have, have)))
        if n:
            memcpy(<char*>self.name_data + self.name_used, p, n)
        self.name_used = need
        return 0

    def __len__(self):
        return self.n

    cdef int _need(self, unsigned int col, str what) except -1:
        if not self.columns & col:
            raise ValueError(f"this batch was filled without its {what} column (LeafScan columns=)")
        return 0

    def name(self, int i):
        """Name of row i (str; None when the set has none or it is empty)."""
        if not 0 <= i < self.n:
            raise IndexError(i)
        self._need(COL_NAME, "name")
        cdef int a = self.name_off.data.as_ints[i], b = self.name_off.data.as_ints[i + 1]
        if a == b:
            return None
        return (<bytes>bytes(self.name_data[a:b])).decode("utf-8")

    def intl_designator(self, int i):
        """TLE-form international designator of row i ('98067A'; '' if none)."""
        if not 0 <= i < self.n:
            raise IndexError(i)
        self._need(COL_INTL, "designator")
        cdef int k = self.intl_len.data.as_uchars[i]
        return PyBytes_FromStringAndSize(<char*>self.intl.data.as_uchars + i * REC_INTL_MAX, k).decode("ascii")

    def key(self, int i):
        """Primary key (16 bytes) of row i."""
        if not 0 <= i < self.n:
            raise IndexError(i)
        self._need(COL_KEYS, "key")
        return PyBytes_FromStringAndSize(<char*>self.keys.data.as_uchars + i * KEY_SIZE, KEY_SIZE)

    def _check(self):
        """Invariants: 0 <= n <= capacity; name offsets ascend within name_data; designator lengths <= 8
        (for the columns the last fill wrote)."""
        cdef int i
        assert 0 <= self.n <= self.capacity
        assert self.columns & ~(<unsigned int>COL_ALL) == 0
        assert self.name_off.data.as_ints[0] == 0
        for i in range(self.n):
            if self.columns & COL_NAME:
                assert self.name_off.data.as_ints[i] <= self.name_off.data.as_ints[i + 1] <= self.name_used
            if self.columns & COL_INTL:
                assert self.intl_len.data.as_uchars[i] <= REC_INTL_MAX
        return True


cdef int _bad(uint32_t page_id, int slot, str why) except -1:
    raise CorruptPageError(page_id, f"element-set record in slot {slot}: {why}; run `oor check`")


cdef int _decode_row(ColumnBatch b, const uint8_t* key, const uint8_t* r, Py_ssize_t rlen,
                     uint32_t page_id, int slot, unsigned int cols) except -1:
    """Append one record (r, rlen bytes) under key to the batch: the key columns and the COL_* columns
    in ``cols``.  Checks the length conditions only (record.py 1, 4); the full check is Registry.check()."""
    cdef int i = b.n, name_at, nn, d
    if rlen < REC_FIXED_END or (r[REC_VERSION] != REC_VERSION_2 and r[REC_VERSION] != REC_VERSION_1):
        _bad(page_id, slot, f"{rlen} bytes or version byte {r[REC_VERSION] if rlen else -1} is not a version-1 or -2 record")
    name_at = rec_name_off(r)
    nn = rec_u16(r, REC_NLEN) if r[REC_FLAGS] & REC_F_NAME else 0
    if not rec_length_ok(r, rlen):
        _bad(page_id, slot, f"length {rlen} differs from what its header describes")
    b.norad.data.as_uints[i] = key_norad(key)
    b.epoch_us.data.as_longlongs[i] = key_epoch(key)
    b.source_id.data.as_ushorts[i] = key_source(key)
    if cols == COL_ALL:
        b.mean_motion.data.as_doubles[i] = rec_f64(r, REC_MM)
        b.mm_dot.data.as_doubles[i] = rec_f64(r, REC_NDOT)
        b.mm_ddot.data.as_doubles[i] = rec_f64(r, REC_NDDOT)
        b.bstar.data.as_doubles[i] = rec_f64(r, REC_BSTAR)
        b.inclination.data.as_doubles[i] = rec_f64(r, REC_INCL)
        b.raan.data.as_doubles[i] = rec_f64(r, REC_RAAN)
        b.eccentricity.data.as_doubles[i] = rec_f64(r, REC_ECC)
        b.arg_perigee.data.as_doubles[i] = rec_f64(r, REC_ARGP)
        b.mean_anomaly.data.as_doubles[i] = rec_f64(r, REC_MA)
        b.rev_number.data.as_uints[i] = rec_u32(r, REC_REV)
        b.elset_no.data.as_ushorts[i] = rec_u16(r, REC_ELNUM)
        b.ephemeris.data.as_uchars[i] = r[REC_EPHEM]
        b.classification.data.as_uchars[i] = r[REC_CLASS]
    elif cols:
        if cols & COL_MEAN_MOTION:
            b.mean_motion.data.as_doubles[i] = rec_f64(r, REC_MM)
        if cols & COL_MM_DOT:
            b.mm_dot.data.as_doubles[i] = rec_f64(r, REC_NDOT)
        if cols & COL_MM_DDOT:
            b.mm_ddot.data.as_doubles[i] = rec_f64(r, REC_NDDOT)
        if cols & COL_BSTAR:
            b.bstar.data.as_doubles[i] = rec_f64(r, REC_BSTAR)
        if cols & COL_INCLINATION:
            b.inclination.data.as_doubles[i] = rec_f64(r, REC_INCL)
        if cols & COL_RAAN:
            b.raan.data.as_doubles[i] = rec_f64(r, REC_RAAN)
        if cols & COL_ECCENTRICITY:
            b.eccentricity.data.as_doubles[i] = rec_f64(r, REC_ECC)
        if cols & COL_ARG_PERIGEE:
            b.arg_perigee.data.as_doubles[i] = rec_f64(r, REC_ARGP)
        if cols & COL_MEAN_ANOMALY:
            b.mean_anomaly.data.as_doubles[i] = rec_f64(r, REC_MA)
        if cols & COL_REV_NUMBER:
            b.rev_number.data.as_uints[i] = rec_u32(r, REC_REV)
        if cols & COL_ELSET_NO:
            b.elset_no.data.as_ushorts[i] = rec_u16(r, REC_ELNUM)
        if cols & COL_EPHEMERIS:
            b.ephemeris.data.as_uchars[i] = r[REC_EPHEM]
        if cols & COL_CLASSIFICATION:
            b.classification.data.as_uchars[i] = r[REC_CLASS]
    if cols & COL_INTL:
        d = r[REC_INTL_LEN]
        if d > REC_INTL_MAX:
            d = REC_INTL_MAX
        b.intl_len.data.as_uchars[i] = d
        memcpy(b.intl.data.as_uchars + i * REC_INTL_MAX, r + REC_INTL, REC_INTL_MAX)
    if cols & COL_KEYS:
        memcpy(b.keys.data.as_uchars + i * KEY_SIZE, key, KEY_SIZE)
    if cols & COL_ARRIVAL:
        b.arrival_us.data.as_longlongs[i] = rec_arrival(r)
    if cols & COL_NAME:
        b._add_name(r + name_at, nn)
        b.name_off.data.as_ints[i + 1] = <int>b.name_used
    b.n = i + 1
    return 0


# COL_* bit of each column name (batch.pxd); the key columns need none.
COLUMN_BITS = {"norad": 0, "epoch_us": 0, "source_id": 0, "mean_motion": COL_MEAN_MOTION, "mm_dot": COL_MM_DOT,
               "mm_ddot": COL_MM_DDOT, "bstar": COL_BSTAR, "inclination": COL_INCLINATION, "raan": COL_RAAN,
               "eccentricity": COL_ECCENTRICITY, "arg_perigee": COL_ARG_PERIGEE, "mean_anomaly": COL_MEAN_ANOMALY,
               "rev_number": COL_REV_NUMBER, "elset_no": COL_ELSET_NO, "ephemeris": COL_EPHEMERIS,
               "classification": COL_CLASSIFICATION, "intl": COL_INTL, "intl_len": COL_INTL, "name_off": COL_NAME,
               "name_data": COL_NAME, "name": COL_NAME, "keys": COL_KEYS, "arrival_us": COL_ARRIVAL}


def column_mask(names):
    """The COL_* mask of the named ColumnBatch columns (KeyError for an unknown name).  Who may call: oor.query."""
    cdef unsigned int m = 0
    for n in names:
        m |= COLUMN_BITS[n]
    return m


cdef class LeafScan:
    """A resumable walk over [lo, hi) of the primary tree that fills ColumnBatches.

    Who may call: oor.query.  ``mode``: SCAN_ALL, SCAN_LATEST or SCAN_AS_OF
    (then ``as_of_us`` is the bound, inclusive).  Cost per fill: one seek plus
    the leaves walked; ~0.1 us per row decoded.
    """

    def __cinit__(self, BTree tree not None, bytes lo=None, bytes hi=None, int mode=SCAN_ALL,
                  int64_t as_of_us=0, unsigned int columns=COL_ALL):
        if mode not in (SCAN_ALL, SCAN_LATEST, SCAN_AS_OF):
            raise ValueError(f"unknown scan mode {mode}")
        if columns & ~(<unsigned int>COL_ALL):
            raise ValueError(f"unknown column bits {columns:#x}")
        self.columns = columns
        self.tree = tree
        self.resume = lo
        self.hi = hi
        self.mode = mode
        self.as_of = as_of_us
        self.done = False
        self.rows_read = 0
        self.leaves_read = 0

    def fill(self, ColumnBatch batch not None):
        """Refill batch with the next rows; returns how many (0 = the scan is over).

        The caller holds whatever makes the read consistent (Database.reading() today)."""
        batch._reset()
        batch.columns = self.columns
        if self.done:
            return 0
        cdef Cursor c = Cursor(self.tree)
        if self.resume is None:
            c.first()
        else:
            c.seek(self.resume, ">=")
        cdef uint32_t leaf = c.leaf, nxt
        cdef int idx = c.idx
        cdef BufferPool pool = self.tree.pool
        cdef int f, f2, n, klen, nklen, n2
        cdef const uint8_t* p
        cdef const uint8_t* p2
        cdef const uint8_t* rec
        cdef const uint8_t* key
        cdef const uint8_t* nk
        cdef const uint8_t* hi = NULL
        cdef const uint8_t* val
        cdef Py_ssize_t vlen
        cdef int hlen = 0
        cdef bint take, last
        cdef int64_t ep
        cdef bytes ov
        if self.hi is not None:
            hi = <const uint8_t*>PyBytes_AS_STRING(self.hi)
            hlen = <int>PyBytes_GET_SIZE(self.hi)
        cdef int fn = -1                  # the next leaf's frame: pinned for its prefetch, then handed over
        f = -1
        try:
            if leaf != 0:
                f = pool.pin(leaf, False)
            while leaf != 0:
                self.leaves_read += 1
                p = pool.fdata(f)
                n = pg_nslots(p)
                # Records sit anywhere in a page, so a walk is a chain of cache misses; asking for
                # the next leaf's lines while this one is decoded cut a warm 100k-set scan from
                # 80 ms to 45 ms (records of one page are prefetched the same way at its start).
                # The next leaf stays pinned and becomes the current one: one buffer-pool probe per
                # leaf instead of two (the probes were a fifth of a fill, perf).
                if self.leaves_read == 1:
                    _prefetch(p)
                nxt = pg_next(p)
                if nxt != 0:
                    fn = pool.pin(nxt, False)
                    _prefetch(pool.fdata(fn))
                while idx < n:
                    rec = slot_ptr(p, idx)
                    klen = leaf_klen(rec)
                    key = rec + 2
                    if hi != NULL and _keycmp(key, klen, hi, hlen) >= 0:
                        self.done = True
                        return batch.n
                    if klen != KEY_SIZE:
                        _bad(leaf, idx, f"primary key of {klen} bytes, expected {KEY_SIZE}")
                    take = True
                    if self.mode != SCAN_ALL:
                        ep = key_epoch(key)
                        if self.mode == SCAN_AS_OF and ep > self.as_of:
                            take = False
                        else:
                            # the next key decides: is this the last (fitting) set of its object?
                            nk = NULL
                            if idx + 1 < n:
                                nk = slot_ptr(p, idx + 1) + 2
                                nklen = leaf_klen(slot_ptr(p, idx + 1))
                            elif fn >= 0:
                                p2 = pool.fdata(fn)
                                if pg_nslots(p2) > 0:
                                    nk = slot_ptr(p2, 0) + 2
                                    nklen = leaf_klen(slot_ptr(p2, 0))
                            last = (nk == NULL or nklen != KEY_SIZE or memcmp(nk, key, 4) != 0
                                    or (hi != NULL and _keycmp(nk, nklen, hi, hlen) >= 0)
                                    or (self.mode == SCAN_AS_OF and key_epoch(nk) > self.as_of))
                            take = last
                    if take:
                        if leaf_overflow(rec):
                            ov = pool.read_overflow(leaf_u32(rec + 6 + klen), leaf_u32(rec + 2 + klen))
                            val = <const uint8_t*>PyBytes_AS_STRING(ov)
                            vlen = PyBytes_GET_SIZE(ov)
                        else:
                            val = rec + 2 + klen
                            vlen = slot_len(p, idx) - 2 - klen
                        # a tombstone is no set; as its object's last key it hides the object from
                        # SCAN_LATEST (the key before it was not "last")
                        take = not (vlen > 0 and val[0] == VAL_TOMBSTONE)
                    if take:
                        if batch.n == batch.capacity:
                            self.resume = PyBytes_FromStringAndSize(<const char*>key, klen)
                            return batch.n
                        _decode_row(batch, key, val, vlen, leaf, idx, self.columns)
                        self.rows_read += 1
                    idx += 1
                pool.unpin(f)
                f, fn = fn, -1
                leaf = nxt
                idx = 0
        finally:
            if f >= 0:
                pool.unpin(f)
            if fn >= 0:
                pool.unpin(fn)
        self.done = True
        return batch.n


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define OOR_BATCH_PREFETCH(p) __builtin_prefetch((const void*)(p))
    #else
    #define OOR_BATCH_PREFETCH(p) ((void)0)
    #endif
    """
    void OOR_BATCH_PREFETCH(const void* p) noexcept nogil


cdef inline void _prefetch(const uint8_t* p) noexcept nogil:
    cdef int off
    for off in range(0, 4096, 64):
        OOR_BATCH_PREFETCH(p + off)


cdef inline int _keycmp(const uint8_t* a, int la, const uint8_t* b, int lb) noexcept nogil:
    cdef int r = memcmp(a, b, la if la < lb else lb)
    if r != 0:
        return r
    return la - lb



# Python-visible names of the batch.pxd enum (cdef enums are C-only).
globals().update(BATCH_ROWS=BATCH_ROWS, SCAN_ALL=SCAN_ALL, SCAN_LATEST=SCAN_LATEST, SCAN_AS_OF=SCAN_AS_OF,
                 COL_ALL=COL_ALL)
