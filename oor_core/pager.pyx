# oor_core/pager.pyx -- the page file: positional page reads and writes, fsync,
# creation and validation of the file header.  Byte table in pager.pxd.
#
# The pager knows pages only as 4096-byte buffers: it seals (checksums) each
# page it writes and verifies each page it reads (invariant 1).  Allocation and
# the free list live one layer up, in the space manager (space.pyx, over the
# buffer pool), so that every change to the header page and to free pages goes
# through a write guard and can be logged like any other page change
# (invariant 5).
import os

from libc.errno cimport errno, EINTR
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from posix.unistd cimport pread, pwrite, fsync, close as c_close

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void* iov_base
        size_t iov_len
    ssize_t pwritev(int fd, const iovec* iov, int iovcnt, long long offset)

cdef enum:
    RUN_MAX = 16           # pages per pwritev call: 64 KiB measured fastest here (1 MiB calls were 5x slower)

from oor_core.page cimport (PAGE_SIZE, PT_FILE_HEADER, page_init, page_seal, page_verify,
                            pg_type)
from oor_core.errors import CorruptPageError, NotAnOorFileError, VersionMismatchError

MAGIC = b"OOR1"


cdef void header_init(uint8_t* p) noexcept nogil:
    """Format a fresh file header page (page 0).  Caller: Pager on create."""
    page_init(p, 0, PT_FILE_HEADER)
    memcpy(p + HDR_MAGIC, b"OOR1", 4)
    hdr_set_u32(p, HDR_VERSION, FORMAT_VERSION)
    hdr_set_u32(p, HDR_PAGE_SIZE, PAGE_SIZE)
    hdr_set_u32(p, HDR_PAGE_COUNT, 1)


def new_file_header():
    """The sealed bytes of page 0 of a new, empty database.  Caller: storage (atomic create)."""
    buf = bytearray(PAGE_SIZE)
    cdef uint8_t* p = buf
    header_init(p)
    page_seal(p)
    return bytes(buf)


cdef object header_problem(Pager pager, uint8_t* p, unsigned long long size, bint check_header):
    """The error page 0 (in p) earns, or None when it is a valid header.  Caller: Pager.__cinit__.

    The order matters (validity conditions 1-5 in pager.pxd): the checksum is
    verified before any field is believed, so that a damaged version byte is
    reported as a corrupt page 0, not as a newer format; and a page 0 that is
    damaged beyond recognition is told apart from a file that is not OOR at
    all by page 1, which in an OOR file is itself a sealed page.
    """
    cdef int rc = page_verify(p, 0)
    cdef bint magic_ok = (p[HDR_MAGIC] == b'O' and p[HDR_MAGIC + 1] == b'O' and
                          p[HDR_MAGIC + 2] == b'R' and p[HDR_MAGIC + 3] == b'1')
    cdef bytearray other
    path = pager.path
    if rc != 0 or pg_type(p) != PT_FILE_HEADER:
        if not magic_ok:
            if size % PAGE_SIZE == 0 and size >= 2 * PAGE_SIZE:
                other = bytearray(PAGE_SIZE)
                pager._pread(other, PAGE_SIZE, PAGE_SIZE)
                if page_verify(other, 1) == 0:
                    return CorruptPageError(
                        0, "the file header is damaged beyond recognition (page 1 is a valid OOR page); "
                           "restore the database from a backup", path)
            return NotAnOorFileError(path, "bad magic: bytes 40..43 are not OOR1")
        if not check_header:
            return None                  # a torn header: the caller repairs it by redo from the log
        return CorruptPageError(0, "file header checksum mismatch; restore the database from a backup"
                                if rc != 0 else "file header has the wrong page type", path)
    if not magic_ok:
        return NotAnOorFileError(path, "bad magic: bytes 40..43 are not OOR1")
    version = hdr_u32(p, HDR_VERSION)
    psize = hdr_u32(p, HDR_PAGE_SIZE)
    if version > FORMAT_VERSION or version == 0 or psize != PAGE_SIZE:
        return VersionMismatchError(path, f"{version} (page size {psize})",
                                    f"{FORMAT_VERSION} (page size {PAGE_SIZE})")
    reason = header_bounds_problem(p)
    if reason is not None:
        return CorruptPageError(0, reason, path)
    return None


cdef object header_bounds_problem(const uint8_t* p):
    """Why the header's page references disagree with its page count (condition 5), or None."""
    cdef uint32_t count = hdr_u32(p, HDR_PAGE_COUNT)
    cdef uint32_t head = hdr_u32(p, HDR_FREE_HEAD)
    cdef uint32_t nfree = hdr_u32(p, HDR_FREE_COUNT)
    cdef uint32_t root
    cdef int i
    if count == 0:
        return "file header: page count is 0 (page 0 itself is a page)"
    if head >= count:
        return f"file header: free-list head {head} is not below the page count {count}"
    if nfree >= count:
        return f"file header: {nfree} free pages but only {count} pages in all"
    if (head == 0) != (nfree == 0):
        return f"file header: free-list head {head} disagrees with free count {nfree}"
    for i in range(MAX_TREES):
        root = hdr_u32(p, HDR_ROOTS + i * ROOT_ENTRY)
        if root >= count:
            name = bytes(p[HDR_ROOTS + i * ROOT_ENTRY + 8:HDR_ROOTS + i * ROOT_ENTRY + 16]).rstrip(b"\0")
            return (f"file header: root page {root} of tree {name.decode('ascii', 'replace')!r} is not below "
                    f"the page count {count}")
    return None


def header_bounds(header):
    """The problem with a header page's page references (bytes of page 0), or None.

    Callers: the storage layer after recovery (open) and ``oor check``.
    """
    cdef const uint8_t[::1] v = header
    if v.shape[0] != PAGE_SIZE:
        raise ValueError(f"a header page is {PAGE_SIZE} bytes, got {v.shape[0]}")
    return header_bounds_problem(&v[0])


cdef class Pager:
    """The database file as an array of checksummed 4096-byte pages.

    Who may call: the buffer pool (page reads and writes), the WAL and
    recovery (sync), tests.  ``check_header=False`` skips the header page's
    checksum (recovery repairs a torn header from the log; the storage layer
    verifies it afterwards).  ``file`` replaces the OS file with an object
    offering ``pread(n, offset) -> bytes``, ``pwrite(data, offset)``,
    ``fsync()``, ``size()`` and ``close()`` (the power-loss simulator).
    """

    def __cinit__(self, path, *, bint create=True, bint read_only=False, file=None, bint check_header=True):
        self.fd = -1
        self.path = os.fspath(path)
        self.file = file
        self.read_only = read_only
        self.created = False
        cdef bytearray buf
        cdef uint8_t* p
        if file is None:
            flags = os.O_RDONLY if read_only else os.O_RDWR
            existed = os.path.exists(self.path)
            if create and not read_only:
                flags |= os.O_CREAT
            flags |= getattr(os, "O_CLOEXEC", 0)
            # O_NOATIME: a page read does not ask whether the file's access time is due (touch_atime and
            # its clock read were 2.4% of a 1M-set scan, perf); the kernel refuses it (EPERM) to a process
            # that does not own the file, which then opens without it
            try:
                self.fd = os.open(self.path, flags | getattr(os, "O_NOATIME", 0), 0o644)
            except PermissionError:
                if not getattr(os, "O_NOATIME", 0):
                    raise
                self.fd = os.open(self.path, flags, 0o644)
            if not existed:
                fsync_directory(os.path.dirname(os.path.abspath(self.path)))
        size = self.file_size()
        if size == 0:
            if read_only or not create:
                self.close()
                raise NotAnOorFileError(self.path, "empty file")
            buf = bytearray(PAGE_SIZE)
            p = buf
            header_init(p)
            self.write_page(0, p)
            self.sync()
            self.created = True
            return
        if size < PAGE_SIZE:
            self.close()
            raise NotAnOorFileError(self.path, f"{size} bytes, shorter than one {PAGE_SIZE}-byte page")
        buf = bytearray(PAGE_SIZE)
        p = buf
        self._pread(p, PAGE_SIZE, 0)
        problem = header_problem(self, p, size, check_header)
        if problem is not None:
            self.close()
            raise problem

    def __dealloc__(self):
        if self.fd >= 0:
            c_close(self.fd)
            self.fd = -1

    cdef int _pread(self, uint8_t* buf, Py_ssize_t n, unsigned long long off) except -1:
        cdef Py_ssize_t got = 0, r
        if self.file is not None:
            data = self.file.pread(n, off)
            got = min(len(data), n)
            memcpy(buf, <const char*>data, got)
        else:
            if self.fd < 0:
                raise ValueError(f"{self.path}: pager is closed")
            while got < n:
                with nogil:
                    r = pread(self.fd, buf + got, n - got, off + got)
                if r < 0:
                    if errno == EINTR:
                        continue
                    raise OSError(errno, os.strerror(errno), self.path)
                if r == 0:
                    break
                got += r
        if got < n:
            memset(buf + got, 0, n - got)
            return 0
        return 1

    cdef int _pwrite(self, const uint8_t* buf, Py_ssize_t n, unsigned long long off) except -1:
        cdef Py_ssize_t done = 0, r
        if self.read_only:
            raise PermissionError(f"{self.path}: opened read-only")
        if self.file is not None:
            self.file.pwrite((<const char*>buf)[:n], off)
            return 0
        if self.fd < 0:
            raise ValueError(f"{self.path}: pager is closed")
        while done < n:
            with nogil:
                r = pwrite(self.fd, buf + done, n - done, off + done)
            if r < 0:
                if errno == EINTR:
                    continue
                raise OSError(errno, f"{os.strerror(errno)} writing page at offset {off}", self.path)
            done += r
        return 0

    cdef int read_page(self, uint32_t page_id, uint8_t* buf) except -1:
        """Read and verify one page into buf.  Raises CorruptPageError; never returns bad data."""
        cdef int full = self._pread(buf, PAGE_SIZE, <unsigned long long>page_id * PAGE_SIZE)
        self.reads += 1
        if not full:
            memset(buf, 0, PAGE_SIZE)
            raise CorruptPageError(page_id, "page lies beyond the end of the file (short read)", self.path)
        cdef int rc = page_verify(buf, page_id)
        if rc != 0:
            got = (<uint32_t*>(buf + 4))[0]
            memset(buf, 0, PAGE_SIZE)
            raise CorruptPageError(page_id, "checksum mismatch" if rc == 1 else
                                   f"misdirected write: page header names page {got}", self.path)
        return 0

    cdef int write_page(self, uint32_t page_id, uint8_t* buf) except -1:
        """Seal (checksum) buf in place and write it at page_id * 4096.  Caller: buffer pool."""
        assert (<uint32_t*>(buf + 4))[0] == page_id, "page written under another page's id"
        page_seal(buf)
        self._pwrite(buf, PAGE_SIZE, <unsigned long long>page_id * PAGE_SIZE)
        self.writes += 1
        return 0

    cdef int write_run(self, uint32_t first_id, uint8_t** bufs, int n) except -1:
        """Seal and write n pages with consecutive ids starting at first_id, in few system calls.

        Caller: the buffer pool's flush.  Same result as n write_page calls.
        """
        cdef int i, k, done_iov
        cdef iovec iov[RUN_MAX]
        cdef ssize_t r, want
        cdef unsigned long long off
        for i in range(n):
            assert (<uint32_t*>(bufs[i] + 4))[0] == first_id + i, "page written under another page's id"
            page_seal(bufs[i])
        if self.file is not None or self.read_only:
            for i in range(n):
                self._pwrite(bufs[i], PAGE_SIZE, <unsigned long long>(first_id + i) * PAGE_SIZE)
            self.writes += n
            return 0
        if self.fd < 0:
            raise ValueError(f"{self.path}: pager is closed")
        i = 0
        while i < n:
            k = min(n - i, <int>RUN_MAX)
            for done_iov in range(k):
                iov[done_iov].iov_base = bufs[i + done_iov]
                iov[done_iov].iov_len = PAGE_SIZE
            off = <unsigned long long>(first_id + i) * PAGE_SIZE
            want = <ssize_t>k * PAGE_SIZE
            with nogil:
                r = pwritev(self.fd, iov, k, off)
            if r < 0 and errno == EINTR:
                continue
            if r < 0:
                raise OSError(errno, f"{os.strerror(errno)} writing pages {first_id + i}..{first_id + i + k - 1}",
                              self.path)
            if r != want:
                # short write: finish page by page (rare; e.g. a signal or a nearly full disk)
                for done_iov in range(<int>(r // PAGE_SIZE), k):
                    self._pwrite(bufs[i + done_iov], PAGE_SIZE,
                                 <unsigned long long>(first_id + i + done_iov) * PAGE_SIZE)
            i += k
        self.writes += n
        return 0

    def read(self, uint32_t page_id):
        """Verified copy of a page as bytes.  Tests and `oor check`."""
        buf = bytearray(PAGE_SIZE)
        self.read_page(page_id, buf)
        return bytes(buf)

    def read_if_written(self, uint32_t page_id):
        """Verified copy of a page as bytes, or None when the page was never written: it lies beyond the
        end of the file, or reads as all zeros (a hole left by a later page's write).  Raises
        CorruptPageError for any other bad page (a torn or damaged write).  Caller: a reader process
        taking the file's copy of a page the writer may not have written yet (oor/snapshots.py): such a
        page is no torn write to read again, its version is in the log."""
        buf = bytearray(PAGE_SIZE)
        cdef uint8_t* p = buf
        cdef int full = self._pread(p, PAGE_SIZE, <unsigned long long>page_id * PAGE_SIZE)
        cdef Py_ssize_t i
        self.reads += 1
        if not full:
            return None
        if page_verify(p, page_id) == 0:
            return bytes(buf)
        for i in range(PAGE_SIZE):
            if p[i] != 0:
                break
        else:
            return None
        got = (<uint32_t*>(p + 4))[0]
        rc = page_verify(p, page_id)
        raise CorruptPageError(page_id, "checksum mismatch" if rc == 1 else
                               f"misdirected write: page header names page {got}", self.path)

    def write(self, uint32_t page_id, data):
        """Write a page (sealed with a fresh checksum).  Tests and recovery."""
        if len(data) != PAGE_SIZE:
            raise ValueError(f"a page is {PAGE_SIZE} bytes, got {len(data)}")
        buf = bytearray(data)
        self.write_page(page_id, buf)

    def clean_end(self):
        """The clean-close mark of page 0 on disk (0: none, or page 0 unreadable).  Caller: storage at open."""
        buf = bytearray(PAGE_SIZE)
        try:
            self.read_page(0, buf)
        except CorruptPageError:
            return 0
        cdef uint8_t* p = buf
        return hdr_u64(p, HDR_CLEAN_END)

    def set_clean_end(self, uint64_t lsn):
        """Write the clean-close mark into page 0 on disk (the caller syncs).  Caller: storage only."""
        buf = bytearray(PAGE_SIZE)
        self.read_page(0, buf)
        cdef uint8_t* p = buf
        hdr_set_u64(p, HDR_CLEAN_END, lsn)
        self.write_page(0, p)

    def bad_pages(self, uint32_t first, uint32_t end):
        """Ids in [first, end) whose copy in the file fails verification (checksum, own id, short
        read), read 64 pages per system call; the caller re-reads each with read() for its error.
        `oor check` (every page of the file, without a Python object per page)."""
        cdef bytearray buf = bytearray(64 * PAGE_SIZE)
        cdef uint8_t* b = <uint8_t*>(<char*>buf)
        cdef uint32_t pid = first, n, i
        out = []
        while pid < end:
            n = min(<uint32_t>64, end - pid)
            self._pread(b, <Py_ssize_t>n * PAGE_SIZE, <unsigned long long>pid * PAGE_SIZE)
            self.reads += n
            for i in range(n):
                if page_verify(b + <size_t>i * PAGE_SIZE, pid + i) != 0:
                    out.append(pid + i)
            pid += n
        return out

    def read_raw(self, uint32_t page_id):
        """Unverified bytes of a page (zero-filled past the end).  `check` and tests only."""
        buf = bytearray(PAGE_SIZE)
        self._pread(buf, PAGE_SIZE, <unsigned long long>page_id * PAGE_SIZE)
        return bytes(buf)

    cpdef unsigned long long file_size(self) except? 0:
        """Size of the file in bytes."""
        if self.file is not None:
            return self.file.size()
        if self.fd < 0:
            raise ValueError(f"{self.path}: pager is closed")
        return os.fstat(self.fd).st_size

    cpdef sync(self):
        """Make every page written so far durable (fsync)."""
        cdef int r
        if self.read_only:
            return
        if self.file is not None:
            self.file.fsync()
        else:
            if self.fd < 0:
                raise ValueError(f"{self.path}: pager is closed")
            with nogil:
                r = fsync(self.fd)
            if r != 0:
                raise OSError(errno, f"fsync failed: {os.strerror(errno)}", self.path)
        self.syncs += 1

    cpdef close(self):
        """Close the file (idempotent).  Does not sync: the buffer pool flushes first."""
        if self.file is not None:
            f, self.file = self.file, None
            f.close()
        if self.fd >= 0:
            c_close(self.fd)
            self.fd = -1

    @property
    def closed(self):
        return self.fd < 0 and self.file is None


def fsync_directory(dirpath):
    """fsync a directory so that the entries of files created or removed in it are durable.

    Callers: the pager (a new database file), oor.vfs (log segments).  A
    missing directory is ignored; a file system that cannot fsync
    directories is tolerated.
    """
    try:
        fd = os.open(dirpath, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
