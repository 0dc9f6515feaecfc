"""page_check (page.pxd conditions 2-7) on damaged slot directories, against the Python it replaced.

page_check sorts the slots' spans in C (packed integers) since the `oor check` speed work (issue 17); the
oracle below is the former Python body, so the problems found, their wording and their order must be the
same on every page -- valid ones and ones with overlapping, out-of-area, empty, stub and miscounted slots.
Seeded: a failure prints the seed that replays it.
"""
import random
import struct

import pytest

from oor_core import PAGE_SIZE, PT_OVERFLOW, PT_SLOTTED, BufferPool, Pager

HDR, SLOT, STUB_SIZE, PT_MAX = 40, 4, 8, 5


def oracle(page, expect_id):
    """The former page_check body, in Python, on the page's bytes."""
    problems = []
    pid, = struct.unpack_from("<I", page, 4)
    where = f"page {expect_id}"
    if pid != expect_id:
        problems.append(f"{where}: header names page {pid}")
    ptype = page[16]
    if ptype > PT_MAX:
        problems.append(f"{where}: unknown page type {ptype}")
    ns, lo, hi, frag = struct.unpack_from("<HHHH", page, 18)
    if lo != HDR + SLOT * ns:
        problems.append(f"{where}: free_lo {lo} != 40 + 4 * {ns}")
    if not (lo <= hi <= PAGE_SIZE):
        problems.append(f"{where}: free bounds out of order ({lo}, {hi})")
        return problems
    if HDR + SLOT * ns > PAGE_SIZE:
        problems.append(f"{where}: slot directory of {ns} slots runs past the page")
        return problems
    spans = []
    live = 0
    for i in range(ns):
        off, raw = struct.unpack_from("<HH", page, HDR + SLOT * i)
        ln = raw & 0x7FFF
        if off == 0:
            if raw != 0:
                problems.append(f"{where}: empty slot {i} has length {ln}")
            continue
        if off < hi or off + ln > PAGE_SIZE:
            problems.append(f"{where}: slot {i} [{off}, {off + ln}) outside the record area [{hi}, 4096)")
        if raw & 0x8000 and ln != STUB_SIZE:
            problems.append(f"{where}: slot {i} overflow stub has length {ln}")
        spans.append((off, off + ln, i))
        live += ln
    spans.sort()
    for a, b in zip(spans, spans[1:]):
        if b[0] < a[1]:
            problems.append(f"{where}: slots {a[2]} and {b[2]} overlap")
    if live + frag != PAGE_SIZE - hi:
        problems.append(f"{where}: live bytes {live} + fragmented {frag} != record area {PAGE_SIZE - hi}")
    aux, = struct.unpack_from("<I", page, 36)
    if ptype == PT_OVERFLOW and (ns != 0 or aux > PAGE_SIZE - HDR):
        problems.append(f"{where}: overflow page with {ns} slots, payload {aux}")
    return problems


def damaged_header_and_slots(rng):
    """({offset: bytes} of the header: type, slot count, free bounds, fragmented, aux; the slot directory),
    consistent or not, some valid."""
    ns = rng.choice([0, 1, 2, 5, 18, 130, rng.randrange(0, 1015)])
    if rng.random() < 0.03:
        ns = rng.choice([1015, 1016, 5000, 0xFFFF])           # a count whose directory runs past the page
    kind = rng.random()
    slots = []
    hi = PAGE_SIZE
    for i in range(ns):
        r = rng.random()
        if r < 0.05:
            slots.append((0, rng.choice([0, 0, 5, 0x8008])))                      # empty (or a bad empty)
            continue
        ln = rng.choice([0, 1, 8, 20, 100, rng.randrange(0, 0x8000)]) if kind < 0.3 else rng.randrange(1, 40)
        off = rng.randrange(1, 1 << 16) if kind < 0.2 else max(HDR + SLOT * ns, hi - ln)
        if kind >= 0.2 and rng.random() < 0.1:
            off = rng.randrange(HDR, PAGE_SIZE)                                    # overlaps, likely
        raw = ln | (0x8000 if rng.random() < 0.05 else 0)
        slots.append((off & 0xFFFF, raw))
        hi = min(hi, off) if kind >= 0.2 else hi
    lo = HDR + SLOT * ns if rng.random() < 0.9 else rng.randrange(0, PAGE_SIZE + 10)
    hi = max(lo, min(hi, PAGE_SIZE)) if rng.random() < 0.9 else rng.randrange(0, 1 << 16)
    live = sum(raw & 0x7FFF for off, raw in slots if off)
    frag = (PAGE_SIZE - hi - live) & 0xFFFF if rng.random() < 0.8 else rng.randrange(0, 1 << 16)
    ptype = rng.choice([PT_SLOTTED, PT_SLOTTED, PT_OVERFLOW, 3, 4, 9])
    fields = {16: bytes([ptype]), 18: struct.pack("<HHHH", ns, lo & 0xFFFF, hi & 0xFFFF, frag),
              36: struct.pack("<I", rng.choice([0, 10, 5000]))}
    return fields, b"".join(struct.pack("<HH", off, raw) for off, raw in slots)[:PAGE_SIZE - HDR]


@pytest.mark.parametrize("seed", range(8))
def test_page_check_matches_the_former_python(tmp_path, seed):
    pool = BufferPool(Pager(tmp_path / f"c{seed}.oor"), 8)
    rng = random.Random(seed)
    try:
        with pool.allocate() as g:
            pid = g.page_id
            for case in range(250):
                g.format(PT_SLOTTED)
                fields, directory = damaged_header_and_slots(rng)
                g.write_bytes(HDR, rng.randbytes(PAGE_SIZE - HDR))
                for off, b in fields.items():
                    g.write_bytes(off, b)
                if directory:
                    g.write_bytes(HDR, directory)
                if rng.random() < 0.05:
                    g.write_bytes(4, struct.pack("<I", pid + 1))                 # a misdirected page
                got, want = g.check(), oracle(bytes(g.data), pid)
                assert got == want, f"seed {seed}, case {case}: {got} != {want}"
            g.write_bytes(4, struct.pack("<I", pid))           # its own id again, for the close's flush
    finally:
        pool.close()


def test_a_slot_count_past_the_page_is_reported_without_reading_past_it(tmp_path):
    """A page whose slot count disagrees with its free bounds so far that the slot directory would end
    past the page (65,535 slots, free_lo 40): one problem line names it, and no slot is read -- the
    directory would lie in the memory after the frame (the last frame's: past the pool's mapping)."""
    pool = BufferPool(Pager(tmp_path / "big.oor"), 8)
    try:
        with pool.allocate() as g:
            pid = g.page_id
            g.format(PT_SLOTTED)
            g.write_bytes(18, struct.pack("<HHHH", 0xFFFF, HDR, PAGE_SIZE, PAGE_SIZE - HDR))
            got = g.check()
            assert got == oracle(bytes(g.data), pid)
            assert f"page {pid}: slot directory of 65535 slots runs past the page" in got, got
            assert not any("slot 1" in p for p in got), got
    finally:
        pool.close()
