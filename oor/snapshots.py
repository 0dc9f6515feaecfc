"""Snapshot reads: every page as of one committed LSN, beside the one writer (docs/concurrency.md).

Owns: the page-log index (which log records touched which page), PageAt (a
page's bytes as of a snapshot LSN S, rolled forward or back along the log from
whatever copy is at hand), and the snapshot views: per distinct S one small
buffer pool in SNAPSHOT mode whose misses come from PageAt, shared by every
reader at that S, moved forward to the newest commit when nobody holds it.
The common join and leave of the current view are C calls (oor_core.snapview:
ViewBase holds a view's LSN, reader count and trees; the ViewGate of the
Database holds the current view); ``Snapshots`` is their slow path.

Who may import: oor.storage (one ``Snapshots`` per open Database), tests.

A snapshot S is the LSN of a COMMIT or END record (or the end of a recovered
log); a read at S sees every record <= S and none > S (invariant 16).  Two
sources of a page's bytes:

* the writer's own process (``WriterSource``): the writer's frame as of its
  last logged change (``BufferPool.committed_copy``), else the data file.
  That copy is the newest version, so it is only ever rolled *back*, with the
  before-bytes of the records for the page in (S, L];
* a reader process (``FileSource``): the data file's copy, which may be older
  than S (changes still in the writer's pool) or newer (written back since,
  possibly by a transaction that is still running or died), so it is rolled
  forward with the after-bytes of (L, S] or back with the before-bytes of
  (S, L].  A copy that fails its checksum (torn by a concurrent write or a
  crash) is read again, then rebuilt from the newest full image at or below S.

Every record applied is read through the WAL, which verifies its CRC32C; a
record that is needed but no longer kept raises SnapshotTooOldError
(invariant 17).
"""
import bisect
import itertools
import threading
import time

from oor_core import BASE_POOL_FRAMES, BufferPool, PoolMode
from oor_core import logformat as LF
from oor_core.btree import BTree
from oor_core.snapview import ViewBase
from oor_core.errors import CorruptPageError, OorError, SnapshotTooOldError, WalError

__all__ = ["PageLog", "Snapshots", "SnapshotView", "WriterSource", "FileSource", "file_copy", "page_lsn"]

PAGE_SIZE = 4096
ZERO_PAGE = bytes(PAGE_SIZE)
READ_RETRIES = 5            # a page torn by a concurrent write-back is read again this often


def page_lsn(page):
    return int.from_bytes(page[8:16], "little")


class PageLog:
    """The records that touched each page, above ``floor`` (older ones are forgotten).

    Appended in LSN order: by the writer as it logs (storage), or by a reader
    process as it follows the log.  ``between`` answers PageAt, ``changed``
    answers which cached pages a view must drop to move to a newer snapshot.
    """

    def __init__(self, floor=0):
        self.by_page = {}       # page id -> [LSN ascending]
        self.lsns = []          # every record noted, ascending
        self.pages = []         # parallel: the page ids of that record
        self.floor = floor      # records at or below are not listed
        self.unlogged = {}      # page id -> [LSN of each UNLOGGED record naming it]

    def add_unlogged(self, lsn, pids):
        """An UNLOGGED record: a bulk build wrote these pages to the data file, not to the log, so a copy
        read from the file already holds what every earlier record for them did (and more)."""
        for p in pids:
            self.unlogged.setdefault(p, []).append(lsn)
        self.add(lsn, pids)

    def last_unlogged(self, pid, hi):
        """LSN of the newest UNLOGGED record for pid at or below hi, or 0."""
        lst = self.unlogged.get(pid)
        if not lst:
            return 0
        i = bisect.bisect_right(lst, hi)
        return lst[i - 1] if i else 0

    def add(self, lsn, pids):
        by_page = self.by_page
        for p in pids:
            lst = by_page.get(p)
            if lst is None:
                by_page[p] = [lsn]
            else:
                lst.append(lsn)
        self.lsns.append(lsn)
        self.pages.append(pids)

    def between(self, pid, lo, hi):
        """LSNs of the records for pid with lo < LSN <= hi, ascending."""
        lst = self.by_page.get(pid)
        if not lst:
            return []
        return lst[bisect.bisect_right(lst, lo):bisect.bisect_right(lst, hi)]

    def changed(self, lo, hi):
        """Page ids touched by a record with lo < LSN <= hi."""
        out = set()
        for pids in self.pages[bisect.bisect_right(self.lsns, lo):bisect.bisect_right(self.lsns, hi)]:
            out.update(pids)
        return out

    def prune(self, floor):
        """Forget the records at or below floor (no snapshot at or above floor needs them)."""
        if floor <= self.floor:
            return
        i = bisect.bisect_right(self.lsns, floor)
        if i:
            del self.lsns[:i]
            del self.pages[:i]
            for table in (self.by_page, self.unlogged):
                for pid in list(table):
                    lst = table[pid]
                    k = bisect.bisect_right(lst, floor)
                    if k == len(lst):
                        del table[pid]
                    elif k:
                        del lst[:k]
        self.floor = floor

    def __len__(self):
        return len(self.lsns)

    def _check(self):
        problems = []
        if self.lsns != sorted(self.lsns):
            problems.append("page log: records out of LSN order")
        for pid, lst in self.by_page.items():
            if lst != sorted(lst) or (lst and lst[0] <= self.floor):
                problems.append(f"page log: page {pid}: LSNs out of order or at/below the floor {self.floor}")
        return problems


def _page_list(rec):
    """(payload, start of its page list) of an UPDATE or CLR record; None for an UNLOGGED one (no bytes
    logged)."""
    if rec.type == LF.UPDATE:
        return rec.payload, 0
    if rec.type == LF.CLR:
        return rec.payload, 8
    return None


PARK_SHARE = 0.25               # parked pages a view keeps, as a share of its first frames (SnapshotView)
PAYLOAD_BYTES = 16 << 20        # record payloads kept per process: a commit's records serve all its pages
FOLLOWED_BYTES = 8 << 20        # followed, not yet used records kept per reader process


class _Roller:
    """Rolls a page copy along the log: the shared half of both sources.

    The payloads of the records used are kept (by LSN, up to PAYLOAD_BYTES): after a commit every page it
    changed is rebuilt from the same few records, and each is read and checked once.  A roll applies one
    page's change straight from the payload (``logformat.apply_page``); decoding a 64-page record for
    every page was most of a reader process's cost per commit (bench/bench_concurrency.py)."""

    def __init__(self, wal, pagelog, path):
        self.wal = wal
        self.log = pagelog
        self.path = path
        self._payloads = {}         # LSN -> (payload, page list start) or None (UNLOGGED)
        self._payload_bytes = 0
        self._payload_lock = threading.Lock()
        self._followed = {}         # LSN -> Record just followed (checked by WAL.follow), not yet used
        self._followed_bytes = 0

    def note_followed(self, rec):
        """A record a reader process just followed: a roll soon after takes it from here instead of
        reading and checking it again (bench_concurrency's quick load: 26 records, 6.8 ms of WAL.read
        per reader process).  Kept up to FOLLOWED_BYTES, oldest dropped first."""
        with self._payload_lock:
            self._followed[rec.lsn] = rec
            self._followed_bytes += len(rec.payload)
            while self._followed_bytes > FOLLOWED_BYTES and len(self._followed) > 1:
                old = next(iter(self._followed))
                self._followed_bytes -= len(self._followed.pop(old).payload)

    def _page_list_at(self, lsn, snapshot):
        """(payload, start) of the page list of the record at lsn, or None (UNLOGGED)."""
        try:
            return self._payloads[lsn]
        except KeyError:
            pass
        with self._payload_lock:
            rec = self._followed.pop(lsn, None)
            if rec is not None:
                self._followed_bytes -= len(rec.payload)
        if rec is None:
            rec = self._read(lsn, snapshot)
        got = _page_list(rec)
        with self._payload_lock:
            if lsn not in self._payloads:
                self._payloads[lsn] = got
                if got is not None:
                    self._payload_bytes += len(got[0])
                while self._payload_bytes > PAYLOAD_BYTES and len(self._payloads) > 1:
                    old = self._payloads.pop(next(iter(self._payloads)))
                    if old is not None:
                        self._payload_bytes -= len(old[0])
        return got

    def _change(self, lsn, pid, snapshot):
        """The PageChange of page pid in the record at lsn, or None (UNLOGGED).  Only for a full image
        (``image_at``, the rare path); rolls apply the bytes in place."""
        got = self._page_list_at(lsn, snapshot)
        if got is None:
            return None
        for pc in LF.decode_pages(*got):
            if pc.page_id == pid:
                return pc
        raise OorError(f"log: LSN {lsn}: the page index lists page {pid} but the record does not hold it")

    def _apply(self, lsn, pid, page, snapshot, forward):
        got = self._page_list_at(lsn, snapshot)
        if got is None:
            return
        if not LF.apply_page(got[0], got[1], pid, page, forward):
            raise OorError(f"log: LSN {lsn}: the page index lists page {pid} but the record does not hold it")

    def _read(self, lsn, snapshot):
        try:
            return self.wal.read(lsn)
        except WalError as e:
            raise SnapshotTooOldError(f"{self.path}: snapshot at LSN {snapshot} is too old: the log record "
                                      f"at LSN {lsn} it needs is no longer kept ({e})") from None

    def roll(self, page, pid, frm, to):
        """page (a bytearray holding pid as of LSN frm) -> pid as of LSN to."""
        if frm < to:
            # a bulk build's copy in the file supersedes every record before its UNLOGGED record
            frm = max(frm, self.log.last_unlogged(pid, to))
            for lsn in self.log.between(pid, frm, to):
                self._apply(lsn, pid, page, to, True)
        elif frm > to:
            if to < self.log.floor:
                raise SnapshotTooOldError(f"{self.path}: snapshot at LSN {to} is too old: page {pid} changed "
                                          f"since, and the log of that change is no longer kept")
            for lsn in reversed(self.log.between(pid, to, frm)):
                self._apply(lsn, pid, page, to, False)
        page[8:16] = to.to_bytes(8, "little")
        return page


class WriterSource(_Roller):
    """PageAt in the writer's process: the writer's frame (or the file) rolled back to S."""

    direct_file = False         # its views copy in C from the writer's pool instead (direct_pool)

    def __init__(self, wal, pagelog, path, pool, pager):
        super().__init__(wal, pagelog, path)
        self.pool = pool
        self.pager = pager

    @property
    def direct_pool(self):
        """The pool a view's miss may copy from in C (bufpool.pyx, _direct_copy): the writer's."""
        return self.pool

    def page_at(self, pid, snapshot):
        base = self.pool.committed_copy(pid)
        if base is None:
            base = file_copy(self.pager, pid)
        elif not base:
            return ZERO_PAGE                # new since the last record: not part of any snapshot
        lsn = page_lsn(base)
        if lsn <= snapshot:
            return base                     # the newest version is old enough
        return self.roll(bytearray(base), pid, lsn, snapshot)


class FileSource(_Roller):
    """PageAt in a reader process: the data file's copy rolled forward or back to S."""

    direct_pool = None          # a reader process's miss must consult the log index first ...
    direct_file = True          # ... which C does for a page it does not list (SnapshotView)

    def __init__(self, wal, pagelog, path, pager, catch_up):
        super().__init__(wal, pagelog, path)
        self.pager = pager
        self.catch_up = catch_up        # catch_up(lsn): index the log at least up to lsn

    def page_at(self, pid, snapshot):
        for attempt in range(3):
            base = file_copy(self.pager, pid, missing_ok=True)
            if base is None:
                base = self.image_at(pid, snapshot)
            lsn = page_lsn(base)
            if lsn > snapshot:
                # written back after records this process has not indexed yet (the writer makes the
                # log durable before it writes a page, so they are there to read)
                self.catch_up(lsn)
            elif not self.log.between(pid, max(lsn, self.log.last_unlogged(pid, snapshot)), snapshot):
                return base                 # the common case: the file's copy is the version at S
            try:
                return self.roll(bytearray(base), pid, lsn, snapshot)
            except SnapshotTooOldError:
                # a record between the file's copy and S was removed after the copy was read
                # (the writer wrote the page back and checkpointed meanwhile): read it again
                if attempt == 2 or lsn > snapshot:
                    raise
        raise AssertionError("unreachable")

    def image_at(self, pid, snapshot):
        """A full image of pid to start from when the file's copy is torn or missing: the newest at or
        below S (rolled forward), else the oldest above S (rolled back: its record keeps the old bytes
        of what it changed).  A torn write is always of a page whose image the log holds (invariant 6)."""
        for lsn in reversed(self.log.between(pid, 0, snapshot)):
            pc = self._change(lsn, pid, snapshot)
            if pc is not None and pc.image is not None:
                return _stamped(pc.image, lsn)
        for lsn in self.log.between(pid, snapshot, 1 << 62):
            pc = self._change(lsn, pid, snapshot)
            if pc is not None and pc.image is not None:
                return _stamped(pc.image, lsn)
        raise CorruptPageError(pid, "unreadable in the data file and no full image of it is in the log",
                               self.path)


def _stamped(image, lsn):
    page = bytearray(image)
    page[8:16] = lsn.to_bytes(8, "little")
    return page


def file_copy(pager, pid, missing_ok=False):
    """The data file's verified copy of pid; re-read when torn by a concurrent write.  missing_ok: None
    when the file has no copy -- never written (past the end or a hole: not read again, its version is
    in the log; a reader beside a writer loading the history used to sleep 2 ms in retries for each of
    ~30 such pages, 0.5 s of a 1.2 s run), or still unreadable after the retries."""
    for attempt in range(READ_RETRIES):
        try:
            if missing_ok:
                return pager.read_if_written(pid)
            return pager.read(pid)
        except CorruptPageError:
            if attempt == READ_RETRIES - 1:
                if missing_ok:
                    return None
                raise
            time.sleep(0.0002 * (attempt + 1))


class SnapshotView(ViewBase):
    """One snapshot LSN with its buffer pool of pages as of that LSN; shared by its readers.

    ViewBase (C) holds ``lsn``, ``refs`` (readers holding it: joined and left only through the
    gate, ``claim`` and ``join``, each one atomic C call), ``moving`` and the tree handles."""

    def __init__(self, owner, pager, nframes):
        self.owner = owner
        self.lsn = 0
        self.since = 0.0                # time.monotonic() when this LSN was first handed out
        self.pool = BufferPool(pager, nframes)
        self.pool.set_mode(PoolMode.SNAPSHOT)
        self.pool.page_source = self._page
        # pid -> (bytes of pid as of LSN frm, frm): cached pages a move found changed, rolled forward only
        # when read again (at most PARK_SHARE of the frames; the oldest parked first out)
        self.parked = {}
        self.park_cap = max(64, int(min(nframes, BASE_POOL_FRAMES) * PARK_SHARE))
        # a miss in C when the newest copy at hand is old enough (bufpool.pyx, _direct_copy): in the
        # writer's process only (a reader process must look up the log index first)
        base = owner.source.direct_pool
        if base is not None:
            self.pool.base_pool = base
            self.pool.parked_map = self.parked
        elif owner.source.direct_file:
            # a reader process: a page its followed log does not list is the file's copy, in C
            # (bufpool.pyx, _file_direct)
            self.pool.log_pages = owner.log.by_page
            self.pool.parked_map = self.parked

    def _page(self, pid):
        """The pool's miss: pid as of this view's LSN -- from its parked copy when a move parked it (roll
        forward along the records of the gap), else from the source (the data file's or the writer's copy)."""
        got = self.parked.pop(pid, None)
        if got is not None:
            page, frm = got
            log = self.owner.log
            # usable only while the index still lists every record after frm (floor) and no bulk build
            # rewrote the page after it (its bytes are in the file, not the log)
            if frm >= log.floor and frm <= self.lsn and log.last_unlogged(pid, self.lsn) <= frm:
                try:
                    page = self.owner.source.roll(bytearray(page), pid, frm, self.lsn)
                except SnapshotTooOldError:
                    pass
                else:
                    self.owner.parked_rolls += 1
                    return page
        return self.owner.source.page_at(pid, self.lsn)

    def move_to(self, lsn, pagelog):
        """Point the idle view at a newer snapshot.  Each cached page changed in between is parked: taken
        out of the pool with its bytes as of the old LSN, and rolled forward along the records of the gap
        only if a reader asks for it again (``_page``).  A reader process beside a loader had rolled every
        cached page a commit changed at every move -- with a warm pool, the whole commit's records decoded
        and applied per reader process, most of them for pages it never read again (bench_concurrency
        figure 3).  Rebuilding from the data file's copy instead would replay every record since the
        page's last write-back, per page and per commit; a parked copy is at most a few moves old."""
        if lsn == self.lsn:
            return
        parked = self.parked
        if self.lsn < pagelog.floor or lsn < self.lsn:
            self.pool.discard_clean()
            parked.clear()
        else:
            old = self.lsn
            drop = []
            pool = self.pool
            for pid in pagelog.changed(old, lsn):
                page = pool.snapshot_page(pid)
                if page is not None:
                    parked[pid] = (page, old)
                    drop.append(pid)
                # a page parked by an earlier move keeps its older copy: rolled from there when read
            pool.discard_clean(drop)
            over = len(parked) - self.park_cap
            if over > 0:
                for pid in list(itertools.islice(parked, over)):
                    del parked[pid]
        self.lsn = lsn
        self.pool.snap_lsn = lsn
        self.trees = {}
        self.since = time.monotonic()

    def _make_tree(self, name):
        """The B+ tree called name as of this snapshot, or None (ViewBase.tree caches it)."""
        ids = BTree.trees(self.pool)
        return BTree(self.pool, ids[name]) if name in ids else None

    def tree_names(self):
        return sorted(BTree.trees(self.pool))

    def close(self):
        self.parked.clear()
        self.pool.detach()


class Snapshots:
    """The snapshot views of one open Database and the in-process half of the watermark.

    ``acquire()`` hands out the view at the newest visible commit (creating or
    moving one); ``release(view)`` gives it back.  Thread-safe.  The common
    case never gets here: the Database's ViewGate joins and leaves the current
    view in C (``gate.enter()`` / ``gate.leave(v)``); this is the slow path.
    """

    SPARES = 2                          # idle views kept for reuse beside the current one

    def __init__(self, source, pager, nframes, pagelog, visible, path, gate):
        self.source = source
        self.pager = pager
        self.nframes = nframes
        self.log = pagelog
        self.visible = visible          # callable: the newest snapshot LSN readers may take (refreshed)
        self.path = path
        self.gate = gate                # oor_core.snapview.ViewGate: gate.current is the current view
        gate.on_idle = self.retire      # gate.finish(v) retires an idle, no longer current view
        self.lock = threading.Lock()
        self.views = []                 # every open view (the current one included)
        self.max_age = None             # seconds: older views do not hold the watermark
        self.parked_rolls = 0           # misses served by rolling a parked copy forward (SnapshotView._page)

    @property
    def current(self):
        return self.gate.current

    @property
    def closed(self):
        return self.gate.closed

    def acquire(self):
        lsn = self.visible()
        gate = self.gate
        with self.lock:
            if gate.closed:
                raise OorError(f"{self.path}: the database is closed")
            v = gate.current
            if v is not None and v.lsn == lsn and not v.moving:
                v.join()
                return v
            # a view nobody holds is claimed (atomically: a reader joining it first makes the claim fail)
            if v is None or not v.claim():
                v = next((w for w in self.views if w.claim()), None)
                if v is None:
                    v = SnapshotView(self, self.pager, self.nframes)
                    v.moving = True
                    self.views.append(v)
            try:
                v.move_to(lsn, self.log)
            finally:
                v.moving = False
            v.join()
            gate.current = v
            return v

    def release(self, v):
        if self.gate.leave(v):
            self.retire(v)

    def retire(self, v):
        """v is idle and no longer current: close it unless it is one of the SPARES idle views kept."""
        with self.lock:
            if not v.refs and v is not self.gate.current and v in self.views:
                idle = [w for w in self.views if not w.refs and w is not self.gate.current]
                if len(idle) > self.SPARES:
                    v.close()
                    self.views.remove(v)

    def oldest(self, respect_age=True):
        """Smallest snapshot LSN held in this process (None when none); with respect_age, views held
        longer than max_age do not count (they hold the log back no more)."""
        now = time.monotonic()
        best = None
        limit = self.max_age if respect_age else None
        with self.lock:
            for v in self.views:
                if v.refs and (limit is None or now - v.since <= limit):
                    best = v.lsn if best is None else min(best, v.lsn)
        return best

    def held(self):
        """[(snapshot LSN, readers, seconds held)] of the views in use (stats())."""
        now = time.monotonic()
        with self.lock:
            return sorted((v.lsn, v.refs, round(now - v.since, 3)) for v in self.views if v.refs)

    def close(self):
        with self.lock:
            self.gate.closed = True
            for v in self.views:
                v.close()
            self.views = []
            self.gate.current = None
