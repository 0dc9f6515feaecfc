"""The storage engine: one database file, its buffer pool, its trees, its WAL and its transactions.

Who may import: the registry (``oor.registry``), tests, benchmarks.  The
registry never touches pages; it asks this module for named B+ trees and
runs its changes inside ``Database.transaction()``.

Concurrency (docs/concurrency.md): one writer at a time (an exclusive lock on
``<path>-lock``, which records the writer's PID, taken through the vfs
whichever vfs is given; ``timeout=`` waits for it); inside the process one
transaction at a time (an RLock).  Readers never take that lock: every read
runs at a snapshot (``Database.snapshot()``, oor.snapshots), in the writer's
process as in any number of reader processes opened with ``read_only=True``
(each holding a slot of the reader table in the lock file), and the writer
keeps the log a live snapshot needs (the watermark) and never waits for one.

Durability and atomicity come from the write-ahead log (``oor.wal``) and
ARIES recovery (``oor.recovery``, which sees the database only through the
RecoveryTarget this module implements); see docs/durability.md.  The log's
payloads are encoded by ``oor_core.logformat``.
"""
import errno
import os
import threading
import time

from oor import verify
from oor.snapshots import FileSource, PageLog, Snapshots, WriterSource, file_copy
from oor.recovery import RecoveryTarget, recover, undo_transaction
from oor.vfs import OS_VFS
from oor.wal import WAL
from oor_core import BufferPool, Pager, PoolMode
from oor_core import logformat as LF
from oor_core.logformat import ABORT, CKPT_BEGIN, CKPT_END, CLR, COMMIT, END, UNLOGGED, UPDATE
from oor_core.pager import header_bounds, new_file_header
from oor_core.btree import BTree, invalidate_cursors
from oor_core.snapview import ViewGate
from oor_core.errors import (CorruptPageError, DatabaseLockedError, ForeignProcessError, NotAnOorFileError,
                             OorError, TxClosedError)


__all__ = ["Database", "DatabaseRecoveryTarget", "Snapshot", "Transaction", "batched_items", "open_database",
           "raise_clean_end",
           "SYNC_MODES"]

SYNC_MODES = ("full", "normal")
# This process's id, kept current across fork: the per-call owner check (invariant 15) without a
# getpid() system call (0.5 us here, as much as the rest of a snapshot's acquire and release).
_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))
PAGELOG_PRUNE = 20_000     # page-index records kept before a commit prunes it to the watermark


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
        self.thread = None            # the thread that began it (Database.in_own_transaction)

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


# The default buffer pool: 8,192 frames (32 MiB) of address space per pool (the writer's and each live snapshot
# view's), taken only as misses need them.  It holds the real catalogs' elsets tree whole (25 MB).  A larger
# pool_pages is a ceiling: past 8,192 frames a pool grows only on misses that prove a reuse, within the
# process's frame budget (docs/memory.md, which gives the measurements behind keeping this default).
DEFAULT_POOL_PAGES = 8192


class Database:
    """An open OOR database file (``open_database(path, **options)`` makes one).

    Options: ``create`` (make a new file when missing), ``read_only``,
    ``pool_pages`` (buffer pool frames, 4 KiB each; default DEFAULT_POOL_PAGES), ``sync`` ("full": a
    commit returns when durable; "normal": durable within ``sync_interval``
    seconds or at the next checkpoint), ``checkpoint_bytes`` (log growth that
    triggers a checkpoint at commit), ``segment_bytes`` (log segment size),
    ``vfs`` (file layer; tests pass a power-loss simulator), ``timeout`` (seconds a writer
    waits for another writer's lock; 0 refuses at once), ``immutable`` (with read_only: no
    lock file, no reader slot; the caller promises nobody writes), ``max_snapshot_age``
    (seconds a snapshot holds the log back; an older one may get SnapshotTooOldError).
    """

    def __init__(self, path, *, create=True, read_only=False, pool_pages=DEFAULT_POOL_PAGES, sync="full",
                 vfs=None, checkpoint_bytes=256 << 20, segment_bytes=16 << 20, sync_interval=1.0,
                 checkpoint_seconds=300.0, salvage=False, timeout=0.0, immutable=False,
                 max_snapshot_age=3600.0):
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {SYNC_MODES}, got {sync!r}")
        self.vfs = vfs if vfs is not None else OS_VFS
        self.path = self.vfs.canonical(os.fspath(path))   # one name per file: its log and lock follow it
        if immutable and not read_only:
            raise ValueError("immutable=True needs read_only=True")
        self.read_only = read_only
        self.immutable = immutable
        self.max_snapshot_age = max_snapshot_age
        self.sync = sync
        self.salvage = salvage        # `oor recover --salvage`: cut the log at the damage (docs/durability.md)
        self.checkpoint_bytes = checkpoint_bytes
        self.checkpoint_seconds = checkpoint_seconds
        self._lock = threading.RLock()
        self._pub_lock = threading.Lock()
        self.tx_thread = None         # the thread running the write transaction (None: none runs)
        self._tx = None
        self._next_txid = 1
        self._trees = {}
        self._imaged = set()          # pages given a full image since the last CKPT_BEGIN
        self._failed = None
        self._flusher = None
        self._stop = threading.Event()
        self.closed = True
        self.recovery = None
        self.owner_pid = os.getpid()  # invariant 15: an engine object used in another process refuses
        self._ckpt_lsn = 0
        self._ckpt_time = time.monotonic()
        self.pagelog = PageLog()
        self._prune_next = PAGELOG_PRUNE
        # the current snapshot view, the visible LSN (visible_lsn) and the reader slot's published
        # LSN (_published), read by the C fast path of acquire_view (oor_core.snapview)
        self.gate = ViewGate()        # public: Registry's single-call reads run through it (reads.gate_*)
        self.gate.owner_pid = self.owner_pid
        self._snaps = None
        self._readers = None          # read-only: this process's reader table slot (lock file)
        self._slot = None
        self._fast_ok = True          # reader: the gate can watch the durable hint (else: every call refreshes)
        self._alive, self._alive_at = True, -1.0   # reader: is a writer running (asked every 50 ms)
        self._target = DatabaseRecoveryTarget(self)
        self._verifier = verify.CommitVerifier() if verify.enabled() else None   # strict mode (oor.verify)
        if self.vfs.isdir(self.path):
            raise NotAnOorFileError(self.path, "is a directory")
        if not create and not self.vfs.exists(self.path):
            raise FileNotFoundError(errno.ENOENT, "no such database", self.path)
        # The writer lock goes through the vfs like every other I/O: a test's simulator
        # or a custom vfs is locked exactly as the OS files are.  Readers take no writer
        # lock: a reader slot in the lock file (or nothing at all when immutable).
        if read_only:
            self._flock = None          # a reader takes its slot in _open_reader, once the file is an OOR file
        else:
            self._flock = self.vfs.lock(self.path, True, timeout) if timeout else self.vfs.lock(self.path, True)
        self.pager = self.pool = self.wal = None
        try:
            self._open(create, pool_pages, segment_bytes)
        except BaseException:
            # e.g. a text file passed as the database: leave no lock file behind
            self._teardown(remove_lock=True)
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
        if self.read_only:
            self._open_reader(pool_pages)
            return
        if self.vfs.exists(self.path):
            self._flock.cover(self.path)         # every other name of this file meets the same lock
        # invariant 14: what proves how far the log was durable (docs/durability.md)
        self.wal.durable_floor = self._flock.durable_hint()
        self.wal.salvage = self.salvage
        self.wal.on_durable = self._flock.record_durable
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
        clean_end = self.pager.clean_end()     # a clean close: the data file alone holds everything
        if clean_end and not self._readers_attached():
            # the log below the mark is not needed, whatever its state -- unless a reader
            # still reads at a snapshot (it may need it to roll pages back)
            self.wal.discard_all()
            has_log = False
        self.pool = BufferPool(self.pager, pool_pages)
        self.pool.wal_flush_hook = self._wal_flush_hook
        self.pool.op_hook = self._log_changes
        if not has_log and not self.pager.created:
            # The log is gone, never existed, or is not needed after a clean close: continue
            # numbering above every page's LSN.
            self._flock.reset_durable()
            self.wal.durable_floor = 0
            self.wal.open()
            self.wal.start_at(clean_end or self._max_page_lsn() + 1)
        self.salvage_newer = []
        if self.salvage:
            self.wal.open()
            if self.wal.salvaged is not None:    # pages already holding changes from the dropped log
                self.salvage_newer = self.pages_newer_than(self.wal.salvaged["cut_lsn"])
        self.recovery = recover(self._target)
        self._verify_header()                    # the header page must be valid now
        invalidate_cursors(self.pool)
        self._checkpoint_locked()
        self._verify_file_size()
        if clean_end:
            # A fresh log now begins at the mark: clear it (durably) before any new record,
            # and drop the pool's copy of page 0, which still carries it.
            self.pager.set_clean_end(0)
            self.pager.sync()
            self.pool.discard_page(0)
        self.pool.set_mode(PoolMode.IDLE)       # recovered: every change from now on is logged
        self.pagelog = PageLog(self.wal.next_lsn - 1)
        self.visible_lsn = self.wal.next_lsn - 1
        self._snaps = Snapshots(WriterSource(self.wal, self.pagelog, self.path, self.pool, self.pager),
                                self.pager, pool_pages, self.pagelog, self._visible, self.path, self.gate)
        self._snaps.max_age = self.max_snapshot_age

    def _visible(self):
        return self.visible_lsn

    @property
    def visible_lsn(self):
        """The newest snapshot readers may take (a COMMIT or END LSN)."""
        return self.gate.visible

    @visible_lsn.setter
    def visible_lsn(self, lsn):
        self.gate.visible = lsn

    @property
    def _published(self):
        """Reader process: the LSN this process's reader slot holds (0: none)."""
        return self.gate.published

    @_published.setter
    def _published(self, lsn):
        self.gate.published = lsn

    def _readers_floor(self):
        """Oldest snapshot LSN of a live reader process (None: none), slots older than max_snapshot_age ignored."""
        table = getattr(self.vfs, "readers", None)
        if table is None or self._flock is None:
            return None
        if self._readers is None:
            self._readers = table(self.path, create=True)
        return self._readers.oldest(max_age=self.max_snapshot_age)

    def _readers_attached(self):
        """True while any reader process is attached (a claimed slot, with or without a snapshot): such a
        reader may not have followed the log to its end yet, so the log must stay (an idle reader's slot
        holds no LSN, so _readers_floor alone does not see it).  A reader that claims its slot after
        the look starts at the clean-close mark, which is already synced (_open_reader), and needs no
        log below it."""
        table = getattr(self.vfs, "readers", None)
        if table is None or self._flock is None:
            return False
        if self._readers is None:
            self._readers = table(self.path, create=True)
        return bool(self._readers.attached()) or self._readers.oldest() is not None

    def attached_readers(self):
        """(snapshots this process holds, [pid] of the reader processes attached through the reader table):
        what a file replacement (``oor compact``) must wait for.  Caller: oor.archive."""
        held = len(self._snaps.held()) if self._snaps is not None else 0
        table = getattr(self.vfs, "readers", None)
        if table is None or self.read_only:
            return held, []
        if self._readers is None:
            self._readers = table(self.path, create=True)
        return held, [pid for _slot, pid in self._readers.attached()]

    def watermark(self):
        """The oldest snapshot any reader (this process or another) may still read at; the log above
        it and the records the page index lists above it are kept (invariant 18)."""
        marks = [self.visible_lsn]
        if self._snaps is not None:
            mine = self._snaps.oldest()
            if mine is not None:
                marks.append(mine)
        if not self.read_only:
            theirs = self._readers_floor()
            if theirs is not None:
                marks.append(theirs)
        return min(marks)

    # ---- reader processes ---------------------------------------------------------
    def _open_reader(self, pool_pages):
        """A read-only open: nothing is written, no recovery is needed (docs/concurrency.md).

        The log is followed as it grows; a snapshot is the newest COMMIT or END the
        log holds up to the point it is known durable (the writer's hint in the lock
        file), or, with no writer running, the newest in the valid log.
        """
        def make_pager(check_header):
            file = self.vfs.open(self.path, create=False, read_only=True) if self.vfs is not OS_VFS else None
            return Pager(self.path, create=False, read_only=True, file=file, check_header=check_header)
        try:
            self.pager = make_pager(True)     # NotAnOorFileError / VersionMismatchError for a foreign file
        except CorruptPageError as e:
            if e.page_id != 0:
                raise
            self.pager = make_pager(False)    # page 0 torn (mid-write or a crash): the log rebuilds it
        if not self.immutable:
            self._readers = self.vfs.readers(self.path, create=True)
            if self._readers.writable:
                # attached before the hint and the mark are read and the log is listed: a writer
                # closing from now on sees this reader and keeps its log (Database._drop_log); one that
                # closed before left its clean-close mark synced
                self._slot = self._readers.claim()
            if not self._readers.writer_alive():
                if getattr(self.vfs, "data_file_locked", lambda p: False)(self.path):
                    # a writer holds the file through a name whose log we cannot see (a hard link
                    # in another directory): its log is elsewhere, so this name cannot read it
                    raise DatabaseLockedError(
                        self.path, None, who="by a writer through another name of the same file (a hard "
                                             "link in another directory); read it through that name")
                # no writer: the hint proves how far the log was durable (a shorter log is damage);
                # with a writer running, the writer judges its own log (it may be starting a fresh one).
                # A hint at or below the clean-close mark proves nothing: the file holds everything
                # below the mark, and the close that removed the log cleared the hint unsynced
                hint = self._readers.durable_hint()
                mark = self.pager.clean_end()
                self.wal.durable_floor = 0 if mark and hint <= mark else hint
        # A cleanly closed file holds every change below its clean-close mark, so a log that ends at or
        # below the mark holds nothing a reader needs: its old segments may be gone or going (copied or
        # restored without them, or a writer discarding them before it starts a fresh log at the mark),
        # and the reader starts at the mark.  The mark is read before the log is listed: a writer clears
        # it only after its fresh log exists.  A reader's check() then judges page 0 by the trees it
        # reaches (tests/test_header.py).
        mark = self.pager.clean_end()
        self.wal.open()
        first = self.wal.first_lsn
        if mark and mark >= self.wal.next_lsn:
            first = mark
        self.pagelog = PageLog(first - 1)
        self._follow_end = first
        self._start_lsn = first - 1         # the committed state the followed log starts from
        self._follow_lock = threading.RLock()
        self._unseen = []                  # (LSN, end) of COMMIT/END records indexed, not yet durable
        self._last_upto = self._followed_at = -1
        self._follow(None)
        self._snaps = Snapshots(FileSource(self.wal, self.pagelog, self.path, self.pager, self._catch_up),
                                self.pager, pool_pages, self.pagelog, self._reader_visible, self.path, self.gate)
        if self._readers is not None:
            # the gate joins the current view only while the writer's durable hint is unchanged and the
            # writer's liveness was asked less than 50 ms ago; without a mapping of the hint, never
            mapping = getattr(self._readers, "hint_mapping", None)     # optional (oor/vfs.py)
            self.gate.hint_map = mapping() if mapping is not None else None
            self._fast_ok = self.gate.hint_map is not None
            self.gate.fresh_until = -1.0
        if self._readers is not None and self._readers.writable:
            self.gate.guarded = True
            self._slot_lock = threading.Lock()
            self._keeper = threading.Thread(target=self._keep_slot, name="oor-reader-slot", daemon=True)
            self._keeper.start()
        with Snapshot(self._snaps, self._snaps.acquire()) as snap:
            problem = header_bounds(snap.page(0))
        if problem is not None:
            raise CorruptPageError(0, problem, self.path)

    def _durable_point(self):
        """How far a reader may read the log: the writer's durable hint, or everything when no writer runs.

        Whether a writer runs is asked at most every 50 ms (three system calls); a writer that
        died is noticed that late, and until then its last durable commit is the newest seen."""
        if self._readers is None:
            return None
        now = time.monotonic()
        if now - self._alive_at > 0.05:
            self._alive = self._readers.writer_alive()
            self._alive_at = now
        return self._readers.durable_hint() if self._alive else None

    def _catch_up(self, lsn):
        """Index the log at least up to the record at lsn (a page in the file carries that LSN).

        The log rule puts a page's record in the log before the page reaches the file, so with a live
        writer a page past the followed end means the writer is creating or switching the segment that
        holds the record (``WAL.follow`` stops at a segment whose header is not written yet): look again
        for up to two seconds.  With no writer, or after that, it is damage."""
        deadline = None
        while lsn >= self._follow_end:
            self._follow(None)
            if lsn < self._follow_end:
                return
            now = time.monotonic()
            if deadline is None:
                deadline = now + 2.0
            if now > deadline or self._readers is None or not self._readers.writer_alive():
                raise CorruptPageError(0, f"a page carries LSN {lsn}, past the end of the log "
                                          f"({self._follow_end})", self.path)
            time.sleep(0.005)

    def _follow(self, upto):
        """Index the log records appended since the last look, up to upto (None: the valid end).

        Records past the durable point are indexed (for rolling back pages written after them) but
        never become visible: visible_lsn moves only to a COMMIT/END at or below upto."""
        with self._follow_lock:
            self._follow_locked(upto)

    def _follow_locked(self, upto):
        note = self._snaps.source.note_followed if self._snaps is not None else None
        for rec in self.wal.follow(self._follow_end, None):
            t = rec.type
            if t == UPDATE or t == CLR:
                self.pagelog.add(rec.lsn, LF.page_ids(rec.payload, 8 if t == CLR else 0))
                if note is not None:
                    note(rec)
            elif t == UNLOGGED:
                self.pagelog.add_unlogged(rec.lsn, tuple(LF.decode_unlogged(rec.payload)))
            elif t == COMMIT or t == END:
                self._unseen.append((rec.lsn, rec.lsn + rec.length))
            self._follow_end = rec.lsn + rec.length
        # visible: the newest COMMIT/END that is durable (all of them when no writer runs)
        unseen = self._unseen
        k = 0
        while k < len(unseen) and (upto is None or unseen[k][1] <= upto):
            k += 1
        if k:
            self.visible_lsn = max(self.visible_lsn, unseen[k - 1][0])
            del unseen[:k]
        if not self.visible_lsn:
            # no COMMIT or END followed yet: the committed state is the one the log starts from (the
            # data file rolled back over every followed record).  The followed end would show a running
            # or crashed transaction's changes -- a reader during a first batch saw 8,871 uncommitted sets
            # (found by the issue-17 one-walk check; tests/test_snapshot_processes.py)
            self.visible_lsn = self._start_lsn
        first = self.wal.first_lsn
        if first - 1 > self.pagelog.floor and self._snaps is not None and self._snaps.oldest() is None:
            self.pagelog.prune(first - 1)       # the writer removed old segments: the file holds them

    def _reader_visible(self):
        """Refresh from the log and publish this process's oldest snapshot in its reader slot."""
        gate = self.gate
        gate.note_hint()            # before the hint is read: a change after it sends the gate here again
        upto = self._durable_point()
        if self._fast_ok and self._readers is not None:
            gate.fresh_until = self._alive_at + 0.05
        if upto != self._last_upto or (upto is None and self._alive_at != self._followed_at):
            # the writer made more log durable (or, with no writer, at most every 50 ms)
            self._follow(upto)
            self._last_upto, self._followed_at = upto, self._alive_at
        lsn = self.visible_lsn
        if self._slot is not None and lsn != self._published:
            mine = self._snaps.oldest(respect_age=False) if self._snaps is not None else None
            want = lsn if mine is None else min(mine, lsn)
            if want != self._published and want:
                self._readers.publish(self._slot, want)
                self._published = want
                floor = self._readers.floor()
                if floor and floor > want + 1:
                    # the writer dropped log this snapshot needs before it saw the slot: a newer one
                    self._follow(self._durable_point())
                    lsn = self.visible_lsn
                    self._readers.publish(self._slot, lsn)
                    self._published = lsn
        return lsn

    def _keep_slot(self):
        """A reader process's idle slot is cleared within a quarter second, so an idle reader holds
        no log back (the slot is published again by the next snapshot)."""
        while not self._stop.wait(0.25):
            with self._slot_lock:
                # the gate's joins go slow (to this lock) from here: a join before this line is seen by
                # oldest(); none can happen between oldest() and the clearing
                self.gate.clearing = True
                try:
                    readers = self._readers
                    if readers is None or self._stop.is_set():
                        return              # the reader is closing
                    if self._published and self._snaps.oldest(respect_age=False) is None:
                        try:
                            readers.publish(self._slot, 0)
                        except (OSError, ValueError, OorError):
                            return          # the table was closed under us: the reader is closing
                        self._published = 0
                finally:
                    self.gate.clearing = False

    def snapshot(self):
        """A read view at the newest visible commit (docs/concurrency.md): a Snapshot, released by
        ``release()`` or at the end of a ``with`` block.  Never waits for a writer."""
        return Snapshot(self._snaps, self.acquire_view())

    def acquire_view(self):
        """The SnapshotView at the newest visible commit, for one short read; give it back with
        ``release_view``.  (Snapshot wraps the pair; Registry.latest uses it bare: one lookup's cost.)

        The common case is one C call (ViewGate.enter: the current view is at the visible LSN and,
        in a reader process, the durable hint is unchanged, the writer's liveness fresh and the slot
        covers the view); else the slow path refreshes, publishes and moves or makes a view."""
        if self.owner_pid == _PID[0]:
            v = self.gate.enter()
            if v is not None:
                return v
        self._require_open()
        if self._slot is not None:
            with self._slot_lock:        # publishing and taking the view are one step for the keeper
                return self._snaps.acquire()
        return self._snaps.acquire()

    def release_view(self, view):
        self.gate.finish(view)          # retires the view (Snapshots.retire) when idle and not current

    def _verify_header(self):
        """Page 0 verified (checksum) and its references within its page count (pager.pxd condition 5)."""
        with self.pool.read(0) as g:
            problem = header_bounds(g.data)
        if problem is not None:
            raise CorruptPageError(0, problem, self.path)

    def _verify_file_size(self):
        """After a checkpoint every page below the page count is in the file (pager.pxd condition 6)."""
        count, pages = self.pool.page_count, self.pager.file_size() // 4096
        if pages < count:
            raise CorruptPageError(0, f"file header: page count {count} but the file holds only {pages} pages; "
                                      f"restore the database from a backup", self.path)

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
        self._flock.reset_durable()
        # a log left by an earlier database of the same name must not be replayed into this one
        wal_dir = self.path + "-wal"
        for name in self.vfs.listdir(wal_dir):
            if name.endswith(".wal"):
                self.vfs.remove(os.path.join(wal_dir, name))

    def pages_newer_than(self, lsn):
        """Ids of the pages in the file whose LSN is at or above lsn (salvage's report).  Caller: oor recover."""
        out = []
        for pid in range(self.pager.file_size() // 4096):
            raw = self.pager.read_raw(pid)
            if int.from_bytes(raw[8:16], "little") >= lsn:
                out.append(pid)
        return out

    def _max_page_lsn(self):
        best = 0
        n = self.pager.file_size() // 4096
        for pid in range(n):
            raw = self.pager.read_raw(pid)
            best = max(best, int.from_bytes(raw[8:16], "little"))
        return best

    def _wal_flush_hook(self, lsn):
        # The pool asks before every dirty write-back (331k times in a 1M-set ingest), and the log is
        # nearly always durable that far already: durable_lsn only grows, so reading it unlocked is safe.
        if lsn and lsn + 1 > self.wal.durable_lsn:
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
        if self._verifier is not None and tx is not None:
            changes = pool.captured_changes()        # strict mode (oor.verify) reads the ranges
            self._verifier.note(tx.txid, changes)
            payload = LF.encode_changes(changes, self._imaged)
        else:
            # the same payload, diffed in C (logformat.encode_pages: no tuple per range)
            payload = LF.encode_pages(pool.capture.captured_pages(), self._imaged)
        if payload is None:
            if rtype != CLR:
                pool.release_captured(0)
                return 0
            payload = LF.EMPTY_PAGE_LIST      # a CLR of an undo step that changed no byte
        if tx is None:
            pool.release_captured(0)
            raise AssertionError("page changes outside a transaction")
        if rtype == CLR:
            payload = LF.encode_clr(undo_next, payload)
        try:
            lsn, _end = self.wal.append(rtype, tx.txid, tx.last_lsn, payload)
        except BaseException as e:
            self._failed = e
            raise
        if not tx.first_lsn:
            tx.first_lsn = lsn
        tx.last_lsn = lsn
        # indexed before the frames carry the new LSN: a reader meeting that LSN finds the record
        self.pagelog.add(lsn, LF.page_ids(payload, 8 if rtype == CLR else 0))   # exactly the pages it holds
        pool.release_captured(lsn)
        return lsn

    def _log_unlogged(self, tx, pids):
        """Name the pages a bulk build wrote without logging them (after their logged changes so far)."""
        lsn, _end = self.wal.append(UNLOGGED, tx.txid, tx.last_lsn, LF.encode_unlogged(pids))
        self.pagelog.add_unlogged(lsn, list(pids))
        if not tx.first_lsn:
            tx.first_lsn = lsn
        tx.last_lsn = lsn


    # ---- trees -----------------------------------------------------------------
    def tree(self, name, create=False):
        """The B+ tree called name; created (inside the current transaction) when create is true."""
        self._require_open()
        if self.read_only:
            raise OorError(f"{self.path}: opened read-only: read tree {name!r} at a snapshot, "
                           f"db.snapshot().tree({name!r}) (hold the snapshot while you read)")
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
        if self.read_only:
            with self.snapshot() as snap:
                return snap.tree_names()
        with self._lock:
            return sorted(BTree.trees(self.pool))

    # ---- transactions ----------------------------------------------------------
    def transaction(self):
        """Begin a write transaction (context manager).

        Inside a running transaction (same thread) this returns a Savepoint: its
        abort, or an exception leaving its block, undoes exactly the work done
        since it began, and the outer transaction goes on (docs/durability.md).
        """
        self._require_open()
        if self.read_only:
            raise OorError(f"{self.path}: opened read-only")
        self._lock.acquire()
        if self._tx is not None:
            self._lock.release()
            return Savepoint(self, self._tx)
        if self._failed is not None or self.wal.failed is not None:
            self._lock.release()
            raise OorError(f"{self.path}: an earlier I/O failure left the database unusable in this "
                           f"process ({self._failed or self.wal.failed}); reopen it to recover")
        tx = Transaction(self, self._next_txid)
        tx.first_lsn = 0
        tx.last_lsn = 0
        tx.thread = self.tx_thread = threading.get_ident()
        self._next_txid += 1
        self._tx = tx
        self.pool.set_mode(PoolMode.CAPTURING)
        self.pool.batch_pages = max(1, min(64, self.pool.nframes // 8))
        return tx

    def in_own_transaction(self):
        """True in the thread running this database's write transaction (its reads see its writes)."""
        return self.tx_thread is not None and self.tx_thread == threading.get_ident()

    def reading(self):
        """The writer's lock, for reads of the writer's own trees (a transaction's reads, which see its
        own writes).  Every other read runs at a snapshot (``snapshot()``) and takes no lock."""
        self._require_open()
        if self.read_only:
            raise OorError(f"{self.path}: opened read-only: read at a snapshot (Database.snapshot())")
        return self._lock

    def savepoint_mark(self, tx):
        """Where a savepoint of tx begins: its last LSN once every captured change is logged."""
        with self._lock:
            self._require_tx(tx)
            self._log_changes()
            return (tx.last_lsn, self.pool.unlogged_count())

    def rollback_to(self, tx, mark):
        """Undo tx back to a savepoint mark (CLRs logged); tx stays open.  Caller: Savepoint.abort."""
        last, unlogged = mark
        with self._lock:
            self._require_tx(tx)
            try:
                self._log_changes()
                if self.pool.unlogged_count() != unlogged:
                    # pages built unlogged since the mark cannot be rolled back alone
                    self._abort(tx)
                    raise OorError(f"{self.path}: a savepoint cannot roll back a bulk load begun inside it; "
                                   f"the whole transaction {tx.txid} was aborted")
                if tx.last_lsn != last:
                    undo_transaction(self._target, tx.txid, tx.last_lsn, stop_lsn=last)
                    self._log_changes()
                invalidate_cursors(self.pool)
                self._trees.clear()
            except OorError:
                raise
            except BaseException as e:
                self._failed = self._failed or e
                raise

    def _require_tx(self, tx):
        if tx.closed or self._tx is not tx:
            raise TxClosedError(f"transaction {tx.txid} is already {tx.state}")

    def _end(self, tx, state):
        tx.closed = True
        tx.state = state
        self._tx = None
        self.tx_thread = None
        self.pool.set_mode(PoolMode.IDLE)
        self.pool.batch_pages = 0
        self._lock.release()

    def _commit(self, tx):
        end = None
        try:
            self._log_changes()
            if self.pool.unlogged_count():
                self.pool.flush_unlogged()       # bulk-built pages are durable before COMMIT
            if self._verifier is not None:
                self._verifier.run(self.pool, tx.txid)   # OOR_VERIFY: VerifyError, and nothing committed
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
            self._publish(tx.last_lsn)     # readers see it now: durable (full), or written (normal)
            self._maybe_checkpoint()

    def _publish(self, lsn):
        """Make the state as of a COMMIT or END record the one new snapshots see (invariant 16)."""
        with self._pub_lock:
            if lsn > self.visible_lsn:
                self.visible_lsn = lsn
        if len(self.pagelog) > self._prune_next:
            # keep the index small between checkpoints: what no live snapshot can need goes
            # (a long snapshot holds it; then the next try waits for as many records again)
            self.pagelog.prune(self.watermark())
            self._prune_next = len(self.pagelog) + PAGELOG_PRUNE

    def _abort(self, tx):
        try:
            self._log_changes()
            if tx.last_lsn:
                undo_from = tx.last_lsn
                lsn, _ = self.wal.append(ABORT, tx.txid, tx.last_lsn)
                tx.last_lsn = lsn
                undo_transaction(self._target, tx.txid, undo_from)
                lsn, _ = self.wal.append(END, tx.txid, tx.last_lsn)
                tx.last_lsn = lsn
                self._publish(lsn)           # the state after END equals the state before the transaction
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
            n = undo_transaction(self._target, tx.txid, undo_from)
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
        _lsn, end = wal.append(CKPT_END, 0, 0, LF.encode_ckpt_end(begin, active))
        wal.flush(end)
        if self._snaps is not None:
            # invariant 18: keep every record above the watermark (a live snapshot may roll back along it)
            keep = min(keep, self._retention_floor(keep))
        removed = wal.remove_before(keep)
        self._ckpt_lsn = wal.next_lsn
        self._ckpt_time = time.monotonic()
        return removed

    def _retention_floor(self, candidate):
        """The LSN below which the log may go: the candidate, lowered to just above the watermark.

        The candidate is published in the reader table first, then the slots are read: a
        reader that publishes its snapshot after that read sees the published floor and
        takes a newer snapshot (oor/lockfile.py, the retention protocol)."""
        if self._readers is not None and self._readers.writable:
            self._readers.set_floor(candidate)
        mark = self.watermark()
        self.pagelog.prune(mark)
        return min(candidate, mark + 1)

    def check(self, deep=None):
        """Problems found in the file, as strings naming the page, tree or log (empty when clean).

        In order: the pool and the free list (``BufferPool._check``); every
        tree's structure with its page ownership, one walk per tree
        (``BTree._check(free, pages)``): each page is the header, a page of
        exactly one tree, or on the free list; every page's checksum and id as
        read from the file; the log.

        ``deep(tree_of)``, in a reader (read_only; ignored by a writer): the
        caller's check of the trees' contents in the same walk, at the same
        snapshot -- it returns ({tree name: leaf visitor}, finish); each visitor
        sees that tree's leaves (``BTree._check``'s ``visitor``), and finish()
        is called at the end, at that snapshot, only when the file checks
        clean.  The registry's ``oor check`` reads every page once this way.
        An OorError from deep itself (e.g. a damaged small tree it reads
        first) drops it: the file's own checks then say what is wrong.
        """
        self._require_open()
        if self.read_only:
            return self._check_snapshot(deep)
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
            beyond, count = _check_ownership(self.pool, problems)
            for pid in self.pager.bad_pages(0, count):      # read 64 pages a call; re-read what fails
                try:
                    self.pager.read(pid)
                except OorError as e:
                    problems.append(str(e))
            for pid in beyond[:10]:
                problems.append(f"page {pid}: reachable but not below the header's page count {count} "
                                f"(page 0 is corrupt; the next allocation would overwrite it)")
            if self.wal.failed is not None:
                problems.append(f"log: failed ({self.wal.failed})")
            else:
                problems.extend(self.wal.check())
        return problems

    def _rebuildable(self, pid, lsn, writer):
        """A page unreadable in the file that is not damage to report: one the log holds and a running
        writer has yet to write, or one the log has a full image of (torn by a power cut; the next
        writer's recovery repairs it, and readers rebuild it meanwhile)."""
        if not self.pagelog.between(pid, 0, 1 << 62) or (not writer and self.pager.clean_end()):
            return False        # after a clean close the data file alone must hold every page
        if writer or not any(self.pager.read_raw(pid)):
            return True
        try:
            self._snaps.source.image_at(pid, lsn)
            return True
        except OorError:
            return False

    def _check_snapshot(self, deep=None):
        """check() in a reader process: the trees and free list at one snapshot, every page's checksum
        in the file (re-read when a concurrent write tore it), and the log as far as followed."""
        problems = []
        with self.snapshot() as snap:
            writer = self._readers is not None and self._readers.writer_alive()
            visitors, finish = {}, None
            if deep is not None:
                # the registry's records and indexes, checked as the walk passes their leaves (one read of
                # every page, one snapshot -- a writer running or not: a snapshot holds only committed
                # transactions, tests/test_snapshot_processes.py::test_a_reader_during_the_first_batch_...)
                try:
                    visitors, finish = deep(snap.tree)
                except OorError:
                    visitors, finish = {}, None
            beyond, count = _check_ownership(snap.pool, problems, visitors)
            for pid in beyond[:10]:
                problems.append(f"page {pid}: reachable but not below the header's page count {count} "
                                f"(page 0 is corrupt; the next allocation would overwrite it)")
            on_file = min(count, self.pager.file_size() // 4096)
            for pid in self.pager.bad_pages(0, on_file):    # read 64 pages a call; re-read what fails
                try:
                    file_copy(self.pager, pid)
                except OorError as e:
                    # not damage: a page the log holds that a writer has yet to write (all zeros in the
                    # file, or any state while the writer runs); anything else is reported
                    if not self._rebuildable(pid, snap.lsn, writer):
                        problems.append(str(e))
            if finish is not None and not problems:
                finish()
        return problems

    def stats(self):
        self._require_open()
        if self.read_only:
            with self.snapshot() as snap:
                return self._stats(snap.pool)
        with self._lock:
            return self._stats(self.pool)

    def _stats(self, pool):
        st = {"path": self.path, "page_count": pool.page_count, "free_pages": pool.free_count,
              "file_bytes": self.pager.file_size(), "pool": pool.stats(), "trees": {},
              "wal": {"bytes": self.wal.size_bytes(), "segments": len(self.wal.segments),
                      "next_lsn": self.wal.next_lsn, "durable_lsn": self.wal.durable_lsn,
                      "fsyncs": self.wal.fsyncs},
              "sync": self.sync, "snapshot_lsn": self.visible_lsn,
              "watermark": self.watermark(), "snapshots": self._snaps.held() if self._snaps else [],
              "page_index_entries": len(self.pagelog),
              "parked_rolls": self._snaps.parked_rolls if self._snaps else 0}
        for name, tid in sorted(BTree.trees(pool).items()):
            st["trees"][name] = BTree(pool, tid).stats()
        return st

    def close(self):
        """Abort an open transaction, checkpoint, and close (idempotent).

        In a process other than the opener (a forked child), close only lets go of
        this process's copies: it writes nothing and leaves the opener's lock alone.
        """
        if self.closed:
            return
        if self.owner_pid != os.getpid():
            self._forsake()
            return
        with self._lock:
            try:
                if self._tx is not None:
                    self._abort(self._tx)
                    self._lock.acquire()          # _end released the transaction's hold
                if not self.read_only and self._failed is None and self.wal.failed is None:
                    self._checkpoint_locked()
                    self._mark_clean()
                    self._drop_log()
            finally:
                self.closed = True
                self._teardown(flush=True)

    def _mark_clean(self):
        """After the final checkpoint: every page is in the file; say so in page 0 (pager.pxd, clean_end)."""
        pool = self.pool
        pool.flush_all()
        self.pager.sync()
        self.pager.set_clean_end(self.wal.next_lsn)
        self.pager.sync()
        pool.discard_page(0)

    def _drop_log(self):
        """After a clean close with no reader process attached: remove the log (a segment is 16 MiB of
        file with its preallocated zeros; the data file holds everything below the clean-close mark, and
        the next open starts a fresh log at the mark).  The durable hint is cleared first, so a reader
        opening later never takes the missing log for a short, damaged one (and a reader opening with no
        writer ignores a hint at or below the clean-close mark: the hint's write is not synced).  With a
        reader process attached, idle or holding a snapshot, the log stays: it may not have followed the
        last commits yet, or may still roll pages back along the log (invariant 13)."""
        if self._readers_attached():
            return
        if self._flock is not None:
            self._flock.reset_durable()
        self.wal.remove_all()

    def abandon(self):
        """Close without writing anything more to the data file or the log, then release the writer lock.

        Who may call: ``oor.archive.compact``, which has renamed a complete new file over this one and put
        the new file's log in place while holding this lock (so no other writer can open in between); this
        Database's file and log are then no longer the registry's.  Refuses inside a transaction.
        """
        if self.closed:
            return
        with self._lock:
            if self._tx is not None:
                raise OorError(f"{self.path}: abandon() inside a transaction")
            self.closed = True
            self._teardown(flush=False)

    def _forsake(self):
        """Close a forked child's copies of the files without writing or unlocking anything."""
        self.closed = True
        if self.pool is not None and not self.pool.closed:
            self.pool.abandon()
        elif self.pager is not None:
            self.pager.close()
        if self.wal is not None:
            self.wal.close()          # buffered records are the opener's to write
        if self._flock is not None:
            self._flock.forsake()
            self._flock = None

    def _teardown(self, flush=False, remove_lock=False):
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        keeper = getattr(self, "_keeper", None)
        if keeper is not None and keeper is not threading.current_thread():
            keeper.join(timeout=5)        # it may be publishing: the reader table is closed below
        if self._snaps is not None:
            self._snaps.close()
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
            if self._readers is not None:
                self._readers.close()
                self._readers = None
            if self._flock is not None:
                self._flock.release(remove=remove_lock)
                self._flock = None

    def _require_open(self):
        if self.closed:
            raise OorError(f"{self.path}: database is closed")
        if self.owner_pid != _PID[0]:
            raise ForeignProcessError(self.path, self.owner_pid)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DatabaseRecoveryTarget(RecoveryTarget):
    """The RecoveryTarget of one Database (oor.recovery's contract): the log, the pool,
    the transaction table and CLR logging, and nothing else of the database."""

    def __init__(self, db):
        self.db = db

    @property
    def wal(self):
        return self.db.wal

    @property
    def pool(self):
        return self.db.pool

    def set_next_txid(self, txid):
        self.db._next_txid = txid

    def rollback_loser(self, info):
        return self.db._rollback_loser(info)

    def log_clr(self, txid, undo_next):
        db = self.db
        assert db._tx is not None and db._tx.txid == txid
        return db._log_changes(CLR, undo_next)


class Savepoint:
    """A nested transaction() block: a savepoint inside the running transaction.

    Leaving the block normally keeps its work (it commits with the outer
    transaction); an exception leaving it, or ``abort()``, rolls back to where it
    began -- by the same undo as a full abort, with CLRs, so recovery and a later
    full abort skip what it already undid (invariant 7) -- and the outer
    transaction continues.  Who creates one: Database.transaction() only.
    """

    def __init__(self, db, tx):
        self.db = db
        self.tx = tx
        self.txid = tx.txid
        self.closed = False
        self.state = "active"
        self.mark = db.savepoint_mark(tx)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.closed or self.tx.closed:
            return False
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False

    def _require_open(self):
        if self.closed:
            raise TxClosedError(f"savepoint of transaction {self.txid} is already {self.state}")
        if self.tx.closed:
            raise TxClosedError(f"transaction {self.txid} is already {self.tx.state}")

    def commit(self):
        """Keep the savepoint's work as part of the outer transaction."""
        self._require_open()
        self.closed, self.state = True, "released"

    def abort(self):
        """Undo exactly the work done since the savepoint began; the outer transaction goes on."""
        self._require_open()
        self.closed, self.state = True, "rolled back"
        self.db.rollback_to(self.tx, self.mark)


def _check_ownership(pool, problems, visitors=None):
    """The page-ownership half of check(), on a writer's pool or a snapshot's: every tree's structure
    (one walk each), each page the header, a page of one tree, or on the free list.  Appends to problems;
    returns (ids reachable at or past the header's page count, sorted; the header's page count).

    Memory: one byte per page (its owner: 0 none, 1 the header, 2.. a tree, 255 the free list) and the
    walker's bit per page -- about 1.1 MB per GB of file -- where sets and a dict of every page id
    took 309 MB at 10M sets."""
    count = pool.page_count
    owner = bytearray(count)
    names = [None, "the file header"]
    beyond = []
    if count:
        owner[0] = 1
    in_use = []
    for pid in pool.space.free_pages():
        if pid >= count:
            beyond.append(pid)
        elif owner[pid] == 1:
            in_use.append(pid)
        else:
            owner[pid] = 255
    for name, tid in sorted(BTree.trees(pool).items()):
        tag = len(names)
        clashes = []
        visit = visitors.get(name) if visitors else None
        problems.extend(f"tree {name}: {p}" for p in BTree(pool, tid)._check(None, None, owner, tag, clashes, visit))
        for pid, prev in sorted(clashes):
            if prev < 0:
                beyond.append(pid)
            elif prev == 255:
                in_use.append(pid)
            else:
                problems.append(f"page {pid}: used by tree {name} and by {names[prev]}")
        names.append(f"tree {name}")
    for pid in sorted(set(in_use)):
        problems.append(f"page {pid}: on the free list but in use")
    lost = owner.count(0)
    if lost:
        problems.append(f"{lost} pages belong to nothing (first: page {owner.index(0)})")
    return sorted(set(beyond)), count


class Snapshot:
    """A read view of the database frozen at one committed LSN (docs/concurrency.md).

    Made by ``Database.snapshot()``; ``tree(name)`` gives the B+ trees as of that
    LSN (None for a tree that did not exist then).  Held until ``release()``, the
    end of its ``with`` block, or garbage collection; the writer never waits for it.
    """

    __slots__ = ("_snaps", "_view", "lsn", "__weakref__")

    def __init__(self, snaps, view):
        self._snaps = snaps
        self._view = view
        self.lsn = view.lsn

    def _live(self):
        v = self._view
        if v is None:
            raise OorError("this snapshot was released")
        return v

    def tree(self, name):
        return self._live().tree(name)

    def tree_names(self):
        return self._live().tree_names()

    def page(self, pid):
        """Page pid's bytes as of the snapshot (tests, the header check)."""
        with self._live().pool.read(pid) as g:
            return bytes(g.data)

    @property
    def pool(self):
        return self._live().pool

    def release(self):
        v, self._view = self._view, None
        if v is not None:
            self._snaps.release(v)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __del__(self):
        if self._view is not None:
            self.release()


def batched_items(reading, tree, lo, hi, batch=1024):
    """(key, value) pairs of tree with lo <= key < hi, read batch by batch, each batch under
    ``reading()`` (the database's read lock) and none held across a yield, so a slow consumer never
    holds a writer up.  Callers: Registry's range reads and the query layer's Reader."""
    if tree is None:
        return
    while True:
        with reading():
            chunk = []
            for kv in tree.items(lo, hi):
                chunk.append(kv)
                if len(chunk) >= batch:
                    break
        yield from chunk
        if len(chunk) < batch:
            return
        lo = chunk[-1][0] + b"\x00"


def open_database(path, **kw):
    """Open (and, by default, create) the database at path.  See Database for the options."""
    return Database(path, **kw)


def raise_clean_end(path, lsn, vfs=None):
    """Make the next log of a cleanly closed database file start at LSN >= lsn (its clean-close mark
    raised, the file synced).  A file that replaces another (``oor compact``) thereby keeps the LSNs of
    that name growing: the reader table's floor and the durable hint (oor/lockfile.py, condition 7) never
    see them go back.  Caller: oor.archive, on a file no Database has open."""
    vfs = vfs if vfs is not None else OS_VFS
    file = vfs.open(path, create=False) if vfs is not OS_VFS else None
    pager = Pager(path, create=False, file=file)
    try:
        mark = pager.clean_end()
        if not mark:
            raise OorError(f"{path}: not closed cleanly; its clean-close mark cannot be raised")
        if mark < lsn:
            pager.set_clean_end(lsn)
            pager.sync()
    finally:
        pager.close()
