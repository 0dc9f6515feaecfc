# oor_core/pager.pxd -- the page file and its header page (page 0): C-level contract.
#
# The file is an array of 4096-byte pages; page N lives at byte N * 4096.
# Page 0 is the file header.  It has the common 40-byte page header of
# page.pxd (type PT_FILE_HEADER, slot_count 0) and then, little-endian:
#
#   OFFSET SIZE  FIELD           DESCRIPTION
#   0      40    page header     checksum, page_id = 0, page_lsn, type 1 (page.pxd)
#   40     4     magic           b"OOR1"
#   44     4     format_version  u32, FORMAT_VERSION of the writer
#   48     4     page_size       u32, 4096
#   52     4     page_count      u32, pages in use, page 0 and free pages included
#   56     4     free_head       u32, first page of the free list (0 = empty)
#   60     4     free_count      u32, pages on the free list
#   64     8     checkpoint_lsn  u64, reserved for the WAL: LSN of the last checkpoint
#   72     8     clean_end       u64, the end LSN of the log at a clean close, 0 while open (below)
#   80     48    reserved        zero
#   128    1024  tree roots      MAX_TREES x 16 bytes:
#                                  u32 root page id (0 = slot unused), u16 height,
#                                  u16 flags, 8 bytes name (ASCII, NUL padded)
#   1152   2944  reserved        zero
#
# The free list is a chain of PT_FREE pages linked by next_id (page.pxd).
#
# clean_end (the clean-close mark, invariant 14): written by the storage layer
# only after a clean close flushed and synced every page, so the data file
# alone holds every commit and the log below clean_end is not needed; cleared
# (and synced) by the next writable open once a fresh log begins at it.  It is
# the one field written outside the log: only bytes 0..3 and 72..79, both in
# the first 512-byte sector, change, so the write cannot tear.  Files written
# before it existed hold zero there (no mark): they open as before, and older
# readers ignore the field, so the format version stays 1.
#
# A file is an OOR database if and only if (checked in this order by
# header_problem() in pager.pyx; nothing in page 0 is believed before 3):
#   1. it is at least 4096 bytes long (else NotAnOorFileError);
#   2. bytes 40..43 are b"OOR1", or page 0 fails its checksum while page 1 is
#      a valid sealed page (then it is an OOR file whose header is destroyed:
#      CorruptPageError(0)); otherwise NotAnOorFileError;
#   3. page 0 passes page validity conditions 1-2 and has type PT_FILE_HEADER
#      (else CorruptPageError(0); the storage layer may repair a torn header
#      by redo from the log, opening with check_header=False);
#   4. format_version <= FORMAT_VERSION and page_size == 4096
#      (else VersionMismatchError) -- read only once 3 holds, so a flipped
#      version byte is a corrupt page 0, never "upgrade oor";
#   5. page_count >= 1; free_head and every tree root are below page_count;
#      free_count < page_count; free_head == 0 exactly when free_count == 0
#      (header_bounds_problem(), at every open; else CorruptPageError(0));
#   6. after recovery, page_count * 4096 <= file size (storage, at open), and
#      every page reachable from the roots and the free list is below
#      page_count, and every page below it is reachable exactly once (`oor
#      check`, by the tree walk);
#   7. every page on the free chain is PT_FREE, the chain has free_count pages
#      and no cycle (checked by SpaceManager._check(), space.pxd, the one owner
#      of the free list).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef enum:
    FORMAT_VERSION = 1
    HDR_MAGIC = 40
    HDR_VERSION = 44
    HDR_PAGE_SIZE = 48
    HDR_PAGE_COUNT = 52
    HDR_FREE_HEAD = 56
    HDR_FREE_COUNT = 60
    HDR_CKPT_LSN = 64
    HDR_CLEAN_END = 72
    HDR_ROOTS = 128
    ROOT_ENTRY = 16
    MAX_TREES = 64

cdef inline uint32_t hdr_u32(const uint8_t* p, int off) noexcept nogil:
    return (<const uint32_t*>(p + off))[0]
cdef inline void hdr_set_u32(uint8_t* p, int off, uint32_t v) noexcept nogil:
    (<uint32_t*>(p + off))[0] = v
cdef inline uint64_t hdr_u64(const uint8_t* p, int off) noexcept nogil:
    return (<const uint64_t*>(p + off))[0]
cdef inline void hdr_set_u64(uint8_t* p, int off, uint64_t v) noexcept nogil:
    (<uint64_t*>(p + off))[0] = v

cdef void header_init(uint8_t* p) noexcept nogil


cdef class Pager:
    cdef int fd
    cdef readonly object path
    cdef readonly object file          # optional Python file layer (tests: power-loss simulator)
    cdef readonly bint read_only
    cdef readonly bint created         # True when open() made a new database
    cdef readonly unsigned long long reads, writes, syncs

    cdef int read_page(self, uint32_t page_id, uint8_t* buf) except -1
    cdef int write_page(self, uint32_t page_id, uint8_t* buf) except -1
    cdef int write_run(self, uint32_t first_id, uint8_t** bufs, int n) except -1
    cdef int _pread(self, uint8_t* buf, Py_ssize_t n, unsigned long long off) except -1
    cdef int _pwrite(self, const uint8_t* buf, Py_ssize_t n, unsigned long long off) except -1
    cpdef unsigned long long file_size(self) except? 0
    cpdef sync(self)
    cpdef close(self)
