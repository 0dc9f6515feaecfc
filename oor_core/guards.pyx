# oor_core/guards.pyx -- page guard bodies: release, header getters, record
# access, mutations.  Contract, who creates guards and the list of raw pins in
# guards.pxd; page format in page.pxd.  Who may import: the pool
# (bufpool.pyx), the space manager, the B+ tree; Python callers get guards
# from BufferPool.read / write / allocate.
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from oor_core.page cimport *
from oor_core.bufpool cimport BufferPool
from oor_core.errors import OorError, PageFullError


@cython.freelist(32)
cdef class PageGuard:
    """A pin on one cached page.  Created only by a BufferPool."""

    def __init__(self):
        raise TypeError("page guards are created by BufferPool.read/write/allocate")

    def __dealloc__(self):
        if self.frame >= 0 and self.pool is not None:
            self.pool.unpin(self.frame)
            if self.writer:
                self.pool.drop_write_latch(self.frame)
            self.frame = -1

    cdef int unpin_now(self) except -1:
        """Drop the pin and, for a writer, the write latch (idempotent).  C callers' release()."""
        if self.frame >= 0:
            self.pool.unpin(self.frame)
            if self.writer:
                self.pool.drop_write_latch(self.frame)
            self.frame = -1
            self.p = NULL
        return 0

    cdef const uint8_t* _live(self) except NULL:
        if self.frame < 0:
            raise OorError(f"page guard for page {self.page_id} was released")
        return self.p

    def release(self):
        """Drop the pin (idempotent)."""
        self.unpin_now()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.unpin_now()

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
            return self.pool.space.read_overflow((<const uint32_t*>slot_ptr(p, slot))[1],
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

    def _check(self):
        """Violations of the guard's own invariants (a live guard's frame holds its page, pinned,
        write-latched for a writer), as strings.  Tests."""
        if self.frame < 0:
            return []
        problems = []
        if self.pool.lookup(self.page_id) != self.frame:
            problems.append(f"guard of page {self.page_id}: frame {self.frame} no longer holds the page")
        if self.pool.frame_pins(self.frame) < 1:
            problems.append(f"guard of page {self.page_id}: frame {self.frame} is not pinned")
        if self.writer and not self.pool.write_latched(self.frame):
            problems.append(f"write guard of page {self.page_id}: frame {self.frame} lost its write latch")
        return problems


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
            first = self.pool.space.write_overflow(data, n)
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
            first = self.pool.space.write_overflow(&data[0], n)
            (<uint32_t*>stub)[0] = <uint32_t>n
            (<uint32_t*>stub)[1] = first
            page_update(p, slot, stub, STUB_SIZE, STUB_FLAG)
        elif page_update(p, slot, &data[0] if n else NULL, <int>n, 0) < 0:
            raise PageFullError(self.page_id, n, page_total_free(p) + slot_len(p, slot))
        if old_first:
            self.pool.space.free_overflow(old_first)

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
            self.pool.space.free_overflow(first)

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
            self.pool.space.free_overflow(first)

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
