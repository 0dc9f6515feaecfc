"""The file layer under the pager and the WAL: real files, or a test double.

Who may import: oor.storage, oor.wal, tests (the power-loss simulator in
tests/powerloss.py implements the same two classes' methods in memory).

A vfs offers ``open(path, create=True) -> file``, ``exists``, ``listdir``,
``makedirs``, ``remove`` and ``sync_dir``; a file offers ``pread(n, offset)``,
``pwrite(data, offset)``, ``fsync()``, ``size()``, ``truncate(n)`` and
``close()`` -- the protocol the pager's ``file=`` argument expects -- and,
optionally, ``map()`` (a read-only buffer of the whole file).
"""
import mmap
import os

from oor_core.pager import fsync_directory

__all__ = ["OsFile", "OsVfs", "OS_VFS"]


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


class OsVfs:
    """The operating system's files."""

    def open(self, path, create=True):
        return OsFile(path, create)

    def exists(self, path):
        return os.path.exists(path)

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
