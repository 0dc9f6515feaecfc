# oor_core/logformat.pyx -- the write-ahead log's on-disk format.  Format owner.
#
# This module (with logformat.pxd: constants, header offsets, inline getters, the
# framing check) is the one place that knows where a byte of the log lies: segment
# header, record framing (header, CRC32C), record types, payload layouts, and their
# encoders and decoders.  Everyone else calls it.
#
# Who may import: oor.wal (segments: it frames, validates and parses records here),
# oor.storage (encodes the payloads it logs), oor.recovery (decodes for undo),
# tests.  Who may cimport: oor_core/walscan.pyx (the scanning and redo loops).
#
# Files.  ``<db>-wal/`` holds numbered segment files ``<start LSN, 16 hex digits>.wal``
# (oor/wal.py keeps them).  An LSN is a record's byte position in the endless log
# stream; a segment starting at LSN S holds the stream bytes from S on, after its
# 32-byte header.  The first LSN of a new log is 4096 (so 0 can mean "none").
# Byte order: little-endian throughout, except the version in the segment magic.
#
# Segment header (32 bytes):
#   OFFSET SIZE DESCRIPTION
#   0      6    magic b"OORWAL"
#   6      2    log format version, big-endian: 1
#   8      8    start LSN (u64), equal to the number in the file name
#   16     12   reserved, zero
#   28     4    CRC32C of bytes 0..27
#
# A segment header is valid if and only if:
#   S1. its 32 bytes are present, the magic matches and the CRC32C matches;
#   S2. the version is 1 -- a header valid by S1 in every other respect but of
#       another version raises WalError naming the file (a log of another format
#       is never taken for a torn one);
#   S3. its start LSN equals the file name's and the end of the previous kept
#       segment's records.
# Checked by segment_start() (S1, S2) and WAL.open (S3).  A segment failing S1 or S3
# ends the log: it and every later one are a torn tail.
#
# Record (36-byte header, then the payload):
#   OFFSET SIZE DESCRIPTION
#   0      4    CRC32C of bytes 4 .. length-1
#   4      4    length: bytes of the whole record, header included (>= 36)
#   8      8    LSN of this record
#   16     8    transaction id (0 for checkpoint records)
#   24     8    previous LSN of the same transaction (0 = first)
#   32     1    type (below)
#   33     3    reserved, zero
#   36     ...  payload (below)
#
# Types:
#   1 BEGIN       reserved, never written (and invalid, condition 3): a transaction
#                 begins with its first record (analysis makes its entry there), so a
#                 BEGIN record would cost one more append per transaction and would
#                 log transactions that changed nothing.  The number stays reserved.
#   2 UPDATE      a page list: the changes of one or more tree operations
#   3 COMMIT      empty: the transaction is committed once this record is durable
#   4 ABORT       empty: undo follows (as CLRs), then END
#   5 END         empty: the transaction is finished (undone, or nothing to undo)
#   6 CLR         u64 undo-next LSN, then a page list: one undone UPDATE
#   7 CKPT_BEGIN  empty
#   8 CKPT_END    u64 LSN of its CKPT_BEGIN, then UTF-8 JSON
#                 {"txns": {txid: [first_lsn, last_lsn]}} of the transactions active then
#   9 UNLOGGED    u32 count, then count u32 page ids: pages a bulk build wrote without
#                 logging their contents; the transaction makes them durable in the data
#                 file before its COMMIT.  Redo drops its copy of each (the file's is
#                 newer); the next logged change to such a page is a full image.
#
# Page list: u16 page count, then per page
#   u32 page id | u8 kind | u8 0 | u16 range count, then by kind:
#   0 (byte ranges): per range u16 offset | u16 length | old bytes | new bytes
#   1 (full image):  the 4096-byte page after the change, then per range
#                    u16 offset | u16 length | old bytes (the new bytes are in the image)
#   2 (new page):    the 4096-byte page after the change; range count 0 (a page new at
#                    the end of the file needs no undo: undoing the header's page count
#                    makes it unreachable)
# Offsets are >= 16: the checksum, page id and LSN fields are never logged; redo
# stamps the record's LSN.  A full image is written for the first change to a page
# after each CKPT_BEGIN (torn-page repair, invariant 6): that choice is the logger's
# (the imaged set passed to encode_changes).
#
# A record is valid if and only if:
#   1. its 36-byte header lies inside the segment, length >= 36, and the whole record
#      lies inside the segment;
#   2. its LSN equals its position in the stream and its CRC32C matches;
#   3. its type is one of 2..9;
#   4. its payload has exactly its type's layout (above).
# Conditions 1-3 are checked by record_valid() (logformat.pxd) for every record when
# the log is opened (walscan.valid_length) and by record_problem() for a record read
# at an LSN (WAL.read); the log is the run of records passing 1-3, and WAL.open cuts a
# torn tail after it.  Condition 4 is checked by payload_problem() (`oor check`, via
# WAL.check), by decode_pages() (undo), and, for what redo reads, by walscan.redo
# (images and ranges must lie inside the record and the page body); a record passing
# 1-3 but not 4 was written wrong: corruption, never a torn tail.
import collections
import json

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from oor_core.page cimport PAGE_SIZE
from oor_core.errors import WalError

__all__ = ["Record", "PageChange", "FIRST_LSN", "SEG_HEADER", "REC_HEADER", "SEG_MAGIC", "VERSION",
           "UPDATE", "COMMIT", "ABORT", "END", "CLR", "CKPT_BEGIN", "CKPT_END", "UNLOGGED", "TYPE_NAMES",
           "segment_header", "segment_start", "frame", "read_record", "record_length", "record_problem",
           "encode_changes", "encode_pages", "decode_pages", "page_ids", "apply_page", "encode_clr", "decode_clr", "encode_unlogged",
           "decode_unlogged", "encode_ckpt_end", "decode_ckpt_end", "payload_problem", "EMPTY_PAGE_LIST"]

FIRST_LSN = 4096
SEG_MAGIC = b"OORWAL"
VERSION = 1
# (the Python names of the C constants in logformat.pxd)
SEG_HEADER_SIZE = SEG_HEADER
REC_HEADER_SIZE = REC_HEADER
RESERVED_BEGIN = T_RESERVED_BEGIN
UPDATE = T_UPDATE
COMMIT = T_COMMIT
ABORT = T_ABORT
END = T_END
CLR = T_CLR
CKPT_BEGIN = T_CKPT_BEGIN
CKPT_END = T_CKPT_END
UNLOGGED = T_UNLOGGED
TYPE_NAMES = {RESERVED_BEGIN: "BEGIN", UPDATE: "UPDATE", COMMIT: "COMMIT", ABORT: "ABORT", END: "END",
              CLR: "CLR", CKPT_BEGIN: "CKPT_BEGIN", CKPT_END: "CKPT_END", UNLOGGED: "UNLOGGED"}
EMPTY_PAGE_LIST = b"\0\0"           # a page list of no pages (a CLR of an undo step that changed nothing)

Record = collections.namedtuple("Record", "lsn txid prev_lsn type payload length")
Record.end = property(lambda r: r.lsn + r.length)
# One page's change in an UPDATE or CLR: image (bytes or None) and [(offset, old, new)].
PageChange = collections.namedtuple("PageChange", "page_id image ranges")


# ---- segment header ------------------------------------------------------------------
def segment_header(uint64_t start):
    """The 32-byte header of a segment starting at LSN start.  Caller: WAL (rotation)."""
    cdef bytes h = SEG_MAGIC + VERSION.to_bytes(2, "big") + start.to_bytes(8, "little") + bytes(12)
    cdef uint32_t crc = oor_crc32c(0, <const uint8_t*>PyBytes_AS_STRING(h), 28)
    return h + crc.to_bytes(4, "little")


def segment_start(const uint8_t[::1] head, str name=""):
    """The start LSN a segment header records, or None when it fails S1 (a torn header).

    Raises WalError naming the file (name) when the header is sound but of another
    version (S2).  Caller: WAL.open.
    """
    if head.shape[0] < SEG_HEADER:
        return None
    cdef const uint8_t* p = &head[0]
    if p[0:6] != SEG_MAGIC or oor_crc32c(0, p, 28) != load_u32(p + 28):
        return None
    cdef int version = (p[6] << 8) | p[7]
    if version != VERSION:
        raise WalError(f"{name}: log segment of format version {version}; this build reads version "
                       f"{VERSION} (open the database with the oor version that wrote it and close it "
                       f"cleanly, or remove the -wal directory if the database was closed cleanly)")
    return load_u64(p + 8)


# ---- framing ----------------------------------------------------------------------
def frame(bytearray buf, uint8_t rtype, uint64_t txid, uint64_t prev_lsn, uint64_t lsn,
          const uint8_t[::1] payload):
    """Append one framed record (header, payload, CRC32C) to buf; returns its length.

    Caller: WAL.append, under its lock (the hot path of every logged change: no
    Python object is made).
    """
    cdef Py_ssize_t n = payload.shape[0]
    cdef Py_ssize_t length = REC_HEADER + n
    cdef Py_ssize_t at = len(buf)
    if length > 0xFFFFFFFF:
        raise WalError("log record larger than 4 GiB")
    PyByteArray_Resize(buf, at + length)
    cdef uint8_t* r = <uint8_t*>PyByteArray_AS_STRING(buf) + at
    cdef uint32_t len32 = <uint32_t>length
    memcpy(r + R_LENGTH, &len32, 4)
    memcpy(r + R_LSN, &lsn, 8)
    memcpy(r + R_TXID, &txid, 8)
    memcpy(r + R_PREV, &prev_lsn, 8)
    r[R_TYPE] = rtype
    r[R_TYPE + 1] = 0
    r[R_TYPE + 2] = 0
    r[R_TYPE + 3] = 0
    if n:
        memcpy(r + REC_HEADER, &payload[0], n)
    cdef uint32_t crc = oor_crc32c(0, r + R_LENGTH, length - R_LENGTH)
    memcpy(r + R_CRC, &crc, 4)
    return length


def record_length(const uint8_t[::1] data, Py_ssize_t pos=0):
    """The length field of the record header at data[pos], or 0 when the header is not all there."""
    if pos < 0 or pos + REC_HEADER > data.shape[0]:
        return 0
    return rec_length(&data[pos])


def read_record(const uint8_t[::1] data, Py_ssize_t pos=0):
    """The Record at data[pos] of a run already validated (conditions 1-3).  Callers: WAL.scan, WAL.read."""
    cdef const uint8_t* r = &data[pos]
    cdef uint32_t length = rec_length(r)
    return Record(rec_lsn(r), rec_txid(r), rec_prev(r), rec_type(r),
                  PyBytes_FromStringAndSize(<const char*>r + REC_HEADER, length - REC_HEADER), length)


def record_problem(const uint8_t[::1] data, uint64_t lsn):
    """None when data holds exactly one record valid at LSN lsn (conditions 1-3), else what is wrong.

    Caller: WAL.read (random access for undo).
    """
    cdef Py_ssize_t n = data.shape[0]
    if n < REC_HEADER or rec_length(&data[0]) != n or rec_lsn(&data[0]) != lsn:
        return f"no log record at LSN {lsn}"
    if record_valid(&data[0], n, 0, lsn) == 0:
        return f"log record at LSN {lsn} is damaged"
    return None


# ---- page lists (UPDATE, CLR) -----------------------------------------------------------
def encode_changes(list changes, set imaged):
    """The page list payload for captured page changes; None when nothing changed.

    changes: [(page_id, before or None, after, [(offset, length)])] as
    BufferPool.captured_changes() gives them.  A page new at the end of the
    file (before None) is logged as its image (kind 2); the first change to a
    page not in imaged as a full image plus its old bytes (kind 1), and it joins
    imaged; any other as byte ranges with old and new bytes (kind 0).
    Callers: the storage layer's logger; tests (the one encoder of page lists).
    """
    cdef Py_ssize_t total = PL_HEADER, npages = 0
    cdef list kinds = []
    cdef int kind
    for pid, before, after, ranges in changes:
        if not ranges:
            kinds.append(-1)
            continue
        npages += 1
        if before is None:
            kind = K_NEW
            total += PE_HEADER + PAGE_SIZE
        else:
            kind = K_IMAGE if pid not in imaged else K_RANGES
            total += PE_HEADER + (PAGE_SIZE if kind == K_IMAGE else 0)
            for r in ranges:
                total += RANGE_HEADER + (r[1] if kind == K_IMAGE else 2 * r[1])
        kinds.append(kind)
    if npages == 0:
        return None
    if npages > 0xFFFF:
        raise ValueError("too many pages in one log record")
    cdef bytes out = PyBytes_FromStringAndSize(NULL, total)
    cdef uint8_t* o = <uint8_t*>PyBytes_AS_STRING(out)
    cdef uint16_t u16
    cdef uint32_t u32
    cdef Py_ssize_t q = PL_HEADER, i = 0
    cdef const uint8_t* a
    cdef const uint8_t* b
    cdef int r_off, r_len
    u16 = <uint16_t>npages
    memcpy(o, &u16, 2)
    for pid, before, after, ranges in changes:
        kind = kinds[i]
        i += 1
        if kind < 0:
            continue
        imaged.add(pid)
        u32 = pid
        memcpy(o + q, &u32, 4)
        o[q + 4] = <uint8_t>kind
        o[q + 5] = 0
        u16 = 0 if kind == K_NEW else <uint16_t>len(ranges)
        memcpy(o + q + 6, &u16, 2)
        q += PE_HEADER
        b = <const uint8_t*>PyBytes_AS_STRING(after)
        if kind != K_RANGES:
            memcpy(o + q, b, PAGE_SIZE)
            q += PAGE_SIZE
        if kind == K_NEW:
            continue
        a = <const uint8_t*>PyBytes_AS_STRING(before)
        for r_off, r_len in ranges:
            u16 = <uint16_t>r_off
            memcpy(o + q, &u16, 2)
            u16 = <uint16_t>r_len
            memcpy(o + q + 2, &u16, 2)
            memcpy(o + q + RANGE_HEADER, a + r_off, r_len)
            q += RANGE_HEADER + r_len
            if kind == K_RANGES:
                memcpy(o + q, b + r_off, r_len)
                q += r_len
    assert q == total
    return out


cdef enum:
    MAX_RUNS = 512          # runs of one page diff: >= 1 byte each, >= 8 equal bytes apart, so <= 454


cdef extern from *:
    int __builtin_ctzll(unsigned long long x) nogil     # GCC/Clang: the index of the lowest set bit


cdef const uint8_t* _page_ptr(obj) except NULL:
    """The bytes of a 4096-byte page image (bytes only: the capture's copies)."""
    if type(obj) is not bytes or PyBytes_GET_SIZE(obj) != PAGE_SIZE:
        raise ValueError("page images are 4096-byte bytes objects")
    return <const uint8_t*>PyBytes_AS_STRING(obj)


cdef uint8_t _ZERO[PAGE_SIZE]       # the before-image of a page new at the end of the file (static: zeros)


cdef int _diff_runs(const uint8_t* a, const uint8_t* b, uint16_t* runs) noexcept nogil:
    """Runs (runs[2k] offset, runs[2k+1] length) where a and b differ in [16, 4096); returns their count.

    Exactly capture.page_diff's runs (runs fewer than 8 equal bytes apart merge), so a page list
    is byte for byte what encode_changes makes of captured_changes().  Equal 8-byte words are
    skipped a word at a time, and inside a differing word the first differing byte is found from
    the XOR's trailing zero bits (little-endian loads); a run's end likewise, from the lowest zero
    byte of the XOR (a page rewritten by a split or a move differs in most of its bytes)."""
    cdef int i = MIN_RANGE_OFFSET, start, last_end = -100, n = 0
    cdef uint64_t x, y, d, z
    while i < PAGE_SIZE:
        if (i & 7) == 0:
            memcpy(&x, a + i, 8)
            memcpy(&y, b + i, 8)
            d = x ^ y
            if d == 0:
                i += 8
                continue
            i += __builtin_ctzll(d) >> 3
        elif a[i] == b[i]:
            i += 1
            continue
        start = i
        while i < PAGE_SIZE:                 # to the first equal byte: a zero byte of the XOR
            if (i & 7) == 0:
                memcpy(&x, a + i, 8)
                memcpy(&y, b + i, 8)
                d = x ^ y
                z = (d - 0x0101010101010101ULL) & ~d & 0x8080808080808080ULL   # exact at its lowest bit
                if z == 0:
                    i += 8
                    continue
                i += __builtin_ctzll(z) >> 3
                break
            if a[i] == b[i]:
                break
            i += 1
        if n and start - last_end < 8:
            runs[2 * n - 1] = <uint16_t>(i - runs[2 * n - 2])
        else:
            runs[2 * n] = <uint16_t>start
            runs[2 * n + 1] = <uint16_t>(i - start)
            n += 1
        last_end = i
    return n


def encode_pages(list pages, set imaged):
    """encode_changes for [(page_id, before or None, after)] (BufferPool.capture.captured_pages()):
    the same payload byte for byte, with the diff done here in C.  None when nothing changed.

    Why: at 1M sets the logger diffed and encoded 559,188 pages in 8,771 records, 12 M ranges,
    each run a Python tuple that encode_changes then walked (diff_runs, tuple and int churn and
    the garbage collector it woke were ~20% of a perf profile of the ingest).  Here the runs of
    a page live in a C array; nothing but the payload is allocated.  Caller: the storage
    layer's logger (its strict-verify mode keeps encode_changes, which needs the ranges)."""
    cdef Py_ssize_t n = len(pages), i, k
    if n == 0:
        return None
    cdef uint16_t* runs = <uint16_t*>malloc(n * 2 * MAX_RUNS * sizeof(uint16_t) + n * (sizeof(int) + 1))
    if runs == NULL:
        raise MemoryError()
    cdef int* nruns = <int*>(runs + n * 2 * MAX_RUNS)
    cdef int8_t* kinds = <int8_t*>(nruns + n)
    cdef Py_ssize_t total = PL_HEADER, npages = 0, q = PL_HEADER
    cdef const uint8_t* a
    cdef const uint8_t* b
    cdef uint16_t* r
    cdef uint8_t* o
    cdef uint16_t u16
    cdef uint32_t u32
    cdef int nr, kind
    cdef bytes out
    try:
        for i in range(n):
            pid, before, after = pages[i]
            b = _page_ptr(after)
            a = &_ZERO[0] if before is None else _page_ptr(before)
            r = runs + i * 2 * MAX_RUNS
            nr = _diff_runs(a, b, r)
            nruns[i] = nr
            if nr == 0:
                kinds[i] = -1
                continue
            npages += 1
            if before is None:
                kinds[i] = K_NEW
                total += PE_HEADER + PAGE_SIZE
                continue
            kind = K_IMAGE if pid not in imaged else K_RANGES
            kinds[i] = kind
            total += PE_HEADER + (PAGE_SIZE if kind == K_IMAGE else 0)
            for k in range(nr):
                total += RANGE_HEADER + (r[2 * k + 1] if kind == K_IMAGE else 2 * r[2 * k + 1])
        if npages == 0:
            return None
        if npages > 0xFFFF:
            raise ValueError("too many pages in one log record")
        out = PyBytes_FromStringAndSize(NULL, total)
        o = <uint8_t*>PyBytes_AS_STRING(out)
        u16 = <uint16_t>npages
        memcpy(o, &u16, 2)
        for i in range(n):
            kind = kinds[i]
            if kind < 0:
                continue
            pid, before, after = pages[i]
            imaged.add(pid)
            u32 = pid
            memcpy(o + q, &u32, 4)
            o[q + 4] = <uint8_t>kind
            o[q + 5] = 0
            nr = 0 if kind == K_NEW else nruns[i]
            u16 = <uint16_t>nr
            memcpy(o + q + 6, &u16, 2)
            q += PE_HEADER
            b = _page_ptr(after)
            if kind != K_RANGES:
                memcpy(o + q, b, PAGE_SIZE)
                q += PAGE_SIZE
            if kind == K_NEW:
                continue
            a = _page_ptr(before)
            r = runs + i * 2 * MAX_RUNS
            for k in range(nr):
                memcpy(o + q, r + 2 * k, 4)                    # u16 offset | u16 length (little-endian)
                memcpy(o + q + RANGE_HEADER, a + r[2 * k], r[2 * k + 1])
                q += RANGE_HEADER + r[2 * k + 1]
                if kind == K_RANGES:
                    memcpy(o + q, b + r[2 * k], r[2 * k + 1])
                    q += r[2 * k + 1]
        assert q == total
        return out
    finally:
        free(runs)


def decode_pages(payload, Py_ssize_t start=0):
    """[PageChange] from the page list at payload[start:] (raises ValueError when malformed: condition 4).

    ranges are (offset, old, new) for every kind (new taken from the image for kind 1;
    none for a new page).  Callers: recovery (undo), payload_problem, tests.
    """
    cdef const uint8_t[::1] mv = payload
    cdef Py_ssize_t n = mv.shape[0], pos = start + PL_HEADER
    if start < 0 or pos > n:
        raise ValueError("truncated page list")
    cdef const uint8_t* d = &mv[0]
    cdef int count = pl_count(d + start), nr
    cdef uint8_t kind
    cdef uint32_t pid
    cdef Py_ssize_t off, ln
    cdef list out = [], ranges
    while count > 0:
        count -= 1
        if pos + PE_HEADER > n:
            raise ValueError("truncated page entry")
        pid = pe_page_id(d + pos)
        kind = pe_kind(d + pos)
        nr = pe_nranges(d + pos)
        pos += PE_HEADER
        image = None
        if kind == K_IMAGE or kind == K_NEW:
            if pos + PAGE_SIZE > n:
                raise ValueError("truncated page image")
            image = PyBytes_FromStringAndSize(<const char*>d + pos, PAGE_SIZE)
            pos += PAGE_SIZE
            if kind == K_NEW and nr:
                raise ValueError("a new-page change carries no ranges")
        elif kind != K_RANGES:
            raise ValueError(f"unknown page change kind {kind}")
        ranges = []
        while nr > 0:
            nr -= 1
            if pos + RANGE_HEADER > n:
                raise ValueError("truncated range")
            off = rg_offset(d + pos)
            ln = rg_length(d + pos)
            if off < MIN_RANGE_OFFSET or off + ln > PAGE_SIZE:
                raise ValueError(f"range [{off}, {off + ln}) outside the page body")
            if rg_size(d + pos, kind) + pos > n:
                raise ValueError("truncated range")
            pos += RANGE_HEADER
            old = PyBytes_FromStringAndSize(<const char*>d + pos, ln)
            pos += ln
            if kind == K_RANGES:
                new = PyBytes_FromStringAndSize(<const char*>d + pos, ln)
                pos += ln
            else:
                new = image[off:off + ln]
            ranges.append((off, old, new))
        out.append(PageChange(pid, image, ranges))
    if pos != n:
        raise ValueError(f"{n - pos} stray bytes after the page list")
    return out


def encode_clr(uint64_t undo_next, page_list):
    """A CLR payload: the undo-next LSN, then a page list (encode_changes, or EMPTY_PAGE_LIST)."""
    return (<bytes>PyBytes_FromStringAndSize(<const char*>&undo_next, 8)) + page_list


cdef Py_ssize_t _entry_end(const uint8_t* d, Py_ssize_t pos, Py_ssize_t n) except -1:
    """The offset just past the page entry at d[pos:n] (its header, image and ranges), checked to fit.

    Callers: page_ids and apply_page, stepping over entries without decoding them."""
    if pos + PE_HEADER > n:
        raise ValueError("truncated page entry")
    cdef uint8_t kind = pe_kind(d + pos)
    cdef int nr = pe_nranges(d + pos)
    pos += PE_HEADER
    if kind == K_IMAGE or kind == K_NEW:
        pos += PAGE_SIZE
    while nr > 0:
        nr -= 1
        if pos + RANGE_HEADER > n:
            raise ValueError("truncated range")
        pos += rg_size(d + pos, kind)
    if pos > n:
        raise ValueError("truncated page entry")
    return pos


def page_ids(payload, Py_ssize_t start=0):
    """The page ids of the page list at payload[start:], in order (no bytes copied).

    Caller: a reader process indexing the log it follows (oor.storage, oor/snapshots.py).
    Raises ValueError when the list does not fit the payload (condition 4)."""
    cdef const uint8_t[::1] mv = payload
    cdef Py_ssize_t n = mv.shape[0], pos = start + PL_HEADER
    if start < 0 or pos > n:
        raise ValueError("truncated page list")
    cdef const uint8_t* d = &mv[0]
    cdef int count = pl_count(d + start)
    cdef list out = []
    while count > 0:
        count -= 1
        if pos + PE_HEADER > n:
            raise ValueError("truncated page entry")
        out.append(pe_page_id(d + pos))
        pos = _entry_end(d, pos, n)
    return out


def apply_page(payload, Py_ssize_t start, uint32_t page_id, bytearray page, bint forward):
    """Apply page_id's change in the page list at payload[start:] to page (a 4096-byte bytearray) in place:
    forward, the state after the change (the image, or each range's new bytes); else the state before it
    (each range's old bytes, newest last applied first by the caller).  Nothing is allocated and no other
    page's change is decoded.  True when the list holds page_id, False when it does not.

    Caller: the snapshot layer rolling one page along the log (oor/snapshots.py); a roll used to decode
    the whole page list (up to 64 pages, a bytes object per range) to apply one page.
    Raises ValueError when the list does not fit the payload or a range leaves the page body (condition 4)."""
    cdef const uint8_t[::1] mv = payload
    cdef Py_ssize_t n = mv.shape[0], pos = start + PL_HEADER, off, ln
    if start < 0 or pos > n:
        raise ValueError("truncated page list")
    if len(page) != PAGE_SIZE:
        raise ValueError(f"a page is {PAGE_SIZE} bytes")
    cdef const uint8_t* d = &mv[0]
    cdef uint8_t* out = <uint8_t*>PyByteArray_AS_STRING(page)
    cdef int count = pl_count(d + start), nr
    cdef uint8_t kind
    cdef const uint8_t* image
    while count > 0:
        count -= 1
        if pos + PE_HEADER > n:
            raise ValueError("truncated page entry")
        kind = pe_kind(d + pos)
        nr = pe_nranges(d + pos)
        if pe_page_id(d + pos) != page_id:
            pos = _entry_end(d, pos, n)
            continue
        pos += PE_HEADER
        image = NULL
        if kind == K_IMAGE or kind == K_NEW:
            if pos + PAGE_SIZE > n:
                raise ValueError("truncated page image")
            image = d + pos
            pos += PAGE_SIZE
        elif kind != K_RANGES:
            raise ValueError(f"unknown page change kind {kind}")
        while nr > 0:                                    # every range is checked before a byte is used
            nr -= 1
            if pos + RANGE_HEADER > n:
                raise ValueError("truncated range")
            off = rg_offset(d + pos)
            ln = rg_length(d + pos)
            if off < MIN_RANGE_OFFSET or off + ln > PAGE_SIZE or rg_size(d + pos, kind) + pos > n:
                raise ValueError(f"range [{off}, {off + ln}) outside the page body or the record")
            pos += RANGE_HEADER
            if not forward:                              # old bytes first in both kinds
                memcpy(out + off, d + pos, ln)
            elif image == NULL:                          # K_RANGES: old bytes, then new bytes
                memcpy(out + off, d + pos + ln, ln)
            pos += ln if kind != K_RANGES else 2 * ln
        if forward and image != NULL:
            memcpy(out, image, PAGE_SIZE)
        return True
    return False


def decode_clr(payload, bint pages=True):
    """(undo-next LSN, [PageChange] or None when pages is false) of a CLR payload."""
    cdef const uint8_t[::1] mv = payload
    if mv.shape[0] < CLR_PREFIX + PL_HEADER:
        raise ValueError("truncated CLR")
    return clr_undo_next(&mv[0]), (decode_pages(payload, CLR_PREFIX) if pages else None)


# ---- UNLOGGED ----------------------------------------------------------------------
def encode_unlogged(pids):
    """An UNLOGGED payload naming pids.  Caller: the storage layer's logger."""
    cdef Py_ssize_t n = len(pids), i = 0
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 4 + 4 * n)
    cdef uint8_t* o = <uint8_t*>PyBytes_AS_STRING(out)
    cdef uint32_t u32 = <uint32_t>n
    memcpy(o, &u32, 4)
    for pid in pids:
        u32 = pid
        memcpy(o + 4 + 4 * i, &u32, 4)
        i += 1
    return out


def decode_unlogged(payload):
    """[page id] of an UNLOGGED payload (ValueError when its length does not match its count)."""
    cdef const uint8_t[::1] mv = payload
    if mv.shape[0] < 4 or mv.shape[0] != 4 + 4 * <Py_ssize_t>unlogged_count(&mv[0]):
        raise ValueError("UNLOGGED payload length does not match its page count")
    return [unlogged_page(&mv[0], i) for i in range(unlogged_count(&mv[0]))]


# ---- CKPT_END ----------------------------------------------------------------------
def encode_ckpt_end(begin_lsn, txns):
    """A CKPT_END payload: its CKPT_BEGIN's LSN and {txid: [first_lsn, last_lsn]} of the active transactions."""
    cdef uint64_t b = begin_lsn
    return PyBytes_FromStringAndSize(<const char*>&b, 8) + \
        json.dumps({"txns": {str(k): v for k, v in txns.items()}}).encode()


def decode_ckpt_end(payload):
    """(CKPT_BEGIN LSN, {txid: (first_lsn, last_lsn)}) of a CKPT_END payload."""
    cdef const uint8_t[::1] mv = payload
    if mv.shape[0] < CKPT_PREFIX:
        raise ValueError("truncated CKPT_END")
    body = json.loads(bytes(payload[CKPT_PREFIX:]).decode())
    return ckpt_end_begin_lsn(&mv[0]), {int(k): tuple(v) for k, v in body["txns"].items()}


def payload_problem(int rtype, payload):
    """None when payload has exactly the layout of record type rtype (condition 4), else what is wrong.

    Caller: WAL.check (`oor check`).
    """
    try:
        if rtype in (T_COMMIT, T_ABORT, T_END, T_CKPT_BEGIN):
            if len(payload):
                return f"{len(payload)} bytes of payload in a {TYPE_NAMES[rtype]} record"
        elif rtype == T_UPDATE:
            decode_pages(payload)
        elif rtype == T_CLR:
            decode_clr(payload)
        elif rtype == T_UNLOGGED:
            decode_unlogged(payload)
        elif rtype == T_CKPT_END:
            for entry in decode_ckpt_end(payload)[1].values():
                if len(entry) != 2:
                    return "CKPT_END transaction entry is not [first_lsn, last_lsn]"
        else:
            return f"unknown record type {rtype}"
    except (ValueError, KeyError, TypeError, AttributeError) as e:     # JSON and layout errors
        return f"{TYPE_NAMES[rtype]} payload is malformed: {e}"
    return None
