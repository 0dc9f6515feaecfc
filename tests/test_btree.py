"""The B+ tree (oor_core/btree.pyx): lookups, ranges, splits and merges down to an
empty tree and back, bulk load fill, deletes, persistence and several trees per
file, cursor semantics (also while the tree changes under the cursor), overflow
values, key limits, page accounting (no leaked pages), and a seeded differential
test against sortedcontainers.SortedDict.

Every test runs with a 16-frame buffer pool (constant eviction) and a larger one.
``tree._check()`` (btree.pxd validity conditions 1-6), ``pool._check()`` and a
pin-leak check run after the operations.  ``pytest -s`` prints height, leaf
count, fill and pool statistics after each phase.

The randomized tests are marked ``verify`` (strict mode, tests/conftest.py): their
pool has no transactions, so there strict mode means checking more often.
Replay a randomized failure with ``OOR_SEED=<seed printed in the message>``;
``OOR_SOAK=1`` runs the differential test for 1,000,000 operations.
"""
import bisect
import itertools
import math
import os
import random
import struct
import time

import pytest
from sortedcontainers import SortedDict

from conftest import soak, strict
from oor_core import BufferPool, OorError, Pager
from oor_core.btree import BTree

USABLE = 4056            # btree.pxd: bytes for records and slots in a node page
MAX_LEAF_REC = 1000      # btree.pxd: larger leaf records move their value to overflow
OVERFLOW_PAYLOAD = 4056  # page.pxd: payload bytes per overflow page

POOL_SIZES = [16, 1024]


def k4(i):
    """A NORAD id as a 4-byte big-endian key (memcmp order == numeric order)."""
    return struct.pack(">I", i)


def seed_for(default):
    """OOR_SEED when set, else a fresh seed under OOR_SOAK, else the fixed default."""
    env = os.environ.get("OOR_SEED")
    if env:
        return int(env)
    return random.randrange(2 ** 32) if soak() else default


# ---- fixtures and helpers ------------------------------------------------------------------

class Db:
    """A database file with an open pool; reopen() closes and reopens the file."""

    def __init__(self, path, frames):
        self.path = path
        self.frames = frames
        self.pool = BufferPool(Pager(path), frames)

    def reopen(self):
        assert self.pool.pinned_pages() == {}
        self.pool.close()
        self.pool = BufferPool(Pager(self.path, create=False), self.frames)
        return self.pool


@pytest.fixture(params=POOL_SIZES, ids=lambda n: f"{n}frames")
def db(request, tmp_path):
    d = Db(tmp_path / "tree.oor", request.param)
    yield d
    if not d.pool.closed:
        assert d.pool.pinned_pages() == {}, "pins leaked"
        d.pool.close()


def check(t, ctx=""):
    """The tree and the pool are valid and nothing is left pinned."""
    problems = t._check()
    assert problems == [], f"{ctx}: tree {t.name!r}: {problems[:10]}"
    problems = t.pool._check()
    assert problems == [], f"{ctx}: pool: {problems[:10]}"
    assert t.pool.pinned_pages() == {}, f"{ctx}: pins leaked: {t.pool.pinned_pages()}"


def report(label, t):
    """Print height, leaves, fill and pool statistics (visible with -s); returns t.stats()."""
    s = t.stats()
    ps = t.pool.stats()
    print(f"\n[{label}] tree={t.name} frames={ps['frames']} height={s['height']} leaves={s['leaves']} "
          f"internal={s['internal']} keys={s['keys']} fill={s['fill']:.3f} | pool hits={ps['hits']} "
          f"misses={ps['misses']} hit_rate={ps['hit_rate']:.3f} evictions={ps['evictions']} "
          f"writes={ps['writes']}")
    return s


def walk(t):
    """An independent structural walk (does not use _check): [(leaf page, depth)] in key order,
    checking levels on the way, plus the leaf chain read through next_id."""
    pool = t.pool
    out = []

    def visit(pid, depth):
        with pool.read(pid) as g:
            level, n, leftmost = g.level, g.slot_count, g.prev_id
            recs = [g.get(i) for i in range(n)]
        if level == 0:
            out.append((pid, depth))
            return
        visit(leftmost, depth + 1)
        for r in recs:
            visit(struct.unpack_from("<I", r, len(r) - 4)[0], depth + 1)

    visit(t.root_page, 0)
    chain = []
    pid = out[0][0]
    while pid:
        chain.append(pid)
        with pool.read(pid) as g:
            pid = g.next_id
        assert len(chain) <= len(out), "leaf chain longer than the tree"
    return out, chain


def check_balanced(t):
    """All leaves at depth height-1 and the leaf chain equals the in-order leaves."""
    leaves, chain = walk(t)
    h = t.height
    assert {d for _, d in leaves} == {h - 1}, f"leaves at depths {sorted({d for _, d in leaves})}, height {h}"
    assert chain == [p for p, _ in leaves]


def account(pool, trees, ctx=""):
    """Every page is page 0, a page of exactly one tree, or on the free list."""
    free = pool.space.free_pages()
    assert len(free) == len(set(free)) == pool.free_count, ctx
    owned = [set(t.pages()) for t in trees]
    total = sum(len(s) for s in owned) + len(free) + 1
    union = set().union(*owned) | set(free) | {0}
    assert union == set(range(pool.page_count)), \
        f"{ctx}: leaked {sorted(set(range(pool.page_count)) - union)[:20]}, stray {sorted(union - set(range(pool.page_count)))[:20]}"
    assert total == pool.page_count, f"{ctx}: some page is counted twice ({total} vs {pool.page_count})"


def model_items(model, lo=None, hi=None, reverse=False):
    return [(k, model[k]) for k in model.irange(lo, hi, inclusive=(True, False), reverse=reverse)]


# ---- lookups and ranges -----------------------------------------------------------------------

def test_random_norad_ids(db):
    rng = random.Random(1)
    ids = rng.sample(range(1, 100_000), 10_000)
    t = BTree.create(db.pool, "norad")
    for i in ids:
        t.insert(k4(i), b"sat-%d" % i)
    check(t, "after 10,000 inserts")
    check_balanced(t)
    report("10k random NORAD ids", t)
    assert len(t) == 10_000
    for i in ids:
        assert t.get(k4(i)) == b"sat-%d" % i, i
        assert t[k4(i)] == b"sat-%d" % i
        assert k4(i) in t
    present = set(ids)
    for i in range(0, 100_000, 97):
        if i not in present:
            assert t.get(k4(i)) is None and t.get(k4(i), b"dflt") == b"dflt" and k4(i) not in t
            with pytest.raises(KeyError):
                t[k4(i)]
    assert [k for k, _ in t.items()] == [k4(i) for i in sorted(ids)]
    check(t, "after lookups")


def test_add_counts_against_a_model(db):
    # BTree.add_counts: u32 big-endian counters, inserted when absent, deleted at zero, refused (before
    # the key changes) below zero or past 2**32 - 1; seeded random batches against a dict
    seed = 23
    rng = random.Random(seed)
    t = BTree.create(db.pool, "counts")
    model = {}
    for rnd in range(30):
        deltas = {}
        for _ in range(rng.randrange(1, 400)):
            k = b"n%05d" % rng.randrange(2000)
            deltas[k] = deltas.get(k, 0) + rng.choice((1, 1, 2, -1))
        items = []
        for k, d in sorted(deltas.items()):
            if model.get(k, 0) + d < 0:
                d = -model.get(k, 0)
            if d:
                items.append((k, d))
                model[k] = model.get(k, 0) + d
                if model[k] == 0:
                    del model[k]
        rng.shuffle(items) if rnd % 3 == 0 else None     # any order works; sorted shares pages
        t.add_counts(items)
        assert dict(t.items()) == {k: struct.pack(">I", v) for k, v in model.items()}, f"seed {seed} round {rnd}"
    check(t, "after add_counts")
    some = next(iter(model))
    before = dict(t.items())
    with pytest.raises(AssertionError):
        t.add_counts([(some, -model[some] - 1)])
    with pytest.raises(AssertionError):
        t.add_counts([(b"new-key", 1 << 32)])
    assert dict(t.items()) == before


def test_inclusive_range_forward_and_reverse(db):
    t = BTree.create(db.pool, "ids")
    for i in range(1, 10_001):
        t.insert(k4(i), b"v%d" % i)
    check(t, "ids 1..10000")
    got = list(t.items(lo=k4(5000), hi=k4(5101)))
    assert [k for k, _ in got] == [k4(i) for i in range(5000, 5101)]
    assert len(got) == 101 and all(v == b"v%d" % struct.unpack(">I", k)[0] for k, v in got)
    rev = list(t.items(lo=k4(5000), hi=k4(5101), reverse=True))
    assert rev == got[::-1] and len(rev) == 101
    # open ends, empty and inverted ranges, bounds between keys
    assert len(list(t.items(hi=k4(11)))) == 10
    assert len(list(t.items(lo=k4(9991)))) == 10
    assert [k for k, _ in t.items(lo=k4(9991), reverse=True)] == [k4(i) for i in range(10_000, 9990, -1)]
    assert list(t.items(lo=k4(7), hi=k4(7))) == [] and list(t.items(lo=k4(8), hi=k4(7))) == []
    assert list(t.items(lo=k4(8), hi=k4(7), reverse=True)) == []
    assert [k for k, _ in t.items(lo=k4(42) + b"\0", hi=k4(45) + b"\0")] == [k4(43), k4(44), k4(45)]
    assert list(t.keys(lo=k4(100), hi=k4(103))) == [k4(100), k4(101), k4(102)]
    assert list(t)[:3] == [k4(1), k4(2), k4(3)]
    assert t.first() == (k4(1), b"v1") and t.last() == (k4(10_000), b"v10000")
    report("ids 1..10000", t)
    check(t, "after ranges")


# ---- splits, merges, height ----------------------------------------------------------------------

def test_splits_merges_height_down_to_empty_and_back(db):
    rng = random.Random(2)
    t = BTree.create(db.pool, "split")
    root0 = t.root_page
    assert t.height == 1 and len(t) == 0 and t.stats()["leaves"] == 1
    model = {}
    # 4-byte keys, 100-byte values: ~37 records per leaf
    ids = list(range(1, 2001))
    rng.shuffle(ids)
    for n, i in enumerate(ids, 1):
        model[k4(i)] = bytes([i % 251]) * 100
        t.insert(k4(i), model[k4(i)])
        if n % 250 == 0:
            check(t, f"insert {n}")
    s = report("2000 keys, 100-byte values", t)
    assert s["leaves"] >= 4, s
    # separators are at most 4 bytes: one internal node holds > 250 children, so the height is 2
    assert s["height"] == 2 and s["internal"] == 1, s
    check_balanced(t)
    for k, v in model.items():
        assert t.get(k) == v
    # long keys with a shared 400-byte prefix: long separators, ~8 per internal node -> height >= 3
    long_keys = [b"L" * 400 + k4(i) for i in range(1500)]
    rng.shuffle(long_keys)
    for n, k in enumerate(long_keys, 1):
        model[k] = k[-4:] * 10
        t.insert(k, model[k])
        if n % 300 == 0:
            check(t, f"long insert {n}")
    s = report("plus 1500 long keys", t)
    assert s["height"] >= 3, s
    check_balanced(t)
    peak = s["height"]
    assert len(t) == len(model) == 3500
    assert list(t.items()) == sorted(model.items())
    # delete everything in random order: heights only go down, tree valid all along
    keys = list(model)
    rng.shuffle(keys)
    heights = [peak]
    for n, k in enumerate(keys, 1):
        assert t.delete(k), k
        assert t.get(k) is None
        del model[k]
        heights.append(t.height)
        if n % 100 == 0 or len(model) < 40:
            check(t, f"delete {n}")
    assert heights == sorted(heights, reverse=True), "height grew during deletes"
    assert len(set(heights)) == peak, f"height did not pass through every level: {sorted(set(heights))}"
    s = report("deleted down to empty", t)
    assert t.height == 1 and len(t) == 0 and s["leaves"] == 1 and s["keys"] == 0
    assert list(t.items()) == [] and t.first() is None and t.last() is None
    assert t.pages() == {t.root_page}
    account(db.pool, [t], "empty again")
    assert db.pool.free_count == db.pool.page_count - 2    # everything but page 0 and the root leaf
    # and back up again, reusing the free pages
    pages_before = db.pool.page_count
    for i in ids:
        t.insert(k4(i), b"again")
    check(t, "back up")
    check_balanced(t)
    s = report("back up again", t)
    assert s["height"] == 2 and len(t) == 2000 and s["leaves"] >= 4
    assert db.pool.page_count == pages_before, "freed pages were not reused"
    assert all(t.get(k4(i)) == b"again" for i in ids)
    del root0


def test_delete_1000_keys(db):
    rng = random.Random(3)
    t = BTree.create(db.pool, "del")
    ids = rng.sample(range(1, 1_000_000), 10_000)
    for i in ids:
        t.insert(k4(i), b"%d" % (i * 7))
    report("before deleting 1000", t)
    gone = rng.sample(ids, 1000)
    for i in gone:
        assert t.delete(k4(i)) is True
    check(t, "after deleting 1000")
    check_balanced(t)
    report("after deleting 1000", t)
    for i in gone:
        assert t.get(k4(i)) is None and k4(i) not in t
        assert t.delete(k4(i)) is False
    gone = set(gone)
    keep = sorted(i for i in ids if i not in gone)
    for i in keep:
        assert t.get(k4(i)) == b"%d" % (i * 7)
    assert list(t.items()) == [(k4(i), b"%d" % (i * 7)) for i in keep]
    assert len(t) == 9000
    with pytest.raises(KeyError):
        del t[k4(next(iter(gone)))]
    del t[k4(keep[0])]
    assert t.get(k4(keep[0])) is None
    check(t, "after __delitem__")


# ---- bulk load ----------------------------------------------------------------------------------

def registry_items(n, seed):
    """n (16-byte key, ~140-byte value) pairs in key order, shaped like the registry's primary key
    (norad u32 BE, epoch i64 BE, source u16, sequence u16)."""
    rng = random.Random(seed)
    out = []
    norad = 1
    epoch = 0
    while len(out) < n:
        if rng.random() < 0.02:
            norad += rng.randrange(1, 50)
            epoch = 0
        epoch += rng.randrange(1, 86_400_000_000)
        src = rng.randrange(4)
        key = struct.pack(">IqHH", norad, epoch, src, 0)
        out.append((key, rng.randbytes(130 + rng.randrange(21))))
    return out


def test_bulk_load_fill_vs_one_by_one(db):
    items = registry_items(100_000, seed=4)
    assert all(a[0] < b[0] for a, b in zip(items, items[1:])) and len(items[0][0]) == 16
    bulk = BTree.create(db.pool, "bulk")
    t0 = time.perf_counter()
    assert bulk.bulk_load(iter(items)) == 100_000
    t_bulk = time.perf_counter() - t0
    check(bulk, "bulk loaded")
    check_balanced(bulk)
    sb = report(f"bulk load 100k ({t_bulk:.2f}s)", bulk)
    assert sb["fill"] >= 0.95, sb
    assert sb["keys"] == len(bulk) == 100_000
    # at most one leaf more than the bytes need at the 95% target
    need = sum(2 + len(k) + len(v) + 4 for k, v in items)
    assert sb["leaves"] <= math.ceil(need / int(0.95 * USABLE)) + 1, sb

    shuffled = items[:]
    random.Random(5).shuffle(shuffled)
    one = BTree.create(db.pool, "onebyone")
    t0 = time.perf_counter()
    for k, v in shuffled:
        one.insert(k, v)
    t_one = time.perf_counter() - t0
    check(one, "one-by-one")
    so = report(f"one-by-one random order 100k ({t_one:.2f}s)", one)
    print(f"\nleaves: bulk={sb['leaves']} (fill {sb['fill']:.3f}, height {sb['height']}) "
          f"one-by-one={so['leaves']} (fill {so['fill']:.3f}, height {so['height']})")
    assert sb["leaves"] < so["leaves"] and sb["height"] <= so["height"]
    for k, v in items:
        assert bulk.get(k) == v
        assert one.get(k) == v
    assert list(bulk.items(lo=items[500][0], hi=items[700][0])) == items[500:700]
    assert list(bulk.items()) == list(one.items()) == items
    account(db.pool, [bulk, one], "two 100k trees")
    # a bulk-loaded tree is an ordinary tree: inserts in full leaves split, deletes merge
    rng = random.Random(6)
    for k, v in rng.sample(items, 2000):
        bulk.insert(k + b"+", v[:20])
    for k, _ in rng.sample(items, 2000):
        assert bulk.delete(k)
    check(bulk, "bulk tree after 2000 inserts and 2000 deletes")
    report("bulk tree after changes", bulk)
    assert len(bulk) == 100_000


@pytest.mark.parametrize("klen", [4, 300])
@pytest.mark.parametrize("n", [1, 2, 3, 29, 30, 31, 200, 1000, 4000])
def test_bulk_load_sizes(n, klen, tmp_path):
    with BufferPool(Pager(tmp_path / "b.oor"), 16) as pool:
        t = BTree.create(pool, "b")
        items = [(i.to_bytes(klen, "big"), b"%05d" % i * 20) for i in range(n)]
        assert t.bulk_load(items) == n
        check(t, f"bulk n={n} klen={klen}")
        check_balanced(t)
        assert len(t) == n and list(t.items()) == items
        assert list(t.items(reverse=True)) == items[::-1]
        account(pool, [t], f"bulk n={n} klen={klen}")
        # rebalance after bulk load keeps it valid
        for k, _ in items[::3]:
            t.delete(k)
        check(t, f"bulk n={n} klen={klen} after deletes")


def test_bulk_load_rejections(db):
    pool = db.pool
    t = BTree.create(pool, "rej")
    assert t.bulk_load([]) == 0
    check(t, "empty bulk load")
    with pytest.raises(ValueError):
        t.bulk_load([(k4(1), b"")], fill=0.3)
    with pytest.raises(ValueError):
        t.bulk_load([(k4(1), b"")], fill=1.5)
    pages = pool.page_count
    # unsorted or duplicate input is rejected, and leaves the tree empty and valid (no leaked pages)
    for bad in ([(k4(i), b"x" * 200) for i in range(100)] + [(k4(50), b"")],
                [(k4(i), b"x" * 200) for i in range(100)] + [(k4(99), b"dup")],
                [(k4(2), b""), (k4(1), b"")],
                [(k4(i), b"y" * 3000) for i in range(10)] + [(b"", b"")],
                [(k4(1), b""), (b"k" * 513, b"")]):
        with pytest.raises(ValueError):
            t.bulk_load(bad)
        assert len(t) == 0 and t.height == 1 and list(t.items()) == []
        check(t, "after a rejected bulk load")
        account(pool, [t], "after a rejected bulk load")
    assert pool.page_count - pool.free_count <= pages
    t.insert(k4(1), b"one")
    with pytest.raises(OorError):
        t.bulk_load([(k4(2), b"two")])
    assert list(t.items()) == [(k4(1), b"one")]
    check(t, "bulk load into a non-empty tree")


# ---- several trees, persistence -----------------------------------------------------------------

def test_persistence_and_several_trees(db):
    rng = random.Random(7)
    pool = db.pool
    a = BTree.create(pool, "alpha")
    b = BTree.create(pool, "beta")
    c = BTree.open(pool, "gamma", create=True)
    assert BTree.trees(pool) == {"alpha": a.tree_id, "beta": b.tree_id, "gamma": c.tree_id}
    ma, mb, mc = {}, {}, {}
    for i in rng.sample(range(100_000), 5000):
        ma[k4(i)] = b"a%d" % i
        a.insert(k4(i), ma[k4(i)])
    for i in range(3000):
        k = b"name-%06d" % rng.randrange(10 ** 6)
        mb[k] = k[::-1]
        b.upsert(k, mb[k])
    for i in range(60):
        k = k4(i)                         # same keys as alpha: the trees are independent
        mc[k] = rng.randbytes(rng.choice([10, 5000, 70_000]))
        c.insert(k, mc[k])
    for k in list(ma)[:1000]:
        a.delete(k)
        del ma[k]
    trees = [a, b, c]
    for t in trees:
        check(t, "before close")
    account(pool, trees, "before close")
    for t in trees:
        report("before reopen", t)

    for round_ in range(2):
        pool = db.reopen()
        assert BTree.trees(pool) == {"alpha": a.tree_id, "beta": b.tree_id, "gamma": c.tree_id}
        a, b, c = (BTree.open(pool, n) for n in ("alpha", "beta", "gamma"))
        assert (a.name, b.name, c.name) == ("alpha", "beta", "gamma")
        for t, m in ((a, ma), (b, mb), (c, mc)):
            check(t, f"after reopen {round_}")
            assert len(t) == len(m)
            assert list(t.items()) == sorted(m.items())
            for k, v in m.items():
                assert t.get(k) == v
        account(pool, [a, b, c], f"after reopen {round_}")
        report(f"reopened {round_}", a)
        # change one tree; the others stay as they were
        for i in range(500):
            k = k4(200_000 + 1000 * round_ + i)
            a.insert(k, b"new")
            ma[k] = b"new"
        for k in list(mc)[:30]:
            c.delete(k)
            del mc[k]
        assert list(b.items()) == sorted(mb.items())

    with pytest.raises(KeyError):
        BTree.create(pool, "alpha")
    with pytest.raises(KeyError):
        BTree.open(pool, "delta")
    with pytest.raises(ValueError):
        BTree.create(pool, "")
    with pytest.raises(ValueError):
        BTree.create(pool, "ninechars")
    with pytest.raises(KeyError):
        BTree(pool, 63)
    with pytest.raises(ValueError):
        BTree(pool, 64)
    assert BTree(pool, a.tree_id).get(k4(200_000)) == b"new"


# ---- cursors ------------------------------------------------------------------------------------

def test_cursor_seek_semantics(db):
    t = BTree.create(db.pool, "cur")
    c = t.cursor()
    assert c.first() is None and c.last() is None
    assert c.next() is None and c.prev() is None
    for op in (">=", ">", "<=", "<"):
        assert c.seek(k4(5), op) is None
    with pytest.raises(ValueError):
        c.seek(k4(1), "==")
    keys = [k4(i) for i in range(10, 20_000, 10)]        # 1999 keys over many leaves
    for k in keys:
        t.insert(k, k * 30)
    check(t, "cursor tree")
    report("cursor tree", t)
    val = lambda i: (k4(i), k4(i) * 30)           # noqa: E731
    # at a key, between keys, below the first, above the last
    assert c.seek(k4(500), ">=") == val(500)
    assert c.seek(k4(500), ">") == val(510)
    assert c.seek(k4(500), "<=") == val(500)
    assert c.seek(k4(500), "<") == val(490)
    assert c.seek(k4(505), ">=") == val(510)
    assert c.seek(k4(505), ">") == val(510)
    assert c.seek(k4(505), "<=") == val(500)
    assert c.seek(k4(505), "<") == val(500)
    assert c.seek(k4(500) + b"\0", "<") == val(500)        # a longer key sorts after its prefix
    assert c.seek(k4(5), ">=") == val(10) and c.seek(k4(5), ">") == val(10)
    assert c.seek(k4(5), "<=") is None and c.seek(k4(5), "<") is None
    assert c.seek(k4(10), "<") is None and c.seek(k4(10), "<=") == val(10)
    assert c.seek(k4(19_990), ">") is None and c.seek(k4(19_990), ">=") == val(19_990)
    assert c.seek(k4(30_000), ">=") is None and c.seek(k4(30_000), ">") is None
    assert c.seek(k4(30_000), "<=") == val(19_990) and c.seek(k4(30_000), "<") == val(19_990)
    assert c.seek(b"\0", ">") == val(10) and c.seek(b"\xff" * 512, "<") == val(19_990)
    # every key as a seek target, with each op, against bisect
    ints = list(range(10, 20_000, 10))
    for i in range(0, 20_011, 5):
        for op, j in ((">=", bisect.bisect_left(ints, i)), (">", bisect.bisect_right(ints, i)),
                      ("<=", bisect.bisect_right(ints, i) - 1), ("<", bisect.bisect_left(ints, i) - 1)):
            want = val(ints[j]) if 0 <= j < len(ints) else None
            assert c.seek(k4(i), op) == want, (i, op)
    # next/prev across every leaf boundary
    assert c.first() == val(10)
    fwd = [c.item[0]]
    while (it := c.next()) is not None:
        fwd.append(it[0])
    assert fwd == keys and c.next() is None
    assert c.last() == val(19_990)
    back = [c.item[0]]
    while (it := c.prev()) is not None:
        back.append(it[0])
    assert back == keys[::-1] and c.prev() is None
    # zig-zag
    assert c.seek(k4(1000)) == val(1000)
    assert c.next() == val(1010) and c.prev() == val(1000) and c.prev() == val(990) and c.next() == val(1000)
    assert c.current_key() == k4(1000) and c.current_value() == k4(1000) * 30
    check(t, "after cursor walks")


def _walk_with_changes(t, rng, seed, reverse, steps_between=3):
    """Walk a cursor over t while inserting and deleting keys ahead of and behind it (including the
    current key).  Returns (yielded keys, keys present throughout, keys ever present)."""
    present = set(k for k, _ in t.items())
    stable = set(present)
    ever = set(present)
    c = t.cursor()
    item = c.last() if reverse else c.first()
    out = []
    splits = merges = 0
    step = 0
    while item is not None:
        out.append(item[0])
        cur = struct.unpack(">I", item[0])[0]
        step += 1
        if step % steps_between == 0:
            leaves0 = t.stats()["leaves"]
            action = rng.random()
            if action < 0.3:
                # a burst right after (or before) the cursor: splits the current leaf
                d = -1 if reverse else 1
                for j in range(1, 60):
                    k = k4(cur + d * j)
                    if k not in present and cur + d * j > 0:
                        t.insert(k, b"b" * 120)
                        present.add(k)
                        ever.add(k)
            elif action < 0.55:
                # delete a run ahead of or behind the cursor (leaves merge); may include the current key
                lo = cur + rng.randrange(-400, 400)
                for j in range(lo, lo + rng.randrange(50, 300)):
                    k = k4(max(j, 0))
                    if k in present:
                        assert t.delete(k)
                        present.discard(k)
                        stable.discard(k)
            else:
                for _ in range(rng.randrange(1, 40)):
                    k = k4(rng.randrange(1, 40_000))
                    if k in present:
                        t.delete(k)
                        present.discard(k)
                        stable.discard(k)
                    else:
                        t.insert(k, b"r" * rng.randrange(0, 200))
                        present.add(k)
                        ever.add(k)
            leaves1 = t.stats()["leaves"]
            splits += leaves1 > leaves0
            merges += leaves1 < leaves0
            if step % (steps_between * 20) == 0:
                check(t, f"seed={seed} step {step}")
        item = c.prev() if reverse else c.next()
        assert len(out) < 100_000, f"seed={seed}: cursor does not terminate"
    return out, stable, ever, splits, merges


@pytest.mark.parametrize("reverse", [False, True], ids=["next", "prev"])
def test_cursor_survives_changes(db, reverse):
    seed = seed_for(8)
    print(f"\ncursor-under-change seed={seed} (replay: OOR_SEED={seed})")
    rng = random.Random(seed)
    t = BTree.create(db.pool, "mut")
    for i in range(100, 30_000, 20):
        t.insert(k4(i), b"v" * rng.randrange(20, 120))
    report("before walking with changes", t)
    out, stable, ever, splits, merges = _walk_with_changes(t, rng, seed, reverse)
    ctx = f"seed={seed} reverse={reverse}"
    if reverse:
        assert all(a > b for a, b in zip(out, out[1:])), f"{ctx}: not strictly descending (repeat or disorder)"
    else:
        assert all(a < b for a, b in zip(out, out[1:])), f"{ctx}: not strictly ascending (repeat or disorder)"
    missing = stable - set(out)
    assert not missing, f"{ctx}: {len(missing)} keys present throughout were skipped, e.g. {sorted(missing)[:5]}"
    assert set(out) <= ever, f"{ctx}: yielded keys that never existed"
    assert splits > 0 and merges > 0, f"{ctx}: splits={splits} merges={merges}"
    print(f"walked {len(out)} keys, {len(stable)} stable, leaf splits seen {splits}, merges seen {merges}")
    check(t, ctx)
    report("after walking with changes", t)


def test_cursor_current_leaf_split_and_merge(db):
    """Deterministic: the leaf under the cursor splits, then the leaves around it merge away."""
    t = BTree.create(db.pool, "leaf")
    for i in range(0, 4000, 10):
        t.insert(k4(i), b"x" * 100)
    c = t.cursor()
    assert c.seek(k4(1000))[0] == k4(1000)
    leaves = t.stats()["leaves"]
    for j in range(1001, 1010):                     # all land in the cursor's leaf
        t.insert(k4(j), b"y" * 100)
    for j in range(1011, 1020):
        t.insert(k4(j), b"y" * 100)
    assert t.stats()["leaves"] > leaves, "the current leaf did not split"
    assert [c.next()[0] for _ in range(10)] == [k4(j) for j in range(1001, 1010)] + [k4(1010)]
    # delete a wide run on both sides, the current key included: leaves merge
    leaves = t.stats()["leaves"]
    for j in range(600, 1500):
        t.delete(k4(j))
    assert t.stats()["leaves"] < leaves, "no merge happened"
    assert c.next()[0] == k4(1500)
    assert c.prev()[0] == k4(590)
    # delete everything ahead: next ends; then the tree refills
    for j in range(590, 4000):
        t.delete(k4(j))
    assert c.next() is None
    check(t, "after deleting ahead")
    t.insert(k4(5), b"")
    assert c.seek(k4(0), ">")[0] == k4(5)
    # items() iterator while the tree changes under it: each step yields the successor, in the
    # tree as it is now, of the key yielded before
    model = SortedDict((k, v) for k, v in t.items())
    for i in range(0, 3000, 3):
        t.upsert(k4(i), b"z")
        model[k4(i)] = b"z"
    seen = []
    for n, (k, v) in enumerate(t.items(lo=k4(300), hi=k4(2400))):
        want = model.peekitem(model.bisect_right(seen[-1]) if seen else model.bisect_left(k4(300)))
        assert (k, v) == want, n
        seen.append(k)
        if n == 10:
            for j in range(400, 2000):
                t.upsert(k4(j), b"w" * 50)      # splits ahead
                model[k4(j)] = b"w" * 50
        if n == 200:
            for j in range(350, 2300):
                if j != 2001:
                    t.delete(k4(j))              # merges behind and ahead, the current key included
                    model.pop(k4(j), None)
    assert all(a < b for a, b in zip(seen, seen[1:]))
    assert k4(2001) in seen and seen[-1] == k4(2397)
    assert not any(k4(350) <= k < k4(2300) and k != k4(2001) for k in seen[201:])
    check(t, "items under change")


def test_cursor_second_handle_changes(db):
    """Changes through a second BTree handle of the same tree: the cursor must still terminate and
    yield every stable key once (its version check is per handle)."""
    t = BTree.create(db.pool, "h")
    for i in range(0, 3000, 2):
        t.insert(k4(i), b"v" * 80)
    other = BTree.open(db.pool, "h")
    c = t.cursor()
    c.seek(k4(1000))
    for j in range(800, 2000, 2):        # merges around and ahead of the cursor's leaf
        other.delete(k4(j))
    out = []
    while (it := c.next()) is not None:
        out.append(it[0])
        assert len(out) < 5000
    assert out == [k4(i) for i in range(2000, 3000, 2)]
    check(t, "second handle")


def test_a_write_in_one_database_leaves_another_databases_cursors_alone(tmp_path):
    """The change counter that makes cursors re-seek belongs to one pool (one database): a write to
    database A bumps A's counter only, so B's cursors keep stepping without re-seeking."""
    a = BufferPool(Pager(tmp_path / "a.oor"), 64)
    b = BufferPool(Pager(tmp_path / "b.oor"), 64)
    try:
        ta, tb = BTree.create(a, "t"), BTree.create(b, "t")
        for i in range(200):
            tb.insert(k4(i), b"b")
        c = tb.cursor()
        assert c.seek(k4(10))[0] == k4(10)
        before_a, before_b = a.change_count, b.change_count
        for i in range(50):
            ta.insert(k4(i), b"a")
        assert a.change_count > before_a
        assert b.change_count == before_b
        assert [c.next()[0] for _ in range(3)] == [k4(11), k4(12), k4(13)]
        tb.insert(k4(1000), b"b")            # a write to B itself: B's counter moves
        assert b.change_count > before_b
        assert c.next()[0] == k4(14)          # and the cursor re-seeks past its last key
        check(ta, "a")
        check(tb, "b")
    finally:
        a.close()
        b.close()


# ---- values, keys ---------------------------------------------------------------------------------

def test_large_values_and_overflow_pages(db):
    pool = db.pool
    rng = random.Random(9)
    t = BTree.create(pool, "big")
    v5, v64 = rng.randbytes(5 * 1024), rng.randbytes(64 * 1024)
    t.insert(b"five", v5)
    t.insert(b"sixtyfour", v64)
    t.insert(b"small", b"s")
    t.insert(b"empty", b"")
    check(t, "large values")
    assert t.get(b"five") == v5 and t[b"sixtyfour"] == v64 and t.get(b"empty") == b"" and b"empty" in t
    assert dict(t.items()) == {b"five": v5, b"sixtyfour": v64, b"small": b"s", b"empty": b""}
    chain64 = math.ceil(len(v64) / OVERFLOW_PAYLOAD)
    chain5 = math.ceil(len(v5) / OVERFLOW_PAYLOAD)
    assert len(t.pages()) == 1 + chain64 + chain5
    account(pool, [t], "large values")
    # upsert large -> small frees the chain; small -> large allocates one (from the free list)
    free0 = pool.free_count
    assert t.upsert(b"sixtyfour", b"tiny") is False
    assert t.get(b"sixtyfour") == b"tiny"
    assert pool.free_count == free0 + chain64
    check(t, "large -> small")
    pages = pool.page_count
    assert t.upsert(b"small", v64) is False
    assert t.get(b"small") == v64 and pool.free_count == free0 and pool.page_count == pages
    check(t, "small -> large")
    t[b"five"] = v64[:7000]                      # large -> other large
    assert t[b"five"] == v64[:7000]
    account(pool, [t], "after upserts")
    # delete frees the overflow pages
    free1 = pool.free_count
    assert t.delete(b"small")
    assert pool.free_count == free1 + chain64
    check(t, "after delete")
    account(pool, [t], "after delete")
    # inline / overflow boundary: a leaf record of 1000 bytes stays inline, 1001 overflows
    key = b"edge"
    inline = b"i" * (MAX_LEAF_REC - 2 - len(key))
    t.insert(key, inline)
    assert len(t.pages()) == 1 + 2     # root + the 7000-byte value's chain
    t.upsert(key, inline + b"o")
    assert len(t.pages()) == 1 + 2 + 1 and t.get(key) == inline + b"o"
    # a value spanning more overflow pages than the pool has frames, among many others
    huge = rng.randbytes(1 << 20)
    t.insert(b"huge", huge)
    assert t.get(b"huge") == huge
    model = {}
    for i in range(300):
        k = b"k%04d" % i
        model[k] = rng.randbytes(rng.choice([0, 50, 999, 1500, 9000]))
        t.insert(k, model[k])
    check(t, "many overflow values")
    report("many overflow values", t)
    for k, v in model.items():
        assert t.get(k) == v
    for k in list(model)[::2]:
        t.delete(k)
        del model[k]
    t.delete(b"huge")
    check(t, "after deleting overflow values")
    account(pool, [t], "after deleting overflow values")
    assert list(t.items(lo=b"k", hi=b"l")) == sorted(model.items())


def test_key_limits_and_duplicates(db):
    t = BTree.create(db.pool, "keys")
    t.insert(b"\x00", b"one-byte zero")
    t.insert(b"\xff", b"one-byte ff")
    k512 = b"\x7f" * 512
    t.insert(k512, b"long")
    t.insert(k512[:-1], b"511")
    assert t.get(b"\x00") == b"one-byte zero" and t.get(b"\xff") == b"one-byte ff"
    assert t.get(k512) == b"long" and t.get(k512[:-1]) == b"511"
    assert [k for k, _ in t.items()] == [b"\x00", k512[:-1], k512, b"\xff"]
    for bad in (b"", b"x" * 513):
        with pytest.raises(ValueError):
            t.insert(bad, b"v")
        with pytest.raises(ValueError):
            t.upsert(bad, b"v")
        with pytest.raises(ValueError):
            t[bad] = b"v"
        assert t.get(bad) is None and bad not in t and t.delete(bad) is False
    with pytest.raises(TypeError):
        t.insert("str", b"v")
    with pytest.raises(TypeError):
        t.insert(b"k", None)
    # duplicates
    with pytest.raises(KeyError):
        t.insert(b"\x00", b"again")
    assert t.get(b"\x00") == b"one-byte zero" and len(t) == 4
    assert t.upsert(b"\x00", b"replaced") is False and t.upsert(b"new", b"n") is True
    assert t.get(b"\x00") == b"replaced" and len(t) == 5
    check(t, "key limits")
    # many 512-byte keys: 7 per leaf, long separators, deep tree
    rng = random.Random(10)
    big = {b"\x7e" * 500 + rng.randbytes(12): b"%d" % i for i in range(400)}   # ~500-byte separators
    for k, v in big.items():
        t.insert(k, v)
    for k in list(big)[:50]:
        with pytest.raises(KeyError):
            t.insert(k, b"dup")
    check(t, "512-byte keys")
    check_balanced(t)
    s = report("400 keys of 512 bytes", t)
    assert s["height"] >= 3
    for k, v in big.items():
        assert t.get(k) == v
    for k in big:
        assert t.delete(k)
    check(t, "512-byte keys deleted")
    assert len(t) == 5


# ---- page accounting -----------------------------------------------------------------------------

@pytest.mark.verify
def test_every_page_accounted_for(db):
    seed = seed_for(11)
    rng = random.Random(seed)
    pool = db.pool
    trees = [BTree.create(pool, n) for n in ("t1", "t2", "t3")]
    models = [dict() for _ in trees]
    every = 1000 if strict() else 5000      # strict mode (bare pool, no commits): account more often
    for n in range(20_000):
        i = rng.randrange(3)
        t, m = trees[i], models[i]
        k = k4(rng.randrange(3000))
        r = rng.random()
        if r < 0.5:
            v = rng.randbytes(rng.choice([8, 100, 1200, 9000]) if rng.random() < 0.1 else 30)
            assert t.upsert(k, v) is (k not in m), f"seed={seed} op {n}"
            m[k] = v
        else:
            assert t.delete(k) is (k in m), f"seed={seed} op {n}"
            m.pop(k, None)
        if n % every == every - 1:
            account(pool, trees, f"seed={seed} op {n}")
    for t, m in zip(trees, models):
        check(t, f"seed={seed}")
        assert list(t.items()) == sorted(m.items()), f"seed={seed}"
        report("accounting workload", t)
    account(pool, trees, f"seed={seed} end")
    pool = db.reopen()
    trees = [BTree.open(pool, n) for n in ("t1", "t2", "t3")]
    account(pool, trees, f"seed={seed} after reopen")
    for t in trees:                         # empty them all: only the three root leaves remain
        for k in list(t.keys()):
            t.delete(k)
    account(pool, trees, f"seed={seed} emptied")
    assert pool.page_count - pool.free_count == 1 + 3


# ---- differential test against SortedDict -----------------------------------------------------

def key_universe(rng, n):
    """n distinct keys: 4-byte ids, keys sharing long prefixes, random short keys and a few long
    ones (up to 512 bytes), so separators vary in length and internal nodes split and merge."""
    keys = set()
    while len(keys) < n:
        r = rng.random()
        if r < 0.45:
            k = k4(rng.randrange(4 * n))
        elif r < 0.75:
            k = b"P" * rng.randrange(1, 80) + bytes([rng.randrange(256)])
        elif r < 0.96:
            k = rng.randbytes(rng.randrange(1, 24))
        else:
            k = b"L" * rng.randrange(100, 500) + rng.randbytes(rng.randrange(1, 13))
        keys.add(k)
    return list(keys)


def rand_value(rng):
    r = rng.random()
    if r < 0.03:
        return rng.randbytes(rng.randrange(900, 12_000))       # around and above the overflow limit
    return rng.randbytes(rng.randrange(0, 160))


@pytest.mark.verify
@pytest.mark.parametrize("space", [200, 1500], ids=lambda n: f"keys{n}")
def test_differential_against_sorteddict(db, space):
    """A seeded mix of insert/upsert/delete/get/range/seek/cursor steps, checked op by op against a
    SortedDict.  The key space is small (200: the root collapses to a leaf and splits again often;
    1500: long separators push the height to 3), the tree grows and shrinks in waves."""
    seed = seed_for(12 + space)
    nops = 1_000_000 if soak() else 100_000
    every = 100 if strict() else 500        # strict mode (bare pool, no commits): check more often
    print(f"\ndifferential seed={seed} ops={nops} frames={db.frames} keys={space} (replay: OOR_SEED={seed})")
    rng = random.Random(seed)
    universe = key_universe(rng, space)
    t = BTree.create(db.pool, "diff")
    model = SortedDict()
    cur = t.cursor()
    cur_key = None
    heights = set()
    counts = dict.fromkeys(("insert", "dup", "upsert", "delete", "get", "range", "seek", "step"), 0)
    t0 = time.perf_counter()
    for n in range(nops):
        ctx = f"seed={seed} op={n}"
        # waves: the tree grows towards the whole universe and shrinks towards empty
        grow = 0.5 + 0.35 * math.sin(n / 4000)
        r = rng.random()
        k = rng.choice(universe)
        if r < 0.6:
            v = rand_value(rng)
            if rng.random() < grow:
                if k in model or rng.random() < 0.5:
                    new = t.upsert(k, v)
                    assert new is (k not in model), ctx
                    counts["upsert"] += 1
                    model[k] = v
                else:
                    t.insert(k, v)
                    counts["insert"] += 1
                    model[k] = v
            else:
                assert t.delete(k) is (k in model), ctx
                counts["delete"] += 1
                model.pop(k, None)
        elif r < 0.62:
            if model:
                dk = model.peekitem(rng.randrange(len(model)))[0]
                with pytest.raises(KeyError):
                    t.insert(dk, b"dup")
                counts["dup"] += 1
        elif r < 0.8:
            assert t.get(k) == model.get(k), ctx
            counts["get"] += 1
        elif r < 0.9:
            lo = rng.choice([None, rng.choice(universe), rng.randbytes(rng.randrange(1, 5))])
            hi = rng.choice([None, rng.choice(universe), rng.randbytes(rng.randrange(1, 5))])
            rev = rng.random() < 0.5
            lim = rng.choice([1, 5, 30])
            got = list(itertools.islice(t.items(lo, hi, rev), lim))
            want = list(itertools.islice(model.irange(lo, hi, inclusive=(True, False), reverse=rev), lim))
            assert [g[0] for g in got] == want, f"{ctx}: range {lo!r}..{hi!r} reverse={rev}"
            assert all(g[1] == model[g[0]] for g in got), ctx
            counts["range"] += 1
        elif r < 0.95:
            op = rng.choice((">=", ">", "<=", "<"))
            got = cur.seek(k, op)
            if op == ">=":
                i = model.bisect_left(k)
            elif op == ">":
                i = model.bisect_right(k)
            elif op == "<=":
                i = model.bisect_right(k) - 1
            else:
                i = model.bisect_left(k) - 1
            want = model.peekitem(i) if 0 <= i < len(model) else None
            assert got == want, f"{ctx}: seek {k!r} {op}"
            cur_key = got[0] if got else None
            counts["seek"] += 1
        else:
            # the long-lived cursor steps after arbitrary changes: it must land on the model's
            # successor / predecessor of the key it last returned
            fwd = rng.random() < 0.5
            if cur_key is None:
                got = cur.first() if fwd else cur.last()
                want = (model.peekitem(0 if fwd else -1) if model else None)
            else:
                got = cur.next() if fwd else cur.prev()
                i = model.bisect_right(cur_key) if fwd else model.bisect_left(cur_key) - 1
                want = model.peekitem(i) if 0 <= i < len(model) else None
            assert got == want, f"{ctx}: cursor {'next' if fwd else 'prev'} after {cur_key!r}"
            cur_key = got[0] if got else None
            counts["step"] += 1
        if n % every == every - 1:
            check(t, ctx)
            heights.add(t.height)
            assert len(t) == len(model), ctx
        if n % 25_000 == 24_999:
            assert list(t.items()) == list(model.items()), ctx
            account(db.pool, [t], ctx)
            report(f"differential op {n + 1} seed={seed}", t)
    dt = time.perf_counter() - t0
    check(t, f"seed={seed} end")
    assert list(t.items()) == list(model.items()), f"seed={seed} end"
    assert list(t.items(reverse=True)) == list(reversed(model.items())), f"seed={seed} end"
    account(db.pool, [t], f"seed={seed} end")
    report(f"differential end ({dt:.1f}s)", t)
    print(f"heights seen {sorted(heights)}; ops {counts}")
    assert len(heights) >= 2, f"seed={seed}: the tree never changed height ({heights})"
    # persistence of the final state
    pool = db.reopen()
    t = BTree.open(pool, "diff")
    check(t, f"seed={seed} reopened")
    assert list(t.items()) == list(model.items()), f"seed={seed} reopened"


# ---- placement of rising runs (issue 17: page fill of the registry's loads) ---------------------

def leaf_fills(t, layout=False):
    """[(page id, slot count, used bytes)] of every leaf, in key order; with layout, also each
    leaf's contiguous free bytes and dead (fragmented) bytes."""
    out = []
    for pid, level, _, _, _ in t.walk():
        if level == 0:
            with t.pool.read(pid) as g:
                out.append((pid, g.slot_count, USABLE - g.free_space) +
                           ((g.contiguous_free, g.fragmented) if layout else ()))
    return out


def catalog_passes(t, model, rng, objects, passes, skip, vlen=(170, 200), check_every=None, ctx=""):
    """Load like the registry: each pass inserts one (norad, epoch) key per object, in norad order,
    at the end of that object's run (a later epoch than its earlier passes); an object is left out
    of a pass with probability skip.  Keys and values go to model too."""
    for p in range(passes):
        for n, i in enumerate(objects):
            if p and rng.random() < skip:
                continue
            key = struct.pack(">IqHH", i, p * 10_000_000 + rng.randrange(1_000_000), 0, 0)
            val = rng.randbytes(rng.randrange(*vlen))
            t.insert(key, val)
            model[key] = val
            if check_every and n % check_every == 0:
                check(t, f"{ctx} pass {p} object {n}")
        check(t, f"{ctx} after pass {p}")


@pytest.mark.verify
def test_rising_runs_fill_leaves(db):
    """Interleaved passes that each add one set per object at the end of its run (the registry's
    catalog loads) keep the leaves >= 85% full (the balanced split alone: ~55%), the tree valid
    after every pass, and every key readable; a right-edge run (new objects) appended on top too."""
    seed = seed_for(1701)
    rng = random.Random(seed)
    ctx = f"seed={seed} (replay: OOR_SEED={seed})"
    objects = sorted(rng.sample(range(1, 80_000), 3000))
    t = BTree.create(db.pool, "elsets")
    model = SortedDict()
    catalog_passes(t, model, rng, objects, 5, 0.15, ctx=ctx)
    s = report("rising runs, 5 passes", t)
    assert s["fill"] >= 0.85, f"{ctx}: {s}"
    # new objects after the old ones, then two more passes over everything
    objects += list(range(80_000, 81_000))
    catalog_passes(t, model, rng, objects, 2, 0.3, ctx=ctx)
    s = report("rising runs, 2 more passes with 1,000 new objects", t)
    assert s["fill"] >= 0.85, f"{ctx}: {s}"
    assert s["keys"] == len(model)
    assert list(t.items()) == list(model.items()), ctx
    check_balanced(t)
    account(db.pool, [t], ctx)


@pytest.mark.verify
def test_rising_runs_with_deletes_and_random_inserts(db):
    """Runs, random-order inserts and deletes mixed: the tree stays valid (checked often) and equal
    to a model; the run heuristics are only hints and never change what is stored."""
    seed = seed_for(1702)
    rng = random.Random(seed)
    ctx = f"seed={seed} (replay: OOR_SEED={seed})"
    objects = sorted(rng.sample(range(1, 50_000), 800))
    t = BTree.create(db.pool, "mixed")
    model = SortedDict()
    catalog_passes(t, model, rng, objects, 2, 0.1, check_every=97, ctx=ctx)
    for wave in range(3):
        keys = list(model.keys())
        for k in rng.sample(keys, len(keys) // 4):          # random deletes
            assert t.delete(k), ctx
            del model[k]
        for _ in range(1500):                               # random inserts
            k = struct.pack(">IqHH", rng.randrange(1, 50_000), rng.randrange(2 ** 40), 1, wave)
            v = rng.randbytes(rng.randrange(20, 300))
            t.upsert(k, v)
            model[k] = v
        check(t, f"{ctx} wave {wave} random")
        catalog_passes(t, model, rng, objects, 1, 0.2, check_every=97, ctx=f"{ctx} wave {wave}")
    assert list(t.items()) == list(model.items()), ctx
    for k in model.keys()[::7]:
        assert t.get(k) == model[k], ctx
    account(db.pool, [t], ctx)


@pytest.mark.verify
@pytest.mark.parametrize("vlen", [(1, 40), (300, 990)], ids=["small", "large"])
def test_rising_split_never_empties_a_page(db, vlen):
    """Runs inserted at the front, in the middle and at the end of full leaves, with small and
    near-MAX_LEAF_REC records (4 to a page): after every insert every non-root leaf holds at least
    one record and MIN_FILL bytes (condition 5), and the tree is valid."""
    seed = seed_for(1703)
    rng = random.Random(seed)
    ctx = f"seed={seed} (replay: OOR_SEED={seed})"
    t = BTree.create(db.pool, "edges")
    model = SortedDict()
    base = [struct.pack(">I", i * 1000) for i in range(1, 200)]
    for k in base:
        v = rng.randbytes(rng.randrange(*vlen))
        t.insert(k, v)
        model[k] = v
    steps = 0
    for start in (0, 500, 999):                 # runs at the front / middle / end of each gap
        for i in range(1, 200):
            for j in range(rng.randrange(1, 6)):
                key = struct.pack(">IB", i * 1000 + start, j)
                if key in model:
                    continue
                v = rng.randbytes(rng.randrange(*vlen))
                t.insert(key, v)
                model[key] = v
                steps += 1
                if steps % 25 == 0:
                    for pid, n, used in leaf_fills(t):
                        assert n >= 1, f"{ctx}: leaf {pid} is empty"
                    check(t, f"{ctx} step {steps}")
    fills = leaf_fills(t)
    if len(fills) > 1:
        assert all(n >= 1 and used >= USABLE // 4 for _, n, used in fills), f"{ctx}: {fills}"
    assert list(t.items()) == list(model.items()), ctx
    check(t, ctx)


def test_same_length_upsert_rewrites_in_place(db):
    """Replacing a value by one of the same length keeps the record where it is (same leaf, no
    new page, no split) and the new value reads back; other lengths and overflow values still
    take the remove + insert path."""
    rng = random.Random(1704)
    t = BTree.create(db.pool, "inplace")
    items = registry_items(3000, seed=1705)
    for k, v in items:
        t.insert(k, v)
    check(t, "loaded")
    leaves_before = leaf_fills(t, layout=True)
    pages_before = db.pool.page_count
    want = dict(items)
    for k, v in rng.sample(items, 1500):
        nv = rng.randbytes(len(v))
        assert t.upsert(k, nv) is False
        want[k] = nv
    check(t, "after same-length upserts")
    # same pages, slot counts and bytes used, and no record moved (no dead bytes left behind)
    assert leaf_fills(t, layout=True) == leaves_before
    assert db.pool.page_count == pages_before
    assert list(t.items()) == sorted(want.items())
    # a different length, then an overflow value of the same length: both still correct
    k0, v0 = items[10]
    t.upsert(k0, v0 + b"longer")
    assert t.get(k0) == v0 + b"longer"
    big = rng.randbytes(5000)
    t.upsert(k0, big)
    t.upsert(k0, rng.randbytes(5000))
    assert len(t.get(k0)) == 5000 and t.get(k0) != big
    t.upsert(k0, v0)
    want[k0] = v0
    check(t, "after length changes")
    assert list(t.items()) == sorted(want.items())
    account(db.pool, [t], "in-place upserts")


@pytest.mark.verify
def test_rising_runs_with_long_separators(db):
    """Rising passes over keys whose neighbours share long, varying prefixes, so that the
    separators a settled or split leaf leaves in its parent grow and shrink by hundreds of
    bytes (internal nodes of a dozen entries, height 3+): every internal node keeps MIN_FILL
    (a shorter separator must not leave a non-root parent underfull) and the tree stays valid."""
    seed = seed_for(1706)
    rng = random.Random(seed)
    ctx = f"seed={seed} (replay: OOR_SEED={seed})"
    t = BTree.create(db.pool, "longsep")
    model = SortedDict()
    objects = [struct.pack(">I", g) + b"\x00" * rng.randrange(0, 400) + struct.pack(">I", i)
               for i, g in enumerate(sorted(rng.randrange(1, 40) for _ in range(600)))]
    objects.sort()
    for p in range(6):
        for n, o in enumerate(objects):
            if p and rng.random() < 0.2:
                continue
            k = o + struct.pack(">q", p * 1000 + rng.randrange(1000))
            v = rng.randbytes(rng.randrange(10, 200))
            t.insert(k, v)
            model[k] = v
            if n % 3 == 0:
                check(t, f"{ctx} pass {p} object {n}")
        check(t, f"{ctx} after pass {p}")
        if p % 2 == 1:          # deletes leave internal nodes near MIN_FILL for the next passes
            for k in rng.sample(list(model.keys()), len(model) // 2):
                assert t.delete(k), ctx
                del model[k]
            check(t, f"{ctx} after deletes {p}")
    assert t.height >= 3, t.height
    assert list(t.items()) == list(model.items()), ctx
    account(db.pool, [t], ctx)
