# oor_core/snapview.pyx -- the lock-free entry to a snapshot view (contract in snapview.pxd).
#
# A single-call read (Registry.latest: acquire_view, one seek, release_view) took and gave back its
# snapshot in Python: 1.0 us a lookup in a reader process, 0.8 us in the writer's, against a 3-4.5 us
# seek (measured with bench/bench_concurrency.py's figure-4 loop; the engine before snapshots took
# 4.7 us per whole lookup in a read-only process).  Here the common case -- the current view is at the
# newest visible commit and nothing needs refreshing -- is one C call to join and one to leave; anything
# else returns None / True and the caller takes the Python slow path (oor.snapshots.Snapshots).
#
# Atomicity: enter() does its checks that may call Python (the clock, the hint bytes) first, then reads
# the C fields and joins without calling Python in between, so no other thread runs meanwhile (the GIL
# is released only at Python calls).  A mover claims a view (claim) atomically too: either a joiner
# joined first and the claim fails, or the claim set ``moving`` first and the joiner goes slow.
#
# Who may import: oor.snapshots (ViewBase), oor.storage (ViewGate), tests.
from libc.stdint cimport uint64_t
from libc.time cimport timespec
from libc.string cimport memcmp
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE

cdef extern from "<time.h>" nogil:
    int clock_gettime(int clk, timespec* ts)
    int CLOCK_MONOTONIC

cdef enum:
    HINT_OFFSET = 64    # oor/lockfile.py's byte table: the writer's durable-LSN hint, 16 bytes
    HINT_END = 80
cdef object _MISSING = object()

import os as _os
cdef long _pid = _os.getpid()      # this process (refreshed in a forked child)


def _after_fork():
    global _pid
    _pid = _os.getpid()


_os.register_at_fork(after_in_child=_after_fork)


cdef inline double _monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef class ViewBase:
    """The hot half of a snapshot view (oor.snapshots.SnapshotView subclasses it and gives
    ``_make_tree(name)``, called on the first ``tree(name)`` after each move)."""

    def __cinit__(self, *args, **kw):
        self.trees = {}

    cpdef object tree(self, object name):
        """The B+ tree called name as of this view's LSN, or None when it did not exist then."""
        t = self.trees.get(name, _MISSING)
        if t is _MISSING:
            t = self._make_tree(name)
            self.trees[name] = t
        return t

    cpdef bint claim(self):
        """Flag an idle view for moving; False when a reader holds it or another mover has it."""
        if self.refs or self.moving:
            return False
        self.moving = True
        return True

    cpdef join(self):
        """One more reader holds the view (the slow path, under the snapshots' lock)."""
        self.refs += 1

    def _check(self):
        problems = []
        if self.refs < 0:
            problems.append(f"snapshot view at LSN {self.lsn}: {self.refs} readers")
        return problems


cdef class ViewGate:
    """The current view of one open database and what a reader may join without the slow path."""

    def __cinit__(self):
        self.hint_seen = b""
        self.owner_pid = _pid

    cpdef ViewBase enter(self):
        """Join the current view and return it, or None: the caller takes the slow path."""
        cdef ViewBase v
        if self.closed or self.owner_pid != _pid or \
                (self.fresh_until != 0.0 and _monotonic() >= self.fresh_until):
            self.slow += 1
            return None
        if self.hint_map is not None and not self._hint_same():
            self.slow += 1
            return None
        # from here to the join: C fields only, no Python call (atomic under the GIL)
        v = self.current
        if v is None or self.closed or v.moving or v.lsn != self.visible or \
                (self.guarded and (self.clearing or self.published == 0 or self.published > v.lsn)):
            self.slow += 1
            return None
        v.refs += 1
        self.fast += 1
        return v

    cdef bint _hint_same(self) except -1:
        """The hint bytes in the mapping equal hint_seen: the buffer is taken and given back around one
        memcmp (no bytes object: 0.15 us less per call than a slice), so the table may close the mapping
        at any time (a closed mapping refuses the buffer: always slow from then on)."""
        cdef Py_buffer buf
        cdef bint same
        try:
            PyObject_GetBuffer(self.hint_map, &buf, PyBUF_SIMPLE)
        except (ValueError, BufferError):
            self.hint_map = None
            self.fresh_until = -1.0
            return False
        same = buf.len >= HINT_END and len(self.hint_seen) == HINT_END - HINT_OFFSET and \
            memcmp(<const char*>buf.buf + HINT_OFFSET, <const char*>self.hint_seen, HINT_END - HINT_OFFSET) == 0
        PyBuffer_Release(&buf)
        return same

    cpdef bint leave(self, ViewBase v) except -1:
        """A reader gives v back; True when v is now idle and not current (the caller may close it)."""
        if v.refs <= 0:
            raise AssertionError(f"snapshot view at LSN {v.lsn} released more often than acquired")
        v.refs -= 1
        return v.refs == 0 and v is not self.current

    cpdef finish(self, ViewBase v):
        """leave(v), then on_idle(v) when v is idle and not current (the database retires it)."""
        if self.leave(v) and self.on_idle is not None:
            self.on_idle(v)

    def note_hint(self):
        """Remember the hint bytes now (before a refresh reads them: a change after this sends the next
        enter() to the slow path again)."""
        m = self.hint_map
        if m is not None:
            try:
                self.hint_seen = m[HINT_OFFSET:HINT_END]
            except ValueError:          # the mapping was closed (the table closed): always slow
                self.hint_map = None
                self.fresh_until = -1.0

    def _check(self):
        problems = []
        v = self.current
        if v is not None:
            problems.extend(v._check())
            if v.lsn > self.visible:
                problems.append(f"snapshot gate: current view at LSN {v.lsn} above the visible {self.visible}")
        if self.guarded and v is not None and v.refs and not self.clearing and \
                (self.published == 0 or self.published > v.lsn):
            problems.append(f"snapshot gate: a held view at LSN {v.lsn} not covered by the reader slot "
                            f"(published {self.published})")
        return problems
