# oor_core/bufpool.pyx -- CLOCK buffer pool, page guards, allocation, free list,
# overflow chains.  Contract and memory layout in bufpool.pxd; page format in
# page.pxd; file header in pager.pxd.
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, uintptr_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset

from oor_core.page cimport *
from oor_core.pager cimport (Pager, hdr_u32, hdr_set_u32, HDR_PAGE_COUNT, HDR_FREE_HEAD,
                             HDR_FREE_COUNT)
from oor_core.errors import BufferPoolFullError, CorruptPageError, OorError, PageFullError


cdef extern from *:
    """
    #include <sys/mman.h>
    #include <stdlib.h>
    static void *oor_map_frames(size_t n) {
    #if defined(MAP_ANONYMOUS)
        void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return NULL;
    #if defined(MADV_HUGEPAGE)
        madvise(p, n, MADV_HUGEPAGE);
    #endif
        return p;
    #else
        void *p = NULL;
        if (posix_memalign(&p, 4096, n) != 0) return NULL;
        memset(p, 0, n);
        return p;
    #endif
    }
    static void oor_unmap_frames(void *p, size_t n) {
    #if defined(MAP_ANONYMOUS)
        munmap(p, n);
    #else
        free(p);
    #endif
    }
    """
    void* oor_map_frames(size_t n) nogil
    void oor_unmap_frames(void* p, size_t n) nogil

cdef enum:
    HUGE = 2 * 1024 * 1024


cdef inline uint32_t _hash(uint32_t pid, int shift) noexcept nogil:
    return <uint32_t>(pid * <uint32_t>2654435761u) >> shift


cdef list _diff(const uint8_t* a, const uint8_t* b):
    """(offset, length) runs where a and b differ in [16, 4096); runs closer than 8 bytes merge."""
    cdef list out = []
    cdef int i = 16, start, last_end = -100, w
    cdef uint64_t x, y
    while i < PAGE_SIZE:
        # skip equal 8-byte words quickly
        if (i & 7) == 0 and i + 8 <= PAGE_SIZE:
            memcpy(&x, a + i, 8)
            memcpy(&y, b + i, 8)
            if x == y:
                i += 8
                continue
        if a[i] == b[i]:
            i += 1
            continue
        start = i
        while i < PAGE_SIZE and a[i] != b[i]:
            i += 1
        if out and start - last_end < 8:
            out[len(out) - 1] = (out[len(out) - 1][0], i - out[len(out) - 1][0])
        else:
            out.append((start, i - start))
        last_end = i
    return out


_ZERO_PAGE = bytes(PAGE_SIZE)


def page_diff(before, after):
    """(offset, length) runs where two page images differ, ignoring the checksum and LSN fields.

    before None means an all-zero page.  Caller: the WAL (through captured_changes), tests.
    """
    cdef const uint8_t[::1] a = _ZERO_PAGE if before is None else before
    cdef const uint8_t[::1] b = after
    if a.shape[0] != PAGE_SIZE or b.shape[0] != PAGE_SIZE:
        raise ValueError("page images are 4096 bytes")
    return _diff(&a[0], &b[0])


cdef class BufferPool:
    """A fixed set of page frames over a Pager, replaced by CLOCK.

    ``BufferPool(pager, nframes)``.  Who may call: the B+ tree, the WAL and
    recovery, the registry (stats), tests.  Not thread-safe: one thread at a
    time (the registry serialises writers; the GIL makes each call atomic).
    """

    def __cinit__(self, Pager pager not None, int nframes=256):
        if nframes < 2:
            raise ValueError("a buffer pool needs at least 2 frames")
        self.pager = pager
        self.nframes = nframes
        # Frames: anonymous zero-filled memory, committed by the OS as it is
        # touched, asked for transparent huge pages (fewer TLB misses on
        # random lookups in a large pool).
        self.mem_size = (<size_t>nframes * PAGE_SIZE + HUGE - 1) & ~(<size_t>HUGE - 1)
        self.mem = oor_map_frames(self.mem_size)
        self.meta = <FrameMeta*>calloc(nframes, sizeof(FrameMeta))
        cdef int bits = 4
        while (1 << bits) < 2 * nframes:
            bits += 1
        self.ht_mask = (1u << bits) - 1
        self.ht_shift = 32 - bits
        self.ht = <HtEntry*>malloc((self.ht_mask + 1) * sizeof(HtEntry))
        if self.mem == NULL or self.meta == NULL or self.ht == NULL:
            raise MemoryError(f"cannot allocate a buffer pool of {nframes} frames")
        self.frames = <uint8_t*>self.mem
        cdef int i
        for i in range(nframes):
            self.meta[i].pid = NO_PAGE
        for i in range(self.ht_mask + 1):
            self.ht[i].key = NO_PAGE
        self.hand = 0
        self.wal_flush_hook = None
        self.captured = {}
        self.op_hook = None
        self.unlogged = set()
        self.unlogged_new = []

    def __dealloc__(self):
        if self.mem != NULL:
            oor_unmap_frames(self.mem, self.mem_size)
        free(self.meta)
        free(self.ht)

    # ---- page table ------------------------------------------------------
    cdef int _lookup(self, uint32_t pid) noexcept nogil:
        cdef uint32_t i = _hash(pid, self.ht_shift)
        cdef uint32_t k
        while True:
            k = self.ht[i].key
            if k == pid:
                return self.ht[i].frame
            if k == NO_PAGE:
                return -1
            i = (i + 1) & self.ht_mask

    cdef void _ht_put(self, uint32_t pid, int f) noexcept nogil:
        cdef uint32_t i = _hash(pid, self.ht_shift)
        while self.ht[i].key != NO_PAGE and self.ht[i].key != pid:
            i = (i + 1) & self.ht_mask
        self.ht[i].key = pid
        self.ht[i].frame = f

    cdef void _ht_del(self, uint32_t pid) noexcept nogil:
        # Linear probing with backward-shift deletion (no tombstones).
        cdef uint32_t i = _hash(pid, self.ht_shift)
        cdef uint32_t j, h
        while self.ht[i].key != pid:
            if self.ht[i].key == NO_PAGE:
                return
            i = (i + 1) & self.ht_mask
        j = i
        while True:
            j = (j + 1) & self.ht_mask
            if self.ht[j].key == NO_PAGE:
                break
            h = _hash(self.ht[j].key, self.ht_shift)
            # entry j may move to the hole i unless its home lies cyclically in (i, j]
            if (i <= j and i < h <= j) or (i > j and (h > i or h <= j)):
                continue
            self.ht[i] = self.ht[j]
            i = j
        self.ht[i].key = NO_PAGE

    # ---- replacement -----------------------------------------------------
    cdef int _victim(self) except -1:
        """Choose an unpinned frame by CLOCK (second chance), write it back if dirty, unmap it.

        If writing a dirty victim fails (a full disk, an I/O error), the page
        stays cached and dirty and the sweep goes on: a clean frame, or a dirty
        page that can be written in place, can still make room.  The first such
        error is raised when no frame could be freed.
        """
        cdef int steps = 0
        cdef int f
        failure = None
        while steps < 2 * self.nframes + 1:
            f = self.hand
            self.hand += 1
            if self.hand == self.nframes:
                self.hand = 0
            steps += 1
            if self.meta[f].pins > 0:
                continue
            if self.meta[f].ref:
                self.meta[f].ref = 0
                continue
            if self.meta[f].pid != NO_PAGE:
                if self.meta[f].dirty:
                    try:
                        self._write_back(f)
                    except Exception as e:
                        # e.g. a full disk refuses to grow the file: another page, one
                        # inside the file or a clean one, may still make room
                        if failure is None:
                            failure = e
                        continue
                self._ht_del(self.meta[f].pid)
                self.meta[f].pid = NO_PAGE
                self.evictions += 1
            return f
        if failure is not None:
            raise failure
        raise BufferPoolFullError(self.nframes)

    cdef int _write_back(self, int f) except -1:
        """Write a dirty frame to the file, after the WAL hook (invariant 2)."""
        cdef uint8_t* p = self.fdata(f)
        if self.wal_flush_hook is not None:
            self.wal_flush_hook(pg_lsn(p))
        self.pager.write_page(self.meta[f].pid, p)
        self.meta[f].dirty = 0
        self.writes += 1
        return 0

    # ---- pins ------------------------------------------------------------
    cdef int pin(self, uint32_t pid, bint fresh) except -1:
        """Pin page pid in a frame and return the frame.  fresh: a new page, not read from disk."""
        if self.closed:
            raise OorError("buffer pool is closed")
        cdef int f = self._lookup(pid)
        if f >= 0:
            self.hits += 1
            self.meta[f].pins += 1
            self.meta[f].ref = 1
            return f
        if pid == NO_PAGE:
            raise ValueError("invalid page id")
        f = self._victim()
        if fresh:
            memset(self.fdata(f), 0, PAGE_SIZE)
        else:
            self.misses += 1
            self.pager.read_page(pid, self.fdata(f))   # raises CorruptPageError; frame stays unmapped
        self.meta[f].pid = pid
        self._ht_put(pid, f)
        self.meta[f].pins = 1
        self.meta[f].ref = 0
        self.meta[f].dirty = 0
        self.meta[f].wlatch = 0
        return f

    cdef void unpin(self, int f) noexcept nogil:
        self.meta[f].pins -= 1

    cdef ReadPageGuard read_guard(self, uint32_t pid):
        cdef int f = self.pin(pid, False)
        cdef ReadPageGuard g = ReadPageGuard.__new__(ReadPageGuard)
        g.pool = self
        g.frame = f
        g.page_id = pid
        g.p = self.fdata(f)
        return g

    cdef WritePageGuard write_guard(self, uint32_t pid):
        cdef int f = self.pin(pid, False)
        if self.meta[f].wlatch:
            self.meta[f].pins -= 1
            raise OorError(f"page {pid} already has a write guard")
        cdef WritePageGuard g = WritePageGuard.__new__(WritePageGuard)
        g.pool = self
        g.frame = f
        g.page_id = pid
        g.p = self.fdata(f)
        g.writer = True
        self.meta[f].wlatch = 1
        self.meta[f].dirty = 1
        self.nwriters += 1
        if self.capturing:
            self._capture(pid, f, False)
        elif self.require_capture:
            g._release()
            raise OorError(f"page {pid} changed outside a transaction (every change must be logged)")
        return g

    # ---- change capture for the WAL -------------------------------------------
    cdef int _capture(self, uint32_t pid, int f, bint fresh) except -1:
        """Save page pid's before-image on its first write pin in this operation, and pin it."""
        if pid in self.captured:
            return 0
        self.captured[pid] = None if fresh else PyBytes_FromStringAndSize(<const char*>self.fdata(f), PAGE_SIZE)
        self.meta[f].pins += 1
        return 0

    cpdef end_op(self):
        """A tree operation (or a safe point inside a long one) is complete: let the WAL log it.

        Caller: the B+ tree and the overflow writer.  Pages still under a write
        guard stay captured (see release_captured), so a safe point may fall
        anywhere.  With batch_pages > 1, operations accumulate until that many
        pages are captured (a load logs each leaf once per batch, not once per
        insert); the storage layer logs the rest at commit.
        """
        if self.captured and self.op_hook is not None and len(self.captured) >= self.batch_pages:
            self.op_hook()

    def maybe_end_op(self):
        """end_op() once the capture holds 64 pages or a quarter of the frames (long operations:
        bulk load, big values), whichever is fewer: log records and their copies stay small."""
        if len(self.captured) >= min(64, max(1, self.nframes // 4)):
            self.end_op()

    def captured_changes(self):
        """[(page_id, before, after, ranges)] for every page changed since the last release.

        before is None for a page new at the end of the file; ranges lists
        (offset, length) of the bytes that differ in [16, 4096) (the checksum
        and LSN fields excluded), neighbouring runs merged.  Caller: the WAL.
        """
        out = []
        cdef int f
        cdef const uint8_t* a
        cdef const uint8_t* b
        for pid, before in self.captured.items():
            f = self._lookup(pid)
            assert f >= 0, "captured page left the pool"
            after = PyBytes_FromStringAndSize(<const char*>self.fdata(f), PAGE_SIZE)
            out.append((pid, before, after, page_diff(before, after)))
        return out

    def release_captured(self, uint64_t lsn):
        """Stamp every captured page with lsn (0: leave the LSN) and drop the capture pins.

        A page whose write guard is still alive is captured again at once, with
        its current bytes as the new before-image, so later changes through
        that guard are logged by the next record.
        """
        cdef int f
        keep = {}
        for pid in self.captured:
            f = self._lookup(pid)
            assert f >= 0, "captured page left the pool"
            if lsn:
                pg_set_lsn(self.fdata(f), lsn)
            if self.meta[f].wlatch:
                keep[pid] = PyBytes_FromStringAndSize(<const char*>self.fdata(f), PAGE_SIZE)
            else:
                self.meta[f].pins -= 1
        self.captured = keep

    @property
    def captured_count(self):
        return len(self.captured)

    def unlogged_count(self):
        return len(self.unlogged)

    def take_unlogged_new(self):
        """Bulk-built pages allocated since the last call (the storage layer logs their ids)."""
        out, self.unlogged_new = self.unlogged_new, []
        return out

    def discard_page(self, uint32_t page_id):
        """Drop page_id's frame without writing it (redo: the file holds a newer, unlogged copy)."""
        cdef int f = self._lookup(page_id)
        if f < 0:
            return False
        if self.meta[f].pins:
            raise OorError(f"page {page_id} is pinned; cannot discard it")
        self._ht_del(page_id)
        self.meta[f].pid = NO_PAGE
        self.meta[f].dirty = 0
        self.meta[f].ref = 0
        return True

    def flush_unlogged(self):
        """Write every page of the bulk build that is still dirty, then fsync the file; forget the list.

        Caller: storage, before a transaction's COMMIT (the pages are not in the log,
        so they must be durable first).  Pages later changed in the same transaction
        carry LSNs; the WAL hook runs before any page is written (invariant 2).
        """
        cdef int f
        cdef uint64_t max_lsn = 0
        todo = []
        for pid in sorted(self.unlogged):
            f = self._lookup(pid)
            if f >= 0 and self.meta[f].dirty:
                todo.append(f)
                max_lsn = max(max_lsn, pg_lsn(self.fdata(f)))
        if todo and self.wal_flush_hook is not None and max_lsn:
            self.wal_flush_hook(max_lsn)
        for f in todo:
            self.pager.write_page(self.meta[f].pid, self.fdata(f))
            self.meta[f].dirty = 0
            self.writes += 1
        self.pager.sync()
        self.unlogged.clear()

    def forget_unlogged(self):
        """The transaction aborted: its bulk pages lie beyond the restored page count."""
        self.unlogged.clear()
        self.unlogged_new = []

    def install_page(self, uint32_t page_id, const uint8_t[::1] image not None, uint64_t lsn):
        """Put a full page image in the pool as page_id, without reading the file (redo of a
        full-page image: the copy on disk may be torn).  Stamps lsn, marks the page dirty."""
        if image.shape[0] != PAGE_SIZE:
            raise ValueError("a page image is 4096 bytes")
        cdef int f = self._lookup(page_id)
        if f >= 0:
            self.meta[f].pins += 1
        else:
            f = self.pin(page_id, True)
        memcpy(self.fdata(f), &image[0], PAGE_SIZE)
        pg_set_id(self.fdata(f), page_id)
        pg_set_lsn(self.fdata(f), lsn)
        self.meta[f].dirty = 1
        self.meta[f].pins -= 1

    # ---- allocation and the free list -------------------------------------
    cdef WritePageGuard new_page(self, uint8_t ptype):
        """Allocate a page (free list first, else the end of the file), formatted as ptype.

        In a bulk build under capture (bulk_unlogged), pages come from the end of
        the file only and are not logged: they are listed in `unlogged`, and the
        storage layer writes and syncs them before the transaction's COMMIT.
        """
        cdef WritePageGuard hg = self.write_guard(0)
        cdef WritePageGuard g
        cdef uint32_t pid, head, count
        cdef int f
        cdef bint unlogged = self.bulk_unlogged and self.capturing
        try:
            head = hdr_u32(hg.p, HDR_FREE_HEAD)
            count = hdr_u32(hg.p, HDR_PAGE_COUNT)
            if head != 0 and not unlogged:
                if head >= count:
                    raise CorruptPageError(0, f"free-list head {head} beyond page count {count}",
                                           self.pager.path)
                g = self.write_guard(head)
                if pg_type(g.p) != PT_FREE:
                    g._release()
                    raise CorruptPageError(head, "page on the free list is not free", self.pager.path)
                hdr_set_u32(hg.p, HDR_FREE_HEAD, pg_next(g.p))
                hdr_set_u32(hg.p, HDR_FREE_COUNT, hdr_u32(hg.p, HDR_FREE_COUNT) - 1)
                pid = head
            else:
                if count >= NO_PAGE - 1:
                    raise OorError("database file is full (2^32 - 2 pages)")
                pid = count
                f = self.pin(pid, True)        # may raise: header not yet changed
                g = WritePageGuard.__new__(WritePageGuard)
                g.pool = self
                g.frame = f
                g.page_id = pid
                g.p = self.fdata(f)
                g.writer = True
                self.meta[f].wlatch = 1
                self.meta[f].dirty = 1
                self.nwriters += 1
                if unlogged:
                    self.unlogged.add(pid)
                    self.unlogged_new.append(pid)
                elif self.capturing:
                    self._capture(pid, f, True)
                elif self.require_capture:
                    g._release()
                    raise OorError(f"page {pid} allocated outside a transaction")
                hdr_set_u32(hg.p, HDR_PAGE_COUNT, count + 1)
            page_init(g.p, pid, ptype)
            return g
        finally:
            hg._release()

    cdef int free_page(self, uint32_t pid) except -1:
        """Put page pid on the free list.  The caller holds no guard on it."""
        cdef WritePageGuard hg, g
        if pid == 0:
            raise ValueError("page 0 (the file header) cannot be freed")
        hg = self.write_guard(0)
        try:
            if pid >= hdr_u32(hg.p, HDR_PAGE_COUNT):
                raise ValueError(f"page {pid} is beyond the page count")
            g = self.write_guard(pid)
            try:
                if self.meta[g.frame].pins != 1 + (pid in self.captured):   # our guard (+ the capture pin)
                    raise OorError(f"page {pid} is still pinned; release its guards before freeing it")
                if pg_type(g.p) == PT_FREE:
                    raise OorError(f"page {pid} is already free")
                page_init(g.p, pid, PT_FREE)
                pg_set_next(g.p, hdr_u32(hg.p, HDR_FREE_HEAD))
                hdr_set_u32(hg.p, HDR_FREE_HEAD, pid)
                hdr_set_u32(hg.p, HDR_FREE_COUNT, hdr_u32(hg.p, HDR_FREE_COUNT) + 1)
            finally:
                g._release()
        finally:
            hg._release()
        return 0

    # ---- overflow chains ---------------------------------------------------
    cdef uint32_t write_overflow(self, const uint8_t* data, Py_ssize_t n) except 0:
        """Store n bytes in a new chain of overflow pages; return the first page id."""
        cdef Py_ssize_t off = 0, chunk
        cdef uint32_t first = 0
        cdef WritePageGuard g, prev = None
        try:
            while off < n or first == 0:
                chunk = min(n - off, <Py_ssize_t>OVERFLOW_PAYLOAD)
                g = self.new_page(PT_OVERFLOW)
                memcpy(g.p + PAGE_HDR, data + off, chunk)
                pg_set_aux(g.p, <uint32_t>chunk)
                if prev is None:
                    first = g.page_id
                else:
                    pg_set_next(prev.p, g.page_id)
                    prev._release()
                prev = g
                off += chunk
                self.maybe_end_op()
        except BaseException:
            # Fix: a failure part-way (typically BufferPoolFullError while pinning
            # the next chain page) used to orphan the pages already allocated: the
            # caller stores no stub, so nothing would ever free them.  The partial
            # chain is well formed (its last page has next_id 0): free it.
            if prev is not None:
                prev._release()
            if first != 0:
                self.free_overflow(first)
            raise
        finally:
            if prev is not None:
                prev._release()
        return first

    cdef bytes read_overflow(self, uint32_t first, uint32_t total):
        """The bytes of an overflow chain, checked against its expected total length."""
        cdef bytes out = PyBytes_FromStringAndSize(NULL, total)
        cdef uint8_t* dst = <uint8_t*>PyBytes_AS_STRING(out)
        cdef uint32_t got = 0, pid = first, ln
        cdef ReadPageGuard g
        cdef int hops = 0
        while pid != 0:
            g = self.read_guard(pid)
            try:
                ln = pg_aux(g.p)
                if pg_type(g.p) != PT_OVERFLOW or ln > OVERFLOW_PAYLOAD or got + ln > total:
                    raise CorruptPageError(pid, "broken overflow chain", self.pager.path)
                memcpy(dst + got, g.p + PAGE_HDR, ln)
                got += ln
                pid = pg_next(g.p)
            finally:
                g._release()
            hops += 1
            if hops > (total // OVERFLOW_PAYLOAD) + 1:
                raise CorruptPageError(pid, "overflow chain longer than its record", self.pager.path)
        if got != total:
            raise CorruptPageError(first, f"overflow chain holds {got} of {total} bytes", self.pager.path)
        return out

    cdef int free_overflow(self, uint32_t first) except -1:
        """Return every page of an overflow chain to the free list."""
        cdef uint32_t pid = first, nxt
        cdef ReadPageGuard g
        while pid != 0:
            g = self.read_guard(pid)
            if pg_type(g.p) != PT_OVERFLOW:
                g._release()
                raise CorruptPageError(pid, "overflow chain leads to a non-overflow page", self.pager.path)
            nxt = pg_next(g.p)
            g._release()
            self.free_page(pid)
            pid = nxt
        return 0

    # ---- Python API --------------------------------------------------------
    def read(self, uint32_t page_id):
        """Pin page_id for reading; returns a ReadPageGuard.  O(1) when cached."""
        return self.read_guard(page_id)

    def write(self, uint32_t page_id):
        """Pin page_id for writing; returns a WritePageGuard (the page is marked dirty)."""
        return self.write_guard(page_id)

    def allocate(self, int page_type=PT_SLOTTED):
        """Allocate and format a page; returns its WritePageGuard.  Reuses the free list first."""
        if page_type <= PT_FREE or page_type > PT_MAX or page_type == PT_FILE_HEADER:
            raise ValueError(f"cannot allocate a page of type {page_type}")
        return self.new_page(<uint8_t>page_type)

    def free(self, uint32_t page_id):
        """Return page_id to the persistent free list."""
        self.free_page(page_id)

    def flush_all(self):
        """Write back every dirty frame, then fsync the file.

        The WAL hook is called once, with the highest page LSN among them,
        before any of them is written (invariant 2).  Pages are written in id
        order, consecutive ids in one system call.
        """
        cdef int f, i, j, n = 0
        cdef uint64_t max_lsn = 0
        dirty = []
        for f in range(self.nframes):
            if self.meta[f].pid != NO_PAGE and self.meta[f].dirty:
                dirty.append((self.meta[f].pid, f))
                max_lsn = max(max_lsn, pg_lsn(self.fdata(f)))
        if dirty:
            if self.wal_flush_hook is not None:
                self.wal_flush_hook(max_lsn)
            dirty.sort()
            n = len(dirty)
            bufs = <uint8_t**>malloc(n * sizeof(uint8_t*))
            if bufs == NULL:
                raise MemoryError()
            try:
                i = 0
                while i < n:
                    j = i
                    while j + 1 < n and dirty[j + 1][0] == dirty[j][0] + 1:
                        j += 1
                    for f in range(i, j + 1):
                        bufs[f - i] = self.fdata(dirty[f][1])
                    self.pager.write_run(dirty[i][0], bufs, j - i + 1)
                    for f in range(i, j + 1):
                        self.meta[<int>dirty[f][1]].dirty = 0
                    self.writes += j - i + 1
                    i = j + 1
            finally:
                free(bufs)
        self.pager.sync()

    def flush_page(self, uint32_t page_id):
        """Write back one page if it is cached and dirty (no fsync).  Returns True if written."""
        cdef int f = self._lookup(page_id)
        if f < 0 or not self.meta[f].dirty:
            return False
        self._write_back(f)
        return True

    def pin_count(self, uint32_t page_id):
        """Pins currently held on page_id (0 when not cached).  Tests."""
        cdef int f = self._lookup(page_id)
        return self.meta[f].pins if f >= 0 else 0

    def is_cached(self, uint32_t page_id):
        """True when page_id occupies a frame.  Tests."""
        return self._lookup(page_id) >= 0

    def is_dirty(self, uint32_t page_id):
        cdef int f = self._lookup(page_id)
        return f >= 0 and self.meta[f].dirty != 0

    def pinned_pages(self):
        """{page_id: pin count} of every pinned frame.  Tests and leak checks."""
        return {self.meta[f].pid: self.meta[f].pins for f in range(self.nframes) if self.meta[f].pins > 0}

    def cached_pages(self):
        return sorted(self.meta[f].pid for f in range(self.nframes) if self.meta[f].pid != NO_PAGE)

    @property
    def page_count(self):
        """Pages in use in the file (from the header page)."""
        g = self.read_guard(0)
        try:
            return hdr_u32(g.p, HDR_PAGE_COUNT)
        finally:
            g._release()

    @property
    def free_count(self):
        g = self.read_guard(0)
        try:
            return hdr_u32(g.p, HDR_FREE_COUNT)
        finally:
            g._release()

    def stats(self):
        """Counters: hits, misses, evictions, writes, hit_rate, frames, cached, dirty, pinned."""
        cached = dirty = pinned = 0
        for f in range(self.nframes):
            if self.meta[f].pid != NO_PAGE:
                cached += 1
                dirty += self.meta[f].dirty != 0
                pinned += self.meta[f].pins > 0
        total = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "writes": self.writes, "hit_rate": (self.hits / total) if total else 0.0,
                "frames": self.nframes, "cached": cached, "dirty": dirty, "pinned": pinned,
                "file_reads": self.pager.reads, "file_writes": self.pager.writes,
                "fsyncs": self.pager.syncs}

    def reset_stats(self):
        self.hits = self.misses = self.evictions = self.writes = 0

    def close(self):
        """Flush everything, fsync and close the file (idempotent)."""
        if self.closed:
            return
        if not self.pager.read_only:
            self.flush_all()
        self.closed = True
        self.pager.close()

    def abandon(self):
        """Close without writing anything (a failed or read-only database).  Idempotent."""
        self.closed = True
        self.pager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check(self):
        """Problems with the pool's own invariants and the free list, as strings.  Tests."""
        problems = []
        mapped = 0
        for f in range(self.nframes):
            pid = self.meta[f].pid
            if self.meta[f].pins < 0:
                problems.append(f"frame {f}: negative pin count {self.meta[f].pins}")
            if pid == NO_PAGE:
                if self.meta[f].pins != 0:
                    problems.append(f"frame {f}: unmapped but pinned")
                continue
            mapped += 1
            if self._lookup(pid) != f:
                problems.append(f"frame {f}: page {pid} missing from the page table")
            if pg_id(self.fdata(f)) != pid:
                problems.append(f"frame {f}: holds page {pg_id(self.fdata(f))}, mapped as {pid}")
        entries = sum(1 for i in range(self.ht_mask + 1) if self.ht[i].key != NO_PAGE)
        if entries != mapped:
            problems.append(f"page table has {entries} entries for {mapped} mapped frames")
        # free list: every page PT_FREE, count matches, no cycle
        hg = self.read_guard(0)
        try:
            head = hdr_u32(hg.p, HDR_FREE_HEAD)
            want = hdr_u32(hg.p, HDR_FREE_COUNT)
            count = hdr_u32(hg.p, HDR_PAGE_COUNT)
        finally:
            hg._release()
        seen = set()
        pid = head
        while pid != 0:
            if pid in seen or pid >= count:
                problems.append(f"free list: bad link to page {pid}")
                break
            seen.add(pid)
            g = self.read_guard(pid)
            try:
                if pg_type(g.p) != PT_FREE:
                    problems.append(f"free list: page {pid} has type {pg_type(g.p)}")
                pid = pg_next(g.p)
            finally:
                g._release()
        if len(seen) != want:
            problems.append(f"free list: {len(seen)} pages linked, header says {want}")
        return problems


@cython.freelist(32)
cdef class PageGuard:
    """A pin on one cached page.  Created only by a BufferPool."""

    def __init__(self):
        raise TypeError("page guards are created by BufferPool.read/write/allocate")

    def __dealloc__(self):
        if self.frame >= 0 and self.pool is not None:
            self.pool.meta[self.frame].pins -= 1
            if self.writer:
                self.pool.meta[self.frame].wlatch = 0
                self.pool.nwriters -= 1
            self.frame = -1

    cdef int _release(self) except -1:
        if self.frame >= 0:
            self.pool.meta[self.frame].pins -= 1
            if self.writer:
                self.pool.meta[self.frame].wlatch = 0
                self.pool.nwriters -= 1
            self.frame = -1
            self.p = NULL
        return 0

    cdef const uint8_t* _live(self) except NULL:
        if self.frame < 0:
            raise OorError(f"page guard for page {self.page_id} was released")
        return self.p

    def release(self):
        """Drop the pin (idempotent)."""
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._release()

    @property
    def released(self):
        return self.frame < 0

    @property
    def lsn(self):
        return pg_lsn(self._live())

    @property
    def page_type(self):
        return pg_type(self._live())

    @property
    def slot_count(self):
        return pg_nslots(self._live())

    @property
    def free_space(self):
        """Bytes available to new records and slots, counting fragmented bytes."""
        return page_total_free(self._live())

    @property
    def contiguous_free(self):
        cdef const uint8_t* p = self._live()
        return pg_free_hi(p) - pg_free_lo(p)

    @property
    def fragmented(self):
        return pg_frag(self._live())

    @property
    def next_id(self):
        return pg_next(self._live())

    @property
    def prev_id(self):
        return pg_prev(self._live())

    @property
    def level(self):
        return pg_level(self._live())

    @property
    def aux(self):
        return pg_aux(self._live())

    @property
    def data(self):
        """A copy of the page's 4096 bytes."""
        return PyBytes_FromStringAndSize(<const char*>self._live(), PAGE_SIZE)

    def get(self, int slot):
        """The record under a slot id (following an overflow chain), or None if empty or out of range."""
        cdef const uint8_t* p = self._live()
        if slot < 0 or slot >= pg_nslots(p) or slot_off(p, slot) == 0:
            return None
        if slot_is_stub(p, slot):
            return self.pool.read_overflow((<const uint32_t*>slot_ptr(p, slot))[1],
                                           (<const uint32_t*>slot_ptr(p, slot))[0])
        return PyBytes_FromStringAndSize(<const char*>slot_ptr(p, slot), slot_len(p, slot))

    def is_overflow(self, int slot):
        cdef const uint8_t* p = self._live()
        return 0 <= slot < pg_nslots(p) and slot_off(p, slot) != 0 and slot_is_stub(p, slot)

    def slots(self):
        """Ids of the live slots, ascending."""
        cdef const uint8_t* p = self._live()
        return [i for i in range(pg_nslots(p)) if slot_off(p, i) != 0]

    def check(self):
        """Violations of the page validity conditions 2-7 (empty when valid)."""
        return page_check(self._live(), self.page_id)


@cython.final
cdef class ReadPageGuard(PageGuard):
    """A shared pin: reads only."""


@cython.final
cdef class WritePageGuard(PageGuard):
    """An exclusive pin: reads and writes.  Every mutation happens through one of these."""

    cdef int _insert_record(self, int idx, const uint8_t* data, Py_ssize_t n, bint positional) except -1:
        cdef uint8_t* p = <uint8_t*>(self._live())
        cdef uint8_t stub[STUB_SIZE]
        cdef int rc
        cdef uint32_t first
        if n > MAX_INLINE:
            # Check room for the stub before allocating the chain: a full page stays unchanged.
            if (positional and STUB_SIZE + SLOT_SIZE > page_total_free(p)) or \
                    (not positional and not page_room_for(p, STUB_SIZE)):
                raise PageFullError(self.page_id, STUB_SIZE + SLOT_SIZE, page_total_free(p))
            if n > 0xFFFFFFFF:
                raise ValueError("record larger than 4 GiB")
            first = self.pool.write_overflow(data, n)
            (<uint32_t*>stub)[0] = <uint32_t>n
            (<uint32_t*>stub)[1] = first
            rc = page_insert_at(p, idx, stub, STUB_SIZE, STUB_FLAG) if positional else \
                page_insert(p, stub, STUB_SIZE, STUB_FLAG)
        else:
            rc = page_insert_at(p, idx, data, <int>n, 0) if positional else page_insert(p, data, <int>n, 0)
        if rc < 0:
            raise PageFullError(self.page_id, n + SLOT_SIZE, page_total_free(p))
        return rc

    def insert(self, const uint8_t[::1] data not None):
        """Store a record; returns its slot id (stable until deleted).  PageFullError leaves the page unchanged.

        Records longer than a page's usable space go to an overflow chain.
        """
        return self._insert_record(0, &data[0] if data.shape[0] else NULL, data.shape[0], False)

    def insert_at(self, int idx, const uint8_t[::1] data not None):
        """Positional insert: the record becomes slot idx; later slots shift up (B+ tree order)."""
        if idx < 0 or idx > pg_nslots(self._live()):
            raise IndexError(f"slot position {idx} out of range")
        return self._insert_record(idx, &data[0] if data.shape[0] else NULL, data.shape[0], True)

    def update(self, int slot, const uint8_t[::1] data not None):
        """Replace the record under a live slot id (same id).  KeyError if empty; PageFullError if it cannot fit."""
        cdef uint8_t* p = <uint8_t*>(self._live())
        cdef Py_ssize_t n = data.shape[0]
        cdef uint8_t stub[STUB_SIZE]
        cdef uint32_t old_first = 0, first
        if slot < 0 or slot >= pg_nslots(p) or slot_off(p, slot) == 0:
            raise KeyError(f"page {self.page_id} has no record in slot {slot}")
        if slot_is_stub(p, slot):
            old_first = (<const uint32_t*>slot_ptr(p, slot))[1]
        if n > MAX_INLINE:
            if STUB_SIZE > page_total_free(p) + slot_len(p, slot):
                raise PageFullError(self.page_id, STUB_SIZE, page_total_free(p))
            first = self.pool.write_overflow(&data[0], n)
            (<uint32_t*>stub)[0] = <uint32_t>n
            (<uint32_t*>stub)[1] = first
            page_update(p, slot, stub, STUB_SIZE, STUB_FLAG)
        elif page_update(p, slot, &data[0] if n else NULL, <int>n, 0) < 0:
            raise PageFullError(self.page_id, n, page_total_free(p) + slot_len(p, slot))
        if old_first:
            self.pool.free_overflow(old_first)

    def delete(self, int slot):
        """Delete the record under a slot id; other slot ids do not change.  KeyError if empty."""
        cdef uint8_t* p = <uint8_t*>(self._live())
        cdef uint32_t first = 0
        if slot < 0 or slot >= pg_nslots(p) or slot_off(p, slot) == 0:
            raise KeyError(f"page {self.page_id} has no record in slot {slot}")
        if slot_is_stub(p, slot):
            first = (<const uint32_t*>slot_ptr(p, slot))[1]
        page_delete(p, slot)
        if first:
            self.pool.free_overflow(first)

    def remove_at(self, int idx):
        """Positional delete: later slots shift down (B+ tree order)."""
        cdef uint8_t* p = <uint8_t*>(self._live())
        cdef uint32_t first = 0
        if idx < 0 or idx >= pg_nslots(p):
            raise IndexError(f"slot position {idx} out of range")
        if slot_off(p, idx) != 0 and slot_is_stub(p, idx):
            first = (<const uint32_t*>slot_ptr(p, idx))[1]
        page_remove_at(p, idx)
        if first:
            self.pool.free_overflow(first)

    def compact(self):
        """Make the free space contiguous; slot ids and records are unchanged."""
        page_compact(<uint8_t*>(self._live()))

    def format(self, int page_type):
        """Reset the page to an empty page of page_type (same id)."""
        page_init(<uint8_t*>(self._live()), self.page_id, <uint8_t>page_type)

    def set_lsn(self, uint64_t lsn):
        pg_set_lsn(<uint8_t*>(self._live()), lsn)

    def set_next_id(self, uint32_t v):
        pg_set_next(<uint8_t*>(self._live()), v)

    def set_prev_id(self, uint32_t v):
        pg_set_prev(<uint8_t*>(self._live()), v)

    def set_level(self, uint16_t v):
        pg_set_level(<uint8_t*>(self._live()), v)

    def set_aux(self, uint32_t v):
        pg_set_aux(<uint8_t*>(self._live()), v)

    def write_bytes(self, int offset, const uint8_t[::1] data not None):
        """Raw write into the page body (recovery's redo; header fields excluded)."""
        cdef Py_ssize_t n = data.shape[0]
        if offset < 4 or offset + n > PAGE_SIZE:
            raise ValueError(f"write of {n} bytes at {offset} falls outside the page")
        if n:
            memcpy(<uint8_t*>(self._live()) + offset, &data[0], n)
