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
#   72     56    reserved        zero
#   128    1024  tree roots      MAX_TREES x 16 bytes:
#                                  u32 root page id (0 = slot unused), u16 height,
#                                  u16 flags, 8 bytes name (ASCII, NUL padded)
#   1152   2944  reserved        zero
#
# The free list is a chain of PT_FREE pages linked by next_id (page.pxd).
#
# A file is an OOR database if and only if:
#   1. it is at least 4096 bytes long and bytes 40..43 are b"OOR1"
#      (else NotAnOorFileError);
#   2. format_version <= FORMAT_VERSION and page_size == 4096
#      (else VersionMismatchError);
#   3. page 0 passes page validity conditions 1-2 (else CorruptPageError(0));
#   4. free_head is 0 or < page_count; every page on the free chain is PT_FREE,
#      the chain has free_count pages and no cycle (checked by SpaceManager._check(),
#      space.pxd, the one owner of the free list).

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
