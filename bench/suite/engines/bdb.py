"""Berkeley DB's side of the engine-level measures (berkeleydb or bsddb3), when one of them is importable.

A transactional environment (mpool, txn, log, lock, recover) with a 256 MB cache and one B-tree database holding
the same keys and records as OOR.  Neither binding is installed on the reference machine: ``AVAILABLE`` is then
False and the run skips this anchor with a note.

Caller: the measures, through ``suite.engines``.
"""
import os

from oor.keys import elset_key, object_lo

try:  # pragma: no cover - not installed here
    from berkeleydb import db as bdb
except ImportError:
    try:
        from bsddb3 import db as bdb  # pragma: no cover
    except ImportError:
        bdb = None

AVAILABLE = bdb is not None


class BDBEngine:  # pragma: no cover - only when berkeleydb / bsddb3 is importable
    name = "bdb"

    def __init__(self, d, pool_pages=None):
        home = os.path.join(d, "bdb")
        os.makedirs(home)
        self.env = bdb.DBEnv()
        self.env.set_cachesize(0, 256 << 20)
        self.env.open(home, bdb.DB_CREATE | bdb.DB_INIT_MPOOL | bdb.DB_INIT_TXN | bdb.DB_INIT_LOG
                      | bdb.DB_INIT_LOCK | bdb.DB_RECOVER)
        self.db = bdb.DB(self.env)
        self.db.open("elsets.db", dbtype=bdb.DB_BTREE, flags=bdb.DB_CREATE | bdb.DB_AUTO_COMMIT)

    def bulk(self, items):
        self.insert_all(items)

    def insert_all(self, items):
        txn = self.env.txn_begin()
        put = self.db.put
        for k, v in items:
            put(k, v, txn=txn)
        txn.commit()

    def _seek_le(self, cur, k):
        r = cur.set_range(k)
        return cur.prev() if r else cur.last()

    def latest_fn(self, norads):
        cur = self.db.cursor()
        nexts = [object_lo(n + 1) for n in norads]

        def run():
            for k in nexts:
                self._seek_le(cur, k)
        return run

    def at_fn(self, probes):
        cur = self.db.cursor()
        ks = [elset_key(n, us, 0xFFFF) + b"\x00" for n, us in probes]

        def run():
            for k in ks:
                self._seek_le(cur, k)
        return run

    def scan_fn(self):
        def run():
            n = 0
            cur = self.db.cursor()
            r = cur.first()
            while r:
                n += 1
                r = cur.next()
            cur.close()
            return n
        return run

    def history_fn(self, norads):
        def run():
            c = 0
            cur = self.db.cursor()
            for n in norads:
                lo, hi = object_lo(n), object_lo(n + 1)
                r = cur.set_range(lo)
                while r and r[0] < hi:
                    c += 1
                    r = cur.next()
            cur.close()
            return c
        return run

    def commit_one(self, k, v):
        txn = self.env.txn_begin()
        self.db.put(k, v, txn=txn)
        txn.commit()

    def close(self):
        self.db.close()
        self.env.close()
