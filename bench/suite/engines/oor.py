"""OOR's side of every measure: the engine-level adapter over ``oor.storage.Database`` and the registry ingest.

Engine level: one named tree ("elsets") of a Database opened with ``sync="full"``; the registry's 14-byte keys
and the codec's record bytes.  The registry-level reads call ``oor.open(...)``'s methods directly (in
``measures/registry.py``); the ingest is ``oor.open(new).load(file)`` with the close (a checkpoint) not timed.

Caller: the measures, through ``suite.engines``.
"""
import os
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

    def latest_fn(self, norads):
        c = self.t.cursor()
        seek = c.seek
        his = [object_hi(n) for n in norads]

        def run():
            for h in his:
                seek(h, "<=")
        return run

    def at_fn(self, probes):
        c = self.t.cursor()
        seek = c.seek
        ks = [elset_key(n, us, 0xFFFF) for n, us in probes]

        def run():
            for k in ks:
                seek(k, "<=")
        return run

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
