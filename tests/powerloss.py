"""A power-loss simulator: an in-memory file layer that remembers what was fsynced.

Who may import: tests (tests/test_powerloss.py).  It implements the vfs
protocol of oor/vfs.py, so both the pager and the WAL run on it unchanged.

Model of a disk:
- every file has a durable image (its bytes as of its last fsync) and a list
  of the writes and truncations made since then, in order;
- reads see every write (the page cache);
- ``crash_image(rng)`` builds the disk a power cut would leave: the durable
  image, then each unsynced operation kept, dropped, or (writes only) torn:
  a random subset of its 512-byte sectors reaches the disk.  Sectors are
  chosen independently, which also models reordering within the write;
- directory operations (create, remove) are durable at once (the engine
  fsyncs the directory after each; modelling lost directory entries is left
  out and said so in docs/durability.md);
- the writer lock is held in memory (``lock``): the engine takes it through
  the vfs as it does on real files, so a second writer is refused; a crash
  image or a clone starts unlocked (the processes that held it are gone);
- the reader table (``readers``) is in memory too, one per database path,
  with oor/lockfile.py's ReaderTable semantics: a slot is live from ``claim``
  until ``release``/``close``, or until its table ``die()``s (a reader killed
  with kill -9: its slot bytes stay, its liveness goes); a crash image or a
  clone starts with every slot free (its readers died with the power) and the
  floor kept;
- a file opened ``read_only`` is a view of the same file that refuses writes.

``crash_at=k`` makes the k-th I/O operation (pwrite, fsync, truncate; counted
from 1) raise SimCrash before it happens; every later operation raises too,
so the engine cannot write anything after the "power cut".
"""
import os
import random
import threading
import time

from oor_core.errors import DatabaseLockedError, OorError

SECTOR = 512
READER_SLOTS = 126


class SimCrash(BaseException):
    """The simulated power cut.  A BaseException so that no `except Exception` swallows it."""


class SimFile:
    def __init__(self, vfs, path):
        self.vfs = vfs
        self.path = path
        self.durable = bytearray()
        self.data = bytearray()
        self.pending = []          # ("w", offset, bytes) | ("t", size)
        self.closed = False

    # reads see everything written
    def pread(self, n, offset):
        return bytes(self.data[offset:offset + n])

    def size(self):
        return len(self.data)

    def pwrite(self, data, offset):
        self.vfs._tick("pwrite")
        data = bytes(data)
        if offset > len(self.data):
            self.data.extend(bytes(offset - len(self.data)))
        self.data[offset:offset + len(data)] = data
        self.pending.append(("w", offset, data))

    def truncate(self, n):
        self.vfs._tick("truncate")
        if n < len(self.data):
            del self.data[n:]
        else:
            self.data.extend(bytes(n - len(self.data)))
        self.pending.append(("t", n))

    def fsync(self):
        self.vfs._tick("fsync")
        self.durable = bytearray(self.data)
        self.pending.clear()

    def close(self):
        self.closed = True

    def crash_copy(self, rng, stats):
        """The bytes this file holds after a power cut."""
        img = bytearray(self.durable)
        for op in self.pending:
            fate = rng.random()
            if op[0] == "t":
                if fate < 0.5:
                    n = op[1]
                    if n < len(img):
                        del img[n:]
                    else:
                        img.extend(bytes(n - len(img)))
                    stats["kept"] += 1
                else:
                    stats["dropped"] += 1
                continue
            _, off, data = op
            if fate < 0.4:
                sectors = [(0, len(data))]
                stats["kept"] += 1
            elif fate < 0.7:
                stats["dropped"] += 1
                continue
            else:
                # torn: each sector-aligned piece survives or not
                sectors = []
                first = off - off % SECTOR
                pos = first
                while pos < off + len(data):
                    a = max(pos, off) - off
                    b = min(pos + SECTOR, off + len(data)) - off
                    if rng.random() < 0.5:
                        sectors.append((a, b))
                    pos += SECTOR
                stats["torn"] += 1
            for a, b in sectors:
                end = off + b
                if end > len(img):
                    img.extend(bytes(end - len(img)))
                img[off + a:end] = data[a:b]
        return img


class SimReadOnlyFile:
    """A read-only view of a SimFile (``SimVfs.open(..., read_only=True)``)."""

    def __init__(self, f):
        self.file = f
        self.path = f.path

    def pread(self, n, offset):
        return self.file.pread(n, offset)

    def size(self):
        return self.file.size()

    def fsync(self):
        """Nothing of ours to make durable (an fsync of a read-only descriptor writes nothing)."""

    def pwrite(self, data, offset):
        raise OorError(f"{self.path}: cannot write: the file was opened read-only")

    def truncate(self, n):
        raise OorError(f"{self.path}: cannot truncate: the file was opened read-only")

    def close(self):
        pass


class SimReaderState:
    """One database's reader table in a SimVfs: slot contents, owners, the floor."""

    def __init__(self):
        self.slots = [(0, 0, 0.0)] * READER_SLOTS     # (pid, lsn, started), like the file's bytes
        self.owner = [None] * READER_SLOTS             # the SimReaderTable holding the slot's lock, or None
        self.floor = 0
        self.mutex = threading.Lock()


class SimReaderTable:
    """oor/lockfile.py's ReaderTable over a SimReaderState (same methods and semantics)."""

    def __init__(self, vfs, db_path):
        self.vfs = vfs
        self.db_path = db_path
        self.path = db_path + "-lock"
        self.state = vfs.reader_states.setdefault(db_path, SimReaderState())
        self.writable = True
        self.open = True
        self._mine = set()

    def _usable(self):
        if not self.open:
            raise OorError(f"{self.path}: the reader table is closed")

    def _own(self, slot):
        if slot not in self._mine:
            raise ValueError(f"reader slot {slot} is not claimed by this table")

    def claim(self):
        st = self.state
        with st.mutex:
            self._usable()
            for slot in range(READER_SLOTS):
                if st.owner[slot] is None:
                    st.owner[slot] = self
                    st.slots[slot] = (os.getpid(), 0, 0.0)
                    self._mine.add(slot)
                    return slot
        raise OorError(f"{self.path}: all {READER_SLOTS} reader slots are in use ({READER_SLOTS} read-only "
                       f"opens of this database at once); close some readers and retry")

    def durable_hint(self):
        return self.vfs.hints.get(self.db_path, 0)

    def publish(self, slot, lsn):
        st = self.state
        with st.mutex:
            self._usable()
            self._own(slot)
            st.slots[slot] = (st.slots[slot][0], lsn, time.time() if lsn else 0.0)

    def release(self, slot):
        st = self.state
        with st.mutex:
            self._usable()
            self._own(slot)
            st.slots[slot] = (0, 0, 0.0)
            st.owner[slot] = None
            self._mine.discard(slot)

    def close(self):
        if not self.open:
            return
        for slot in sorted(self._mine):
            self.release(slot)
        self.open = False

    def die(self):
        """A kill -9 of this reader: its locks go, its slot bytes stay (test helper)."""
        st = self.state
        with st.mutex:
            for slot in self._mine:
                st.owner[slot] = None
            self._mine.clear()
            self.open = False

    forsake = die

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def slots(self):
        return sorted(self._mine)

    def live(self):
        st = self.state
        with st.mutex:
            self._usable()
            return [(i, pid, lsn, started) for i, (pid, lsn, started) in enumerate(st.slots)
                    if lsn and st.owner[i] is not None]

    def attached(self):
        """[(slot, pid)] of the slots another table holds, with or without a snapshot (ReaderTable.attached)."""
        st = self.state
        with st.mutex:
            self._usable()
            return [(i, pid) for i, (pid, _lsn, _started) in enumerate(st.slots)
                    if st.owner[i] is not None and i not in self._mine]

    def oldest(self, max_age=None, now=None):
        if max_age is not None and now is None:
            now = time.time()
        lsns = [lsn for _, _, lsn, started in self.live() if max_age is None or started >= now - max_age]
        return min(lsns) if lsns else None

    def set_floor(self, lsn):
        with self.state.mutex:
            self._usable()
            self.state.floor = lsn

    def floor(self):
        with self.state.mutex:
            self._usable()
            return self.state.floor

    def writer_alive(self):
        return bool(self.vfs.locks.get(self.db_path, [0, 0])[0])

    def writer_pid(self):
        return os.getpid() if self.writer_alive() else None     # every simulated process is this one

    def _check(self):
        problems = []
        for slot in self._mine:
            if self.state.owner[slot] is not self:
                problems.append(f"{self.path}: slot {slot} is listed as ours but not held by us")
        return problems


class SimLock:
    """A held writer (exclusive) or reader lock of a SimVfs."""

    def __init__(self, vfs, db_path, exclusive):
        self.vfs = vfs
        self.db_path = db_path
        self.exclusive = exclusive
        self.held = True

    def release(self, remove=False):
        if self.held:
            self.held = False
            self.vfs.locks[self.db_path][0 if self.exclusive else 1] -= 1

    def cover(self, data_path):
        """Names are plain keys here: the lock on the name already covers the file."""

    def record_durable(self, lsn):
        self.vfs.hints[self.db_path] = lsn

    def durable_hint(self):
        return self.vfs.hints.get(self.db_path, 0)

    def reset_durable(self):
        self.vfs.hints.pop(self.db_path, None)

    def forsake(self):
        self.release()


class SimVfs:
    """In-memory files with fsync semantics and a programmable power cut."""

    def __init__(self, crash_at=None):
        self.files = {}
        self.dirs = set()
        self.ops = 0
        self.crash_at = crash_at
        self.crashed = False
        self.locks = {}            # db path -> [writers, readers] holding its lock
        self.hints = {}            # db path -> durable-LSN hint (kept across a power cut: written after fsyncs)
        self.reader_states = {}    # db path -> SimReaderState (its reader table)

    def _tick(self, what):
        self.ops += 1
        if self.crashed or (self.crash_at is not None and self.ops >= self.crash_at):
            self.crashed = True
            raise SimCrash(f"power cut at I/O operation {self.ops} ({what})")

    # vfs protocol
    def open(self, path, create=True, read_only=False):
        f = self.files.get(path)
        if f is None:
            if not create or read_only:
                raise FileNotFoundError(2, "No such file", path)
            if self.crashed:
                raise SimCrash("power cut (open)")
            f = self.files[path] = SimFile(self, path)
        f.closed = False
        return SimReadOnlyFile(f) if read_only else f

    def exists(self, path):
        return path in self.files or path in self.dirs

    def isdir(self, path):
        return path in self.dirs

    def canonical(self, path):
        return path

    def lock(self, db_path, exclusive, timeout=0.0):
        """The writer lock; a refused opener polls every 10 ms for ``timeout`` seconds (another thread
        of the test may release it)."""
        held = self.locks.setdefault(db_path, [0, 0])
        deadline = time.monotonic() + timeout
        while held[0] or (exclusive and held[1]):
            if time.monotonic() >= deadline:
                raise DatabaseLockedError(db_path)
            time.sleep(0.01)
        held[0 if exclusive else 1] += 1
        return SimLock(self, db_path, exclusive)

    def readers(self, db_path, create=True):
        """The in-memory reader table of a database (see the module doc)."""
        return SimReaderTable(self, db_path)

    def listdir(self, path):
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.files if p.startswith(prefix) and "/" not in p[len(prefix):])

    def makedirs(self, path):
        self.dirs.add(path)

    def remove(self, path):
        if self.crashed:
            raise SimCrash("power cut (remove)")
        self.files.pop(path, None)

    def rename(self, src, dst):
        if self.crashed:
            raise SimCrash("power cut (rename)")
        self.files[dst] = self.files.pop(src)
        self.files[dst].path = dst

    def sync_dir(self, path):
        self._tick("sync_dir")

    def crash_image(self, rng):
        """A new SimVfs holding what survives a power cut now (see the module doc)."""
        out = SimVfs()
        out.dirs = set(self.dirs)
        stats = {"kept": 0, "dropped": 0, "torn": 0}
        for path, f in self.files.items():
            nf = SimFile(out, path)
            nf.data = f.crash_copy(rng, stats)
            nf.durable = bytearray(nf.data)
            out.files[path] = nf
        # the lock file's durable-LSN hint is written without fsync: it survives or not
        out.hints = {k: v for k, v in self.hints.items() if rng.random() < 0.5}
        for k, st in self.reader_states.items():
            # Every slot free (its readers died with the power).  The floor is written without fsync, so
            # a real disk may lose it; keeping it is one allowed outcome and draws nothing from rng (the
            # crash streams of existing seeds stay as they were).  A lost floor is harmless: no reader
            # survives a power cut, and the writer sets the floor again before it next removes log.
            out.reader_states[k] = SimReaderState()
            out.reader_states[k].floor = st.floor
        out.stats = stats
        return out

    def clone(self):
        """An exact copy (everything written survives), e.g. to reopen after a clean close."""
        out = SimVfs()
        out.dirs = set(self.dirs)
        for path, f in self.files.items():
            nf = SimFile(out, path)
            nf.data = bytearray(f.data)
            nf.durable = bytearray(f.data)
            out.files[path] = nf
        out.hints = dict(self.hints)
        for k, st in self.reader_states.items():     # the slots' readers are not cloned: every slot free
            out.reader_states[k] = SimReaderState()
            out.reader_states[k].floor = st.floor
        return out


def seeded(seed, *parts):
    """A Random derived from a seed and some integers (stable across runs and platforms)."""
    x = seed
    for p in parts:
        x = (x * 1_000_003 + p) & 0xFFFFFFFFFFFF
    return random.Random(x)


DB_PATH = os.path.join("/sim", "db.oor")
