"""The engines compared, one module each: oor, sqlite, lmdb, bdb (Berkeley DB), and sgp4 (the codec's anchor).

Each engine module holds everything that engine does in the benchmark: its engine-level adapter (a class with the
same methods for every engine: bulk, insert_all, latest_fn, at_fn, scan_fn, history_fn, commit_one, close) and,
where the measure has one, its side of the registry-level reads and of the ingest.  An engine whose Python binding
is not importable is skipped (``anchors``), and the run says so in a note.

Caller: the measures (``suite.measures``) and ``suite.cli`` (availability, versions).
"""
from . import bdb, lmdb
from .oor import OOREngine
from .sqlite import SQLiteEngine


def anchors():
    """The adapter classes of the importable anchors, in the order they run and print."""
    out = [SQLiteEngine]
    if lmdb.AVAILABLE:
        out.insert(0, lmdb.LMDBEngine)
    if bdb.AVAILABLE:  # pragma: no cover
        out.append(bdb.BDBEngine)
    return out


def all_engines():
    """OOR, then the anchors."""
    return [OOREngine] + anchors()
