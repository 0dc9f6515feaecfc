# oor_core/snapview.pxd -- the lock-free entry to a snapshot view: C-level contract.
#
# Owns: the hot fields of one snapshot view (ViewBase: its LSN, how many readers hold it, whether it is
# being moved, its tree handles) and the gate of one open database (ViewGate: the current view, the
# newest visible LSN, and in a reader process what a view may be joined without asking the log or the
# reader table again).  A join and a leave are one C call each under the GIL, so each is atomic for the
# other threads of the process without a lock (docs/concurrency.md, "As built": the per-call snapshot).
#
# Who may cimport: oor_core/reads.pyx (gated reads: enter, one read, finish in one call). The Python layer
# uses it too: oor.snapshots subclasses ViewBase, oor.storage owns one ViewGate per Database.
from libc.stdint cimport uint64_t


cdef class ViewBase:
    cdef public uint64_t lsn        # the snapshot LSN the view's pages are at
    cdef readonly int refs          # readers holding the view (join/leave/claim only)
    cdef public bint moving         # set (by claim) while the view moves to another LSN
    cdef public dict trees          # tree name -> BTree or None, as of lsn (cleared by a move)
    cpdef object tree(self, object name)
    cpdef bint claim(self)
    cpdef join(self)


cdef class ViewGate:
    cdef public ViewBase current    # the view new readers join (None: none yet)
    cdef public uint64_t visible    # the newest snapshot LSN readers may take
    cdef public uint64_t published  # reader process with a slot: the LSN in that slot (0: none)
    cdef public bint guarded        # a reader slot must cover the view (reader process with a slot)
    cdef public bint clearing       # the slot keeper is clearing the slot: joins take the slow path
    cdef public bint closed
    cdef public double fresh_until  # CLOCK_MONOTONIC seconds; after it the slow path refreshes (0: never)
    cdef public object hint_map     # a mapping of the lock file (None: no durable hint to watch)
    cdef public bytes hint_seen     # the hint bytes as of the last refresh
    cdef readonly unsigned long long fast, slow   # joins by path (tests, stats)
    cdef public long owner_pid      # the process the database was opened in: enter() elsewhere goes slow
    cdef public object on_idle      # finish(v) calls on_idle(v) when v is idle and not current (None: no one)
    cpdef ViewBase enter(self)
    cdef bint _hint_same(self) except -1
    cpdef bint leave(self, ViewBase v) except -1
    cpdef finish(self, ViewBase v)
