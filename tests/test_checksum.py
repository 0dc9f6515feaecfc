"""CRC32C (oor_core.checksum): agreement with the `crc32c` PyPI package and the standard check value.

Invariant 1 rests on this function; both the SSE4.2 path and the portable
slice-by-8 path are compared against an independent implementation.
"""
import random

import crc32c as ref  # the PyPI package (a declared dependency)
import pytest

from oor_core import crc32c as core_crc32c
from oor_core.checksum import crc32c, crc32c_portable, hardware_crc32c

# 4079-4081, 8159-8161, 12240: either side of the hardware path's three-stream rounds (3 x 1360 bytes)
LENGTHS = sorted(set(list(range(0, 80)) + [127, 128, 129, 255, 256, 257, 511, 1000, 1023, 1024,
                                           4079, 4080, 4081, 4095, 4096, 4097, 8159, 8160, 8161, 8191,
                                           12240, 65536, 65537]))


def test_reexport_is_same_function():
    assert core_crc32c is crc32c


def test_check_value():
    # The CRC-32C "check" value of the catalogue of parametrised CRC algorithms.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c_portable(b"123456789") == 0xE3069283
    assert ref.crc32c(b"123456789") == 0xE3069283


def test_empty_and_known_vectors():
    assert crc32c(b"") == 0 == crc32c_portable(b"")
    # RFC 3720 (iSCSI) B.4 test vectors.
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


def test_hardware_flag_is_bool():
    print(f"\nSSE4.2 crc32 in use: {hardware_crc32c()}")
    assert isinstance(hardware_crc32c(), bool)


def test_matches_pypi_package_many_lengths_and_alignments():
    rng = random.Random(20240601)
    blob = rng.randbytes(70000 + 16)
    mv = memoryview(blob)
    checked = 0
    for n in LENGTHS:
        for align in range(8):          # every alignment modulo 8 of the start
            chunk = mv[align:align + n]
            want = ref.crc32c(bytes(chunk))
            assert crc32c(chunk) == want, (n, align)
            assert crc32c_portable(chunk) == want, (n, align)
            checked += 1
    # bytearray and bytes inputs too
    data = bytearray(rng.randbytes(333))
    assert crc32c(data) == ref.crc32c(bytes(data)) == crc32c_portable(data)
    assert checked == len(LENGTHS) * 8


def test_random_buffers_hw_and_portable_agree():
    rng = random.Random(7)
    for _ in range(500):
        n = rng.randrange(0, 9000)
        off = rng.randrange(0, 16)
        buf = memoryview(rng.randbytes(n + off))[off:]
        want = ref.crc32c(bytes(buf))
        assert crc32c(buf) == want
        assert crc32c_portable(buf) == want


@pytest.mark.parametrize("split", [0, 1, 3, 7, 8, 9, 100, 4095])
def test_continuation(split):
    rng = random.Random(split)
    data = rng.randbytes(5000)
    whole = ref.crc32c(data)
    assert crc32c(data[split:], crc32c(data[:split])) == whole
    assert crc32c_portable(data[split:], crc32c_portable(data[:split])) == whole
    # and the PyPI package's continuation agrees with ours
    assert ref.crc32c(data[split:], crc32c(data[:split])) == whole


def test_single_bit_changes_change_the_crc():
    rng = random.Random(3)
    page = bytearray(rng.randbytes(4096))
    base = crc32c(page)
    for bit in range(0, 4096 * 8, 97):
        page[bit >> 3] ^= 1 << (bit & 7)
        assert crc32c(page) != base
        page[bit >> 3] ^= 1 << (bit & 7)
    assert crc32c(page) == base


def test_rejects_non_contiguous_and_none():
    with pytest.raises((TypeError, ValueError)):
        crc32c(None)
    with pytest.raises((TypeError, ValueError, BufferError)):
        crc32c(memoryview(b"abcdef")[::2])
