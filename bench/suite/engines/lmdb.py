"""LMDB's side of every measure (py-lmdb): the engine-level adapter, the registry-level reads, the ingest.

The same 16-byte keys and record bytes as OOR; ``sync=True, metasync=True``, and an ``env.sync`` at the end of the
loads.  The reads run in one long read transaction (``buffers=False``: the values are copied out, as OOR's are).
``AVAILABLE`` is False when py-lmdb is not importable (the run then skips LMDB with a note).

Caller: the measures and ``suite.cli``, through ``suite.engines``.
"""
import os

from oor.codec import decode_record
from oor.keys import elset_key, object_lo
from oor.registry import to_epoch_us

from .sgp4 import Satrec, tle_pairs

try:
    import lmdb
except ImportError:  # pragma: no cover
    lmdb = None

AVAILABLE = lmdb is not None
VERSION = ".".join(map(str, lmdb.version())) if lmdb else None


class LMDBEngine:
    name = "lmdb"

    def __init__(self, d, pool_pages=None):
        self.env = lmdb.open(os.path.join(d, "lmdb"), map_size=16 << 30, sync=True, metasync=True,
                             writemap=False, max_readers=64)
        self._r = None

    def bulk(self, items):
        with self.env.begin(write=True) as txn:
            txn.cursor().putmulti(items, append=True)
        self.env.sync(True)

    def insert_all(self, items):
        with self.env.begin(write=True) as txn:
            put = txn.put
            for k, v in items:
                put(k, v)
        self.env.sync(True)

    def _txn(self):
        if self._r is None:
            self._r = self.env.begin(buffers=False)
        return self._r

    def _seek_before_each(self, ks):
        """A function that, for each key of ``ks``, reads the last item before it (LMDB seeks only to >=)."""
        cur = self._txn().cursor()

        def run():
            for k in ks:
                if cur.set_range(k):
                    cur.prev()
                else:
                    cur.last()
                cur.item()
        return run

    def latest_fn(self, norads):
        return self._seek_before_each([object_lo(n + 1) for n in norads])

    def at_fn(self, probes):
        return self._seek_before_each([elset_key(n, us, 0xFFFF) + b"\x00" for n, us in probes])

    def scan_fn(self):
        txn = self._txn()

        def run():
            n = 0
            for _ in txn.cursor():
                n += 1
            return n
        return run

    def history_fn(self, norads):
        cur = self._txn().cursor()
        rng = [(object_lo(n), object_lo(n + 1)) for n in norads]

        def run():
            c = 0
            for lo, hi in rng:
                if not cur.set_range(lo):
                    continue
                for k, _v in cur:
                    if k >= hi:
                        break
                    c += 1
            return c
        return run

    def commit_one(self, k, v):
        with self.env.begin(write=True) as txn:
            txn.put(k, v)

    def close(self):
        if self._r is not None:
            self._r.abort()
        self.env.close()


# ---- registry level: the same content as the registry, read the way an application over LMDB would ----
def open_registry_copy(path, items):
    """A new environment at ``path`` holding the sorted (key, record) pairs ``items``."""
    env = lmdb.open(path, map_size=4 << 30)
    with env.begin(write=True) as txn:
        txn.cursor().putmulti(items, append=True)
    return env


def registry_readers(env):
    """(latest(id), at(id, datetime), history(id)) over ``env``, each decoding to ElementSets as the registry does."""
    lcur = env.begin(buffers=False).cursor()

    def lm_le(k):
        if lcur.set_range(k):
            ok = lcur.prev()
        else:
            ok = lcur.last()
        return lcur.item() if ok else None

    def lm_latest(n):
        if not 0 <= n <= 999_999_999:
            raise ValueError
        it = lm_le(object_lo(n + 1))
        return decode_record(it[1]) if it and it[0][:4] == object_lo(n) else None

    def lm_at(n, w):
        it = lm_le(elset_key(n, to_epoch_us(w), 0xFFFF) + b"\x00")
        return decode_record(it[1]) if it and it[0][:4] == object_lo(n) else None

    def lm_hist(n):
        out = []
        lo, hi = object_lo(n), object_lo(n + 1)
        if lcur.set_range(lo):
            for k, v in lcur:
                if k >= hi:
                    break
                out.append(decode_record(v))
        return out
    return lm_latest, lm_at, lm_hist


# ---- ingest ----------------------------------------------------------------------------------------------
def sgp4_ingest(path, dbpath):
    """The anchor pipeline into LMDB: read the file, sgp4 Satrec.twoline2rv each pair, one write txn, sync."""
    pairs = tle_pairs(path)
    env = lmdb.open(dbpath, map_size=1 << 30, sync=True)
    with env.begin(write=True) as txn:
        for name, l1, l2 in pairs:
            s = Satrec.twoline2rv(l1, l2)
            if s.error:
                continue
            us = round(((s.jdsatepoch - 2433282.5) + s.jdsatepochF) * 86_400_000_000)
            txn.put(elset_key(s.satnum, us, 0), "\n".join((name, l1, l2)).encode())
    env.sync(True)
    env.close()
