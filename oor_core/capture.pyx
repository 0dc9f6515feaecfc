# oor_core/capture.pyx -- change capture bodies: before-images, page diffs,
# the unlogged-page set.  Contract, ownership and validity conditions in
# capture.pxd.  Who may import: the pool (bufpool.pyx); page_diff: the WAL
# and tests.
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from oor_core.page cimport PAGE_SIZE, pg_lsn, pg_set_lsn
from oor_core.bufpool cimport BufferPool


cdef list diff_runs(const uint8_t* a, const uint8_t* b):
    """(offset, length) runs where a and b differ in [16, 4096); runs closer than 8 bytes merge."""
    cdef list out = []
    cdef int i = 16, start, last_end = -100
    cdef uint64_t x = 0, y = 0
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
    return diff_runs(&a[0], &b[0])


cdef class ChangeCapture:
    """The pages changed since the last log record, with their before-images.  Created by the pool."""

    def __cinit__(self, BufferPool pool not None):
        self.pool = pool
        self.captured = {}
        self.unlogged = set()
        self.unlogged_new = []
        self.op_hook = None
        self.batch_pages = 0

    cdef int capture(self, uint32_t pid, int f, bint fresh) except -1:
        """Save page pid's before-image on its first write pin since the last record, and pin it.

        Caller: the pool, on a write pin while CAPTURING or BULK (f is pid's frame)."""
        if pid in self.captured:
            return 0
        self.captured[pid] = None if fresh else \
            PyBytes_FromStringAndSize(<const char*>self.pool.fdata(f), PAGE_SIZE)
        self.pool.add_pin(f)
        return 0

    cdef int add_unlogged(self, uint32_t pid) except -1:
        """A bulk build allocated pid at the end of the file, not logged.  Caller: the pool (BULK)."""
        self.unlogged.add(pid)
        self.unlogged_new.append(pid)
        return 0

    cdef bint is_captured(self, uint32_t pid):
        return pid in self.captured

    cdef object before_image(self, uint32_t pid):
        """The page as of its last logged change (None: new at the end of the file).  Caller: the pool."""
        return self.captured[pid]

    cdef int end_op(self) except -1:
        """A tree operation (or a safe point inside a long one) is complete: let the WAL log it.

        Pages still under a write guard stay captured (see release_captured), so
        a safe point may fall anywhere.  With batch_pages > 1, operations
        accumulate until that many pages are captured (a load logs each leaf
        once per batch, not once per insert); the storage layer logs the rest
        at commit.
        """
        if self.captured and self.op_hook is not None and len(self.captured) >= self.batch_pages:
            self.op_hook()
        return 0

    def maybe_end_op(self):
        """end_op() once the capture holds 64 pages or a quarter of the frames (long operations:
        bulk load, big values), whichever is fewer: log records and their copies stay small."""
        if len(self.captured) >= min(64, max(1, self.pool.nframes // 4)):
            self.end_op()

    def captured_changes(self):
        """[(page_id, before, after, ranges)] for every page changed since the last release.

        before is None for a page new at the end of the file; ranges lists
        (offset, length) of the bytes that differ in [16, 4096) (the checksum
        and LSN fields excluded), neighbouring runs merged.  Caller: the WAL.
        """
        out = []
        cdef int f
        for pid, before in self.captured.items():
            f = self.pool.lookup(pid)
            assert f >= 0, "captured page left the pool"
            after = PyBytes_FromStringAndSize(<const char*>self.pool.fdata(f), PAGE_SIZE)
            out.append((pid, before, after, page_diff(before, after)))
        return out

    def captured_pages(self):
        """[(page_id, before, after)]: captured_changes without the diff, which the log's encoder
        (logformat.encode_pages) does in C.  Caller: the storage layer's logger."""
        out = []
        cdef int f
        for pid, before in self.captured.items():
            f = self.pool.lookup(pid)
            assert f >= 0, "captured page left the pool"
            out.append((pid, before, PyBytes_FromStringAndSize(<const char*>self.pool.fdata(f), PAGE_SIZE)))
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
            f = self.pool.lookup(pid)
            assert f >= 0, "captured page left the pool"
            if lsn:
                pg_set_lsn(self.pool.fdata(f), lsn)
            if self.pool.write_latched(f):
                keep[pid] = PyBytes_FromStringAndSize(<const char*>self.pool.fdata(f), PAGE_SIZE)
            else:
                self.pool.unpin(f)
        self.captured = keep

    def unlogged_count(self):
        return len(self.unlogged)

    def take_unlogged_new(self):
        """Bulk-built pages allocated since the last call (the storage layer logs their ids)."""
        out, self.unlogged_new = self.unlogged_new, []
        return out

    def flush_unlogged(self):
        """Write every page of the bulk build that is still dirty, then fsync the file; forget the set.

        Caller: storage, before a transaction's COMMIT (the pages are not in the log,
        so they must be durable first).  Pages later changed in the same transaction
        carry LSNs; the WAL hook runs before any page is written (invariant 2).
        """
        self.pool.write_dirty(sorted(self.unlogged))
        self.pool.pager.sync()
        self.unlogged.clear()

    def forget_unlogged(self):
        """The transaction aborted: its bulk pages lie beyond the restored page count."""
        self.unlogged.clear()
        self.unlogged_new = []

    def _check(self):
        """Violations of the validity conditions of capture.pxd, as strings.  Tests, pool._check."""
        problems = []
        cdef int f
        for pid in self.captured:
            f = self.pool.lookup(pid)
            if f < 0:
                problems.append(f"capture: captured page {pid} is not cached")
            elif self.pool.frame_pins(f) < 1:
                problems.append(f"capture: captured page {pid} holds no capture pin")
        for pid in self.unlogged_new:
            if pid not in self.unlogged:
                problems.append(f"capture: page {pid} awaits an UNLOGGED record but is not in the unlogged set")
        return problems
