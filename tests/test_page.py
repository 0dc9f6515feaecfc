"""The 4 KiB slotted page (oor_core/page.pyx through WritePageGuard): slot ids,
delete + compact, page-full atomicity, overflow chains, and a randomized model
check that calls the page validity conditions (page.pxd, 2-7) after every step."""
import random
import struct

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from oor_core import (MAX_INLINE, PAGE_SIZE, PT_FREE, PT_OVERFLOW, PT_SLOTTED, BufferPool, OorError,
                      PageFullError, Pager)

HDR = 40
OVERFLOW_PAYLOAD = PAGE_SIZE - HDR


def payload(tag, n):
    """Deterministic, tag-specific bytes of length n."""
    return random.Random(f"{tag}/{n}").randbytes(n)


@pytest.fixture
def pool(tmp_path):
    p = BufferPool(Pager(tmp_path / "page.oor"), 16)
    yield p
    assert p.pinned_pages() == {}, "a test leaked a pin"
    assert p._check() == []
    p.close()


def test_constants():
    assert PAGE_SIZE == 4096 and MAX_INLINE == 4096 - 40 - 4


def test_empty_page(pool):
    with pool.allocate() as g:
        assert g.page_type == PT_SLOTTED
        assert g.slot_count == 0 and g.slots() == []
        assert g.free_space == g.contiguous_free == PAGE_SIZE - HDR
        assert g.fragmented == 0
        assert g.get(0) is None and g.get(-1) is None
        assert g.check() == []


def test_forty_records_delete_even_compact(pool):
    recs = {}
    with pool.allocate() as g:
        pid = g.page_id
        for i in range(40):
            r = f"rec-{i:02d}|".encode() + payload(i, 20 + 3 * i)
            s = g.insert(r)
            assert s == i
            recs[s] = r
            assert g.check() == []
    # look each up by (page_id, slot_id) through a fresh read guard
    with pool.read(pid) as g:
        assert g.slot_count == 40
        for s, r in recs.items():
            assert g.get(s) == r
    with pool.write(pid) as g:
        free_before = g.free_space
        for s in range(0, 40, 2):
            g.delete(s)
            assert g.check() == []
        for s in range(40):
            assert g.get(s) == (None if s % 2 == 0 else recs[s])
        assert g.slots() == list(range(1, 40, 2))
        freed = sum(len(recs[s]) for s in range(0, 40, 2))
        assert g.free_space == free_before + freed      # slot 39 is live: the directory keeps 40 entries
        assert g.fragmented == freed
        assert g.contiguous_free < g.free_space
        g.compact()
        assert g.check() == []
        assert g.fragmented == 0
        assert g.contiguous_free == g.free_space == free_before + freed
        for s in range(40):
            assert g.get(s) == (None if s % 2 == 0 else recs[s])
        with pytest.raises(KeyError):
            g.delete(0)
        with pytest.raises(KeyError):
            g.update(2, b"x")
        # empty slots are reused lowest first
        assert g.insert(b"new") == 0
        assert g.get(0) == b"new" and g.get(1) == recs[1]
    pool.flush_all()
    with BufferPool(Pager(pool.pager.path), 4) as p2:
        with p2.read(pid) as g:
            assert g.get(0) == b"new"
            for s in range(1, 40, 2):
                assert g.get(s) == recs[s]


def test_delete_trailing_slots_shrinks_directory(pool):
    with pool.allocate() as g:
        for i in range(5):
            g.insert(bytes([i]) * 10)
        g.delete(1)
        assert g.slot_count == 5
        g.delete(4)
        assert g.slot_count == 4
        g.delete(3)
        g.delete(2)
        assert g.slot_count == 1 and g.slots() == [0]
        g.delete(0)
        assert g.slot_count == 0
        assert g.free_space == PAGE_SIZE - HDR
        assert g.check() == []


def test_zero_length_records(pool):
    with pool.allocate() as g:
        assert g.insert(b"") == 0
        assert g.insert(b"abc") == 1
        assert g.insert(b"") == 2
        assert g.get(0) == b"" and g.get(2) == b""
        assert g.slots() == [0, 1, 2]
        g.compact()
        assert g.get(0) == b"" and g.get(1) == b"abc" and g.get(2) == b""
        g.update(1, b"")
        assert g.get(1) == b""
        g.update(0, b"grown")
        assert g.get(0) == b"grown"
        assert g.check() == []


def test_update_in_place_and_growing(pool):
    with pool.allocate() as g:
        a = g.insert(b"a" * 100)
        b = g.insert(b"b" * 100)
        g.update(a, b"A" * 50)                   # shrink in place
        assert g.get(a) == b"A" * 50 and g.fragmented == 50
        g.update(a, b"Z" * 300)                  # grow: relocated, same slot id
        assert g.get(a) == b"Z" * 300 and g.get(b) == b"b" * 100
        assert g.check() == []


def test_page_full_leaves_page_byte_identical(pool):
    rng = random.Random(5)
    inserted = []
    with pool.allocate() as g:
        first = g.page_id
        while True:
            r = rng.randbytes(rng.randrange(30, 200))
            before = g.data
            try:
                inserted.append((g.insert(r), r))
            except PageFullError as e:
                assert g.data == before, "failed insert changed the page"
                assert e.page_id == first and e.needed > e.available
                break
        assert len(inserted) > 10
        assert g.check() == []
        # still full for a record one byte too big, and for an update that cannot fit
        fs = g.free_space
        before = g.data
        with pytest.raises(PageFullError):
            g.insert(b"q" * (fs - 4 + 1))
        with pytest.raises(PageFullError):
            g.update(0, b"u" * (len(inserted[0][1]) + fs + 1))
        assert g.data == before
        # an exactly-fitting record does fit (after compaction if needed)
        g.insert(b"f" * (fs - 4))
        assert g.free_space == 0
        assert g.check() == []
        before = g.data
        with pytest.raises(PageFullError):
            g.insert(b"")                        # even a zero-length record needs a slot
        with pytest.raises(PageFullError):
            g.insert(b"o" * (MAX_INLINE + 1))    # an overflow stub needs 12 bytes: no chain is allocated
        assert g.data == before
    count = pool.page_count
    with pool.allocate() as g2:                  # allocation continues
        assert g2.page_id == count and g2.page_id != first
        s = g2.insert(inserted[0][1])
        assert g2.get(s) == inserted[0][1]
    with pool.read(first) as g:
        for s, r in inserted:
            assert g.get(s) == r


def test_full_page_after_fragmentation_compacts_on_insert(pool):
    with pool.allocate() as g:
        ids = [g.insert(bytes([i]) * 100) for i in range(38)]
        for s in ids[::2]:
            g.delete(s)
        assert g.contiguous_free < 1000 < g.free_space
        big = b"B" * (g.free_space - 200)
        s = g.insert(big)                         # needs compaction to fit
        assert g.get(s) == big
        assert g.fragmented == 0
        for s2 in ids[1::2]:
            assert g.get(s2) == bytes([s2]) * 100
        assert g.check() == []


# ---- overflow chains -----------------------------------------------------------

@pytest.mark.parametrize("size", [MAX_INLINE + 1, 5 * 1024, 64 * 1024, 200 * 1024])
def test_overflow_roundtrip_reopen_update_delete(tmp_path, size):
    path = tmp_path / "ovf.oor"
    big = payload("big", size)
    chain = -(-size // OVERFLOW_PAYLOAD)
    with BufferPool(Pager(path), 8) as pool:
        with pool.allocate() as g:
            pid = g.page_id
            small_slot = g.insert(b"small neighbour")
            s = g.insert(big)
            assert g.is_overflow(s) and not g.is_overflow(small_slot)
            assert g.get(s) == big
            assert g.check() == []
        assert pool.page_count == 2 + chain
        assert pool._check() == []
    with BufferPool(Pager(path, create=False), 5) as pool:   # survives close/reopen, small pool
        with pool.read(pid) as g:
            assert g.get(s) == big and g.get(small_slot) == b"small neighbour"
        # large -> small: the chain goes onto the free list
        with pool.write(pid) as g:
            g.update(s, b"now small")
            assert not g.is_overflow(s) and g.get(s) == b"now small"
        assert pool.free_count == chain
        assert pool._check() == []
        # small -> large: a new chain, reusing the freed pages, the file does not grow
        big2 = payload("big2", size)
        count = pool.page_count
        with pool.write(pid) as g:
            g.update(s, big2)
            assert g.is_overflow(s) and g.get(s) == big2
        assert pool.free_count == 0 and pool.page_count == count
        # large -> large
        big3 = payload("big3", size + 1000)
        chain3 = -(-(size + 1000) // OVERFLOW_PAYLOAD)
        with pool.write(pid) as g:
            g.update(s, big3)
            assert g.get(s) == big3
        assert pool.free_count == chain          # new chain written first (file grew), then the old one freed
        assert pool._check() == []
    with BufferPool(Pager(path, create=False), 5) as pool:
        with pool.read(pid) as g:
            assert g.get(s) == big3
        free0 = pool.free_count
        with pool.write(pid) as g:
            g.delete(s)
            assert g.get(s) is None and g.get(small_slot) == b"small neighbour"
        assert pool.free_count == free0 + chain3     # delete frees the whole chain
        assert pool._check() == []
        # every page of the chain is now PT_FREE
        free_pages = []
        for p in range(2, pool.page_count):
            with pool.read(p) as fg:
                if fg.page_type == PT_FREE:
                    free_pages.append(p)
        assert len(free_pages) == pool.free_count
        assert pool.pinned_pages() == {}


def test_overflow_chain_pages_are_typed(pool):
    big = payload("t", 3 * OVERFLOW_PAYLOAD)          # exactly three full pages
    with pool.allocate() as g:
        s = g.insert(big)
        stub = g.data
    with pool.read(g.page_id) as g2:
        assert g2.get(s) == big
    off, rawlen = struct.unpack_from("<HH", stub, 40 + 4 * s)
    assert rawlen == 0x8000 | 8
    total, first = struct.unpack_from("<II", stub, off)
    assert total == len(big)
    pid, n = first, 0
    while pid:
        with pool.read(pid) as o:
            assert o.page_type == PT_OVERFLOW and o.aux == OVERFLOW_PAYLOAD and o.slot_count == 0
            assert o.check() == []
            pid = o.next_id
        n += 1
    assert n == 3


# ---- randomized operations against a dict model (hypothesis) --------------------

OPS = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 64)),
    st.tuples(st.just("insert"), st.integers(0, MAX_INLINE)),
    st.tuples(st.just("insert_near_full"), st.integers(-6, 6)),
    st.tuples(st.just("update"), st.integers(0, 200), st.integers(0, 300)),
    st.tuples(st.just("update"), st.integers(0, 200), st.integers(0, MAX_INLINE)),
    st.tuples(st.just("update_near_full"), st.integers(0, 200), st.integers(-6, 6)),
    st.tuples(st.just("delete"), st.integers(0, 200)),
    st.tuples(st.just("compact")),
    st.tuples(st.just("get"), st.integers(-2, 210)),
)


@pytest.fixture(scope="module")
def model_pool(tmp_path_factory):
    p = BufferPool(Pager(tmp_path_factory.mktemp("hyp") / "model.oor"), 8)
    yield p
    assert p._check() == []
    p.close()


def _model_free(model):
    nslots = max(model) + 1 if model else 0
    return PAGE_SIZE - HDR - 4 * nslots - sum(len(v) for v in model.values())


def _first_empty(model):
    i = 0
    while i in model:
        i += 1
    return i


def _verify(g, model):
    problems = g.check()
    assert problems == [], problems
    assert g.slots() == sorted(model)
    assert g.slot_count == (max(model) + 1 if model else 0)
    assert g.free_space == _model_free(model)
    for s, v in model.items():
        assert g.get(s) == v


@settings(derandomize=True, max_examples=500, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=120))
def test_random_ops_against_model(model_pool, ops):
    model = {}
    tag = 0
    with model_pool.allocate() as g:
        pid = g.page_id
        for op in ops:
            kind = op[0]
            tag += 1
            if kind in ("insert", "insert_near_full"):
                nslots = max(model) + 1 if model else 0
                grow = 4 if _first_empty(model) == nslots else 0     # a new directory entry is needed
                n = op[1] if kind == "insert" else max(0, min(MAX_INLINE, _model_free(model) - grow + op[1]))
                rec = payload(tag, n)
                fits = n + grow <= _model_free(model)
                before = g.data
                if fits:
                    s = g.insert(rec)
                    assert s == _first_empty(model)
                    model[s] = rec
                else:
                    with pytest.raises(PageFullError):
                        g.insert(rec)
                    assert g.data == before
                    event("insert: page full")
            elif kind in ("update", "update_near_full"):
                if not model:
                    with pytest.raises(KeyError):
                        g.update(op[1] % 7, b"x")
                    continue
                keys = sorted(model)
                s = keys[op[1] % len(keys)]
                old = len(model[s])
                n = op[2] if kind == "update" else max(0, min(MAX_INLINE, _model_free(model) + old + op[2]))
                rec = payload(tag, n)
                fits = n <= old or n <= _model_free(model) + old
                before = g.data
                if fits:
                    g.update(s, rec)
                    model[s] = rec
                else:
                    with pytest.raises(PageFullError):
                        g.update(s, rec)
                    assert g.data == before
                    event("update: page full")
            elif kind == "delete":
                if not model:
                    with pytest.raises(KeyError):
                        g.delete(op[1])
                    continue
                keys = sorted(model)
                s = keys[op[1] % len(keys)]
                g.delete(s)
                del model[s]
                assert g.get(s) is None
            elif kind == "compact":
                before_free = g.free_space
                g.compact()
                assert g.fragmented == 0
                assert g.contiguous_free == g.free_space == before_free
            else:
                s = op[1]
                assert g.get(s) == model.get(s)
            _verify(g, model)
    # flush, evict-proof reread from disk
    model_pool.flush_page(pid)
    with model_pool.read(pid) as g:
        _verify(g, model)
    model_pool.free(pid)


def test_positional_insert_and_remove(pool):
    with pool.allocate() as g:
        for k in (b"b", b"d", b"f"):
            g.insert_at(g.slot_count, k)
        g.insert_at(0, b"a")
        g.insert_at(2, b"c")
        g.insert_at(4, b"e")
        assert [g.get(i) for i in range(g.slot_count)] == [b"a", b"b", b"c", b"d", b"e", b"f"]
        with pytest.raises(IndexError):
            g.insert_at(7, b"z")
        with pytest.raises(IndexError):
            g.insert_at(-1, b"z")
        g.remove_at(1)
        g.remove_at(4)
        assert [g.get(i) for i in range(g.slot_count)] == [b"a", b"c", b"d", b"e"]
        with pytest.raises(IndexError):
            g.remove_at(4)
        assert g.check() == []
        free0 = pool.free_count
        big = payload("pos", 9000)
        g.insert_at(1, big)
        assert g.is_overflow(1) and g.get(1) == big and g.get(2) == b"c"
        g.remove_at(1)                          # frees the chain
        assert pool.free_count == free0 + 3
        assert [g.get(i) for i in range(g.slot_count)] == [b"a", b"c", b"d", b"e"]
        assert g.check() == []


def test_update_to_overflow_on_full_page_allocates_nothing(pool):
    with pool.allocate() as g:
        s = g.insert(b"")
        while True:
            try:
                g.insert(b"x" * 50)
            except PageFullError:
                break
        while g.free_space >= 4:
            try:
                g.insert(b"y" * max(0, g.free_space - 4))
            except PageFullError:
                break
        count, before = pool.page_count, g.data
        with pytest.raises(PageFullError):
            g.update(s, payload("u", 10000))     # an 8-byte stub does not fit in place of 0 bytes
        assert g.data == before and pool.page_count == count and pool.free_count == 0


def test_write_bytes_and_header_setters(pool):
    with pool.allocate() as g:
        with pytest.raises(ValueError):
            g.write_bytes(0, b"abcd")           # the checksum field is not writable
        with pytest.raises(ValueError):
            g.write_bytes(4090, b"1234567")
        g.write_bytes(4000, b"raw bytes")
        assert g.data[4000:4009] == b"raw bytes"
        g.set_next_id(7); g.set_prev_id(9); g.set_level(2); g.set_aux(11); g.set_lsn(2 ** 40)
        assert (g.next_id, g.prev_id, g.level, g.aux, g.lsn) == (7, 9, 2, 11, 2 ** 40)
        g.format(PT_SLOTTED)
        assert g.data[4:] == bytes(g.data[4:8]) + bytes(8) + bytes([PT_SLOTTED, 0, 0, 0]) \
            + b"\x28\x00\x00\x10" + bytes(PAGE_SIZE - 24)
        assert g.check() == []
    with pytest.raises(ValueError):
        pool.allocate(1)                        # the file header type
    with pytest.raises(ValueError):
        pool.allocate(99)
