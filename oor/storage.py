"""The storage engine: one database file, its buffer pool, its trees, its WAL and its transactions.

Who may import: the registry (``oor.registry``), tests, benchmarks.  The
registry never touches pages; it asks this module for named B+ trees and
runs its changes inside ``Database.transaction()``.

Concurrency: one writer process at a time (an exclusive lock on
``<path>-lock``, which records the writer's PID); inside the process one
transaction at a time (an RLock).  Readers in the same process take the same
lock, so they never see an uncommitted change (invariant 10) and simply wait
for a running writer.

Durability and atomicity come from the write-ahead log (``oor.wal``) and
ARIES recovery (``oor.recovery``); see docs/durability.md.
"""
import errno
import fcntl
import os
import struct
import threading
import time

from oor.recovery import analyse, recover, undo_transaction
from oor.vfs import OS_VFS
from oor.wal import (ABORT, CKPT_BEGIN, CKPT_END, CLR, COMMIT, END, UNLOGGED, UPDATE, WAL, encode_ckpt_end)
from oor_core import BufferPool, Pager, PoolMode
from oor_core import walscan as _walscan
from oor_core.pager import new_file_header
from oor_core.btree import BTree, invalidate_cursors
from oor_core.errors import CorruptPageError, DatabaseLockedError, NotAnOorFileError, OorError, TxClosedError


__all__ = ["Database", "Transaction", "open_database", "SYNC_MODES"]

SYNC_MODES = ("full", "normal")


class _FileLock:
    """Advisory lock on ``<db>-lock``: exclusive for a writer, shared for a reader.

    The writer writes its PID into the file so that a refused opener can name
    it.  The lock dies with the process (kill -9 included).
    """

    def __init__(self, db_path, exclusive):
        self.path = db_path + "-lock"
        self.exclusive = exclusive
        self.created = not os.path.exists(self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(self.fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as e:
            pid = None
            try:
                text = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip()
                pid = int(text) if text.isdigit() else None
            except OSError:
                pass
            os.close(self.fd)
            self.fd = -1
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DatabaseLockedError(db_path, pid) from None
            raise
        if exclusive:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, b"%d\n" % os.getpid(), 0)

    def release(self):
        if self.fd < 0:
            return
        try:
            if self.exclusive:
                os.ftruncate(self.fd, 0)
        finally:
            os.close(self.fd)
            self.fd = -1


class Transaction:
    """A unit of work: all of its changes become durable together, or none do.

    Created by ``Database.transaction()``; use it as a context manager.
    ``commit()`` returns only when the COMMIT record is durable (sync="full").
    """

    def __init__(self, db, txid):
        self.db = db
        self.txid = txid
        self.closed = False
        self.state = "active"

    def _require_open(self):
        if self.closed:
            raise TxClosedError(f"transaction {self.txid} is already {self.state}")

    def commit(self):
        self._require_open()
        self.db._commit(self)

    def abort(self):
        self._require_open()
        self.db._abort(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.closed:
            return False
        if exc_type is None:
            self.commit()
        else:
            try:
                self.abort()
            except BaseException as e2:
                # The first error is the one to report; a failed abort leaves
                # the database unusable in this process (recovery on reopen).
                if hasattr(exc, "add_note"):
                    exc.add_note(f"and the abort failed too: {e2!r}")
        return False


class Database:
    """An open OOR database file (``open_database(path, **options)`` makes one).

    Options: ``create`` (make a new file when missing), ``read_only``,
    ``pool_pages`` (buffer pool frames, 4 KiB each), ``sync`` ("full": a
    commit returns when durable; "normal": durable within ``sync_interval``
    seconds or at the next checkpoint), ``checkpoint_bytes`` (log growth that
    triggers a checkpoint at commit), ``segment_bytes`` (log segment size),
    ``vfs`` (file layer; tests pass a power-loss simulator).
    """

    def __init__(self, path, *, create=True, read_only=False, pool_pages=2048, sync="full",
                 vfs=None, checkpoint_bytes=64 << 20, segment_bytes=16 << 20, sync_interval=1.0,
                 checkpoint_seconds=300.0):
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {SYNC_MODES}, got {sync!r}")
        self.path = os.fspath(path)
        self.read_only = read_only
        self.sync = sync
        self.vfs = vfs if vfs is not None else OS_VFS
        self.checkpoint_bytes = checkpoint_bytes
        self.checkpoint_seconds = checkpoint_seconds
        self._lock = threading.RLock()
        self._tx = None
        self._next_txid = 1
        self._trees = {}
        self._imaged = set()          # pages given a full image since the last CKPT_BEGIN
        self._failed = None
        self._flusher = None
        self._stop = threading.Event()
        self.closed = True
        self.recovery = None
        self._ckpt_lsn = 0
        self._ckpt_time = time.monotonic()
        if vfs is None:
            if os.path.isdir(self.path):
                raise NotAnOorFileError(self.path, "is a directory")
            if not create and not os.path.exists(self.path):
                raise FileNotFoundError(errno.ENOENT, "no such database", self.path)
        elif not create and not self.vfs.exists(self.path):
            raise FileNotFoundError(errno.ENOENT, "no such database", self.path)
        self._flock = None if vfs is not None else _FileLock(self.path, exclusive=not read_only)
        self.pager = self.pool = self.wal = None
        try:
            self._open(create, pool_pages, segment_bytes)
        except BaseException:
            created_lock = self._flock is not None and self._flock.created
            self._teardown()
            if created_lock:
                # e.g. a text file passed as the database: leave nothing behind
                try:
                    os.unlink(self.path + "-lock")
                except OSError:
                    pass
            raise
        self.closed = False
        if sync == "normal" and not read_only:
            self._flusher = threading.Thread(target=self._flush_loop, args=(sync_interval,),
                                             name="oor-wal-flusher", daemon=True)
            self._flusher.start()

    def _open(self, create, pool_pages, segment_bytes):
        wal_dir = self.path + "-wal"
        self.wal = WAL(wal_dir, self.vfs, segment_bytes=segment_bytes, read_only=self.read_only)
        if create and not self.read_only and self._is_new_file():
            self._create_file()
        has_log = any(n.endswith(".wal") for n in self.vfs.listdir(wal_dir))

        def make_pager(check_header):
            file = self.vfs.open(self.path, create=create and not self.read_only) \
                if self.vfs is not OS_VFS else None
            return Pager(self.path, create=create and not self.read_only, read_only=self.read_only,
                         file=file, check_header=check_header)
        try:
            self.pager = make_pager(True)
        except CorruptPageError as e:
            # A torn header page is repaired by redo from its full image in the log.
            if e.page_id != 0 or not has_log:
                raise
            self.pager = make_pager(False)
        self.pool = BufferPool(self.pager, pool_pages)
        self.pool.wal_flush_hook = self._wal_flush_hook
        self.pool.op_hook = self._log_changes
        if self.read_only:
            a = analyse(self.wal)
            try:
                pending = any(t.state in ("active", "aborting") for t in a.txns.values()) or \
                    any(r.type in (UPDATE, CLR) for r in self.wal.scan(a.redo_lsn))
            finally:
                self.wal.drop_cache()
            if pending:
                raise OorError(f"{self.path}: the database was not closed cleanly and needs recovery; "
                               f"open it once for writing (any oor write command does it)")
            self.pool.read(0).release()          # verify the header page
            return
        if not has_log and not self.pager.created:
            # The log is gone (or never existed): continue numbering above every page's LSN.
            self.wal.open()
            self.wal.start_at(self._max_page_lsn() + 1)
        self.recovery = recover(self)
        self.pool.read(0).release()              # the header page must be valid now
        invalidate_cursors(self.pool)
        self._checkpoint_locked()
        self.pool.set_mode(PoolMode.IDLE)       # recovered: every change from now on is logged

    def _is_new_file(self):
        if not self.vfs.exists(self.path):
            return True
        f = self.vfs.open(self.path, create=False)
        try:
            return f.size() == 0
        finally:
            f.close()

    def _create_file(self):
        """Create the file atomically: header page to a temporary file, fsync, rename into place.

        A crash during creation leaves either no database or a valid empty one.
        """
        tmp = self.path + ".creating"
        f = self.vfs.open(tmp, create=True)
        try:
            f.truncate(0)
            f.pwrite(new_file_header(), 0)
            f.fsync()
        finally:
            f.close()
        self.vfs.rename(tmp, self.path)
        # a log left by an earlier database of the same name must not be replayed into this one
        wal_dir = self.path + "-wal"
        for name in self.vfs.listdir(wal_dir):
            if name.endswith(".wal"):
                self.vfs.remove(os.path.join(wal_dir, name))

    def _max_page_lsn(self):
        best = 0
        n = self.pager.file_size() // 4096
        for pid in range(n):
            raw = self.pager.read_raw(pid)
            best = max(best, int.from_bytes(raw[8:16], "little"))
        return best

    def _wal_flush_hook(self, lsn):
        if lsn:
            self.wal.flush(lsn + 1)

    def _flush_loop(self, interval):
        while not self._stop.wait(interval):
            try:
                if self.wal.durable_lsn < self.wal.next_lsn:
                    self.wal.flush()
            except Exception:     # the failure is recorded in wal.failed; writers will see it
                return

    # ---- logging (pool.op_hook) ---------------------------------------------------
    def _log_changes(self, rtype=UPDATE, undo_next=0):
        """Log the pages changed since the last record as one UPDATE (or CLR) of the current transaction.

        Pages a bulk build allocated without logging are named first, in an
        UNLOGGED record, and their next logged change is a full image: redo
        drops its copy at that record and never needs to read such a page.
        """
        pool = self.pool
        tx = self._tx
        unlogged = pool.take_unlogged_new()
        if unlogged:
            self._imaged.difference_update(unlogged)
            self._log_unlogged(tx, unlogged)
        payload = _walscan.encode_changes(pool.captured_changes(), self._imaged)
        if payload is None:
            if rtype != CLR:
                pool.release_captured(0)
                return 0
            payload = b"\0\0"                 # a CLR of an undo step that changed no byte
        if tx is None:
            pool.release_captured(0)
            raise AssertionError("page changes outside a transaction")
        if rtype == CLR:
            payload = undo_next.to_bytes(8, "little") + payload
        try:
            lsn, _end = self.wal.append(rtype, tx.txid, tx.last_lsn, payload)
        except BaseException as e:
            self._failed = e
            raise
        if not tx.first_lsn:
            tx.first_lsn = lsn
        tx.last_lsn = lsn
        pool.release_captured(lsn)
        return lsn

    def _log_unlogged(self, tx, pids):
        """Name the pages a bulk build wrote without logging them (after their logged changes so far)."""
        payload = struct.pack(f"<I{len(pids)}I", len(pids), *pids)
        lsn, _end = self.wal.append(UNLOGGED, tx.txid, tx.last_lsn, payload)
        if not tx.first_lsn:
            tx.first_lsn = lsn
        tx.last_lsn = lsn

    def _log_clr(self, txid, undo_next):
        """Log the undo step just applied as a CLR.  Caller: recovery.undo_transaction."""
        assert self._tx is not None and self._tx.txid == txid
        return self._log_changes(CLR, undo_next)

    # ---- trees -----------------------------------------------------------------
    def tree(self, name, create=False):
        """The B+ tree called name; created (inside the current transaction) when create is true."""
        self._require_open()
        t = self._trees.get(name)
        if t is not None:
            return t
        with self._lock:
            ids = BTree.trees(self.pool)
            if name in ids:
                t = BTree(self.pool, ids[name])
            elif create:
                if self.read_only:
                    raise OorError(f"{self.path}: opened read-only; cannot create tree {name!r}")
                with self.transaction():
                    t = BTree.create(self.pool, name)
            else:
                raise KeyError(f"{self.path}: no tree named {name!r}")
            self._trees[name] = t
            return t

    def tree_names(self):
        with self._lock:
            return sorted(BTree.trees(self.pool))

    # ---- transactions ----------------------------------------------------------
    def transaction(self):
        """Begin a write transaction (context manager).  Re-entrant: inside one, returns a joiner."""
        self._require_open()
        if self.read_only:
            raise OorError(f"{self.path}: opened read-only")
        self._lock.acquire()
        if self._tx is not None:
            self._lock.release()
            return _Joined(self._tx)
        if self._failed is not None or self.wal.failed is not None:
            self._lock.release()
            raise OorError(f"{self.path}: an earlier I/O failure left the database unusable in this "
                           f"process ({self._failed or self.wal.failed}); reopen it to recover")
        tx = Transaction(self, self._next_txid)
        tx.first_lsn = 0
        tx.last_lsn = 0
        self._next_txid += 1
        self._tx = tx
        self.pool.set_mode(PoolMode.CAPTURING)
        self.pool.batch_pages = max(1, min(64, self.pool.nframes // 8))
        return tx

    def reading(self):
        """Context manager for a read: waits for a running write transaction (same process)."""
        self._require_open()
        return self._lock

    def _end(self, tx, state):
        tx.closed = True
        tx.state = state
        self._tx = None
        self.pool.set_mode(PoolMode.IDLE)
        self.pool.batch_pages = 0
        self._lock.release()

    def _commit(self, tx):
        end = None
        try:
            self._log_changes()
            if self.pool.unlogged_count():
                self.pool.flush_unlogged()       # bulk-built pages are durable before COMMIT
            if tx.last_lsn:
                lsn, end = self.wal.append(COMMIT, tx.txid, tx.last_lsn)
                tx.last_lsn = lsn
        except BaseException as e:
            self._failed = self._failed or e
            self._end(tx, "failed")
            raise
        self._end(tx, "committed")
        if end is not None:
            # Outside the lock: the next writer proceeds while this one waits
            # for the fsync, which concurrent committers share (group commit).
            if self.sync == "full":
                self.wal.flush(end)
            else:
                self.wal.write_out()
            self._maybe_checkpoint()

    def _abort(self, tx):
        try:
            self._log_changes()
            if tx.last_lsn:
                undo_from = tx.last_lsn
                lsn, _ = self.wal.append(ABORT, tx.txid, tx.last_lsn)
                tx.last_lsn = lsn
                undo_transaction(self, tx.txid, undo_from)
                lsn, _ = self.wal.append(END, tx.txid, tx.last_lsn)
                tx.last_lsn = lsn
            self.pool.forget_unlogged()
            invalidate_cursors(self.pool)
            # A tree created inside the aborted transaction is gone from the header:
            # forget its cached handle, or tree(name) would return it (and its id may
            # be reused by the next tree created).  Found by tests/test_durability.py.
            live = BTree.trees(self.pool)
            self._trees = {n: t for n, t in self._trees.items() if live.get(n) == t.tree_id}
        except BaseException as e:
            self._failed = self._failed or e
            raise
        finally:
            self._end(tx, "aborted")

    def _rollback_loser(self, info):
        """Recovery: undo a transaction that neither committed nor ended.  Returns records undone."""
        tx = Transaction(self, info.txid)
        tx.first_lsn = info.first_lsn
        tx.last_lsn = info.last_lsn
        self._tx = tx
        self.pool.set_mode(PoolMode.CAPTURING)
        try:
            undo_from = info.last_lsn
            if info.state == "active":
                tx.last_lsn, _ = self.wal.append(ABORT, tx.txid, tx.last_lsn)
            n = undo_transaction(self, tx.txid, undo_from)
            tx.last_lsn, end = self.wal.append(END, tx.txid, tx.last_lsn)
            self.wal.flush(end)
            return n
        finally:
            self._tx = None
            self.pool.set_mode(PoolMode.RECOVERING)

    # ---- maintenance -----------------------------------------------------------
    def _maybe_checkpoint(self):
        due = self.wal.next_lsn - self._ckpt_lsn >= self.checkpoint_bytes or \
            time.monotonic() - self._ckpt_time >= self.checkpoint_seconds
        if due and self._lock.acquire(blocking=False):
            try:
                if self._tx is None and not self.closed:
                    self._checkpoint_locked()
            finally:
                self._lock.release()

    def checkpoint(self):
        """Fuzzy checkpoint: write every dirty page, record the checkpoint, drop old log segments.

        Returns the number of log segments removed.
        """
        self._require_open()
        with self._lock:
            return self._checkpoint_locked()

    def _checkpoint_locked(self):
        if self.read_only:
            return 0
        pool, wal = self.pool, self.wal
        if self._tx is not None:
            self._log_changes()
        begin, _ = wal.append(CKPT_BEGIN, 0, 0)
        self._imaged = set()
        pool.flush_all()                     # the WAL hook syncs the log first (invariant 2)
        active = {}
        keep = begin
        if self._tx is not None and self._tx.first_lsn:
            active[self._tx.txid] = [self._tx.first_lsn, self._tx.last_lsn]
            keep = min(keep, self._tx.first_lsn)
        _lsn, end = wal.append(CKPT_END, 0, 0, encode_ckpt_end(begin, active))
        wal.flush(end)
        removed = wal.remove_before(keep)
        self._ckpt_lsn = wal.next_lsn
        self._ckpt_time = time.monotonic()
        return removed

    def check(self):
        """Problems found in the file, as strings naming the page, tree or log (empty when clean)."""
        self._require_open()
        problems = []
        with self._lock:
            if not self.read_only:
                if self._tx is not None:
                    # check() inside an open transaction: log its batched, not yet logged
                    # changes before their pages are written (invariant 2), as a checkpoint
                    # does; else a crash leaves uncommitted changes in the file with no
                    # undo record.  Found by tests/test_durability.py.
                    self._log_changes()
                self.pool.flush_all()
            problems.extend(self.pool._check())
            used = {0}
            for name, tid in sorted(BTree.trees(self.pool).items()):
                t = BTree(self.pool, tid)
                problems.extend(f"tree {name}: {p}" for p in t._check())
                pages = t.pages()
                for pid in pages & used:
                    problems.append(f"page {pid}: used by tree {name} and by another structure")
                used |= pages
            free = set(self.pool.space.free_pages())
            for pid in free & used:
                problems.append(f"page {pid}: on the free list but in use")
            count = self.pool.page_count
            for pid in range(count):
                try:
                    self.pager.read(pid)
                except OorError as e:
                    problems.append(str(e))
            lost = set(range(count)) - used - free
            if lost:
                problems.append(f"{len(lost)} pages belong to nothing (first: page {min(lost)})")
            if self.wal.failed is not None:
                problems.append(f"log: failed ({self.wal.failed})")
        return problems

    def stats(self):
        self._require_open()
        with self._lock:
            st = {"path": self.path, "page_count": self.pool.page_count, "free_pages": self.pool.free_count,
                  "file_bytes": self.pager.file_size(), "pool": self.pool.stats(), "trees": {},
                  "wal": {"bytes": self.wal.size_bytes(), "segments": len(self.wal.segments),
                          "next_lsn": self.wal.next_lsn, "durable_lsn": self.wal.durable_lsn,
                          "fsyncs": self.wal.fsyncs},
                  "sync": self.sync}
            for name, tid in sorted(BTree.trees(self.pool).items()):
                st["trees"][name] = BTree(self.pool, tid).stats()
            return st

    def close(self):
        """Abort an open transaction, checkpoint, and close (idempotent)."""
        if self.closed:
            return
        with self._lock:
            try:
                if self._tx is not None:
                    self._abort(self._tx)
                    self._lock.acquire()          # _end released the transaction's hold
                if not self.read_only and self._failed is None and self.wal.failed is None:
                    self._checkpoint_locked()
            finally:
                self.closed = True
                self._teardown(flush=True)

    def _teardown(self, flush=False):
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        try:
            if self.pool is not None and not self.pool.closed:
                if flush and not self.read_only and self._failed is None and \
                        (self.wal is None or self.wal.failed is None):
                    try:
                        self.pool.close()
                    except BaseException:
                        # e.g. a full disk: the pages stay unwritten; the log has them
                        self.pool.abandon()
                        raise
                else:
                    # read-only, failed, or a failed open: write nothing (recovery redoes from the log)
                    self.pool.abandon()
            elif self.pager is not None:
                self.pager.close()
        finally:
            if self.wal is not None:
                self.wal.close()
            if self._flock is not None:
                self._flock.release()
                self._flock = None

    def _require_open(self):
        if self.closed:
            raise OorError(f"{self.path}: database is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Joined:
    """A nested transaction() call: joins the running transaction."""

    def __init__(self, tx):
        self.tx = tx
        self.txid = tx.txid

    def __enter__(self):
        return self.tx

    def __exit__(self, exc_type, exc, tb):
        return False

    def commit(self):
        pass

    def abort(self):
        self.tx.abort()


def open_database(path, **kw):
    """Open (and, by default, create) the database at path.  See Database for the options."""
    return Database(path, **kw)
