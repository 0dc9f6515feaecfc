"""pytest-benchmark micro benchmarks of OOR's core operations (kept out of the default test run).

    python -m pytest bench/bench_micro.py --benchmark-only

The default run (``python -m pytest``) collects only ``tests/`` and passes
``--benchmark-skip``; these run only when asked for.  Data: the real
catalog-2022-07 (24,132 sets; ``OOR_DATA`` overrides ../shared/data), loaded
once per module into a registry in a temp dir.  Each benchmark is one
operation (or one pass over a fixed probe list, so per-op time = mean / probes).
"""
import os
import random
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import oor  # noqa: E402
from oor.codec import decode_record, encode_record, parse_tle, read_elements  # noqa: E402
from oor.keys import elset_key, object_hi, object_lo  # noqa: E402
from oor.storage import open_database  # noqa: E402

DATA = os.environ.get("OOR_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
CATALOG = os.path.join(DATA, "catalogs", "catalog-2022-07.3le")
PROBES = 1000

pytestmark = pytest.mark.skipif(not os.path.exists(CATALOG), reason="real data not found")


@pytest.fixture(scope="module")
def sets():
    return list(read_elements(CATALOG))


@pytest.fixture(scope="module")
def reg(sets, tmp_path_factory):
    r = oor.open(str(tmp_path_factory.mktemp("micro") / "micro.oor"))
    r.load(CATALOG)
    yield r
    r.close()


@pytest.fixture(scope="module")
def ids(sets):
    rng = random.Random(1)
    return [rng.choice(sets).norad_id for _ in range(PROBES)]


@pytest.fixture
def db(tmp_path):
    d = open_database(str(tmp_path / "db.oor"), sync="full")
    yield d
    d.close()


# ---- codec ------------------------------------------------------------------------------------
def test_parse_tle(benchmark, sets):
    es = sets[100]
    benchmark(parse_tle, es.line1, es.line2)


def test_record_encode(benchmark, sets):
    benchmark(encode_record, sets[100])


def test_record_decode(benchmark, sets):
    rec = encode_record(sets[100])
    benchmark(decode_record, rec)


# ---- tree (engine level) ----------------------------------------------------------------------
def test_tree_latest_seek(benchmark, reg, ids):
    cur = reg.db.tree("elsets").cursor()
    his = [object_hi(n) for n in ids]

    def run():
        for h in his:
            cur.seek(h, "<=")
    benchmark(run)


def test_tree_get(benchmark, reg, sets):
    t = reg.db.tree("elsets")
    keys = [elset_key(es.norad_id, es.epoch_us, 0) for es in sets[:PROBES]]

    def run():
        for k in keys:
            t.get(k)
    benchmark(run)


def test_tree_range_scan(benchmark, reg):
    t = reg.db.tree("elsets")

    def run():
        n = 0
        for _ in t.items():
            n += 1
        return n
    assert benchmark(run) == len(t)


def test_tree_history_range(benchmark, reg, ids):
    t = reg.db.tree("elsets")
    n = ids[0]
    benchmark(lambda: list(t.items(object_lo(n), object_lo(n + 1))))


def test_durable_commit_one(benchmark, db):
    t = db.tree("t", create=True)
    rng = random.Random(2)

    def run():
        with db.transaction():
            t.upsert(elset_key(rng.randrange(1, 999999), rng.randrange(1 << 52), 0), b"x" * 260)
    benchmark.pedantic(run, rounds=100, iterations=1, warmup_rounds=5)


def test_insert_in_transaction(benchmark, db, sets):
    t = db.tree("t", create=True)
    items = [(elset_key(es.norad_id, es.epoch_us, 0), encode_record(es)) for es in sets[:2000]]
    random.Random(3).shuffle(items)
    state = {"round": 0}

    def run():
        state["round"] += 1
        src = state["round"] & 0xFFFF
        with db.transaction():
            for k, v in items:
                t.upsert(k[:12] + src.to_bytes(2, "big"), v)
    benchmark.pedantic(run, rounds=5, iterations=1)


# ---- registry ---------------------------------------------------------------------------------
def test_registry_latest(benchmark, reg, ids):
    def run():
        for n in ids:
            reg.latest(n)
    benchmark(run)


def test_registry_at(benchmark, reg, ids):
    def run():
        for n in ids:
            reg.at(n, "2022-07-01")
    benchmark(run)


def test_registry_put_unchanged(benchmark, reg, sets):
    es = sets[500]
    assert benchmark(reg.put, es) == "unchanged"
