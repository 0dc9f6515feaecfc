# cython: language_level=3, boundscheck=False, wraparound=False
"""Buffer-pool hit path timed from Cython (bench/bench_bufpool.py compiles this).

Generated bench/_bench_pin.c and the extension module are git-ignored.
"""
from time import perf_counter_ns

from oor_core.bufpool cimport BufferPool
from oor_core.guards cimport ReadPageGuard


def guard_loop(BufferPool pool, unsigned int pid, long n):
    """n x (read_guard + _release) on a cached page; returns elapsed ns."""
    cdef ReadPageGuard g
    cdef long i
    t0 = perf_counter_ns()
    for i in range(n):
        g = pool.read_guard(pid)
        g._release()
    t1 = perf_counter_ns()
    g = None
    return t1 - t0


def pin_loop(BufferPool pool, unsigned int pid, long n):
    """n x (pin + unpin) on a cached page, no guard object; returns elapsed ns."""
    cdef long i
    cdef int f
    t0 = perf_counter_ns()
    for i in range(n):
        f = pool.pin(pid, False)
        pool.unpin(f)
    t1 = perf_counter_ns()
    return t1 - t0
