"""The latest tree (registry format 3, docs/latest.md, invariant 26): each object's last elsets entry.

A seeded model run of every registry write (put, a repeat that renames, load, delete of an object, of an
epoch, of a source, a revival, an aborted transaction, prune with purge) compares the latest tree with the
last entry of each object in elsets after every step; ``OOR_LATEST_SEED`` replays another seed (the seed is
in every assertion).  Then: the check finds each kind of damage to the tree, on the writer's path and on
``oor check``'s one-walk path; a format-2 file (no latest tree) is read as it is and upgraded by a writer.
"""
import datetime
import os
import random
import subprocess
import sys

import pytest

import oor
from oor.codec.elements import EPOCH_1950
from oor.storage import Database

from conftest import first_catalog_sets

SEED = int(os.environ.get("OOR_LATEST_SEED", "11"))


def _last_entries(items):
    out, prev = [], None
    for kv in items:
        if prev is not None and kv[0][:4] != prev[0][:4]:
            out.append(prev)
        prev = kv
    if prev is not None:
        out.append(prev)
    return out


def _tree_items(reg, name):
    with reg.db.snapshot() as snap:
        t = snap.tree(name)
        return None if t is None else [(bytes(k), bytes(v)) for k, v in t.items()]


def _assert_latest(reg, why):
    with reg.db.snapshot() as snap:
        want = _last_entries(snap.tree("elsets").items())
        have = list(snap.tree("latest").items())
    assert have == want, f"{why}: the latest tree is not each object's last elsets entry"


def _set(base, rng, n, day, name=None):
    es0 = base[n % len(base)]
    es = es0.replace(norad_id=n, epoch=EPOCH_1950 + datetime.timedelta(days=day, microseconds=rng.randint(0, 5)),
                     mean_motion=es0.mean_motion + 1e-6 * rng.randint(0, 999))
    return es if name is None else es.replace(name=name)


def test_model_run_keeps_the_latest_tree(tmp_path, data):
    rng = random.Random(SEED)
    base = first_catalog_sets(data, 60)
    ids = [1, 2, 5, 25544, 99999, 100000, 339999] + rng.sample(range(10, 90000), 20)
    reg = oor.open(tmp_path / "m.oor")
    stored = []
    try:
        for step in range(400):
            why = f"seed {SEED}, step {step}"
            op = rng.random()
            n = rng.choice(ids)
            day = 20000 + rng.randint(-300, 300)
            if op < 0.35:
                es = _set(base, rng, n, day).with_provenance()
                reg.put(es.replace(source=rng.choice((None, "a", "b"))))
                stored.append(es)
            elif op < 0.45 and stored:                       # a repeat that renames the set: an upsert
                es = rng.choice(stored)
                reg.put(es.replace(name=f"RENAMED {step}"))
            elif op < 0.60:
                batch = [_set(base, rng, rng.choice(ids), day + rng.randint(-5, 5)) for _ in range(rng.randint(1, 40))]
                reg.load(batch, source_name=rng.choice(("a", "b")))
            elif op < 0.68:
                reg.delete(n, reason=f"gone {step}")
            elif op < 0.74 and stored:
                es = rng.choice(stored)
                reg.delete(es.norad_id, epoch=es.epoch)
            elif op < 0.78:
                reg.delete(n, source=rng.choice(("a", "b")))
            elif op < 0.86:
                reg.put(_set(base, rng, n, 30000 + step))            # newer than everything: a revival too
            elif op < 0.93:
                with pytest.raises(RuntimeError):
                    with reg.transaction() as tx:
                        tx.put(_set(base, rng, n, 31000 + step))
                        tx.delete(rng.choice(ids))
                        raise RuntimeError("abort")
            elif op < 0.96:
                with reg.transaction() as tx:                       # several writes, one commit
                    for _ in range(3):
                        tx.put(_set(base, rng, rng.choice(ids), day + rng.randint(0, 50)))
                    tx.delete(rng.choice(ids))
            else:
                reg.prune("now", purge_deleted=True)
            _assert_latest(reg, why)
            if step % 50 == 49:
                assert reg.check() == [], why
        assert reg.check() == [], f"seed {SEED}"
        # and every latest-type read equals the history's last set
        for n in ids:
            h = reg.history(n)
            lat = reg.latest(n)
            if lat is not None:
                assert h and lat.epoch_us == h[-1].epoch_us and (lat.line1, lat.line2) == (h[-1].line1, h[-1].line2), \
                    f"seed {SEED}: latest({n})"
        assert [es.norad_id for es in reg.scan()] == sorted(n for n in ids if reg.latest(n) is not None), f"seed {SEED}"
    finally:
        reg.close()


# ---- the check finds damage to the tree ----------------------------------------------------------------
@pytest.fixture
def loaded(tmp_path, data):
    path = tmp_path / "c.oor"
    with oor.open(path) as reg:
        reg.load(str(data / "catalogs" / "catalog-2022-07.3le"), source_name="celestrak")
        reg.load(str(data / "catalogs" / "catalog-2022-01.3le"), source_name="celestrak")
        reg.delete(25544, reason="test")
    return path


def _damage(path, how):
    """Change the latest tree behind the registry's back (through the storage layer)."""
    db = Database(str(path), create=False)
    try:
        with db.transaction():
            lt = db.tree("latest")
            items = list(lt.items(None, None))
            k, v = items[len(items) // 2]
            if how == "missing":
                lt.delete(k)
            elif how == "stale value":
                lt.upsert(k, v[:-1] + bytes([v[-1] ^ 1]))
            elif how == "older key":
                el = db.tree("elsets")
                older = [kv for kv in el.items(k[:4], k) if kv[0] != k]
                assert older, "the object should have an older set"
                lt.delete(k)
                lt.insert(*older[-1])
            elif how == "extra":
                lt.insert(b"\xff\xff\xff\x00" + b"\x00" * 12, v)
    finally:
        db.close()


@pytest.mark.parametrize("how", ["missing", "stale value", "older key", "extra"])
def test_check_names_damage_to_the_latest_tree(loaded, how):
    with oor.open(loaded) as reg:
        assert reg.check() == []
    _damage(loaded, how)
    with oor.open(loaded) as reg:
        problems = reg.check()
    assert problems and all(p.startswith("tree latest:") for p in problems), (how, problems)
    # the reader's one-walk check (oor check) finds it too, in one line naming the tree
    r = subprocess.run([sys.executable, "-m", "oor", "check", "--db", str(loaded)], capture_output=True, text=True)
    assert r.returncode != 0 and "tree latest:" in r.stdout + r.stderr, (how, r.stdout, r.stderr)


def test_clean_file_passes_both_checks(loaded):
    r = subprocess.run([sys.executable, "-m", "oor", "check", "--db", str(loaded)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- format 2: read as it is, upgraded by a writer --------------------------------------------------------
def _as_format2(src, dest):
    """dest: the registry src as format 2 wrote it -- the same trees without latest, info["format"] 2."""
    with oor.open(src, read_only=True) as reg:
        names = [n for n in reg.db.tree_names() if n != "latest"]
        with reg.db.snapshot() as snap:
            trees = {n: [(bytes(k), bytes(v)) for k, v in snap.tree(n).items()] for n in names}
    trees["info"] = [(b"format", (2).to_bytes(2, "big"))]
    db = Database(str(dest), create=True)
    try:
        with db.transaction():
            for n in names:
                db.tree(n, create=True).bulk_load(trees[n])
    finally:
        db.close()


def test_format2_file_is_read_then_upgraded(loaded, tmp_path):
    old = tmp_path / "f2.oor"
    _as_format2(loaded, old)
    with oor.open(loaded, read_only=True) as reg:
        want_scan = [(es.norad_id, es.line1, es.line2) for es in reg.scan()]
        ids = [n for n, _, _ in want_scan[::97]] + [25544]
        want = [None if es is None else (es.line1, es.line2) for es in reg.latest_many(ids)]
        want_one = [None if reg.latest(n) is None else reg.latest(n).line2 for n in ids]
    with oor.open(old, read_only=True) as reg:           # read-only: through elsets, nothing written
        assert "latest" not in reg.db.tree_names()
        assert reg.check() == []
        assert [(es.norad_id, es.line1, es.line2) for es in reg.scan()] == want_scan
        assert [None if es is None else (es.line1, es.line2) for es in reg.latest_many(ids)] == want
        assert [None if reg.latest(n) is None else reg.latest(n).line2 for n in ids] == want_one
    with oor.open(old) as reg:                           # a writer upgrades it, in one transaction
        assert "latest" in reg.db.tree_names()
        assert reg.check() == []
        _assert_latest(reg, "after the upgrade")
        assert [(es.norad_id, es.line1, es.line2) for es in reg.scan()] == want_scan
        assert [None if es is None else (es.line1, es.line2) for es in reg.latest_many(ids)] == want
    assert _tree_items(oor.open(old, read_only=True), "info") == [(b"format", (3).to_bytes(2, "big"))]


def test_dump_restore_builds_the_latest_tree(loaded, tmp_path):
    dump = tmp_path / "d.jsonl"
    with oor.open(loaded) as reg:
        reg.dump(str(dump))
        want = _tree_items(reg, "latest")
    oor.restore(str(dump), str(tmp_path / "r.oor"))
    with oor.open(tmp_path / "r.oor") as reg:
        assert reg.check() == []
        assert _tree_items(reg, "latest") == want
