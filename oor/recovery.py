"""ARIES recovery: ANALYSIS, REDO (repeat history), UNDO with compensation records.

Who may import: oor.storage (on open, and for transaction abort), tests.

On open, ``recover(db)``:
  1. ANALYSIS scans the kept log (it starts at or before the last complete
     checkpoint's CKPT_BEGIN and before the first record of any transaction
     active then): which transactions committed, which are losers (no COMMIT
     and no END), each one's last LSN; the redo point is the CKPT_BEGIN of the
     last checkpoint whose CKPT_END is in the log (every page dirtied before
     it was written and synced before that CKPT_END), else the log's start.
  2. REDO replays every UPDATE and CLR from the redo point in LSN order.  A
     full page image is installed without reading the page (the copy on disk
     may be torn); byte ranges are applied only to a page whose LSN is older
     than the record (invariant 4), which then takes the record's LSN.
     Changes to a page that a later UNLOGGED record names are skipped: a bulk
     build wrote the page's newer state to the file without logging it.
  3. UNDO rolls the losers back, newest record first, through the same path
     as a live abort: old bytes are written back under change capture, and
     each undone record is logged as a CLR whose undo-next LSN is the undone
     record's prev LSN, so a crash during UNDO resumes where it stopped
     (invariant 7).  Each loser ends with END.
The caller then takes a checkpoint, so the next open has nothing to redo.
"""
import collections
import time

from oor.wal import CLR, UPDATE, decode_pages
from oor_core import PoolMode
from oor_core import walscan as _walscan

__all__ = ["recover", "analyse", "redo", "undo_transaction", "TxInfo"]


class TxInfo:
    """What ANALYSIS learns of one transaction."""

    __slots__ = ("txid", "first_lsn", "last_lsn", "state", "undo_next")

    def __init__(self, txid, lsn):
        self.txid = txid
        self.first_lsn = lsn
        self.last_lsn = lsn
        self.state = "active"      # active | aborting | committed | ended
        self.undo_next = None      # from the newest CLR, when aborting

    def __repr__(self):
        return f"TxInfo({self.txid}, first={self.first_lsn}, last={self.last_lsn}, {self.state})"


Analysis = collections.namedtuple("Analysis", "txns redo_lsn max_txid records checkpoint_lsn end_lsn unlogged")


_STATES = {0: "active", 1: "aborting", 2: "committed", 3: "ended"}


def analyse(wal):
    """ANALYSIS pass over the kept log (the log is validated and a torn tail cut first)."""
    wal.open(cache=True)
    table = {}
    acc = [None, None, 0, 0]
    unlogged = {}
    for s, body in wal.bodies():
        _walscan.analyse(body, s, table, acc, unlogged)
    txns = {}
    for txid, (first, last, state, undo_next) in table.items():
        t = txns[txid] = TxInfo(txid, first)
        t.last_lsn = last
        t.state = _STATES[state]
        t.undo_next = undo_next
    redo_lsn = acc[0] if acc[0] is not None else wal.first_lsn
    return Analysis(txns, redo_lsn, acc[2], acc[3], acc[1], wal.next_lsn, unlogged)


def redo(pool, wal, redo_lsn, unlogged=None):
    """REDO pass: repeat history from redo_lsn, except changes superseded by a later UNLOGGED
    record (see walscan.redo).  Returns (records applied, page changes applied)."""
    records = changes = 0
    for s, body in wal.bodies(redo_lsn):
        r, c = _walscan.redo(pool, body, s, redo_lsn, unlogged or {})
        records += r
        changes += c
    return records, changes


def undo_transaction(db, txid, last_lsn, undo_next=None):
    """Roll back one transaction from last_lsn, logging a CLR per undone record.

    Caller: Database (live abort, with the transaction's last LSN) and
    recover() (losers).  Pages change through write guards under capture, so
    each undo step is logged exactly like a forward change.
    """
    wal = db.wal
    lsn = last_lsn if undo_next is None else undo_next
    undone = 0
    while lsn:
        rec = wal.read(lsn)
        if rec.txid != txid:
            raise AssertionError(f"undo chain of transaction {txid} reached LSN {lsn} of transaction {rec.txid}")
        if rec.type == UPDATE:
            pages = decode_pages(rec.payload)
            for ch in reversed(pages):
                if not ch.ranges:
                    continue
                g = db.pool.write(ch.page_id)
                try:
                    for off, old, _new in reversed(ch.ranges):
                        g.write_bytes(off, old)
                finally:
                    g.release()
            db._log_clr(txid, rec.prev_lsn)
            undone += 1
            lsn = rec.prev_lsn
        elif rec.type == CLR:
            lsn = int.from_bytes(rec.payload[:8], "little")
        else:   # BEGIN, ABORT
            lsn = rec.prev_lsn
    return undone


def recover(db):
    """Bring the database to the state of its committed transactions.  Returns a report dict."""
    t0 = time.perf_counter()
    a = analyse(db.wal)
    db._next_txid = a.max_txid + 1
    pool = db.pool
    pool.set_mode(PoolMode.RECOVERING)      # redo writes frames without capture (bufpool.pxd)
    t1 = time.perf_counter()
    # Everything redo replays comes from the log as read: sync it once, and redo may
    # then write pages back without asking the log for each one (invariant 2 holds).
    if not db.wal.read_only:
        db.wal.sync_file()
    hook, pool.wal_flush_hook = pool.wal_flush_hook, None
    try:
        nrec, nchanges = redo(pool, db.wal, a.redo_lsn, a.unlogged)
    finally:
        pool.wal_flush_hook = hook
        db.wal.drop_cache()
    t2 = time.perf_counter()
    losers = [t for t in a.txns.values() if t.state in ("active", "aborting")]
    undone = 0
    for t in sorted(losers, key=lambda t: -t.last_lsn):
        undone += db._rollback_loser(t)
    t3 = time.perf_counter()
    return {"log_records": a.records, "redo_from": a.redo_lsn, "redo_records": nrec, "redo_pages": nchanges,
            "losers": [t.txid for t in losers], "undone_records": undone,
            "analysis_s": t1 - t0, "redo_s": t2 - t1, "undo_s": t3 - t2, "total_s": t3 - t0}
