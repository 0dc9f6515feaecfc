"""Durability of the storage engine with real processes: clean close, crashes (os._exit / SIGKILL),
crashes between a data write and a checkpoint, log truncation, abort, sync modes, read-only opens,
the writer lock, and a crash in the middle of recovery.

Crashes here are process crashes: whatever the process handed the OS survives.
Power loss (unsynced writes lost or torn) is tests/test_powerloss.py's subject.
"""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from oor.wal import WAL
from oor_core import logformat as LF
from oor.storage import open_database
from oor.vfs import OsVfs
from oor_core.errors import DatabaseLockedError, OorError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PRELUDE = """
import os, sys, signal, random
sys.path.insert(0, {root!r})
from oor.storage import open_database, Database
def key(i):
    return b"key-%012d" % i
def val(i, big=False):
    return (b"value-%d-" % i) * (300 if big else 3)
""".format(root=ROOT)


def run_child(body, *args, check_rc=None, timeout=120):
    """Run PRELUDE + body in a fresh interpreter; returns (returncode, stdout lines)."""
    code = PRELUDE + textwrap.dedent(body)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check_rc is not None and p.returncode != check_rc:
        raise AssertionError(f"child exited {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return p.returncode, p.stdout.splitlines()


def key(i):
    return b"key-%012d" % i


def val(i, big=False):
    return (b"value-%d-" % i) * (300 if big else 3)


def assert_clean(db, *names):
    for n in names or db.tree_names():
        assert db.tree(n)._check() == [], n
    assert db.check() == []


# ---- clean close ---------------------------------------------------------------------------
def test_5000_inserts_clean_close_nothing_to_redo(tmp_path):
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=64)          # small pool: pages are evicted during the load
    t = db.tree("t", create=True)
    for b in range(10):
        with db.transaction():
            for i in range(b * 500, b * 500 + 500):
                t.insert(key(i), val(i))
    assert len(t) == 5000
    db.close()
    db = open_database(path, pool_pages=64)
    rep = db.recovery
    assert rep["redo_records"] == 0 and rep["redo_pages"] == 0
    assert rep["losers"] == [] and rep["undone_records"] == 0
    t = db.tree("t")
    assert list(t.items()) == [(key(i), val(i)) for i in range(5000)]
    assert_clean(db)
    db.close()


# ---- process crashes -----------------------------------------------------------------------
CRASH_LOAD = """
path, how, n, batch, pending = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
db = open_database(path, pool_pages=64, segment_bytes=256 << 10, checkpoint_bytes=1 << 20)
t = db.tree("t", create=True)
for b in range(n // batch):
    with db.transaction():
        for i in range(b * batch, (b + 1) * batch):
            t.insert(key(i), val(i, big=(i % 97 == 0)))
        if b % 7 == 3:
            t.delete(key(b * batch + 1))
    print(b, flush=True)
if pending:
    # a transaction that never commits: its changes must vanish
    tx = db.transaction()
    for i in range(n, n + pending):
        t.insert(key(i), val(i))
    for i in range(0, n, 3):
        t.delete(key(i))
    db.wal.flush()          # its records reach the log (and maybe pages reach the file)
if how == "exit":
    os._exit(0)
os.kill(os.getpid(), signal.SIGKILL)
"""


def expected_after_load(n, batch):
    exp = {}
    for b in range(n // batch):
        for i in range(b * batch, (b + 1) * batch):
            exp[key(i)] = val(i, big=(i % 97 == 0))
        if b % 7 == 3:
            exp.pop(key(b * batch + 1), None)
    return exp


@pytest.mark.parametrize("how,pending", [("exit", 0), ("kill", 0), ("exit", 2000), ("kill", 3000)])
def test_5000_inserts_then_crash(tmp_path, how, pending):
    path = str(tmp_path / "db")
    n, batch = 5000, 100
    rc, lines = run_child(CRASH_LOAD, path, how, n, batch, pending)
    assert rc == (0 if how == "exit" else -signal.SIGKILL)
    assert [int(x) for x in lines] == list(range(n // batch))
    db = open_database(path, pool_pages=64)
    rep = db.recovery
    assert rep["redo_records"] > 0
    if pending:
        assert len(rep["losers"]) == 1 and rep["undone_records"] > 0
    else:
        assert rep["losers"] == []
    t = db.tree("t")
    assert dict(t.items()) == expected_after_load(n, batch)
    assert_clean(db)
    # it accepts writes, and a second reopen has nothing left to do
    with db.transaction():
        t.insert(key(10 ** 9), b"after")
    db.close()
    db = open_database(path, pool_pages=64)
    assert db.recovery["redo_records"] == 0
    assert db.tree("t")[key(10 ** 9)] == b"after"
    assert len(db.tree("t")) == len(expected_after_load(n, batch)) + 1
    db.close()


CRASH_AFTER_PAGE_WRITE = """
path, mode = sys.argv[1], sys.argv[2]
db = open_database(path, pool_pages=64, checkpoint_bytes=1 << 40)
t = db.tree("t", create=True)
u = db.tree("u", create=True)
for b in range(20):
    with db.transaction():
        for i in range(b * 100, b * 100 + 100):
            t.insert(key(i), val(i))
            u.insert(key(i), b"u")
db.checkpoint()
with db.transaction():
    for i in range(2000, 3000):
        t.insert(key(i), val(i, big=(i % 50 == 0)))
    for i in range(0, 2000, 2):
        u.delete(key(i))
print("committed", flush=True)
if mode == "uncommitted":
    tx = db.transaction()
    for i in range(3000, 4000):
        t.insert(key(i), val(i))
    for i in range(0, 1000):
        t.delete(key(i))
# every dirty page reaches the data file (the log first, by the write-ahead rule) ...
if db._tx is not None:
    db._log_changes()       # changes batched in the open transaction are logged first, as the engine does
db.pool.flush_all()
if mode == "mid_checkpoint":
    # ... and a checkpoint began but never wrote its CKPT_END
    from oor_core.logformat import CKPT_BEGIN
    db.wal.append(CKPT_BEGIN, 0, 0)
    db.wal.flush()
os._exit(0)
"""


@pytest.mark.parametrize("mode", ["committed", "uncommitted", "mid_checkpoint"])
def test_crash_after_data_page_write_before_checkpoint(tmp_path, mode):
    path = str(tmp_path / "db")
    rc, lines = run_child(CRASH_AFTER_PAGE_WRITE, path, mode, check_rc=0)
    assert lines == ["committed"]
    db = open_database(path, pool_pages=64)
    if mode == "uncommitted":
        assert len(db.recovery["losers"]) == 1
    t, u = db.tree("t"), db.tree("u")
    assert list(t.items()) == [(key(i), val(i, big=(2000 <= i and i % 50 == 0))) for i in range(3000)]
    assert list(u.keys()) == [key(i) for i in range(1, 2000, 2)]
    assert_clean(db)
    db.close()


# ---- log truncation --------------------------------------------------------------------------
def test_wal_truncation_after_checkpoint(tmp_path):
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=128, segment_bytes=64 << 10, checkpoint_bytes=1 << 40,
                       checkpoint_seconds=1e9)
    t = db.tree("t", create=True)
    for b in range(300):
        with db.transaction():
            for i in range(b * 10, b * 10 + 10):
                t.insert(key(i), val(i))
    st = db.stats()["wal"]
    assert st["segments"] >= 8, st
    wal_dir = path + "-wal"
    assert len(os.listdir(wal_dir)) == st["segments"]
    first = min(os.listdir(wal_dir))
    removed = db.checkpoint()
    st2 = db.stats()["wal"]
    assert removed == st["segments"] - st2["segments"] and removed >= st["segments"] - 2
    assert st2["segments"] <= 2
    assert st2["bytes"] < st["bytes"]
    assert len(os.listdir(wal_dir)) == st2["segments"]
    assert first not in os.listdir(wal_dir)
    # more work; a checkpoint while a transaction is open keeps that transaction's log
    with db.transaction():
        for i in range(3000, 3100):
            t.insert(key(i), val(i))
    tx = db.transaction()
    for i in range(3100, 6000):
        t.insert(key(i), val(i))
    first_lsn = tx.first_lsn
    db.checkpoint()
    assert db.wal.first_lsn <= first_lsn
    tx.abort()
    db.close()
    db = open_database(path, pool_pages=128, segment_bytes=64 << 10)
    assert list(db.tree("t").keys()) == [key(i) for i in range(3100)]
    assert_clean(db)
    db.close()


# ---- roots and LSNs over many flush / checkpoint cycles -----------------------------------------
def _page_lsns(db):
    out = {}
    for pid in range(db.pool.page_count):
        g = db.pool.read(pid)
        try:
            out[pid] = g.lsn
        finally:
            g.release()
    return out


def _shape(db):
    out = {}
    for name in db.tree_names():
        tr = db.tree(name)
        out[name] = (tr.root_page, tr.height, len(tr), sorted(tr.pages()))
    return out


def _cycles(db, rng, ncycles, trees=("a", "b", "c")):
    live = {n: set() for n in trees}
    for n in trees:
        db.tree(n, create=True)
    for c in range(ncycles):
        with db.transaction():
            for n in trees:
                tr = db.tree(n)
                for _ in range(rng.randrange(50, 400)):
                    i = rng.randrange(20000)
                    if i in live[n] and rng.random() < 0.4:
                        tr.delete(key(i))
                        live[n].discard(i)
                    else:
                        tr.upsert(key(i), val(i, big=(i % 211 == 0)))
                        live[n].add(i)
        r = rng.random()
        if r < 0.3:
            db.pool.flush_all()
        elif r < 0.6:
            db.checkpoint()
        elif r < 0.7:
            g = db.pool.read(0)
            g.release()
    return live


@pytest.mark.verify
def test_many_flush_checkpoint_cycles_clean_reopen(tmp_path):
    import random
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=48, segment_bytes=128 << 10, checkpoint_bytes=512 << 10)
    live = _cycles(db, random.Random(11), 40)
    shape, lsns = _shape(db), _page_lsns(db)
    contents = {n: list(db.tree(n).items()) for n in db.tree_names()}
    for n, s in live.items():
        assert [k for k, _ in contents[n]] == sorted(key(i) for i in s)
    db.close()
    db = open_database(path, pool_pages=48)
    assert db.recovery["redo_records"] == 0
    assert _shape(db) == shape
    # clean close and reopen change no page (the reopen's checkpoint writes nothing new)
    assert _page_lsns(db) == lsns
    assert {n: list(db.tree(n).items()) for n in db.tree_names()} == contents
    assert_clean(db)
    db.close()


CYCLES_CRASH = """
import json
sys.path.insert(0, os.path.join({root!r}, "tests"))
from test_durability import _cycles, _shape, _page_lsns
path = sys.argv[1]
db = open_database(path, pool_pages=48, segment_bytes=128 << 10, checkpoint_bytes=512 << 10)
live = _cycles(db, random.Random(int(sys.argv[2])), 40)
with db.transaction():                       # the last cycle may have ended with a checkpoint
    db.tree("a").insert(key(10 ** 6), b"last")
live["a"].add(10 ** 6)
print(json.dumps({{"shape": _shape(db), "lsns": _page_lsns(db),
                  "live": {{n: sorted(s) for n, s in live.items()}}}}), flush=True)
os._exit(0)
""".format(root=ROOT)


@pytest.mark.verify
@pytest.mark.parametrize("seed", [12, 13])
def test_many_cycles_then_crash_redo_repeats_history(tmp_path, seed):
    """Recovery rebuilds the same tree roots, the same pages, and the same page LSNs as at the crash."""
    import json
    path = str(tmp_path / "db")
    rc, lines = run_child(CYCLES_CRASH, path, seed, check_rc=0)
    before = json.loads(lines[-1])
    db = open_database(path, pool_pages=48)
    assert db.recovery["redo_records"] > 0 and db.recovery["losers"] == []
    shape = json.loads(json.dumps(_shape(db)))
    assert shape == before["shape"]
    assert {str(k): v for k, v in _page_lsns(db).items()} == before["lsns"]
    for n, ids in before["live"].items():
        assert list(db.tree(n).keys()) == [key(i) for i in ids]
    assert_clean(db)
    db.close()


# ---- abort -------------------------------------------------------------------------------------
def _page_bodies(db):
    out = []
    for pid in range(db.pool.page_count):
        g = db.pool.read(pid)
        try:
            out.append(g.data[16:])
        finally:
            g.release()
    return out


@pytest.mark.verify
def test_abort_restores_every_tree_exactly(tmp_path):
    import random
    rng = random.Random(21)
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=96)
    a, b = db.tree("a", create=True), db.tree("b", create=True)
    with db.transaction():
        for i in range(0, 6000, 2):
            a.insert(key(i), val(i, big=(i % 40 == 0)))
        for i in range(1000):
            b.insert(key(i), b"b%d" % i)
    db.checkpoint()
    items = {n: list(db.tree(n).items()) for n in ("a", "b")}
    pages = {n: db.tree(n).pages() for n in ("a", "b")}
    roots = {n: (db.tree(n).root_page, db.tree(n).height) for n in ("a", "b")}
    count, free = db.pool.page_count, db.pool.free_count
    bodies = _page_bodies(db)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with db.transaction():
            for i in range(1, 6000, 2):                          # splits
                a.insert(key(i), val(i, big=(i % 30 == 1)))      # overflow pages
            for i in range(0, 6000, 4):                          # merges
                a.delete(key(i))
            for i in range(1000):
                if i % 3:
                    b.delete(key(i))
                else:
                    b.upsert(key(i), val(i, big=True))
            c = db.tree("c", create=True)                        # a tree created inside the transaction
            for i in range(500):
                c.insert(key(i), b"c")
            assert len(a) == 4500 and db.pool.page_count > count
            raise Boom()
    assert db.tree_names() == ["a", "b"]
    assert {n: list(db.tree(n).items()) for n in ("a", "b")} == items
    assert {n: db.tree(n).pages() for n in ("a", "b")} == pages
    assert {n: (db.tree(n).root_page, db.tree(n).height) for n in ("a", "b")} == roots
    assert (db.pool.page_count, db.pool.free_count) == (count, free)
    assert _page_bodies(db) == bodies                     # byte for byte, beyond the LSN
    assert_clean(db)
    # explicit abort() of a smaller one, then the database goes on working
    tx = db.transaction()
    for i in range(rng.randrange(100, 200)):
        a.delete(key(2 * i))
    tx.abort()
    assert list(a.items()) == items["a"]
    with db.transaction():
        a.insert(key(1), b"one")
    db.close()
    db = open_database(path, pool_pages=96)
    assert list(db.tree("b").items()) == items["b"]
    assert list(db.tree("a").items()) == sorted(items["a"] + [(key(1), b"one")])
    assert db.recovery["losers"] == []
    assert_clean(db)
    db.close()


ABORT_THEN_CRASH = """
path = sys.argv[1]
db = open_database(path, pool_pages=64)
a = db.tree("a", create=True)
with db.transaction():
    for i in range(0, 4000, 2):
        a.insert(key(i), val(i, big=(i % 40 == 0)))
tx = db.transaction()
for i in range(1, 4000, 2):
    a.insert(key(i), val(i, big=(i % 30 == 1)))
for i in range(0, 4000, 4):
    a.delete(key(i))
tx.abort()
db.wal.flush()
print("aborted", flush=True)
os._exit(0)
"""


def test_abort_then_crash(tmp_path):
    path = str(tmp_path / "db")
    rc, lines = run_child(ABORT_THEN_CRASH, path, check_rc=0)
    db = open_database(path, pool_pages=64)
    assert db.recovery["losers"] == []             # the abort ended with END: nothing to undo again
    assert list(db.tree("a").items()) == [(key(i), val(i, big=(i % 40 == 0))) for i in range(0, 4000, 2)]
    assert_clean(db)
    db.close()


# ---- sync="normal" ---------------------------------------------------------------------------------
def test_sync_normal_commits_survive_clean_close(tmp_path):
    path = str(tmp_path / "db")
    db = open_database(path, sync="normal", sync_interval=0.05)
    assert db.stats()["sync"] == "normal"
    t = db.tree("t", create=True)
    base = db.wal.fsyncs
    for i in range(300):
        with db.transaction():
            t.insert(key(i), val(i))
    # commits do not each wait for an fsync...
    assert db.wal.fsyncs - base < 100
    # ...but the flusher makes them durable within the interval
    import time
    end = db.wal.next_lsn
    deadline = time.monotonic() + 5
    while db.wal.durable_lsn < end and time.monotonic() < deadline:
        time.sleep(0.01)
    assert db.wal.durable_lsn >= end
    db.close()
    db = open_database(path)
    assert db.recovery["redo_records"] == 0
    assert list(db.tree("t").keys()) == [key(i) for i in range(300)]
    db.close()


SYNC_NORMAL_CRASH = """
path = sys.argv[1]
db = open_database(path, sync="normal", sync_interval=3600)
t = db.tree("t", create=True)
for i in range(500):
    with db.transaction():
        t.insert(key(i), val(i))
print("done", flush=True)
os._exit(0)
"""


def test_sync_normal_survives_process_crash(tmp_path):
    """sync="normal" hands each commit to the OS: a process crash (not a power loss) loses nothing."""
    path = str(tmp_path / "db")
    rc, lines = run_child(SYNC_NORMAL_CRASH, path, check_rc=0)
    db = open_database(path)
    assert list(db.tree("t").keys()) == [key(i) for i in range(500)]
    assert_clean(db)
    db.close()


def test_sync_mode_validated(tmp_path):
    with pytest.raises(ValueError):
        open_database(str(tmp_path / "db"), sync="sometimes")


# ---- read-only opens ----------------------------------------------------------------------------------
def test_read_only_open_of_clean_database(tmp_path):
    path = str(tmp_path / "db")
    db = open_database(path)
    t = db.tree("t", create=True)
    with db.transaction():
        for i in range(1000):
            t.insert(key(i), val(i))
    db.close()
    wal_files = sorted(os.listdir(path + "-wal"))
    size = os.path.getsize(path)
    ro = open_database(path, read_only=True)
    with pytest.raises(OorError, match="snapshot"):
        ro.tree("t")                                # a reader reads at a snapshot
    snap = ro.snapshot()
    t = snap.tree("t")
    assert list(t.keys()) == [key(i) for i in range(1000)]
    assert t._check() == [] and ro.check() == []
    with pytest.raises(OorError):
        ro.transaction()
    with pytest.raises(OorError):
        ro.tree("new", create=True)
    with pytest.raises(OorError):
        ro.checkpoint() if False else ro.transaction()
    # two readers at once are fine
    ro2 = open_database(path, read_only=True)
    with ro2.snapshot() as s2:
        assert len(s2.tree("t")) == 1000
    ro2.close()
    snap.release()
    ro.close()
    assert sorted(os.listdir(path + "-wal")) == wal_files and os.path.getsize(path) == size


CRASH_SMALL = """
path = sys.argv[1]
db = open_database(path, pool_pages=64)
t = db.tree("t", create=True)
for b in range(5):
    with db.transaction():
        for i in range(b * 100, b * 100 + 100):
            t.insert(key(i), val(i))
os._exit(0)
"""


def test_read_only_open_of_crashed_database_reads_without_recovery(tmp_path):
    path = str(tmp_path / "db")
    run_child(CRASH_SMALL, path, check_rc=0)
    wal_files = {n: os.path.getsize(os.path.join(path + "-wal", n)) for n in os.listdir(path + "-wal")}
    size = os.path.getsize(path)
    ro = open_database(path, read_only=True)         # the last commit, rebuilt from the log in memory
    with ro.snapshot() as s:
        assert list(s.tree("t").keys()) == [key(i) for i in range(500)]
    assert ro.check() == []
    ro.close()
    # the read-only open changed neither the log nor the data file
    assert {n: os.path.getsize(os.path.join(path + "-wal", n)) for n in os.listdir(path + "-wal")} == wal_files
    assert os.path.getsize(path) == size
    db = open_database(path)          # a writable open recovers
    db.close()
    ro = open_database(path, read_only=True)
    with ro.snapshot() as s:
        assert len(s.tree("t")) == 500
    ro.close()


WRITER_HOLDS = """
path = sys.argv[1]
db = open_database(path)
db.tree("t", create=True)
print(os.getpid(), flush=True)
sys.stdin.readline()
db.close()
print("closed", flush=True)
"""


def test_second_writer_gets_locked_error_naming_pid(tmp_path):
    path = str(tmp_path / "db")
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(WRITER_HOLDS), path],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        pid = int(p.stdout.readline())
        assert pid == p.pid
        with pytest.raises(DatabaseLockedError) as ei:
            open_database(path)
        assert ei.value.pid == pid
        assert str(pid) in str(ei.value)
        ro = open_database(path, read_only=True)     # a reader beside the writer (docs/concurrency.md)
        with ro.snapshot() as s:
            assert s.tree("t") is not None
        ro.close()
        p.stdin.write("\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "closed"
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    db = open_database(path)                        # free again
    assert db.tree_names() == ["t"]
    db.close()


class _CountingVfs(OsVfs):
    """A custom vfs over the real files (as a test or an embedder might pass)."""

    def __init__(self):
        self.opened = 0

    def open(self, path, create=True, read_only=False):
        self.opened += 1
        return super().open(path, create, read_only)


def test_second_writer_refused_whatever_the_vfs(tmp_path):
    """The writer lock goes through the vfs like all other I/O: a custom vfs, or the in-memory simulator,
    is locked exactly as the default one (before, an explicit vfs= skipped the lock)."""
    from powerloss import DB_PATH, SimVfs
    path = str(tmp_path / "db")
    custom = _CountingVfs()
    db = open_database(path, vfs=custom)
    try:
        assert custom.opened > 0
        for vfs in (None, _CountingVfs(), custom):
            with pytest.raises(DatabaseLockedError):
                open_database(path, vfs=vfs)
        open_database(path, vfs=custom, read_only=True).close()     # readers are admitted beside it
    finally:
        db.close()
    open_database(path, vfs=_CountingVfs()).close()       # released at close
    # the power-loss simulator keeps its lock in memory, with the same outcome
    sim = SimVfs()
    db = open_database(DB_PATH, vfs=sim, pool_pages=16)
    with pytest.raises(DatabaseLockedError):
        open_database(DB_PATH, vfs=sim, pool_pages=16)
    db.close()
    ro = open_database(DB_PATH, vfs=sim, read_only=True, pool_pages=16)
    ro2 = open_database(DB_PATH, vfs=sim, read_only=True, pool_pages=16)    # readers share it
    w = open_database(DB_PATH, vfs=sim, pool_pages=16)     # and a writer opens beside them
    with pytest.raises(DatabaseLockedError):
        open_database(DB_PATH, vfs=sim, pool_pages=16)
    w.close()
    ro.close()
    ro2.close()
    open_database(DB_PATH, vfs=sim, pool_pages=16).close()


# ---- a crash during recovery ----------------------------------------------------------------------------
LOSER = """
path = sys.argv[1]
db = open_database(path, pool_pages=64)
t = db.tree("t", create=True)
with db.transaction():
    for i in range(0, 3000, 3):
        t.insert(key(i), val(i, big=(i % 60 == 0)))
tx = db.transaction()
for i in range(1, 3000, 3):
    t.insert(key(i), val(i, big=(i % 31 == 1)))
for i in range(0, 3000, 6):
    t.delete(key(i))
db._log_changes()                # the batch still in capture is logged (as a checkpoint would)...
db.pool.flush_all()              # ...and the loser's pages reach the file too
print(tx.txid, flush=True)
os._exit(0)
"""

RECOVER_AND_DIE = """
path, k, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from oor.storage import DatabaseRecoveryTarget
real = DatabaseRecoveryTarget.log_clr
calls = [0]
def dying(self, txid, undo_next):
    lsn = real(self, txid, undo_next)
    calls[0] += 1
    if calls[0] >= k:
        if how in ("wal", "pages"):
            self.wal.flush()
        if how == "pages":
            self.pool.flush_all()
        print("dying", calls[0], flush=True)
        os._exit(3)
    return lsn
DatabaseRecoveryTarget.log_clr = dying
db = open_database(path, pool_pages=64)
print("recovered", flush=True)
db.close()
"""


@pytest.mark.parametrize("plan", [[(0.0, "plain")], [(0.3, "wal")], [(0.7, "pages")],
                                  [(0.3, "pages"), (0.3, "pages"), (0.1, "wal")]])
def test_crash_during_recovery(tmp_path, plan):
    """plan: attempts at recovery, each dying after a fraction of the loser's records were undone."""
    from oor.vfs import OS_VFS
    path = str(tmp_path / "db")
    rc, lines = run_child(LOSER, path, check_rc=0)
    loser = int(lines[0])
    n_loser_updates = sum(1 for r in WAL(path + "-wal", OS_VFS, read_only=True).scan()
                          if r.txid == loser and r.type == LF.UPDATE)
    assert n_loser_updates >= 10
    for frac, how in plan:
        k = max(1, int(frac * n_loser_updates))
        rc, lines = run_child(RECOVER_AND_DIE, path, k, how)
        assert rc == 3 and lines == [f"dying {k}"], (rc, lines)
    # the recovery interrupted after CLRs were made durable resumes from the last CLR
    wal_types = [r.type for r in WAL(path + "-wal", OS_VFS, read_only=True).scan() if r.txid == loser]
    if plan[-1][1] != "plain":
        assert LF.CLR in wal_types
    db = open_database(path, pool_pages=64)
    assert db.recovery["losers"] == [loser]
    total_clrs = sum(1 for t in wal_types if t == LF.CLR)
    n_updates = sum(1 for t in wal_types if t == LF.UPDATE)
    # every UPDATE is undone exactly once over all the attempts that reached the log
    assert db.recovery["undone_records"] + total_clrs == n_updates
    t = db.tree("t")
    assert list(t.items()) == [(key(i), val(i, big=(i % 60 == 0))) for i in range(0, 3000, 3)]
    assert_clean(db)
    db.close()
    db = open_database(path, pool_pages=64)
    assert db.recovery["losers"] == [] and db.recovery["redo_records"] == 0
    db.close()


def test_tree_created_in_aborted_transaction_is_forgotten(tmp_path):
    """Regression: db.tree(name) returned a stale cached handle of a tree whose creation was aborted."""
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=64)
    a = db.tree("a", create=True)
    tx = db.transaction()
    c = db.tree("c", create=True)
    for i in range(300):
        c.insert(key(i), val(i))
    tx.abort()
    assert db.tree_names() == ["a"]
    with pytest.raises(KeyError):
        db.tree("c")
    d = db.tree("d", create=True)            # may reuse the aborted tree's id
    with db.transaction():
        d.insert(b"d", b"d")
        a.insert(b"a", b"a")
    c = db.tree("c", create=True)
    assert len(c) == 0 and list(d.items()) == [(b"d", b"d")]
    with db.transaction():
        c.insert(b"c", b"c")
    assert list(d.items()) == [(b"d", b"d")] and list(c.items()) == [(b"c", b"c")]
    assert_clean(db)
    db.close()


CHECKPOINT_INSIDE_TX = """
path = sys.argv[1]
db = open_database(path, pool_pages=64, segment_bytes=64 << 10, checkpoint_bytes=1 << 40)
t = db.tree("t", create=True)
for b in range(10):
    with db.transaction():
        for i in range(b * 200, b * 200 + 200):
            t.insert(key(i), val(i))
tx = db.transaction()
for i in range(2000, 3000):
    t.insert(key(i), val(i, big=(i % 25 == 0)))
for i in range(0, 2000, 2):
    t.delete(key(i))
removed = db.checkpoint()            # a fuzzy checkpoint with the loser open: its log must stay
for i in range(3000, 3500):
    t.insert(key(i), val(i))
for i in range(1, 2000, 4):
    t.delete(key(i))
db.wal.flush()
print(removed, flush=True)
os._exit(0)
"""


def test_crash_after_checkpoint_taken_inside_open_transaction(tmp_path):
    path = str(tmp_path / "db")
    rc, lines = run_child(CHECKPOINT_INSIDE_TX, path, check_rc=0)
    assert int(lines[0]) > 0                   # segments before the loser's first record did go
    db = open_database(path, pool_pages=64, segment_bytes=64 << 10)
    assert len(db.recovery["losers"]) == 1 and db.recovery["undone_records"] > 1
    assert list(db.tree("t").items()) == [(key(i), val(i)) for i in range(2000)]
    assert_clean(db)
    db.close()


def test_reader_waits_for_writer_and_sees_only_committed(tmp_path):
    import threading
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=64)
    t = db.tree("t", create=True)
    with db.transaction():
        for i in range(100):
            t.insert(key(i), b"old")
    seen = []
    started = threading.Event()

    def reader():
        started.set()
        with db.reading():
            seen.append(dict(t.items()))

    tx = db.transaction()
    for i in range(100, 200):
        t.insert(key(i), b"new")
    for i in range(50):
        t.upsert(key(i), b"changed")
    th = threading.Thread(target=reader)
    th.start()
    started.wait()
    th.join(0.3)
    assert th.is_alive() and not seen           # the reader waits for the running writer
    tx.abort()
    th.join(10)
    assert seen == [{key(i): b"old" for i in range(100)}]
    db.close()


CHECK_INSIDE_TX = """
path = sys.argv[1]
db = open_database(path, pool_pages=256)
t = db.tree("t", create=True)
with db.transaction():
    for i in range(100):
        t.insert(key(i), b"committed")
db.checkpoint()
tx = db.transaction()
for i in range(100, 105):
    t.insert(key(i), b"UNCOMMITTED")        # a few inserts: still batched, not yet logged
print(db.check(), flush=True)               # writes every dirty page
os._exit(0)
"""


def test_check_inside_transaction_then_crash(tmp_path):
    """Regression: check() inside a transaction wrote pages whose batched changes were not yet logged,
    so a crash left uncommitted records in the file with nothing to undo them."""
    path = str(tmp_path / "db")
    rc, lines = run_child(CHECK_INSIDE_TX, path, check_rc=0)
    assert lines == ["[]"]
    db = open_database(path, pool_pages=256)
    assert list(db.tree("t").items()) == [(key(i), b"committed") for i in range(100)]
    assert_clean(db)
    db.close()
