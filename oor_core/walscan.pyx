# oor_core/walscan.pyx -- the recovery hot loops over WAL segment bodies.
#
# The record format is owned by oor_core/logformat.{pxd,pyx} (byte table and validity
# conditions there); this module only runs loops over it, in C, so that recovery of
# 100k records takes milliseconds: it finds the run of valid records of a segment
# (logformat.record_valid), runs ANALYSIS bookkeeping, and applies REDO straight to
# buffer-pool frames.  Callers: oor.wal (validation), oor.recovery (analysis, redo).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from oor_core.bufpool cimport BufferPool
from oor_core.logformat cimport (
    REC_HEADER, CLR_PREFIX, PL_HEADER, PE_HEADER, RANGE_HEADER, K_RANGES, K_IMAGE, K_NEW, MIN_RANGE_OFFSET,
    T_UPDATE, T_COMMIT, T_ABORT, T_END, T_CLR, T_CKPT_BEGIN, T_CKPT_END, T_UNLOGGED,
    record_valid, rec_length, rec_lsn, rec_txid, rec_type, rec_payload, clr_undo_next, ckpt_end_begin_lsn,
    unlogged_count, unlogged_page, pl_count, pe_page_id, pe_kind, pe_nranges, rg_offset, rg_length, rg_size, ranges_size)
from oor_core.page cimport PAGE_SIZE, pg_lsn, pg_set_lsn, pg_set_id
from oor_core.errors import CorruptPageError

# transaction states in the analysis table
ST_ACTIVE = 0
ST_ABORTING = 1
ST_COMMITTED = 2
ST_ENDED = 3


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
            ln = record_valid(d, n, pos, seg_start)
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
        ln = rec_length(d + pos)
        lsn = seg_start + <uint64_t>pos
        t = rec_type(d + pos)
        count += 1
        if t == T_CKPT_END:
            acc[0] = ckpt_end_begin_lsn(rec_payload(d + pos))
            acc[1] = lsn
        elif t != T_CKPT_BEGIN:
            txid = rec_txid(d + pos)
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
                e[3] = clr_undo_next(rec_payload(d + pos))
            elif t == T_UNLOGGED:
                for i in range(<int>unlogged_count(rec_payload(d + pos))):
                    unlogged[unlogged_page(rec_payload(d + pos), i)] = lsn
        pos += ln
    acc[2] = max_txid
    acc[3] = count


def redo(BufferPool pool, const uint8_t[::1] body, uint64_t seg_start, uint64_t from_lsn, dict unlogged,
         bint keep_newer=True):
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
    cdef const uint8_t* u
    cdef uint32_t pid
    cdef int f, i
    cdef uint8_t* p
    if from_lsn > seg_start:
        pos = from_lsn - seg_start
    while pos + REC_HEADER <= n:
        ln = rec_length(d + pos)
        lsn = seg_start + <uint64_t>pos
        t = rec_type(d + pos)
        end = pos + ln
        if t == T_UPDATE or t == T_CLR:
            records += 1
            q = pos + REC_HEADER + (CLR_PREFIX if t == T_CLR else 0)
            npages = pl_count(d + q)
            q += PL_HEADER
            for i in range(npages):
                pid = pe_page_id(d + q)
                kind = pe_kind(d + q)
                nranges = pe_nranges(d + q)
                q += PE_HEADER
                if unlogged and lsn < unlogged.get(pid, 0):
                    if kind != K_RANGES:
                        q += PAGE_SIZE
                    q += ranges_size(d + q, kind, nranges)
                    continue
                if kind == K_IMAGE or kind == K_NEW:
                    if q + PAGE_SIZE > end:
                        raise CorruptPageError(pid, f"log record at LSN {lsn} is malformed")
                    f = pool.pin_image(pid, lsn if keep_newer else 0)
                    if f < 0:                  # the page is already newer than this image
                        q += PAGE_SIZE
                        q += ranges_size(d + q, kind, nranges)
                        continue
                    p = pool.fdata(f)
                    memcpy(p, d + q, PAGE_SIZE)
                    pg_set_id(p, pid)
                    pg_set_lsn(p, lsn)
                    pool.mark_dirty(f)
                    pool.unpin(f)
                    q += PAGE_SIZE
                    changes += 1
                    q += ranges_size(d + q, kind, nranges)     # undo bytes only (the image has the new ones)
                    continue
                f = pool.pin(pid, False)      # raises CorruptPageError: nothing to repair it from
                p = pool.fdata(f)
                if pg_lsn(p) < lsn:
                    while nranges > 0:
                        nranges -= 1
                        off = rg_offset(d + q)
                        rl = rg_length(d + q)
                        if off < MIN_RANGE_OFFSET or off + rl > PAGE_SIZE or q + rg_size(d + q, kind) > end:
                            pool.unpin(f)
                            raise CorruptPageError(pid, f"log record at LSN {lsn} has a bad range")
                        memcpy(p + off, d + q + RANGE_HEADER + rl, rl)     # the new bytes
                        q += rg_size(d + q, kind)
                    pg_set_lsn(p, lsn)
                    pool.mark_dirty(f)
                    changes += 1
                else:
                    q += ranges_size(d + q, kind, nranges)
                pool.unpin(f)
        elif t == T_UNLOGGED:
            u = rec_payload(d + pos)
            for i in range(<int>unlogged_count(u)):
                pool.discard_page(unlogged_page(u, i))
        pos = end
    return records, changes


def next_valid_record(const uint8_t[::1] body, uint64_t seg_start, Py_ssize_t start):
    """Offset of the first valid record at or after start in a segment body, or -1.

    A record can only begin where its LSN field equals its own position (logformat
    condition 2), so the search compares one u64 per byte offset and checks the CRC
    only of candidates: a 16 MiB segment is searched in milliseconds.  Caller:
    oor.wal, telling damage (valid records follow it) from a torn tail (nothing
    follows it) -- invariant 14.
    """
    cdef Py_ssize_t n = body.shape[0], pos, found = -1
    if n < REC_HEADER or start < 0:
        return -1
    cdef const uint8_t* d = &body[0]
    with nogil:
        pos = start
        while pos + REC_HEADER <= n:
            if rec_lsn(d + pos) == seg_start + <uint64_t>pos and record_valid(d, n, pos, seg_start) != 0:
                found = pos
                break
            pos += 1
    return found
