"""oor dump / restore / backup / compact / upgrade / prune (issue 13; oor/archive.py, docs/revisions.md rule 9)."""
import datetime as dt
import io
import json
import os
import random
import threading
import time

import pytest

import oor
from oor import archive
from oor.cli import main
from oor.codec import ElementSet, encode_record
from oor.keys import SIGN, pack_count, pack_u16
from oor.storage import Database

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
ISS = ("ISS (ZARYA)",
       "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927",
       "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537")


def _es(norad, days=0.0, n=15.5, name=None, source=None, rev=0):
    return ElementSet(norad_id=norad, epoch=T0 + dt.timedelta(days=days), mean_motion=n, eccentricity=0.001,
                      inclination=51.6, raan=10.0, arg_perigee=20.0, mean_anomaly=30.0, name=name, source=source,
                      rev_number=rev, intl_designator="1998-067A")


def _dump_text(reg):
    buf = io.StringIO()
    reg.dump(buf)
    return buf.getvalue()


def _small(reg):
    """A registry with sources, several sets per epoch, a rename, deletes, a tombstone and revisions."""
    reg.load(io.StringIO("\n".join(ISS) + "\n"), source_name="celestrak")
    reg.load(io.StringIO("0 " + "\n".join(ISS) + "\n"), source_name="space-track")
    reg.put(_es(5, 0, name="VANGUARD 1", source="omm"))
    reg.put(_es(5, 0, n=15.6, source="omm", rev=7))          # a distinct set at the same epoch
    reg.put(_es(5, 0, name="VANGUARD ONE", source="omm"))    # renamed: old version kept as a revision
    reg.put(_es(5, 1))
    reg.put(_es(7, 0, name="GONE"))
    reg.delete(7, reason="decayed")                           # tombstone
    reg.put(_es(9, 2, name="X"))
    reg.delete(9, T0 + dt.timedelta(days=2))                  # superseded set


def test_dump_restore_dump_small(tmp_path):
    with oor.open(tmp_path / "a.oor") as reg:
        _small(reg)
        text = _dump_text(reg)
    lines = text.splitlines()
    head = json.loads(lines[0])
    assert head["oor_dump"] == 1 and head["registry_format"] == 3
    assert [name for _, name in head["sources"]] == ["celestrak", "space-track", "omm"]
    assert json.loads(lines[-1]) == {"end": {"elsets": sum('"set"' in ln[:8] or '"tombstone"' in ln[:14]
                                                         for ln in lines[1:-1]),
                                             "revs": sum(ln.startswith('{"revision"') for ln in lines)}}
    assert any(ln.startswith('{"tombstone"') for ln in lines)
    assert any('"renamed"' in ln for ln in lines)
    (tmp_path / "a.jsonl").write_text(text, encoding="utf-8")
    counts = oor.restore(tmp_path / "a.jsonl", tmp_path / "b.oor")
    with oor.open(tmp_path / "b.oor") as b:
        assert b.check() == []
        assert _dump_text(b) == text
        assert counts == json.loads(lines[-1])["end"]
        assert b.latest(7) is None and len(b.history(7)) == 1
        assert b.latest(25544).name == "ISS (ZARYA)" and b.sources() == {"celestrak": 1, "space-track": 2, "omm": 3}
        st = [es for es in b.history(25544) if es.source == "space-track"][0]
        assert oor.format_elements([st], "3le").startswith("0 ISS")      # the 3LE name prefix survived
        assert len(b.history(5, revisions=True)) > len(b.history(5))
        assert b.find("vanguard one")
        b.put(_es(11, 0, source="omm"))                       # a restored registry takes writes
        assert b.check() == []


def test_restore_refuses_and_leaves_nothing(tmp_path):
    with oor.open(tmp_path / "a.oor") as reg:
        _small(reg)
        text = _dump_text(reg)
    (tmp_path / "exists.oor").write_bytes(b"")
    with pytest.raises(oor.OorError, match="exists"):
        oor.restore(io.StringIO(text), tmp_path / "exists.oor")
    lines = text.splitlines(keepends=True)
    iss = next(i for i, ln in enumerate(lines) if ln.startswith('{"set"') and "15.72125391563537" in ln) + 1
    cases = {
        3: lines[2][:-10] + "\n",                               # torn JSON
        4: lines[3].replace('"seq":', '"seq":"x",'),            # wrong type
        iss: lines[iss - 1].replace("15.72125391563537", "15.72125392563537"),   # TLE and fields disagree
    }
    for lineno, bad in cases.items():
        damaged = lines[:lineno - 1] + [bad] + lines[lineno:]
        with pytest.raises(oor.OorError, match=rf":{lineno}: .*nothing was restored"):
            oor.restore(io.StringIO("".join(damaged)), tmp_path / "new.oor")
        assert sorted(os.listdir(tmp_path)) == ["a.oor", "a.oor-lock", "a.oor-wal", "exists.oor"], lineno
    with pytest.raises(oor.OorError, match="cut short"):
        oor.restore(io.StringIO("".join(lines[:-1])), tmp_path / "new.oor")
    swapped = lines[:2] + [lines[3], lines[2]] + lines[4:]
    with pytest.raises(oor.OorError, match=":4: entry out of key order"):
        oor.restore(io.StringIO("".join(swapped)), tmp_path / "new.oor")
    assert not (tmp_path / "new.oor").exists()


def _load_all(reg, data):
    """All of ../shared/data under three sources, then deletes, renames and a prune."""
    for f in sorted((data / "catalogs").iterdir()):
        reg.load(f, source_name="celestrak")
    for f in sorted((data / "history").iterdir()):
        reg.load(f, source_name="space-track")
    for f in sorted((data / "omm").iterdir()):
        reg.load(f, source_name="omm")
    seed = int(os.environ.get("OOR_SEED", "13"))
    print("seed", seed)
    rnd = random.Random(seed)
    ids = sorted({es.norad_id for es in reg.scan()})
    for norad in rnd.sample(ids, 40):
        reg.delete(norad, reason="decayed")
    for norad in rnd.sample(ids, 40):
        es = reg.latest(norad)
        if es is not None:
            reg.put(es.replace(name=(es.name or "") + " RENAMED"))
    time.sleep(0.002)
    mark = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.002)
    for norad in rnd.sample(ids, 40):
        es = reg.latest(norad)
        if es is not None:
            reg.put(es.replace(name=(es.name or "") + " AGAIN"))
    return reg.prune(mark)


def test_dump_restore_dump_all_real_data(data, tmp_path):
    with oor.open(tmp_path / "all.oor") as reg:
        rep = _load_all(reg, data)
        assert rep.revisions > 0
        reg.dump(tmp_path / "all.jsonl")
    t0 = time.perf_counter()
    counts = oor.restore(tmp_path / "all.jsonl", tmp_path / "back.oor")
    took = time.perf_counter() - t0
    with oor.open(tmp_path / "back.oor") as b:
        assert b.check() == []
        b.dump(tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "all.jsonl").read_bytes()
    print(f"restore {counts} in {took:.1f} s; file {os.path.getsize(tmp_path / 'back.oor'):,} bytes")
    assert counts["revs"] > 0


def test_backup_while_a_writer_loads(data, tmp_path):
    path = tmp_path / "live.oor"
    files = sorted((data / "catalogs").iterdir())
    with oor.open(path) as reg:
        reg.load(files[0], source_name="celestrak")
        started = threading.Event()

        def writer():
            started.set()
            for f in files[1:]:
                reg.load(f, source_name="celestrak", batch=2000)
        th = threading.Thread(target=writer)
        th.start()
        started.wait()
        time.sleep(0.05)
        with reg.snapshot() as snap:      # what the backup must equal: a snapshot taken like its own
            before = reg.stats()["commits"]
            size = reg.backup(tmp_path / "copy.oor")
        th.join()
        assert size == os.path.getsize(tmp_path / "copy.oor")
        with pytest.raises(oor.OorError, match="exists"):
            reg.backup(tmp_path / "copy.oor")
        total = reg.stats()["element_sets"]
    with oor.open(tmp_path / "copy.oor", read_only=True) as c:
        assert c.check() == []
        n = c.stats()["element_sets"]
        commits = c.stats()["commits"]
    assert 0 < n <= total and commits >= before
    # the copy is one snapshot's content: equal to a dump of the live file as of that commit count
    with oor.open(tmp_path / "copy.oor") as c:
        text = _dump_text(c)
    assert json.loads(text.splitlines()[-1])["end"]["elsets"] == n
    del snap


def test_backup_equals_snapshot_content(tmp_path):
    with oor.open(tmp_path / "a.oor") as reg:
        _small(reg)
        with reg.snapshot() as snap:
            reg.put(_es(20, 0))                # after the snapshot: not in a backup taken at it
            buf = io.StringIO()
            archive.dump(snap._snap, buf)
            archive.copy_file(snap._snap, tmp_path / "b.oor")
    with oor.open(tmp_path / "b.oor") as b:
        assert b.check() == []
        assert _dump_text(b) == buf.getvalue()
        assert b.latest(20) is None


def test_compact_shrinks_and_keeps_everything(data, tmp_path):
    path = tmp_path / "c.oor"
    with oor.open(path) as reg:
        for f in sorted((data / "catalogs").iterdir()):
            reg.load(f, source_name="celestrak")
        reg.put(_es(5, 0))
        reg.delete(5, reason="test")
        text = _dump_text(reg)
        reg.checkpoint()
        rep = reg.compact()
        assert rep.bytes_after < rep.bytes_before, rep
        assert os.path.getsize(path) == rep.bytes_after
        assert reg.check() == []
        assert _dump_text(reg) == text
        reg.put(_es(6, 0))                      # the compacted registry goes on taking writes
        assert reg.latest(6) is not None and reg.check() == []
        print(rep.summary())
    with oor.open(path) as reg:
        assert reg.check() == [] and reg.latest(6) is not None


def test_compact_refuses_with_snapshot_or_reader(tmp_path):
    path = tmp_path / "r.oor"
    with oor.open(path) as reg:
        _small(reg)
        snap = reg.snapshot()
        with pytest.raises(oor.OorError, match="holds 1 snapshot"):
            reg.compact()
        snap.release()
        import subprocess
        import sys
        code = ("import oor, sys, time\nr = oor.open(sys.argv[1], read_only=True)\nprint('up', flush=True)\n"
                "sys.stdin.readline()\n")
        child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "up"
            with pytest.raises(oor.OorError, match=r"reader process\(es\) attached"):
                reg.compact()
        finally:
            child.stdin.write("\n")
            child.stdin.flush()
            child.wait(10)
        assert reg.check() == []
        reg.compact()
        assert reg.check() == []


def _write_format1(path, sets):
    """A format-1 file written with the storage layer: elsets (14-byte keys), sources, names, cospar."""
    from oor import index_counts
    sources = sorted({es.source for es in sets if es.source is not None})
    sid = {None: 0, **{s: i + 1 for i, s in enumerate(sources)}}
    want = index_counts.new_expectation()
    items = []
    for es in sets:
        key = es.norad_id.to_bytes(4, "big") + (es.epoch_us + SIGN).to_bytes(8, "big") + \
            sid[es.source].to_bytes(2, "big")
        items.append((key, encode_record(es)))
        index_counts.expect(want, es, es.norad_id)
    src_items = sorted([(b"n" + s.encode(), pack_u16(i)) for s, i in sid.items() if s] +
                       [(b"i" + pack_u16(i), s.encode()) for s, i in sid.items() if s])
    with Database(path) as db:
        with db.transaction():
            for name, its in (("elsets", sorted(items)), ("sources", src_items),
                              ("names", sorted((k, pack_count(n)) for k, n in want["names"].items())),
                              ("cospar", sorted((k, pack_count(n)) for k, n in want["cospar"].items()))):
                db.tree(name, create=True).bulk_load(its)


def test_upgrade_format1(tmp_path):
    path = tmp_path / "old.oor"
    sets = [_es(5, 0, name="A", source="celestrak"), _es(5, 0, n=15.7, name="A2", source="space-track"),
            _es(5, 1, source=None), _es(25544, 0, name="ISS", source="celestrak")]
    _write_format1(path, sets)
    with pytest.raises(oor.OorError, match="oor upgrade"):
        oor.open(path)
    err = io.StringIO()
    assert main(["upgrade", "--db", str(path)]) == 0
    assert (tmp_path / "old.oor.format1").exists()
    with oor.open(path) as reg:
        assert reg.check() == []
        h = reg.history(5)
        assert [(es.source, es.mean_motion) for es in h] == [("celestrak", 15.5), ("space-track", 15.7),
                                                            (None, 15.5)]
        assert reg.latest(25544).name == "ISS" and reg.find("iss")
        assert reg.sources() == {"celestrak": 1, "space-track": 2}
        assert reg.put(_es(5, 0, name="A", source="celestrak")) == "unchanged"
        assert reg.put(_es(5, 0, n=15.8, source="celestrak")) == "inserted"
        assert reg.check() == []
    assert main(["upgrade", "--db", str(path)]) == 2          # already format 2 (and .format1 exists)
    del err


def test_cli_dump_restore_backup_compact_prune(tmp_path, capsys):
    db = str(tmp_path / "a.oor")
    with oor.open(db) as reg:
        _small(reg)
    assert main(["dump", "--db", db, "-o", str(tmp_path / "d.jsonl")]) == 0
    assert main(["restore", str(tmp_path / "d.jsonl"), "--db", str(tmp_path / "b.oor")]) == 0
    assert main(["restore", str(tmp_path / "d.jsonl"), "--db", str(tmp_path / "b.oor")]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["dump", "--db", str(tmp_path / "b.oor")]) == 0
    assert capsys.readouterr().out == (tmp_path / "d.jsonl").read_text(encoding="utf-8")
    assert main(["backup", str(tmp_path / "c.oor"), "--db", db]) == 0
    assert main(["check", "--db", str(tmp_path / "c.oor")]) == 0
    capsys.readouterr()
    assert main(["compact", "--db", db]) == 0
    assert "bytes" in capsys.readouterr().out
    assert main(["prune", "--db", db, "--before", "now", "--purge-deleted"]) == 0
    out = capsys.readouterr().out
    assert "superseded versions removed" in out and "deleted objects purged" in out
    with oor.open(db) as reg:
        assert reg.check() == [] and reg.history(7) == []
    for cmd in ("dump", "restore", "backup", "compact", "upgrade", "prune"):
        assert main([cmd, "--help"]) == 0
        assert "example:" in capsys.readouterr().out
