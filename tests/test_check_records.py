"""`oor check` keeps catching damage to the registry's records and indexes (issue 17: the record loop moved
to C, oor_core/regcheck.pyx, and the index counts to fixed-size sums).

Each case damages a real registry through the raw trees (one transaction, as a bug or a bad tool would),
then checks it both ways: the writer's ``Registry.check()`` (records read in batches after the file's
walk) and a reader's (``read_only=True``, what ``oor check`` runs: records and index entries checked as
the file's walk passes their leaves).  Both must name the damage; an undamaged file is clean both ways.
"""
import shutil
import struct

import pytest

import oor
from oor import keys
from oor.codec.record import decode_record, encode_record
from oor.keys import TOMB_EPOCH, elset_key, split_elset_key


@pytest.fixture(scope="module")
def built(data, tmp_path_factory):
    """A registry of two real files (closed cleanly: the data file alone holds it), made once."""
    path = tmp_path_factory.mktemp("check") / "base.oor"
    with oor.open(path) as reg:
        reg.load(data / "catalogs" / "catalog-2026-06.3le", source_name="celestrak")
        # 1,098 sets keep their text (the 1992 format: designator "92052  A", exponents "+00000-4")
        reg.load(data / "history" / "TOPEX.tle", source_name="space-track")
    return path


def _load(built, path):
    shutil.copyfile(built, path)
    oor.open(path).close()         # a writer's open gives the copy its own log
    return path


def _both(path):
    """(writer's problems, reader's problems)."""
    with oor.open(path) as reg:
        w = reg.check()
    with oor.open(path, read_only=True, create=False) as reg:
        r = reg.check()
    return w, r


def _pick(tree, text=False):
    """The first (key, value) of elsets whose record keeps its TLE lines (text) or has them elided."""
    for k, v in tree.items():
        if v[0] != 0xFF and bool(v[1] == 1 and not v[2] & 64) == text:
            return k, v
    raise AssertionError("no such record")


def _wrong_key(t, idx):
    k, v = _pick(t)
    t.delete(k)
    n, us, seq, sid = split_elset_key(k)
    t.upsert(elset_key(n + 100000, us, seq, sid), v)


def _bad_class(t, idx):
    k, v = _pick(t)
    t.upsert(k, v[:10] + b"X" + v[11:])          # classification byte (record.py offset 10)


def _bad_text(t, idx):
    k, v = _pick(t, text=True)
    i = v.index(b"1 ", 107)                      # line 1 of the kept text: change its epoch day
    t.upsert(k, v[:i + 24] + (b"9" if v[i + 24:i + 25] != b"9" else b"8") + v[i + 25:])


def _unknown_source(t, idx):
    k, v = _pick(t)
    n, us, seq, _sid = split_elset_key(k)
    t.delete(k)
    t.upsert(elset_key(n, us, seq, 99), v)


def _short_key(t, idx):
    k, v = _pick(t)
    t.upsert(k[:15], v)


def _after_tombstone(t, idx):
    k, v = _pick(t)
    n = split_elset_key(k)[0]
    t.upsert(elset_key(n, TOMB_EPOCH, 0, 0), keys.tombstone(decode_record(v).arrival_us, "gone"))
    t.upsert(elset_key(n, TOMB_EPOCH, 1, 0), v)


def _bad_arrival(t, idx):
    k, v = _pick(t)
    t.upsert(k, encode_record(decode_record(v), arrival_us=12345))


def _miscount(t, idx):
    k, v = next(iter(idx["names"].items()))
    idx["names"].upsert(k, struct.pack(">I", struct.unpack(">I", v)[0] + 1))


def _compensating(t, idx):
    # +1 on one entry and -1 on another: a plain sum of counts would cancel
    it = iter(idx["cospar"].items())
    (k1, v1), (k2, v2) = next(it), next(it)
    idx["cospar"].upsert(k1, struct.pack(">I", struct.unpack(">I", v1)[0] + 1))
    n2 = struct.unpack(">I", v2)[0] - 1
    if n2:
        idx["cospar"].upsert(k2, struct.pack(">I", n2))
    else:
        idx["cospar"].delete(k2)


def _zero_count(t, idx):
    idx["names"].upsert(b"nobody\x00\x00\x00\x00\x07", b"\x00\x00\x00\x00")


def _malformed(t, idx):
    idx["cospar"].upsert(b"x", b"\x00\x00\x00\x01")


def _missing(t, idx):
    idx["names"].delete(next(iter(idx["names"].keys())))


CASES = {
    "record under a wrong key": (_wrong_key, "says NORAD"),
    "invalid field in an elided record": (_bad_class, "classification is not U, C or S"),
    "kept TLE text disagrees with the fields": (_bad_text, "stored TLE line 1"),
    "unknown source id": (_unknown_source, "names unknown source id 99"),
    "15-byte key": (_short_key, "is 15 bytes, not 16"),
    "key after a tombstone": (_after_tombstone, "has a key after its tombstone"),
    "arrival without a commit": (_bad_arrival, "a stamp with no commits entry"),
    "index count off by one": (_miscount, "the primary tree has"),
    "two compensating index counts": (_compensating, "index cospar: entry"),
    "index entry of count 0": (_zero_count, "index names: stale entry ('nobody', 7)"),
    "malformed index key": (_malformed, "index cospar: malformed key"),
    "missing index entry": (_missing, "index names: missing entry"),
}


def test_clean_file_checks_clean_both_ways(built, tmp_path):
    path = _load(built, tmp_path / "clean.oor")
    assert _both(path) == ([], [])


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_names_the_damage_both_ways(built, tmp_path, case):
    damage, words = CASES[case]
    path = _load(built, tmp_path / "d.oor")
    with oor.open(path) as reg:
        with reg.transaction():
            damage(reg.db.tree("elsets"), {"names": reg.db.tree("names"), "cospar": reg.db.tree("cospar")})
    w, r = _both(path)
    assert any(words in p for p in w), (case, w)
    assert any(words in p for p in r), (case, r)
    assert sorted(w) == sorted(r), case       # both ways word the same problems


def test_reader_check_is_one_walk(built, tmp_path):
    # the reader's check reads each page of the file once through its pool (the walk), not once per pass
    path = _load(built, tmp_path / "w.oor")
    with oor.open(path, read_only=True, create=False, pool_pages=16) as reg:
        pages = reg.db.pager.file_size() // 4096
        before = reg.db.pager.reads
        assert reg.check() == []
        assert reg.db.pager.reads - before <= 2 * pages + 8, (reg.db.pager.reads - before, pages)
