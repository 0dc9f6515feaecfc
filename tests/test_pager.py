"""The page file (oor_core.pager): page I/O at page_id * 4096, the file header,
rejection of foreign / newer / corrupt files, and checksum + page-id verification
on every read (invariant 1).  Free-list persistence across close+reopen lives here
too, because it is a property of the file (header page 0)."""
import os
import random
import struct

import pytest

from oor_core import (PAGE_SIZE, FORMAT_VERSION, PT_FILE_HEADER, PT_FREE, PT_SLOTTED, BufferPool,
                      CorruptPageError, NotAnOorFileError, OorError, PageFullError, Pager,
                      VersionMismatchError)
from oor_core.checksum import crc32c

import crc32c as ref


def _open_fds():
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None


def _reseal(page: bytearray) -> bytearray:
    """Give a page a fresh, valid CRC32C (checksum field zeroed while hashing)."""
    page[0:4] = b"\0\0\0\0"
    page[0:4] = struct.pack("<I", ref.crc32c(bytes(page)))
    return page


def _blank_page(pid, ptype=PT_SLOTTED):
    p = bytearray(PAGE_SIZE)
    struct.pack_into("<I", p, 4, pid)
    p[16] = ptype
    struct.pack_into("<HH", p, 20, 40, PAGE_SIZE)
    return p


@pytest.fixture
def db(tmp_path):
    return tmp_path / "t.oor"


# ---- creation and the header ------------------------------------------------

def test_create_writes_valid_header(db):
    pg = Pager(db)
    assert pg.created
    assert pg.file_size() == PAGE_SIZE
    hdr = pg.read(0)
    assert hdr[40:44] == b"OOR1"
    version, psize, count, free_head, free_count = struct.unpack_from("<IIIII", hdr, 44)
    assert (version, psize, count, free_head, free_count) == (FORMAT_VERSION, PAGE_SIZE, 1, 0, 0)
    assert hdr[16] == PT_FILE_HEADER
    assert struct.unpack_from("<I", hdr, 4)[0] == 0
    # stored checksum is CRC32C of the page with the checksum field zeroed (page.pxd condition 1)
    assert struct.unpack_from("<I", hdr, 0)[0] == ref.crc32c(b"\0\0\0\0" + hdr[4:])
    pg.close()
    assert pg.closed
    pg.close()                               # idempotent
    pg2 = Pager(db, create=False)
    assert not pg2.created
    assert pg2.read(0) == hdr
    pg2.close()


def test_missing_file_without_create(db):
    with pytest.raises(FileNotFoundError):
        Pager(db, create=False)
    assert not db.exists()


# ---- page I/O -----------------------------------------------------------------

def test_page_written_at_page_id_times_4096(db):
    rng = random.Random(11)
    pg = Pager(db)
    pages = {}
    for pid in (3, 1, 7, 2):                    # out of order, leaving a hole at 4..6
        p = _blank_page(pid)
        p[40:PAGE_SIZE] = rng.randbytes(PAGE_SIZE - 40)
        pg.write(pid, p)
        pages[pid] = p
    assert pg.file_size() == 8 * PAGE_SIZE
    assert pg.writes == 1 + 4                    # header at create + 4
    for pid, p in pages.items():
        got = pg.read(pid)
        assert got[4:] == bytes(p[4:])          # identical apart from the sealed checksum
        assert struct.unpack_from("<I", got, 0)[0] == crc32c(b"\0\0\0\0" + got[4:])
        assert pg.read_raw(pid) == got
    pg.close()
    raw = db.read_bytes()
    for pid, p in pages.items():
        on_disk = raw[pid * PAGE_SIZE:(pid + 1) * PAGE_SIZE]
        assert on_disk[4:] == bytes(p[4:]), pid
        assert struct.unpack_from("<I", on_disk, 4)[0] == pid
    # the hole reads as zeros raw, and fails verification
    pg = Pager(db)
    assert pg.read_raw(5) == bytes(PAGE_SIZE)
    with pytest.raises(CorruptPageError) as ei:
        pg.read(5)
    assert ei.value.page_id == 5
    pg.close()


def test_read_if_written_tells_a_never_written_page_from_a_damaged_one(db):
    """A reader process asks for pages the writer may not have written yet: past the end of the file or
    a hole, that is None at once (its version is in the log; no torn-write retries), while a written
    page comes back verified and a damaged one still raises."""
    pg = Pager(db)
    for pid in (1, 4):                          # a hole at 2..3, nothing past 4
        pg.write(pid, _blank_page(pid))
    assert pg.read_if_written(1) == pg.read(1)
    assert pg.read_if_written(2) is None        # a hole
    assert pg.read_if_written(9) is None        # past the end
    pg.close()
    raw = bytearray(db.read_bytes())
    raw[4 * PAGE_SIZE + 100] ^= 0x20            # one bit of a written page
    db.write_bytes(bytes(raw))
    pg = Pager(db)
    with pytest.raises(CorruptPageError) as ei:
        pg.read_if_written(4)
    assert ei.value.page_id == 4
    pg.close()


def test_pool_page_lands_at_its_offset(db):
    with BufferPool(Pager(db), 8) as pool:
        ids = []
        for i in range(5):
            with pool.allocate() as g:
                g.insert(f"record {i} on page {g.page_id}".encode())
                ids.append(g.page_id)
        pool.flush_all()
        images = {}
        for pid in ids:
            with pool.read(pid) as g:
                images[pid] = g.data
        assert pool._check() == []
    raw = db.read_bytes()
    assert len(raw) == (max(ids) + 1) * PAGE_SIZE
    for pid in ids:
        assert raw[pid * PAGE_SIZE:(pid + 1) * PAGE_SIZE] == images[pid]
        assert f"record {ids.index(pid)} on page {pid}".encode() in images[pid]


def test_write_rejects_wrong_size(db):
    pg = Pager(db)
    with pytest.raises(ValueError):
        pg.write(1, bytes(100))
    with pytest.raises(AssertionError):       # internal bug guard: page written under another id
        pg.write(2, bytes(_blank_page(3)))
    pg.close()


def test_read_only_pager_refuses_writes(db):
    Pager(db).close()
    pg = Pager(db, read_only=True)
    assert pg.read(0)[40:44] == b"OOR1"
    with pytest.raises(PermissionError):
        pg.write(1, bytes(_blank_page(1)))
    pg.close()


# ---- free list persists across close + reopen ----------------------------------

def test_free_list_reused_after_reopen(db):
    with BufferPool(Pager(db), 8) as pool:
        ids = []
        for i in range(10):
            with pool.allocate() as g:
                g.insert(b"x" * 100)
                ids.append(g.page_id)
        assert ids == list(range(1, 11))
        assert pool.page_count == 11
        freed = [3, 7, 4, 10]
        for pid in freed:
            pool.free(pid)
        assert pool.free_count == 4
        assert pool._check() == []
    # reopen: header and the PT_FREE chain must have been persisted
    pg = Pager(db, create=False)
    hdr = pg.read(0)
    assert struct.unpack_from("<III", hdr, 52) == (11, freed[-1], 4)
    assert pg.read(7)[16] == PT_FREE
    with BufferPool(pg, 8) as pool:
        assert pool._check() == []
        assert pool.page_count == 11 and pool.free_count == 4
        got = []
        for _ in freed:
            with pool.allocate() as g:
                got.append(g.page_id)
                assert g.page_type == PT_SLOTTED and g.slot_count == 0 and g.free_space == PAGE_SIZE - 40
        assert sorted(got) == sorted(freed)
        assert got == freed[::-1]            # LIFO chain
        assert pool.page_count == 11         # the file did not grow
        assert pool.free_count == 0
        with pool.allocate() as g:           # list exhausted: the file grows again
            assert g.page_id == 11
        assert pool.page_count == 12
        assert pool._check() == []
    with BufferPool(Pager(db), 4) as pool:
        assert pool._check() == []
        assert pool.free_count == 0 and pool.page_count == 12


def test_free_errors(db):
    with BufferPool(Pager(db), 8) as pool:
        with pool.allocate() as g:
            pid = g.page_id
        with pytest.raises(ValueError):
            pool.free(0)
        with pytest.raises(ValueError):
            pool.free(99)
        g = pool.read(pid)
        with pytest.raises(OorError):        # still pinned
            pool.free(pid)
        g.release()
        pool.free(pid)
        with pytest.raises(OorError):        # double free
            pool.free(pid)
        assert pool.free_count == 1
        assert pool._check() == []
        assert pool.pinned_pages() == {}


# ---- not an OOR file, newer version, corrupt header -----------------------------

@pytest.mark.parametrize("kind", ["random", "text", "short", "short_text", "empty"])
def test_not_an_oor_file(tmp_path, kind):
    path = tmp_path / f"{kind}.bin"
    rng = random.Random(kind)
    if kind == "random":
        path.write_bytes(rng.randbytes(3 * PAGE_SIZE))
    elif kind == "text":
        path.write_text("ISS (ZARYA)\n1 25544U 98067A   ...\n" * 300)
    elif kind == "short":
        path.write_bytes(b"OOR1" * 100)
    elif kind == "short_text":
        path.write_text("hello, this is not a database\n")
    else:
        path.write_bytes(b"")
    before = path.read_bytes()
    fds = _open_fds()
    with pytest.raises(NotAnOorFileError) as ei:
        Pager(path, create=False)
    assert ei.value.path == str(path)
    if kind != "empty":                       # create=True must not clobber a foreign file either
        with pytest.raises(NotAnOorFileError):
            Pager(path)
    with pytest.raises(NotAnOorFileError):
        Pager(path, read_only=True)
    assert path.read_bytes() == before        # never modified
    assert _open_fds() == fds                 # no descriptor leaked by the failed opens


def test_magic_in_wrong_place_is_not_oor(tmp_path):
    path = tmp_path / "f"
    Pager(path).close()
    page = bytearray(path.read_bytes())
    page[40:44] = b"OOR2"
    path.write_bytes(bytes(_reseal(page)))
    with pytest.raises(NotAnOorFileError):
        Pager(path)


@pytest.mark.parametrize("field,value", [(44, FORMAT_VERSION + 1), (44, 0xFFFFFFFF), (44, 0), (48, 8192)])
def test_newer_version_is_version_mismatch(tmp_path, field, value):
    path = tmp_path / "v.oor"
    Pager(path).close()
    page = bytearray(path.read_bytes())
    struct.pack_into("<I", page, field, value)
    _reseal(page)
    # sanity: the patched header is validly sealed, so this is not mere corruption
    assert struct.unpack_from("<I", page, 0)[0] == ref.crc32c(b"\0\0\0\0" + bytes(page[4:]))
    path.write_bytes(bytes(page))
    fds = _open_fds()
    with pytest.raises(VersionMismatchError) as ei:
        Pager(path)
    assert str(value) in str(ei.value.found)
    assert _open_fds() == fds


@pytest.mark.parametrize("offset", [0, 3, 4, 16, 52, 100, 1000, 4095])
def test_corrupt_header_is_corrupt_page_0(tmp_path, offset):
    path = tmp_path / "c.oor"
    Pager(path).close()
    page = bytearray(path.read_bytes())
    page[offset] ^= 0x10
    path.write_bytes(bytes(page))
    with pytest.raises(CorruptPageError) as ei:
        Pager(path)
    assert ei.value.page_id == 0


def test_header_wrong_type_is_corrupt(tmp_path):
    path = tmp_path / "t.oor"
    Pager(path).close()
    page = bytearray(path.read_bytes())
    page[16] = PT_SLOTTED
    path.write_bytes(bytes(_reseal(page)))
    with pytest.raises(CorruptPageError) as ei:
        Pager(path)
    assert ei.value.page_id == 0


# ---- checksums: every single-bit flip, misdirected writes, EOF -------------------

def _full_page_db(path):
    """A database whose page 1 is a slotted page packed with records; returns the page bytes."""
    rng = random.Random(99)
    with BufferPool(Pager(path), 8) as pool:
        with pool.allocate() as g:
            assert g.page_id == 1
            n = 0
            while True:
                try:
                    g.insert(rng.randbytes(rng.randrange(20, 140)))
                    n += 1
                except PageFullError:
                    break
            assert n > 20 and g.free_space < 140 + 4
            assert g.check() == []
        with pool.allocate() as g:                 # page 2, a different page for misdirection
            g.insert(b"page two")
    raw = path.read_bytes()
    return raw[PAGE_SIZE:2 * PAGE_SIZE], n


def test_every_single_bit_flip_is_detected(db):
    good, nrec = _full_page_db(db)
    pg = Pager(db, create=False)
    assert pg.read(1) == good
    fd = os.open(db, os.O_RDWR)
    try:
        page = bytearray(good)
        off = 1 * PAGE_SIZE
        detected = 0
        for bit in range(PAGE_SIZE * 8):
            i, m = bit >> 3, 1 << (bit & 7)
            page[i] ^= m
            os.pwrite(fd, page, off)
            page[i] ^= m
            try:
                pg.read(1)
            except CorruptPageError as e:
                if e.page_id != 1:
                    pytest.fail(f"bit {bit}: CorruptPageError names page {e.page_id}")
                detected += 1
            else:
                pytest.fail(f"flip of bit {bit} (byte {i}) was not detected")
        os.pwrite(fd, good, off)
    finally:
        os.close(fd)
    assert detected == PAGE_SIZE * 8
    print(f"\nsingle-bit flips detected: {detected}/{PAGE_SIZE * 8} on a page of {nrec} records")
    assert pg.read(1) == good                   # restored page reads fine again
    pg.close()


def test_corrupt_page_through_the_pool(db):
    good, _ = _full_page_db(db)
    raw = bytearray(db.read_bytes())
    raw[PAGE_SIZE + 2000] ^= 0x01
    db.write_bytes(bytes(raw))
    with BufferPool(Pager(db), 4) as pool:
        with pytest.raises(CorruptPageError) as ei:
            pool.read(1)
        assert ei.value.page_id == 1
        assert not pool.is_cached(1)               # the bad bytes are not cached as data
        with pytest.raises(CorruptPageError):
            pool.write(1)
        assert pool.pinned_pages() == {}
        assert pool._check() == []
        with pool.read(2) as g:                   # the rest of the file still works
            assert g.get(0) == b"page two"


def test_misdirected_write_is_detected(db):
    _full_page_db(db)
    pg = Pager(db, create=False)
    two = pg.read_raw(2)
    fd = os.open(db, os.O_RDWR)
    try:
        os.pwrite(fd, two, 1 * PAGE_SIZE)          # page 2's (valid) image lands at page 1's offset
    finally:
        os.close(fd)
    with pytest.raises(CorruptPageError) as ei:
        pg.read(1)
    assert ei.value.page_id == 1
    assert "misdirected" in ei.value.reason and "2" in ei.value.reason
    assert pg.read(2) == two
    pg.close()


def test_read_beyond_eof(db):
    _full_page_db(db)
    pg = Pager(db, create=False)
    size = pg.file_size()
    assert size == 3 * PAGE_SIZE
    for pid in (3, 4, 1000, 0xFFFFFFFE):
        with pytest.raises(CorruptPageError) as ei:
            pg.read(pid)
        assert ei.value.page_id == pid
    # a partial trailing page is also a short read
    with open(db, "ab") as f:
        f.write(b"\x01" * 100)
    with pytest.raises(CorruptPageError) as ei:
        pg.read(3)
    assert ei.value.page_id == 3
    assert pg.reads >= 5
    pg.close()
