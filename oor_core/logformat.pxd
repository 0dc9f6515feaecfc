# oor_core/logformat.pxd -- C-level contract of the log format: constants, the record
# header's field offsets, inline getters, and the framing check.  The byte tables, the
# validity conditions and the Python-visible encoders/decoders are in logformat.pyx;
# nothing else in the project knows where a byte of the log lies.
#
# Who may cimport: oor_core/walscan.pyx (the scanning and redo loops).  Python code
# imports oor_core.logformat.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from oor_core.checksum cimport oor_crc32c
from oor_core.unaligned cimport load_u16, load_u32, load_u64

cdef enum:
    SEG_HEADER = 32         # segment header bytes, before the first record
    REC_HEADER = 36         # record header bytes, before the payload
    # record header fields (byte offsets; table in logformat.pyx)
    R_CRC = 0
    R_LENGTH = 4
    R_LSN = 8
    R_TXID = 16
    R_PREV = 24
    R_TYPE = 32
    # record types (type 1 is reserved: the BEGIN record is never written)
    T_RESERVED_BEGIN = 1
    T_UPDATE = 2
    T_COMMIT = 3
    T_ABORT = 4
    T_END = 5
    T_CLR = 6
    T_CKPT_BEGIN = 7
    T_CKPT_END = 8
    T_UNLOGGED = 9
    T_FIRST = 2             # the valid types are T_FIRST..T_LAST (condition 3)
    T_LAST = 9
    # payloads
    CLR_PREFIX = 8          # CLR: u64 undo-next LSN before its page list
    CKPT_PREFIX = 8         # CKPT_END: u64 LSN of its CKPT_BEGIN before the JSON
    PL_HEADER = 2           # page list: u16 page count
    PE_HEADER = 8           # page entry: u32 page id | u8 kind | u8 0 | u16 range count
    RANGE_HEADER = 4        # range: u16 offset | u16 length
    K_RANGES = 0            # page entry kinds
    K_IMAGE = 1
    K_NEW = 2
    MIN_RANGE_OFFSET = 16   # the checksum, page id and page LSN fields are never logged


# ---- record header ---------------------------------------------------------------
cdef inline uint32_t rec_length(const uint8_t* r) noexcept nogil:
    return load_u32(r + R_LENGTH)

cdef inline uint64_t rec_lsn(const uint8_t* r) noexcept nogil:
    return load_u64(r + R_LSN)

cdef inline uint64_t rec_txid(const uint8_t* r) noexcept nogil:
    return load_u64(r + R_TXID)

cdef inline uint64_t rec_prev(const uint8_t* r) noexcept nogil:
    return load_u64(r + R_PREV)

cdef inline uint8_t rec_type(const uint8_t* r) noexcept nogil:
    return r[R_TYPE]

cdef inline const uint8_t* rec_payload(const uint8_t* r) noexcept nogil:
    return r + REC_HEADER


cdef inline Py_ssize_t record_valid(const uint8_t* d, Py_ssize_t n, Py_ssize_t pos,
                                    uint64_t seg_start) noexcept nogil:
    """Length of the record at d[pos] if it passes validity conditions 1-3 (logformat.pyx), else 0.

    d[0:n] is a segment body (the bytes after its header) starting at LSN seg_start.
    Callers: walscan.valid_length (every record at open) and logformat.record_problem.
    """
    if pos + REC_HEADER > n:                                    # 1: the header lies inside
        return 0
    cdef uint32_t length = rec_length(d + pos)
    if length < REC_HEADER or pos + length > n:                 # 1: the record lies inside
        return 0
    if rec_lsn(d + pos) != seg_start + <uint64_t>pos:            # 2: LSN = stream position
        return 0
    cdef uint8_t t = rec_type(d + pos)
    if t < T_FIRST or t > T_LAST:                               # 3: a known type
        return 0
    if oor_crc32c(0, d + pos + R_LENGTH, length - R_LENGTH) != load_u32(d + pos + R_CRC):   # 2: CRC32C
        return 0
    return length


# ---- payloads (p points at the payload) ---------------------------------------------
cdef inline uint64_t clr_undo_next(const uint8_t* p) noexcept nogil:
    return load_u64(p)

cdef inline uint64_t ckpt_end_begin_lsn(const uint8_t* p) noexcept nogil:
    return load_u64(p)

cdef inline uint32_t unlogged_count(const uint8_t* p) noexcept nogil:
    return load_u32(p)

cdef inline uint32_t unlogged_page(const uint8_t* p, uint32_t i) noexcept nogil:
    return load_u32(p + 4 + 4 * i)

# page list (pl points at the u16 count; e at a page entry; g at a range)
cdef inline uint16_t pl_count(const uint8_t* pl) noexcept nogil:
    return load_u16(pl)

cdef inline uint32_t pe_page_id(const uint8_t* e) noexcept nogil:
    return load_u32(e)

cdef inline uint8_t pe_kind(const uint8_t* e) noexcept nogil:
    return e[4]

cdef inline uint16_t pe_nranges(const uint8_t* e) noexcept nogil:
    return load_u16(e + 6)

cdef inline uint16_t rg_offset(const uint8_t* g) noexcept nogil:
    return load_u16(g)

cdef inline uint16_t rg_length(const uint8_t* g) noexcept nogil:
    return load_u16(g + 2)

cdef inline Py_ssize_t rg_size(const uint8_t* g, uint8_t kind) noexcept nogil:
    """Bytes of the range at g: old and new bytes for kind 0, old bytes only otherwise."""
    return RANGE_HEADER + (2 if kind == K_RANGES else 1) * <Py_ssize_t>load_u16(g + 2)

cdef inline Py_ssize_t ranges_size(const uint8_t* g, uint8_t kind, int n) noexcept nogil:
    """Bytes of the n ranges starting at g (to step over them)."""
    cdef Py_ssize_t q = 0
    while n > 0:
        q += rg_size(g + q, kind)
        n -= 1
    return q
