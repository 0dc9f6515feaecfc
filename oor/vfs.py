"""The file layer under the pager and the WAL: real files, or a test double.

Who may import: oor.storage, oor.wal, tests (the power-loss simulator in
tests/powerloss.py implements the same two classes' methods in memory).

A vfs offers ``open(path, create=True) -> file``, ``exists``, ``isdir``,
``listdir``, ``makedirs``, ``remove``, ``rename``, ``sync_dir`` and
``lock(db_path, exclusive) -> lock`` (the writer lock: exclusive for a writer,
shared for a reader; raises DatabaseLockedError when another holder excludes
it; the lock offers ``release(remove=False)``).  Every database takes its lock
through its vfs, whichever vfs it is given (one I/O path).  A file offers ``pread(n, offset)``,
``pwrite(data, offset)``, ``fsync()``, ``size()``, ``truncate(n)`` and
``close()`` -- the protocol the pager's ``file=`` argument expects -- and,
optionally, ``map()`` (a read-only buffer of the whole file).
"""
import errno
import fcntl
import mmap
import os
import struct

from oor_core.checksum import crc32c
from oor_core.errors import DatabaseLockedError
from oor_core.pager import fsync_directory

__all__ = ["OsFile", "OsLock", "OsVfs", "OS_VFS"]


class OsFile:
    """A real file, positional I/O."""

    def __init__(self, path, create=True):
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | (os.O_CREAT if create else 0)
        self.path = path
        self.fd = os.open(path, flags, 0o644)

    def pread(self, n, offset):
        return os.pread(self.fd, n, offset)

    def pwrite(self, data, offset):
        view = memoryview(data)
        while view:
            done = os.pwrite(self.fd, view, offset)
            view = view[done:]
            offset += done

    def fsync(self):
        os.fdatasync(self.fd) if hasattr(os, "fdatasync") else os.fsync(self.fd)

    def size(self):
        return os.fstat(self.fd).st_size

    def map(self):
        """A read-only mapping of the whole file (recovery reads the log in place)."""
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)   # fault the pages in at once
        return mmap.mmap(self.fd, 0, flags=flags, prot=mmap.PROT_READ)

    def truncate(self, n):
        os.ftruncate(self.fd, n)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# The lock file: bytes 0..31 the writer's PID (ASCII, NUL padded; zeros when no
# writer); bytes 64..79 the durable-LSN hint: b"OORD" | u64 LSN | u32 CRC32C of
# bytes 64..75, little-endian.  The hint is rewritten, without fsync, after every
# log fsync, so the log really was durable up to it (after a process crash it is
# exact, after a power cut possibly older); a hint that fails its CRC counts as 0.
PID_AREA = 32
HINT_OFFSET = 64
HINT_SIZE = 16
_HINT = struct.Struct("<4sQ")


def encode_hint(lsn):
    body = _HINT.pack(b"OORD", lsn)
    return body + struct.pack("<I", crc32c(body))


def decode_hint(raw):
    if len(raw) < HINT_SIZE:
        return 0
    magic, lsn = _HINT.unpack_from(raw, 0)
    if magic != b"OORD" or struct.unpack_from("<I", raw, 12)[0] != crc32c(bytes(raw[:12])):
        return 0
    return lsn


class OsLock:
    """The writer lock of one database file: exclusive for a writer, shared for a reader.

    Two flocks, both dying with the process (kill -9 included): one on
    ``<canonical name>-lock`` (it serialises creation and holds the writer's
    PID, so that a refused opener can name it), and, once the data file
    exists, one on the data file itself (``cover``), which every name of the
    file meets -- symlinks, hard links, relative and ``..`` paths alike
    (invariant 15).  Who creates one: OsVfs.lock (the storage layer).
    """

    def __init__(self, db_path, exclusive):
        self.path = db_path + "-lock"
        self.exclusive = exclusive
        self.data_fd = -1
        self.created = not os.path.exists(self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(self.fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as e:
            pid = None
            try:
                text = os.pread(self.fd, PID_AREA, 0).decode("ascii", "replace").strip("\0 \n")
                pid = int(text) if text.isdigit() else None
            except OSError:
                pass
            os.close(self.fd)
            self.fd = -1
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DatabaseLockedError(db_path, pid) from None
            raise
        if exclusive:
            os.pwrite(self.fd, (b"%d\n" % os.getpid()).ljust(PID_AREA, b"\0"), 0)

    def release(self, remove=False):
        """Unlock (idempotent); remove=True also deletes the lock file if this lock created it
        (a failed first open leaves nothing behind)."""
        if self.fd < 0:
            return
        try:
            if self.exclusive:
                os.pwrite(self.fd, bytes(PID_AREA), 0)      # the hint after it stays
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
        """Lock the data file itself (after it exists), so that another name of the same file is refused too."""
        if self.data_fd >= 0:
            return
        fd = os.open(data_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DatabaseLockedError(
                    data_path, None, who="by another process through another name of the same file "
                                     "(a hard link in another directory)") from None
            raise
        self.data_fd = fd

    def forsake(self):
        """A forked child's copy: close it without unlocking or clearing the PID (the opener keeps both)."""
        for name in ("fd", "data_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)


class OsVfs:
    """The operating system's files."""

    def canonical(self, path):
        """The one name the storage layer uses for a database file, whatever path the caller gave.

        Symlinks, relative and ``..`` paths resolve to the real path.  A file
        with several hard links in one directory is named after the link whose
        ``-wal`` directory exists (the first in sorted order), so that every
        name of it finds the same log and lock file; hard links in other
        directories are still excluded by the lock on the data file itself
        (OsLock.cover), but do not find each other's log (docs/durability.md).
        """
        real = os.path.realpath(path)
        try:
            st = os.stat(real)
        except OSError:
            return real
        if st.st_nlink < 2:
            return real
        folder = os.path.dirname(real)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return real
        for name in names:
            if not name.endswith("-wal") or not os.path.isdir(os.path.join(folder, name)):
                continue
            other = os.path.join(folder, name[:-4])
            try:
                if os.path.samefile(other, real):
                    return other
            except OSError:
                continue
        return real

    def open(self, path, create=True):
        return OsFile(path, create)

    def lock(self, db_path, exclusive):
        return OsLock(db_path, exclusive)

    def exists(self, path):
        return os.path.exists(path)

    def isdir(self, path):
        return os.path.isdir(path)

    def listdir(self, path):
        try:
            return os.listdir(path)
        except FileNotFoundError:
            return []

    def makedirs(self, path):
        os.makedirs(path, exist_ok=True)

    def remove(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def rename(self, src, dst):
        """Atomically replace dst by src (then make the directory entry durable)."""
        os.replace(src, dst)
        self.sync_dir(os.path.dirname(os.path.abspath(dst)))

    def sync_dir(self, path):
        """Make the directory's entries (created or removed files) durable."""
        fsync_directory(path)


OS_VFS = OsVfs()
