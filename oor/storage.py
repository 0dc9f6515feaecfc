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
import threading

from oor_core import BufferPool, Pager
from oor_core.btree import BTree
from oor_core.errors import DatabaseLockedError, NotAnOorFileError, OorError, TxClosedError

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
            self.abort()
        return False


class Database:
    """An open OOR database file.  Use ``open_database`` (or ``Database.open``)."""

    def __init__(self, path, *, create=True, read_only=False, pool_pages=2048, sync="full",
                 vfs=None, checkpoint_bytes=64 << 20):
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {SYNC_MODES}, got {sync!r}")
        self.path = os.fspath(path)
        self.read_only = read_only
        self.sync = sync
        self.vfs = vfs
        self._lock = threading.RLock()
        self._tx = None
        self._txid = 0
        self._trees = {}
        self.closed = True
        if os.path.isdir(self.path):
            raise NotAnOorFileError(self.path, "is a directory")
        if not create and not os.path.exists(self.path) and vfs is None:
            raise FileNotFoundError(errno.ENOENT, "no such database", self.path)
        self._flock = None if vfs is not None else _FileLock(self.path, exclusive=not read_only)
        try:
            file = vfs.open(self.path) if vfs is not None else None
            self.pager = Pager(self.path, create=create and not read_only, read_only=read_only, file=file)
            self.pool = BufferPool(self.pager, pool_pages)
        except BaseException:
            if self._flock is not None:
                self._flock.release()
            raise
        self.closed = False

    open = classmethod(lambda cls, path, **kw: cls(path, **kw))

    # ---- trees -----------------------------------------------------------------
    def tree(self, name, create=False):
        """The B+ tree called name; created (inside the current transaction) when create is true."""
        self._require_open()
        t = self._trees.get(name)
        if t is not None:
            return t
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
        return sorted(BTree.trees(self.pool))

    # ---- transactions ----------------------------------------------------------
    def transaction(self):
        """Begin a write transaction (context manager).  Re-entrant: inside one, returns a no-op joiner."""
        self._require_open()
        if self.read_only:
            raise OorError(f"{self.path}: opened read-only")
        self._lock.acquire()
        if self._tx is not None:
            self._lock.release()
            return _Joined(self._tx)
        self._txid += 1
        self._tx = Transaction(self, self._txid)
        return self._tx

    def reading(self):
        """Context manager for a read: waits for a running write transaction (same process)."""
        self._require_open()
        return self._lock

    def _end(self, tx, state):
        tx.closed = True
        tx.state = state
        self._tx = None
        self._lock.release()

    def _commit(self, tx):
        try:
            self.pool.flush_all()
        finally:
            self._end(tx, "committed")

    def _abort(self, tx):
        self._end(tx, "aborted")
        raise OorError("abort is not available before the write-ahead log")

    # ---- maintenance -----------------------------------------------------------
    def checkpoint(self):
        """Write every dirty page and make it durable."""
        self._require_open()
        with self._lock:
            if not self.read_only:
                self.pool.flush_all()

    def check(self):
        """Problems found in the file, as strings naming the page or tree (empty when clean)."""
        self._require_open()
        with self._lock:
            problems = list(self.pool._check())
            for name, tid in sorted(BTree.trees(self.pool).items()):
                problems.extend(f"tree {name}: {p}" for p in BTree(self.pool, tid)._check())
            return problems

    def stats(self):
        self._require_open()
        with self._lock:
            st = {"path": self.path, "page_count": self.pool.page_count, "free_pages": self.pool.free_count,
                  "file_bytes": self.pager.file_size(), "pool": self.pool.stats(), "trees": {}}
            for name, tid in sorted(BTree.trees(self.pool).items()):
                st["trees"][name] = BTree(self.pool, tid).stats()
            return st

    def close(self):
        """Checkpoint and close (idempotent).  An open transaction is aborted first."""
        if self.closed:
            return
        with self._lock:
            try:
                self.pool.close()
            finally:
                self.closed = True
                if self._flock is not None:
                    self._flock.release()

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
