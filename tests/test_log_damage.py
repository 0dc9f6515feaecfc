"""The log is checked, never guessed (issue 11, invariant 14): a seeded campaign of damage to the log.

For a cleanly closed database and for one killed with SIGKILL, with many small segments and with one,
each trial damages the log -- a single-bit flip, a byte overwrite, a zeroed range or a truncation at a
random offset of a random segment, or a deleted segment -- and opens the database for writing.  Every
trial must end in exactly one of:
  * the last committed state (damage in the tail, or anything after a clean close), with a clean check;
    (a clean close removes the log: in "clean" mode the campaign damages the log as it was just before the
    close, put back beside the file -- a stale log restored from a copy);
  * CorruptLogError naming the segment file and byte offset, with the log left exactly as it was.
Never an earlier state, never a partial transaction, never a clean check over lost sets.

Trials: 4 x 75 by default; OOR_LOG_DAMAGE_TRIALS=N runs 4 x N (OOR_SOAK=1: 4 x 500).  OOR_SEED
replays one campaign; the seed and the trial are printed on failure.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

import oor
from oor.codec import read_elements
from oor_core.errors import CorruptLogError

SEED = int(os.environ.get("OOR_SEED", "1411"))
_SOAK = os.environ.get("OOR_SOAK", "") not in ("", "0")
TRIALS = int(os.environ.get("OOR_LOG_DAMAGE_TRIALS", "500" if _SOAK else "75"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The child applies the commits of a workload file; in "kill" mode it then begins one more
# transaction, makes changes (written to the log in batches, never committed) and waits for SIGKILL.
CHILD = textwrap.dedent("""
    import json, sys, time
    import oor
    from oor.codec import read_elements
    path, work, mode, seg = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    spec = json.load(open(work))
    sets = list(read_elements(spec["file"]))
    reg = oor.open(path, segment_bytes=seg, pool_pages=64)
    for i, commit in enumerate(spec["commits"]):
        with reg.transaction():
            for op, arg in commit:
                if op == "put":
                    reg.put(sets[arg])
                else:
                    reg.delete(arg)
        print("committed", i, flush=True)
    if mode == "clean":
        # a clean close removes the log (nothing in it is needed); keep a copy of it as it was just
        # before, and put that back: a stale log restored beside a cleanly closed file (from a backup
        # or a copy), which the campaign then damages -- it must be ignored, whatever its state
        import os, shutil
        wal_dir = path + "-wal"
        shutil.copytree(wal_dir, wal_dir + ".kept")
        reg.close()
        left = [n for n in os.listdir(wal_dir) if n.endswith(".wal")]
        assert not left, f"log segments left after a clean close: {left}"
        shutil.rmtree(wal_dir)
        os.rename(wal_dir + ".kept", wal_dir)
        print("closed", flush=True)
    else:
        tx = reg.transaction()
        tx.__enter__()
        for k in spec["inflight"]:
            reg.put(sets[k])
        reg.db.wal.write_out()          # the uncommitted records reach the file
        print("inflight", flush=True)
        time.sleep(600)
""")


def _workload(rnd, n_sets):
    commits, live, order = [], set(), list(range(n_sets))
    rnd.shuffle(order)
    pos = 0
    for _ in range(14):
        ops = []
        for _ in range(rnd.randint(20, 120)):
            if live and rnd.random() < 0.12:
                k = rnd.choice(sorted(live))
                ops.append(("del", k))
                live.discard(k)
            else:
                k = order[pos % n_sets]
                pos += 1
                ops.append(("put", k))
                live.add(k)
        commits.append(ops)
    inflight = [order[(pos + i) % n_sets] for i in range(200)]
    return commits, inflight


def _expected(commits, sets):
    state = {}
    for commit in commits:
        for op, arg in commit:
            if op == "put":
                s = sets[arg]
                state[s.norad_id] = (s.line1, s.line2)
            else:
                state.pop(sets[arg].norad_id, None)
    return state


def _state(reg, norads):
    out = {}
    for n in norads:
        e = reg.latest(n)
        if e is not None:
            out[n] = (e.line1, e.line2)
    return out


def _build(tmp, sets_file, sets, mode, seg, rnd):
    """A database left by a child process (closed cleanly or killed); returns (dir, expected state)."""
    commits, inflight = _workload(rnd, len(sets))
    # deletes name objects by their set index; the child deletes by NORAD id
    spec_commits = [[(op, arg if op == "put" else sets[arg].norad_id) for op, arg in c] for c in commits]
    work = os.path.join(tmp, "work.json")
    with open(work, "w") as f:
        json.dump({"file": sets_file, "commits": spec_commits, "inflight": inflight}, f)
    base = os.path.join(tmp, f"base-{mode}-{seg}")
    os.makedirs(base)
    path = os.path.join(base, "d.oor")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-c", CHILD, path, work, mode, str(seg)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    want = "closed" if mode == "clean" else "inflight"
    for line in p.stdout:
        if line.strip() == want:
            break
    else:
        raise AssertionError(f"child failed: {p.stderr.read()}")
    if mode == "kill":
        os.kill(p.pid, signal.SIGKILL)
    p.wait()
    _build.prefixes = [_expected(commits[:k], sets) for k in range(len(commits) + 1)]
    return base, _expected(commits, sets)


def _damage(rnd, wal_dir):
    """Damage one segment of the log at random; returns a description."""
    segs = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))
    name = rnd.choice(segs)
    path = os.path.join(wal_dir, name)
    size = os.path.getsize(path)
    data = bytearray(open(path, "rb").read())
    # records end where the preallocated zeros begin: aim most damage at the records
    end = len(data.rstrip(b"\0")) or 32
    kind = rnd.choice(["flip", "overwrite", "zero", "truncate", "delete"] if len(segs) > 1 else
                      ["flip", "overwrite", "zero", "truncate"])
    off = rnd.randrange(0, max(1, end))
    if kind == "flip":
        data[off] ^= 1 << rnd.randrange(8)
    elif kind == "overwrite":
        n = rnd.randint(1, 16)
        data[off:off + n] = bytes(rnd.randrange(256) for _ in range(n))[:len(data) - off]
    elif kind == "zero":
        n = rnd.randint(1, 4096)
        data[off:off + n] = bytes(min(n, len(data) - off))
    elif kind == "truncate":
        data = data[:off]
    if kind == "delete":
        os.remove(path)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return f"{kind} {name} at {off} (of {size})"


def _snapshot(wal_dir):
    return {n: open(os.path.join(wal_dir, n), "rb").read() for n in sorted(os.listdir(wal_dir))}


@pytest.fixture(scope="module")
def sets_file(data, tmp_path_factory):
    lines = (data / "catalogs" / "catalog-2022-01.3le").read_text().splitlines()[:3 * 1500]
    p = tmp_path_factory.mktemp("dmg") / "sets.3le"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


@pytest.mark.parametrize("mode", ["clean", "kill"])
@pytest.mark.parametrize("seg", [64 << 10, 16 << 20], ids=["many-segments", "one-segment"])
def test_log_damage_campaign(tmp_path, sets_file, mode, seg):
    seed = SEED + (mode == "kill") * 7 + (seg > 1 << 20) * 13
    rnd = random.Random(seed)
    sets = list(read_elements(sets_file))
    base, expected = _build(str(tmp_path), sets_file, sets, mode, seg, rnd)
    norads = {s.norad_id for s in sets}
    counts = {"last committed state": 0, "clear error": 0}
    for trial in range(TRIALS):
        work = os.path.join(str(tmp_path), "trial")
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work)
        wal_dir = os.path.join(work, "d.oor-wal")
        what = _damage(rnd, wal_dir)
        before = _snapshot(wal_dir)
        where = f"seed {seed} trial {trial} ({mode}, segments of {seg} bytes): {what}"
        try:
            reg = oor.open(os.path.join(work, "d.oor"))
        except CorruptLogError as e:
            msg = str(e)
            assert ".wal" in msg and "offset" in msg, f"{where}: error does not name the place: {msg}"
            assert "\n" not in msg.strip(), f"{where}: more than one line: {msg}"
            assert _snapshot(wal_dir) == before, f"{where}: the log was changed after refusing it"
            counts["clear error"] += 1
            continue
        except Exception as e:                      # noqa: BLE001
            raise AssertionError(f"{where}: neither the last state nor a clear log error: {e!r}") from e
        with reg:
            got = _state(reg, norads)
            assert got == expected, (f"{where}: opened in another state: {len(set(got) ^ set(expected))} "
                                     f"objects differ")
            assert reg.check() == [], f"{where}: check found problems"
        counts["last committed state"] += 1
    print(f"log damage ({mode}, {seg} B segments, seed {seed}): {TRIALS} trials: {counts}, silent losses 0")


def test_salvage_keeps_what_precedes_the_damage(tmp_path, sets_file):
    """`oor recover --salvage`: past a refused log, every transaction committed before the damage is kept,
    what was dropped is said, and the damaged bytes are kept beside the log."""
    rnd = random.Random(SEED)
    sets = list(read_elements(sets_file))
    base, expected = _build(str(tmp_path), sets_file, sets, "kill", 64 << 10, rnd)
    db = os.path.join(base, "d.oor")
    wal_dir = db + "-wal"
    segs = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))
    victim = os.path.join(wal_dir, segs[len(segs) // 2])
    data = bytearray(open(victim, "rb").read())
    data[200] ^= 0x10
    open(victim, "wb").write(data)
    with pytest.raises(CorruptLogError):
        oor.open(db)
    from oor.cli import main
    import io
    import contextlib
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["recover", "--db", db, "--salvage"])
    text = out.getvalue()
    assert "log cut at LSN" in text and "dropped log segment" in text, text
    assert any(n.endswith(".damaged") for n in os.listdir(wal_dir))
    if rc != 0:
        # pages already carried changes from the lost part of the log that no image in the kept
        # log could take back: salvage said so, and check names the problems instead of passing
        assert rc == 1 and "hold changes from the dropped log" in text, text
        return
    with oor.open(db) as reg:
        got = _state(reg, {s.norad_id for s in sets})
        problems = reg.check()
    # exactly the state after some prefix of the commits (whole transactions only), honestly reported
    assert got in _build.prefixes, f"seed {SEED}: salvage left a state that no prefix of the commits gives"
    assert rc == 0 and problems == [], (rc, problems)


def test_check_reports_log_damage_by_file_and_offset(tmp_path, sets_file):
    """`oor check` re-reads the log: damage that happened after the open is named by segment and offset."""
    sets = list(read_elements(sets_file))[:300]
    path = str(tmp_path / "c.oor")
    with oor.open(path, segment_bytes=64 << 10) as reg:
        for i in range(0, 300, 30):
            with reg.transaction():
                for s in sets[i:i + 30]:
                    reg.put(s)
        assert reg.check() == []
        wal_dir = path + "-wal"
        seg = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))[0]
        with open(os.path.join(wal_dir, seg), "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0x01]))
        problems = reg.check()
        assert any(seg in p and "byte offset" in p for p in problems), problems
