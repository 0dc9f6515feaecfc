"""OOR against SQLite, LMDB (and Berkeley DB when importable), and the codec against sgp4: one command.

    python bench/run.py                 # full run (< 10 min on 2 cores): bench/results/latest.json (+ .png)
    python bench/run.py --quick         # smoke run on a small slice of the data (seconds)
    python bench/run.py --profile       # also cProfile the OOR side of every target NOT met

Every measure runs each engine on the same data in the same process and
directory (a temp dir under the system temp dir, removed at the end).  What
each side does, exactly, is in docs/benchmarks.md.  Summary:

engine level (oor.storage.Database: named tree + transactions; LMDB; SQLite):
  same 16-byte keys (norad u32 BE | epoch i64 BE sign-flipped | seq u16 BE | source u16 BE)
  and the codec's record bytes as values; SQLite stores the same rows as a
  WITHOUT ROWID table keyed by (norad, epoch, source) with the record as a BLOB.
  bulk        sorted bulk load of the x40 history, durable at the end
  unsorted    the real catalog-2022-07 inserted in shuffled order, one transaction, durable
  latest      newest set of a random object (one seek)
  at          set valid at a random time for a random object (one seek)
  scan        full range scan of the x40 history, sets/s
  history     every set of a random object (40 sets), sets/s
  commit      durable one-record commit (fsync per commit)
  group       8 writer threads of one-record durable commits: commits/s, commits per fsync
  recovery    recovery after a crash with a log of 100k WAL records (50k one-record transactions)
  rss         peak RSS of a process loading 1M sets (registry with a 16 MB pool)
registry level (oor.open(...) against SQLite / LMDB doing the equivalent work, decode included):
  reg_latest, reg_at, reg_history (the real histories), ingest (parse + validate + store + fsync)
codec: parse (read_elements of catalog-2022-07) against sgp4 Satrec.twoline2rv on the same lines.

Ratios are OOR / anchor in the measure's own unit (time: below 1 is OOR faster;
rate: above 1 is OOR faster).

This file is only the entry point: the suite is the package bench/suite/ (harness, data builders,
one module per engine, one per measure, the child programs); its __init__ lists the layout.
"""

import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [p for p in (os.path.dirname(BENCH), BENCH) if p not in sys.path]   # the project (oor), the suite

from suite.cli import main as run_suite  # noqa: E402


def main(argv=None):
    return run_suite(argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()
