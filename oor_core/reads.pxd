# oor_core/reads.pxd -- the registry's current-state reads in C, from seek to returned ElementSet:
# C-level contract.
#
# Every function takes the registry's primary tree (``elsets``, a BTree of oor_core/btree: the
# writer's own tree, or a snapshot view's tree over its SNAPSHOT pool) and returns decoded element
# sets (oor_core/tlecodec decode_at, straight from the pinned leaf; an overflow value through the
# tree's own value read).  It owns no format: the key layouts are oor/keys.py's (elsets offsets in
# elset_layout.pxd; an index key ends 0x00 | norad u32 BE), the leaf record btree.pxd's, the record
# oor/codec/record.py's, the TLE text oor/codec/tle.py's (tlecodec writes it).
#
# Isolation is the caller's: a call holds pins only while it runs (raw pins, guards.pxd) and keeps
# no position between calls, so a registry read view runs it at its snapshot (or, in the writer's
# own transaction, under the database lock) and the answer is that state's.
#
# Who may cimport: nobody yet (oor/registry.py calls the Python-level functions of reads.pyx).
from libc.stdint cimport uint32_t

cdef enum:
    AT_BEFORE = 0                 # set_at modes (oor.lookups.AT_MODES)
    AT_AFTER = 1
    AT_NEAREST = 2

# A position in a leaf: the pinned frame (-1: none, nothing pinned) and a slot.
cdef struct Pos:
    int f
    int idx

# A probe of latest_sets: an object and where its answer goes.
cdef struct Probe:
    uint32_t norad
    Py_ssize_t at
