"""Issue 13: nothing the registry was told is lost -- distinct sets, merges, tombstones, revisions, as-of, prune.

The real cases first (files from ../shared/data and a Space-Track-style OMM JSON
written here), then a seeded model campaign of loads, updates, deletes and prunes
at recorded commit times, asking ``as_of`` at random times (the seed is printed on
failure; OOR_SEED=<seed> reruns one, OOR_SOAK=1 runs longer).
"""
import datetime as dt
import json
import os
import random
import time

import pytest

import oor
from oor.cli import main

from conftest import soak

UTC = dt.timezone.utc
T0 = dt.datetime(2017, 11, 18, 14, 5, tzinfo=UTC)

# NORAD 31177 at epoch 17322.58683830, twice, with other element-set and revolution numbers: the real case
# the issue names (a 2017 Space-Track 3LE file); same epoch, different sets.
L0 = "0 COSMOS 2421 DEB"
L1A = "1 31177U 06026AE  17322.58683830  .00000957  00000-0  29033-3 0  9995"
L2A = "2 31177  64.8704 311.0573 0061286  35.8417 324.6718 15.23389066264822"
L1B = "1 31177U 06026AE  17322.58683830  .00000957  00000-0  29033-3 0  9992"
L2B = "2 31177  64.8704 311.0573 0061286  35.8417 324.6718 15.23389066521349"


def _fix(line):
    """line with its checksum recomputed (the test writes its own variants)."""
    from oor.codec.tle import tle_checksum
    return line[:68] + str(tle_checksum(line))


@pytest.fixture
def reg(tmp_path):
    r = oor.open(tmp_path / "rev.oor")
    yield r
    r.close()


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_two_sets_same_object_and_epoch_are_both_kept_and_reload_is_a_no_op(reg, tmp_path):
    f = _write(tmp_path / "dup.3le", "\n".join([L0, _fix(L1A), _fix(L2A), L0, _fix(L1B), _fix(L2B)]) + "\n")
    rep = reg.load(f)
    assert (rep.inserted, rep.updated, rep.unchanged, len(rep.rejected)) == (2, 0, 0, 0)
    h = reg.history(31177)
    assert [e.rev_number for e in h] == [26482, 52134]            # epoch, then arrival
    assert reg.latest(31177).rev_number == 52134
    again = reg.load(f)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert len(reg.history(31177)) == 2 and reg.check() == []


def test_a_nameless_copy_keeps_the_name(reg, tmp_path):
    named = _write(tmp_path / "named.3le", "\n".join([L0, _fix(L1A), _fix(L2A)]) + "\n")
    bare = _write(tmp_path / "bare.tle", "\n".join([_fix(L1A), _fix(L2A)]) + "\n")
    reg.load(named)
    rep = reg.load(bare)
    assert (rep.inserted, rep.updated, rep.unchanged) == (0, 0, 1)
    assert reg.latest(31177).name == "COSMOS 2421 DEB"
    # the other way round: the name arrives later and is added
    reg.delete(31177, reg.latest(31177).epoch)
    assert reg.latest(31177) is None
    assert reg.load(bare).inserted == 1 and reg.latest(31177).name is None
    assert reg.load(named).updated == 1 and reg.latest(31177).name == "COSMOS 2421 DEB"
    assert reg.check() == []


def test_renamed_object_keeps_the_old_name_in_its_history(reg):
    es = oor.parse_tle(_fix(L1A), _fix(L2A), name="OLD NAME")
    reg.put(es)
    assert reg.put(es.replace(name="NEW NAME")) == "updated"
    assert reg.latest(31177).name == "NEW NAME" and reg.latest(31177).has_text
    revs = reg.history(31177, revisions=True)
    assert [(r.element_set.name, r.current) for r in revs] == [("OLD NAME", False), ("NEW NAME", True)]
    assert revs[0].superseded_by == "renamed"
    assert [e.norad_id for e in reg.find("old name")] == []       # the index follows the current name
    assert [e.norad_id for e in reg.find("new name")] == [31177]


def test_sources_filter_every_read(reg):
    a = oor.parse_tle(_fix(L1A), _fix(L2A), name="A", source="space-track")
    b = oor.parse_tle(_fix(L1B), _fix(L2B), name="A", source="celestrak")
    reg.put(a)
    reg.put(b)
    assert reg.latest(31177, source="space-track").rev_number == 26482
    assert reg.latest(31177, source="celestrak").rev_number == 52134
    assert [e.source for e in reg.scan(source="space-track")] == ["space-track"]
    assert [e.source for e in reg.iter_sets(source="celestrak")] == ["celestrak"]
    assert reg.at(31177, a.epoch, source="space-track").rev_number == 26482
    assert [e.norad_id for e in reg.find("a", source="celestrak")] == [31177]
    assert reg.latest(31177, source="nobody") is None and list(reg.scan(source="nobody")) == []


def test_delete_leaves_a_tombstone_history_stays_readable_and_a_newer_set_revives(reg):
    es = oor.parse_tle(_fix(L1A), _fix(L2A), name="DEB")
    reg.put(es)
    assert reg.delete(31177, reason="decayed 2017-11-30") == 1
    assert reg.latest(31177) is None and 31177 not in reg and list(reg.scan()) == []
    assert [e.rev_number for e in reg.history(31177)] == [26482]
    assert reg.at(31177, es.epoch) is not None                     # history answers stay readable
    assert reg.find("deb") == []
    revs = reg.history(31177, revisions=True)
    assert revs[-1].tombstone and revs[-1].reason == "decayed 2017-11-30" and revs[-1].current
    # an older set (a back-filled history) does not revive; a newer one does
    older = es.replace(epoch=es.epoch - dt.timedelta(days=3))
    assert reg.put(older) == "inserted" and reg.latest(31177) is None
    newer = es.replace(epoch=es.epoch + dt.timedelta(days=1))
    assert reg.put(newer) == "inserted" and reg.latest(31177) == newer
    revs = reg.history(31177, revisions=True)
    tomb = [r for r in revs if r.tombstone]
    assert len(tomb) == 1 and not tomb[0].current and tomb[0].superseded_by == "revived"
    assert reg.check() == []
    st = reg.stats()
    assert st["element_sets"] == 3 and st["deleted_objects"] == 0 and st["revisions"] == 1


def test_a_format_1_file_is_refused_with_one_clear_line(tmp_path):
    from oor.storage import Database
    path = tmp_path / "old.oor"
    db = Database(str(path))
    with db.transaction():
        for n in ("elsets", "sources", "names", "cospar"):
            db.tree(n, create=True)
    db.close()
    with pytest.raises(oor.OorError, match=r"old\.oor: registry format 1 .*oor upgrade"):
        oor.open(path)
    with pytest.raises(oor.OorError, match="registry format 1"):
        oor.open(path, read_only=True)


# ---- as_of against a model -------------------------------------------------------------------------------
def _now():
    return dt.datetime.now(UTC)


def _sleep_tick():
    time.sleep(0.002)          # commit times are microseconds; keep consecutive boundaries apart


def _mk(rnd, norad, day):
    return oor.ElementSet(norad_id=norad, epoch=T0 + dt.timedelta(days=day), mean_motion=rnd.choice([15.5, 14.2]),
                          eccentricity=0.001, inclination=51.6, raan=rnd.choice([10.0, 20.0]), arg_perigee=1.0,
                          mean_anomaly=2.0, name=rnd.choice([None, "SAT", "SAT-B"]),
                          source=rnd.choice([None, "a", "b"]), rev_number=rnd.randint(0, 2))


def _state(reg, ids):
    """What the registry answers now: per object (latest, history) as comparable tuples."""
    out = {}
    for n in ids:
        es = reg.latest(n)
        out[n] = (None if es is None else (es.epoch_us, es.rev_number, es.source, es.name, es.raan),
                  tuple((e.epoch_us, e.rev_number, e.source, e.name, e.raan) for e in reg.history(n)))
    return out


def _answer(reg, ids, t):
    out = {}
    for n in ids:
        es = reg.latest(n, as_of=t)
        out[n] = (None if es is None else (es.epoch_us, es.rev_number, es.source, es.name, es.raan),
                  tuple((e.epoch_us, e.rev_number, e.source, e.name, e.raan) for e in reg.history(n, as_of=t)))
    return out


def _seeds(n):
    env = os.environ.get("OOR_SEED")
    return [int(env)] if env else [random.randrange(1 << 30) for _ in range(n)]


@pytest.mark.parametrize("seed", _seeds(2))
def test_as_of_answers_what_the_registry_held_then(tmp_path, seed):
    print(f"seed={seed} (rerun with OOR_SEED={seed})")
    rnd = random.Random(seed)
    ids = [5, 11, 25544]
    reg = oor.open(tmp_path / f"asof{seed}.oor")
    seen = []                      # (wall time after a commit, the state then)
    pruned_before = None
    try:
        seen.append((_now(), _state(reg, ids)))
        for op in range(60 if soak() else 25):
            ctx = f"[seed {seed}, op {op}]"
            r = rnd.random()
            if r < 0.55:
                with reg.transaction() as tx:
                    for _ in range(rnd.randint(1, 4)):
                        tx.put(_mk(rnd, rnd.choice(ids), rnd.choice([0, 1, 2])))
            elif r < 0.7:
                n = rnd.choice(ids)
                h = reg.history(n)
                if h:
                    reg.delete(n, rnd.choice(h).epoch)
            elif r < 0.8:
                reg.delete(rnd.choice(ids), reason="decayed")
            elif r < 0.88 and len(seen) > 3:
                i = rnd.randrange(1, len(seen))
                reg.prune(seen[i][0], keep_latest=rnd.choice([0, 0, 1]))
                pruned_before = seen[i][0] if pruned_before is None else max(pruned_before, seen[i][0])
            _sleep_tick()
            seen.append((_now(), _state(reg, ids)))
            _sleep_tick()
            assert reg.check() == [], ctx
            for t, want in rnd.sample(seen, min(4, len(seen))):
                if pruned_before is not None and t < pruned_before:
                    continue                   # before a prune point the past may be gone (by design)
                assert _answer(reg, ids, t) == want, f"as_of {t.isoformat()} {ctx}"
        # every recorded boundary at or after the last prune point, once more, after a reopen
        reg.close()
        reg = oor.open(tmp_path / f"asof{seed}.oor", read_only=True)
        for t, want in seen:
            if pruned_before is None or t >= pruned_before:
                assert _answer(reg, ids, t) == want, f"as_of {t.isoformat()} after reopen [seed {seed}]"
    finally:
        reg.close()


def test_as_of_inside_a_running_transaction_does_not_see_it(reg):
    es = oor.parse_tle(_fix(L1A), _fix(L2A), name="DEB")
    with reg.transaction() as tx:
        tx.put(es)
        _sleep_tick()
        inside = _now()              # the transaction has its stamp but has not committed
        _sleep_tick()
    after = _now()
    assert reg.latest(31177, as_of=inside) is None
    assert reg.latest(31177, as_of=after) == es


def test_prune_removes_superseded_versions_only(reg):
    es = oor.parse_tle(_fix(L1A), _fix(L2A), name="ONE")
    reg.put(es)
    reg.put(es.replace(name="TWO"))
    reg.put(es.replace(name="THREE"))
    assert len(reg.history(31177, revisions=True)) == 3
    _sleep_tick()
    rep = reg.prune(_now(), keep_latest=1)
    assert rep.revisions == 1
    assert [r.element_set.name for r in reg.history(31177, revisions=True)] == ["TWO", "THREE"]
    rep = reg.prune(_now())
    assert rep.revisions == 1 and reg.latest(31177).name == "THREE"
    reg.delete(31177, reason="gone")
    assert reg.prune(_now()).objects == 0 and reg.latest(31177) is None and len(reg.history(31177)) == 1
    _sleep_tick()
    rep = reg.prune(_now(), purge_deleted=True)
    assert (rep.objects, rep.sets) == (1, 1) and reg.history(31177) == []
    assert reg.check() == []


# ---- command line --------------------------------------------------------------------------------------
def test_cli_source_as_of_and_revisions(tmp_path, capsys):
    db = tmp_path / "c.oor"
    f = _write(tmp_path / "a.3le", "\n".join([L0, _fix(L1A), _fix(L2A)]) + "\n")
    g = _write(tmp_path / "b.3le", "\n".join([L0, _fix(L1B), _fix(L2B)]) + "\n")
    assert main(["load", str(f), "--db", str(db), "--source", "space-track", "--quiet"]) == 0
    _sleep_tick()
    between = _now().isoformat()
    _sleep_tick()
    assert main(["load", str(g), "--db", str(db), "--source", "celestrak", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["get", "31177", "--db", str(db), "--source", "space-track", "--format", "tle"]) == 0
    out = capsys.readouterr().out
    assert _fix(L2A) in out and _fix(L2B) not in out
    assert main(["get", "31177", "--db", str(db), "--as-of", between, "--format", "tle"]) == 0
    out = capsys.readouterr().out
    assert _fix(L2A) in out and _fix(L2B) not in out
    assert main(["history", "31177", "--db", str(db)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 and "space-track" in table[0] and "celestrak" in table[1]
    assert main(["history", "31177", "--db", str(db), "--revisions", "--format", "jsonl"]) == 0
    revs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in revs] == ["space-track", "celestrak"] and all(r["superseded"] is None for r in revs)
    assert main(["scan", "--db", str(db), "--source", "celestrak", "--format", "3le"]) == 0
    assert _fix(L2B) in capsys.readouterr().out


def test_query_arrival_time_field_both_paths(reg, tmp_path, capsys):
    """Issue 16's arrival_time field: the vectorized path (read from the record trailer in C) and the row-wise
    path give the same rows; it tells two loads apart."""
    a = oor.parse_tle(_fix(L1A), _fix(L2A), name="A", source="space-track")
    b = oor.parse_tle(_fix(L1B), _fix(L2B), name="B", source="celestrak")
    reg.put(a)
    _sleep_tick()
    between = _now().isoformat()
    _sleep_tick()
    reg.put(b)
    for vec in (True, False):
        rows = list(reg.query().vectorized(vec).where(arrival_time__gt=between).select("norad_id", "source",
                                                                                          "arrival_time"))
        assert [(r["norad_id"], r["source"]) for r in rows] == [(31177, "celestrak")], vec
        assert rows[0]["arrival_time"] == reg.latest(31177).arrival
    # the latest set of 31177 is b (the last arrival): nothing older among the latest; among all sets, a
    assert list(reg.query().where(arrival_time__le=between).select("source")) == []
    for vec in (True, False):
        assert list(reg.query().all_sets().vectorized(vec).where(arrival_time__le=between)
                    .select("source")) == [{"source": "space-track"}]


SPACETRACK_GP = {
    "CCSDS_OMM_VERS": "2.0", "CREATION_DATE": "2017-11-18T20:16:41", "ORIGINATOR": "18 SPCS",
    "OBJECT_NAME": "COSMOS 2421 DEB", "OBJECT_ID": "2006-026AE", "CENTER_NAME": "EARTH", "REF_FRAME": "TEME",
    "TIME_SYSTEM": "UTC", "MEAN_ELEMENT_THEORY": "SGP4", "EPOCH": "2017-11-18T14:05:02.829120",
    "MEAN_MOTION": "15.23389066", "ECCENTRICITY": "0.0061286", "INCLINATION": "64.8704", "RA_OF_ASC_NODE": "311.0573",
    "ARG_OF_PERICENTER": "35.8417", "MEAN_ANOMALY": "324.6718", "EPHEMERIS_TYPE": "0", "CLASSIFICATION_TYPE": "U",
    "NORAD_CAT_ID": "31177", "ELEMENT_SET_NO": "999", "REV_AT_EPOCH": "26482", "BSTAR": "0.00029033",
    "MEAN_MOTION_DOT": "0.00000957", "MEAN_MOTION_DDOT": "0", "OBJECT_TYPE": "DEBRIS", "RCS_SIZE": "SMALL",
    "DECAY_DATE": None, "GP_ID": "123456789", "TLE_LINE0": "0 COSMOS 2421 DEB"}


def test_spacetrack_json_fields_are_kept_by_the_registry_and_shown(reg, tmp_path, capsys):
    rec = dict(SPACETRACK_GP, TLE_LINE1=_fix(L1A), TLE_LINE2=_fix(L2A))
    f = _write(tmp_path / "gp.json", json.dumps([rec]))
    assert reg.load(f, source_name="space-track").inserted == 1
    es = reg.latest(31177)
    m = es.meta
    assert m["TLE_LINE1"] == _fix(L1A) and m["TLE_LINE2"] == _fix(L2A)
    assert m["CREATION_DATE"] == "2017-11-18T20:16:41" and m["GP_ID"] == "123456789" and m["RCS_SIZE"] == "SMALL"
    assert es.origin == f"{f}#1" and es.source == "space-track" and es.arrival is not None
    # the same set from a 3LE file of the same source: a repeat; it brings the exact text, keeps every keyword
    tle = _write(tmp_path / "a.3le", "\n".join([L0, _fix(L1A), _fix(L2A)]) + "\n")
    assert reg.load(tle, source_name="space-track").updated == 1
    es2 = reg.latest(31177)
    assert es2.has_text and es2.line1 == _fix(L1A) and es2.meta == m and es2.origin == es.origin
    reg.close()
    capsys.readouterr()
    assert main(["get", "31177", "--db", str(reg.path), "--format", "json"]) == 0
    shown, = json.loads(capsys.readouterr().out)
    assert shown["GP_ID"] == "123456789" and shown["OOR_SOURCE"] == "space-track" and shown["OOR_ORIGIN"] == es.origin
    assert shown["OOR_ARRIVAL"].startswith(str(es2.arrival.year))


def test_an_omm_export_then_reload_keeps_the_sources_apart(reg, tmp_path):
    """The issue's 62 -> 31: the same 31 Iridium sets from two sources, exported as OMM and loaded again."""
    from conftest import data_dir
    d = data_dir()
    if d is None:
        pytest.skip("real data folder not found")
    f = d / "omm" / "iridium-2023-10-26.3le"
    reg.load(f, source_name="celestrak")
    reg.load(f, source_name="space-track")
    assert reg.stats()["element_sets"] == 62
    out = tmp_path / "all.json"
    assert reg.export(out, latest=False) == 62
    with oor.open(tmp_path / "again.oor") as again:
        rep = again.load(out)
        assert rep.inserted == 62
        assert again.sources() == {"celestrak": 1, "space-track": 2}


def test_prune_never_changes_what_a_live_snapshot_sees(reg):
    es = oor.parse_tle(_fix(L1A), _fix(L2A), name="ONE")
    reg.put(es)
    reg.put(es.replace(name="TWO"))
    with reg.snapshot() as snap:
        before = [(r.element_set.name, r.current) for r in snap.history(31177, revisions=True)]
        _sleep_tick()
        assert reg.prune(_now()).revisions == 1
        assert [(r.element_set.name, r.current) for r in snap.history(31177, revisions=True)] == before
        assert len(reg.history(31177, revisions=True)) == 1


def test_threads_writing_at_once_each_get_their_own_stamp(reg):
    """Arrival stamps are per transaction even when threads of one process write at once (the state is set
    and cleared under the writer's lock)."""
    import threading
    base = oor.parse_tle(_fix(L1A), _fix(L2A), name="X")
    errors = []

    def writer(k):
        try:
            for i in range(60):
                reg.put(base.replace(norad_id=1000 * (k + 1) + i))
        except BaseException as exc:          # noqa: BLE001 -- reported below
            errors.append(exc)
    ts = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    stamps = [reg.latest(1000 * (k + 1) + i).arrival_us for k in range(3) for i in range(60)]
    assert len(set(stamps)) == 180                         # one transaction, one stamp
    assert reg.stats()["commits"] == 180 and reg.check() == []


def test_a_failed_conflict_leaves_no_stale_stamp(reg):
    es = oor.parse_tle(_fix(L1A), _fix(L2A), name="X")
    reg.put(es)
    snap = reg.snapshot()
    reg.put(es.replace(name="Y"))
    with pytest.raises(oor.ConflictError):
        with snap.transaction() as tx:
            tx.put(es.replace(name="Z"))
    snap.release()
    time.sleep(0.01)
    t = _now()
    reg.put(es.replace(norad_id=5))
    assert reg.latest(5).arrival >= t                     # a fresh stamp, not the failed transaction's
    assert reg.check() == []


def test_reviving_a_deleted_object_conflicts_with_the_delete(reg):
    es = oor.parse_tle(_fix(L1A), _fix(L2A), name="X")
    reg.put(es)
    snap = reg.snapshot()
    reg.delete(31177, reason="decayed")
    with pytest.raises(oor.ConflictError):
        with snap.transaction() as tx:
            tx.put(es.replace(epoch=es.epoch + dt.timedelta(days=1)))
    snap.release()
    assert reg.latest(31177) is None and reg.check() == []
