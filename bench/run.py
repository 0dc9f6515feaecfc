"""OOR against SQLite, LMDB (and Berkeley DB when importable), and the codec against sgp4: one command.

    python bench/run.py                 # full run (< 10 min on 2 cores): bench/results/latest.json (+ .png)
    python bench/run.py --quick         # smoke run on a small slice of the data (seconds)
    python bench/run.py --profile       # also cProfile the OOR side of every target NOT met

Every measure runs each engine on the same data in the same process and
directory (a temp dir under the system temp dir, removed at the end).  What
each side does, exactly, is in docs/benchmarks.md.  Summary:

engine level (oor.storage.Database: named tree + transactions; LMDB; SQLite):
  same 14-byte keys (norad u32 BE | epoch i64 BE sign-flipped | source u16 BE)
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
"""
import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import os
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import oor  # noqa: E402
from oor.codec import decode_record, encode_record, read_elements  # noqa: E402
from oor.keys import elset_key, object_hi, object_lo  # noqa: E402
from oor.registry import to_epoch_us  # noqa: E402
from oor.storage import open_database  # noqa: E402

try:
    import lmdb
except ImportError:  # pragma: no cover
    lmdb = None
try:  # pragma: no cover - not installed here
    from berkeleydb import db as bdb
except ImportError:
    try:
        from bsddb3 import db as bdb  # pragma: no cover
    except ImportError:
        bdb = None
try:
    from sgp4.api import Satrec
except ImportError:  # pragma: no cover
    Satrec = None

DATA = os.environ.get("OOR_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
CATALOG = os.path.join(DATA, "catalogs", "catalog-2022-07.3le")
CATALOGS = [os.path.join(DATA, "catalogs", f) for f in ("catalog-2022-01.3le", "catalog-2022-07.3le",
                                                         "catalog-2026-06.3le")]
HISTORY_DIR = os.path.join(DATA, "history")
SIGN = 1 << 63
KEY = struct.Struct(">IQH")
MB = 1 << 20

# (measure, anchor, op, threshold): the targets of issue 7, as OOR / anchor ratios.
TARGETS = [
    ("latest", "lmdb", "<=", 0.8),
    ("scan", "lmdb", ">=", 1.2),
    ("bulk", "lmdb", "<=", 1.0),          # time ratio <= 1.0  <=>  speed >= 1.0x LMDB
    ("commit", "sqlite", "<=", 1.0),
    ("ingest", "sqlite", "<=", 1.0),
    ("recovery", "abs", "<", 0.100),      # seconds
    ("rss", "abs", "<=", 16 + 40),        # MB: pool + 40 MB
]


# ---- helpers --------------------------------------------------------------------------------
def median_time(fn, rounds):
    out = []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def split_key(k):
    n, e, s = KEY.unpack(k)
    return n, e - SIGN, s


def rows_of(items):
    return [(*split_key(k), v) for k, v in items]


def note(msg):
    print(msg, flush=True)


# ---- data -----------------------------------------------------------------------------------
def catalog_sets(limit=None):
    sets = list(read_elements(CATALOG))
    return sets[:limit] if limit else sets


def synth_history(sets, copies, seed=40):
    """copies x len(sets) (key, record) pairs, sorted by key.

    Copy 0 is the real set (its TEXT record, exact lines).  Copy k >= 1 is
    ``es.replace(epoch=epoch - k*interval)``: a valid ElementSet built through
    the codec's API (FIELDS record, no text), with a per-object interval drawn
    from 0.5-3 days and +-10 % jitter per copy.
    """
    rng = random.Random(seed)
    out = []
    for es in sets:
        base = es.epoch
        interval = rng.uniform(0.5, 3.0)
        shift = 0.0
        out.append((elset_key(es.norad_id, es.epoch_us, 0), encode_record(es)))
        for _k in range(1, copies):
            shift += interval * rng.uniform(0.9, 1.1)
            e2 = es.replace(epoch=base - dt.timedelta(days=shift))
            out.append((elset_key(e2.norad_id, e2.epoch_us, 0), encode_record(e2)))
    out.sort(key=lambda kv: kv[0])
    # equal keys cannot occur (shifts are > 0 and strictly increasing) but be safe
    dedup = [out[0]] if out else []
    for kv in out[1:]:
        if kv[0] != dedup[-1][0]:
            dedup.append(kv)
    return dedup


def write_stream(path, items):
    with open(path, "wb") as f:
        for k, v in items:
            f.write(struct.pack("<H", len(v)) + k + v)


def real_registry_sets(quick):
    """Every set of the 3 real catalogs and the 15 real histories (file order)."""
    files = CATALOGS[1:2] if quick else CATALOGS
    hist = sorted(os.path.join(HISTORY_DIR, f) for f in os.listdir(HISTORY_DIR) if f.endswith(".tle"))
    if quick:
        hist = hist[:2]
    return files + hist


# ---- engine adapters (engine level) --------------------------------------------------------
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

    def latest_fn(self, norads):
        cur = self._txn().cursor()
        nexts = [object_lo(n + 1) for n in norads]

        def run():
            for k in nexts:
                if cur.set_range(k):
                    cur.prev()
                else:
                    cur.last()
                cur.item()
        return run

    def at_fn(self, probes):
        cur = self._txn().cursor()
        ks = [elset_key(n, us, 0xFFFF) + b"\x00" for n, us in probes]

        def run():
            for k in ks:
                if cur.set_range(k):
                    cur.prev()
                else:
                    cur.last()
                cur.item()
        return run

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


SQL_TABLE = ("CREATE TABLE elsets (norad INTEGER NOT NULL, epoch INTEGER NOT NULL, source INTEGER NOT NULL, "
             "rec BLOB NOT NULL, PRIMARY KEY (norad, epoch, source)) WITHOUT ROWID")


def sqlite_connect(path, cache_kib=262144):
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute(f"PRAGMA cache_size=-{cache_kib}")
    return con


class SQLiteEngine:
    name = "sqlite"

    def __init__(self, d, pool_pages=None):
        self.path = os.path.join(d, "sqlite.db")
        self.con = sqlite_connect(self.path)
        self.con.execute(SQL_TABLE)

    def bulk(self, items):
        rows = rows_of(items)        # conversion outside the timing would flatter SQLite; it is cheap
        self._load(rows)

    def bulk_rows(self, rows):
        self._load(rows)

    def _load(self, rows):
        con = self.con
        con.execute("BEGIN")
        con.executemany("INSERT INTO elsets VALUES (?, ?, ?, ?)", rows)
        con.execute("COMMIT")

    insert_rows = bulk_rows

    def latest_fn(self, norads):
        cur = self.con.cursor()
        q = "SELECT norad, epoch, source, rec FROM elsets WHERE norad = ? ORDER BY epoch DESC, source DESC LIMIT 1"
        args = [(n,) for n in norads]

        def run():
            for a in args:
                cur.execute(q, a).fetchone()
        return run

    def at_fn(self, probes):
        cur = self.con.cursor()
        q = ("SELECT norad, epoch, source, rec FROM elsets WHERE norad = ? AND epoch <= ? "
             "ORDER BY epoch DESC, source DESC LIMIT 1")

        def run():
            for a in probes:
                cur.execute(q, a).fetchone()
        return run

    def scan_fn(self):
        con = self.con

        def run():
            n = 0
            for _ in con.execute("SELECT norad, epoch, source, rec FROM elsets ORDER BY norad, epoch, source"):
                n += 1
            return n
        return run

    def history_fn(self, norads):
        cur = self.con.cursor()
        q = "SELECT norad, epoch, source, rec FROM elsets WHERE norad = ? ORDER BY epoch, source"
        args = [(n,) for n in norads]

        def run():
            c = 0
            for a in args:
                for _ in cur.execute(q, a):
                    c += 1
            return c
        return run

    def commit_one(self, k, v):
        n, e, s = split_key(k)
        self.con.execute("INSERT INTO elsets VALUES (?, ?, ?, ?)", (n, e, s, v))   # autocommit

    def close(self):
        self.con.close()


class BDBEngine:  # pragma: no cover - only when berkeleydb / bsddb3 is importable
    name = "bdb"

    def __init__(self, d, pool_pages=None):
        home = os.path.join(d, "bdb")
        os.makedirs(home)
        self.env = bdb.DBEnv()
        self.env.set_cachesize(0, 256 * MB)
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


def anchors():
    out = [SQLiteEngine]
    if lmdb is not None:
        out.insert(0, LMDBEngine)
    if bdb is not None:  # pragma: no cover
        out.append(BDBEngine)
    return out


# ---- results --------------------------------------------------------------------------------
class Results:
    def __init__(self):
        self.measures = {}
        self.notes = []
        self.profiles = {}

    def add(self, name, unit, better, values, desc, extra=None):
        """values: {engine: median}; better: 'lower' or 'higher'."""
        ratios = {a: values["oor"] / v for a, v in values.items() if a != "oor" and v}
        self.measures[name] = {"unit": unit, "better": better, "values": values, "ratios": ratios,
                               "what": desc, **({"extra": extra} if extra else {})}
        shown = ", ".join(f"{e} {fmt(v, unit)}" for e, v in values.items())
        rs = ", ".join(f"/{a} {r:.2f}x" for a, r in ratios.items())
        note(f"  {name:12} {shown}   OOR{rs}")


def fmt(v, unit):
    if unit == "s":
        return f"{v * 1e3:.1f} ms" if v < 10 else f"{v:.2f} s"
    if unit == "us":
        return f"{v:.2f} us"
    if unit in ("sets/s", "commits/s"):
        return f"{v / 1e3:,.0f}k {unit}" if v >= 1e4 else f"{v:,.0f} {unit}"
    if unit == "MB":
        return f"{v:.1f} MB"
    return f"{v:.3g} {unit}"


# ---- engine-level measures --------------------------------------------------------------------
def engine_level(res, tmp, cat, hist, cfg, profile=False):
    rng = random.Random(7)
    cat_items = sorted({elset_key(es.norad_id, es.epoch_us, 0): encode_record(es) for es in cat}.items())
    norads = sorted({split_key(k)[0] for k, _ in hist})
    n_probe = cfg["probes"]
    probe_ids = [rng.choice(norads) for _ in range(n_probe)]
    lo_us = min(split_key(k)[1] for k, _ in hist)
    hi_us = max(split_key(k)[1] for k, _ in hist)
    at_probes = [(rng.choice(norads), rng.randrange(lo_us, hi_us)) for _ in range(n_probe)]
    hist_ids = [rng.choice(norads) for _ in range(cfg["hist_probes"])]
    hist_rows = rows_of(hist)
    pool_pages = max(4096, len(hist) * 400 // 4096 + 2048)   # the whole tree fits (as LMDB's page cache)

    # unsorted real catalog: fresh databases, median of rounds
    shuffled = list(cat_items)
    random.Random(11).shuffle(shuffled)
    sh_rows = rows_of(shuffled)
    vals = {}
    for E in [OOREngine] + anchors():
        times = []
        for r in range(cfg["rounds_load"]):
            d = tempfile.mkdtemp(dir=tmp)
            e = E(d, 4096)
            gc.collect()
            t0 = time.perf_counter()
            if E is SQLiteEngine:
                e.insert_rows(sh_rows)
            else:
                e.insert_all(shuffled)
            times.append(time.perf_counter() - t0)
            e.close()
            shutil.rmtree(d, ignore_errors=True)
        vals[E.name] = statistics.median(times)
    res.add("unsorted", "s", "lower", vals,
            f"insert the {len(shuffled):,} sets of catalog-2022-07 in shuffled order, one transaction, durable")

    # bulk load of the history (one round per engine: it is the biggest write), then reads on it
    engines = {}
    vals = {}
    for E in [OOREngine] + anchors():
        d = tempfile.mkdtemp(dir=tmp)
        e = E(d, pool_pages)
        gc.collect()
        t0 = time.perf_counter()
        if E is SQLiteEngine:
            e.bulk_rows(hist_rows)
        else:
            e.bulk(hist)
        vals[E.name] = time.perf_counter() - t0
        engines[E.name] = e
    res.add("bulk", "s", "lower", vals, f"sorted bulk load of {len(hist):,} sets (x{cfg['copies']} history), "
            "durable at the end")
    del hist_rows

    def per_op(fn_name, arg, count):
        out = {}
        for name, e in engines.items():
            fn = getattr(e, fn_name)(arg)
            fn()    # warm
            out[name] = median_time(fn, cfg["rounds"]) / count * 1e6
        return out

    res.add("latest", "us", "lower", per_op("latest_fn", probe_ids, n_probe),
            "newest set of a random object: one seek (<= id|FF..), key+record bytes")
    sql_at = [(n, us) for n, us in at_probes]
    vals = {}
    for name, e in engines.items():
        fn = e.at_fn(sql_at)
        fn()
        vals[name] = median_time(fn, cfg["rounds"]) / n_probe * 1e6
    res.add("at", "us", "lower", vals, "set valid at a random time of a random object: one seek")
    vals = {}
    for name, e in engines.items():
        fn = e.scan_fn()
        assert fn() == len(hist), name
        vals[name] = len(hist) / median_time(fn, cfg["rounds"])
    res.add("scan", "sets/s", "higher", vals, f"full range scan of the {len(hist):,}-set history, key order")
    vals = {}
    for name, e in engines.items():
        fn = e.history_fn(hist_ids)
        cnt = fn()
        vals[name] = cnt / median_time(fn, cfg["rounds"])
    res.add("history", "sets/s", "higher", vals,
            f"every set of {len(hist_ids):,} random objects ({cfg['copies']} each), one range each")
    if profile:
        latest_breakdown(res, engines["oor"], probe_ids, cfg)
    for e in engines.values():
        e.close()
    engines.clear()
    if profile:
        for label, fn_name, data in (("bulk", "bulk", hist), ("unsorted", "insert_all", shuffled)):
            d = tempfile.mkdtemp(dir=tmp)
            e = OOREngine(d, pool_pages if label == "bulk" else 4096)
            pr = cProfile.Profile()
            pr.enable()
            getattr(e, fn_name)(data)
            pr.disable()
            e.close()
            shutil.rmtree(d, ignore_errors=True)
            res.profiles[label] = profile_text(pr)

    # durable one-record commit: median latency
    kv = synth_kv(cfg["commits"] + 50, seed=3, cat_items=cat_items)
    vals = {}
    for E in [OOREngine] + anchors():
        d = tempfile.mkdtemp(dir=tmp)
        e = E(d, 2048)
        for k, v in kv[:50]:
            e.commit_one(k, v)
        lat = []
        for k, v in kv[50:]:
            t0 = time.perf_counter()
            e.commit_one(k, v)
            lat.append(time.perf_counter() - t0)
        e.close()
        shutil.rmtree(d, ignore_errors=True)
        vals[E.name] = statistics.median(lat) * 1e6
    res.add("commit", "us", "lower", vals, f"durable one-record commit, median of {cfg['commits']}")
    if profile:
        d = tempfile.mkdtemp(dir=tmp)
        e = OOREngine(d, 2048)
        for k, v in kv[:50]:
            e.commit_one(k, v)
        f0 = e.db.wal.fsyncs
        pr = cProfile.Profile()
        pr.enable()
        for k, v in kv[50:]:
            e.commit_one(k[:4] + b"\x7f" + k[5:], v)
        pr.disable()
        res.profiles["commit"] = (f"WAL fsyncs per commit: {(e.db.wal.fsyncs - f0) / (len(kv) - 50):.2f}\n"
                                  + profile_text(pr))
        e.close()
        shutil.rmtree(d, ignore_errors=True)

    group(res, tmp, cfg, cat_items)


def latest_breakdown(res, e, probe_ids, cfg):
    """Where a latest() seek's time goes (the tree is Cython: cProfile sees one call): pages pinned per
    seek, the fixed cost of a seek on a one-page tree, and the cost of a seek on the big tree."""
    pool, t = e.db.pool, e.t
    c = t.cursor()
    his = [object_hi(n) for n in probe_ids]
    st0 = pool.stats()
    for h in his:
        c.seek(h, "<=")
    st1 = pool.stats()
    pins = ((st1["hits"] + st1["misses"]) - (st0["hits"] + st0["misses"])) / len(his)
    big = median_time(lambda: [c.seek(h, "<=") for h in his], 3) / len(his) * 1e6
    one = e.db.tree("one", create=True)
    with e.db.transaction():
        one.insert(his[0][:4] + bytes(10), b"x" * 170)
    c1 = one.cursor()
    small = median_time(lambda: [c1.seek(h, "<=") for h in his], 3) / len(his) * 1e6
    same = median_time(lambda: [c.seek(his[0], "<=") for _h in his], 3) / len(his) * 1e6

    def noop(k, op):
        return None
    call = median_time(lambda: [noop(h, "<=") for h in his], 3) / len(his) * 1e6
    res.profiles["latest"] = (
        f"tree height {t.height}, pages pinned per seek {pins:.2f}\n"
        f"seek on the {len(t):,}-key tree, random ids      {big:.3f} us\n"
        f"seek repeated on one key (cache-hot path)         {same:.3f} us\n"
        f"seek on a one-page tree (fixed cost: call, op parse, pin, item tuple) {small:.3f} us\n"
        f"a Python call of a no-op with the same arguments  {call:.3f} us\n")


def synth_kv(n, seed, cat_items):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        _k, v = cat_items[rng.randrange(len(cat_items))]
        out.append((elset_key(rng.randrange(100000, 999999), rng.randrange(0, 1 << 52), 0), v))
    return out


def group(res, tmp, cfg, cat_items):
    threads, per = 8, cfg["group_per_thread"]
    kvs = [synth_kv(per, 100 + i, cat_items) for i in range(threads)]
    vals, extra = {}, {}
    for E in [OOREngine] + anchors():
        d = tempfile.mkdtemp(dir=tmp)
        e = E(d, 2048)
        errors = []
        barrier = threading.Barrier(threads + 1)
        if E is SQLiteEngine:
            cons = [sqlite_connect(e.path) for _ in range(threads)]

            def commit(i, k, v):
                n, ep, s = split_key(k)
                cons[i].execute("INSERT INTO elsets VALUES (?, ?, ?, ?)", (n, ep, s, v))
        else:
            def commit(i, k, v):
                e.commit_one(k, v)

        def worker(i):
            try:
                barrier.wait()
                for k, v in kvs[i]:
                    commit(i, k, v)
            except Exception as exc:  # pragma: no cover
                errors.append(exc)
        f0 = e.db.wal.fsyncs if E is OOREngine else 0
        ths = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for th in ths:
            th.start()
        barrier.wait()
        t0 = time.perf_counter()
        for th in ths:
            th.join()
        el = time.perf_counter() - t0
        if errors:
            raise errors[0]
        if E is OOREngine:
            fs = e.db.wal.fsyncs - f0
            extra["oor_fsyncs"] = fs
            extra["oor_commits_per_fsync"] = threads * per / fs
        if E is SQLiteEngine:
            for c in cons:
                c.close()
        e.close()
        shutil.rmtree(d, ignore_errors=True)
        vals[E.name] = threads * per / el
    res.add("group", "commits/s", "higher", vals,
            f"{threads} threads x {per} durable one-record commits (SQLite: a connection per thread)", extra)
    note(f"  {'':12} OOR commits per fsync: {extra['oor_commits_per_fsync']:.2f} "
         "(SQLite WAL FULL and LMDB sync: one fsync per commit by design)")


# ---- recovery ---------------------------------------------------------------------------------
# Both crash builders start the same way: up to 5,000 record values from the stream file, a seeded RNG.
READ_VALS = """vals = []
with open(stream, "rb") as f:
    while len(vals) < 5000:
        h = f.read(2)
        if not h:
            break
        ln = struct.unpack("<H", h)[0]
        f.read(14)
        vals.append(f.read(ln))
rng = random.Random(5)
"""

BUILD_OOR = """
import os, sys, struct, random
sys.path.insert(0, {root!r})
from oor.storage import open_database
from oor.keys import elset_key
path, stream, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
{read_vals}db = open_database(path, sync="normal", sync_interval=3600, checkpoint_bytes=1 << 50, checkpoint_seconds=1e12)
t = db.tree("elsets", create=True)
for i in range(n):
    with db.transaction():
        t.insert(elset_key(rng.randrange(1, 999999), rng.randrange(0, 1 << 52), 0), vals[i % len(vals)])
db.wal.write_out()
print(db.stats()["wal"]["bytes"], flush=True)
os._exit(0)
"""

BUILD_SQLITE = """
import os, sys, struct, random, sqlite3
path, stream, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
{read_vals}con = sqlite3.connect(path, isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=NORMAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute({table!r})
for i in range(n):
    con.execute("INSERT OR REPLACE INTO elsets VALUES (?, ?, 0, ?)",
                (rng.randrange(1, 999999), rng.randrange(0, 1 << 52), vals[i % len(vals)]))
print(os.path.getsize(path + "-wal"), flush=True)
os._exit(0)
"""


def recovery(res, tmp, stream, cfg, profile):
    n = cfg["recovery"]
    d = tempfile.mkdtemp(dir=tmp)
    path = os.path.join(d, "rec.db")
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(BUILD_OOR.format(root=ROOT, read_vals=READ_VALS)), path, stream, str(n)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    wal_bytes = int(p.stdout.split()[0])
    if profile:
        shutil.copytree(path + "-wal", path + ".copy-wal")
        shutil.copy(path, path + ".copy")
    t0 = time.perf_counter()
    db = open_database(path)
    open_s = time.perf_counter() - t0
    rep = dict(db.recovery or {})
    ok = len(db.tree("elsets")) == n
    db.close()
    if profile:
        for suffix in ("", "-lock"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        shutil.rmtree(path + "-wal")
        os.rename(path + ".copy", path)
        os.rename(path + ".copy-wal", path + "-wal")
        pr = cProfile.Profile()
        pr.enable()
        db = open_database(path)
        pr.disable()
        db.close()
        res.profiles["recovery"] = profile_text(pr)
    # SQLite: the next opener after a crash rebuilds the WAL index by reading the whole WAL
    spath = os.path.join(d, "rec.sqlite")
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(BUILD_SQLITE.format(table=SQL_TABLE, read_vals=READ_VALS)), spath,
                        stream, str(n)], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    s_wal = int(p.stdout.split()[0])
    t0 = time.perf_counter()
    con = sqlite3.connect(spath, isolation_level=None)
    con.execute("SELECT norad FROM elsets LIMIT 1").fetchall()
    s_open = time.perf_counter() - t0
    s_ok = con.execute("SELECT count(*) FROM elsets").fetchone()[0] > 0
    con.close()
    shutil.rmtree(d, ignore_errors=True)
    # The measure is the recovery of a log of 100k WAL records; each one-record
    # transaction writes two (UPDATE, COMMIT).  OOR's figure is its recovery passes
    # (analysis + redo + undo); the whole open, which then also writes every recovered page
    # back in a checkpoint, is reported beside it.
    vals = {"oor": rep.get("total_s", open_s), "sqlite": s_open}
    res.add("recovery", "s", "lower", vals,
            f"recovery after a crash with {n:,} one-record committed transactions = "
            f"{rep.get('log_records', 0):,} WAL records (OOR: WAL {wal_bytes / MB:.0f} MB, recovery passes "
            f"{rep.get('total_s', 0) * 1e3:.0f} ms, whole open incl. checkpoint {open_s * 1e3:.0f} ms; SQLite: WAL "
            f"{s_wal / MB:.0f} MB, open + first read, which rebuilds its WAL index); LMDB has no log to recover",
            {"n": n, "oor_wal_bytes": wal_bytes, "oor_report": rep, "oor_all_present": ok,
             "sqlite_wal_bytes": s_wal, "sqlite_ok": s_ok})


# ---- peak RSS ---------------------------------------------------------------------------------
RSS_CHILD = """
import os, sys, struct
sys.path.insert(0, {root!r})
engine, path, stream, n, pool_mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
import sqlite3
import oor
from oor.codec import decode_record
try:
    import lmdb
except ImportError:
    lmdb = None

def hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

samples = []

def items():
    with open(stream, "rb", buffering=1 << 16) as f:
        rd = f.read
        for _ in range(n):
            h = rd(2)
            if not h:
                return
            ln = struct.unpack("<H", h)[0]
            k = rd(14)
            yield k, rd(ln)
            if _ % 100000 == 0:
                samples.append((_, round(rss(), 1)))

base = hwm()
count = 0
if engine == "oor":
    reg = oor.open(path, pool_pages=pool_mb * 256)
    samples.append(("open", round(rss(), 1)))
    rep = reg.load(decode_record(v) for _k, v in items())
    count = rep.stored
    reg.close()
elif engine == "sqlite":
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL"); con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA cache_size=-%d" % (pool_mb * 1024))
    con.execute({table!r})
    batch = []
    def flush():
        con.execute("BEGIN"); con.executemany("INSERT OR REPLACE INTO elsets VALUES (?, ?, ?, ?)", batch)
        con.execute("COMMIT"); batch.clear()
    for k, v in items():
        nn, e, s = struct.unpack(">IQH", k)
        batch.append((nn, e - (1 << 63), s, v)); count += 1
        if len(batch) >= 10000:
            flush()
    flush(); con.close()
else:
    env = lmdb.open(path, map_size=16 << 30, sync=True)
    it = items()
    while True:
        with env.begin(write=True) as txn:
            m = 0
            for k, v in it:
                txn.put(k, v); m += 1
                if m >= 10000:
                    break
        count += m
        if m < 10000:
            break
    env.close()
samples.append(("end", round(rss(), 1)))
print(base, hwm(), count, flush=True)
print(repr(samples), flush=True)
"""


def peak_rss(res, tmp, stream, n, cfg):
    vals, extra = {}, {}
    code = textwrap.dedent(RSS_CHILD.format(root=ROOT, table=SQL_TABLE))
    for name in ["oor"] + [E.name for E in anchors() if E.name in ("lmdb", "sqlite")]:
        d = tempfile.mkdtemp(dir=tmp)
        path = os.path.join(d, "rss.db")
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", code, name, path, stream, str(n), "16"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"rss child {name}: {p.stderr[-3000:]}")
        first, second = p.stdout.splitlines()[:2]
        base, peak, count = first.split()
        vals[name] = float(peak)
        extra[name] = {"start_mb": float(base), "peak_mb": float(peak), "sets": int(count),
                       "seconds": time.perf_counter() - t0, "rss_samples_mb": second}
        shutil.rmtree(d, ignore_errors=True)
    res.add("rss", "MB", "lower", vals,
            f"peak RSS (VmHWM) of a fresh process loading {n:,} sets: OOR registry load with a 16 MB pool "
            "(10k-set transactions); SQLite 16 MB cache, 10k-row transactions; LMDB 10k-put transactions "
            "(its RSS counts the mapped file pages it touched)", extra)


# ---- registry level and codec ---------------------------------------------------------------------
def registry_level(res, tmp, cfg, profile):
    files = real_registry_sets(cfg["quick"])
    d = tempfile.mkdtemp(dir=tmp)
    reg = oor.open(os.path.join(d, "reg.oor"))
    for f in files:
        reg.load(f)
    # the same content for the anchors: every stored set, as the registry has it
    recs = {}
    for f in files:
        for es in read_elements(f):
            recs[elset_key(es.norad_id, es.epoch_us, 0)] = encode_record(es)
    items = sorted(recs.items())
    con = sqlite_connect(os.path.join(d, "reg.sqlite"))
    con.execute(SQL_TABLE)
    con.execute("BEGIN")
    con.executemany("INSERT INTO elsets VALUES (?, ?, ?, ?)", rows_of(items))
    con.execute("COMMIT")
    env = None
    if lmdb is not None:
        env = lmdb.open(os.path.join(d, "reg.lmdb"), map_size=4 << 30)
        with env.begin(write=True) as txn:
            txn.cursor().putmulti(items, append=True)
    norads = sorted({split_key(k)[0] for k, _ in items})
    rng = random.Random(13)
    n_probe = cfg["reg_probes"]
    ids = [rng.choice(norads) for _ in range(n_probe)]
    e0 = dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc)
    when = [(rng.choice(norads), e0 + dt.timedelta(days=rng.uniform(0, 1300))) for _ in range(n_probe)]
    hist_ids = sorted({es.norad_id for f in files if f.endswith(".tle") for es in read_elements(f)})
    cur = con.cursor()
    lcur = env.begin(buffers=False).cursor() if env is not None else None

    def sql_latest(n):
        if not 0 <= n <= 999_999_999:
            raise ValueError
        r = cur.execute("SELECT rec FROM elsets WHERE norad = ? ORDER BY epoch DESC, source DESC LIMIT 1",
                        (n,)).fetchone()
        return decode_record(r[0]) if r else None

    def sql_at(n, w):
        us = to_epoch_us(w)
        r = cur.execute("SELECT rec FROM elsets WHERE norad = ? AND epoch <= ? ORDER BY epoch DESC, source DESC "
                        "LIMIT 1", (n, us)).fetchone()
        return decode_record(r[0]) if r else None

    def sql_hist(n):
        return [decode_record(r[0]) for r in
                cur.execute("SELECT rec FROM elsets WHERE norad = ? ORDER BY epoch, source", (n,))]

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

    impl = {"oor": (reg.latest, reg.at, reg.history), "sqlite": (sql_latest, sql_at, sql_hist)}
    if env is not None:
        impl["lmdb"] = (lm_latest, lm_at, lm_hist)
    # sanity: all three agree
    for n in ids[:200]:
        a = [f[0](n) for f in impl.values()]
        assert all(x == a[0] for x in a), n
    lat, at_, hi_ = {}, {}, {}
    total_hist = sum(len(reg.history(n)) for n in hist_ids)
    for name, (fl, fa, fh) in impl.items():
        def r1(fl=fl):
            for n in ids:
                fl(n)

        def r2(fa=fa):
            for n, w in when:
                fa(n, w)

        def r3(fh=fh):
            for n in hist_ids:
                fh(n)
        r1()
        lat[name] = median_time(r1, cfg["rounds"]) / n_probe * 1e6
        at_[name] = median_time(r2, cfg["rounds"]) / n_probe * 1e6
        hi_[name] = total_hist / median_time(r3, cfg["rounds"])
    res.add("reg_latest", "us", "lower", lat,
            f"registry latest(id) on real data ({len(items):,} sets, {len(norads):,} objects), decoded ElementSet")
    res.add("reg_at", "us", "lower", at_, "registry at(id, datetime), decoded ElementSet")
    res.add("reg_history", "sets/s", "higher", hi_,
            f"registry history(id) of the {len(hist_ids)} real histories ({total_hist:,} sets), decoded")
    if profile:
        pr = cProfile.Profile()
        pr.enable()
        for n in ids:
            reg.latest(n)
        pr.disable()
        res.profiles["reg_latest"] = profile_text(pr)
    reg.close()
    con.close()
    if env is not None:
        env.close()
    shutil.rmtree(d, ignore_errors=True)


def tle_pairs(path):
    with open(path) as f:
        lines = f.read().splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("1 ") and i + 1 < len(lines) and lines[i + 1].startswith("2 "):
            out.append((lines[i - 1] if i and not lines[i - 1].startswith(("1 ", "2 ")) else "",
                        lines[i], lines[i + 1]))
            i += 2
        else:
            i += 1
    return out


def sgp4_sqlite_ingest(path, dbpath):
    """The anchor pipeline: read the file, sgp4 Satrec.twoline2rv each pair, insert into SQLite, commit (fsync)."""
    pairs = tle_pairs(path)
    con = sqlite_connect(dbpath)
    con.execute(SQL_TABLE)
    rows = {}
    for name, l1, l2 in pairs:
        s = Satrec.twoline2rv(l1, l2)
        if s.error:
            continue
        # epoch: jdsatepoch + fraction -> microseconds since 1950-01-01 (JD 2433282.5)
        us = round(((s.jdsatepoch - 2433282.5) + s.jdsatepochF) * 86_400_000_000)
        rows[(s.satnum, us)] = "\n".join((name, l1, l2)).encode()
    con.execute("BEGIN")
    con.executemany("INSERT OR REPLACE INTO elsets VALUES (?, ?, 0, ?)", [(k[0], k[1], v) for k, v in rows.items()])
    con.execute("COMMIT")
    con.close()
    return len(rows)


def sgp4_lmdb_ingest(path, dbpath):
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


def codec_and_ingest(res, tmp, cfg, profile):
    if Satrec is None:  # pragma: no cover
        res.notes.append("sgp4 not importable: codec and ingest anchors skipped")
        return
    pairs = tle_pairs(CATALOG)

    def ours():
        for _ in read_elements(CATALOG):
            pass

    def theirs():
        for _n, a, b in tle_pairs(CATALOG):
            Satrec.twoline2rv(a, b)
    ours()
    vals = {"oor": median_time(ours, cfg["rounds"]) / len(pairs) * 1e6,
            "sgp4": median_time(theirs, cfg["rounds"]) / len(pairs) * 1e6}
    res.add("parse", "us", "lower", vals, f"parse catalog-2022-07 ({len(pairs):,} sets) from the file: OOR "
            "read_elements (checksums, validation, ElementSet) vs sgp4 line split + Satrec.twoline2rv")

    def run(fn):
        out = []
        for _ in range(cfg["rounds_load"]):
            d = tempfile.mkdtemp(dir=tmp)
            gc.collect()
            out.append(fn(d))
            shutil.rmtree(d, ignore_errors=True)
        return statistics.median(out)

    def timed(fn):
        def wrapped(d):
            t0 = time.perf_counter()
            fn(d)
            return time.perf_counter() - t0
        return wrapped

    def oor_ingest(d):
        t0 = time.perf_counter()
        reg = oor.open(os.path.join(d, "ingest.oor"))
        reg.load(CATALOG)                 # durable: every 10k-set commit fsyncs the WAL
        el = time.perf_counter() - t0
        reg.close()                       # checkpoint: not timed (the anchors have none to do)
        return el

    vals = {"oor": run(oor_ingest),
            "sqlite": run(timed(lambda d: sgp4_sqlite_ingest(CATALOG, os.path.join(d, "i.sqlite"))))}
    if lmdb is not None:
        vals["lmdb"] = run(timed(lambda d: sgp4_lmdb_ingest(CATALOG, os.path.join(d, "i.lmdb"))))
    res.add("ingest", "s", "lower", vals,
            "end to end ingest of catalog-2022-07: OOR oor.open(new).load(file) (parse, validate, 4 trees, "
            "fsync per 10k-set commit; close not timed) vs read + sgp4 twoline2rv + one SQLite (or LMDB) "
            "transaction with (norad, epoch, 0, 3LE text), fsync")
    if profile:
        d = tempfile.mkdtemp(dir=tmp)
        reg = oor.open(os.path.join(d, "ingest.oor"))
        pr = cProfile.Profile()
        pr.enable()
        reg.load(CATALOG)
        pr.disable()
        reg.close()
        shutil.rmtree(d, ignore_errors=True)
        res.profiles["ingest"] = profile_text(pr)


def profile_text(pr, n=16):
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(n)
    return s.getvalue()


# ---- targets, table, chart ----------------------------------------------------------------------
def evaluate(res):
    out = []
    for m, anchor, op, thr in TARGETS:
        meas = res.measures.get(m)
        if meas is None:
            continue
        if anchor == "abs":
            val = meas["values"]["oor"]
            label = f"OOR {fmt(val, meas['unit'])} {op} {fmt(thr, meas['unit'])}"
        else:
            if anchor not in meas["ratios"]:
                continue
            val = meas["ratios"][anchor]
            label = f"OOR/{anchor} {val:.2f}x {op} {thr}x"
        ok = {"<=": val <= thr, "<": val < thr, ">=": val >= thr}[op]
        out.append({"measure": m, "anchor": anchor, "op": op, "threshold": thr, "value": val, "met": ok,
                    "label": label})
    return out


def print_table(res, targets):
    engines = []
    for m in res.measures.values():
        for e in m["values"]:
            if e not in engines:
                engines.append(e)
    print()
    hdr = f"{'measure':12} {'unit':10}" + "".join(f"{e:>14}" for e in engines) + "   ratios OOR/anchor"
    print(hdr)
    print("-" * len(hdr))
    for name, m in res.measures.items():
        row = f"{name:12} {m['unit']:10}"
        for e in engines:
            v = m["values"].get(e)
            row += f"{'' if v is None else num(v):>14}"
        row += "   " + "  ".join(f"{a} {r:.2f}x" for a, r in m["ratios"].items())
        print(row)
    print("\ntargets (issue 7):")
    for t in targets:
        print(f"  {t['measure']:10} {t['label']:40} {'met' if t['met'] else 'NOT met'}")
    for n in res.notes:
        print("note:", n)


def num(v):
    if v >= 1e5:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.3f}"
    return f"{v:.5f}"


def chart(res, targets, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        res.notes.append("matplotlib not installed (pip install -e '.[chart]'): no chart written")
        return None
    rows = []
    for name, m in res.measures.items():
        for a, r in m["ratios"].items():
            speed = (1 / r) if m["better"] == "lower" else r     # > 1: OOR better
            rows.append((f"{name} vs {a}", speed))
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.5))
    labels = [r[0] for r in rows][::-1]
    vals = [r[1] for r in rows][::-1]
    ax.barh(labels, vals, color=["tab:green" if v >= 1 else "tab:red" for v in vals])
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("OOR advantage (anchor time / OOR time, or OOR rate / anchor rate); > 1: OOR better")
    met = sum(t["met"] for t in targets)
    ax.set_title(f"OOR vs anchors — targets met {met}/{len(targets)}  ({res.meta['mode']}, "
                 f"{res.meta['when'][:10]})")
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---- main -------------------------------------------------------------------------------------
def config(args):
    if args.quick:
        return {"quick": True, "sets": args.sets or 1500, "copies": 4, "probes": 2000, "hist_probes": 100,
                "rounds": 2, "rounds_load": 1, "commits": 20, "group_per_thread": 5, "recovery": 2000,
                "rss_sets": 5000, "reg_probes": 1000}
    return {"quick": False, "sets": args.sets, "copies": 40, "probes": 100_000, "hist_probes": 5000,
            "rounds": 5, "rounds_load": 3, "commits": 500, "group_per_thread": 100, "recovery": 50_000,
            "rss_sets": 1_000_000, "reg_probes": 20_000}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data, few rounds (smoke test)")
    ap.add_argument("--sets", type=int, default=None, help="use the first N sets of the catalog")
    ap.add_argument("--profile", action="store_true", help="cProfile OOR's side of unmet targets")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    ap.add_argument("--no-chart", action="store_true")
    args = ap.parse_args(argv)
    cfg = config(args)
    t_start = time.perf_counter()
    res = Results()
    res.meta = {"mode": "quick" if cfg["quick"] else "full", "when": dt.datetime.now(dt.timezone.utc).isoformat(),
                "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
                "lmdb": ".".join(map(str, lmdb.version())) if lmdb else None,
                "machine": f"{platform.machine()} {os.cpu_count()} cpus", "config": cfg}
    if lmdb is None:
        res.notes.append("py-lmdb not importable: LMDB anchor skipped (pip install -e '.[bench]')")
    if bdb is None:
        res.notes.append("Berkeley DB (berkeleydb / bsddb3) not importable: anchor skipped")
    tmp = tempfile.mkdtemp(prefix="oor-bench-")
    try:
        note(f"data: {CATALOG}")
        cat = catalog_sets(cfg["sets"])
        t0 = time.perf_counter()
        rss_copies = max(cfg["copies"], -(-cfg["rss_sets"] // len(cat)))
        allh = synth_history(cat, rss_copies)
        stream = os.path.join(tmp, "history.bin")
        # the RSS children stream 1M sets from this file in arrival order (copy after copy), so that the
        # loads are not sorted: copy k of every object, then copy k+1 ...
        by_copy = sorted(allh, key=lambda kv: (kv[0][:4], kv[0][4:12]), reverse=True)
        order = {}
        arrival = []
        for k, v in by_copy:
            c = order.get(k[:4], 0)
            order[k[:4]] = c + 1
            arrival.append((c, k, v))
        arrival.sort(key=lambda t: (t[0], t[1]))
        write_stream(stream, ((k, v) for _c, k, v in arrival[:cfg["rss_sets"]]))
        n_rss = min(cfg["rss_sets"], len(arrival))
        del by_copy, arrival, order
        keep = {}
        hist = []
        for k, v in allh:
            c = keep.get(k[:4], 0)
            keep[k[:4]] = c + 1
        # the history: the newest `copies` sets of each object
        seen = {}
        for k, v in reversed(allh):
            c = seen.get(k[:4], 0)
            if c < cfg["copies"]:
                hist.append((k, v))
            seen[k[:4]] = c + 1
        hist.reverse()
        del allh, keep, seen
        note(f"data: {len(cat):,} catalog sets, history x{cfg['copies']} = {len(hist):,} sets, "
             f"{n_rss:,} sets for RSS (prepared in {time.perf_counter() - t0:.1f} s)")
        res.meta.update({"catalog_sets": len(cat), "history_sets": len(hist), "rss_sets": n_rss})
        note("engine level:")
        engine_level(res, tmp, cat, hist, cfg, args.profile)
        del hist
        recovery(res, tmp, stream, cfg, args.profile)
        peak_rss(res, tmp, stream, n_rss, cfg)
        note("registry level and codec:")
        registry_level(res, tmp, cfg, args.profile)
        codec_and_ingest(res, tmp, cfg, args.profile)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    targets = evaluate(res)
    res.meta["seconds"] = time.perf_counter() - t_start
    out = args.out
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    png = None
    if not args.no_chart:
        png = chart(res, targets, os.path.splitext(out)[0] + ".png")
    print_table(res, targets)
    doc = {"meta": res.meta, "measures": res.measures, "targets": targets, "notes": res.notes,
           "profiles": res.profiles, "chart": os.path.basename(png) if png else None}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    print(f"\nwrote {out}" + (f" and {png}" if png else "") + f" in {res.meta['seconds']:.0f} s")
    return doc


if __name__ == "__main__":
    main()
