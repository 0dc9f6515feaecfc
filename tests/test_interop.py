"""OOR with the tools users already have: sgp4 and skyfield read every export format, to_satrec() / to_skyfield()
propagate exactly as sgp4 does on the original lines, to_arrow() / to_pandas() / parquet hold the stored values,
load() takes OMM dicts and line tuples.

Real data: the Iridium sets of 2023-10-26 as 3LE (TLE text) and as CelesTrak OMM XML (no text), so both paths of
to_satrec() (twoline2rv on the exact lines, sgp4init from fields) are compared on the same orbits.
"""
import csv
import datetime as dt
import io
import json

import pytest

import oor
from oor.cli import main

sgp4_api = pytest.importorskip("sgp4.api")
from sgp4 import exporter, omm  # noqa: E402

Satrec = sgp4_api.Satrec
OFFSETS_DAYS = (0.0, 0.37, 1.0, 3.5)
CLI_FORMATS = ("tle", "3le", "omm-xml", "omm-json", "omm-csv", "omm-kvn", "jsonl")


@pytest.fixture(scope="module")
def iridium(data):
    text = {e.norad_id: e for e in oor.read_elements(data / "omm" / "iridium-2023-10-26.3le")}
    fields = {e.norad_id: e for e in oor.read_elements(data / "omm" / "iridium-2023-10-26.xml")}
    assert len(text) == len(fields) == 31 and not any(e.has_text for e in fields.values())
    return text, fields


@pytest.fixture(scope="module")
def reg_path(iridium, tmp_path_factory):
    path = tmp_path_factory.mktemp("interop") / "iridium.oor"
    with oor.open(path) as reg:
        reg.load(iridium[0].values())
    return path


def positions(sat, epoch_jd):
    """sgp4 position/velocity tuples at a few offsets from epoch_jd = (jd, fraction)."""
    out = []
    for d in OFFSETS_DAYS:
        err, r, v = sat.sgp4(epoch_jd[0], epoch_jd[1] + d)
        assert err == 0
        out.append((r, v))
    return out


def reference(es):
    """sgp4 on the original TLE lines: the Satrec every other path must equal."""
    sat = Satrec.twoline2rv(es.line1, es.line2)
    return sat, (sat.jdsatepoch, sat.jdsatepochF)


def close(a, b, km=1e-5):
    """Equal to the centimetre: sgp4init from an OMM epoch and twoline2rv split the epoch day differently
    (about 1e-11 day apart, a few millimetres along the orbit)."""
    for (r1, v1), (r2, v2) in zip(a, b):
        assert max(abs(x - y) for x, y in zip(r1 + v1, r2 + v2)) <= km, (r1, r2)


def test_to_satrec_fills_every_field_and_propagates_as_sgp4(iridium):
    text, fields = iridium
    for norad, es in fields.items():
        ref, when = reference(text[norad])
        sat = es.to_satrec()
        # the same Satrec as sgp4's own OMM path on the same record
        mine = es.to_omm()
        theirs = Satrec()
        omm.initialize(theirs, mine)
        assert positions(sat, when) == positions(theirs, when)
        # and the same orbit as sgp4 on the original lines (OMM and TLE carry the same digits here)
        close(positions(sat, when), positions(ref, when))
        for attr in ("satnum", "classification", "intldesg", "ephtype", "elnum", "revnum", "epochyr"):
            assert getattr(sat, attr) == getattr(ref, attr), attr
        assert abs(sat.epochdays - ref.epochdays) < 1e-9
        back = exporter.export_omm(sat, es.name)          # raised KeyError/ValueError before issue 15
        assert back["OBJECT_ID"] == es.cospar_id and back["NORAD_CAT_ID"] == norad
        assert back["REV_AT_EPOCH"] == es.rev_number and back["ELEMENT_SET_NO"] == es.element_set_no
        # a set with text goes through twoline2rv on its exact lines
        assert positions(text[norad].to_satrec(), when) == positions(ref, when)


def test_ids_above_339999_propagate_under_a_placeholder(iridium):
    es = next(iter(iridium[1].values()))
    big = es.replace(norad_id=400_123)
    ref, when = reference(iridium[0][es.norad_id])
    sat = big.to_satrec()
    assert sat.satnum == 0
    assert positions(sat, when) == positions(es.to_satrec(), when)
    assert big.to_satrec(placeholder=339_999).satnum == 339_999
    with pytest.raises(ValueError):
        big.to_satrec(placeholder=400_000)


def test_to_skyfield_positions_equal_sgp4(iridium):
    skyfield_api = pytest.importorskip("skyfield.api")
    ts = skyfield_api.load.timescale(builtin=True)
    text, fields = iridium
    for norad in list(fields)[:8]:
        ref, when = reference(text[norad])
        for es in (text[norad], fields[norad]):
            sat = es.to_skyfield(ts)
            assert sat.name == es.name and sat.model.satnum == norad
            close(positions(sat.model, when), positions(ref, when))
            original = skyfield_api.EarthSatellite(text[norad].line1, text[norad].line2, es.name, ts)
            t = ts.tt_jd(when[0] + when[1] + 0.25)
            assert abs(sat.epoch.tt - original.epoch.tt) * 86400 < 1e-3
            diff = sat.at(t).position.km - original.at(t).position.km
            assert max(abs(diff)) < 1e-6
    assert fields[norad].to_skyfield().name == fields[norad].name      # default: the built-in timescale


def _satrecs_from_export(fmt, path):
    """(norad -> Satrec) read by sgp4 itself (and skyfield for TLE text) from an exported file."""
    if fmt in ("tle", "3le"):
        lines = [ln for ln in path.read_text().splitlines() if ln.startswith(("1 ", "2 "))]
        return {Satrec.twoline2rv(a, b).satnum: Satrec.twoline2rv(a, b) for a, b in zip(lines[::2], lines[1::2])}
    if fmt == "omm-xml":
        records = list(omm.parse_xml(str(path)))
    elif fmt == "omm-csv":
        with open(path, newline="") as f:
            records = list(omm.parse_csv(f))
    elif fmt == "omm-json":
        records = json.loads(path.read_text())
    elif fmt == "jsonl":
        records = [json.loads(ln) for ln in path.read_text().splitlines()]
    else:
        raise AssertionError(fmt)
    out = {}
    for rec in records:
        sat = Satrec()
        omm.initialize(sat, rec)
        out[sat.satnum] = sat
    return out


@pytest.mark.parametrize("fmt", CLI_FORMATS)
def test_sgp4_and_skyfield_read_every_export_format(fmt, reg_path, iridium, tmp_path, capsys):
    ext = {"omm-xml": "xml", "omm-json": "json", "omm-csv": "csv", "omm-kvn": "kvn"}.get(fmt, fmt)
    path = tmp_path / f"export.{ext}"
    assert main(["export", "--db", str(reg_path), "-o", str(path)]) == 0      # the format from the extension
    assert f"wrote 31 element sets to {path}" in capsys.readouterr().err
    text = iridium[0]
    if fmt == "omm-kvn":                 # neither sgp4 nor skyfield reads KVN: OOR's own reader, values equal
        back = {e.norad_id: e for e in oor.read_elements(path)}
        assert all(back[n].same_elements(text[n]) and back[n].name == text[n].name for n in text)
        return
    sats = _satrecs_from_export(fmt, path)
    assert sorted(sats) == sorted(text)
    for norad, sat in sats.items():
        ref, when = reference(text[norad])
        close(positions(sat, when), positions(ref, when))
    if fmt in ("omm-xml", "omm-csv", "omm-json", "jsonl"):
        skyfield_api = pytest.importorskip("skyfield.api")
        ts = skyfield_api.load.timescale(builtin=True)
        if fmt == "omm-xml":
            records = list(omm.parse_xml(str(path)))
        elif fmt == "omm-csv":
            records = list(csv.DictReader(io.StringIO(path.read_text())))
        elif fmt == "omm-json":
            records = json.loads(path.read_text())
        else:
            records = [json.loads(ln) for ln in path.read_text().splitlines()]
        for rec in records[:5]:
            sat = skyfield_api.EarthSatellite.from_omm(ts, rec)
            assert sat.name == text[sat.model.satnum].name
    else:
        from skyfield.iokit import parse_tle_file
        skyfield_api = pytest.importorskip("skyfield.api")
        ts = skyfield_api.load.timescale(builtin=True)
        sky = list(parse_tle_file(io.BytesIO(path.read_bytes()), ts))
        assert len(sky) == 31
        if fmt == "3le":
            assert {s.name for s in sky} == {e.name for e in text.values()}


def test_to_arrow_to_pandas_and_parquet_hold_the_stored_values(reg_path, tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    with oor.open(reg_path, create=False, read_only=True) as reg:
        sets = list(reg.iter_sets())
        table = reg.to_arrow(latest=False)
        assert table.schema.field("epoch").type == pa.timestamp("us", tz="UTC")
        rows = table.to_pylist()
        assert [r["norad_id"] for r in rows] == [e.norad_id for e in sets]
        for r, e in zip(rows, sets):
            assert r["epoch"] == e.epoch and r["name"] == e.name and r["cospar_id"] == e.cospar_id
            assert (r["mean_motion"], r["eccentricity"], r["bstar"], r["rev_number"]) == \
                (e.mean_motion, e.eccentricity, e.bstar, e.rev_number)
        assert reg.to_arrow(columns=["norad_id", "epoch"]).column_names == ["norad_id", "epoch"]
        assert reg.to_arrow(at="2000-01-01").num_rows == 0
        assert reg.to_arrow(first_id=24900, last_id=24999).num_rows == sum(24900 <= e.norad_id <= 24999
                                                                         for e in sets)
        with pytest.raises(ValueError, match="unknown column"):
            reg.to_arrow(columns=["nope"])
        pd = pytest.importorskip("pandas")
        df = reg.to_pandas()
        assert str(df["epoch"].dtype) == "datetime64[us, UTC]"
        assert df["epoch"].iloc[0] == pd.Timestamp(sets[0].epoch)
    out = tmp_path / "all.parquet"
    assert main(["export", "--db", str(reg_path), "--all", "-o", str(out)]) == 0
    assert pq.read_table(out).equals(table)
    assert main(["history", "--db", str(reg_path), str(sets[0].norad_id), "-o", str(tmp_path / "h.parquet")]) == 0
    assert pq.read_table(tmp_path / "h.parquet").column("norad_id").to_pylist() == [sets[0].norad_id]
    capsys.readouterr()
    assert main(["export", "--db", str(reg_path), "--format", "parquet"]) == 2       # binary: needs -o
    assert "give -o FILE.parquet" in capsys.readouterr().err


def test_load_takes_omm_dicts_and_line_tuples(iridium, tmp_path):
    text, fields = iridium
    with oor.open(tmp_path / "t.oor") as reg:
        first = list(text.values())[:10]
        rep = reg.load([(e.line1, e.line2) for e in first[:5]] + [(e.name, e.line1, e.line2) for e in first[5:]])
        assert rep.inserted == 10 and not rep.rejected
        assert all(reg.latest(e.norad_id).same_text(e.replace(name=e.name if i >= 5 else None))
                   for i, e in enumerate(first))
        rep = reg.load(e.to_omm() for e in fields.values())
        assert rep.stored == 31 and reg.check() == []
        assert all(reg.latest(n).same_elements(text[n]) for n in text)
        with pytest.raises(TypeError, match="OMM dicts"):
            reg.load([42])
        with pytest.raises(oor.TLEParseError, match="MEAN_MOTION"):
            reg.load([{"NORAD_CAT_ID": 5, "EPOCH": "2023-10-26T00:00:00"}], strict=True)


def test_to_omm_round_trips(iridium):
    text, fields = iridium
    for n, es in fields.items():
        d = es.to_omm()
        assert isinstance(d["MEAN_MOTION"], float) and isinstance(d["NORAD_CAT_ID"], int)
        assert oor.ElementSet.from_omm(d) == es
        assert oor.ElementSet.from_omm(json.loads(json.dumps(text[n].to_omm()))).same_elements(text[n])
    anonymous = es.replace(name=None)
    assert "OBJECT_NAME" not in anonymous.to_omm()
    naive = es.replace(epoch=dt.datetime(2023, 10, 26, 17, 45))
    assert naive.epoch == dt.datetime(2023, 10, 26, 17, 45, tzinfo=dt.timezone.utc)
