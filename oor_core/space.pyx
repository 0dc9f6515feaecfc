# oor_core/space.pyx -- space manager bodies: allocation, the free list,
# overflow chains.  Contract, ownership and validity conditions in space.pxd;
# page 0's fields in pager.pxd; overflow page layout in page.pxd.
# Who may import: the pool (bufpool.pyx creates the one SpaceManager).
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memcpy

from oor_core.page cimport *
from oor_core.pager cimport hdr_u32, hdr_set_u32, HDR_PAGE_COUNT, HDR_FREE_HEAD, HDR_FREE_COUNT
from oor_core.bufpool cimport BufferPool, NO_PAGE, MODE_BULK
from oor_core.guards cimport ReadPageGuard, WritePageGuard
from oor_core.errors import CorruptPageError, OorError


cdef class SpaceManager:
    """Allocation, the free list and overflow chains of one pool's file.  Created by the pool."""

    def __cinit__(self, BufferPool pool not None):
        self.pool = pool

    # ---- allocation and the free list -------------------------------------
    cdef WritePageGuard new_page(self, uint8_t ptype):
        """Allocate a page (free list first, else the end of the file), formatted as ptype.

        In a bulk build (pool mode BULK), pages come from the end of the file
        only: the pool lists them as unlogged (capture.pxd), and the storage
        layer writes and syncs them before the transaction's COMMIT.
        Caller: the B+ tree, the overflow writer, BufferPool.allocate.
        """
        cdef BufferPool pool = self.pool
        cdef WritePageGuard hg = pool.write_guard(0)
        cdef WritePageGuard g
        cdef uint32_t pid, head, count
        try:
            head = hdr_u32(hg.p, HDR_FREE_HEAD)
            count = hdr_u32(hg.p, HDR_PAGE_COUNT)
            if head != 0 and pool.mode != MODE_BULK:
                if head >= count:
                    raise CorruptPageError(0, f"free-list head {head} beyond page count {count}",
                                           pool.pager.path)
                g = pool.write_guard(head)
                if pg_type(g.p) != PT_FREE:
                    g.unpin_now()
                    raise CorruptPageError(head, "page on the free list is not free", pool.pager.path)
                hdr_set_u32(hg.p, HDR_FREE_HEAD, pg_next(g.p))
                hdr_set_u32(hg.p, HDR_FREE_COUNT, hdr_u32(hg.p, HDR_FREE_COUNT) - 1)
                pid = head
            else:
                if count >= NO_PAGE - 1:
                    raise OorError("database file is full (2^32 - 2 pages)")
                pid = count
                g = pool.fresh_guard(pid)     # may raise: header not yet changed
                hdr_set_u32(hg.p, HDR_PAGE_COUNT, count + 1)
            page_init(g.p, pid, ptype)
            return g
        finally:
            hg.unpin_now()

    cdef int free_page(self, uint32_t pid) except -1:
        """Put page pid on the free list.  The caller holds no guard on it.  Caller: the B+ tree."""
        cdef BufferPool pool = self.pool
        cdef WritePageGuard hg, g
        if pid == 0:
            raise ValueError("page 0 (the file header) cannot be freed")
        hg = pool.write_guard(0)
        try:
            if pid >= hdr_u32(hg.p, HDR_PAGE_COUNT):
                raise ValueError(f"page {pid} is beyond the page count")
            g = pool.write_guard(pid)
            try:
                # our guard (+ the capture pin)
                if pool.frame_pins(g.frame) != 1 + pool.capture.is_captured(pid):
                    raise OorError(f"page {pid} is still pinned; release its guards before freeing it")
                if pg_type(g.p) == PT_FREE:
                    raise OorError(f"page {pid} is already free")
                page_init(g.p, pid, PT_FREE)
                pg_set_next(g.p, hdr_u32(hg.p, HDR_FREE_HEAD))
                hdr_set_u32(hg.p, HDR_FREE_HEAD, pid)
                hdr_set_u32(hg.p, HDR_FREE_COUNT, hdr_u32(hg.p, HDR_FREE_COUNT) + 1)
            finally:
                g.unpin_now()
        finally:
            hg.unpin_now()
        return 0

    cdef list walk_free(self, list problems):
        """Page ids on the free list, in chain order.  The one walker of the free list.

        Stops at a link that repeats a page or points beyond the page count; when
        problems is a list, appends what is wrong (space.pxd 1-2) to it.
        """
        cdef ReadPageGuard g = self.pool.read_guard(0)
        cdef uint32_t pid, want, count
        try:
            pid = hdr_u32(g.p, HDR_FREE_HEAD)
            want = hdr_u32(g.p, HDR_FREE_COUNT)
            count = hdr_u32(g.p, HDR_PAGE_COUNT)
        finally:
            g.unpin_now()
        out = []
        seen = set()
        while pid != 0:
            if pid in seen or pid >= count:
                if problems is not None:
                    problems.append(f"free list: bad link to page {pid}")
                break
            seen.add(pid)
            out.append(pid)
            g = self.pool.read_guard(pid)
            try:
                if problems is not None and pg_type(g.p) != PT_FREE:
                    problems.append(f"free list: page {pid} has type {pg_type(g.p)}")
                pid = pg_next(g.p)
            finally:
                g.unpin_now()
        if problems is not None and len(out) != want:
            problems.append(f"free list: {len(out)} pages linked, header says {want}")
        return out

    def free_pages(self):
        """Page ids on the free list (walks the chain).  Caller: the tree's and storage's checks, tests."""
        return self.walk_free(None)

    @property
    def page_count(self):
        """Pages in use in the file (from the header page)."""
        cdef ReadPageGuard g = self.pool.read_guard(0)
        try:
            return hdr_u32(g.p, HDR_PAGE_COUNT)
        finally:
            g.unpin_now()

    @property
    def free_count(self):
        """Pages on the free list (from the header page)."""
        cdef ReadPageGuard g = self.pool.read_guard(0)
        try:
            return hdr_u32(g.p, HDR_FREE_COUNT)
        finally:
            g.unpin_now()

    def _check(self):
        """Violations of the validity conditions of space.pxd (the free list), as strings."""
        problems = []
        self.walk_free(problems)
        return problems

    # ---- overflow chains ---------------------------------------------------
    cdef uint32_t write_overflow(self, const uint8_t* data, Py_ssize_t n) except 0:
        """Store n bytes in a new chain of overflow pages; return the first page id.

        Caller: the guards (records longer than a slot) and the B+ tree (long values)."""
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
                    prev.unpin_now()
                prev = g
                off += chunk
                self.pool.capture.maybe_end_op()
        except BaseException:
            # Fix: a failure part-way (typically BufferPoolFullError while pinning
            # the next chain page) used to orphan the pages already allocated: the
            # caller stores no stub, so nothing would ever free them.  The partial
            # chain is well formed (its last page has next_id 0): free it.
            if prev is not None:
                prev.unpin_now()
            if first != 0:
                self.free_overflow(first)
            raise
        finally:
            if prev is not None:
                prev.unpin_now()
        return first

    cdef bytes read_overflow(self, uint32_t first, uint32_t total):
        """The bytes of an overflow chain, checked against its expected total length."""
        cdef bytes out = PyBytes_FromStringAndSize(NULL, total)
        cdef uint8_t* dst = <uint8_t*>PyBytes_AS_STRING(out)
        cdef uint32_t got = 0, pid = first, ln
        cdef ReadPageGuard g
        cdef int hops = 0
        while pid != 0:
            g = self.pool.read_guard(pid)
            try:
                ln = pg_aux(g.p)
                if pg_type(g.p) != PT_OVERFLOW or ln > OVERFLOW_PAYLOAD or got + ln > total:
                    raise CorruptPageError(pid, "broken overflow chain", self.pool.pager.path)
                memcpy(dst + got, g.p + PAGE_HDR, ln)
                got += ln
                pid = pg_next(g.p)
            finally:
                g.unpin_now()
            hops += 1
            if hops > (total // OVERFLOW_PAYLOAD) + 1:
                raise CorruptPageError(pid, "overflow chain longer than its record", self.pool.pager.path)
        if got != total:
            raise CorruptPageError(first, f"overflow chain holds {got} of {total} bytes", self.pool.pager.path)
        return out

    cdef int free_overflow(self, uint32_t first) except -1:
        """Return every page of an overflow chain to the free list."""
        cdef uint32_t pid = first, nxt
        cdef ReadPageGuard g
        while pid != 0:
            g = self.pool.read_guard(pid)
            if pg_type(g.p) != PT_OVERFLOW:
                g.unpin_now()
                raise CorruptPageError(pid, "overflow chain leads to a non-overflow page", self.pool.pager.path)
            nxt = pg_next(g.p)
            g.unpin_now()
            self.free_page(pid)
            pid = nxt
        return 0
