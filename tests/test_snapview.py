"""The snapshot gate (oor_core.snapview): when a single-call read joins the current view in C, and when it
must take the slow path (a moved view, a changed durable hint, a stale liveness check, an uncovered or
clearing reader slot); the database-level fast path agrees with snapshot reads while a writer commits."""
import mmap
import os
import random
import time

from oor.storage import open_database
from oor_core.snapview import ViewBase, ViewGate


class _View(ViewBase):
    made = 0

    def _make_tree(self, name):
        _View.made += 1
        return f"tree {name} at {self.lsn}"


def _gate(lsn=10):
    g = ViewGate()
    v = _View()
    v.lsn = lsn
    g.current, g.visible = v, lsn
    return g, v


def test_enter_joins_the_current_view_and_leave_gives_it_back():
    g, v = _gate()
    assert g.enter() is v and v.refs == 1
    assert g.enter() is v and v.refs == 2
    assert g.leave(v) is False and g.leave(v) is False and v.refs == 0
    assert g.fast == 2 and g._check() == []
    try:
        g.leave(v)
    except AssertionError:
        pass
    else:
        raise AssertionError("a leave without a join must fail")


def test_enter_goes_slow_when_the_view_is_not_the_one_to_join():
    g, v = _gate()
    g.visible = 11
    assert g.enter() is None                      # a newer commit is visible
    g.visible = 10
    assert v.claim() and g.enter() is None        # being moved
    v.moving = False
    g.closed = True
    assert g.enter() is None
    g.closed = False
    g.current = None
    assert g.enter() is None
    assert v.refs == 0 and g.slow == 4


def test_claim_fails_while_a_reader_holds_the_view():
    g, v = _gate()
    g.enter()
    assert not v.claim() and not v.moving
    g.leave(v)
    assert v.claim() and not v.claim()            # a second mover cannot claim it either


def test_a_view_left_idle_and_not_current_is_reported():
    g, v = _gate()
    g.enter()
    g.current = _View()
    assert g.leave(v) is True


def test_reader_slot_rules():
    g, v = _gate()
    g.guarded = True
    assert g.enter() is None                      # nothing published
    g.published = 11
    assert g.enter() is None                      # the slot does not cover LSN 10
    g.published = 9
    assert g.enter() is v                         # an older published LSN covers it
    g.leave(v)
    g.clearing = True
    assert g.enter() is None                      # the keeper is clearing the slot
    g.clearing = False
    g.published = 10
    assert g.enter() is v and g._check() == []
    g.leave(v)


def test_freshness_by_clock_and_hint(tmp_path):
    g, v = _gate()
    g.fresh_until = time.monotonic() - 1
    assert g.enter() is None
    g.fresh_until = time.monotonic() + 60
    path = tmp_path / "lock"
    path.write_bytes(bytes(4096))
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 4096, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    g.hint_map = m
    assert g.enter() is None                      # nothing noted yet
    g.note_hint()
    assert g.enter() is v
    g.leave(v)
    os.pwrite(fd, b"\1", 70)                      # the writer moved its durable hint
    assert g.enter() is None
    g.note_hint()
    assert g.enter() is v
    g.leave(v)
    m.close()                                     # the table closed its mapping: always slow, no error
    assert g.enter() is None and g.hint_map is None
    assert g.enter() is None
    os.close(fd)


def test_tree_handles_are_cached_until_the_view_moves():
    _View.made = 0
    v = _View()
    assert v.tree("elsets") == "tree elsets at 0" and v.tree("elsets") == "tree elsets at 0"
    assert _View.made == 1
    v.trees = {}
    v.lsn = 5
    assert v.tree("elsets") == "tree elsets at 5" and _View.made == 2


def test_single_call_reads_agree_with_the_model_while_committing(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    path = str(tmp_path / "r.oor")
    w = open_database(path)
    try:
        tree = w.tree("t", create=True)
        r = open_database(path, read_only=True)
        model = {}
        for i in range(200):
            k = rng.randrange(50).to_bytes(2, "big")
            with w.transaction():
                tree.upsert(k, rng.randbytes(rng.randrange(1, 40)))
            model[k] = tree.get(k)
            for db in (w, r):
                for _ in range(2):          # the first may refresh (slow), the second joins (fast)
                    v = db.acquire_view()
                    try:
                        t = v.tree("t")
                        got = {kk: t.get(kk) for kk in model}
                    finally:
                        db.release_view(v)
                    assert got == model, f"seed {seed}: step {i}"
            assert w.gate._check() == [] and r.gate._check() == [], f"seed {seed}"
        assert w.gate.fast > 0 and r.gate.fast > 0 and r.gate.slow > 0, f"seed {seed}"
        r.close()
    finally:
        w.close()
