# oor_core/elset_layout.pxd -- C-level offsets of the registry's primary key and of the
# element-set record, for Cython code that reads them straight from leaf pages.
#
# Owners of the formats (the byte tables and validity conditions live there, not here):
#   primary key  -> oor/keys.py         (``elsets`` key, 16 bytes, big-endian; tombstone values)
#   record       -> oor/codec/record.py (little-endian; this file mirrors its table)
# Both owners name this file in their header.  Callers: oor_core/batch.pyx, oor_core/reads.pyx (cimport).
# A change of either table changes this file in the same commit.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy

cdef enum:
    # ---- primary key (oor/keys.py)
    KEY_SIZE = 16
    KEY_NORAD = 0          # u32 BE
    KEY_EPOCH = 4          # i64 BE, sign bit flipped
    KEY_SEQ = 12           # u16 BE, arrival order within (norad, epoch)
    KEY_SOURCE = 14        # u16 BE
    VAL_TOMBSTONE = 0xFF   # first byte of a tombstone value (oor/keys.py), never of a record

    # ---- record (oor/codec/record.py)
    REC_VERSION_1 = 1      # no trailer, flag bits 0-2 only
    REC_VERSION_2 = 2      # the version encode_record writes
    REC_KIND_TEXT = 1
    REC_KIND_FIELDS = 2
    REC_F_NAME = 1
    REC_F_SOURCE = 2
    REC_F_PREFIX = 4
    REC_F_ARRIVAL = 8      # trailer: i64 arrival
    REC_F_ORIGIN = 16      # trailer: u16 length + UTF-8
    REC_F_META = 32        # trailer: u16 count, then (u8 key length, key, u32 value length, value) pairs
    REC_F_ELIDED = 64      # TEXT without its lines: one style byte at REC_L1 instead
    REC_VERSION = 0        # u8
    REC_KIND = 1           # u8
    REC_FLAGS = 2          # u8
    REC_SLEN = 3           # u8   S
    REC_NLEN = 4           # u16  N
    REC_NORAD = 6          # u32
    REC_CLASS = 10         # u8 ASCII
    REC_EPHEM = 11         # u8
    REC_EPOCH = 12         # i64 us since 1950
    REC_MM = 20            # f64 rev/day
    REC_NDOT = 28          # f64
    REC_NDDOT = 36         # f64
    REC_BSTAR = 44         # f64
    REC_INCL = 52          # f64 deg
    REC_RAAN = 60          # f64 deg
    REC_ECC = 68           # f64
    REC_ARGP = 76          # f64 deg
    REC_MA = 84            # f64 deg
    REC_REV = 92           # u32
    REC_ELNUM = 96         # u16
    REC_INTL_LEN = 98      # u8  D
    REC_INTL = 99          # 8 bytes ASCII, TLE form
    REC_INTL_MAX = 8
    REC_FIXED_END = 107    # end of the fields block = T for FIELDS records
    REC_L1 = 107           # u8 (TEXT only)
    REC_L2 = 108           # u8 (TEXT only)
    REC_TEXT = 109         # line 1 then line 2 (TEXT only)


cdef inline uint32_t key_norad(const uint8_t* k) noexcept nogil:
    return (<uint32_t>k[0] << 24) | (<uint32_t>k[1] << 16) | (<uint32_t>k[2] << 8) | k[3]

cdef inline int64_t key_epoch(const uint8_t* k) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(KEY_EPOCH, KEY_EPOCH + 8):
        v = (v << 8) | k[i]
    return <int64_t>(v ^ (<uint64_t>1 << 63))

cdef inline uint16_t key_source(const uint8_t* k) noexcept nogil:
    return <uint16_t>((<uint16_t>k[KEY_SOURCE] << 8) | k[KEY_SOURCE + 1])

cdef inline double rec_f64(const uint8_t* r, int off) noexcept nogil:
    cdef double d
    memcpy(&d, r + off, 8)       # little-endian host (x86-64, aarch64); record.py fixes LE
    return d

cdef inline int64_t rec_i64(const uint8_t* r, int off) noexcept nogil:
    cdef int64_t v
    memcpy(&v, r + off, 8)
    return v

cdef inline uint32_t rec_u32(const uint8_t* r, int off) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, r + off, 4)
    return v

cdef inline uint16_t rec_u16(const uint8_t* r, int off) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, r + off, 2)
    return v

# Offset of the name (T) in a record of kind TEXT or FIELDS; the source follows the name.
cdef inline int rec_name_off(const uint8_t* r) noexcept nogil:
    if r[REC_KIND] == REC_KIND_TEXT:
        if r[REC_FLAGS] & REC_F_ELIDED:
            return REC_FIXED_END + 1
        return REC_TEXT + r[REC_L1] + r[REC_L2]
    return REC_FIXED_END

# Length check of a record of rlen bytes whose header was read (version 1 or 2): True when the
# name, source and trailer end exactly at rlen (record.py conditions 4 and 10-12, lengths only).
cdef inline bint rec_length_ok(const uint8_t* r, Py_ssize_t rlen) noexcept nogil:
    cdef Py_ssize_t off = rec_name_off(r)
    cdef uint16_t j, nm
    if r[REC_FLAGS] & REC_F_NAME:
        off += rec_u16(r, REC_NLEN)
    off += r[REC_SLEN]
    if r[REC_VERSION] == REC_VERSION_1:
        return off == rlen
    if r[REC_FLAGS] & REC_F_ARRIVAL:
        off += 8
    if r[REC_FLAGS] & REC_F_ORIGIN:
        if off + 2 > rlen:
            return False
        off += 2 + rec_u16(r, <int>off)
    if r[REC_FLAGS] & REC_F_META:
        if off + 2 > rlen:
            return False
        nm = rec_u16(r, <int>off)
        off += 2
        for j in range(nm):
            if off + 1 > rlen:
                return False
            off += 1 + r[off]
            if off + 4 > rlen:
                return False
            off += 4 + rec_u32(r, <int>off)
    return off == rlen


# The arrival stamp of a record (record.py trailer; flag bit 3), 0 when it has none.  Caller: batch.pyx.
cdef inline int64_t rec_arrival(const uint8_t* r) noexcept nogil:
    cdef Py_ssize_t off
    if not (r[REC_FLAGS] & REC_F_ARRIVAL):
        return 0
    off = rec_name_off(r)
    if r[REC_FLAGS] & REC_F_NAME:
        off += rec_u16(r, REC_NLEN)
    if r[REC_FLAGS] & REC_F_SOURCE:
        off += r[REC_SLEN]
    return rec_i64(r, <int>off)
