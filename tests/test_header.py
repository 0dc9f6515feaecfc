"""Page 0 (the file header) is verified before it is interpreted (issue 11, pager.pxd conditions 1-6).

Every field of page 0 damaged with a valid checksum, and bytes flipped without one: the open is refused
with the right error, or (fields that do not matter to correctness) the database opens with every set
intact and a clean check.  Never a traceback of another kind, never a silent loss, never a write over
live pages.
"""
import os
import random
import struct

import pytest

import oor
from oor_core import CorruptPageError, NotAnOorFileError, OorError, VersionMismatchError

import crc32c as ref

SEED = int(os.environ.get("OOR_SEED", "11"))


def _reseal(page):
    page[0:4] = b"\0\0\0\0"
    page[0:4] = struct.pack("<I", ref.crc32c(bytes(page)))
    return page


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, data):
    """A closed database of 2,000 real sets, and its bytes."""
    path = tmp_path_factory.mktemp("hdr") / "h.oor"
    src = data / "catalogs" / "catalog-2022-07.3le"
    lines = src.read_text().splitlines()[:6000]
    small = path.parent / "small.3le"
    small.write_text("\n".join(lines) + "\n")
    with oor.open(str(path)) as reg:
        reg.load(str(small))
        n = reg.stats()["element_sets"]
    assert n == 2000
    return path, path.read_bytes(), n


def _damaged_copy(tmp_path, pristine, mutate):
    path, image, n = pristine
    dst = tmp_path / "d.oor"
    page0 = bytearray(image[:4096])
    mutate(page0)
    dst.write_bytes(bytes(page0) + image[4096:])
    return str(dst), n


def _outcome(path, n):
    """'ok' when the database opened with all n sets and a clean check; else the exception."""
    try:
        with oor.open(path) as reg:
            assert reg.stats()["element_sets"] == n, "sets lost silently"
            problems = reg.check()
            if problems:
                return ("check", problems)
        return "ok"
    except OorError as e:
        return e


FIELDS = {  # offset, size, damage -> the error it must earn (None: harmless or caught by a clear error)
    "magic": (40, 4, NotAnOorFileError),
    "version": (44, 4, VersionMismatchError),
    "page_size": (48, 4, VersionMismatchError),
    "page_count_small": (52, 4, CorruptPageError),
    "page_count_big": (52, 4, CorruptPageError),
    "free_head": (56, 4, CorruptPageError),
    "free_count": (60, 4, CorruptPageError),
    "root": (128, 4, CorruptPageError),
}


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_field_damaged_with_valid_checksum(tmp_path, pristine, field):
    off, size, expected = FIELDS[field]
    old = struct.unpack_from("<I", pristine[1], off)[0]
    value = {"page_count_small": 2, "page_count_big": old + 100_000, "version": 2, "magic": 0x58585858,
             "page_size": 8192, "free_head": old + 1_000_000, "free_count": 1_000_000,
             "root": 0x7FFFFFFF}[field]

    def mutate(p):
        struct.pack_into("<I", p, off, value)
        _reseal(p)
    path, n = _damaged_copy(tmp_path, pristine, mutate)
    before = open(path, "rb").read()
    got = _outcome(path, n)
    assert isinstance(got, expected), (field, got)
    assert "page 0" in str(got) or isinstance(got, (NotAnOorFileError, VersionMismatchError)), str(got)
    assert open(path, "rb").read() == before, "refused only after writing to the file"


def test_page_count_slightly_small_is_caught_before_any_write(tmp_path, pristine):
    """A page count a few pages short (roots still below it) is caught by check, never silently used."""
    path0, image, n = pristine
    count = struct.unpack_from("<I", image, 52)[0]

    def mutate(p):
        struct.pack_into("<I", p, 52, count - 3)
        _reseal(p)
    path, n = _damaged_copy(tmp_path, pristine, mutate)
    before = open(path, "rb").read()
    try:
        reg = oor.open(path, read_only=True)
    except CorruptPageError as e:
        assert "page 0" in str(e)
        return
    with reg:
        problems = reg.check()
    assert any("page count" in p for p in problems), problems
    assert open(path, "rb").read() == before


def test_zeroed_header_is_corrupt_not_foreign(tmp_path, pristine):
    path, n = _damaged_copy(tmp_path, pristine, lambda p: p.__setitem__(slice(0, 4096), bytes(4096)))
    with pytest.raises(CorruptPageError) as ei:
        oor.open(path)
    assert "page 0 is corrupt" in str(ei.value) and "not an OOR" not in str(ei.value)


def test_foreign_file_is_not_oor(tmp_path):
    p = tmp_path / "foreign.oor"
    p.write_bytes(os.urandom(3 * 4096))
    with pytest.raises(NotAnOorFileError):
        oor.open(str(p))


def test_version_byte_flipped_without_checksum_is_corruption(tmp_path, pristine):
    """Issue 11 finding 5: a flipped version byte used to say 'format version 67108865 ... upgrade oor'."""
    path, n = _damaged_copy(tmp_path, pristine, lambda p: p.__setitem__(47, p[47] ^ 0x04))
    got = _outcome(path, n)
    assert not isinstance(got, VersionMismatchError), got
    assert got == "ok" or isinstance(got, CorruptPageError), got


def test_byte_flips_without_checksum(tmp_path, pristine):
    """Every header byte (0..1151) and a seeded sample of the rest, one bit flipped, checksum left stale."""
    rnd = random.Random(SEED)
    offsets = list(range(0, 1152, 7)) + rnd.sample(range(1152, 4096), 40)
    for off in offsets:
        bit = rnd.randrange(8)
        path, n = _damaged_copy(tmp_path, pristine, lambda p: p.__setitem__(off, p[off] ^ (1 << bit)))
        got = _outcome(path, n)
        ok = got == "ok" or isinstance(got, (CorruptPageError, NotAnOorFileError))
        assert ok, f"seed {SEED}: byte {off} bit {bit}: {got!r}"
        if isinstance(got, NotAnOorFileError):
            assert 40 <= off < 44, f"seed {SEED}: byte {off}: an OOR file called foreign: {got}"
