"""OOR's side of every measure: the engine-level adapter over ``oor.storage.Database`` and the registry ingest.

Engine level: one named tree ("elsets") of a Database opened with ``sync="full"``; the registry's 16-byte keys
and the codec's record bytes.  The registry-level reads call ``oor.open(...)``'s methods directly (in
``measures/registry.py``); the ingest is ``oor.open(new).load(file)`` with the close (a checkpoint) not timed.

Also the files of a crashed database: ``keep_files`` / ``restore_files`` let a profile recover the same log a
second time (``profiled_open``).

Caller: the measures, through ``suite.engines``; bench/bench_durability.py (the crashed-files helpers).
"""
import cProfile
import os
import shutil
import time

import oor
from oor.keys import elset_key, object_hi, object_lo
from oor.storage import open_database


class OOREngine:
    name = "oor"

    def __init__(self, d, pool_pages):
        self.db = open_database(os.path.join(d, "oor.db"), pool_pages=pool_pages, sync="full")
        self.t = self.db.tree("elsets", create=True)

    def bulk(self, items):
        with self.db.transaction():
            self.t.bulk_load(iter(items))

    def insert_all(self, items):
        ins = self.t.insert
        with self.db.transaction():
            for k, v in items:
                ins(k, v)

    def _seek_le_each(self, ks):
        """A function that seeks a cursor to the last item <= each key of ``ks``."""
        seek = self.t.cursor().seek

        def run():
            for k in ks:
                seek(k, "<=")
        return run

    def latest_fn(self, norads):
        return self._seek_le_each([object_hi(n) for n in norads])

    def at_fn(self, probes):
        return self._seek_le_each([elset_key(n, us, 0xFFFF) for n, us in probes])

    def scan_fn(self):
        t = self.t

        def run():
            n = 0
            for _ in t.items():
                n += 1
            return n
        return run

    def history_fn(self, norads):
        t = self.t
        rng = [(object_lo(n), object_lo(n + 1)) for n in norads]

        def run():
            c = 0
            for lo, hi in rng:
                for _ in t.items(lo, hi):
                    c += 1
            return c
        return run

    def commit_one(self, k, v):
        with self.db.transaction():
            self.t.insert(k, v)

    def close(self):
        self.db.close()


def ingest(d, catalog):
    """Seconds to load ``catalog`` into a new registry in ``d``, durable (the close is not timed)."""
    t0 = time.perf_counter()
    reg = oor.open(os.path.join(d, "ingest.oor"))
    reg.load(catalog)                 # durable: every 10k-set commit fsyncs the WAL
    el = time.perf_counter() - t0
    reg.close()                       # checkpoint: not timed (the anchors have none to do)
    return el


def keep_files(path):
    """Copy the database at ``path`` and its log directory beside them, as a crash left them."""
    shutil.copytree(path + "-wal", path + ".copy-wal")
    shutil.copy(path, path + ".copy")


def restore_files(path):
    """Put back the copies ``keep_files`` made, in place of the files an open since has changed."""
    for suffix in ("", "-lock"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    shutil.rmtree(path + "-wal")
    os.rename(path + ".copy", path)
    os.rename(path + ".copy-wal", path + "-wal")


def profiled_open(path):
    """A cProfile of ``open_database(path)`` (the recovery, if the database crashed); the database is closed."""
    pr = cProfile.Profile()
    pr.enable()
    db = open_database(path)
    pr.disable()
    db.close()
    return pr
