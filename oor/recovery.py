"""ARIES recovery: ANALYSIS, REDO (repeat history), UNDO with compensation records.

Who may import: oor.storage (on open, and for transaction abort), tests.

Recovery sees a database only through a ``RecoveryTarget`` (below; oor.storage
implements it): the log, page access, the transaction table and CLR logging.
It never touches a database's other members.  The log's bytes are decoded by
oor_core.logformat, the hot passes run in oor_core.walscan.

On open, ``recover(target)``:
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

from oor_core import logformat as LF
from oor_core import PoolMode
from oor_core.errors import CorruptLogError
from oor_core import walscan as _walscan

__all__ = ["RecoveryTarget", "recover", "analyse", "needs_recovery", "redo", "undo_transaction", "TxInfo"]


class RecoveryTarget:
    """The database as recovery sees it: everything recover() and undo_transaction() use, and no more.

    Implemented by oor.storage (one per open database).  Attributes:
      wal   the log (oor.wal.WAL): open/bodies/read/sync_file/drop_cache for the passes
      pool  page access (the buffer pool): redo installs pages into its frames, undo
            writes old bytes through its write guards (under change capture)
    """

    wal = None
    pool = None

    def set_next_txid(self, txid):
        """Transaction table: number new transactions from txid on (analysis saw txid - 1 used)."""
        raise NotImplementedError

    def rollback_loser(self, info):
        """Transaction table: roll back the loser info (a TxInfo) and finish it; returns records undone.

        Makes it the current transaction (its undo is captured), logs ABORT if it
        was still active, calls undo_transaction(self, info.txid, info.last_lsn),
        logs END and makes the log durable to there.
        """
        raise NotImplementedError

    def log_clr(self, txid, undo_next):
        """CLR logging: log the undo step just applied (the pages changed since the last record)
        as a CLR of the current transaction txid with that undo-next LSN; returns its LSN."""
        raise NotImplementedError


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
    if not wal.salvage:
        _check_reach(wal, acc[1], redo_lsn, txns)
    return Analysis(txns, redo_lsn, acc[2], acc[3], acc[1], wal.next_lsn, unlogged)


def _check_reach(wal, ckpt_end, redo_lsn, txns):
    """The kept log must reach back to everything recovery needs (invariant 14), else CorruptLogError.

    A writable open always writes a checkpoint before any change, and a checkpoint's
    segments are kept until a later one, so a log holding changes but no complete
    checkpoint, a redo point before the oldest kept segment, or a loser whose undo
    chain leads below it, has lost a segment (PostgreSQL refuses to start for the same).
    """
    first = wal.first_lsn
    where = wal.segment_path(first) if wal.segments else wal.dir
    if ckpt_end is None:
        if any(r.type != LF.CKPT_BEGIN for r in wal.scan()):
            raise CorruptLogError(where, 0, first, "the log holds changes but no complete checkpoint "
                                                   "(a segment before it is missing)")
        return
    if redo_lsn < first:
        raise CorruptLogError(where, 0, first, f"the checkpoint's redo point LSN {redo_lsn} lies before the "
                                               f"oldest kept segment (a segment is missing)")
    for t in txns.values():
        if t.state in ("active", "aborting"):
            prev = wal.read(t.first_lsn).prev_lsn
            if prev and prev < first:
                raise CorruptLogError(where, 0, first, f"transaction {t.txid} began at LSN {prev}, before the "
                                                       f"oldest kept segment (a segment is missing)")


def needs_recovery(wal):
    """True when the log holds work for recovery: a loser, or a change after the last checkpoint.

    Caller: a read-only open (which may not recover, and refuses instead).
    """
    a = analyse(wal)
    try:
        return any(t.state in ("active", "aborting") for t in a.txns.values()) or \
            any(r.type in (LF.UPDATE, LF.CLR) for r in wal.scan(a.redo_lsn))
    finally:
        wal.drop_cache()


def redo(pool, wal, redo_lsn, unlogged=None):
    """REDO pass: repeat history from redo_lsn, except changes superseded by a later UNLOGGED
    record (see walscan.redo).  Returns (records applied, page changes applied)."""
    records = changes = 0
    # Salvaging past damage, the file may hold pages newer than the cut log: its images must win
    # then, to bring such pages back to the cut; otherwise an image never replaces a newer page.
    newer_win = wal.salvaged is None
    for s, body in wal.bodies(redo_lsn):
        r, c = _walscan.redo(pool, body, s, redo_lsn, unlogged or {}, newer_win)
        records += r
        changes += c
    return records, changes


def undo_transaction(target, txid, last_lsn, undo_next=None, stop_lsn=0):
    """Roll back one transaction from last_lsn to stop_lsn (0: all of it), logging a CLR per undone record.

    target: a RecoveryTarget.  Callers: oor.storage (live abort, with the
    transaction's last LSN; a savepoint rollback, with the savepoint's LSN as
    stop_lsn; and a loser's rollback during recover()).  Pages change through
    write guards under capture, so each undo step is logged exactly like a
    forward change.
    """
    wal = target.wal
    lsn = last_lsn if undo_next is None else undo_next
    undone = 0
    while lsn > stop_lsn:
        rec = wal.read(lsn)
        if rec.txid != txid:
            raise AssertionError(f"undo chain of transaction {txid} reached LSN {lsn} of transaction {rec.txid}")
        if rec.type == LF.UPDATE:
            pages = LF.decode_pages(rec.payload)
            for ch in reversed(pages):
                if not ch.ranges:
                    continue
                g = target.pool.write(ch.page_id)
                try:
                    for off, old, _new in reversed(ch.ranges):
                        g.write_bytes(off, old)
                finally:
                    g.release()
            target.log_clr(txid, rec.prev_lsn)
            undone += 1
            lsn = rec.prev_lsn
        elif rec.type == LF.CLR:
            lsn = LF.decode_clr(rec.payload, pages=False)[0]
        else:   # ABORT, UNLOGGED (nothing to undo: see docs/architecture.md, bulk loads)
            lsn = rec.prev_lsn
    return undone


def recover(target):
    """Bring the database (a RecoveryTarget) to the state of its committed transactions.  Returns a report dict."""
    t0 = time.perf_counter()
    wal = target.wal
    a = analyse(wal)
    target.set_next_txid(a.max_txid + 1)
    pool = target.pool
    pool.set_mode(PoolMode.RECOVERING)      # redo writes frames without capture (bufpool.pxd)
    t1 = time.perf_counter()
    # Everything redo replays comes from the log as read: sync it once, and redo may
    # then write pages back without asking the log for each one (invariant 2 holds).
    if not wal.read_only:
        wal.sync_file()
    hook, pool.wal_flush_hook = pool.wal_flush_hook, None
    try:
        nrec, nchanges = redo(pool, wal, a.redo_lsn, a.unlogged)
    finally:
        pool.wal_flush_hook = hook
        wal.drop_cache()
    t2 = time.perf_counter()
    losers = [t for t in a.txns.values() if t.state in ("active", "aborting")]
    undone = 0
    for t in sorted(losers, key=lambda t: -t.last_lsn):
        undone += target.rollback_loser(t)
    t3 = time.perf_counter()
    return {"log_records": a.records, "redo_from": a.redo_lsn, "redo_records": nrec, "redo_pages": nchanges,
            "losers": [t.txid for t in losers], "undone_records": undone,
            "analysis_s": t1 - t0, "redo_s": t2 - t1, "undo_s": t3 - t2, "total_s": t3 - t0}
