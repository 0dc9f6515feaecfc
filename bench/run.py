"""OOR's benchmarks, one command: the user-level benchmark by default, the internal micro benchmarks on request.

    python bench/run.py                 # user level (issue 17): the public API against SQLite, LMDB, RocksDB,
                                        # DuckDB (and Berkeley DB when it imports), real set, 3 rounds
    python bench/run.py --scale 1m      # the same at 1M sets (synthetic history; --scale 10m behind the flag)
    python bench/run.py --quick         # user level on a tiny subset, one round (seconds)
    python bench/run.py --internal      # internal micro benchmarks: engine level, registry level and codec
                                        # against SQLite / LMDB / sgp4 (bench/suite, issue 7); add --quick,
                                        # --profile, --sets N, --out, --no-chart as before

The user-level flags are those of bench/user.py (--scale, --quick, --rounds, --engines, --no-profile, --out);
what each side does is in docs/benchmarks.md.  Ratios are OOR / peer: below 1 means OOR is faster or smaller.

This file is only the entry point: the user level is bench/user.py (+ user_engines.py, user_data.py), the
internal suite the package bench/suite/ (its __init__ lists the layout).
"""

import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [p for p in (os.path.dirname(BENCH), BENCH) if p not in sys.path]   # the project (oor), the suite


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--internal" in argv:
        argv.remove("--internal")
        from suite.cli import main as run_suite
        return run_suite(argv, description="internal micro benchmarks: OOR's engine against SQLite, LMDB "
                                           "(and Berkeley DB when importable), the codec against sgp4")
    from user import main as run_user
    return run_user(argv)


if __name__ == "__main__":
    main()
