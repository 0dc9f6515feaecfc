# oor_core/page.pyx -- bodies of the slotted-page operations.
# The byte table, the diagram and the validity conditions are in page.pxd.
# Every function here works on one 4096-byte buffer and never allocates a
# Python object, except page_check (tests and `oor check`).
from libc.string cimport memcpy, memmove, memset
from libc.stdlib cimport free, malloc, qsort
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from oor_core.checksum cimport oor_crc32c


cdef inline void _set_u16(uint8_t* p, int off, uint16_t v) noexcept nogil:
    (<uint16_t*>(p + off))[0] = v


cdef inline void _set_slot(uint8_t* p, int i, uint16_t off, uint16_t rawlen) noexcept nogil:
    cdef uint16_t* s = <uint16_t*>(p + PAGE_HDR + SLOT_SIZE * i)
    s[0] = off
    s[1] = rawlen


cdef void page_init(uint8_t* p, uint32_t page_id, uint8_t ptype) noexcept nogil:
    """Format an empty page of type ``ptype``.  Callers: buffer pool (allocate), tests."""
    memset(p, 0, PAGE_SIZE)
    pg_set_id(p, page_id)
    pg_set_type(p, ptype)
    _set_u16(p, 20, PAGE_HDR)
    _set_u16(p, 22, PAGE_SIZE)


cdef void page_seal(uint8_t* p) noexcept nogil:
    """Store the CRC32C of the page in its checksum field.  Caller: pager, before each write."""
    (<uint32_t*>p)[0] = 0
    (<uint32_t*>p)[0] = oor_crc32c(0, p, PAGE_SIZE)


cdef int page_verify(const uint8_t* p, uint32_t expect_id) noexcept nogil:
    """0 if the page passes conditions 1-2; 1 bad checksum; 2 wrong page id.  Caller: pager."""
    cdef uint32_t stored = pg_checksum(p)
    cdef uint32_t zero = 0
    cdef uint32_t crc = oor_crc32c(0, <const uint8_t*>&zero, 4)
    crc = oor_crc32c(crc, p + 4, PAGE_SIZE - 4)
    if crc != stored:
        return 1
    if pg_id(p) != expect_id:
        return 2
    return 0


cdef void page_compact(uint8_t* p) noexcept nogil:
    """Pack live records against the end of the page; slot ids do not change.  Any writer."""
    cdef uint8_t tmp[PAGE_SIZE]
    cdef int n = pg_nslots(p)
    cdef int hi = PAGE_SIZE
    cdef int i, ln
    cdef uint16_t off
    for i in range(n):
        off = slot_off(p, i)
        if off == 0:
            continue
        ln = slot_len(p, i)
        hi -= ln
        memcpy(tmp + hi, p + off, ln)
        _set_slot(p, i, <uint16_t>hi, slot_rawlen(p, i))
    memcpy(p + hi, tmp + hi, PAGE_SIZE - hi)
    memset(p + pg_free_lo(p), 0, hi - pg_free_lo(p))
    _set_u16(p, 22, <uint16_t>hi)
    _set_u16(p, 24, 0)


cdef inline int _first_empty_slot(const uint8_t* p) noexcept nogil:
    cdef int n = pg_nslots(p)
    cdef int i
    for i in range(n):
        if slot_off(p, i) == 0:
            return i
    return n


cdef int page_room_for(const uint8_t* p, int n) noexcept nogil:
    """1 if a heap insert of an n-byte record fits (after compaction if need be), else 0."""
    cdef int need = n
    if _first_empty_slot(p) == pg_nslots(p):
        need += SLOT_SIZE
    return need <= page_total_free(p)


cdef inline uint16_t _alloc(uint8_t* p, const uint8_t* data, int n, int need) noexcept nogil:
    # Caller has checked need <= total free; need counts the bytes taken from
    # the gap between free_lo and free_hi (record plus any new slot).
    if pg_free_hi(p) - pg_free_lo(p) < need:
        page_compact(p)
    cdef uint16_t hi = pg_free_hi(p) - n
    memcpy(p + hi, data, n)
    _set_u16(p, 22, hi)
    return hi


cdef int page_insert(uint8_t* p, const uint8_t* data, int n, uint16_t flag) noexcept nogil:
    """Heap insert: store a record under the first empty slot id (or a new one).

    Returns the slot id, or -1 when it does not fit; then the page is unchanged.
    """
    cdef int slot = _first_empty_slot(p)
    cdef int grow = SLOT_SIZE if slot == pg_nslots(p) else 0
    if n > MAX_INLINE or n + grow > page_total_free(p):
        return -1
    cdef uint16_t off = _alloc(p, data, n, n + grow)
    if grow:
        _set_u16(p, 18, pg_nslots(p) + 1)
        _set_u16(p, 20, pg_free_lo(p) + SLOT_SIZE)
    _set_slot(p, slot, off, <uint16_t>n | flag)
    return slot


cdef int page_insert_at(uint8_t* p, int idx, const uint8_t* data, int n, uint16_t flag) noexcept nogil:
    """Positional insert (B+ tree): slots idx.. shift up by one.  -1 if full (page unchanged)."""
    cdef int ns = pg_nslots(p)
    if idx < 0 or idx > ns or n > MAX_INLINE or n + SLOT_SIZE > page_total_free(p):
        return -1
    cdef uint16_t off = _alloc(p, data, n, n + SLOT_SIZE)
    memmove(p + PAGE_HDR + SLOT_SIZE * (idx + 1), p + PAGE_HDR + SLOT_SIZE * idx, SLOT_SIZE * (ns - idx))
    _set_u16(p, 18, ns + 1)
    _set_u16(p, 20, pg_free_lo(p) + SLOT_SIZE)
    _set_slot(p, idx, off, <uint16_t>n | flag)
    return idx


cdef int page_update(uint8_t* p, int slot, const uint8_t* data, int n, uint16_t flag) noexcept nogil:
    """Replace the record under a live slot id.  -1 if absent or if it does not fit (unchanged)."""
    if slot < 0 or slot >= pg_nslots(p) or slot_off(p, slot) == 0 or n > MAX_INLINE:
        return -1
    cdef int old = slot_len(p, slot)
    cdef uint16_t off = slot_off(p, slot)
    if n <= old:
        memcpy(p + off, data, n)
        _set_u16(p, 24, pg_frag(p) + (old - n))
        _set_slot(p, slot, off, <uint16_t>n | flag)
        return slot
    if n > page_total_free(p) + old:
        return -1
    # Retire the old bytes first so that compaction can reclaim them.
    _set_u16(p, 24, pg_frag(p) + old)
    _set_slot(p, slot, 0, 0)
    off = _alloc(p, data, n, n)
    _set_slot(p, slot, off, <uint16_t>n | flag)
    return slot


cdef int page_delete(uint8_t* p, int slot) noexcept nogil:
    """Heap delete: the slot becomes empty; other slot ids are untouched.  -1 if absent."""
    cdef int ns = pg_nslots(p)
    if slot < 0 or slot >= ns or slot_off(p, slot) == 0:
        return -1
    _set_u16(p, 24, pg_frag(p) + slot_len(p, slot))
    _set_slot(p, slot, 0, 0)
    # Trailing empty slots give their directory bytes back.
    while ns > 0 and slot_off(p, ns - 1) == 0:
        ns -= 1
    _set_u16(p, 18, ns)
    _set_u16(p, 20, PAGE_HDR + SLOT_SIZE * ns)
    return 0


cdef int page_remove_at(uint8_t* p, int idx) noexcept nogil:
    """Positional delete (B+ tree): slots idx+1.. shift down by one.  -1 if out of range."""
    cdef int ns = pg_nslots(p)
    if idx < 0 or idx >= ns:
        return -1
    if slot_off(p, idx) != 0:
        _set_u16(p, 24, pg_frag(p) + slot_len(p, idx))
    memmove(p + PAGE_HDR + SLOT_SIZE * idx, p + PAGE_HDR + SLOT_SIZE * (idx + 1), SLOT_SIZE * (ns - idx - 1))
    _set_u16(p, 18, ns - 1)
    _set_u16(p, 20, pg_free_lo(p) - SLOT_SIZE)
    return 0


cdef int _cmp_u64(const void* a, const void* b) noexcept nogil:
    cdef uint64_t x = (<const uint64_t*>a)[0], y = (<const uint64_t*>b)[0]
    return (x > y) - (x < y)


DEF SPAN_STACK = 1024       # > the most slots a valid page holds ((4096 - 40) / 4)


cdef list page_check(const uint8_t* p, uint32_t expect_id):
    """Violations of validity conditions 2-7 as strings (empty when valid).  Tests, `check`.

    In C but for the messages: the slots' spans are sorted as packed integers (offset, end, slot), the
    order of the (offset, end, slot) tuples this sorted before.  Why: a tuple and three ints per slot, a
    sort and a zip per page were ~25% of `oor check` on the real data (6,310 pages, ~180,000 slots)."""
    problems = []
    cdef uint32_t pid = pg_id(p)
    cdef int ptype = pg_type(p)
    cdef int ns = pg_nslots(p), lo = pg_free_lo(p), hi = pg_free_hi(p)
    cdef int i, n = 0, off, ln
    cdef Py_ssize_t live = 0
    cdef uint64_t stack_spans[SPAN_STACK]
    cdef uint64_t* spans = stack_spans
    cdef uint64_t a, b
    if pid != expect_id:
        problems.append(f"page {expect_id}: header names page {pid}")
    if ptype > PT_MAX:
        problems.append(f"page {expect_id}: unknown page type {ptype}")
    if lo != PAGE_HDR + SLOT_SIZE * ns:
        problems.append(f"page {expect_id}: free_lo {lo} != 40 + 4 * {ns}")
    if not (lo <= hi <= PAGE_SIZE):
        problems.append(f"page {expect_id}: free bounds out of order ({lo}, {hi})")
        return problems
    if PAGE_HDR + SLOT_SIZE * ns > PAGE_SIZE:
        # a slot count the free bounds disagree with: its directory would run past the page (the slots
        # are not read -- they lie in memory that is not this page's)
        problems.append(f"page {expect_id}: slot directory of {ns} slots runs past the page")
        return problems
    if ns > SPAN_STACK:
        spans = <uint64_t*>malloc(ns * sizeof(uint64_t))
        if spans == NULL:
            raise MemoryError()
    try:
        for i in range(ns):
            off = slot_off(p, i)
            ln = slot_len(p, i)
            if off == 0:
                if slot_rawlen(p, i) != 0:
                    problems.append(f"page {expect_id}: empty slot {i} has length {ln}")
                continue
            if off < hi or off + ln > PAGE_SIZE:
                problems.append(f"page {expect_id}: slot {i} [{off}, {off + ln}) outside the record area "
                                f"[{hi}, 4096)")
            if slot_is_stub(p, i) and ln != STUB_SIZE:
                problems.append(f"page {expect_id}: slot {i} overflow stub has length {ln}")
            # offset < 2**16, end < 2**17, slot < 2**16: 20 bits each keep the tuple order
            spans[n] = (<uint64_t>off << 40) | (<uint64_t>(off + ln) << 20) | <uint64_t>i
            n += 1
            live += ln
        qsort(spans, n, sizeof(uint64_t), _cmp_u64)
        for i in range(n - 1):
            a, b = spans[i], spans[i + 1]
            if (b >> 40) < ((a >> 20) & 0xFFFFF):
                problems.append(f"page {expect_id}: slots {a & 0xFFFFF} and {b & 0xFFFFF} overlap")
    finally:
        if spans != stack_spans:
            free(spans)
    if live + pg_frag(p) != PAGE_SIZE - hi:
        problems.append(f"page {expect_id}: live bytes {live} + fragmented {pg_frag(p)} != record area "
                        f"{PAGE_SIZE - hi}")
    if ptype == PT_OVERFLOW and (ns != 0 or pg_aux(p) > OVERFLOW_PAYLOAD):
        problems.append(f"page {expect_id}: overflow page with {ns} slots, payload {pg_aux(p)}")
    return problems
