# oor_core/btree.pxd -- B+ tree over memcmp-ordered byte-string keys: C-level contract.
#
# Pages are slotted pages (page.pxd) used positionally: the slot directory is
# kept in key order, so slot i holds the i-th smallest key of the node.
#
# Leaf page (PT_BTREE_LEAF, level 0):
#   next_id / prev_id = right / left sibling (0 = none); aux = tree id.
#   record i:  OFFSET SIZE   FIELD
#              0      2      klen u16 little-endian; bit 15 set = value in overflow
#              2      klen   key bytes
#              2+klen rest   value bytes, or (u32 total_length, u32 first_page)
#                            of an overflow chain (page.pxd) when bit 15 is set
# Internal page (PT_BTREE_INTERNAL, level >= 1):
#   prev_id = leftmost child (keys below the first separator); next_id = 0.
#   record i:  0 klen u16 | 2 key | 2+klen u32 child page id (keys >= key_i
#              and < key_i+1 live under child i).
#
# File header (pager.pxd) root table entry for the tree: root page id, height
# (1 = the root is a leaf), name.
#
# A tree is valid if and only if (checked by BTree._check()):
#   1. every page is a valid page (page.pxd 2-7) of the right type, its level
#      equals its distance from the leaves, and the root's level is height - 1;
#   2. keys strictly ascend within each node and along the leaf chain;
#   3. every key under child i of an internal node lies in [key_i, key_i+1)
#      (the leftmost child: below key_0);
#   4. all leaves are at the same depth; leaf next/prev links give the
#      in-order sequence of leaves, with 0 at both ends;
#   5. every non-root node uses at least MIN_FILL bytes (records + slots) and
#      a non-root internal node holds at least one separator;
#   6. every page of the tree (and of its overflow chains) is reached exactly
#      once and none is on the free list.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from oor_core.bufpool cimport BufferPool, ReadPageGuard
from oor_core.guards cimport WritePageGuard
from oor_core.page cimport PAGE_SIZE, PAGE_HDR, SLOT_SIZE

cdef enum:
    USABLE = 4056                          # PAGE_SIZE - PAGE_HDR: bytes for records and slots
    MIN_FILL = 1014                        # USABLE / 4: rebalance a non-root node below this
    MAX_KEY = 512                          # longest key accepted
    MAX_LEAF_REC = 1000                    # larger leaf records move their value to overflow
    VAL_OVERFLOW = 0x8000
    MAX_DEPTH = 32
    RUN_MIN = 8                            # puts in ascending key order that make a rising run anywhere
    PUSH_MIN = 507                         # USABLE / 8: least free space worth settling into a left sibling


cdef class BTree:
    cdef readonly BufferPool pool
    cdef readonly int tree_id
    cdef readonly object name
    cdef public unsigned long long version   # bumped by every change; cursors re-seek on change
    # Insert hint, in memory only (never on disk, never trusted for correctness):
    # the leaf and slot where the last inserted record landed.  An overflowing
    # insert after it in the same leaf, or the first one in its right
    # neighbour, is a rising run (btree.pyx, _leaf_put).
    cdef uint32_t hint_leaf
    cdef int hint_idx
    cdef bytes hint_key                    # the last key put (the caller's object, kept, not copied)
    cdef int run                           # how many puts in a row had a key above the one before

    cdef int _root(self, uint32_t* root, int* height) except -1
    cdef int _set_root(self, uint32_t root, int height) except -1
    cdef int _set_root_height_from_page(self, uint32_t root) except -1
    cdef object _get(self, const uint8_t* key, int klen)
    cdef int _descend(self, const uint8_t* key, int klen, uint32_t* path, int* idxs) except -1
    cdef object _value_of(self, const uint8_t* rec, int rlen)
    cdef bytes _leaf_rec(self, bytes key, bytes value)
    cdef int _put(self, bytes key, bytes value, int mode) except -1
    cdef int _leaf_put(self, uint32_t* path, int* idxs, int depth, int idx, bytes rec) except -1
    cdef bint _sep_fits(self, uint32_t* path, int depth, int entry, bytes sep) except -1
    cdef bint _left_of(self, uint32_t parent, int ci, uint32_t leaf, uint32_t* left, int* lfree,
                       int* lslots) except -1
    cdef int _append_left(self, uint32_t* path, int* idxs, int depth, WritePageGuard g, int idx,
                          bytes rec) except -1
    cdef int _push_right(self, uint32_t* path, int* idxs, int depth, WritePageGuard g, list recs,
                         Py_ssize_t idx) except -1
    cdef int _push_left(self, uint32_t* path, int* idxs, int depth, WritePageGuard g, list recs,
                        Py_ssize_t idx, Py_ssize_t want) except -1
    cdef int _insert_sep(self, uint32_t* path, int* idxs, int j, bytes sep, uint32_t child) except -1
    cdef int _internal_insert(self, uint32_t* path, int* idxs, int j, int pos, bytes rec) except -1
    cdef int _rebalance(self, uint32_t* path, int* idxs, int j) except -1
    cdef list _build_level(self, list below, int lvl, int target)
    cdef bint _check_visit(self, TreeWalker w, list problems) except -1
    # Public leaf access for C readers outside the tree (oor_core/reads.pyx): pin the leaf where key
    # belongs and give its slot (see the bodies in btree.pyx); read a slot's value, overflow or not.
    cdef int leaf_for(self, const uint8_t* key, int klen, int* idx, bint* found) except -1
    cdef object leaf_value(self, const uint8_t* p, int idx)


# The one walk over a tree's pages (btree.pyx): a node before its children,
# children in key order, a leaf's overflow chains right after the leaf.  Used
# by BTree.walk(), _check(), pages(), stats() and storage's page accounting.
cdef class TreeWalker:
    cdef readonly BTree tree
    cdef list stack                  # pending (page id, level, lo, hi, owner); level -1 = overflow page
    cdef bytearray seen_bits         # every page positioned on so far: a bit per page below the pool's
    cdef uint8_t* sb                 #   page count at the walk's start (bounded memory: 1 bit a page),
    cdef uint32_t nbits              #   and a set for ids at or past it (only a damaged tree has them)
    cdef set seen_far
    cdef list problems               # receives "reached twice" (None: ignored)
    cdef uint32_t root
    cdef ReadPageGuard g             # pin on the current page (None between pages)
    cdef const uint8_t* p            # the current page's bytes while pinned
    cdef readonly uint32_t page_id
    cdef readonly int level          # expected distance from the leaves; -1 for an overflow page
    cdef readonly bytes lo, hi       # node: separator bounds [lo, hi); overflow: lo = the record's key
    cdef readonly uint32_t owner     # overflow page: the leaf holding the chain; node: its parent (0: root)
    cdef readonly bint is_root
    cdef bint _seen(self, uint32_t pid) except -1
    cdef int step(self) except -1
    cdef int drop(self) except -1


cdef class Cursor:
    cdef readonly BTree tree
    cdef unsigned long long version  # tree.version when the position was taken
    cdef uint32_t leaf               # leaf of the current entry (0 = unpositioned)
    cdef int idx                     # slot of the current entry in leaf
    cdef bytes key
    cdef object value
    cdef bytes lo, hi                # iteration bounds: lo inclusive, hi exclusive (None = open)
    cdef bint forward
    cdef bint started
    cdef int _position(self, uint32_t leaf, int idx) except -1
    cdef int _seek(self, bytes key, int mode) except -1
    cdef int _edge(self, bint last) except -1
    cdef int _step(self, bint forward) except -1
    cdef object _item(self)
    cdef _range(self, bytes lo, bytes hi, bint reverse)


# ---- leaf record getters (layout above), for readers of leaf pages outside the
# tree (oor_core/batch.pyx decodes column batches straight from leaves; oor_core/reads.pyx
# decodes element sets from them).
# leaf_search: first slot of the leaf (or internal) page p whose key >= key; found: that key equals key.
cdef int leaf_search(const uint8_t* p, const uint8_t* key, int klen, bint* found) noexcept nogil

cdef inline int leaf_klen(const uint8_t* rec) noexcept nogil:
    return (<int>rec[0] | (<int>rec[1] << 8)) & 0x7FFF

cdef inline bint leaf_overflow(const uint8_t* rec) noexcept nogil:
    return (rec[1] & 0x80) != 0

cdef inline uint32_t leaf_u32(const uint8_t* p) noexcept nogil:
    return <uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)
