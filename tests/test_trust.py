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
    reg.delete(sets[1].norad_id)
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
