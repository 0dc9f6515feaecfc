"""Issue 11 regressions: nested transactions are savepoints, and a forked child cannot use its
parent's open registry.  Seeded; the seed is printed on failure (OOR_SEED replays one)."""
import os
import random

import pytest

import oor
from oor.codec import read_elements
from oor_core import ForeignProcessError, TxClosedError

SEED = int(os.environ.get("OOR_SEED", "1101"))
TRIALS = 400 if os.environ.get("OOR_SOAK", "") not in ("", "0") else 60


@pytest.fixture(scope="module")
def sets(data):
    return list(read_elements(str(data / "omm" / "iridium-2023-10-26.3le")))


def _state(reg, sets):
    return {s.norad_id for s in sets if reg.latest(s.norad_id) is not None}


class Boom(Exception):
    pass


def _run_block(reg, model, rnd, sets, depth):
    """Run a random block of puts/deletes and nested savepoints inside a transaction; mirror it in model.

    Returns normally (block keeps its work) or raises Boom (the caller's block undoes it).
    """
    for _ in range(rnd.randint(1, 4)):
        op = rnd.random()
        if op < 0.45:
            s = rnd.choice(sets)
            reg.put(s)
            model.add(s.norad_id)
        elif op < 0.6:
            s = rnd.choice(sets)
            reg.delete(s.norad_id)
            model.discard(s.norad_id)
        elif depth < 3:
            inner = set(model)
            ending = rnd.choice(["commit", "abort", "raise-caught", "raise-out"])
            if ending == "raise-out":
                with reg.transaction():
                    _run_block(reg, inner, rnd, sets, depth + 1)
                    raise Boom()
            try:
                with reg.transaction() as sp:
                    try:
                        _run_block(reg, inner, rnd, sets, depth + 1)
                    except Boom:
                        pass
                    if ending == "abort":
                        sp.abort()
                        with pytest.raises(TxClosedError):
                            sp.commit()
                        inner = set(model)
                    elif ending == "raise-caught":
                        raise Boom()
            except Boom:
                inner = set(model)
            model.clear()
            model.update(inner)


def test_nested_transactions_against_a_model(tmp_path, sets):
    rnd = random.Random(SEED)
    with oor.open(str(tmp_path / "n.oor")) as reg:
        committed = set()
        for trial in range(TRIALS):
            model = set(committed)
            outcome = rnd.choice(["commit", "abort", "raise"])
            try:
                with reg.transaction() as tx:
                    try:
                        _run_block(reg, model, rnd, sets, 1)
                    except Boom:
                        model = set(committed)
                        raise
                    assert _state(reg, sets) == model, f"seed {SEED} trial {trial}: reads inside the transaction"
                    if outcome == "abort":
                        tx.abort()
                    elif outcome == "raise":
                        raise Boom()
            except Boom:
                pass
            if outcome == "commit":
                committed = model
            got = _state(reg, sets)
            assert got == committed, f"seed {SEED} trial {trial}: {sorted(got ^ committed)} differ"
            assert reg.check() == [], f"seed {SEED} trial {trial}"
    with oor.open(str(tmp_path / "n.oor")) as reg:
        assert _state(reg, sets) == committed, f"seed {SEED}: after reopen"


def test_issue_example_inner_abort_undoes_only_inner(tmp_path, sets):
    """Issue 11 finding 4: C undone and D committed alone, the outer block silent."""
    c, x, d = sets[0], sets[1], sets[2]
    with oor.open(str(tmp_path / "e.oor")) as reg:
        with reg.transaction():
            reg.put(c)
            with reg.transaction() as inner:
                reg.put(x)
                inner.abort()
            reg.put(d)
        assert _state(reg, [c, x, d]) == {c.norad_id, d.norad_id}


def test_forked_child_cannot_use_parents_registry(tmp_path, sets):
    """Issue 11 finding 3: the child's writes used to vanish silently."""
    path = str(tmp_path / "f.oor")
    reg = oor.open(path)
    reg.load(sets_file(sets, tmp_path))
    before = reg.stats()["element_sets"]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child
        os.close(r)
        msg = b"no error"
        try:
            reg.put(sets[0])
        except ForeignProcessError as e:
            msg = str(e).encode()
        except BaseException as e:                  # noqa: BLE001
            msg = repr(e).encode()
        try:
            reg.latest(sets[0].norad_id)
            msg += b" | read allowed"
        except ForeignProcessError:
            pass
        reg.close()                                 # must write nothing and leave the lock alone
        os.write(w, msg)
        os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    msg = os.read(r, 4096).decode()
    os.close(r)
    assert "forked process cannot use it" in msg and "read allowed" not in msg, msg
    # the parent goes on, and still holds the writer lock
    reg.delete(sets[1].norad_id, sets[1].epoch)         # one set superseded (a whole-object delete is a tombstone)
    with pytest.raises(oor.DatabaseLockedError):
        oor.open(path)
    after = reg.stats()["element_sets"]
    reg.close()
    with oor.open(path) as again:
        assert again.stats()["element_sets"] == after == before - 1
        assert again.check() == []


def sets_file(sets, tmp_path):
    p = tmp_path / "sets.3le"
    oor.write_elements(sets, str(p), format="3le")
    return str(p)


# ---- the writer lock belongs to the file, not to a name of it (issue 11 finding 2) --------------
def _names(tmp_path, real):
    """Other names of the same database file: a symlink, a hard link, a relative and a '..' path."""
    sym = tmp_path / "alias.oor"
    sym.symlink_to(real)
    hard = tmp_path / "hard.oor"
    os.link(real, hard)
    sub = tmp_path / "sub"
    sub.mkdir()
    other_dir = tmp_path / "elsewhere"
    other_dir.mkdir()
    far = other_dir / "far.oor"
    os.link(real, far)
    return {"symlink": str(sym), "hard link": str(hard), "relative": os.path.relpath(real),
            "dot-dot": str(sub / ".." / os.path.basename(real)), "hard link elsewhere": str(far)}


def test_second_writer_refused_by_any_name(tmp_path, sets):
    real = tmp_path / "real.oor"
    with oor.open(str(real)) as reg:
        reg.load(sets_file(sets, tmp_path))
    names = _names(tmp_path, real)
    holder = oor.open(str(real))
    try:
        for what, name in names.items():
            with pytest.raises(oor.DatabaseLockedError):
                oor.open(name)
            if what == "hard link elsewhere":
                # its log is not found through that name: a reader is refused, naming the reason
                with pytest.raises(oor.DatabaseLockedError, match="another name"):
                    oor.open(name, read_only=True)
                continue
            with oor.open(name, read_only=True) as reader:     # a reader beside the writer, by any name
                assert reader.stats()["element_sets"] == len(sets), what
    finally:
        holder.close()
    # and the other way round: a writer through each name excludes the real one
    for what, name in names.items():
        with oor.open(name) as w:
            with pytest.raises(oor.DatabaseLockedError):
                oor.open(str(real))
            assert w.stats()["element_sets"] == len(sets), what


def test_writers_by_many_names_from_processes_exactly_one_admitted(tmp_path, sets):
    """Processes race to open the same file by different names; exactly one writer gets in at a time."""
    real = tmp_path / "race.oor"
    with oor.open(str(real)) as reg:
        reg.load(sets_file(sets, tmp_path))
    names = [str(real)] + list(_names(tmp_path, real).values())
    code = ("import sys, time, oor\n"
            "try:\n"
            "    r = oor.open(sys.argv[1])\n"
            "except oor.DatabaseLockedError:\n"
            "    print('refused'); sys.exit(0)\n"
            "print('admitted', flush=True); time.sleep(2.0); r.close()\n")
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    procs = [subprocess.Popen([sys.executable, "-c", code, n], stdout=subprocess.PIPE, text=True, env=env,
                              cwd=os.getcwd()) for n in names]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outs.count("admitted") == 1, list(zip(names, outs))


def test_crash_through_one_hard_link_recovered_through_another(tmp_path, sets):
    """The log follows the file: a writer killed while writing via one name is recovered via the other."""
    real = tmp_path / "a.oor"
    with oor.open(str(real)) as reg:
        reg.load(sets_file(sets, tmp_path))
    hard = tmp_path / "b.oor"
    os.link(real, hard)
    code = ("import sys, os, oor\n"
            "from oor.codec import read_elements\n"
            "r = oor.open(sys.argv[1], checkpoint_bytes=1 << 40)\n"
            "sets = list(read_elements(sys.argv[2]))\n"
            "r.delete(sets[0].norad_id, sets[0].epoch)\n"
            "print('committed', flush=True)\n"
            "os._exit(0)\n")
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code, str(real), sets_file(sets, tmp_path)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert "committed" in out.stdout, out.stderr
    with oor.open(str(hard)) as reg:
        assert reg.latest(sets[0].norad_id) is None
        assert reg.stats()["element_sets"] == len(sets) - 1
        assert reg.check() == []
