"""Strict mode and the one tree walk: ``OOR_VERIFY=1`` makes a commit that broke a tree fail with
VerifyError naming the page (and commit nothing); ``BTree.walk()`` sees every page once, in the order
the checks rely on (oor/verify.py, oor_core/btree.pyx TreeWalker)."""
import struct

import pytest

from oor_core.btree import BTree
from oor_core.errors import OorError, VerifyError
from oor.storage import open_database


def k4(i):
    return struct.pack(">I", i)


def _filled(path, n=3000, big_every=500):
    db = open_database(path, pool_pages=64)
    with db.transaction():
        t = db.tree("t", create=True)
        for i in range(n):
            t.insert(k4(i), b"v" * (3000 if i % big_every == 0 else 40))   # a few overflow chains
    return db, t


def _first_leaf(t):
    return next(pid for pid, level, _ptype, _lo, _hi in t.walk() if level == 0)


def _break_leaf(db, pid):
    """Inside the caller's transaction: put a key that belongs far right at slot 0 of a leaf."""
    with db.pool.write(pid) as g:
        g.insert_at(0, struct.pack("<H", 4) + k4(0xFFFFFFF0) + b"x")


def test_walk_sees_every_page_once_in_order(tmp_path):
    db, t = _filled(str(tmp_path / "w.oor"))
    pages = list(t.walk())
    ids = [p[0] for p in pages]
    assert len(ids) == len(set(ids)) and set(ids) == t.pages()
    assert ids[0] == t.root_page and pages[0][1] == t.height - 1
    st = t.stats()
    assert sum(1 for p in pages if p[1] == 0) == st["leaves"]
    assert sum(1 for p in pages if p[1] > 0) == st["internal"]
    assert sum(1 for p in pages if p[1] < 0) == st["overflow"] > 0
    # leaves come in key order, each node's keys inside its [lo, hi) bounds
    leaves = [p for p in pages if p[1] == 0]
    for a, b in zip(leaves, leaves[1:]):
        assert a[4] == b[3] and a[4] is not None
    assert leaves[0][3] is None and leaves[-1][4] is None
    assert t._check() == [] and db.check() == []
    db.close()


def test_verify_off_commit_of_a_broken_tree_goes_through(tmp_path, monkeypatch):
    monkeypatch.delenv("OOR_VERIFY", raising=False)
    db, t = _filled(str(tmp_path / "off.oor"))
    leaf = _first_leaf(t)
    with db.transaction():
        _break_leaf(db, leaf)
    assert any(f"page {leaf}" in p for p in db.check())        # only `oor check` finds it
    db.close()


def test_verify_on_commit_of_a_broken_tree_raises_naming_the_page(tmp_path, monkeypatch):
    monkeypatch.setenv("OOR_VERIFY", "1")
    path = str(tmp_path / "on.oor")
    db, t = _filled(path)                        # clean commits pass the checks
    leaf = _first_leaf(t)
    with pytest.raises(VerifyError) as ei:
        with db.transaction():
            _break_leaf(db, leaf)
    e = ei.value
    assert e.page_id == leaf and f"page {leaf}" in str(e) and "tree t" in str(e)
    assert "OOR_VERIFY" in str(e) and e.problems
    with pytest.raises(OorError):                # nothing more is written in this process
        db.transaction()
    db.close()                                   # no checkpoint after a failure: as if the process died
    db = open_database(path, pool_pages=64)      # recovery undoes the broken transaction
    t = db.tree("t")
    assert t._check() == [] and db.check() == [] and len(t) == 3000
    db.close()
