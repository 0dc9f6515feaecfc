"""The engines of the user-level benchmark (issue 17): OOR through its public API, and each peer doing the same job
the natural way.

Owns: one class per engine with the same methods -- ``ingest(files)`` (open a new store, load every file from
text, durable, close), ``open()`` (reopen for reading, as a second program would), ``latest(ids)``,
``at(probes)``, ``history(ids)``, ``scan()``, ``find(prefixes)``, ``export(path)`` (each returning how many line
pairs it produced, so that the harness can compare the engines' answers), ``size()`` (bytes of every file the store
left after close) and ``check_argv()`` (the integrity check a user would run, as a command line, or None).  What
every read returns is what a user needs: the two TLE lines of each set (a name line too for export).

OOR: ``oor.open`` (defaults: the 8,192-page pool of oor.storage.DEFAULT_POOL_PAGES, sync="full"), ``Registry.load(path, source_name=...)`` per file (its
own 10,000-set durable commits), ``latest/at/history/scan/find`` then ``es.line1, es.line2``, ``export(path,
format="3le")``, and ``python -m oor check --db`` for the check.

Peers parse with sgp4's ``Satrec.twoline2rv`` (the fields stored) after a plain line split
(``user_data.read_triples``; the name from the "0 " line), keep the sets sgp4 parses but cannot propagate (its
``error`` code, set by the propagator's start: JWST's 0.988-eccentric set 50463 of catalog-2022-01, error 3, which a
registry stores like any other), drop exact repeats within a
load (same object, epoch, source and lines) and number the sets of one (object, epoch) with ``seq``, as the
registry does; one durable transaction per file.  Each stores the parsed fields, name, source and both lines:

- SQLite (stdlib): ``journal_mode=WAL``, ``synchronous=FULL``, default cache; table ``elsets`` keyed (norad, epoch,
  seq) WITHOUT ROWID, ``name COLLATE NOCASE`` with an index (prefix ``LIKE`` uses it); the check is ``PRAGMA
  integrity_check`` in a fresh process.
- LMDB (py-lmdb): ``sync=True, metasync=True``; db ``elsets`` keyed norad u32 BE | epoch i64 BE sign-flipped | seq
  u16 BE -> packed fields + name + source + lines; db ``names`` keyed NAME (upper case) | 0 | norad -> empty.
- RocksDB (rocksdict, raw mode): the same keys and values, names in a column family, ``WriteBatch`` per file
  written with ``sync=True``.
- DuckDB: the SQLite table (primary key (norad, epoch, seq), an index on name), rows inserted per file from a
  pyarrow table; used for the whole-catalog operations only (ingest, scan, find, export, size), as in the issue.
- Berkeley DB (``berkeleydb``, when it imports): a transactional environment whose lock table is sized for a whole
  file's transaction (``set_lk_max_locks/objects``), so it cannot run out of lock entries.

Caller: bench/user.py.
"""
import gc
import os
import struct
import sys

from user_data import E1950, ROOT, read_triples

KEY = struct.Struct(">IQH")
SIGN = 1 << 63
# epoch_jd, epoch_jdF, inclo, nodeo, ecco, argpo, mo, no_kozai, bstar, ndot, nddot, elnum, revnum, class,
# intldesg (8), lengths of name, source, line1, line2
HDR = struct.Struct("<11d2ic8s4B")
# the child's own peak RSS, printed last on stderr: VmHWM belongs to the process's memory map, which exec
# renews (wait4's ru_maxrss keeps the forking parent's high-water mark across the exec: 197 MB for both)
HWM = ("print('VmHWM', [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0], "
       "file=sys.stderr); ")
US = __import__("datetime").timedelta(microseconds=1)


def dir_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for dp, _dn, fns in os.walk(path):
        for f in fns:
            total += os.path.getsize(os.path.join(dp, f))
    return total


def parsed_rows(files):
    """Per file: (source, [row]) with row = (norad, epoch_us, seq, name, source, satrec, line1, line2)."""
    from sgp4.api import Satrec
    seen = {}
    for path, src in files:
        rows = []
        for name, l1, l2 in read_triples(path):
            s = Satrec.twoline2rv(l1, l2)
            us = round(((s.jdsatepoch - 2433282.5) + s.jdsatepochF) * 86_400_000_000)
            k = (s.satnum, us)
            ident = (src, l1[:68], l2[:68])
            got = seen.get(k)
            if got is None:
                seen[k] = [ident]
                seq = 0
            elif ident in got:
                continue
            else:
                seq = len(got)
                got.append(ident)
            rows.append((s.satnum, us, seq, name, src, s, l1, l2))
        yield src, rows


def kv_pair(r):
    norad, us, seq, name, src, s, l1, l2 = r
    nb, sb, b1, b2 = name.encode(), src.encode(), l1.encode(), l2.encode()
    v = HDR.pack(s.jdsatepoch, s.jdsatepochF, s.inclo, s.nodeo, s.ecco, s.argpo, s.mo, s.no_kozai, s.bstar,
                 s.ndot, s.nddot, s.elnum, s.revnum, s.classification.encode()[:1] or b"U",
                 s.intldesg.encode()[:8], len(nb), len(sb), len(b1), len(b2)) + nb + sb + b1 + b2
    return KEY.pack(norad, us + SIGN, seq), v


def kv_lines(v):
    """(line1, line2) of a packed value."""
    h = HDR.size
    ln, ls, l1, l2 = v[h - 4], v[h - 3], v[h - 2], v[h - 1]
    a = h + ln + ls
    return v[a:a + l1].decode(), v[a + l1:a + l1 + l2].decode()


def kv_name(v):
    h = HDR.size
    return v[h:h + v[h - 4]].decode()


def name_key(name, norad):
    return name.upper().encode() + b"\0" + norad.to_bytes(4, "big")


def us_of(t):
    return (t - E1950) // US


# ---- OOR --------------------------------------------------------------------------------------------------
class OOR:
    name = "oor"
    point_reads = True

    def __init__(self, d):
        self.path = os.path.join(d, "catalog.oor")
        self.dir = d
        self.reg = None

    def ingest(self, files):
        import oor
        reg = oor.open(self.path)
        for p, src in files:
            reg.load(p, source_name=src)
        reg.close()

    def open(self):
        import oor
        self.reg = oor.open(self.path)

    def latest(self, ids):
        f = self.reg.latest
        n = 0
        for i in ids:
            es = f(i)
            if es is not None:
                es.line1, es.line2
                n += 1
        return n

    def at(self, probes):
        f = self.reg.at
        n = 0
        for i, t in probes:
            es = f(i, t)
            if es is not None:
                es.line1, es.line2
                n += 1
        return n

    def history(self, ids):
        f = self.reg.history
        n = 0
        for i in ids:
            n += len([(es.line1, es.line2) for es in f(i)])
        return n

    def scan(self):
        return len([(es.line1, es.line2) for es in self.reg.scan()])

    def find(self, prefixes):
        n = 0
        for p in prefixes:
            n += len([(es.line1, es.line2) for es in self.reg.find(p)])
        return n

    def export(self, path):
        return int(self.reg.export(path, format="3le"))

    def close(self):
        if self.reg is not None:
            self.reg.close()
            self.reg = None

    def size(self):
        return sum(dir_bytes(os.path.join(self.dir, f)) for f in os.listdir(self.dir) if f.startswith("catalog.oor"))

    def main_size(self):
        return os.path.getsize(self.path)

    def check_argv(self):
        # `oor check --db PATH` in a fresh interpreter, which then reports its own peak RSS (see HWM)
        return [sys.executable, "-c", "import sys; from oor.cli import main; rc = main(sys.argv[1:]); " + HWM
                + "sys.exit(rc)", "check", "--db", self.path]


# ---- SQLite -----------------------------------------------------------------------------------------------
SQL_COLS = ("norad INTEGER NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT COLLATE NOCASE, "
            "source TEXT, classification TEXT, intldesg TEXT, epoch_jd REAL, inclo REAL, nodeo REAL, ecco REAL, "
            "argpo REAL, mo REAL, no_kozai REAL, bstar REAL, ndot REAL, nddot REAL, elnum INTEGER, revnum INTEGER, "
            "line1 TEXT NOT NULL, line2 TEXT NOT NULL, PRIMARY KEY (norad, epoch, seq)")


def sql_row(r):
    norad, us, seq, name, src, s, l1, l2 = r
    return (norad, us, seq, name, src, s.classification, s.intldesg, s.jdsatepoch + s.jdsatepochF, s.inclo,
            s.nodeo, s.ecco, s.argpo, s.mo, s.no_kozai, s.bstar, s.ndot, s.nddot, s.elnum, s.revnum, l1, l2)


Q_LATEST = "SELECT line1, line2 FROM elsets WHERE norad = ? ORDER BY epoch DESC, seq DESC LIMIT 1"
Q_AT = "SELECT line1, line2 FROM elsets WHERE norad = ? AND epoch <= ? ORDER BY epoch DESC, seq DESC LIMIT 1"
Q_HIST = "SELECT line1, line2 FROM elsets WHERE norad = ? ORDER BY epoch, seq"
# latest of every object: one correlated seek per distinct object (measured on the real set: 0.14 s, against
# 0.27-0.33 s for row_number() OVER (PARTITION BY norad ...) = 1, which reads every row, and 0.19 s for a join on
# the (epoch, seq) of that seek); the three columns come back joined by newlines and are split in Python
Q_SCAN = ("SELECT (SELECT coalesce(name, '') || char(10) || line1 || char(10) || line2 FROM elsets "
          "WHERE norad = o.norad ORDER BY epoch DESC, seq DESC LIMIT 1) FROM (SELECT DISTINCT norad FROM elsets) o")


class SQLite:
    name = "sqlite"
    point_reads = True

    def __init__(self, d):
        self.path = os.path.join(d, "catalog.sqlite")
        self.con = None

    def _connect(self):
        import sqlite3
        con = sqlite3.connect(self.path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        return con

    def ingest(self, files):
        con = self._connect()
        con.execute(f"CREATE TABLE elsets ({SQL_COLS}) WITHOUT ROWID")
        con.execute("CREATE INDEX elsets_name ON elsets (name)")
        ins = "INSERT INTO elsets VALUES (" + ", ".join("?" * 21) + ")"
        for _src, rows in parsed_rows(files):
            con.execute("BEGIN")
            con.executemany(ins, [sql_row(r) for r in rows])
            con.execute("COMMIT")
        con.close()

    def open(self):
        self.con = self._connect()
        self.cur = self.con.cursor()

    def latest(self, ids):
        ex = self.cur.execute
        n = 0
        for i in ids:
            if ex(Q_LATEST, (i,)).fetchone() is not None:
                n += 1
        return n

    def at(self, probes):
        ex = self.cur.execute
        n = 0
        for i, t in probes:
            if ex(Q_AT, (i, us_of(t))).fetchone() is not None:
                n += 1
        return n

    def history(self, ids):
        ex = self.cur.execute
        return sum(len(ex(Q_HIST, (i,)).fetchall()) for i in ids)

    def scan(self):
        return len([r[0].split("\n")[1:] for r in self.con.execute(Q_SCAN)])

    def find(self, prefixes):
        ex = self.cur.execute
        n = 0
        for p in prefixes:
            like = p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            ids = [r[0] for r in ex("SELECT DISTINCT norad FROM elsets WHERE name LIKE ? ESCAPE '\\' ORDER BY norad",
                                    (like,)).fetchall()]
            n += len([ex(Q_LATEST, (i,)).fetchone() for i in ids])
        return n

    def export(self, path):
        n = 0
        with open(path, "w") as f:
            for (r,) in self.con.execute(Q_SCAN):
                name, a, b = r.split("\n")
                f.write(f"0 {name}\n{a}\n{b}\n" if name else f"{a}\n{b}\n")
                n += 1
        return n

    def close(self):
        if self.con is not None:
            self.con.close()
            self.con = None

    def size(self):
        return sum(os.path.getsize(self.path + s) for s in ("", "-wal", "-shm") if os.path.exists(self.path + s))

    def main_size(self):
        return os.path.getsize(self.path)

    def check_argv(self):
        code = ("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); r=c.execute('PRAGMA integrity_check').fetchall(); "
                + HWM + "sys.exit(0 if r==[('ok',)] else 1)")
        return [sys.executable, "-c", code, self.path]


# ---- the key-value peers (LMDB, RocksDB): same keys, values and name index ------------------------------------
class _KV:
    point_reads = True

    def _latest_v(self, norad):       # -> value or None
        raise NotImplementedError

    def latest(self, ids):
        f = self._latest_v
        n = 0
        for i in ids:
            v = f(i)
            if v is not None:
                kv_lines(v)
                n += 1
        return n

    def find(self, prefixes):
        n = 0
        for p in prefixes:
            for i in sorted(self._name_ids(p.upper().encode())):
                v = self._latest_v(i)
                if v is not None:
                    kv_lines(v)
                    n += 1
        return n

    def export(self, path):
        n = 0
        with open(path, "w") as f:
            for v in self._scan_values():
                name = kv_name(v)
                a, b = kv_lines(v)
                f.write(f"0 {name}\n{a}\n{b}\n" if name else f"{a}\n{b}\n")
                n += 1
        return n

    def scan(self):
        return len([kv_lines(v) for v in self._scan_values()])


class LMDB(_KV):
    name = "lmdb"

    def __init__(self, d):
        self.path = os.path.join(d, "catalog.lmdb")
        self.env = None

    def _env(self, readonly=False):
        import lmdb
        env = lmdb.open(self.path, map_size=1 << 38, max_dbs=2, sync=True, metasync=True, readonly=readonly,
                        lock=not readonly)
        return env, env.open_db(b"elsets"), env.open_db(b"names")

    def ingest(self, files):
        env, el, nm = self._env()
        for _src, rows in parsed_rows(files):
            with env.begin(write=True) as txn:
                put = txn.put
                for r in rows:
                    k, v = kv_pair(r)
                    put(k, v, db=el)
                    if r[3]:
                        put(name_key(r[3], r[0]), b"", db=nm)
        env.close()

    def open(self):
        self.env, self.el, self.nm = self._env(readonly=True)

    def _latest_v(self, norad):
        with self.env.begin(db=self.el) as txn:
            c = txn.cursor()
            if not c.set_range(KEY.pack(norad + 1, 0, 0)):
                if not c.last():
                    return None
            elif not c.prev():
                return None
            k = c.key()
            return c.value() if k[:4] == norad.to_bytes(4, "big") else None

    def at(self, probes):
        n = 0
        for i, t in probes:
            with self.env.begin(db=self.el) as txn:
                c = txn.cursor()
                hi = KEY.pack(i, us_of(t) + SIGN, 0xFFFF)
                ok = c.set_range(hi)
                if ok and c.key() == hi:
                    pass
                elif not (c.prev() if ok else c.last()):
                    continue
                if c.key()[:4] == i.to_bytes(4, "big"):
                    kv_lines(c.value())
                    n += 1
        return n

    def history(self, ids):
        n = 0
        for i in ids:
            with self.env.begin(db=self.el) as txn:
                c = txn.cursor()
                hi = KEY.pack(i + 1, 0, 0)
                out = []
                if c.set_range(KEY.pack(i, 0, 0)):
                    for k, v in c:
                        if k >= hi:
                            break
                        out.append(kv_lines(v))
                n += len(out)
        return n

    def _scan_values(self):
        with self.env.begin(db=self.el) as txn:
            c = txn.cursor()
            ok = c.first()
            while ok:
                norad = KEY.unpack(c.key())[0]
                ok = c.set_range(KEY.pack(norad + 1, 0, 0))
                if ok:
                    c.prev()
                else:
                    c.last()
                yield c.value()
                if ok:
                    c.next()

    def _name_ids(self, pre):
        ids = set()
        with self.env.begin(db=self.nm) as txn:
            c = txn.cursor()
            if c.set_range(pre):
                for k in c.iternext(keys=True, values=False):
                    if not k.startswith(pre):
                        break
                    ids.add(int.from_bytes(k[-4:], "big"))
        return ids

    def close(self):
        if self.env is not None:
            self.env.close()
            self.env = None

    def size(self):
        return dir_bytes(self.path)

    def check_argv(self):
        return None


class RocksDB(_KV):
    name = "rocksdb"

    def __init__(self, d):
        self.path = os.path.join(d, "catalog.rocks")
        self.db = None

    def _open(self):
        from rocksdict import Options, Rdict
        o = Options(raw_mode=True)
        o.create_if_missing(True)
        o.create_missing_column_families(True)
        return Rdict(self.path, o, column_families={"names": Options(raw_mode=True)})

    def ingest(self, files):
        from rocksdict import WriteBatch, WriteOptions
        db = self._open()
        cf = db.get_column_family_handle("names")
        wo = WriteOptions()
        wo.sync = True
        for _src, rows in parsed_rows(files):
            wb = WriteBatch(raw_mode=True)
            for r in rows:
                k, v = kv_pair(r)
                wb.put(k, v)
                if r[3]:
                    wb.put(name_key(r[3], r[0]), b"", cf)
            db.write(wb, wo)
            del wb
        del cf
        db.close()
        gc.collect()

    def open(self):
        self.db = self._open()
        self.names = self.db.get_column_family("names")
        self.it = self.db.iter()

    def _latest_v(self, norad):
        it = self.it
        it.seek_for_prev(KEY.pack(norad, 0xFFFFFFFFFFFFFFFF, 0xFFFF))
        if it.valid() and it.key()[:4] == norad.to_bytes(4, "big"):
            return it.value()
        return None

    def at(self, probes):
        it = self.it
        n = 0
        for i, t in probes:
            it.seek_for_prev(KEY.pack(i, us_of(t) + SIGN, 0xFFFF))
            if it.valid() and it.key()[:4] == i.to_bytes(4, "big"):
                kv_lines(it.value())
                n += 1
        return n

    def history(self, ids):
        it = self.it
        n = 0
        for i in ids:
            hi = KEY.pack(i + 1, 0, 0)
            it.seek(KEY.pack(i, 0, 0))
            out = []
            while it.valid():
                if it.key() >= hi:
                    break
                out.append(kv_lines(it.value()))
                it.next()
            n += len(out)
        return n

    def _scan_values(self):
        it = self.db.iter()
        it.seek_to_first()
        while it.valid():
            norad = KEY.unpack(it.key())[0]
            it.seek_for_prev(KEY.pack(norad, 0xFFFFFFFFFFFFFFFF, 0xFFFF))
            yield it.value()
            it.seek(KEY.pack(norad + 1, 0, 0))
        del it

    def _name_ids(self, pre):
        ids = set()
        it = self.names.iter()
        it.seek(pre)
        while it.valid():
            k = it.key()
            if not k.startswith(pre):
                break
            ids.add(int.from_bytes(k[-4:], "big"))
            it.next()
        del it
        return ids

    def close(self):
        if self.db is not None:
            del self.it
            self.names.close()
            del self.names
            self.db.close()
            self.db = None
            gc.collect()

    def size(self):
        return dir_bytes(self.path)

    def check_argv(self):
        return None


# ---- DuckDB (whole-catalog operations) --------------------------------------------------------------------
DUCK_SCAN = ("SELECT name, line1, line2 FROM elsets QUALIFY row_number() OVER "
             "(PARTITION BY norad ORDER BY epoch DESC, seq DESC) = 1 ORDER BY norad")


class DuckDB:
    name = "duckdb"
    point_reads = False

    def __init__(self, d):
        self.path = os.path.join(d, "catalog.duckdb")
        self.con = None

    def ingest(self, files):
        import duckdb
        import pyarrow as pa
        con = duckdb.connect(self.path)
        con.execute(f"CREATE TABLE elsets ({SQL_COLS.replace(' COLLATE NOCASE', '').replace('INTEGER', 'BIGINT')})")
        con.execute("CREATE INDEX elsets_name ON elsets (name)")
        names = [c.split()[0] for c in SQL_COLS.split(", ")[:21]]
        for _src, rows in parsed_rows(files):
            cols = list(zip(*[sql_row(r) for r in rows])) if rows else [[] for _ in names]
            tbl = pa.table({n: list(c) for n, c in zip(names, cols)})   # noqa: F841 (read by the query below)
            con.execute("BEGIN")
            con.execute("INSERT INTO elsets SELECT * FROM tbl")
            con.execute("COMMIT")
        con.close()

    def open(self):
        import duckdb
        self.con = duckdb.connect(self.path, read_only=True)

    def scan(self):
        return len([(a, b) for _n, a, b in self.con.execute(DUCK_SCAN).fetchall()])

    def find(self, prefixes):
        n = 0
        for p in prefixes:
            rows = self.con.execute(
                "SELECT line1, line2 FROM elsets WHERE norad IN (SELECT norad FROM elsets WHERE "
                "starts_with(upper(name), ?)) QUALIFY row_number() OVER (PARTITION BY norad ORDER BY epoch DESC, "
                "seq DESC) = 1 ORDER BY norad", [p.upper()]).fetchall()
            n += len(rows)
        return n

    def export(self, path):
        n = 0
        with open(path, "w") as f:
            for name, a, b in self.con.execute(DUCK_SCAN).fetchall():
                f.write(f"0 {name}\n{a}\n{b}\n" if name else f"{a}\n{b}\n")
                n += 1
        return n

    def close(self):
        if self.con is not None:
            self.con.close()
            self.con = None

    def size(self):
        return sum(os.path.getsize(self.path + s) for s in ("", ".wal") if os.path.exists(self.path + s))

    def check_argv(self):
        return None


# ---- Berkeley DB (when berkeleydb imports) ----------------------------------------------------------------
class BDB(_KV):
    name = "bdb"

    def __init__(self, d):
        self.path = os.path.join(d, "catalog.bdb")
        self.env = None

    def _open(self, create):
        from berkeleydb import db
        os.makedirs(self.path, exist_ok=True)
        env = db.DBEnv()
        # one file's transaction locks every page it touches: size the lock table for the biggest file
        # (the default 1,000 entries is what "Lock table is out of available lock entries" ran out of)
        env.set_lk_max_locks(1 << 20)
        env.set_lk_max_objects(1 << 20)
        env.set_lk_max_lockers(1 << 12)
        env.set_cachesize(0, 64 << 20, 1)
        env.open(self.path, db.DB_CREATE | db.DB_INIT_MPOOL | db.DB_INIT_LOCK | db.DB_INIT_LOG | db.DB_INIT_TXN
                 | db.DB_RECOVER)
        el = db.DB(env)
        nm = db.DB(env)
        flags = (db.DB_CREATE if create else 0) | db.DB_AUTO_COMMIT
        el.open("elsets.db", None, db.DB_BTREE, flags)
        nm.open("names.db", None, db.DB_BTREE, flags)
        return env, el, nm

    def ingest(self, files):
        env, el, nm = self._open(True)
        for _src, rows in parsed_rows(files):
            txn = env.txn_begin()
            for r in rows:
                k, v = kv_pair(r)
                el.put(k, v, txn=txn)
                if r[3]:
                    nm.put(name_key(r[3], r[0]), b"", txn=txn)
            txn.commit()
        el.close()
        nm.close()
        env.close()

    def open(self):
        self.env, self.el, self.nm = self._open(False)

    def _seek_prev(self, key):
        c = self.el.cursor()
        try:
            r = c.set_range(key)
            if r is not None and r[0] == key:
                return r
            return c.prev() if r is not None else c.last()
        finally:
            c.close()

    def _latest_v(self, norad):
        r = self._seek_prev(KEY.pack(norad + 1, 0, 0))
        return r[1] if r is not None and r[0][:4] == norad.to_bytes(4, "big") else None

    def at(self, probes):
        n = 0
        for i, t in probes:
            r = self._seek_prev(KEY.pack(i, us_of(t) + SIGN, 0xFFFF))
            if r is not None and r[0][:4] == i.to_bytes(4, "big"):
                kv_lines(r[1])
                n += 1
        return n

    def history(self, ids):
        n = 0
        for i in ids:
            c = self.el.cursor()
            hi = KEY.pack(i + 1, 0, 0)
            r = c.set_range(KEY.pack(i, 0, 0))
            while r is not None and r[0] < hi:
                kv_lines(r[1])
                n += 1
                r = c.next()
            c.close()
        return n

    def _scan_values(self):
        c = self.el.cursor()
        r = c.first()
        while r is not None:
            norad = KEY.unpack(r[0])[0]
            nxt = c.set_range(KEY.pack(norad + 1, 0, 0))
            r = c.prev() if nxt is not None else c.last()
            yield r[1]
            r = c.next()
        c.close()

    def _name_ids(self, pre):
        ids = set()
        c = self.nm.cursor()
        r = c.set_range(pre)
        while r is not None and r[0].startswith(pre):
            ids.add(int.from_bytes(r[0][-4:], "big"))
            r = c.next()
        c.close()
        return ids

    def close(self):
        if self.env is not None:
            self.el.close()
            self.nm.close()
            self.env.close()
            self.env = None

    def size(self):
        return dir_bytes(self.path)

    def check_argv(self):
        return None


def available():
    """[(engine class, None) or (None, note)] of every engine, OOR first."""
    out = [(OOR, None), (SQLite, None)]
    for cls, mod in ((LMDB, "lmdb"), (RocksDB, "rocksdict"), (DuckDB, "duckdb"), (BDB, "berkeleydb")):
        try:
            __import__(mod)
            if mod == "duckdb":
                __import__("pyarrow")
            out.append((cls, None))
        except ImportError:
            out.append((None, f"{cls.name}: `{mod}` does not import here, skipped"))
    return out


def oor_env():
    """The environment for child processes that must import this tree's oor.

    Byte code is cached (in a directory outside the project), as for an installed package: with
    PYTHONDONTWRITEBYTECODE set, as on the machine here, every `oor check` process compiled oor's 42
    modules again (0.15-0.9 s on a loaded machine, against 0.05 s for the import from .pyc), a cost no
    user pays and SQLite's side (the standard library's .pyc) never had."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(os.environ.get("OOR_BENCH_CACHE", "/tmp/oor-bench-user"), "pycache")
    return env
