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
  image or a clone starts unlocked (the processes that held it are gone).

``crash_at=k`` makes the k-th I/O operation (pwrite, fsync, truncate; counted
from 1) raise SimCrash before it happens; every later operation raises too,
so the engine cannot write anything after the "power cut".
"""
import os
import random

from oor_core.errors import DatabaseLockedError

SECTOR = 512


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

    def _tick(self, what):
        self.ops += 1
        if self.crashed or (self.crash_at is not None and self.ops >= self.crash_at):
            self.crashed = True
            raise SimCrash(f"power cut at I/O operation {self.ops} ({what})")

    # vfs protocol
    def open(self, path, create=True):
        f = self.files.get(path)
        if f is None:
            if not create:
                raise FileNotFoundError(2, "No such file", path)
            if self.crashed:
                raise SimCrash("power cut (open)")
            f = self.files[path] = SimFile(self, path)
        f.closed = False
        return f

    def exists(self, path):
        return path in self.files or path in self.dirs

    def isdir(self, path):
        return path in self.dirs

    def canonical(self, path):
        return path

    def lock(self, db_path, exclusive):
        held = self.locks.setdefault(db_path, [0, 0])
        if held[0] or (exclusive and held[1]):
            raise DatabaseLockedError(db_path)
        held[0 if exclusive else 1] += 1
        return SimLock(self, db_path, exclusive)

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
        return out


def seeded(seed, *parts):
    """A Random derived from a seed and some integers (stable across runs and platforms)."""
    x = seed
    for p in parts:
        x = (x * 1_000_003 + p) & 0xFFFFFFFFFFFF
    return random.Random(x)


DB_PATH = os.path.join("/sim", "db.oor")
