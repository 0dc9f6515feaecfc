# oor_core/walscan.pyx -- the recovery hot loops over WAL segment bodies.
#
# The record format is owned by oor/wal.py (byte table there); this module
# reads it in C so that recovery of 100k records takes milliseconds: it
# validates records (CRC32C, length, LSN), runs ANALYSIS bookkeeping, and
# applies REDO straight to buffer-pool frames.  Callers: oor.wal (validation),
# oor.recovery (analysis, redo).
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from oor_core.bufpool cimport BufferPool
from oor_core.checksum cimport oor_crc32c
from oor_core.unaligned cimport load_u16, load_u32, load_u64
from oor_core.page cimport PAGE_SIZE, pg_lsn, pg_set_lsn, pg_set_id
from oor_core.errors import CorruptPageError

cdef enum:
    REC_HEADER = 36
    T_UPDATE = 2
    T_COMMIT = 3
    T_ABORT = 4
    T_END = 5
    T_CLR = 6
    T_CKPT_BEGIN = 7
    T_CKPT_END = 8
    T_UNLOGGED = 9
    T_MAX = 9

# transaction states in the analysis table
ST_ACTIVE = 0
ST_ABORTING = 1
ST_COMMITTED = 2
ST_ENDED = 3




cdef Py_ssize_t _valid(const uint8_t* d, Py_ssize_t n, Py_ssize_t pos, uint64_t seg_start) noexcept nogil:
    """Length of the valid record at pos, or 0 (wal.py validity conditions 1-2, type range)."""
    if pos + REC_HEADER > n:
        return 0
    cdef uint32_t length = load_u32(d + pos + 4)
    if length < REC_HEADER or pos + length > n:
        return 0
    if load_u64(d + pos + 8) != seg_start + <uint64_t>pos:
        return 0
    cdef uint8_t t = d[pos + 32]
    if t < 1 or t > T_MAX:
        return 0
    if oor_crc32c(0, d + pos + 4, length - 4) != load_u32(d + pos):
        return 0
    return length


def append_record(bytearray buf, uint8_t rtype, uint64_t txid, uint64_t prev_lsn, uint64_t lsn,
                  const uint8_t[::1] payload):
    """Append one framed record (header, payload, CRC32C; byte table in oor/wal.py) to buf.

    Returns the record's length.  Caller: WAL.append, under its lock.
    """
    cdef Py_ssize_t n = payload.shape[0]
    cdef Py_ssize_t length = REC_HEADER + n
    cdef Py_ssize_t at = len(buf)
    if length > 0xFFFFFFFF:
        raise ValueError("log record larger than 4 GiB")
    PyByteArray_Resize(buf, at + length)
    cdef uint8_t* r = <uint8_t*>PyByteArray_AS_STRING(buf) + at
    cdef uint32_t len32 = <uint32_t>length
    memcpy(r + 4, &len32, 4)
    memcpy(r + 8, &lsn, 8)
    memcpy(r + 16, &txid, 8)
    memcpy(r + 24, &prev_lsn, 8)
    r[32] = rtype
    r[33] = 0
    r[34] = 0
    r[35] = 0
    if n:
        memcpy(r + REC_HEADER, &payload[0], n)
    cdef uint32_t crc = oor_crc32c(0, r + 4, length - 4)
    memcpy(r, &crc, 4)
    return length



def encode_changes(list changes, set imaged):
    """The page list payload (oor/wal.py) for captured page changes; None when nothing changed.

    changes: [(page_id, before or None, after, [(offset, length)])] as
    BufferPool.captured_changes() gives them.  A page new at the end of the
    file (before None) is logged as its image (kind 2); the first change to a
    page not in imaged as a full image plus its old bytes (kind 1), and it joins
    imaged; any other as byte ranges with old and new bytes (kind 0).
    Caller: the storage layer's logger.
    """
    cdef Py_ssize_t total = 2, npages = 0
    cdef list kinds = []
    cdef int kind
    for pid, before, after, ranges in changes:
        if not ranges:
            kinds.append(-1)
            continue
        npages += 1
        if before is None:
            kind = 2
            total += 8 + PAGE_SIZE
        else:
            kind = 1 if pid not in imaged else 0
            total += 8 + (PAGE_SIZE if kind == 1 else 0)
            for off, ln in ranges:
                total += 4 + (ln if kind == 1 else 2 * ln)
        kinds.append(kind)
    if npages == 0:
        return None
    if npages > 0xFFFF:
        raise ValueError("too many pages in one log record")
    cdef bytes out = PyBytes_FromStringAndSize(NULL, total)
    cdef uint8_t* o = <uint8_t*>PyBytes_AS_STRING(out)
    cdef uint16_t u16
    cdef uint32_t u32
    cdef Py_ssize_t q = 2, i = 0
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
        u16 = 0 if kind == 2 else <uint16_t>len(ranges)
        memcpy(o + q + 6, &u16, 2)
        q += 8
        b = <const uint8_t*>PyBytes_AS_STRING(after)
        if kind != 0:
            memcpy(o + q, b, PAGE_SIZE)
            q += PAGE_SIZE
        if kind == 2:
            continue
        a = <const uint8_t*>PyBytes_AS_STRING(before)
        for r_off, r_len in ranges:
            u16 = <uint16_t>r_off
            memcpy(o + q, &u16, 2)
            u16 = <uint16_t>r_len
            memcpy(o + q + 2, &u16, 2)
            memcpy(o + q + 4, a + r_off, r_len)
            q += 4 + r_len
            if kind == 0:
                memcpy(o + q, b + r_off, r_len)
                q += r_len
    assert q == total
    return out


def is_zero(const uint8_t[::1] body, Py_ssize_t start):
    """True when body[start:] holds only zero bytes."""
    cdef Py_ssize_t i, n = body.shape[0]
    for i in range(start, n):
        if body[i] != 0:
            return False
    return True


def valid_length(const uint8_t[::1] body, uint64_t seg_start):
    """Bytes of body (a segment after its header) covered by valid records, from the start."""
    cdef Py_ssize_t n = body.shape[0], pos = 0, ln
    if n == 0:
        return 0
    cdef const uint8_t* d = &body[0]
    with nogil:
        while True:
            ln = _valid(d, n, pos, seg_start)
            if ln == 0:
                break
            pos += ln
    return pos


def analyse(const uint8_t[::1] body, uint64_t seg_start, dict txns, list acc, dict unlogged):
    """ANALYSIS over one validated segment body.

    txns: txid -> [first_lsn, last_lsn, state, undo_next] (updated in place) for the
          transactions not (yet) finished: an entry goes at its COMMIT or END.
    acc:  [redo_lsn or None, last CKPT_END lsn or None, max txid, records] (updated in place).
    unlogged: page id -> LSN of the last UNLOGGED record naming it (updated in place).
    """
    cdef Py_ssize_t n = body.shape[0], pos = 0, ln
    if n == 0:
        return
    cdef const uint8_t* d = &body[0]
    cdef uint64_t lsn, txid, max_txid = acc[2]
    cdef long count = acc[3]
    cdef uint8_t t
    cdef list e
    cdef int i
    while pos + REC_HEADER <= n:
        ln = load_u32(d + pos + 4)
        lsn = seg_start + <uint64_t>pos
        t = d[pos + 32]
        count += 1
        if t == T_CKPT_END:
            acc[0] = load_u64(d + pos + REC_HEADER)
            acc[1] = lsn
        elif t != T_CKPT_BEGIN:
            txid = load_u64(d + pos + 16)
            e = txns.get(txid)
            if e is None:
                e = [lsn, lsn, ST_ACTIVE, None]
                txns[txid] = e
            else:
                e[1] = lsn
            if txid > max_txid:
                max_txid = txid
            if t == T_COMMIT or t == T_END:
                del txns[txid]          # finished: recovery has nothing to do for it
            elif t == T_ABORT:
                e[2] = ST_ABORTING
            elif t == T_CLR:
                e[3] = load_u64(d + pos + REC_HEADER)
            elif t == T_UNLOGGED:
                for i in range(<int>load_u32(d + pos + REC_HEADER)):
                    unlogged[load_u32(d + pos + REC_HEADER + 4 + 4 * i)] = lsn
        pos += ln
    acc[2] = max_txid
    acc[3] = count


def redo(BufferPool pool, const uint8_t[::1] body, uint64_t seg_start, uint64_t from_lsn, dict unlogged):
    """REDO of every UPDATE and CLR in a validated segment body at or after from_lsn.

    Full images are installed without reading the page; byte ranges are
    applied only to a page whose LSN is older than the record (invariant 4).
    A change to a page named by a later UNLOGGED record (unlogged: page id ->
    that record's LSN) is skipped: the file holds the page's newer, unlogged
    state, which a stale image must not overwrite, not even through an eviction.
    Returns (records, page changes applied).
    """
    cdef Py_ssize_t n = body.shape[0], pos = 0, ln, q, end
    cdef long records = 0, changes = 0
    if n == 0:
        return 0, 0
    cdef const uint8_t* d = &body[0]
    cdef uint64_t lsn
    cdef uint8_t t, kind
    cdef uint16_t npages, nranges, off, rl
    cdef uint32_t pid
    cdef int f, i, j
    cdef uint8_t* p
    if from_lsn > seg_start:
        pos = from_lsn - seg_start
    while pos + REC_HEADER <= n:
        ln = load_u32(d + pos + 4)
        lsn = seg_start + <uint64_t>pos
        t = d[pos + 32]
        end = pos + ln
        if t == T_UPDATE or t == T_CLR:
            records += 1
            q = pos + REC_HEADER + (8 if t == T_CLR else 0)
            npages = load_u16(d + q)
            q += 2
            for i in range(npages):
                pid = load_u32(d + q)
                kind = d[q + 4]
                nranges = load_u16(d + q + 6)
                q += 8
                if unlogged and lsn < unlogged.get(pid, 0):
                    if kind == 1 or kind == 2:
                        q += PAGE_SIZE
                        for j in range(nranges):
                            q += 4 + load_u16(d + q + 2)
                    else:
                        for j in range(nranges):
                            q += 4 + 2 * load_u16(d + q + 2)
                    continue
                if kind == 1 or kind == 2:
                    if q + PAGE_SIZE > end:
                        raise CorruptPageError(pid, f"log record at LSN {lsn} is malformed")
                    f = pool.pin_image(pid)
                    p = pool.fdata(f)
                    memcpy(p, d + q, PAGE_SIZE)
                    pg_set_id(p, pid)
                    pg_set_lsn(p, lsn)
                    pool.mark_dirty(f)
                    pool.unpin(f)
                    q += PAGE_SIZE
                    changes += 1
                    for j in range(nranges):      # undo bytes only (the image has the new ones)
                        q += 4 + load_u16(d + q + 2)
                    continue
                f = pool.pin(pid, False)      # raises CorruptPageError: nothing to repair it from
                p = pool.fdata(f)
                if pg_lsn(p) < lsn:
                    for j in range(nranges):
                        off = load_u16(d + q)
                        rl = load_u16(d + q + 2)
                        if off < 16 or off + rl > PAGE_SIZE or q + 4 + 2 * rl > end:
                            pool.unpin(f)
                            raise CorruptPageError(pid, f"log record at LSN {lsn} has a bad range")
                        memcpy(p + off, d + q + 4 + rl, rl)
                        q += 4 + 2 * rl
                    pg_set_lsn(p, lsn)
                    pool.mark_dirty(f)
                    changes += 1
                else:
                    for j in range(nranges):
                        q += 4 + 2 * load_u16(d + q + 2)
                pool.unpin(f)
        elif t == T_UNLOGGED:
            q = pos + REC_HEADER
            npages = <uint16_t>load_u32(d + q)
            for i in range(<int>load_u32(d + q)):
                pool.discard_page(load_u32(d + q + 4 + 4 * i))
        pos = end
    return records, changes
