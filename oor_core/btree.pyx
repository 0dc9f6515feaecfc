# oor_core/btree.pyx -- B+ tree bodies: search, cursors, insert with split,
# delete with merge/redistribute, bulk load, _check().  Record layouts and
# validity conditions are in btree.pxd.
#
# Reads pin pages through BufferPool.pin/unpin directly (no Python objects on
# the lookup path; the list of these raw pins and why is in guards.pxd).  Every
# change goes through a WritePageGuard, so that one tree operation is one group
# of guarded page changes (invariant 5).  Pages come from and go back to the
# space manager (pool.space); a bulk build switches the pool to BULK mode.
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_READ
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from oor_core.page cimport *
from oor_core.pager cimport hdr_u32, HDR_ROOTS, ROOT_ENTRY, MAX_TREES
from oor_core.bufpool cimport BufferPool, MODE_CAPTURING, MODE_BULK
from oor_core.guards cimport ReadPageGuard, WritePageGuard
from oor_core.unaligned cimport load_u16, load_u32
from oor_core.errors import CorruptPageError, OorError


# Fix: cursors used to compare against their own BTree object's version, so a
# change made through another handle of the same tree (BTree.open returns a new
# object each time) went unnoticed and the cursor stepped on a stale slot/leaf
# (it ended early, and a freed leaf could be reused by another tree).  Every
# change bumps the pool's change counter (pool.bump_changes(): one counter per
# database, so a write to one database does not make another's cursors re-seek),
# which cursors compare against.


# ---- record helpers ----------------------------------------------------------
cdef inline int _cmp(const uint8_t* a, int la, const uint8_t* b, int lb) noexcept nogil:
    cdef int r = memcmp(a, b, la if la < lb else lb)
    if r != 0:
        return r
    return la - lb

cdef inline const uint8_t* _rec(const uint8_t* p, int i) noexcept nogil:
    return p + slot_off(p, i)

cdef inline int _klen(const uint8_t* rec) noexcept nogil:
    return load_u16(rec) & 0x7FFF

cdef inline int _used(const uint8_t* p) noexcept nogil:
    return USABLE - page_total_free(p)

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define OOR_PREFETCH(p) __builtin_prefetch((const void*)(p))
    #else
    #define OOR_PREFETCH(p) ((void)0)
    #endif
    """
    void OOR_PREFETCH(const void* p) noexcept nogil


cdef inline void _prefetch_page(const uint8_t* p) noexcept nogil:
    """Ask for every cache line of a page at once.

    A binary search over a cold page is a chain of dependent memory misses
    (slot, then record, then the next slot...).  Requesting all 64 lines up
    front overlaps them (the prefetching B+ tree idea of Chen, Gibbons and
    Mowry, 2001); on 1M-key trees it cut a random lookup by about a quarter.
    """
    cdef int off
    for off in range(0, PAGE_SIZE, 64):
        OOR_PREFETCH(p + off)


cdef int _lower_bound(const uint8_t* p, const uint8_t* key, int klen, bint* found) noexcept nogil:
    """First slot whose key >= key (found: equal)."""
    cdef int lo = 0, hi = pg_nslots(p), mid, c
    cdef const uint8_t* r
    found[0] = False
    while lo < hi:
        mid = (lo + hi) >> 1
        r = _rec(p, mid)
        c = _cmp(r + 2, _klen(r), key, klen)
        if c < 0:
            lo = mid + 1
        else:
            if c == 0:
                found[0] = True
            hi = mid
    if found[0]:
        r = _rec(p, lo)
        found[0] = _cmp(r + 2, _klen(r), key, klen) == 0
    return lo

cdef int leaf_search(const uint8_t* p, const uint8_t* key, int klen, bint* found) noexcept nogil:
    """_lower_bound for C readers outside the tree (btree.pxd)."""
    return _lower_bound(p, key, klen, found)

cdef inline int _child_index(const uint8_t* p, const uint8_t* key, int klen) noexcept nogil:
    """Index of the separator entry to follow (-1 = leftmost child)."""
    cdef int lo = 0, hi = pg_nslots(p), mid
    cdef const uint8_t* r
    while lo < hi:
        mid = (lo + hi) >> 1
        r = _rec(p, mid)
        if _cmp(r + 2, _klen(r), key, klen) <= 0:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1

cdef inline uint32_t _child_at(const uint8_t* p, int idx) noexcept nogil:
    if idx < 0:
        return pg_prev(p)
    cdef const uint8_t* r = _rec(p, idx)
    return load_u32(r + 2 + _klen(r))

cdef inline bytes _key_bytes(const uint8_t* rec):
    return PyBytes_FromStringAndSize(<const char*>rec + 2, _klen(rec))

cdef list _records(const uint8_t* p):
    return [PyBytes_FromStringAndSize(<const char*>_rec(p, i), slot_len(p, i)) for i in range(pg_nslots(p))]

cdef inline bytes _rkey(bytes rec):
    """Key of a record given as bytes."""
    cdef const uint8_t* r = <const uint8_t*>PyBytes_AS_STRING(rec)
    return PyBytes_FromStringAndSize(<const char*>r + 2, _klen(r))

cdef inline uint32_t _rchild(bytes rec):
    cdef const uint8_t* r = <const uint8_t*>PyBytes_AS_STRING(rec)
    return load_u32(r + 2 + _klen(r))

cdef bytes _internal_rec(bytes key, uint32_t child):
    cdef int klen = PyBytes_GET_SIZE(key)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 6 + klen)
    cdef uint8_t* o = <uint8_t*>PyBytes_AS_STRING(out)
    cdef uint16_t k16 = <uint16_t>klen
    memcpy(o, &k16, 2)
    memcpy(o + 2, PyBytes_AS_STRING(key), klen)
    memcpy(o + 2 + klen, &child, 4)
    return out

cdef bytes _shortest_sep(bytes left_last, bytes right_first):
    """Shortest prefix of right_first that is > left_last (suffix truncation)."""
    cdef Py_ssize_t n = min(len(left_last), len(right_first)), i = 0
    while i < n and left_last[i] == right_first[i]:
        i += 1
    return right_first[:i + 1]

cdef int _fill_page(uint8_t* p, list recs, Py_ssize_t a, Py_ssize_t b) except -1:
    """Append recs[a:b] in order to an empty (or partly filled) node page."""
    cdef Py_ssize_t i
    cdef bytes r
    for i in range(a, b):
        r = recs[i]
        if page_insert_at(p, pg_nslots(p), <const uint8_t*>PyBytes_AS_STRING(r),
                          <int>PyBytes_GET_SIZE(r), 0) < 0:
            raise AssertionError("B+ tree node overflow while rebuilding a page")
    return 0

cdef void _reformat(uint8_t* p, uint32_t pid, uint8_t ptype) noexcept nogil:
    """Empty a node page keeping its level, links and tree id."""
    cdef uint16_t level = pg_level(p)
    cdef uint32_t nxt = pg_next(p), prv = pg_prev(p), aux = pg_aux(p)
    cdef uint64_t lsn = pg_lsn(p)
    page_init(p, pid, ptype)
    pg_set_level(p, level)
    pg_set_next(p, nxt)
    pg_set_prev(p, prv)
    pg_set_aux(p, aux)
    pg_set_lsn(p, lsn)

cdef bint _has_right_sibling(BufferPool pool, uint32_t parent, int ci) except -1:
    """Whether child ci of internal node parent has a right sibling under it."""
    cdef int f = pool.pin(parent, False)
    cdef bint r = ci + 1 < pg_nslots(pool.fdata(f))
    pool.unpin(f)
    return r


cdef Py_ssize_t _rising_split(list recs, Py_ssize_t idx, bint can_borrow) except -1:
    """Split index for a rising run: idx (the new record starts the right page), moved to the nearest
    point where both halves fit a page and meet MIN_FILL; -1 if there is none.

    recs[idx] is the new record; left = recs[:s], right = recs[s:], so neither is ever empty
    (MIN_FILL > 0).  The valid points form one interval [lo, hi] (left bytes grow with s).
    can_borrow: the leaf has a right sibling under the same parent; then, instead of moving
    the split point left of idx (which would leave the left page, behind the run, at 3/4),
    -2 says "split at idx, and let the short right page borrow from that sibling".
    """
    cdef Py_ssize_t n = len(recs), s, lo = -1, hi = -1
    cdef long total = 0, acc = 0, head = 0
    for r in recs:
        total += len(<bytes>r) + SLOT_SIZE
    for s in range(1, n):
        acc += len(<bytes>recs[s - 1]) + SLOT_SIZE
        if s == idx:
            head = acc
        if MIN_FILL <= acc <= USABLE and MIN_FILL <= total - acc <= USABLE:
            if lo < 0:
                lo = s
            hi = s
    if can_borrow and 1 <= idx < n and head >= MIN_FILL and head <= USABLE and total - head < MIN_FILL:
        return -2
    if lo < 0:
        return -1
    return lo if idx < lo else (hi if idx > hi else idx)


cdef inline bint _replace_sep(uint8_t* p, int pos, bytes sep) noexcept:
    """Replace the separator record at slot pos of internal page p by sep; False when sep does not fit
    (the old record is gone then: the caller splits the parent with sep).  Callers: the settle moves."""
    page_remove_at(p, pos)
    return page_insert_at(p, pos, <const uint8_t*>PyBytes_AS_STRING(sep), <int>PyBytes_GET_SIZE(sep), 0) >= 0


cdef Py_ssize_t _balanced_split(list recs, int extra) except -1:
    """Split index s giving two halves of about equal bytes, both non-empty and each fitting a page.

    extra: bytes the right half gains besides its records (0 for leaves).
    """
    cdef Py_ssize_t n = len(recs), s, best = -1
    cdef long total = 0, acc = 0, bestd = 1 << 30, d
    sizes = [len(r) + SLOT_SIZE for r in recs]
    for x in sizes:
        total += x
    for s in range(1, n):
        acc += sizes[s - 1]
        if acc <= USABLE and total - acc + extra <= USABLE:
            d = abs(2 * acc - total)
            if d < bestd:
                bestd = d
                best = s
    if best < 0:
        raise AssertionError("no valid split point")
    return best


@cython.final
cdef class BTree:
    """A B+ tree stored in the pages of a BufferPool, named in the file header.

    Open with ``BTree.create(pool, name)`` or ``BTree.open(pool, name)``.  Keys
    are bytes (1..512), compared with memcmp; values are bytes of any length.
    Who may call: the registry, recovery, tests.  One thread at a time.

    >>> # doctest-style sketch (see tests/test_btree.py):
    >>> # t = BTree.create(pool, b"primary"); t.insert(b"k", b"v"); t.get(b"k") -> b"v"
    """

    def __cinit__(self, BufferPool pool not None, int tree_id):
        if tree_id < 0 or tree_id >= MAX_TREES:
            raise ValueError(f"tree id {tree_id} out of range")
        self.pool = pool
        self.tree_id = tree_id
        cdef ReadPageGuard g = pool.read_guard(0)
        cdef const uint8_t* e
        try:
            e = g.p + HDR_ROOTS + ROOT_ENTRY * tree_id
            if load_u32(e) == 0:
                raise KeyError(f"no tree with id {tree_id} in {pool.pager.path}")
            self.name = PyBytes_FromStringAndSize(<const char*>e + 8, 8).rstrip(b"\0").decode("ascii")
        finally:
            g.unpin_now()

    @staticmethod
    def trees(BufferPool pool not None):
        """{name: tree_id} of every tree recorded in the file header."""
        out = {}
        cdef ReadPageGuard g = pool.read_guard(0)
        cdef const uint8_t* e
        cdef int i
        try:
            for i in range(MAX_TREES):
                e = g.p + HDR_ROOTS + ROOT_ENTRY * i
                if load_u32(e) != 0:
                    out[PyBytes_FromStringAndSize(<const char*>e + 8, 8).rstrip(b"\0").decode("ascii")] = i
        finally:
            g.unpin_now()
        return out

    @staticmethod
    def create(BufferPool pool not None, str name):
        """Create an empty tree (one empty leaf as root) recorded under name (<= 8 ASCII chars)."""
        raw = name.encode("ascii")
        if not 1 <= len(raw) <= 8:
            raise ValueError("tree names are 1 to 8 ASCII characters")
        existing = BTree.trees(pool)
        if name in existing:
            raise KeyError(f"tree {name!r} already exists")
        free_ids = [i for i in range(MAX_TREES) if i not in existing.values()]
        if not free_ids:
            raise OorError(f"the file header has room for {MAX_TREES} trees")
        cdef int tid = free_ids[0]
        cdef bytes padded = raw.ljust(8, b"\0")
        cdef WritePageGuard leaf = pool.space.new_page(PT_BTREE_LEAF)
        cdef uint32_t root = leaf.page_id
        pg_set_aux(leaf.p, tid)
        leaf.unpin_now()
        cdef WritePageGuard h = pool.write_guard(0)
        cdef uint8_t* e = h.p + HDR_ROOTS + ROOT_ENTRY * tid
        cdef uint16_t height = 1
        memcpy(e, &root, 4)
        memcpy(e + 4, &height, 2)
        memcpy(e + 8, <const char*>padded, 8)
        h.unpin_now()
        pool.end_op()
        return BTree(pool, tid)

    @staticmethod
    def open(BufferPool pool not None, str name, bint create=False):
        """The tree recorded under name; created when missing and create is true."""
        ids = BTree.trees(pool)
        if name in ids:
            return BTree(pool, ids[name])
        if create:
            return BTree.create(pool, name)
        raise KeyError(f"no tree named {name!r}")

    # ---- root ------------------------------------------------------------
    cdef int _root(self, uint32_t* root, int* height) except -1:
        cdef int f = self.pool.pin(0, False)
        cdef const uint8_t* e = self.pool.fdata(f) + HDR_ROOTS + ROOT_ENTRY * self.tree_id
        root[0] = load_u32(e)
        height[0] = load_u16(e + 4)
        self.pool.unpin(f)
        if root[0] == 0 or height[0] < 1 or height[0] > MAX_DEPTH:
            raise CorruptPageError(0, f"tree {self.tree_id} has no valid root", self.pool.pager.path)
        return 0

    cdef int _set_root(self, uint32_t root, int height) except -1:
        cdef WritePageGuard h = self.pool.write_guard(0)
        cdef uint8_t* e = h.p + HDR_ROOTS + ROOT_ENTRY * self.tree_id
        cdef uint16_t h16 = <uint16_t>height
        memcpy(e, &root, 4)
        memcpy(e + 4, &h16, 2)
        h.unpin_now()
        return 0

    @property
    def height(self):
        cdef uint32_t root
        cdef int height
        self._root(&root, &height)
        return height

    @property
    def root_page(self):
        cdef uint32_t root
        cdef int height
        self._root(&root, &height)
        return root

    # ---- search ----------------------------------------------------------
    cdef object _value_of(self, const uint8_t* rec, int rlen):
        cdef int klen = _klen(rec)
        if load_u16(rec) & VAL_OVERFLOW:
            return self.pool.space.read_overflow(load_u32(rec + 6 + klen), load_u32(rec + 2 + klen))
        return PyBytes_FromStringAndSize(<const char*>rec + 2 + klen, rlen - 2 - klen)

    cdef object _get(self, const uint8_t* key, int klen):
        cdef uint32_t pid
        cdef int height, f, lvl, idx
        cdef bint found
        cdef const uint8_t* p
        self._root(&pid, &height)
        for lvl in range(height - 1):
            f = self.pool.pin(pid, False)
            p = self.pool.fdata(f)
            if lvl:
                _prefetch_page(p)
            pid = _child_at(p, _child_index(p, key, klen))
            self.pool.unpin(f)
        f = self.pool.pin(pid, False)
        p = self.pool.fdata(f)
        if height > 1:
            _prefetch_page(p)
        idx = _lower_bound(p, key, klen, &found)
        if not found:
            self.pool.unpin(f)
            return None
        try:
            return self._value_of(_rec(p, idx), slot_len(p, idx))
        finally:
            self.pool.unpin(f)

    def get(self, bytes key not None, default=None):
        """Value stored under key, or default.  O(height) page visits, no allocation but the result."""
        v = self._get(<const uint8_t*>PyBytes_AS_STRING(key), <int>PyBytes_GET_SIZE(key))
        return default if v is None else v

    def __contains__(self, bytes key not None):
        return self._get(<const uint8_t*>PyBytes_AS_STRING(key), <int>PyBytes_GET_SIZE(key)) is not None

    cdef int _descend(self, const uint8_t* key, int klen, uint32_t* path, int* idxs) except -1:
        """Root-to-leaf path for key: path[0] = root .. path[depth-1] = leaf; idxs[i] = child index taken."""
        cdef uint32_t pid
        cdef int height, f, i
        cdef const uint8_t* p
        self._root(&pid, &height)
        for i in range(height - 1):
            path[i] = pid
            f = self.pool.pin(pid, False)
            p = self.pool.fdata(f)
            if pg_type(p) != PT_BTREE_INTERNAL:
                self.pool.unpin(f)
                raise CorruptPageError(pid, "expected a B+ tree internal page", self.pool.pager.path)
            if i:
                _prefetch_page(p)
            idxs[i] = _child_index(p, key, klen)
            pid = _child_at(p, idxs[i])
            self.pool.unpin(f)
        path[height - 1] = pid
        idxs[height - 1] = 0
        return height

    # ---- leaf access for C readers (btree.pxd; caller: oor_core/reads.pyx) --------------------
    cdef int leaf_for(self, const uint8_t* key, int klen, int* idx, bint* found) except -1:
        """Pin the leaf where key belongs and return its frame; idx = the first slot whose key >= key
        (the slot count when none), found = that key equals key.  One descent, as ``_get``.

        The caller unpins the frame (``pool.unpin``) on every path: a raw pin (guards.pxd).  A page on
        the path that is not a tree page of the right kind is CorruptPageError, nothing pinned."""
        cdef uint32_t path[MAX_DEPTH]
        cdef int idxs[MAX_DEPTH]
        cdef int depth = self._descend(key, klen, path, idxs)
        cdef int f = self.pool.pin(path[depth - 1], False)
        cdef const uint8_t* p = self.pool.fdata(f)
        if pg_type(p) != PT_BTREE_LEAF:
            self.pool.unpin(f)
            raise CorruptPageError(path[depth - 1], "expected a B+ tree leaf page", self.pool.pager.path)
        if depth > 1:
            _prefetch_page(p)
        idx[0] = _lower_bound(p, key, klen, found)
        return f

    cdef object leaf_value(self, const uint8_t* p, int idx):
        """The value of slot idx of the pinned leaf p, as bytes: inline, or read from its overflow chain."""
        return self._value_of(_rec(p, idx), slot_len(p, idx))

    # ---- insert ------------------------------------------------------------
    cdef bytes _leaf_rec(self, bytes key, bytes value):
        cdef int klen = PyBytes_GET_SIZE(key)
        cdef Py_ssize_t vlen = PyBytes_GET_SIZE(value)
        cdef uint16_t k16
        cdef uint32_t first, total
        cdef bytes out
        cdef uint8_t* o
        if 2 + klen + vlen <= MAX_LEAF_REC:
            out = PyBytes_FromStringAndSize(NULL, 2 + klen + vlen)
            o = <uint8_t*>PyBytes_AS_STRING(out)
            k16 = <uint16_t>klen
            memcpy(o, &k16, 2)
            memcpy(o + 2, PyBytes_AS_STRING(key), klen)
            memcpy(o + 2 + klen, PyBytes_AS_STRING(value), vlen)
            return out
        if vlen > 0xFFFFFFFF:
            raise ValueError("values are limited to 4 GiB")
        first = self.pool.space.write_overflow(<const uint8_t*>PyBytes_AS_STRING(value), vlen)
        total = <uint32_t>vlen
        out = PyBytes_FromStringAndSize(NULL, 2 + klen + 8)
        o = <uint8_t*>PyBytes_AS_STRING(out)
        k16 = <uint16_t>klen | VAL_OVERFLOW
        memcpy(o, &k16, 2)
        memcpy(o + 2, PyBytes_AS_STRING(key), klen)
        memcpy(o + 2 + klen, &total, 4)
        memcpy(o + 6 + klen, &first, 4)
        return out

    cdef int _put(self, bytes key, bytes value, int mode) except -1:
        """mode 0: insert (KeyError on duplicate); 1: upsert.  Returns 1 if inserted, 0 if replaced."""
        cdef int klen = PyBytes_GET_SIZE(key)
        if klen < 1 or klen > MAX_KEY:
            raise ValueError(f"keys are 1 to {MAX_KEY} bytes, got {klen}")
        cdef uint32_t path[MAX_DEPTH]
        cdef int idxs[MAX_DEPTH]
        cdef int depth = self._descend(<const uint8_t*>PyBytes_AS_STRING(key), klen, path, idxs)
        cdef bint found
        if self.hint_key is not None and _cmp(<const uint8_t*>PyBytes_AS_STRING(key), klen,
                                              <const uint8_t*>PyBytes_AS_STRING(self.hint_key),
                                              <int>PyBytes_GET_SIZE(self.hint_key)) > 0:
            self.run += 1
        else:
            self.run = 0
        self.hint_key = key
        cdef WritePageGuard g = self.pool.write_guard(path[depth - 1])
        cdef int idx = _lower_bound(g.p, <const uint8_t*>PyBytes_AS_STRING(key), klen, &found)
        cdef const uint8_t* r
        cdef uint32_t old_first = 0
        cdef int used
        if found:
            if mode == 0:
                g.unpin_now()
                raise KeyError(key)
            r = _rec(g.p, idx)
            if load_u16(r) & VAL_OVERFLOW:
                old_first = load_u32(r + 6 + _klen(r))
            elif slot_len(g.p, idx) - 2 - klen == PyBytes_GET_SIZE(value):
                # Same length, stored inline: rewrite the value bytes where they are.
                # Only the bytes that differ are logged, and no page changes shape
                # (index counts and merged repeats of a load are mostly this case).
                memcpy(<uint8_t*>r + 2 + klen, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
                g.unpin_now()
                self.version = self.pool.bump_changes()
                return 0
            page_remove_at(g.p, idx)
        g.unpin_now()
        self.version = self.pool.bump_changes()
        if old_first:
            self.pool.space.free_overflow(old_first)
        rec = self._leaf_rec(key, value)
        self._leaf_put(path, idxs, depth, idx, rec)
        if found and depth > 1:
            g = self.pool.write_guard(path[depth - 1])
            used = _used(g.p)
            g.unpin_now()
            if used < MIN_FILL:
                self._descend(<const uint8_t*>PyBytes_AS_STRING(key), klen, path, idxs)
                self._rebalance(path, idxs, depth - 1)
        return 0 if found else 1

    # Every public change ends with pool.end_op(), even when it fails part-way:
    # the pages it touched are then logged as one group (one mini-transaction,
    # invariant 5), so a transaction abort can undo a half-done change too.
    def insert(self, bytes key not None, bytes value not None):
        """Store a new key; KeyError if it exists.  O(height), plus a split now and then."""
        try:
            self._put(key, value, 0)
        finally:
            self.pool.end_op()

    def upsert(self, bytes key not None, bytes value not None):
        """Store key -> value, replacing any old value.  Returns True if the key was new."""
        try:
            return self._put(key, value, 1) == 1
        finally:
            self.pool.end_op()

    def __setitem__(self, bytes key not None, bytes value not None):
        self.upsert(key, value)

    def __getitem__(self, bytes key not None):
        v = self._get(<const uint8_t*>PyBytes_AS_STRING(key), <int>PyBytes_GET_SIZE(key))
        if v is None:
            raise KeyError(key)
        return v

    cdef int _leaf_put(self, uint32_t* path, int* idxs, int depth, int idx, bytes rec) except -1:
        """Insert a leaf record at position idx of the leaf path[depth-1], splitting if full.

        Placement policy (issue 17).  The registry's loads insert one set per
        object in key order, each at the end of its object's run: ascending,
        but in the middle of the tree, where the balanced split left leaves
        about half full (fill 0.55 on the real data, file 1.20x SQLite's).
        An insert is part of a *rising run* when the last put of this tree
        (the in-memory hint, never on disk) landed in this leaf at an earlier
        slot or in its left neighbour, or when the last RUN_MIN puts each had
        a larger key than the one before (a sweep that skips pages).  For a
        rising insert, as InnoDB does for sequential inserts, the pages behind
        the run are kept full and the free space stays ahead of it:
          1. append-left: while the left sibling (same parent) has room, the
             records before the new one and the new one (as many as fit) go
             to its end -- with or without an overflow;
        and when the leaf overflows:
          2. push-right: the new record and everything after it move to the
             front of the right sibling, when they fit there;
          3. push-left: the leading records move into the left sibling, when
             it has room for at least PUSH_MIN bytes;
          4. split at the insertion point: the left page keeps every record
             before the new one, the right page gets it and the rest.  When
             that right part is short of MIN_FILL it borrows from its right
             sibling (_rebalance, as after a delete); without such a sibling
             the point moves to the nearest one where both halves meet
             MIN_FILL (_rising_split), else the balanced split.
        Any other overflow: the right-edge append (left page kept full) or the
        balanced split, as before.  No page is ever left empty or below
        MIN_FILL (btree.pxd condition 5).  Every page touched is part of the
        caller's operation (one pool.end_op, one mini-transaction).
        Measured (all 18 real files, 102,725 sets; /tmp measure in the issue
        note): elsets fill 0.554 -> 0.924, main file 42.3 -> 25.9 MB.
        """
        cdef uint32_t leaf = path[depth - 1]
        cdef WritePageGuard g = self.pool.write_guard(leaf)
        cdef WritePageGuard ng = None, sib
        cdef uint32_t right_next
        cdef Py_ssize_t s, n
        cdef long acc
        cdef bint rising, borrow = False
        try:
            rising = self.run >= RUN_MIN or (self.hint_leaf != 0 and (
                (self.hint_leaf == leaf and idx > self.hint_idx) or self.hint_leaf == pg_prev(g.p)))
            if rising and depth > 1:
                # Append-left: while the left neighbour has room, the records of a rising run
                # (those before the new record, and the new record: as many as fit) go to its
                # end, so the pages behind the run are full.  Copied page to page (no list).
                if self._append_left(path, idxs, depth, g, idx, rec):
                    return 0                     # g was released by _append_left
            if page_insert_at(g.p, idx, <const uint8_t*>PyBytes_AS_STRING(rec),
                              <int>PyBytes_GET_SIZE(rec), 0) >= 0:
                self.hint_leaf = leaf
                self.hint_idx = idx
                return 0
            recs = _records(g.p)
            n = len(recs)
            recs.insert(idx, rec)
            if rising and depth > 1:
                if self._push_right(path, idxs, depth, g, recs, idx):
                    return 0                     # g was released by _push_right
                if self._push_left(path, idxs, depth, g, recs, idx, 0):
                    return 0                     # g was released by _push_left
            s = -1
            if rising:
                s = _rising_split(recs, idx, depth > 1 and _has_right_sibling(self.pool, path[depth - 2],
                                                                               idxs[depth - 2]))
                if s == -2:
                    # The tail is short and the next leaf under the same parent is full: split
                    # at idx anyway (the left page keeps every record before the new one), then
                    # the short right page borrows from its right sibling, below.
                    s = idx
                    borrow = True
            if s < 0:
                if idx == n and pg_next(g.p) == 0:
                    # Appending at the right edge: keep the left page full, give the
                    # new page just enough to meet the fill bound.
                    s = n + 1
                    acc = 0
                    while s > 1 and acc < MIN_FILL:
                        s -= 1
                        acc += len(recs[s]) + SLOT_SIZE
                else:
                    s = _balanced_split(recs, 0)
            ng = self.pool.space.new_page(PT_BTREE_LEAF)
            pg_set_aux(ng.p, self.tree_id)
            right_next = pg_next(g.p)
            _reformat(g.p, leaf, PT_BTREE_LEAF)
            _fill_page(g.p, recs, 0, s)
            _fill_page(ng.p, recs, s, len(recs))
            pg_set_next(g.p, ng.page_id)
            pg_set_prev(ng.p, leaf)
            pg_set_next(ng.p, right_next)
            if right_next:
                sib = self.pool.write_guard(right_next)
                pg_set_prev(sib.p, ng.page_id)
                sib.unpin_now()
            sep = _shortest_sep(_rkey(recs[s - 1]), _rkey(recs[s]))
            new_pid = ng.page_id
            if idx < s:
                self.hint_leaf = leaf
                self.hint_idx = idx
            else:
                self.hint_leaf = new_pid
                self.hint_idx = idx - s
        finally:
            g.unpin_now()
            if ng is not None:
                ng.unpin_now()
        self._insert_sep(path, idxs, depth - 1, sep, new_pid)
        if borrow:
            key = _rkey(recs[s])
            depth = self._descend(<const uint8_t*>PyBytes_AS_STRING(key), <int>PyBytes_GET_SIZE(key), path, idxs)
            self._rebalance(path, idxs, depth - 1)
            self.hint_leaf = new_pid    # the new record starts the right page (a merge or redistribution
            self.hint_idx = 0           # with its right sibling keeps it there)
        return 0

    cdef bint _sep_fits(self, uint32_t* path, int depth, int entry, bytes sep) except -1:
        """Whether replacing separator entry of the leaf's parent by sep keeps that parent at or
        above MIN_FILL (condition 5; the root is exempt).  A shorter separator shrinks it."""
        cdef int f
        cdef long used
        if depth - 2 == 0:
            return True
        f = self.pool.pin(path[depth - 2], False)
        used = _used(self.pool.fdata(f)) - slot_len(self.pool.fdata(f), entry) + PyBytes_GET_SIZE(sep)
        self.pool.unpin(f)
        return used >= MIN_FILL

    cdef bint _left_of(self, uint32_t parent, int ci, uint32_t leaf, uint32_t* left, int* lfree,
                       int* lslots) except -1:
        """The left sibling of child ci of parent: its page id, free bytes and slot count into left, lfree,
        lslots.  False when there is none under the same parent (ci < 0) or it is not leaf's left
        neighbour in the leaf chain.  Callers: _append_left, _push_left."""
        cdef int f
        cdef uint32_t nxt
        if ci < 0:
            return False
        f = self.pool.pin(parent, False)
        left[0] = _child_at(self.pool.fdata(f), ci - 1)
        self.pool.unpin(f)
        f = self.pool.pin(left[0], False)
        lfree[0] = page_total_free(self.pool.fdata(f))
        lslots[0] = pg_nslots(self.pool.fdata(f))
        nxt = pg_next(self.pool.fdata(f))
        self.pool.unpin(f)
        return nxt == leaf

    cdef int _append_left(self, uint32_t* path, int* idxs, int depth, WritePageGuard g, int idx,
                          bytes rec) except -1:
        """Append-left of a rising insert: leaf g's records before slot idx, then the new record rec,
        go to the end of its left sibling (same parent), as many of them as fit there, when what
        stays in g meets MIN_FILL.  Records are copied page to page.  Returns 1, having released g
        and set the hint; or 0, changing nothing (g still pinned).
        """
        cdef uint32_t parent = path[depth - 2], left, leaf = path[depth - 1]
        cdef int ci = idxs[depth - 2], f, lfree, lslots, n = pg_nslots(g.p), k = 0, j, sz, ln
        cdef int rlen = <int>PyBytes_GET_SIZE(rec)
        cdef const uint8_t* rp = <const uint8_t*>PyBytes_AS_STRING(rec)
        cdef const uint8_t* q
        cdef long moved = 0, total = _used(g.p) + rlen + SLOT_SIZE
        cdef WritePageGuard pg = None, lg = None
        if not self._left_of(parent, ci, leaf, &left, &lfree, &lslots):
            return 0
        # the run's records in order: slots 0 .. idx-1 of g, then rec (k <= idx + 1)
        while k <= idx:
            sz = (rlen if k == idx else slot_len(g.p, k)) + SLOT_SIZE
            if moved + sz > lfree:
                break
            moved += sz
            k += 1
        if k == 0 or k == n + 1 or total - moved > USABLE or total - moved < MIN_FILL:
            return 0
        # separator: between the last record moved and the first that stays
        q = rp if k - 1 == idx else _rec(g.p, k - 1)
        last = _key_bytes(q)
        q = rp if k == idx else _rec(g.p, k if k < idx else idx)
        sep = _internal_rec(_shortest_sep(last, _key_bytes(q)), leaf)
        if not self._sep_fits(path, depth, ci, sep):
            return 0
        pg = self.pool.write_guard(parent)
        lg = self.pool.write_guard(left)
        try:
            for j in range(k):
                if j == idx:
                    q, ln = rp, rlen
                else:
                    q, ln = _rec(g.p, j), slot_len(g.p, j)
                if page_insert_at(lg.p, pg_nslots(lg.p), q, ln, 0) < 0:
                    raise AssertionError("B+ tree: appended records do not fit the left sibling")
            for j in range(k - 1 if idx < k else k):
                page_remove_at(g.p, 0)
            if idx >= k:
                if page_insert_at(g.p, idx - k, rp, rlen, 0) < 0:
                    raise AssertionError("B+ tree: the new record does not fit its leaf")
                self.hint_leaf = leaf
                self.hint_idx = idx - k
            else:
                self.hint_leaf = left
                self.hint_idx = lslots + idx
            if _replace_sep(pg.p, ci, sep):
                return 1
        finally:
            pg.unpin_now()
            lg.unpin_now()
            g.unpin_now()
        # The new separator is longer and the parent is full: split the parent.
        self._internal_insert(path, idxs, depth - 2, ci, sep)
        return 1

    cdef int _push_right(self, uint32_t* path, int* idxs, int depth, WritePageGuard g, list recs,
                         Py_ssize_t idx) except -1:
        """Settle an overflowing leaf g into its right sibling: recs[idx:] (the new record and every
        record after it) move to the front of the right sibling (same parent), g keeps recs[:idx].

        Done when that tail fits the sibling's free space and recs[:idx] meets MIN_FILL; g then
        only drops slots (its record bytes stay where they are).  Returns 1, having released g;
        or 0, changing nothing (g still pinned).
        """
        cdef uint32_t parent = path[depth - 2], right, leaf = path[depth - 1]
        cdef int ci = idxs[depth - 2], f, rfree, nold = pg_nslots(g.p), i
        cdef Py_ssize_t n = len(recs), j
        cdef long head = 0, tail = 0
        cdef WritePageGuard pg = None, rg = None
        cdef bytes r
        if idx < 1:
            return 0
        f = self.pool.pin(parent, False)
        if ci + 1 >= pg_nslots(self.pool.fdata(f)):
            self.pool.unpin(f)
            return 0
        right = _child_at(self.pool.fdata(f), ci + 1)
        self.pool.unpin(f)
        for j in range(n):
            if j < idx:
                head += len(<bytes>recs[j]) + SLOT_SIZE
            else:
                tail += len(<bytes>recs[j]) + SLOT_SIZE
        if head < MIN_FILL or right != pg_next(g.p):
            return 0
        f = self.pool.pin(right, False)
        rfree = page_total_free(self.pool.fdata(f))
        self.pool.unpin(f)
        if tail > rfree:
            return 0
        sep = _internal_rec(_shortest_sep(_rkey(recs[idx - 1]), _rkey(recs[idx])), right)
        if not self._sep_fits(path, depth, ci + 1, sep):
            return 0
        pg = self.pool.write_guard(parent)
        rg = self.pool.write_guard(right)
        try:
            for i in range(nold - 1, <int>idx - 1, -1):
                page_remove_at(g.p, i)
            for j in range(idx, n):
                r = recs[j]
                if page_insert_at(rg.p, <int>(j - idx), <const uint8_t*>PyBytes_AS_STRING(r),
                                  <int>PyBytes_GET_SIZE(r), 0) < 0:
                    raise AssertionError("B+ tree: settled records do not fit the right sibling")
            self.hint_leaf = right
            self.hint_idx = 0
            if _replace_sep(pg.p, ci + 1, sep):
                return 1
        finally:
            pg.unpin_now()
            rg.unpin_now()
            g.unpin_now()
        # The new separator is longer and the parent is full: split the parent.
        self._internal_insert(path, idxs, depth - 2, ci + 1, sep)
        return 1

    cdef int _push_left(self, uint32_t* path, int* idxs, int depth, WritePageGuard g, list recs,
                        Py_ssize_t idx, Py_ssize_t want) except -1:
        """Settle leaf g into its left sibling (same parent): its leading records recs[:k] move there.

        recs: g's records with the new one at idx.  want > 0: the longest prefix of at most want
        records that fits the sibling (the run's append-left: up to and including the new one);
        want 0: the longest prefix that fits, when the sibling has room for at least PUSH_MIN
        bytes.  Either way what stays must meet MIN_FILL and fit.  g only drops its leading
        slots (its record bytes stay where they are) and takes the new record when it stays.
        Returns k (>= 1), having released g and set the hint; or 0, changing nothing (g still
        pinned).
        """
        cdef uint32_t parent = path[depth - 2], left, leaf = path[depth - 1]
        cdef int ci = idxs[depth - 2], f, lfree, lslots, i
        cdef Py_ssize_t k, n = len(recs)
        cdef long moved = 0, total = 0, sz
        cdef WritePageGuard pg = None, lg = None
        cdef bytes r
        if not self._left_of(parent, ci, leaf, &left, &lfree, &lslots) or (want == 0 and lfree < PUSH_MIN):
            return 0
        for r in recs:
            total += len(r) + SLOT_SIZE
        k = 0
        while k < n:
            sz = len(<bytes>recs[k]) + SLOT_SIZE
            if moved + sz > lfree or (want > 0 and k == want):
                break
            moved += sz
            k += 1
        if k == 0 or k == n or (want == 0 and moved < PUSH_MIN) or \
                total - moved > USABLE or total - moved < MIN_FILL:
            return 0
        sep = _internal_rec(_shortest_sep(_rkey(recs[k - 1]), _rkey(recs[k])), leaf)
        if not self._sep_fits(path, depth, ci, sep):
            return 0
        pg = self.pool.write_guard(parent)
        lg = self.pool.write_guard(left)
        try:
            _fill_page(lg.p, recs, 0, k)
            for i in range(<int>(k - 1 if idx < k else k)):
                page_remove_at(g.p, 0)
            if idx >= k:
                r = recs[idx]
                if page_insert_at(g.p, <int>(idx - k), <const uint8_t*>PyBytes_AS_STRING(r),
                                  <int>PyBytes_GET_SIZE(r), 0) < 0:
                    raise AssertionError("B+ tree: the new record does not fit its settled leaf")
                self.hint_leaf = leaf
                self.hint_idx = <int>(idx - k)
            else:
                self.hint_leaf = left
                self.hint_idx = lslots + <int>idx
            if _replace_sep(pg.p, ci, sep):
                return k
        finally:
            pg.unpin_now()
            lg.unpin_now()
            g.unpin_now()
        # The new separator is longer and the parent is full: split the parent.
        self._internal_insert(path, idxs, depth - 2, ci, sep)
        return k

    cdef int _insert_sep(self, uint32_t* path, int* idxs, int j, bytes sep, uint32_t child) except -1:
        """Node path[j] was split and child is its new right sibling: add (sep, child) to its parent."""
        cdef WritePageGuard r
        cdef uint32_t old_root
        cdef int height
        if j == 0:
            self._root(&old_root, &height)
            r = self.pool.space.new_page(PT_BTREE_INTERNAL)
            pg_set_aux(r.p, self.tree_id)
            pg_set_level(r.p, <uint16_t>height)
            pg_set_prev(r.p, old_root)
            _fill_page(r.p, [_internal_rec(sep, child)], 0, 1)
            new_root = r.page_id
            r.unpin_now()
            self._set_root(new_root, height + 1)
            return 0
        return self._internal_insert(path, idxs, j - 1, idxs[j - 1] + 1, _internal_rec(sep, child))

    cdef int _internal_insert(self, uint32_t* path, int* idxs, int j, int pos, bytes rec) except -1:
        """Insert a separator record at pos of internal node path[j], splitting upward if full."""
        cdef uint32_t pid = path[j]
        cdef WritePageGuard g = self.pool.write_guard(pid)
        cdef WritePageGuard ng = None
        cdef Py_ssize_t m
        try:
            if page_insert_at(g.p, pos, <const uint8_t*>PyBytes_AS_STRING(rec),
                              <int>PyBytes_GET_SIZE(rec), 0) >= 0:
                return 0
            recs = _records(g.p)
            recs.insert(pos, rec)
            m = _middle(recs)
            up = recs[m]
            ng = self.pool.space.new_page(PT_BTREE_INTERNAL)
            pg_set_aux(ng.p, self.tree_id)
            pg_set_level(ng.p, pg_level(g.p))
            _reformat(g.p, pid, PT_BTREE_INTERNAL)
            _fill_page(g.p, recs, 0, m)
            pg_set_prev(ng.p, _rchild(up))
            _fill_page(ng.p, recs, m + 1, len(recs))
            new_pid = ng.page_id
        finally:
            g.unpin_now()
            if ng is not None:
                ng.unpin_now()
        return self._insert_sep(path, idxs, j, _rkey(up), new_pid)

    # ---- delete ------------------------------------------------------------
    def delete(self, bytes key not None):
        """Remove key; returns True if it was present.  Rebalances underfull nodes."""
        try:
            return self._delete(key)
        finally:
            self.pool.end_op()

    def add_counts(self, list items not None):
        """Adjust counter values: items is [(key, delta)], each key's value a u32 big-endian count (0 when
        the key is absent); the count plus delta is stored, and the key deleted when that is 0.  A count that
        would go below zero or past 2**32 - 1 is an AssertionError, raised before that key changes (the
        caller's counting rule is broken).  Each key is one change (one operation, as upsert / delete);
        sorted keys share pages.  Why here: the registry's index counts (oor/index_counts.py) applied with
        a get and an upsert from Python cost 2.5 us an entry, two entries per set loaded."""
        cdef bytes key, cur
        cdef long long n
        cdef const uint8_t* b
        for key, delta in items:
            cur = self._get(<const uint8_t*>PyBytes_AS_STRING(key), <int>PyBytes_GET_SIZE(key))
            if cur is None:
                n = 0
            else:
                if PyBytes_GET_SIZE(cur) != 4:
                    raise AssertionError(f"a count of {PyBytes_GET_SIZE(cur)} bytes under {key!r}")
                b = <const uint8_t*>PyBytes_AS_STRING(cur)
                n = (<long long>b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]
            n += <long long>delta
            if n < 0 or n > 0xFFFFFFFF:
                raise AssertionError(f"index count {n} for {key!r}")
            try:
                if n == 0:
                    self._delete(key)
                else:
                    self._put(key, (<uint32_t>n).to_bytes(4, "big"), 1)
            finally:
                self.pool.end_op()

    def _delete(self, bytes key not None):
        cdef int klen = PyBytes_GET_SIZE(key)
        if klen < 1 or klen > MAX_KEY:
            return False
        cdef uint32_t path[MAX_DEPTH]
        cdef int idxs[MAX_DEPTH]
        cdef int depth = self._descend(<const uint8_t*>PyBytes_AS_STRING(key), klen, path, idxs)
        cdef bint found
        cdef WritePageGuard g = self.pool.write_guard(path[depth - 1])
        cdef int idx, used
        cdef const uint8_t* r
        cdef uint32_t first = 0
        try:
            idx = _lower_bound(g.p, <const uint8_t*>PyBytes_AS_STRING(key), klen, &found)
            if not found:
                return False
            r = _rec(g.p, idx)
            if load_u16(r) & VAL_OVERFLOW:
                first = load_u32(r + 6 + _klen(r))
            page_remove_at(g.p, idx)
            used = _used(g.p)
        finally:
            g.unpin_now()
        self.version = self.pool.bump_changes()
        if first:
            self.pool.space.free_overflow(first)
        if depth > 1 and used < MIN_FILL:
            self._rebalance(path, idxs, depth - 1)
        return True

    def __delitem__(self, bytes key not None):
        if not self.delete(key):
            raise KeyError(key)

    cdef int _rebalance(self, uint32_t* path, int* idxs, int j) except -1:
        """Node path[j] (not the root) is underfull: merge it with a sibling or redistribute."""
        cdef uint32_t parent = path[j - 1]
        cdef int ci = idxs[j - 1]
        cdef WritePageGuard pg = self.pool.write_guard(parent)
        cdef WritePageGuard lg = None, rg = None, sib
        cdef int ne = pg_nslots(pg.p), e, pused
        cdef uint32_t left, right, nxt
        cdef bint leaf, merged = False
        cdef Py_ssize_t s
        try:
            if ne == 0:
                return 0
            e = ci + 1 if ci + 1 < ne else ci
            left = _child_at(pg.p, e - 1)
            right = _child_at(pg.p, e)
            lg = self.pool.write_guard(left)
            rg = self.pool.write_guard(right)
            leaf = pg_type(lg.p) == PT_BTREE_LEAF
            L = _records(lg.p)
            R = _records(rg.p)
            if leaf:
                if _used(lg.p) + _used(rg.p) <= USABLE:
                    _fill_page(lg.p, R, 0, len(R))
                    nxt = pg_next(rg.p)
                    pg_set_next(lg.p, nxt)
                    if nxt:
                        sib = self.pool.write_guard(nxt)
                        pg_set_prev(sib.p, left)
                        sib.unpin_now()
                    merged = True
                else:
                    allr = L + R
                    s = _balanced_split(allr, 0)
                    _reformat(lg.p, left, PT_BTREE_LEAF)
                    _reformat(rg.p, right, PT_BTREE_LEAF)
                    _fill_page(lg.p, allr, 0, s)
                    _fill_page(rg.p, allr, s, len(allr))
                    newsep = _internal_rec(_shortest_sep(_rkey(allr[s - 1]), _rkey(allr[s])), right)
            else:
                pulled = _internal_rec(_rkey(_records_one(pg.p, e)), pg_prev(rg.p))
                if _used(lg.p) + _used(rg.p) + len(pulled) + SLOT_SIZE <= USABLE:
                    _fill_page(lg.p, [pulled] + R, 0, len(R) + 1)
                    merged = True
                else:
                    allr = L + [pulled] + R
                    s = _middle(allr)
                    up = allr[s]
                    _reformat(lg.p, left, PT_BTREE_INTERNAL)
                    _reformat(rg.p, right, PT_BTREE_INTERNAL)
                    _fill_page(lg.p, allr, 0, s)
                    pg_set_prev(rg.p, _rchild(up))
                    _fill_page(rg.p, allr, s + 1, len(allr))
                    newsep = _internal_rec(_rkey(up), right)
            page_remove_at(pg.p, e)
            if not merged:
                if page_insert_at(pg.p, e, <const uint8_t*>PyBytes_AS_STRING(newsep),
                                  <int>PyBytes_GET_SIZE(newsep), 0) < 0:
                    # The new separator is longer and the parent is full: split it.
                    pg.unpin_now(); lg.unpin_now(); rg.unpin_now()
                    self._internal_insert(path, idxs, j - 1, e, newsep)
                    return 0
            pused = _used(pg.p)
            ne = pg_nslots(pg.p)
        finally:
            pg.unpin_now()
            if lg is not None:
                lg.unpin_now()
            if rg is not None:
                rg.unpin_now()
        if merged:
            self.pool.space.free_page(right)
        if j - 1 == 0:
            if ne == 0:
                # The root lost its last separator: its only child becomes the root.
                self._set_root_height_from_page(left)
                self.pool.space.free_page(parent)
        elif pused < MIN_FILL:
            self._rebalance(path, idxs, j - 1)
        return 0

    cdef int _set_root_height_from_page(self, uint32_t root) except -1:
        cdef int f = self.pool.pin(root, False)
        cdef int lvl = pg_level(self.pool.fdata(f))
        self.pool.unpin(f)
        self._set_root(root, lvl + 1)
        return 0

    # ---- cursors -----------------------------------------------------------
    def cursor(self):
        """An unpositioned Cursor over this tree."""
        return Cursor(self)

    def items(self, bytes lo=None, bytes hi=None, bint reverse=False):
        """Iterator of (key, value) with lo <= key < hi, ascending (or descending if reverse)."""
        c = Cursor(self)
        c._range(lo, hi, reverse)
        return c

    def keys(self, bytes lo=None, bytes hi=None, bint reverse=False):
        return (item[0] for item in self.items(lo, hi, reverse))

    def first(self):
        return Cursor(self).first()

    def last(self):
        return Cursor(self).last()

    def __iter__(self):
        return self.keys()

    def __len__(self):
        """Number of keys (walks the leaf chain: O(leaves))."""
        cdef uint32_t pid
        cdef int height, f, n = 0
        cdef const uint8_t* p
        self._root(&pid, &height)
        for _ in range(height - 1):
            f = self.pool.pin(pid, False)
            pid = pg_prev(self.pool.fdata(f))
            self.pool.unpin(f)
        while pid != 0:
            f = self.pool.pin(pid, False)
            p = self.pool.fdata(f)
            n += pg_nslots(p)
            pid = pg_next(p)
            self.pool.unpin(f)
        return n

    # ---- bulk load -----------------------------------------------------------
    # Negative list indices below: keep wraparound on even if a build turns it off.
    def bulk_load(self, items, double fill=0.95):
        """Load an empty tree from (key, value) pairs in strictly ascending key order.

        Leaves are written left to right, each filled to at least ``fill`` of
        its usable bytes (the last one excepted), then each internal level the
        same way.  Returns the count loaded.  Whole pages are logged, a few
        leaves per log record.
        """
        # Under a transaction the new pages are not logged page by page: they come
        # from the end of the file and are made durable before COMMIT (the storage
        # layer's job), halving what a bulk load writes.
        cdef bint bulk = self.pool.mode == MODE_CAPTURING
        if bulk:
            self.pool.set_mode(MODE_BULK)
        try:
            return self._bulk_load(items, fill)
        finally:
            if bulk:
                self.pool.set_mode(MODE_CAPTURING)
            self.pool.end_op()

    @cython.wraparound(True)
    def _bulk_load(self, items, double fill=0.95):
        """Load an empty tree from (key, value) pairs in strictly ascending key order.

        Leaves are written left to right, each filled to at least ``fill`` of
        its usable bytes (the last one excepted), then each internal level the
        same way.  Returns the count loaded.
        Memory: one leaf at a time plus one (separator, page) pair per leaf.
        """
        cdef uint32_t root
        cdef int height
        self._root(&root, &height)
        if height != 1:
            raise OorError("bulk_load needs an empty tree")
        cdef int f = self.pool.pin(root, False)
        cdef int nroot = pg_nslots(self.pool.fdata(f))
        self.pool.unpin(f)
        if nroot:
            raise OorError("bulk_load needs an empty tree")
        if not 0.5 <= fill <= 1.0:
            raise ValueError("fill must be between 0.5 and 1.0")
        cdef int target = <int>(fill * USABLE)
        cdef WritePageGuard cur = None
        cdef bytes key, value, rec, last_key = None
        cdef long count = 0
        cdef int klen
        cdef uint32_t prev_pid = 0
        level = []          # [(separator, page id)] of the leaves, separator None for the first
        self.version = self.pool.bump_changes()
        try:
            for key, value in items:
                klen = PyBytes_GET_SIZE(key)
                if klen < 1 or klen > MAX_KEY:
                    raise ValueError(f"item {count}: keys are 1 to {MAX_KEY} bytes")
                if last_key is not None and _cmp(<const uint8_t*>PyBytes_AS_STRING(key), klen,
                                                 <const uint8_t*>PyBytes_AS_STRING(last_key),
                                                 PyBytes_GET_SIZE(last_key)) <= 0:
                    raise ValueError(f"item {count}: keys must be strictly ascending")
                rec = self._leaf_rec(key, value)
                if cur is None or _used(cur.p) >= target or \
                        _used(cur.p) + PyBytes_GET_SIZE(rec) + SLOT_SIZE > USABLE:
                    if cur is None and count == 0:
                        cur = self.pool.write_guard(root)      # the empty root leaf is the first leaf
                    else:
                        prev_pid = cur.page_id
                        nxt = self.pool.space.new_page(PT_BTREE_LEAF)
                        pg_set_aux((<WritePageGuard>nxt).p, self.tree_id)
                        pg_set_prev((<WritePageGuard>nxt).p, prev_pid)
                        pg_set_next(cur.p, (<WritePageGuard>nxt).page_id)
                        cur.unpin_now()
                        cur = nxt
                        level.append((_shortest_sep(last_key, key), cur.page_id))
                        self.pool.maybe_end_op()
                    if not level:
                        level.append((None, cur.page_id))
                if page_insert_at(cur.p, pg_nslots(cur.p), <const uint8_t*>PyBytes_AS_STRING(rec),
                                  <int>PyBytes_GET_SIZE(rec), 0) < 0:
                    raise AssertionError("bulk load: record does not fit an empty leaf")
                last_key = key
                count += 1
                rec = None                  # stored: no longer ours to free on failure
        except BaseException:
            # Fix: a rejected item (unsorted, duplicate, bad key) used to leave the
            # records loaded so far in the root leaf, with the new leaves linked from
            # it but not from any parent (leaked pages, _check failed).  Undo it.
            if cur is not None:
                cur.unpin_now()
            _bulk_undo(self, root, rec)
            raise
        finally:
            if cur is not None:
                cur.unpin_now()
        if count == 0:
            return 0
        # The last leaf may be underfull: share records with its left neighbour.
        if len(level) > 1:
            lastp = level[-1][1]
            lg = self.pool.write_guard(prev_pid)
            rg = self.pool.write_guard(lastp)
            try:
                if _used((<WritePageGuard>rg).p) < MIN_FILL:
                    allr = _records((<WritePageGuard>lg).p) + _records((<WritePageGuard>rg).p)
                    s = _balanced_split(allr, 0)
                    _reformat((<WritePageGuard>lg).p, prev_pid, PT_BTREE_LEAF)
                    _reformat((<WritePageGuard>rg).p, lastp, PT_BTREE_LEAF)
                    _fill_page((<WritePageGuard>lg).p, allr, 0, s)
                    _fill_page((<WritePageGuard>rg).p, allr, s, len(allr))
                    level[-1] = (_shortest_sep(_rkey(allr[s - 1]), _rkey(allr[s])), lastp)
            finally:
                lg.release()
                rg.release()
        height = 1
        while len(level) > 1:
            level = self._build_level(level, height, target)
            height += 1
        self._set_root(level[0][1], height)
        return count

    @cython.wraparound(True)     # uses bounds[-1], bounds[-2], bounds[-3] (see bulk_load)
    cdef list _build_level(self, list below, int lvl, int target):
        """Internal nodes over `below` [(separator, page)], filled to target; returns the level above."""
        recs = [None if sep is None else _internal_rec(sep, pid) for sep, pid in below]
        sizes = [0 if r is None else len(r) + SLOT_SIZE for r in recs]
        # group boundaries: group g covers below[b[g]:b[g+1]]; its first child is the leftmost
        bounds = [0]
        acc = 0
        for i in range(1, len(recs)):
            if (acc >= target or acc + sizes[i] > USABLE) and i - bounds[-1] >= 2:
                bounds.append(i)
                acc = 0
            else:
                acc += sizes[i]
        bounds.append(len(recs))
        # the last group must meet the fill bound and hold a separator: move entries from its neighbour
        if len(bounds) > 2:
            def gsize(a, b):
                return sum(sizes[a + 1:b])
            while (gsize(bounds[-2], bounds[-1]) < MIN_FILL or bounds[-1] - bounds[-2] < 2) and \
                    gsize(bounds[-3], bounds[-2] - 1) >= MIN_FILL and bounds[-2] - bounds[-3] > 2:
                bounds[-2] -= 1
        above = []
        for gi in range(len(bounds) - 1):
            a, b = bounds[gi], bounds[gi + 1]
            g = self.pool.space.new_page(PT_BTREE_INTERNAL)
            pg_set_aux((<WritePageGuard>g).p, self.tree_id)
            pg_set_level((<WritePageGuard>g).p, <uint16_t>lvl)
            pg_set_prev((<WritePageGuard>g).p, below[a][1])
            _fill_page((<WritePageGuard>g).p, recs, a + 1, b)
            above.append((below[a][0] if gi > 0 else None, (<WritePageGuard>g).page_id))
            (<WritePageGuard>g).unpin_now()
        return above

    # ---- checks and stats: every pass is one TreeWalker walk ------------------
    def walk(self):
        """Yield (page_id, level, page_type, lo, hi) for every page of the tree, in one pass.

        Who may call: anyone (storage accounting, tests, tools).  Order: a node
        before its children, children in key order, a leaf's overflow chains
        right after the leaf.  ``level`` is the distance from the leaves the
        walk expects (the root: height - 1); overflow pages have level -1 and
        ``lo`` = the key whose value they hold.  For a node, [lo, hi) are the
        separator bounds its keys must lie in (None: open).  A page reached
        twice is not yielded again, a node whose type is wrong is yielded but
        not descended.  No pin is held across a ``yield``.  O(pages) reads,
        memory O(pages) (the set of pages seen).
        """
        cdef TreeWalker w = TreeWalker(self, None)
        while w.step():
            item = (w.page_id, w.level, pg_type(w.p), w.lo, w.hi)
            w.drop()
            yield item

    def _check(self, free=None, pages=None, bytearray owner=None, int tag=0, list clashes=None, visitor=None):
        """Violations of the tree validity conditions (btree.pxd 1-6), as strings naming the page.

        One walk.  ``free``: the set of free-list pages (walked here when not
        given); ``pages``: a set that receives every page of the tree (nodes
        and overflow chains), for page accounting.  Or, for page accounting in
        bounded memory (storage's check): ``owner`` holds one byte per page
        below the file's page count -- 0 unowned, 255 on the free list (then
        ``free`` is not used), else the tag of its owner; each page of this
        tree that is unowned gets ``tag``, any other is appended to ``clashes``
        as (page id, its byte; -1 for an id at or past len(owner)).
        ``visitor(page id, page)``: called with each leaf of the right type
        (a read-only memoryview of the pinned page, valid during the call),
        leaves in key order -- the registry checks its records in the same
        walk (storage's check, ``deep``).  Caller: storage's check, the
        OOR_VERIFY commit check, tests.
        """
        problems = []
        cdef uint8_t* om = NULL
        cdef Py_ssize_t on = 0
        cdef uint32_t pid
        cdef bint is_free
        if owner is not None:
            om = <uint8_t*>(<char*>owner)
            on = len(owner)
        elif free is None:
            free = set(self.pool.space.free_pages())
        cdef TreeWalker w = TreeWalker(self, problems)
        cdef _LeafChain chain = _LeafChain()
        while w.step():
            pid = w.page_id
            if om != NULL:
                is_free = False
                if pid >= on:
                    clashes.append((pid, -1))
                elif om[pid] == 0:
                    om[pid] = tag
                else:
                    is_free = om[pid] == 255
                    clashes.append((pid, om[pid]))
            else:
                is_free = pid in free
            if w.level < 0:
                if is_free:
                    problems.append(f"tree {self.tree_id} page {w.owner}: overflow page {pid} is on the free list")
                continue
            if is_free:
                problems.append(f"tree {self.tree_id} page {pid}: is on the free list")
            if self._check_visit(w, problems) and w.level == 0:
                chain.add(w, problems)
                if visitor is not None:
                    visitor(pid, PyMemoryView_FromMemory(<char*>w.p, PAGE_SIZE, PyBUF_READ))
        chain.finish(problems)
        if pages is not None:
            pages |= w.seen
        return problems

    cdef bint _check_visit(self, TreeWalker w, list problems) except -1:
        """Conditions 1, 2, 3 and 5 on the walker's current node.  False when its type is wrong."""
        cdef const uint8_t* p = w.p
        cdef uint32_t pid = w.page_id
        cdef int level = w.level, n, i
        where = f"tree {self.tree_id} page {pid}"
        problems.extend(page_check(p, pid))
        want = PT_BTREE_LEAF if level == 0 else PT_BTREE_INTERNAL
        if pg_type(p) != want:
            problems.append(f"{where}: type {pg_type(p)}, expected {want}")
            return False
        if pg_level(p) != level:
            problems.append(f"{where}: level {pg_level(p)}, expected {level} (leaves at different depths)")
        if pg_aux(p) != <uint32_t>self.tree_id:
            problems.append(f"{where}: tree id {pg_aux(p)}, expected {self.tree_id}")
        n = pg_nslots(p)
        if not w.is_root:
            if _used(p) < MIN_FILL:
                problems.append(f"{where}: underfull ({_used(p)} < {MIN_FILL} bytes)")
            if level > 0 and n < 1:
                problems.append(f"{where}: internal node without a separator")
        lo, hi = w.lo, w.hi
        # compared in place (memcmp order = bytes order); a key becomes bytes only for a message
        cdef const uint8_t* r
        cdef const uint8_t* kp
        cdef const uint8_t* pp = NULL
        cdef const uint8_t* lop = NULL
        cdef const uint8_t* hip = NULL
        cdef int kl, pl = 0, lol = 0, hil = 0
        if lo is not None:
            lop = <const uint8_t*>PyBytes_AS_STRING(lo)
            lol = <int>PyBytes_GET_SIZE(lo)
        if hi is not None:
            hip = <const uint8_t*>PyBytes_AS_STRING(hi)
            hil = <int>PyBytes_GET_SIZE(hi)
        for i in range(n):
            r = _rec(p, i)
            kp = r + 2
            kl = _klen(r)
            if pp != NULL and _cmp(kp, kl, pp, pl) <= 0:
                problems.append(f"{where}: keys out of order at slot {i}")
            if lop != NULL and _cmp(kp, kl, lop, lol) < 0:
                problems.append(f"{where}: key {_key_bytes(r)!r} below its separator {lo!r}")
            if hip != NULL and _cmp(kp, kl, hip, hil) >= 0:
                problems.append(f"{where}: key {_key_bytes(r)!r} not below the next separator {hi!r}")
            pp, pl = kp, kl
        return True

    def pages(self):
        """Set of every page the tree uses (nodes and overflow chains).  One walk."""
        cdef TreeWalker w = TreeWalker(self, None)
        while w.step():
            pass
        return w.seen

    def stats(self):
        """height, leaves, internal nodes, keys, average leaf fill (0..1), overflow pages, pool hits/misses.

        One walk (reads every page of the tree, overflow chains included).
        """
        cdef uint32_t root
        cdef int height
        cdef long leaves = 0, internal = 0, keys = 0, leaf_bytes = 0, overflow = 0
        self._root(&root, &height)
        cdef TreeWalker w = TreeWalker(self, None)
        while w.step():
            if w.level < 0:
                overflow += 1
            elif w.level == 0:
                leaves += 1
                keys += pg_nslots(w.p)
                leaf_bytes += _used(w.p)
            else:
                internal += 1
        pool = self.pool.stats()
        return {"height": height, "leaves": leaves, "internal": internal, "keys": keys,
                "fill": <double>leaf_bytes / (leaves * USABLE) if leaves else 0.0, "overflow": overflow,
                "pool_hits": pool["hits"], "pool_misses": pool["misses"]}


@cython.final
cdef class TreeWalker:
    """The one walk over a tree's pages (BTree.walk, _check, pages, stats and page accounting use it).

    Who may create: this module.  ``step()`` unpins the current page, takes
    the next one off its stack and pins it (a ReadPageGuard, so a failing
    visitor never leaks the pin); children are queued when the page is
    positioned, so ``drop()`` before a consumer's yield loses nothing.
    Structural trouble that stops the walk at a page (reached twice) goes to
    ``problems`` when a list was given.
    """

    def __cinit__(self, BTree tree not None, list problems):
        cdef uint32_t root
        cdef int height
        self.tree = tree
        self.problems = problems
        self.nbits = tree.pool.page_count
        self.seen_bits = bytearray((self.nbits >> 3) + 1)
        self.sb = <uint8_t*>(<char*>self.seen_bits)
        self.seen_far = set()
        self.g = None
        tree._root(&root, &height)
        self.stack = [(root, height - 1, None, None, 0)]
        self.root = root

    cdef int drop(self) except -1:
        """Unpin the current page (idempotent)."""
        if self.g is not None:
            self.g.unpin_now()
            self.g = None
            self.p = NULL
        return 0

    cdef bint _seen(self, uint32_t pid) except -1:
        """Whether pid was positioned on before; marks it seen."""
        cdef uint8_t bit
        if pid < self.nbits:
            bit = 1 << (pid & 7)
            if self.sb[pid >> 3] & bit:
                return True
            self.sb[pid >> 3] |= bit
            return False
        if pid in self.seen_far:
            return True
        self.seen_far.add(pid)
        return False

    @property
    def seen(self):
        """The set of pages positioned on so far (built on demand: O(pages) memory)."""
        cdef uint32_t pid
        out = {pid for pid in range(self.nbits) if self.sb[pid >> 3] & (1 << (pid & 7))}
        return out | self.seen_far

    def seen_ids(self):
        """The ids positioned on so far, ascending, one at a time (no set)."""
        cdef uint32_t pid
        for pid in range(self.nbits):
            if self.sb[pid >> 3] & (1 << (pid & 7)):
                yield pid
        yield from sorted(self.seen_far)

    cdef int step(self) except -1:
        """Position on the next page: 1, or 0 when the walk is over."""
        cdef const uint8_t* p
        cdef const uint8_t* r
        cdef int i, n, level
        cdef uint32_t pid
        self.drop()
        while self.stack:
            pid, level, lo, hi, owner = self.stack.pop()
            if self._seen(pid):
                if self.problems is not None:
                    if level < 0:
                        self.problems.append(f"tree {self.tree.tree_id} page {owner}: overflow page {pid} reached twice")
                    else:
                        self.problems.append(f"tree {self.tree.tree_id} page {pid}: reached twice")
                continue
            self.g = self.tree.pool.read_guard(pid)
            p = self.p = self.g.p
            self.page_id, self.level, self.lo, self.hi, self.owner = pid, level, lo, hi, owner
            self.is_root = pid == self.root and level >= 0
            if level < 0:
                if pg_next(p):
                    self.stack.append((pg_next(p), -1, lo, None, owner))
            elif level == 0:
                if pg_type(p) == PT_BTREE_LEAF:
                    n = pg_nslots(p)
                    for i in range(n - 1, -1, -1):
                        r = _rec(p, i)
                        if load_u16(r) & VAL_OVERFLOW:
                            self.stack.append((load_u32(r + 6 + _klen(r)), -1, _key_bytes(r), None, pid))
            elif pg_type(p) == PT_BTREE_INTERNAL:
                n = pg_nslots(p)
                keys = [_key_bytes(_rec(p, i)) for i in range(n)]
                bounds = [lo] + keys + [hi]
                for i in range(n, -1, -1):
                    self.stack.append((pg_prev(p) if i == 0 else _child_at(p, i - 1), level - 1,
                                       bounds[i], bounds[i + 1], pid))
            return 1
        return 0


@cython.final
cdef class _LeafChain:
    """Condition 4 and the key order along the leaf chain, fed the leaves in walk (= key) order."""
    cdef uint32_t pid, prev_id, next_id, want_prev
    cdef bytes last

    def __cinit__(self):
        self.pid = 0
        self.last = None

    cdef int add(self, TreeWalker w, list problems) except -1:
        cdef const uint8_t* p = w.p
        cdef int i
        self._close(w.page_id, problems)
        self.want_prev, self.pid = self.pid, w.page_id
        self.prev_id, self.next_id = pg_prev(p), pg_next(p)
        last = self.last
        for i in range(pg_nslots(p)):
            k = _key_bytes(_rec(p, i))
            if last is not None and k <= last:
                problems.append(f"leaf {w.page_id}: key {k!r} not above {last!r} along the leaf chain")
            last = k
        self.last = last
        return 0

    cdef int _close(self, uint32_t want_next, list problems) except -1:
        if self.pid and (self.prev_id != self.want_prev or self.next_id != want_next):
            problems.append(f"leaf {self.pid}: links ({self.prev_id}, {self.next_id}) != "
                            f"({self.want_prev}, {want_next})")
        return 0

    cdef int finish(self, list problems) except -1:
        return self._close(0, problems)


def page_tree_id(image):
    """The tree id of a page image (bytes of one page) when it is a B+ tree node, else -1.

    Caller: the storage layer's OOR_VERIFY commit check (which trees a
    transaction changed, from the pages it logged).
    """
    cdef const uint8_t[::1] b = image
    if b.shape[0] < PAGE_HDR:
        return -1
    if pg_type(&b[0]) in (PT_BTREE_LEAF, PT_BTREE_INTERNAL):
        return pg_aux(&b[0])
    return -1


cdef int _bulk_undo(BTree t, uint32_t root, bytes pending) except -1:
    """Undo a failed bulk_load: free the leaves after the root leaf and every overflow chain
    written (pending: a record built but not stored), and leave the root an empty leaf."""
    cdef BufferPool pool = t.pool
    cdef WritePageGuard g
    cdef uint32_t pid = root, nxt
    cdef const uint8_t* r
    cdef int i
    chains = []
    leaves = []
    if pending is not None:
        r = <const uint8_t*>PyBytes_AS_STRING(pending)
        if load_u16(r) & VAL_OVERFLOW:
            chains.append(load_u32(r + 6 + _klen(r)))
    while pid != 0:
        g = pool.write_guard(pid)
        for i in range(pg_nslots(g.p)):
            r = _rec(g.p, i)
            if load_u16(r) & VAL_OVERFLOW:
                chains.append(load_u32(r + 6 + _klen(r)))
        nxt = pg_next(g.p)
        if pid == root:
            _reformat(g.p, root, PT_BTREE_LEAF)
            pg_set_next(g.p, 0)
        else:
            leaves.append(pid)
        g.unpin_now()
        pid = nxt
    for first in chains:
        pool.space.free_overflow(first)
    for pid in leaves:
        pool.space.free_page(pid)
    return 0


cdef bytes _records_one(const uint8_t* p, int i):
    return PyBytes_FromStringAndSize(<const char*>_rec(p, i), slot_len(p, i))


cdef Py_ssize_t _middle(list recs) except -1:
    """Index of the separator to push up when splitting an internal node: both sides keep >= 1 entry."""
    cdef Py_ssize_t n = len(recs), m, best = 1
    cdef long total = 0, acc = 0, bestd = 1 << 30, d
    if n < 3:
        raise AssertionError("internal split with fewer than 3 separators")
    sizes = [len(r) + SLOT_SIZE for r in recs]
    total = sum(sizes)
    for m in range(1, n - 1):
        acc += sizes[m - 1]
        if acc <= USABLE and total - acc - sizes[m] <= USABLE:
            d = abs(2 * acc + sizes[m] - total)
            if d < bestd:
                bestd = d
                best = m
    return best


def invalidate_cursors(BufferPool pool not None):
    """Make every cursor over pool's trees re-seek at its next step.  Caller: storage, after an
    abort or recovery changed pages behind the trees' backs."""
    pool.bump_changes()


cdef enum:
    SEEK_GE = 0
    SEEK_GT = 1
    SEEK_LE = 2
    SEEK_LT = 3

_SEEK_MODES = {">=": SEEK_GE, ">": SEEK_GT, "<=": SEEK_LE, "<": SEEK_LT}


@cython.final
cdef class Cursor:
    """A position in a BTree: seek, first/last, next/prev, and range iteration.

    Holds no pin between calls.  If the tree changes between two steps (same
    thread), the next step re-seeks from the last key returned, so nothing is
    skipped or repeated.  Iterating a cursor made by BTree.items() yields
    (key, value) tuples.  Who may call: the registry, tests.
    """

    def __cinit__(self, BTree tree not None):
        self.tree = tree
        self.leaf = 0
        self.idx = -1
        self.key = None
        self.value = None
        self.forward = True
        self.started = False

    cdef int _position(self, uint32_t leaf, int idx) except -1:
        """Stand on slot idx of leaf, stepping across leaves when idx is past either end."""
        cdef BufferPool pool = self.tree.pool
        cdef int f, n
        cdef const uint8_t* p
        while leaf != 0:
            f = pool.pin(leaf, False)
            p = pool.fdata(f)
            n = pg_nslots(p)
            if idx >= n:
                leaf = pg_next(p)
                idx = 0
                pool.unpin(f)
                continue
            if idx < 0:
                leaf = pg_prev(p)
                pool.unpin(f)
                if leaf != 0:
                    f = pool.pin(leaf, False)
                    idx = pg_nslots(pool.fdata(f)) - 1
                    pool.unpin(f)
                continue
            try:
                self.key = _key_bytes(_rec(p, idx))
                self.value = self.tree._value_of(_rec(p, idx), slot_len(p, idx))
            finally:
                pool.unpin(f)
            self.leaf = leaf
            self.idx = idx
            self.version = self.tree.pool.change_count
            return 1
        self.leaf = 0
        self.idx = -1
        self.key = None
        self.value = None
        return 0

    cdef int _seek(self, bytes key, int mode) except -1:
        cdef uint32_t path[MAX_DEPTH]
        cdef int idxs[MAX_DEPTH]
        cdef int klen = PyBytes_GET_SIZE(key)
        cdef const uint8_t* k = <const uint8_t*>PyBytes_AS_STRING(key)
        cdef int depth = self.tree._descend(k, klen, path, idxs)
        cdef bint found
        cdef BufferPool pool = self.tree.pool
        cdef int f = pool.pin(path[depth - 1], False)
        if depth > 1:
            _prefetch_page(pool.fdata(f))
        cdef int idx = _lower_bound(pool.fdata(f), k, klen, &found)
        pool.unpin(f)
        if mode == SEEK_GT and found:
            idx += 1
        elif mode == SEEK_LE and not found:
            idx -= 1
        elif mode == SEEK_LT:
            idx -= 1
        return self._position(path[depth - 1], idx)

    cdef int _edge(self, bint last) except -1:
        cdef uint32_t pid
        cdef int height, f, i
        cdef const uint8_t* p
        cdef BufferPool pool = self.tree.pool
        self.tree._root(&pid, &height)
        for i in range(height - 1):
            f = pool.pin(pid, False)
            p = pool.fdata(f)
            pid = _child_at(p, pg_nslots(p) - 1) if last else pg_prev(p)
            pool.unpin(f)
        if not last:
            return self._position(pid, 0)
        f = pool.pin(pid, False)
        i = pg_nslots(pool.fdata(f)) - 1
        pool.unpin(f)
        return self._position(pid, i)

    cdef inline object _item(self):
        return (self.key, self.value) if self.leaf != 0 else None

    def seek(self, bytes key not None, str op=">="):
        """Stand on the first key >= / > key, or the last key <= / < key.  Returns (key, value) or None."""
        mode = _SEEK_MODES.get(op)
        if mode is None:
            raise ValueError(f"seek op must be one of >=, >, <=, <; got {op!r}")
        self._seek(key, mode)
        return self._item()

    def first(self):
        """Stand on the smallest key.  Returns (key, value) or None when the tree is empty."""
        self._edge(False)
        return self._item()

    def last(self):
        """Stand on the largest key.  Returns (key, value) or None."""
        self._edge(True)
        return self._item()

    cdef int _step(self, bint forward) except -1:
        if self.leaf == 0:
            return 0
        if self.version != self.tree.pool.change_count:   # any change, through any handle
            return self._seek(self.key, SEEK_GT if forward else SEEK_LT)
        return self._position(self.leaf, self.idx + 1 if forward else self.idx - 1)

    def next(self):
        """Step to the next key; returns (key, value) or None past the end."""
        self._step(True)
        return self._item()

    def prev(self):
        """Step to the previous key; returns (key, value) or None before the start."""
        self._step(False)
        return self._item()

    @property
    def item(self):
        return self._item()

    def current_key(self):
        return self.key

    def current_value(self):
        return self.value

    cdef _range(self, bytes lo, bytes hi, bint reverse):
        self.lo = lo
        self.hi = hi
        self.forward = not reverse
        self.started = False

    def __iter__(self):
        return self

    def __next__(self):
        if not self.started:
            self.started = True
            if self.forward:
                if self.lo is not None:
                    self._seek(self.lo, SEEK_GE)
                else:
                    self._edge(False)
            else:
                if self.hi is not None:
                    self._seek(self.hi, SEEK_LT)
                else:
                    self._edge(True)
        else:
            self._step(self.forward)
        if self.leaf == 0:
            raise StopIteration
        if self.forward:
            if self.hi is not None and self.key >= self.hi:
                self.leaf = 0
                raise StopIteration
        elif self.lo is not None and self.key < self.lo:
            self.leaf = 0
            raise StopIteration
        return (self.key, self.value)
