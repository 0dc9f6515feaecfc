"""Buffer-pool hit-path benchmarks (pytest-benchmark; skipped by the unit-test run).

Run:  python -m pytest bench/bench_bufpool.py --benchmark-only -p no:cacheprovider -s

Targets (issue 2): a cached-page pin/release from Python < 0.3 us; from Cython < 0.1 us.
Python-side figures time an inner loop of LOOP operations and report ns per operation.
The Cython figure comes from bench/_bench_pin.pyx, compiled here with ``cythonize -i``.
"""
import os
import pathlib
import subprocess
import sys

import pytest

from oor_core import BufferPool, Pager

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
LOOP = 1000
RESULTS = {}


def _build_cython_bench():
    """Compile bench/_bench_pin.pyx in place (once; again when the .pyx or oor_core's .pxd change)."""
    pyx = HERE / "_bench_pin.pyx"
    deps = [pyx, *(ROOT / "oor_core").glob("*.pxd")]
    built = sorted(HERE.glob("_bench_pin*.so")) + sorted(HERE.glob("_bench_pin*.pyd"))
    if not built or max(p.stat().st_mtime for p in deps) > built[0].stat().st_mtime:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        subprocess.run([sys.executable, "-m", "Cython.Build.Cythonize", "-i", "-3", "-f", str(pyx)],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import _bench_pin
    return _bench_pin


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.oor"
    p = BufferPool(Pager(path), 64)
    with p.allocate() as g:
        pid = g.page_id
        for i in range(25):
            g.insert(b"%02d" % i + b"x" * 120)
    p.read(pid).release()                       # cached, so every pin below is a hit
    yield p, pid
    p.close()


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if RESULTS:
        print("\n\nbuffer-pool hit path, ns per operation (min / median):")
        for name, (lo, med, target) in RESULTS.items():
            verdict = "" if target is None else ("  [target < %d ns: %s]" % (target, "met" if lo < target else "MISSED"))
            print(f"  {name:<44} {lo:8.1f} / {med:8.1f}{verdict}")


def _record(benchmark, name, per_call, target=None):
    st = benchmark.stats.stats
    lo, med = st.min / per_call * 1e9, st.median / per_call * 1e9
    benchmark.extra_info["ns_per_op_min"] = round(lo, 1)
    benchmark.extra_info["ns_per_op_median"] = round(med, 1)
    RESULTS[name] = (lo, med, target)


def test_python_read_release(benchmark, pool):
    p, pid = pool
    read = p.read
    r = range(LOOP)

    def run():
        for _ in r:
            read(pid).release()

    benchmark(run)
    assert p.pin_count(pid) == 0
    _record(benchmark, "Python: pool.read(pid); g.release()", LOOP, 300)


def test_python_with_read(benchmark, pool):
    p, pid = pool
    read = p.read
    r = range(LOOP)

    def run():
        for _ in r:
            with read(pid):
                pass

    benchmark(run)
    assert p.pin_count(pid) == 0
    _record(benchmark, "Python: with pool.read(pid) as g", LOOP, 300)


def test_python_loop_overhead(benchmark):
    r = range(LOOP)

    def run():
        for _ in r:
            pass

    benchmark(run)
    _record(benchmark, "Python: empty loop (overhead, included above)", LOOP)


def test_python_slot_get(benchmark, pool):
    p, pid = pool
    with p.read(pid) as g:
        get = g.get
        r = range(LOOP)

        def run():
            for _ in r:
                get(17)

        benchmark(run)
        assert get(17)[:2] == b"17"
    _record(benchmark, "Python: g.get(slot) (122-byte record)", LOOP)


def test_cython_read_guard_release(benchmark, pool):
    mod = _build_cython_bench()
    p, pid = pool
    n = 1_000_000
    mod.guard_loop(p, pid, 10_000)              # warm up
    samples = []

    def run():
        samples.append(mod.guard_loop(p, pid, n) / n)

    benchmark.pedantic(run, rounds=7, iterations=1)
    assert p.pin_count(pid) == 0
    samples.sort()
    RESULTS["Cython: read_guard(pid); g._release()"] = (samples[0], samples[len(samples) // 2], 100)
    benchmark.extra_info["ns_per_op_min"] = round(samples[0], 1)


def test_cython_pin_unpin(benchmark, pool):
    mod = _build_cython_bench()
    p, pid = pool
    n = 1_000_000
    samples = []

    def run():
        samples.append(mod.pin_loop(p, pid, n) / n)

    benchmark.pedantic(run, rounds=7, iterations=1)
    assert p.pin_count(pid) == 0
    samples.sort()
    RESULTS["Cython: pin(pid) + unpin(f), no guard object"] = (samples[0], samples[len(samples) // 2], None)
    benchmark.extra_info["ns_per_op_min"] = round(samples[0], 1)
