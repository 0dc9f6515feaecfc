"""The ``<db>-lock`` file: the writer lock, the durable-LSN hint and the reader table.

Owns the lock file's bytes; everyone else goes through the two classes here.
Who may import: oor.vfs (``OsVfs.lock`` creates an OsLock, ``OsVfs.readers`` a
ReaderTable), tests.  Caller of OsLock's methods: oor.storage and oor.wal (the
durable hint); of ReaderTable's: oor.storage.

Byte table (little-endian; the file is at most 8192 bytes):

    OFFSET  SIZE  DESCRIPTION
         0    32  writer PID: ASCII decimal, "\\n", NUL padding; all NUL when no writer
        32    32  reserved, zero
        64    16  durable-LSN hint: b"OORD" | u64 LSN | u32 CRC32C of bytes 64..75
        80  4016  reserved, zero
      4096     4  reader table magic b"OORR"
      4100     4  u32 reader table version (1)
      4104     8  u64 floor: the writer's published retention floor (an LSN)
      4112    48  reserved, zero
      4160  4032  126 reader slots of 32 bytes, slot i at 4160 + 32*i:
                    +0  u32 pid of the reader that claimed it
                    +4  u32 reserved, zero
                    +8  u64 snapshot LSN (0: the slot holds no snapshot)
                   +16  f64 start time (time.time() when this LSN was published)
                   +24  u64 reserved, zero
      8192        end

    0        32       64       80              4096     4160                           8192
    +--------+--------+--------+---------------+--------+------+------+-- ... --+------+
    | PID    | (zero) | hint   | (zero)        | header | slot | slot |         | slot |
    +--------+--------+--------+---------------+--------+------+------+-- ... --+------+
                                                         0      1                125

Locks on the file (all die with their process, kill -9 included):
- the writer lock: ``flock(LOCK_EX)`` on the whole file (OsLock), plus one on the
  data file itself (``OsLock.cover``; invariant 15);
- one open-file-description byte-range lock (``F_OFD_SETLK``, ``F_WRLCK``) per
  claimed reader slot, on the slot's 32 bytes (ReaderTable).  On Linux flock and
  fcntl locks are independent, so the two kinds never conflict.

The file is valid if and only if:
 1. Bytes 0..31 are all NUL, or ASCII digits then "\\n" then NULs.  They name the
    writer only while the writer flock is held: OsLock writes them after taking
    it and clears them on release; a refused opener and ``writer_pid()`` read them
    (a PID that does not parse is reported as unknown, never trusted).
 2. The hint counts only when its magic is b"OORD" and its CRC32C matches
    (``decode_hint``); otherwise it counts as 0 (nothing proven durable).
 3. A file shorter than 8192 bytes (written by an older build, or on read-only
    media) has no reader table: no live slot, floor 0.  A writable opener extends
    it to 8192 bytes and never shrinks it (``ReaderTable.__init__``).
 4. The reader table header (bytes 4096..4103) is all zero (not written yet: the
    next writable opener writes it) or b"OORR" with version 1; any other magic or
    version is refused with a clear error (``ReaderTable._read_header``).
 5. Slot i is live exactly while an OFD write lock is held on bytes
    4160+32i .. 4191+32i (``ReaderTable.live``; invariant 19).  An unlocked slot's
    bytes mean nothing (a dead reader's leftovers); the next claimer overwrites them.
 6. A live slot with LSN 0 holds no snapshot; a live slot with LSN S asks the
    writer to keep what a read at S needs (invariant 13), unless it is older than
    the writer's ``max_age`` (``ReaderTable.oldest``).
 7. The floor never decreases while the database's LSNs keep growing (the writer's
    duty: it publishes the point below which it may remove log).

The retention protocol (why the floor exists).  The writer, to remove log below
a candidate point C: (W1) ``set_floor(C)``; (W2) ``oldest()`` reads the slots,
giving O; (W3) removes only what lies below min(C, O).  A reader, to take a
snapshot at S: (R1) ``publish(slot, S)``; (R2) ``floor()`` gives F; if F > S the
log below F may be gone and the reader retries with a newer S (or raises
SnapshotTooOldError); else S is safe.  Proof: each step is one pread/pwrite
system call on the same file, and the kernel orders a call that starts after
another has returned after it (the page cache is shared).  If R2 returns before
W1 starts, then W2 starts after R1 returned and sees S, so O <= S.  Otherwise R2
ends after W1 started; if R2 read the new floor C (or a later one: condition 7)
and accepted, C <= F <= S; if it read a mix of old and new floor bytes while W1
was writing, then W2 still started after R1 returned and sees S.  Either way
min(C, O) <= S.  A torn read of a slot in W2 can only mix S with a publish that
is still running, i.e. with a later snapshot of the same reader, whose own R1/R2
round then faces the case "R2 ends after W1 started".
"""
import errno
import fcntl
import mmap
import os
import struct
import threading
import time
import weakref

from oor_core.checksum import crc32c
from oor_core.errors import DatabaseLockedError, OorError, VersionMismatchError

__all__ = ["OsLock", "ReaderTable", "lock_path", "encode_hint", "decode_hint",
           "PID_AREA", "HINT_OFFSET", "HINT_SIZE", "TABLE_OFFSET", "SLOT_OFFSET", "SLOT_SIZE",
           "SLOTS", "FILE_SIZE"]

PID_AREA = 32
HINT_OFFSET = 64
HINT_SIZE = 16
TABLE_OFFSET = 4096
TABLE_MAGIC = b"OORR"
TABLE_VERSION = 1
FLOOR_OFFSET = 4104
SLOT_OFFSET = 4160
SLOT_SIZE = 32
SLOTS = 126
FILE_SIZE = SLOT_OFFSET + SLOTS * SLOT_SIZE          # 8192
assert FILE_SIZE == 8192

_HINT = struct.Struct("<4sQ")
_HEADER = struct.Struct("<4sI")
_U64 = struct.Struct("<Q")
_SLOT = struct.Struct("<IIQdQ")                      # pid, reserved, LSN, start time, reserved
_PUBLISH = struct.Struct("<Qd")                      # LSN, start time (slot bytes 8..23)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

# struct flock as Linux lays it out on 64-bit targets: short l_type, short l_whence,
# off_t l_start, off_t l_len, pid_t l_pid, padding (32 bytes).  OFD locks need l_pid = 0.
_FLOCK = struct.Struct("hhqqi4x")
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
F_OFD_SETLKW = getattr(fcntl, "F_OFD_SETLKW", 38)
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def lock_path(db_path):
    """The lock file of a database (its canonical name, see OsVfs.canonical)."""
    return db_path + "-lock"


def encode_hint(lsn):
    """The 16 bytes of the durable-LSN hint (condition 2)."""
    body = _HINT.pack(b"OORD", lsn)
    return body + struct.pack("<I", crc32c(body))


def decode_hint(raw):
    """The LSN a hint's bytes prove durable, or 0 when they are not a valid hint (condition 2)."""
    if len(raw) < HINT_SIZE:
        return 0
    magic, lsn = _HINT.unpack_from(raw, 0)
    if magic != b"OORD" or struct.unpack_from("<I", raw, 12)[0] != crc32c(bytes(raw[:12])):
        return 0
    return lsn


def _parse_pid(raw):
    text = bytes(raw).decode("ascii", "replace").strip("\0 \n")
    return int(text) if text.isdigit() else None


def _flock_wait(fd, op, timeout, grace=None):
    """Take flock ``op`` (non-blocking), retrying every 10-50 ms for ``timeout`` seconds; True when taken.

    ``grace()``: asked after a refusal once the timeout has run out; while it
    returns True, keep trying for at most 20 ms more (a reader's brief probe,
    ``ReaderTable.writer_alive``, can hold a shared flock for a few microseconds).
    """
    start = time.monotonic()
    deadline = start + max(0.0, timeout)
    delay = 0.01
    while True:
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno not in _BUSY:
                raise
        now = time.monotonic()
        if now >= deadline:
            if grace is None or now >= deadline + 0.02 or not grace():
                return False
            time.sleep(0.001)
            continue
        time.sleep(min(delay, deadline - now))
        delay = min(0.05, delay * 1.5)


class OsLock:
    """The writer lock of one database file: exclusive for a writer, shared for a reader.

    Two flocks, both dying with the process (kill -9 included): one on
    ``<canonical name>-lock`` (it serialises creation and holds the writer's
    PID, so that a refused opener can name it), and, once the data file
    exists, one on the data file itself (``cover``), which every name of the
    file meets -- symlinks, hard links, relative and ``..`` paths alike
    (invariant 15).  ``timeout``: seconds to wait for a refused lock (retrying
    every 10-50 ms) before raising DatabaseLockedError; 0 refuses at once.
    Who creates one: OsVfs.lock (the storage layer).
    """

    def __init__(self, db_path, exclusive, timeout=0.0):
        self.path = lock_path(db_path)
        self.exclusive = exclusive
        self.timeout = timeout
        self.data_fd = -1
        self.created = not os.path.exists(self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _CLOEXEC, 0o644)
        op = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            taken = _flock_wait(self.fd, op, timeout, grace=lambda: self._holder() is None)
        except BaseException:
            os.close(self.fd)
            self.fd = -1
            raise
        if not taken:
            pid = self._holder()
            os.close(self.fd)
            self.fd = -1
            who = None
            if timeout > 0:
                who = (f"by process {pid}" if pid else "by another process") + f" (waited {timeout:g} s)"
            raise DatabaseLockedError(db_path, pid, who=who)
        if exclusive:
            os.pwrite(self.fd, (b"%d\n" % os.getpid()).ljust(PID_AREA, b"\0"), 0)

    def _holder(self):
        """The PID in the PID area (condition 1), or None."""
        try:
            return _parse_pid(os.pread(self.fd, PID_AREA, 0))
        except OSError:
            return None

    def release(self, remove=False):
        """Unlock (idempotent); remove=True also deletes the lock file if this lock created it
        (a failed first open leaves nothing behind)."""
        if self.fd < 0:
            return
        try:
            if self.exclusive:
                os.pwrite(self.fd, bytes(PID_AREA), 0)      # the hint and the reader table stay
        finally:
            os.close(self.fd)
            self.fd = -1
        if self.data_fd >= 0:
            os.close(self.data_fd)
            self.data_fd = -1
        if remove and self.created:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def record_durable(self, lsn):
        """Note that the log is durable up to lsn (no fsync: a lower bound after a power cut).  Caller: the WAL."""
        os.pwrite(self.fd, encode_hint(lsn), HINT_OFFSET)

    def durable_hint(self):
        """The LSN up to which the log was last known durable, or 0 (no valid hint)."""
        return decode_hint(os.pread(self.fd, HINT_SIZE, HINT_OFFSET))

    def reset_durable(self):
        """Forget the hint (a new database, or a fresh log after a clean close).  Caller: storage."""
        os.pwrite(self.fd, bytes(HINT_SIZE), HINT_OFFSET)

    def cover(self, data_path):
        """Lock the data file itself (after it exists), so that another name of the same file is refused too.

        Waits up to the lock's timeout like the lock file's flock."""
        if self.data_fd >= 0:
            return
        fd = os.open(data_path, os.O_RDONLY | _CLOEXEC)
        try:
            # at least 20 ms: a reader's probe (OsVfs.data_file_locked) holds a shared flock for microseconds
            taken = _flock_wait(fd, fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH, max(self.timeout, 0.02))
        except BaseException:
            os.close(fd)
            raise
        if not taken:
            os.close(fd)
            raise DatabaseLockedError(
                data_path, None, who="by another process through another name of the same file "
                                     "(a hard link in another directory)")
        self.data_fd = fd

    def forsake(self):
        """A forked child's copy: close it without unlocking or clearing the PID (the opener keeps both)."""
        for name in ("fd", "data_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)


# ---- the reader table ------------------------------------------------------------------------

def _slot_offset(slot):
    return SLOT_OFFSET + SLOT_SIZE * slot


def _ofd_lock(fd, slot):
    """Try to take the OFD write lock of a slot; True when taken, False when another description holds it."""
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, _slot_offset(slot), SLOT_SIZE, 0))
        return True
    except OSError as e:
        if e.errno in _BUSY:
            return False
        raise


def _ofd_unlock(fd, slot):
    fcntl.fcntl(fd, F_OFD_SETLK, _FLOCK.pack(fcntl.F_UNLCK, os.SEEK_SET, _slot_offset(slot), SLOT_SIZE, 0))


def _ofd_held_elsewhere(fd, slot):
    """True when another open file description holds a lock on the slot (works on an O_RDONLY fd)."""
    res = fcntl.fcntl(fd, F_OFD_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, _slot_offset(slot), SLOT_SIZE, 0))
    return _FLOCK.unpack(res)[0] != fcntl.F_UNLCK


_TABLES = weakref.WeakSet()      # every open ReaderTable of this process (closed in forked children)


def _after_fork_in_child():
    # A forked child shares the parent's open file descriptions, hence its slot locks:
    # left open, the child would keep a dead parent's slots live (condition 5).  Closing
    # the child's descriptor leaves the parent's locks alone (they go with the last close).
    for table in list(_TABLES):
        table._mutex = threading.Lock()      # another parent thread may have held it at the fork
        table.forsake()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _cannot_create(path, e):
    return OorError(
        f"{path}: cannot create the lock file ({e.strerror or e}); readers need it to see the writer's "
        f"changes safely. If nobody writes this database (read-only media), open it with immutable=True "
        f"(CLI --immutable); otherwise give this user write access to the directory")


def exclusively_locked(path):
    """True when another open file holds an exclusive flock on path: a shared flock, tried on a fresh
    read-only descriptor and dropped at once (a writer allows for such a probe: _flock_wait's grace).
    Callers: ReaderTable.writer_alive (the lock file), OsVfs.data_file_locked (the data file)."""
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in _BUSY:
                return True
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class ReaderTable:
    """The reader slots of one database's lock file, seen through one open file description.

    One per open read-only Database (and one for the writer, which reads the
    slots and sets the floor).  ``writable`` is False when the lock file could
    only be opened read-only: such a table reads (``live``, ``oldest``,
    ``floor``, ``writer_alive``) but cannot claim or publish.  Thread-safe (one
    mutex guards the table object).  A forked child's copy is forsaken at fork
    (its descriptor closed, the parent's slots untouched); using it raises.
    Who creates one: OsVfs.readers.

    >>> import os, tempfile
    >>> t = ReaderTable(os.path.join(tempfile.mkdtemp(), "db-lock"))
    >>> s = t.claim(); t.publish(s, 5000); [e[2] for e in t.live()], t.oldest()
    ([5000], 5000)
    >>> t.release(s); t.oldest() is None
    True
    >>> t.close()
    """

    def __init__(self, lock_path, create=True):
        self.path = lock_path
        self.owner_pid = os.getpid()
        self._mutex = threading.Lock()
        self._mine = set()                     # slots this table has claimed
        self._buf = bytearray(_PUBLISH.size)   # publish() packs here: no allocation per snapshot
        self._map = None                       # the first page, mapped by durable_hint()
        self._hint_raw, self._hint = b"", 0
        self.fd, self.writable = self._open(lock_path, create)
        try:
            if self.writable and os.fstat(self.fd).st_size < FILE_SIZE:
                os.ftruncate(self.fd, FILE_SIZE)          # condition 3: extend, never shrink
            if self._read_header() is None and self.writable:
                os.pwrite(self.fd, _HEADER.pack(TABLE_MAGIC, TABLE_VERSION), TABLE_OFFSET)
        except BaseException:
            os.close(self.fd)
            self.fd = -1
            raise
        _TABLES.add(self)

    @staticmethod
    def _open(path, create):
        """(fd, writable): read-write when we may, read-only when the file or its medium refuses writes."""
        flags = os.O_RDWR | _CLOEXEC | (os.O_CREAT if create else 0)
        try:
            return os.open(path, flags, 0o644), True
        except OSError as e:
            if e.errno == errno.ENOENT and not create:
                raise FileNotFoundError(errno.ENOENT, "no lock file (the database has no reader table)",
                                        path) from None
            if e.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
                if e.errno == errno.ENOENT:
                    raise _cannot_create(path, e) from None
                raise OorError(f"{path}: cannot open the lock file ({e.strerror or e})") from None
            first = e
        try:
            return os.open(path, os.O_RDONLY | _CLOEXEC), False
        except FileNotFoundError:
            raise _cannot_create(path, first) from None
        except OSError as e:
            raise OorError(f"{path}: cannot open the lock file ({e.strerror or e})") from None

    def _read_header(self):
        """The table version, or None when the header is absent or not written yet (conditions 3, 4)."""
        raw = os.pread(self.fd, _HEADER.size, TABLE_OFFSET)
        if len(raw) < _HEADER.size or raw == bytes(_HEADER.size):
            return None
        magic, version = _HEADER.unpack(raw)
        if magic != TABLE_MAGIC:
            raise OorError(f"{self.path}: bytes {TABLE_OFFSET}..{TABLE_OFFSET + 3} hold {magic!r}, not a reader "
                           f"table (b'OORR'); not an OOR lock file? It may be removed while no process has "
                           f"the database open")
        if version != TABLE_VERSION:
            raise VersionMismatchError(self.path, version, TABLE_VERSION)
        return version

    def _usable(self, write=False):
        """Raise unless this table may be used now (caller holds the mutex)."""
        if self.fd < 0:
            if os.getpid() != self.owner_pid:
                raise OorError(f"{self.path}: this reader table was opened by process {self.owner_pid}, and a "
                               f"forked process cannot use it; open the database again in this process")
            raise OorError(f"{self.path}: the reader table is closed")
        if write and not self.writable:
            raise OorError(f"{self.path}: the lock file is read-only for this process, so this reader cannot "
                           f"claim a reader slot (it reads without one; see ReaderTable.writable)")

    def _own(self, slot):
        if slot not in self._mine:
            raise ValueError(f"reader slot {slot} is not claimed by this table")

    # ---- a reader's side ----

    def claim(self):
        """Lock a free slot and return its number (0..125); its pid is ours and its LSN 0.

        Raises OorError when all 126 slots are held, or when the table is not writable.
        Cost: one fcntl per slot tried, one pwrite.
        """
        with self._mutex:
            self._usable(write=True)
            pid = self.owner_pid & 0xFFFFFFFF
            for slot in range(SLOTS):
                if slot in self._mine:           # our own lock would be granted again: skip it
                    continue
                if _ofd_lock(self.fd, slot):
                    os.pwrite(self.fd, _SLOT.pack(pid, 0, 0, 0.0, 0), _slot_offset(slot))
                    self._mine.add(slot)
                    return slot
        raise OorError(f"{self.path}: all {SLOTS} reader slots are in use ({SLOTS} read-only opens of this "
                       f"database at once); close some readers and retry")

    def publish(self, slot, lsn):
        """Write the slot's snapshot LSN and start time now, in one pwrite; lsn 0 marks the slot idle.

        A reader then checks ``floor()`` (the retention protocol in the module doc)."""
        with self._mutex:
            self._usable(write=True)
            self._own(slot)
            _PUBLISH.pack_into(self._buf, 0, lsn, time.time() if lsn else 0.0)
            os.pwrite(self.fd, self._buf, _slot_offset(slot) + 8)

    def release(self, slot):
        """Zero the slot, then unlock it (it is free for the next claimer)."""
        with self._mutex:
            self._usable()
            self._own(slot)
            self._release_locked(slot)

    def _release_locked(self, slot):
        try:
            os.pwrite(self.fd, bytes(SLOT_SIZE), _slot_offset(slot))
        finally:
            self._mine.discard(slot)
            _ofd_unlock(self.fd, slot)

    def close(self):
        """Release every slot this table holds and close its descriptor (idempotent)."""
        with self._mutex:
            if self.fd < 0:
                return
            try:
                for slot in sorted(self._mine):
                    self._release_locked(slot)
            finally:
                self._unmap()
                os.close(self.fd)
                self.fd = -1
                _TABLES.discard(self)

    def _unmap(self):
        if self._map:
            self._map.close()
        self._map = None

    def forsake(self):
        """Close the descriptor without touching the slots (a forked child's copy; the opener keeps them)."""
        with self._mutex:
            self._unmap()
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
            self._mine.clear()
            _TABLES.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def slots(self):
        """The slots this table holds, sorted."""
        with self._mutex:
            return sorted(self._mine)

    # ---- the writer's side (any table can read) ----

    def live(self):
        """[(slot, pid, lsn, started)] of the live slots that hold a snapshot (LSN != 0), by slot.

        Live: claimed by this table, or locked by another open file description
        (condition 5).  A slot with an LSN but no lock is a dead reader's and is
        not listed.  Cost: one pread of the table, one fcntl per slot with an LSN.
        """
        with self._mutex:
            self._usable()
            mine = frozenset(self._mine)
            raw = os.pread(self.fd, FILE_SIZE - TABLE_OFFSET, TABLE_OFFSET)
        if len(raw) < FILE_SIZE - TABLE_OFFSET or raw[:4] != TABLE_MAGIC:
            return []                                   # condition 3: no reader table yet
        out = []
        for slot in range(SLOTS):
            pid, _, lsn, started, _ = _SLOT.unpack_from(raw, SLOT_OFFSET - TABLE_OFFSET + SLOT_SIZE * slot)
            if lsn == 0:
                continue
            if slot in mine or _ofd_held_elsewhere(self.fd, slot):
                out.append((slot, pid, lsn, started))
        return out

    def attached(self):
        """[(slot, pid)] of every slot claimed by another open file description, with or without a snapshot:
        the reader processes attached to the database now (``oor compact`` refuses while any is).
        Cost: one pread of the table, one fcntl per slot."""
        with self._mutex:
            self._usable()
            mine = frozenset(self._mine)
            raw = os.pread(self.fd, FILE_SIZE - TABLE_OFFSET, TABLE_OFFSET)
        if len(raw) < FILE_SIZE - TABLE_OFFSET or raw[:4] != TABLE_MAGIC:
            return []                                   # condition 3: no reader table yet
        out = []
        for slot in range(SLOTS):
            if slot not in mine and _ofd_held_elsewhere(self.fd, slot):
                pid = _SLOT.unpack_from(raw, SLOT_OFFSET - TABLE_OFFSET + SLOT_SIZE * slot)[0]
                out.append((slot, pid))
        return out

    def oldest(self, max_age=None, now=None):
        """The smallest snapshot LSN among live slots, or None when no live slot counts.

        Slots whose start time is older than ``now - max_age`` (seconds; ``now``
        defaults to time.time()) are ignored: such a reader may find its log gone
        and get SnapshotTooOldError (docs/concurrency.md)."""
        if max_age is not None and now is None:
            now = time.time()
        best = None
        for _, _, lsn, started in self.live():
            if max_age is not None and started < now - max_age:
                continue
            if best is None or lsn < best:
                best = lsn
        return best

    def set_floor(self, lsn):
        """Publish the retention floor (the writer, BEFORE it reads the slots; module doc).  Condition 7."""
        with self._mutex:
            self._usable(write=True)
            os.pwrite(self.fd, _U64.pack(lsn), FLOOR_OFFSET)

    def floor(self):
        """The writer's published retention floor, or 0 (no table, or never set)."""
        with self._mutex:
            self._usable()
            raw = os.pread(self.fd, 8, FLOOR_OFFSET)
        return _U64.unpack(raw)[0] if len(raw) == 8 else 0

    def durable_hint(self):
        """The writer's durable-LSN hint (bytes 64..79), or 0: how far a reader may follow the log.

        Read through a shared mapping of the lock file's first page -- a memory read, no system call;
        the CRC is checked only when the bytes differ from the last look.  A reader asks this for every
        snapshot (bench/bench_concurrency.py measured the pread at about 3 us a lookup)."""
        m = self._map
        if m is None:
            with self._mutex:
                self._usable()
                if self._map is None:
                    try:
                        self._map = mmap.mmap(self.fd, 4096, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
                    except (OSError, ValueError):      # a short lock file we may not extend: pread
                        self._map = False
                m = self._map
        if m is False:
            with self._mutex:
                self._usable()
                raw = os.pread(self.fd, HINT_SIZE, HINT_OFFSET)
        else:
            raw = m[HINT_OFFSET:HINT_OFFSET + HINT_SIZE]
        if raw != self._hint_raw:
            self._hint_raw, self._hint = raw, decode_hint(raw)
        return self._hint

    def hint_mapping(self):
        """The shared read-only mapping of the lock file's first page that ``durable_hint`` reads, or None
        (the file could not be mapped).  Caller: oor.storage, whose snapshot gate (oor_core.snapview)
        compares the hint's 16 bytes in it on every single-call read and refreshes only when they differ.
        The mapping is closed with the table; a closed mapping raises ValueError when read."""
        self.durable_hint()
        return self._map or None

    def writer_alive(self):
        """True when the writer flock on the lock file is held (by another process, or by this
        process's own writer): a shared flock, tried on a fresh descriptor and dropped at once."""
        with self._mutex:
            self._usable()
        return exclusively_locked(self.path)

    def writer_pid(self):
        """The writer's PID (condition 1) while a writer holds the lock, else None."""
        if not self.writer_alive():
            return None
        with self._mutex:
            self._usable()
            raw = os.pread(self.fd, PID_AREA, 0)
        return _parse_pid(raw)

    def _check(self):
        """Problems (strings) with this table's invariants; [] when sound.  Caller: tests."""
        problems = []
        with self._mutex:
            if self.fd < 0:
                if self._mine:
                    problems.append(f"{self.path}: closed table still lists slots {sorted(self._mine)}")
                return problems
            size = os.fstat(self.fd).st_size
            if self.writable and size < FILE_SIZE:
                problems.append(f"{self.path}: writable lock file is {size} bytes, under {FILE_SIZE} (condition 3)")
            try:
                version = self._read_header()
            except OorError as e:
                problems.append(str(e))
                version = None
            if self.writable and version is None:
                problems.append(f"{self.path}: writable table has no header (condition 4)")
            if not all(0 <= s < SLOTS for s in self._mine):
                problems.append(f"{self.path}: slot numbers out of range: {sorted(self._mine)}")
            for slot in sorted(self._mine):
                raw = os.pread(self.fd, SLOT_SIZE, _slot_offset(slot))
                pid = _SLOT.unpack(raw)[0]
                if pid != self.owner_pid & 0xFFFFFFFF:
                    problems.append(f"{self.path}: slot {slot} is ours but names process {pid}")
            if self._mine and not self.writable:
                problems.append(f"{self.path}: read-only table holds slots")
        return problems

    def __repr__(self):
        state = "closed" if self.fd < 0 else ("writable" if self.writable else "read-only")
        return f"<ReaderTable {self.path} {state} slots={sorted(self._mine)}>"
