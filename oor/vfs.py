"""The file layer under the pager and the WAL: real files, or a test double.

Who may import: oor.storage, oor.wal, tests (the power-loss simulator in
tests/powerloss.py implements the same two classes' methods in memory).

A vfs offers ``open(path, create=True, read_only=False) -> file``,
``exists``, ``isdir``, ``listdir``, ``makedirs``, ``remove``, ``rename``,
``sync_dir``, ``lock(db_path, exclusive, timeout=0.0) -> lock`` (the writer
lock: exclusive for a writer, shared for the old reader lock; waits up to
``timeout`` seconds, then raises DatabaseLockedError when another holder
excludes it; the lock offers ``release(remove=False)``, ``cover``,
``record_durable``, ``durable_hint``, ``reset_durable``, ``forsake``) and
``readers(db_path, create=True) -> table`` (the reader table: ``claim``,
``publish``, ``release``, ``live``, ``oldest``, ``set_floor``, ``floor``,
``writer_alive``, ``writer_pid``, ``close``, and optionally ``hint_mapping`` (without it a
reader process refreshes at every snapshot); see oor/lockfile.py).  Every
database takes its lock and its reader slots through its vfs, whichever vfs it
is given (one I/O path).  The lock file's bytes belong to oor/lockfile.py.  A
file offers ``pread(n, offset)``, ``pwrite(data, offset)``, ``fsync()``,
``size()``, ``truncate(n)`` and ``close()`` -- the protocol the pager's
``file=`` argument expects -- and, optionally, ``map()`` (a read-only buffer of
the whole file).  A file opened ``read_only`` refuses pwrite and truncate.
"""
import mmap
import os

from oor.lockfile import OsLock, ReaderTable, exclusively_locked, lock_path
from oor_core.errors import OorError
from oor_core.pager import fsync_directory

__all__ = ["OsFile", "OsLock", "OsVfs", "OS_VFS", "ReaderTable"]


class OsFile:
    """A real file, positional I/O.  ``read_only``: opened O_RDONLY, never created; writes raise OorError."""

    def __init__(self, path, create=True, read_only=False):
        self.path = path
        self.read_only = read_only
        if read_only:
            flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
        else:
            flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | (os.O_CREAT if create else 0)
        self.fd = os.open(path, flags, 0o644)

    def _refuse(self, what):
        raise OorError(f"{self.path}: cannot {what}: the file was opened read-only "
                       f"(an internal bug if a read-only database tried it)")

    def pread(self, n, offset):
        return os.pread(self.fd, n, offset)

    def pwrite(self, data, offset):
        if self.read_only:
            self._refuse("write")
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
        """A read-only mapping of the whole file (recovery reads the log in place); works on a read-only file."""
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)   # fault the pages in at once
        return mmap.mmap(self.fd, 0, flags=flags, prot=mmap.PROT_READ)

    def truncate(self, n):
        if self.read_only:
            self._refuse("truncate")
        os.ftruncate(self.fd, n)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


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

    def open(self, path, create=True, read_only=False):
        """A file; ``read_only`` opens it O_RDONLY and never creates it (FileNotFoundError when absent)."""
        return OsFile(path, create, read_only)

    def lock(self, db_path, exclusive, timeout=0.0):
        """The writer lock (exclusive) or the old shared reader lock; waits up to ``timeout`` seconds."""
        return OsLock(db_path, exclusive, timeout)

    def readers(self, db_path, create=True):
        """The reader table of ``<db_path>-lock`` (oor/lockfile.py), through a descriptor of its own."""
        return ReaderTable(lock_path(db_path), create)

    def data_file_locked(self, db_path):
        """True when a writer holds the data file's own lock (OsLock.cover) -- perhaps through another
        name.  A shared flock tried and dropped at once (a writer's cover() allows for it)."""
        try:
            return exclusively_locked(db_path)
        except FileNotFoundError:
            return False

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
