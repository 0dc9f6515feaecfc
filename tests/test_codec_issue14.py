"""Issue 14: every real file in, every bad one refused cleanly.  One regression test per finding, each on a
small file the test writes."""
import datetime as dt
import errno
import gzip
import io
import os
import tracemalloc

import pytest

import oor
from oor import InputDamagedError, TLEParseError, UnrepresentableError
from oor.codec import ElementSet, decode_record, encode_record, format_elements, read_elements, write_elements
from oor.codec.record import check_record
from oor.codec.tle import tle_checksum
from oor.cli import main

UTC = dt.timezone.utc
ISS1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
L1 = "1 00005U 58002B   00179.78495062  .00000023  00000-0  28098-4 0  4753"
L2 = "2 00005  34.2682 348.7242 1859667 331.7664  19.3264 10.82419157413667"


def fix(line):
    """Line with a fresh checksum in column 69 (and anything after it kept)."""
    return line[:68] + str(tle_checksum(line[:68])) + line[69:]


def collect(text_or_path, **kw):
    src = io.StringIO(text_or_path) if isinstance(text_or_path, str) else text_or_path
    reader = read_elements(src, errors="collect", **kw)
    return list(reader), reader


# ---- item 1: text after column 69 ------------------------------------------------------------------
def test_text_after_column_69_is_kept_and_written_back(tmp_path):
    a1, a2 = L1 + "     0.0      4320.0        360.00", L2       # as sgp4's SGP4-VER.TLE carries it
    text = f"{a1}\n{a2}\n{ISS1}\n{ISS2}  \n"
    sets, reader = collect(text)
    assert reader.errors == [] and len(sets) == 2
    assert sets[0].line1 == a1 and sets[1].line2 == ISS2 + "  "
    assert format_elements(sets, "tle") == text
    for es in sets:
        assert check_record(encode_record(es))._v == es._v
    sat = sets[0].to_satrec()
    assert sat.error == 0 and sat.satnum == 5


def test_a_line_longer_than_a_record_holds_is_one_rejection_with_file_line(tmp_path):
    f = tmp_path / "long.tle"
    f.write_text(f"{L1 + ' ' * 200 + 'x'}\n{L2}\n{ISS1}\n{ISS2}\n")
    sets, reader = collect(f)
    assert [es.norad_id for es in sets] == [25544]
    [err] = reader.errors
    assert err.file == str(f) and err.line == 1 and "at most 255" in err.reason


def test_the_column_is_named_once_in_the_cli_line(tmp_path, capsys):
    f = tmp_path / "bad.tle"
    f.write_text(f"{fix(ISS1[:20] + 'X' + ISS1[21:])}\n{ISS2}\n")
    assert main(["load", str(f), "--db", str(tmp_path / "d.oor")]) == 1
    err = capsys.readouterr().err
    line = [ln for ln in err.splitlines() if ln.startswith(str(f))][0]
    assert line.count("column 21") == 1, line


# ---- item 2: comments and prose are skipped, rejections count sets ------------------------------
def test_comments_are_skipped_and_counted(tmp_path, capsys):
    f = tmp_path / "findorb.tle"
    f.write_text("# Find_Orb output\n# Ephem range: 2000 1 1 - 2000 2 1\n"
                 f"{L1}\n{L2}\n# another comment\nISS\n{ISS1}\n{ISS2}\nEND OF FILE\n")
    sets, reader = collect(f)
    assert [es.name for es in sets] == [None, "ISS"]
    assert reader.errors == [] and reader.skipped == 4                 # 3 comments, 1 name without elements
    with oor.open(tmp_path / "c.oor") as reg:
        rep = reg.load(f)
    assert (rep.inserted, rep.rejected, rep.skipped) == (2, [], 4)
    assert main(["load", str(f), "--db", str(tmp_path / "c2.oor")]) == 0
    assert "4 lines skipped" in capsys.readouterr().out


def test_rejections_count_sets_not_lines(tmp_path):
    broken1 = fix(ISS1[:20] + "X" + ISS1[21:])
    text = f"NAME A\n{broken1}\n{ISS2}\nNAME B\n{L1}\n{L2[:40]}\n"       # two broken sets, six lines
    sets, reader = collect(text)
    assert sets == [] and len(reader.errors) == 2
    assert [e.line for e in reader.errors] == [2, 6]


# ---- item 3: JSON reads in linear time ------------------------------------------------------------
def test_json_positions_stay_right_over_many_objects():
    es = next(iter(read_elements(io.StringIO(f"{ISS1}\n{ISS2}\n"))))
    text = format_elements([es] * 3000, "json")
    text = text.replace('"NORAD_CAT_ID": 25544', '"NORAD_CAT_ID": "x"', 1)
    text = text[:-10] + text[-10:]
    sets, reader = collect(text)
    assert len(sets) == 2999 and reader.errors[0].line == 2


# ---- item 4: KVN -----------------------------------------------------------------------------------
KVN = """CCSDS_OMM_VERS = 2.0
COMMENT GENERATED VIA SPACE-TRACK.ORG API
CREATION_DATE = 2023-10-26T20:03:06
ORIGINATOR = 18 SPCS
OBJECT_NAME = IRIDIUM 7 [-]
OBJECT_ID = 1997-020B
CENTER_NAME = EARTH
REF_FRAME = TEME
TIME_SYSTEM = UTC
MEAN_ELEMENT_THEORY = SGP4
EPOCH = 2023-10-26T17:45:13.145472
MEAN_MOTION = 14.34946455 [rev/day]
ECCENTRICITY = .0001869
INCLINATION = 86.3952 [deg]
RA_OF_ASC_NODE = 67.9722 [deg]
ARG_OF_PERICENTER = 89.2443 [deg]
MEAN_ANOMALY = 270.8967 [deg]
EPHEMERIS_TYPE = 0
CLASSIFICATION_TYPE = U
NORAD_CAT_ID = 24793
ELEMENT_SET_NO = 999
REV_AT_EPOCH = 38612
BSTAR = .18312E-3 [1/ER]
MEAN_MOTION_DOT = .54E-5 [rev/day**2]
MEAN_MOTION_DDOT = 0 [rev/day**3]
"""
IRIDIUM7 = ("1 24793U 97020B   23299.73973548  .00000540  00000+0  18312-3 0  9990",
            "2 24793  86.3952  67.9722 0001869  89.2443 270.8967 14.34946455386121")


def test_kvn_is_detected_read_and_written(tmp_path):
    f = tmp_path / "iridium.kvn"
    f.write_text(KVN + "\n" + KVN.replace("24793", "24795"))
    sets, reader = collect(f)
    assert reader.format == "kvn" and reader.errors == [] and len(sets) == 2
    es = sets[0]
    assert es.name == "IRIDIUM 7 [-]" and es.cospar_id == "1997-020B" and es.bstar == 0.18312e-3
    assert es.epoch == dt.datetime(2023, 10, 26, 17, 45, 13, 145472, tzinfo=UTC)
    assert (es.line1, es.line2) == IRIDIUM7
    [tle] = read_elements(io.StringIO("\n".join(IRIDIUM7) + "\n"))
    assert es.same_elements(tle)
    back = list(read_elements(io.StringIO(format_elements(sets, "kvn"))))
    assert back == sets


def test_kvn_errors_name_the_line_and_the_next_message_is_read(tmp_path):
    bad = KVN.replace("INCLINATION = 86.3952 [deg]", "INCLINATION = eighty")
    sets, reader = collect(bad + "\n" + KVN)
    assert len(sets) == 1
    [err] = reader.errors
    assert err.line == 14 and "INCLINATION" in err.reason


def test_same_sets_in_every_omm_format_give_equal_records():
    sets = list(read_elements(io.StringIO(KVN)))
    for fmt in ("xml", "json", "csv", "kvn"):
        assert list(read_elements(io.StringIO(format_elements(sets, fmt)))) == sets, fmt
    strings = format_elements(sets, "json", json_strings=True)
    assert list(read_elements(io.StringIO(strings))) == sets


@pytest.mark.parametrize("fast", [True, False])
def test_xml_end_tags_with_white_space_and_overflowing_numbers(fast, monkeypatch):
    monkeypatch.setattr(oor.codec.omm, "FAST_PATH", fast)
    sets = list(read_elements(io.StringIO(f"ISS\n{ISS1}\n{ISS2}\n0 VANGUARD 1\n{L1}\n{L2}\n")))
    xml = format_elements(sets, "xml")
    assert list(read_elements(io.BytesIO(xml.replace("</omm>", "</omm\n >").encode()))) == sets
    for fmt in ("xml", "csv", "kvn", "json"):
        text = format_elements(sets, fmt, json_strings=True) if fmt == "json" else format_elements(sets, fmt)
        text = text.replace("0.0006703", "1e400").encode()
        got, reader = collect(io.BytesIO(text))
        assert got == sets[1:], fmt
        assert len(reader.errors) == 1 and "ECCENTRICITY" in str(reader.errors[0]), fmt


# ---- item 5: canonical zero exponent -------------------------------------------------------------
def test_zero_exponent_fields_are_written_as_the_providers_do():
    [es] = read_elements(io.StringIO(KVN))
    assert es.line1 == IRIDIUM7[0]                      # ' 00000+0' and CelesTrak's checksum
    zero = ElementSet(norad_id=1, epoch=dt.datetime(2024, 1, 1, tzinfo=UTC), mean_motion=15.0,
                      eccentricity=0.001, inclination=1.0, raan=1.0, arg_perigee=1.0, mean_anomaly=1.0)
    assert zero.line1[44:61] == " 00000+0  00000+0"


# ---- item 6: bad input is one clear line --------------------------------------------------------
def _gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(data)
    return buf.getvalue()


def test_truncated_gzip_keeps_the_sets_before_the_cut(tmp_path):
    text = "".join(f"{ISS1}\n{ISS2}\n" for _ in range(3000)).encode()
    f = tmp_path / "cut.tle.gz"
    whole = _gz(text)
    f.write_bytes(whole[:len(whole) // 2])
    sets, reader = collect(f)
    assert 0 < len(sets) < 3000
    [err] = reader.errors
    assert isinstance(err, InputDamagedError) and err.file == str(f)
    assert "truncated" in err.reason and "compressed" in err.reason and err.line is not None
    with pytest.raises(InputDamagedError, match=str(f)):
        list(read_elements(f))
    with oor.open(tmp_path / "g.oor") as reg:
        rep = reg.load(f)
    assert rep.inserted == 1 and len(rep.rejected) == 1      # one object: the sets before the cut are stored


@pytest.mark.parametrize("damage", ["magic-only", "crc", "garbage"])
def test_damaged_gzip_names_the_file(tmp_path, damage):
    whole = _gz(f"{ISS1}\n{ISS2}\n".encode())
    data = {"magic-only": b"\x1f\x8b", "crc": whole[:-8] + bytes([whole[-8] ^ 1]) + whole[-7:],
            "garbage": whole[:12] + b"\xff" * 20 + whole[32:]}[damage]
    f = tmp_path / f"{damage}.gz"
    f.write_bytes(data)
    with pytest.raises(InputDamagedError) as info:
        list(read_elements(f))
    assert str(info.value).startswith(str(f) + ":")


def test_json_nested_100000_deep_is_one_error(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TLEParseError, match="nested deeper") as info:
        list(read_elements(f))
    assert info.value.file == str(f)
    f.write_text('[{"a": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    with pytest.raises(TLEParseError, match="nested"):
        list(read_elements(f))


def test_input_without_line_ends_stays_in_bounded_memory(tmp_path):
    f = tmp_path / "zeros.gz"
    f.write_bytes(_gz(b"\0" * (40 << 20)))                        # 40 MiB of zeros, 40 kB compressed
    tracemalloc.start()
    try:
        sets, reader = collect(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sets == [] and peak < 24 << 20
    assert len(reader.errors) == 2                                  # the over-long line, then the file
    assert reader.errors[0].line == 1 and "longer than" in reader.errors[0].reason
    assert "no line end" in reader.errors[1].reason and reader.errors[1].file == str(f)


def test_a_name_line_over_65535_bytes_is_one_rejection(tmp_path):
    f = tmp_path / "longname.3le"
    f.write_text("0 " + "N" * 70_000 + f"\n{ISS1}\n{ISS2}\nFIVE\n{L1}\n{L2}\n")
    with oor.open(tmp_path / "n.oor") as reg:
        rep = reg.load(f)
        assert rep.inserted == 1 and [es.name for es in reg.scan()] == ["FIVE"]
    [err] = rep.rejected
    assert err.file == str(f) and err.line == 1 and "longer than" in err.reason


def test_cr_only_line_ends(tmp_path):
    for nl in ("\r", "\n", "\r\n"):
        f = tmp_path / "mac.3le"
        f.write_bytes(f"ISS{nl}{ISS1}{nl}{ISS2}{nl}FIVE{nl}{L1}{nl}{L2}".encode())
        sets, reader = collect(f)
        assert [es.name for es in sets] == ["ISS", "FIVE"] and reader.errors == [], repr(nl)
    # a CR LF pair split across a chunk boundary is one line end
    from oor.codec import io as cio
    text = f"ISS\r\n{ISS1}\r\n{ISS2}\r\n" * 40_000
    cut = text.index("\r\n", cio.CHUNK - 200) + 1
    data = text.encode()
    assert data[cut - 1:cut + 1] == b"\r\n"
    sets, reader = collect(io.BytesIO(data))
    assert len(sets) == 40_000 and reader.errors == []


def test_non_utf8_line_is_one_rejection_and_reading_goes_on():
    data = f"ISS\n{ISS1}\n{ISS2}\n".encode() + b"CAF\xe9\n" + f"{L1}\n{L2}\n".encode()
    sets, reader = collect(io.BytesIO(data + f"{ISS1}\n{ISS2}\n".encode()))
    assert [es.norad_id for es in sets] == [25544, 25544]      # the set the bad name line names goes with it
    [err] = reader.errors
    assert (err.line, err.column) == (4, 4) and "not UTF-8" in err.reason


def _big_and_small():
    ok = ElementSet(norad_id=5, epoch=dt.datetime(2024, 1, 1, tzinfo=UTC), mean_motion=15.0,
                    eccentricity=0.001, inclination=1.0, raan=1.0, arg_perigee=1.0, mean_anomaly=1.0)
    return [ok, ok.replace(norad_id=400_000), ok.replace(norad_id=7)]


def test_export_that_fails_half_way_leaves_no_file(tmp_path):
    out = tmp_path / "out.tle"
    with pytest.raises(UnrepresentableError) as info:
        write_elements(_big_and_small(), out, "tle")
    assert not out.exists() and os.listdir(tmp_path) == []
    msg = str(info.value)
    assert "400000" in msg and "TLE" in msg and "omm-xml" in msg and "--skip-unrepresentable" in msg
    out.write_text("old\n")
    with pytest.raises(UnrepresentableError):
        write_elements(_big_and_small(), out, "3le")
    assert out.read_text() == "old\n" and os.listdir(tmp_path) == ["out.tle"]
    n = write_elements(_big_and_small(), out, "tle", skip_unrepresentable=True)
    assert n == 2 and n.skipped == (400_000,)
    assert [es.norad_id for es in read_elements(out)] == [5, 7]
    assert write_elements(_big_and_small(), tmp_path / "o.xml", "xml") == 3


def test_cli_export_skip_unrepresentable(tmp_path, capsys):
    db = tmp_path / "e.oor"
    with oor.open(db) as reg:
        reg.load(_big_and_small())
    out = tmp_path / "x.tle"
    assert main(["export", "--db", str(db), "--format", "tle", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "400000" in err and "omm-xml" in err and not out.exists() and "Traceback" not in err
    assert main(["export", "--db", str(db), "--format", "tle", "-o", str(out), "--skip-unrepresentable"]) == 0
    assert "skipped 1 element sets" in capsys.readouterr().err
    assert len(list(read_elements(out))) == 2


def test_full_disk_during_export_names_the_file(tmp_path, monkeypatch):
    out = tmp_path / "full.3le"

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        write_elements(_big_and_small()[:1], out, "3le")
    assert info.value.filename == str(out) and info.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []


# ---- item 7: ephemeris type letters, blanks in numbers, ndot without its point ------------------
def test_ephemeris_type_letter_is_accepted_as_sgp4_does():
    a1 = fix(ISS1[:62] + "H" + ISS1[63:])
    [es] = read_elements(io.StringIO(f"{a1}\n{ISS2}\n"))
    assert es.ephemeris_type == 0 and es.line1 == a1          # as sgp4's Satrec reads it; the text keeps 'H'
    assert es.to_satrec().ephtype == 0
    assert check_record(encode_record(es)).line1 == a1


def test_blank_inside_eccentricity_reads_as_zero_like_sgp4():
    a2 = fix(ISS2[:26] + "0006 03" + ISS2[33:])
    [es] = read_elements(io.StringIO(f"{ISS1}\n{a2}\n"))
    assert es.eccentricity == 0.0006003 == es.to_satrec().ecco


def test_blank_inside_other_numbers_is_rejected():
    a2 = fix(ISS2[:8] + " 51.6 16" + ISS2[16:])
    with pytest.raises(TLEParseError) as info:
        list(read_elements(io.StringIO(f"{ISS1}\n{a2}\n")))
    assert info.value.line == 2 and info.value.column == 14


def test_ndot_without_its_point_is_rejected():
    a1 = fix(ISS1[:33] + " 00002182" + ISS1[42:])
    with pytest.raises(TLEParseError, match="no decimal point") as info:
        list(read_elements(io.StringIO(f"{a1}\n{ISS2}\n")))
    assert (info.value.line, info.value.column) == (1, 34)


def test_records_of_new_sets_decode():
    a1 = fix(ISS1[:62] + "H" + ISS1[63:]) + " trailing text"
    [es] = read_elements(io.StringIO(f"{a1}\n{ISS2}\n"))
    assert decode_record(encode_record(es)).same_text(es)
