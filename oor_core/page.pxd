# oor_core/page.pxd -- the 4 KiB slotted page: C-level contract.
#
# Every page of an OOR file, of every type, starts with this 40-byte header.
# Byte order: little-endian for every integer field of the header and slot
# directory.  (Keys stored in B+ tree records are memcmp-ordered byte strings
# and carry their own order.)
#
#   OFFSET SIZE FIELD        DESCRIPTION
#   0      4    checksum     CRC32C of all 4096 bytes with this field zeroed
#   4      4    page_id      u32: the page's own number (catches misdirected writes)
#   8      8    page_lsn     u64: LSN of the last logged change applied (0 = never logged)
#   16     1    page_type    u8: PT_FREE .. PT_OVERFLOW (below)
#   17     1    flags        u8: reserved, 0
#   18     2    slot_count   u16: entries in the slot directory (live and empty)
#   20     2    free_lo      u16: first byte after the slot directory = 40 + 4 * slot_count
#   22     2    free_hi      u16: first byte of the record area (records grow down from 4096)
#   24     2    frag_bytes   u16: bytes of dead records inside [free_hi, 4096)
#   26     2    level        u16: B+ tree level (0 = leaf); 0 on other pages
#   28     4    next_id      u32: right sibling (tree), next chain page (overflow, free list); 0 = none
#   32     4    prev_id      u32: left sibling (leaf) or leftmost child (internal); 0 = none
#   36     4    aux          u32: overflow: payload length; tree pages: tree id; else 0
#   40     4*n  slot dir     n x (u16 offset, u16 length); offset 0 marks an empty slot;
#                            bit 15 of length marks an overflow stub (see below)
#
#   +--------+-----------------+------------------------+---------+---------+-----+
#   | header | slot 0 | slot 1 |...  free space  ...    | rec 1   | rec 0   | ... |
#   +--------+-----------------+------------------------+---------+---------+-----+
#   0        40                free_lo                  free_hi                   4096
#
# A slot id is an index into the slot directory.  Heap-style insert/delete
# keep slot ids stable (a deleted slot becomes empty and may be reused later);
# compaction moves record bytes, never slot ids.  The B+ tree uses the
# positional insert_at/remove_at, which keep the directory in key order.
#
# Overflow stub: a record whose length word has bit 15 set is 8 bytes,
# (u32 total_length, u32 first_overflow_page_id), little-endian.  Overflow
# pages (PT_OVERFLOW) carry `aux` payload bytes at offset 40 and chain by
# next_id; the last has next_id 0.
#
# A page is valid if and only if:
#   1. checksum equals CRC32C of the page with bytes 0..3 zeroed;
#   2. page_id equals the page's position (file offset / 4096);
#   3. page_type is one of the PT_* values;
#   4. free_lo == 40 + 4 * slot_count and free_lo <= free_hi <= 4096;
#   5. every live slot's [offset, offset + length) lies inside [free_hi, 4096),
#      and no two live records overlap;  an empty slot has length 0;
#   6. sum of live record lengths + frag_bytes == 4096 - free_hi;
#   7. an overflow stub's length is 8; an overflow page has aux <= 4056 and
#      slot_count 0.
# Conditions 1-2 are checked on every read from disk (CorruptPageError);
# 3-7 by page_check() (and by _check() of the structures above).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy

cdef enum:
    PAGE_SIZE = 4096
    PAGE_HDR = 40
    SLOT_SIZE = 4
    # largest record stored inline in an otherwise empty page
    MAX_INLINE = PAGE_SIZE - PAGE_HDR - SLOT_SIZE
    OVERFLOW_PAYLOAD = PAGE_SIZE - PAGE_HDR
    STUB_FLAG = 0x8000
    STUB_SIZE = 8

cdef enum PageType:
    PT_FREE = 0
    PT_FILE_HEADER = 1
    PT_SLOTTED = 2
    PT_BTREE_LEAF = 3
    PT_BTREE_INTERNAL = 4
    PT_OVERFLOW = 5
    PT_MAX = 5

# ---- header getters/setters (pages live in 4096-aligned frames) ----------
cdef inline uint32_t pg_checksum(const uint8_t* p) noexcept nogil:
    return (<const uint32_t*>p)[0]
cdef inline uint32_t pg_id(const uint8_t* p) noexcept nogil:
    return (<const uint32_t*>(p + 4))[0]
cdef inline void pg_set_id(uint8_t* p, uint32_t v) noexcept nogil:
    (<uint32_t*>(p + 4))[0] = v
cdef inline uint64_t pg_lsn(const uint8_t* p) noexcept nogil:
    return (<const uint64_t*>(p + 8))[0]
cdef inline void pg_set_lsn(uint8_t* p, uint64_t v) noexcept nogil:
    (<uint64_t*>(p + 8))[0] = v
cdef inline uint8_t pg_type(const uint8_t* p) noexcept nogil:
    return p[16]
cdef inline void pg_set_type(uint8_t* p, uint8_t v) noexcept nogil:
    p[16] = v
cdef inline uint16_t pg_nslots(const uint8_t* p) noexcept nogil:
    return (<const uint16_t*>(p + 18))[0]
cdef inline uint16_t pg_free_lo(const uint8_t* p) noexcept nogil:
    return (<const uint16_t*>(p + 20))[0]
cdef inline uint16_t pg_free_hi(const uint8_t* p) noexcept nogil:
    return (<const uint16_t*>(p + 22))[0]
cdef inline uint16_t pg_frag(const uint8_t* p) noexcept nogil:
    return (<const uint16_t*>(p + 24))[0]
cdef inline uint16_t pg_level(const uint8_t* p) noexcept nogil:
    return (<const uint16_t*>(p + 26))[0]
cdef inline void pg_set_level(uint8_t* p, uint16_t v) noexcept nogil:
    (<uint16_t*>(p + 26))[0] = v
cdef inline uint32_t pg_next(const uint8_t* p) noexcept nogil:
    return (<const uint32_t*>(p + 28))[0]
cdef inline void pg_set_next(uint8_t* p, uint32_t v) noexcept nogil:
    (<uint32_t*>(p + 28))[0] = v
cdef inline uint32_t pg_prev(const uint8_t* p) noexcept nogil:
    return (<const uint32_t*>(p + 32))[0]
cdef inline void pg_set_prev(uint8_t* p, uint32_t v) noexcept nogil:
    (<uint32_t*>(p + 32))[0] = v
cdef inline uint32_t pg_aux(const uint8_t* p) noexcept nogil:
    return (<const uint32_t*>(p + 36))[0]
cdef inline void pg_set_aux(uint8_t* p, uint32_t v) noexcept nogil:
    (<uint32_t*>(p + 36))[0] = v

# ---- slot directory ------------------------------------------------------
cdef inline uint16_t slot_off(const uint8_t* p, int i) noexcept nogil:
    return (<const uint16_t*>(p + PAGE_HDR + SLOT_SIZE * i))[0]
cdef inline uint16_t slot_rawlen(const uint8_t* p, int i) noexcept nogil:
    return (<const uint16_t*>(p + PAGE_HDR + SLOT_SIZE * i + 2))[0]
cdef inline uint16_t slot_len(const uint8_t* p, int i) noexcept nogil:
    return slot_rawlen(p, i) & 0x7FFF
cdef inline bint slot_is_stub(const uint8_t* p, int i) noexcept nogil:
    return (slot_rawlen(p, i) & STUB_FLAG) != 0
cdef inline const uint8_t* slot_ptr(const uint8_t* p, int i) noexcept nogil:
    return p + slot_off(p, i)

# Space a new record of n bytes needs (record + one slot) at most.
cdef inline int page_total_free(const uint8_t* p) noexcept nogil:
    return <int>pg_free_hi(p) - <int>pg_free_lo(p) + <int>pg_frag(p)

# ---- bodies in page.pyx ----------------------------------------------------
cdef void page_init(uint8_t* p, uint32_t page_id, uint8_t ptype) noexcept nogil
cdef void page_seal(uint8_t* p) noexcept nogil
cdef int page_verify(const uint8_t* p, uint32_t expect_id) noexcept nogil
cdef void page_compact(uint8_t* p) noexcept nogil
cdef int page_insert(uint8_t* p, const uint8_t* data, int n, uint16_t flag) noexcept nogil
cdef int page_insert_at(uint8_t* p, int idx, const uint8_t* data, int n, uint16_t flag) noexcept nogil
cdef int page_update(uint8_t* p, int slot, const uint8_t* data, int n, uint16_t flag) noexcept nogil
cdef int page_delete(uint8_t* p, int slot) noexcept nogil
cdef int page_remove_at(uint8_t* p, int idx) noexcept nogil
cdef int page_room_for(const uint8_t* p, int n) noexcept nogil
cdef list page_check(const uint8_t* p, uint32_t expect_id)
