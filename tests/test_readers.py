"""The lock file's reader table and the writer lock's wait (oor/lockfile.py; docs/concurrency.md).

Readers in other processes are real child processes (subprocess), killed with
SIGKILL where the test says so; the retention-protocol test is seeded and
prints its seed on failure.
"""
import errno
import fcntl
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

from oor.lockfile import (FILE_SIZE, HINT_OFFSET, SLOT_OFFSET, SLOT_SIZE, SLOTS, OsLock, ReaderTable,
                          decode_hint, lock_path)
from oor.vfs import OS_VFS
from oor_core.errors import DatabaseLockedError, OorError, VersionMismatchError

from powerloss import SimVfs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

READER_CHILD = """
import sys
from oor.lockfile import ReaderTable
t = ReaderTable(sys.argv[1])
s = t.claim()
t.publish(s, int(sys.argv[2]))
print(s, flush=True)
sys.stdin.readline()
t.close()
print("closed", flush=True)
sys.stdin.readline()
"""

WRITER_CHILD = """
import sys, time
from oor.lockfile import OsLock
lock = OsLock(sys.argv[1], True)
print("locked", flush=True)
sys.stdin.readline()
time.sleep(float(sys.argv[2]))
lock.release()
print("released", flush=True)
sys.stdin.readline()
"""


def child(script, *args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def line(p):
    out = p.stdout.readline()
    assert out, f"child died: {p.stderr.read()}"
    return out.strip()


def finish(p):
    if p.poll() is None:
        p.kill()
    p.communicate()


@pytest.fixture
def lpath(tmp_path):
    return str(tmp_path / "db.oor-lock")


def slot_bytes(path, slot):
    with open(path, "rb") as f:
        f.seek(SLOT_OFFSET + SLOT_SIZE * slot)
        return f.read(SLOT_SIZE)


# ---- one process ----

def test_claim_publish_release(lpath):
    t = ReaderTable(lpath)
    assert t.writable and os.path.getsize(lpath) == FILE_SIZE
    a, b = t.claim(), t.claim()
    assert a != b and t.slots() == sorted([a, b])
    assert t.live() == [] and t.oldest() is None           # claimed but idle (LSN 0)
    before = time.time()
    t.publish(a, 700)
    t.publish(b, 500)
    live = t.live()
    assert [(s, pid, lsn) for s, pid, lsn, _ in live] == sorted([(a, os.getpid(), 700), (b, os.getpid(), 500)])
    assert all(before - 1 <= started <= time.time() + 1 for *_, started in live)
    assert t.oldest() == 500
    t.publish(b, 0)                                         # idle again
    assert t.oldest() == 700
    assert t._check() == []
    t.release(a)
    assert slot_bytes(lpath, a) == bytes(SLOT_SIZE)         # released slots are zeroed
    with pytest.raises(ValueError):
        t.publish(a, 1)
    assert t.claim() == a                                   # the first free slot again
    t.close()
    t.close()                                               # idempotent
    assert t._check() == []
    assert slot_bytes(lpath, a) == slot_bytes(lpath, b) == bytes(SLOT_SIZE)
    with pytest.raises(OorError, match="closed"):
        t.claim()


def test_another_description_sees_the_slot_and_its_release(lpath):
    reader, writer = ReaderTable(lpath), ReaderTable(lpath)
    s = reader.claim()
    reader.publish(s, 42)
    assert [(e[0], e[2]) for e in writer.live()] == [(s, 42)]
    assert writer.oldest() == 42
    reader.release(s)
    assert writer.live() == [] and writer.oldest() is None
    reader.close()
    writer.close()


def test_max_age_ignores_an_old_slot(lpath):
    t, w = ReaderTable(lpath), ReaderTable(lpath)
    old, new = t.claim(), t.claim()
    t.publish(old, 100)
    time.sleep(0.05)
    t.publish(new, 200)
    started = {s: st for s, _, _, st in w.live()}
    assert started[new] > started[old]
    assert w.oldest() == 100
    age = (started[new] - started[old]) / 2
    assert w.oldest(max_age=age, now=started[new]) == 200
    assert w.oldest(max_age=0.0, now=started[new] + 10) is None
    assert w.oldest(max_age=3600) == 100                     # now defaults to time.time()
    t.close()
    w.close()


def test_all_slots_in_use_is_a_clear_error(lpath):
    full, other = ReaderTable(lpath), ReaderTable(lpath)
    got = [full.claim() for _ in range(SLOTS)]
    assert sorted(got) == list(range(SLOTS))
    for t in (full, other):
        with pytest.raises(OorError, match=f"all {SLOTS} reader slots are in use"):
            t.claim()
    full.release(77)
    assert other.claim() == 77
    assert full._check() == [] and other._check() == []
    full.close()
    other.close()


def test_floor(lpath):
    t = ReaderTable(lpath)
    assert t.floor() == 0
    t.set_floor(12345)
    assert ReaderTable(lpath, create=False).floor() == 12345
    t.close()


def run_protocol(path, seed, check_floor_first=False, rounds=300):
    """Random interleavings of the writer's (W1 set_floor, W2 oldest, W3 remove) and three readers'
    (R1 publish, R2 floor check); returns the first violation or None.  Each step is one real pread/pwrite."""
    rng = random.Random(seed)
    writer = ReaderTable(path)
    readers = [ReaderTable(path) for _ in range(3)]
    slots = [r.claim() for r in readers]
    state = [{"step": 0, "lsn": None, "safe": None} for _ in readers]   # safe: snapshot it reads at
    wstep, cand, oldest = 0, None, None
    head = 100                       # the last commit's LSN
    removed = 0                      # log below this is gone
    try:
        for _ in range(rounds):
            if rng.random() < 0.3:
                head += rng.randint(1, 50)                   # a commit
            who = rng.randrange(4)
            if who == 3:                                     # the writer's next step
                if wstep == 0:
                    cand = head
                    writer.set_floor(cand)
                elif wstep == 1:
                    oldest = writer.oldest()
                else:
                    removed = max(removed, min(cand, oldest) if oldest is not None else cand)
                wstep = (wstep + 1) % 3
            else:
                r, st = readers[who], state[who]
                if st["step"] == 0:                         # take a new snapshot
                    st["safe"] = None
                    st["lsn"] = head
                    if check_floor_first:
                        st["floor"] = r.floor()
                    else:
                        r.publish(slots[who], st["lsn"])
                    st["step"] = 1
                elif st["step"] == 1:
                    if check_floor_first:
                        r.publish(slots[who], st["lsn"])
                        f = st["floor"]
                    else:
                        f = r.floor()
                    st["step"] = 2 if f <= st["lsn"] else 0  # accepted, or retry with a newer LSN
                    if st["step"] == 2:
                        st["safe"] = st["lsn"]
                elif rng.random() < 0.2:                     # done reading: go idle
                    r.publish(slots[who], 0)
                    st["step"], st["safe"] = 0, None
            for i, st in enumerate(state):
                if st["safe"] is not None and removed > st["safe"]:
                    return f"reader {i} reads at {st['safe']} but the log below {removed} is gone"
        return None
    finally:
        for r in readers:
            r.close()
        writer.close()
        os.unlink(path)


def test_floor_protocol_interleavings(lpath):
    base = int(os.environ.get("OOR_SEED", "20260512"))
    for k in range(40):
        seed = base + k
        problem = run_protocol(lpath, seed)
        assert problem is None, f"seed {seed}: {problem}"


def test_floor_protocol_wrong_order_is_caught(lpath):
    """Control: a reader that reads the floor before publishing can lose its log (the test can see it)."""
    base = int(os.environ.get("OOR_SEED", "20260512"))
    caught = [k for k in range(40) if run_protocol(lpath, base + k, check_floor_first=True)]
    assert caught, f"seeds {base}..{base + 39}: the wrong order was never caught"


# ---- other processes ----

def test_two_processes_get_different_slots(lpath):
    mine = ReaderTable(lpath)
    s = mine.claim()
    p = child(READER_CHILD, lpath, 4000)
    try:
        theirs = int(line(p))
        assert theirs != s
        live = mine.live()
        assert [(e[0], e[1], e[2]) for e in live] == [(theirs, p.pid, 4000)]
        p.stdin.write("\n")
        p.stdin.flush()
        assert line(p) == "closed"
        assert mine.live() == [] and slot_bytes(lpath, theirs) == bytes(SLOT_SIZE)
    finally:
        finish(p)
        mine.close()


def test_killed_reader_is_not_live(lpath):
    w = ReaderTable(lpath)
    p = child(READER_CHILD, lpath, 5000)
    try:
        s = int(line(p))
        assert [(e[0], e[1], e[2]) for e in w.live()] == [(s, p.pid, 5000)]
        assert w.oldest() == 5000
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        assert p.returncode == -signal.SIGKILL
        assert struct.unpack_from("<Q", slot_bytes(lpath, s), 8)[0] == 5000   # its bytes stay...
        assert w.live() == [] and w.oldest() is None                          # ...but it is not live
        r = ReaderTable(lpath)
        assert r.claim() == s                                                 # free for the next reader
        assert w.live() == []                                                 # claimed: LSN 0 again
        r.close()
    finally:
        finish(p)
        w.close()


def test_forked_child_forsakes_its_copy(lpath):
    t, w = ReaderTable(lpath), ReaderTable(lpath)
    s = t.claim()
    t.publish(s, 900)
    pid = os.fork()
    if pid == 0:                                         # the child: the copy is closed, the slot untouched
        code = 0
        try:
            if t.fd != -1:
                code = 2
            try:
                t.claim()
                code = 3
            except OorError as e:
                if "forked process" not in str(e):
                    code = 4
            t.close()
        except BaseException:
            code = 5
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert [(e[0], e[2]) for e in w.live()] == [(s, 900)]
    t.close()
    assert w.live() == []
    w.close()


# ---- read-only and missing lock files ----

def _refuse_writes_to(monkeypatch, path, err=errno.EACCES):
    """os.open of ``path`` for writing fails with err (root ignores chmod, so the test fakes it)."""
    real = os.open

    def fake(p, flags, *a, **k):
        if os.fspath(p) == path and flags & (os.O_RDWR | os.O_WRONLY | os.O_CREAT):
            raise OSError(err, os.strerror(err), p)
        return real(p, flags, *a, **k)
    monkeypatch.setattr(os, "open", fake)


@pytest.mark.parametrize("err", [errno.EACCES, errno.EROFS, errno.EPERM])
def test_read_only_lock_file_falls_back_to_reading(lpath, monkeypatch, err):
    w = ReaderTable(lpath)
    s = w.claim()
    w.publish(s, 321)
    w.set_floor(300)
    _refuse_writes_to(monkeypatch, lpath, err)
    ro = ReaderTable(lpath)
    assert not ro.writable and ro._check() == []
    with pytest.raises(OorError, match="read-only"):
        ro.claim()
    with pytest.raises(OorError, match="read-only"):
        ro.set_floor(1)
    assert [(e[0], e[2]) for e in ro.live()] == [(s, 321)]
    assert ro.oldest() == 321 and ro.floor() == 300
    assert ro.writer_alive() is False and ro.writer_pid() is None
    ro.close()
    w.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes")
def test_chmod_0444_lock_file(tmp_path):
    lpath = str(tmp_path / "db.oor-lock")
    ReaderTable(lpath).close()
    os.chmod(lpath, 0o444)
    ro = ReaderTable(lpath)
    assert not ro.writable and ro.floor() == 0 and ro.live() == []
    ro.close()


def test_short_read_only_lock_file_has_no_table(lpath, monkeypatch):
    with open(lpath, "wb") as f:
        f.write(b"123\n".ljust(32, b"\0"))          # an old build's lock file: PID area only
    _refuse_writes_to(monkeypatch, lpath)
    ro = ReaderTable(lpath)
    assert not ro.writable and ro.live() == [] and ro.oldest() is None and ro.floor() == 0
    assert os.path.getsize(lpath) == 32             # nothing written
    ro.close()


def test_absent_lock_file_that_cannot_be_created(tmp_path, monkeypatch):
    lpath = str(tmp_path / "db.oor-lock")
    _refuse_writes_to(monkeypatch, lpath)
    with pytest.raises(OorError) as e:
        ReaderTable(lpath)
    assert lpath in str(e.value) and "immutable=True" in str(e.value) and "--immutable" in str(e.value)
    assert not os.path.exists(lpath)
    monkeypatch.undo()
    missing_dir = str(tmp_path / "no-such-dir" / "db.oor-lock")
    with pytest.raises(OorError, match="immutable=True"):
        ReaderTable(missing_dir)
    with pytest.raises(FileNotFoundError):
        ReaderTable(lpath, create=False)
    assert not os.path.exists(lpath)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes")
def test_absent_lock_file_in_unwritable_directory(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OorError, match="immutable=True"):
            ReaderTable(str(folder / "db.oor-lock"))
    finally:
        folder.chmod(0o755)


def test_old_lock_file_is_extended_and_keeps_its_hint(tmp_path):
    db = str(tmp_path / "db.oor")
    lock = OsLock(db, True)
    lock.record_durable(9876)
    lock.release()
    assert os.path.getsize(lock_path(db)) == HINT_OFFSET + 16
    t = OS_VFS.readers(db)
    assert os.path.getsize(lock_path(db)) == FILE_SIZE and t._check() == []
    with open(lock_path(db), "rb") as f:
        assert decode_hint(f.read()[HINT_OFFSET:HINT_OFFSET + 16]) == 9876
    s = t.claim()
    t.publish(s, 55)
    lock = OsLock(db, True)                          # the writer's open and release leave the table alone
    assert lock.durable_hint() == 9876
    assert t.writer_pid() == os.getpid()
    lock.release()
    assert t.writer_pid() is None and t.oldest() == 55
    t.close()


def test_foreign_or_newer_table_header_is_refused(lpath):
    ReaderTable(lpath).close()
    with open(lpath, "r+b") as f:
        f.seek(4096)
        f.write(b"XXXX")
    with pytest.raises(OorError, match="not a reader table"):
        ReaderTable(lpath)
    with open(lpath, "r+b") as f:
        f.seek(4096)
        f.write(b"OORR" + struct.pack("<I", 2))
    with pytest.raises(VersionMismatchError):
        ReaderTable(lpath)


def test_read_only_file_and_map(tmp_path):
    path = str(tmp_path / "data")
    with open(path, "wb") as f:
        f.write(b"abc" * 1000)
    f = OS_VFS.open(path, read_only=True)
    assert f.pread(3, 3) == b"abc" and f.size() == 3000
    m = f.map()
    assert bytes(m[:6]) == b"abcabc"
    m.close()
    with pytest.raises(OorError, match="read-only"):
        f.pwrite(b"x", 0)
    with pytest.raises(OorError, match="read-only"):
        f.truncate(0)
    f.close()
    with pytest.raises(FileNotFoundError):
        OS_VFS.open(str(tmp_path / "absent"), create=True, read_only=True)
    assert not os.path.exists(tmp_path / "absent")


# ---- the writer lock's wait ----

def test_writer_lock_waits_for_timeout(tmp_path):
    db = str(tmp_path / "db.oor")
    p = child(WRITER_CHILD, db, 0.5)
    table = None
    try:
        assert line(p) == "locked"
        table = OS_VFS.readers(db)
        assert table.writer_alive() and table.writer_pid() == p.pid
        t0 = time.monotonic()
        with pytest.raises(DatabaseLockedError) as e:
            OS_VFS.lock(db, True)                            # timeout 0: refused at once
        assert time.monotonic() - t0 < 0.2 and e.value.pid == p.pid
        t0 = time.monotonic()
        with pytest.raises(DatabaseLockedError) as e:
            OsLock(db, True, timeout=0.2)
        waited = time.monotonic() - t0
        assert 0.2 <= waited < 2.0, waited
        assert e.value.pid == p.pid and f"process {p.pid}" in str(e.value) and "waited 0.2 s" in str(e.value)
        p.stdin.write("\n")                                  # the child releases 0.5 s from now
        p.stdin.flush()
        t0 = time.monotonic()
        lock = OS_VFS.lock(db, True, timeout=5)
        waited = time.monotonic() - t0
        assert 0.3 <= waited < 5, waited
        assert line(p) == "released"
        assert table.writer_pid() == os.getpid()
        lock.release()
        assert not table.writer_alive() and table.writer_pid() is None
    finally:
        finish(p)
        if table is not None:
            table.close()


def test_a_reader_probe_does_not_refuse_a_writer(tmp_path):
    """writer_alive() holds a shared flock for microseconds; a writer opening then is not refused."""
    db = str(tmp_path / "db.oor")
    t = OS_VFS.readers(db)
    probe = os.open(lock_path(db), os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH)                        # a probe caught in the middle
    try:
        threading.Timer(0.005, lambda: fcntl.flock(probe, fcntl.LOCK_UN)).start()
        lock = OsLock(db, True)
        lock.release()
    finally:
        os.close(probe)
        t.close()


# ---- the simulator's table ----

def test_sim_reader_table():
    vfs = SimVfs()
    r, w = vfs.readers("/sim/db"), vfs.readers("/sim/db")
    s = r.claim()
    assert w.live() == []
    r.publish(s, 77)
    assert [(e[0], e[2]) for e in w.live()] == [(s, 77)] and w.oldest() == 77
    assert w.oldest(max_age=1, now=time.time() + 100) is None
    w.set_floor(50)
    assert r.floor() == 50
    r.die()                                                  # kill -9
    assert w.live() == [] and w._check() == []
    got = [w.claim() for _ in range(126)]
    assert sorted(got) == list(range(126))
    with pytest.raises(OorError, match="all 126 reader slots are in use"):
        vfs.readers("/sim/db").claim()
    w.release(3)
    x = vfs.readers("/sim/db")
    assert x.claim() == 3
    x.publish(3, 9)
    img = vfs.clone()                                        # its readers are gone; the floor stays
    t = img.readers("/sim/db")
    assert t.live() == [] and t.floor() == 50
    lock = vfs.lock("/sim/db", True)
    assert w.writer_alive()
    with pytest.raises(DatabaseLockedError):
        vfs.lock("/sim/db", True, timeout=0.05)
    lock.release()
    assert not w.writer_alive()
    x.close()
    w.close()


def test_sim_read_only_open():
    vfs = SimVfs()
    f = vfs.open("/sim/f")
    f.pwrite(b"hello", 0)
    ro = vfs.open("/sim/f", read_only=True)
    assert ro.pread(5, 0) == b"hello" and ro.size() == 5
    with pytest.raises(OorError, match="read-only"):
        ro.pwrite(b"x", 0)
    with pytest.raises(FileNotFoundError):
        vfs.open("/sim/absent", read_only=True)


def test_a_closing_reader_stops_its_slot_keeper_first(data, tmp_path):
    # The keeper thread of a read-only opener clears its idle slot every quarter second; close() waits for
    # it before closing the reader table (it once published into a table close() had just dropped: an
    # AttributeError in thread oor-reader-slot, seen in one CI run)
    import oor
    path = tmp_path / "keep.oor"
    with oor.open(path) as reg:
        reg.load(str(data / "catalogs" / "catalog-2022-07.3le"), source_name="c")
    errors = []
    old = threading.excepthook
    threading.excepthook = lambda a: errors.append(a.exc_value)
    try:
        for _ in range(12):
            ro = oor.open(path, read_only=True)
            keeper = ro.db._keeper
            with ro.snapshot() as snap:
                assert snap.latest(25544) is not None
            time.sleep(0.02 * (_ % 4))
            ro.close()
            assert not keeper.is_alive(), "close() returned with the slot keeper still running"
    finally:
        threading.excepthook = old
    assert errors == []
