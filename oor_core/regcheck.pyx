# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The registry check's per-record loop (``Registry.check``, ``oor check``): the primary tree's records
validated and the index entries they imply counted, in C, without an ElementSet per record.

Who may import: ``oor.registry`` (``_check_primary``, ``_check_index``) and tests.

``PrimaryCheck.feed(chunk, slow)`` takes the (key, value) pairs of the ``elsets`` tree in key order.
Per pair, in C: the key is 16 bytes (else the problem is reported here) and no key of an object
follows its tombstone (likewise); then a record that ``tlecodec.record_facts`` decides alone (valid
by codec conditions 1-8 and 10-13; an elided TEXT or a FIELDS record, ASCII text, no metadata: 99%
of ../shared/data) whose key agrees with it (NORAD, epoch), whose source id is known and names the
record's source, and whose arrival stamp has a ``commits`` entry, is done here.  Every other value --
a tombstone, a TEXT record with its lines (condition 9 re-parses them), anything that disagrees --
goes to ``slow(key, value)``, the registry's Python check of one value, which words every problem
and hands the index keys of a valid set back through ``add_key``.  So a problem is always reported
by the same Python code, and C only ever says "fine".

Index counts (the rule of ``oor.index_counts``), in fixed memory: each index key a set implies adds
H1(key) and H2(key) to two 64-bit sums per index (H: 64-bit hashes forced odd), and each index
entry (key, count) subtracts count * H.  The sums end at zero when every entry's count is the
number of sets implying it (then nothing is missing or stale); a single wrong, missing or stale
entry leaves d * H != 0 mod 2**64 (H odd, 0 < |d| < 2**32), several cancel with probability about
2**-128.  A malformed entry or a zero count marks the index bad at once.  ``index_clean(i)`` says
whether index i is consistent; when one is not, the registry re-runs the exact comparison
(``oor.index_counts.compare``), which names each entry.  The name text is computed here for ASCII
names only (strip, lower-case = casefold, cut to 256 bytes: ``oor.keys.name_text``), the COSPAR
text for designators starting with two digits (``elements.tle_to_cospar``); other records take the
slow path, so both rules stay owned by their Python modules.

Memory: the commit stamps (8 bytes each), a source table (64 Ki entries, 1 MiB) and the sums,
whatever the number of records.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, free, calloc
from libc.string cimport memcmp, memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

from cpython.bytes cimport PyBytes_FromStringAndSize

from oor_core.tlecodec cimport RecordFacts, record_facts
from oor_core.indexkeys cimport COSPAR_KEY_CAP, NAME_KEY_CAP, cospar_key, name_key
from oor_core.space cimport SpaceManager
from oor_core.page cimport pg_nslots, slot_ptr, slot_len
from oor_core.btree cimport leaf_klen, leaf_overflow, leaf_u32
from oor_core.errors import OorError
from oor_core.elset_layout cimport KEY_SIZE, VAL_TOMBSTONE, key_norad, key_epoch, key_source

DEF N_INDEX = 2             # oor.index_counts.INDEXES: names, cospar


cdef inline uint64_t _fmix(uint64_t h) noexcept nogil:
    h ^= h >> 33
    h *= 0xff51afd7ed558ccdULL
    h ^= h >> 33
    h *= 0xc4ceb9fe1a85ec53ULL
    h ^= h >> 33
    return h


DEF SEED2 = 0x9e3779b97f4a7c15ULL


cdef inline void _hash2(const uint8_t* p, Py_ssize_t n, uint64_t* h1, uint64_t* h2) noexcept nogil:
    """Two 64-bit hashes of p[:n] (FNV-1a from two bases, seed 0 and SEED2, then a murmur3 finaliser),
    forced odd.  One loop for both: the two multiply chains run side by side (they were two passes)."""
    cdef uint64_t a = 0xcbf29ce484222325ULL, b = 0xcbf29ce484222325ULL ^ SEED2
    cdef Py_ssize_t i
    for i in range(n):
        a = (a ^ p[i]) * 0x100000001b3ULL
        b = (b ^ p[i]) * 0x100000001b3ULL
    h1[0] = _fmix(a ^ <uint64_t>n) | 1
    h2[0] = _fmix(b ^ <uint64_t>n) | 1


cdef inline uint64_t _word(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """Up to 8 bytes at p as a little-endian u64 (zero-padded)."""
    cdef uint64_t w = 0
    memcpy(&w, p, n if n < 8 else 8)
    return w


cdef inline void _hash_kv(const uint8_t* k, const uint8_t* v, Py_ssize_t vn, uint64_t* h1,
                          uint64_t* h2) noexcept nogil:
    """Two 64-bit hashes of one (16-byte key, value) pair, forced odd: a word at a time (two multiply-xorshift
    chains over the key's and the value's u64 words, the length folded in), then the murmur3 finaliser.
    Why not _hash2's bytewise FNV: each object's last pair and each latest entry are hashed (two values of
    ~200 bytes per object), and bytewise that was ~15% of a real-set check."""
    cdef uint64_t a = 0x243f6a8885a308d3ULL ^ <uint64_t>vn, b = 0x13198a2e03707344ULL ^ <uint64_t>vn, w
    cdef Py_ssize_t i
    for i in range(0, 16, 8):
        w = _word(k + i, 8)
        a = (a ^ w) * 0x9e3779b97f4a7c15ULL
        a ^= a >> 29
        b = (b ^ w) * 0xbf58476d1ce4e5b9ULL
        b ^= b >> 31
    i = 0
    while i < vn:
        w = _word(v + i, vn - i)
        a = (a ^ w) * 0x9e3779b97f4a7c15ULL
        a ^= a >> 29
        b = (b ^ w) * 0xbf58476d1ce4e5b9ULL
        b ^= b >> 31
        i += 8
    h1[0] = _fmix(a) | 1
    h2[0] = _fmix(b ^ 0x9e3779b97f4a7c15ULL) | 1


cdef class PrimaryCheck:
    """One pass of the registry check over the elsets tree and the two indexes.  Who may create:
    oor.registry (tests)."""

    cdef int64_t* stamps
    cdef Py_ssize_t nstamps
    cdef Py_ssize_t* src_len        # by source id: length of its name's bytes, -1 unknown
    cdef const char** src_ptr
    cdef list _keep                 # the source name bytes src_ptr points into
    cdef uint64_t acc[N_INDEX][2]
    cdef bint bad[N_INDEX]
    cdef bint have_prev, prev_tomb
    cdef uint32_t prev_norad
    cdef public Py_ssize_t fast, slow_count
    cdef public Py_ssize_t objects   # distinct objects among the 16-byte keys fed (the latest tree's count)
    # the latest tree (invariant 26, docs/latest.md): H(key | value) of each object's last elsets entry added
    # to lacc, of each latest entry subtracted.  The newest elsets pair is pending until the next object (or
    # the end) shows it was its object's last; its hash is taken while its bytes are at hand (pend_hashed)
    cdef const uint8_t* pend_k
    cdef const uint8_t* pend_v
    cdef Py_ssize_t pend_vn
    cdef bint pending, pend_hashed, lbad, have_lprev
    cdef uint64_t pend_h[2]
    cdef uint64_t lacc[2]
    cdef uint32_t lprev
    cdef public Py_ssize_t latest_entries
    cdef list problems
    cdef public object slow          # slow(key, value): the Python check of a value C does not decide
    cdef public SpaceManager space   # reads overflow values of leaves given to visit_*

    def __cinit__(self, stamps, dict sources, list problems):
        """stamps: the committed arrival stamps (any order); sources: {source id: name bytes} (id 0 =
        no source is implied); problems: the list problems found here are appended to."""
        cdef list st = sorted(stamps)
        cdef Py_ssize_t i
        self.nstamps = len(st)
        self.stamps = <int64_t*>malloc(max(1, self.nstamps) * sizeof(int64_t))
        self.src_len = <Py_ssize_t*>malloc(65536 * sizeof(Py_ssize_t))
        self.src_ptr = <const char**>calloc(65536, sizeof(char*))
        if self.stamps == NULL or self.src_len == NULL or self.src_ptr == NULL:
            raise MemoryError()
        for i in range(self.nstamps):
            self.stamps[i] = st[i]
        for i in range(65536):
            self.src_len[i] = -1
        self._keep = []
        for sid, name in sources.items():
            if 0 < sid < 65536 and type(name) is bytes:
                self._keep.append(name)
                self.src_ptr[sid] = PyBytes_AS_STRING(name)
                self.src_len[sid] = PyBytes_GET_SIZE(name)
        for i in range(N_INDEX):
            self.acc[i][0] = self.acc[i][1] = 0
            self.bad[i] = False
        self.have_prev = self.prev_tomb = False
        self.problems = problems
        self.fast = self.slow_count = self.objects = self.latest_entries = 0
        self.pending = self.pend_hashed = self.lbad = self.have_lprev = False
        self.lacc[0] = self.lacc[1] = 0
        self.slow = None
        self.space = None

    def __dealloc__(self):
        free(self.stamps)
        free(self.src_len)
        free(<void*>self.src_ptr)

    cdef bint _stamped(self, int64_t t) noexcept:
        cdef Py_ssize_t lo = 0, hi = self.nstamps, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.stamps[mid] < t:
                lo = mid + 1
            else:
                hi = mid
        return lo < self.nstamps and self.stamps[lo] == t

    cdef inline void _add(self, int i, const uint8_t* k, Py_ssize_t n) noexcept:
        cdef uint64_t h1, h2
        _hash2(k, n, &h1, &h2)
        self.acc[i][0] += h1
        self.acc[i][1] += h2

    cdef bint _fast(self, const uint8_t* kp, const uint8_t* vp, Py_ssize_t vn) except -1:
        """True when the record is valid and consistent and its index keys were added; False: slow path."""
        cdef RecordFacts f
        cdef uint16_t sid
        cdef uint8_t nk[NAME_KEY_CAP]
        cdef uint8_t ck[COSPAR_KEY_CAP]
        cdef Py_ssize_t nlen, clen
        cdef uint32_t norad
        if not record_facts(vp, vn, &f):
            return False
        norad = key_norad(kp)
        if f.norad != norad or f.epoch_us != key_epoch(kp):
            return False
        sid = key_source(kp)
        if sid == 0:
            if f.has_source:
                return False
        elif not f.has_source or self.src_len[sid] != f.source_len \
                or memcmp(self.src_ptr[sid], f.source, f.source_len) != 0:
            return False
        if f.has_arrival and not self._stamped(f.arrival):
            return False
        # the two index keys (indexkeys.pxd, shared with a load's counts); -1: the Python rule decides
        nlen = name_key(&f, kp, nk)
        clen = cospar_key(&f, kp, ck)
        if nlen < 0 or clen < 0:
            return False
        if nlen:
            self._add(0, nk, nlen)
        if clen:
            self._add(1, ck, clen)
        return True

    cdef int _pair(self, const uint8_t* kp, Py_ssize_t kn, const uint8_t* vp, Py_ssize_t vn, object k,
                   object v) except -1:
        """One elsets (key, value); k, v: the same as bytes, or None (made here when needed)."""
        cdef uint32_t norad
        if kn != KEY_SIZE:
            if k is None:
                k = PyBytes_FromStringAndSize(<const char*>kp, kn)
            self.problems.append(f"tree elsets: key {k.hex()} is {kn} bytes, not {KEY_SIZE}")
            return 0
        norad = key_norad(kp)
        if not self.have_prev or norad != self.prev_norad:
            self.objects += 1
            self._close_object()
        self.pending = True                 # this pair is its object's last until another follows
        self.pend_hashed = False
        self.pend_k, self.pend_v, self.pend_vn = kp, vp, vn
        if self.have_prev and self.prev_tomb and norad == self.prev_norad:
            self.problems.append(f"tree elsets: NORAD {norad} has a key after its tombstone")
        self.have_prev = True
        self.prev_norad = norad
        self.prev_tomb = vn > 0 and vp[0] == VAL_TOMBSTONE
        if self.prev_tomb or vn == 0 or not self._fast(kp, vp, vn):
            self.slow_count += 1
            self.slow(PyBytes_FromStringAndSize(<const char*>kp, kn) if k is None else k,
                      PyBytes_FromStringAndSize(<const char*>vp, vn) if v is None else v)
        else:
            self.fast += 1
        return 0

    def feed(self, chunk, slow=None):
        """Check the (key, value) pairs of chunk (elsets, in key order); slow(key, value) takes what C
        does not decide (default: the slow attribute)."""
        cdef object k, v
        if slow is not None:
            self.slow = slow
        for k, v in chunk:
            self._pair(<const uint8_t*>PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k),
                       <const uint8_t*>PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v), k, v)
        self._hash_pending()                # the chunk's bytes go when the caller drops it

    cdef void _hash_pending(self) noexcept:
        """Hash the pending pair now: its bytes are about to go (a leaf left, an overflow value dropped)."""
        if self.pending and not self.pend_hashed:
            _hash_kv(self.pend_k, self.pend_v, self.pend_vn, &self.pend_h[0], &self.pend_h[1])
            self.pend_hashed = True

    cdef void _close_object(self) noexcept:
        """The pending pair was its object's last elsets entry: it counts for the latest tree."""
        if self.pending:
            self._hash_pending()
            self.lacc[0] += self.pend_h[0]
            self.lacc[1] += self.pend_h[1]
            self.pending = False

    cdef int _latest_entry(self, const uint8_t* kp, Py_ssize_t kn, const uint8_t* vp, Py_ssize_t vn) except -1:
        cdef uint64_t h1, h2
        cdef uint32_t norad
        self.latest_entries += 1
        if kn != KEY_SIZE:
            self.lbad = True
            return 0
        norad = key_norad(kp)
        if self.have_lprev and norad <= self.lprev:
            self.lbad = True                # two entries of one object, or out of order
        self.have_lprev = True
        self.lprev = norad
        _hash_kv(kp, vp, vn, &h1, &h2)
        self.lacc[0] -= h1
        self.lacc[1] -= h2
        return 0

    def take_latest(self, chunk):
        """Subtract the (key, value) entries of chunk of the latest tree (in key order) from its sums."""
        cdef object k, v
        for k, v in chunk:
            self._latest_entry(<const uint8_t*>PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k),
                               <const uint8_t*>PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))

    def visit_latest(self, page_id, page):
        """A leaf page of the latest tree, during the tree walk (leaves in key order)."""
        self._leaf(3, page)

    def latest_clean(self):
        """Whether the latest entries taken are exactly each fed object's last elsets entry (invariant 26:
        equal sums, one entry per object, strictly increasing objects).  Call after the last feed."""
        self._close_object()
        return not self.lbad and self.latest_entries == self.objects and self.lacc[0] == 0 and self.lacc[1] == 0

    cdef int _leaf(self, int index, const uint8_t[::1] page) except -1:
        """The records of one leaf page (btree.pxd layout): index 0/1 an index tree, 2 elsets, 3 latest."""
        cdef const uint8_t* p = &page[0]
        cdef const uint8_t* rec
        cdef int i, n = pg_nslots(p), klen
        cdef Py_ssize_t vlen
        cdef object ov
        for i in range(n):
            rec = slot_ptr(p, i)
            klen = leaf_klen(rec)
            if leaf_overflow(rec):
                try:
                    ov = self.space.read_overflow(leaf_u32(rec + 6 + klen), leaf_u32(rec + 2 + klen))
                except OorError:
                    continue             # the tree check reports the broken chain
                if index == 2:
                    self._pair(rec + 2, klen, <const uint8_t*>PyBytes_AS_STRING(ov), PyBytes_GET_SIZE(ov),
                               None, ov)
                    self._hash_pending()         # ov goes with the next overflow value
                elif index == 3:
                    self._latest_entry(rec + 2, klen, <const uint8_t*>PyBytes_AS_STRING(ov),
                                       PyBytes_GET_SIZE(ov))
                else:
                    self._entry(index, rec + 2, klen, <const uint8_t*>PyBytes_AS_STRING(ov),
                                PyBytes_GET_SIZE(ov))
                continue
            vlen = slot_len(p, i) - 2 - klen
            if index == 2:
                self._pair(rec + 2, klen, rec + 2 + klen, vlen, None, None)
            elif index == 3:
                self._latest_entry(rec + 2, klen, rec + 2 + klen, vlen)
            else:
                self._entry(index, rec + 2, klen, rec + 2 + klen, vlen)
        if index == 2:
            self._hash_pending()                 # the leaf's bytes go when the walk moves on
        return 0

    def visit_elsets(self, page_id, page):
        """A leaf page of elsets, during the tree walk (storage's check), leaves in key order."""
        self._leaf(2, page)

    def visit_names(self, page_id, page):
        """A leaf page of the names index."""
        self._leaf(0, page)

    def visit_cospar(self, page_id, page):
        """A leaf page of the cospar index."""
        self._leaf(1, page)

    def add_key(self, int index, bytes key):
        """An index key (names: 0, cospar: 1) a set checked by the slow path implies."""
        self._add(index, <const uint8_t*>PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))

    cdef int _entry(self, int index, const uint8_t* kp, Py_ssize_t kn, const uint8_t* vp,
                    Py_ssize_t vn) except -1:
        cdef uint64_t c, h1, h2
        if kn < 6 or kp[kn - 5] != 0 or vn != 4:
            self.bad[index] = True
            return 0
        c = (<uint64_t>vp[0] << 24) | (<uint64_t>vp[1] << 16) | (<uint64_t>vp[2] << 8) | vp[3]
        if c == 0:
            self.bad[index] = True
        _hash2(kp, kn, &h1, &h2)
        self.acc[index][0] -= c * h1
        self.acc[index][1] -= c * h2
        return 0

    def take_index(self, int index, chunk):
        """Subtract the (key, value) entries of chunk of index (0 names, 1 cospar) from its sums."""
        cdef object k, v
        for k, v in chunk:
            self._entry(index, <const uint8_t*>PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k),
                        <const uint8_t*>PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))

    def index_clean(self, int index):
        """Whether the entries taken of index match what the fed records imply (see the module doc)."""
        return not self.bad[index] and self.acc[index][0] == 0 and self.acc[index][1] == 0
