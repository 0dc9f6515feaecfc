"""OMM XML / JSON / CSV, input sources (.gz, stdin, open files), format detection."""
import datetime as dt
import gzip
import io
import json
import sys

import pytest

from oor import TLEParseError
from oor.codec import ElementSet, detect_format, format_elements, parse_tle, read_elements, write_elements

ISS1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
SPACETRACK = {"CCSDS_OMM_VERS": "2.0", "OBJECT_NAME": "ISS (ZARYA)", "OBJECT_ID": "1998-067A",
              "EPOCH": "2008-09-20T12:25:40.104192", "MEAN_MOTION": "15.72125391", "ECCENTRICITY": "0.00067030",
              "INCLINATION": "51.6416", "RA_OF_ASC_NODE": "247.4627", "ARG_OF_PERICENTER": "130.5360",
              "MEAN_ANOMALY": "325.0288", "EPHEMERIS_TYPE": "0", "CLASSIFICATION_TYPE": "U",
              "NORAD_CAT_ID": "25544", "ELEMENT_SET_NO": "292", "REV_AT_EPOCH": "56353", "BSTAR": "-0.000011606",
              "MEAN_MOTION_DOT": "-0.00002182", "MEAN_MOTION_DDOT": "0.0000000000000"}


def iss(name="ISS (ZARYA)"):
    return parse_tle(ISS1, ISS2, name=name)


def test_spacetrack_strings_json():
    [es] = list(read_elements(io.StringIO(json.dumps([SPACETRACK]))))
    assert es == iss()


def test_celestrak_numbers_json_and_json_lines():
    obj = dict(SPACETRACK)
    for k in ("MEAN_MOTION", "ECCENTRICITY", "INCLINATION", "BSTAR", "MEAN_MOTION_DOT"):
        obj[k] = float(obj[k])
    for k in ("NORAD_CAT_ID", "REV_AT_EPOCH", "ELEMENT_SET_NO", "EPHEMERIS_TYPE"):
        obj[k] = int(obj[k])
    assert list(read_elements(io.StringIO(json.dumps(obj)))) == [iss()]
    lines = json.dumps(obj) + "\n" + json.dumps(SPACETRACK) + "\n"
    assert list(read_elements(io.StringIO(lines))) == [iss(), iss()]


@pytest.mark.parametrize("fmt", ["xml", "json", "csv"])
def test_non_ascii_names_utf8(fmt, tmp_path):
    es = iss("ÅSTRÖM ☄ <&> \"quoted\", comma")
    path = tmp_path / f"x.{fmt}"
    write_elements([es], path, fmt)
    raw = path.read_bytes()
    assert "ÅSTRÖM ☄".encode("utf-8") in raw
    [back] = list(read_elements(path))
    assert back == es


def test_json_spacetrack_style_writer():
    text = format_elements([iss()], "json", json_strings=True)
    obj = json.loads(text)[0]
    assert all(isinstance(v, str) for v in obj.values())
    assert list(read_elements(io.StringIO(text))) == [iss()]


def test_omm_errors_name_the_keyword_and_place():
    bad = dict(SPACETRACK, ECCENTRICITY="0.0x")
    text = "[\n" + json.dumps(SPACETRACK) + ",\n" + json.dumps(bad) + "\n]"
    reader = read_elements(io.StringIO(text), errors="collect")
    assert len(list(reader)) == 1
    [err] = reader.errors
    assert err.line == 3 and "ECCENTRICITY" in err.reason and isinstance(err, ValueError)


def test_xml_error_points_at_the_element():
    text = format_elements([iss(), iss()], "xml")
    lines = text.split("\n")
    last = max(i for i, ln in enumerate(lines) if "<INCLINATION>" in ln)
    lines[last] = lines[last].replace("<INCLINATION>51.6416<", "<INCLINATION>fifty<")
    reader = read_elements(io.StringIO("\n".join(lines)), errors="collect")
    assert len(list(reader)) == 1
    [err] = reader.errors
    assert err.line == last + 1 and err.column > 1 and "INCLINATION" in err.reason
    assert lines[last][err.column - 1:].startswith("<INCLINATION>")


def test_malformed_xml_and_json():
    with pytest.raises(TLEParseError, match="malformed XML") as info:
        list(read_elements(io.StringIO("<ndm><omm>\n<body></omm>")))
    assert info.value.line == 2
    with pytest.raises(TLEParseError, match="malformed JSON") as info:
        list(read_elements(io.StringIO('[\n{"EPOCH": }\n]')))
    assert info.value.line == 2


def test_missing_keyword_and_csv_errors():
    bad = {k: v for k, v in SPACETRACK.items() if k != "NORAD_CAT_ID"}
    with pytest.raises(TLEParseError, match="NORAD_CAT_ID"):
        list(read_elements(io.StringIO(json.dumps(bad))))
    csv_text = format_elements([iss(), iss()], "csv").replace("51.6416", "-5", 1)
    reader = read_elements(io.StringIO(csv_text), errors="collect")
    assert len(list(reader)) == 1
    [err] = reader.errors
    assert err.line == 2 and err.column == 6 and "inclination" in err.reason
    with pytest.raises(TLEParseError, match="header lacks"):
        list(read_elements(io.StringIO("OBJECT_NAME,EPOCH\nX,2020-01-01T00:00:00\n"), "csv"))


def test_epoch_forms():
    for text, us in [("2008-264T12:25:40.104192", 104192), ("2008-09-20T12:25:40.104192Z", 104192),
                     ("2008-09-20T12:25:40.1041925", 104192), ("2008-09-20T12:25:40.1041935", 104194),
                     ("2008-09-20T12:25:40", 0)]:
        [es] = list(read_elements(io.StringIO(json.dumps(dict(SPACETRACK, EPOCH=text)))))
        assert es.epoch.microsecond == us and es.epoch.second == 40
    with pytest.raises(TLEParseError, match="EPOCH"):
        list(read_elements(io.StringIO(json.dumps(dict(SPACETRACK, EPOCH="2008-02-30T00:00:00")))))


def test_large_ids_only_in_omm():
    es = ElementSet(norad_id=123456789, epoch=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc), mean_motion=15.0,
                    eccentricity=0.001, inclination=53.0, raan=1.0, arg_perigee=2.0, mean_anomaly=3.0, name="BIG")
    for fmt in ("xml", "json", "csv"):
        assert list(read_elements(io.StringIO(format_elements([es], fmt)))) == [es]


def test_gzip_stdin_and_binary_files(tmp_path, monkeypatch):
    text = "ISS (ZARYA)\n" + ISS1 + "\n" + ISS2 + "\n"
    gz = tmp_path / "cat.txt"                     # gzip recognised by magic, not by name
    gz.write_bytes(gzip.compress(text.encode()))
    assert list(read_elements(gz)) == [iss()]
    write_elements([iss()], tmp_path / "out.xml.gz", "xml")
    assert list(read_elements(tmp_path / "out.xml.gz")) == [iss()]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert list(read_elements("-")) == [iss()]
    with open(gz, "rb") as f:
        assert list(read_elements(f, source="celestrak"))[0].source == "celestrak"
    buf = io.BytesIO()
    write_elements([iss()], buf, "3le")
    assert buf.getvalue().decode() == "0 ISS (ZARYA)\n" + ISS1 + "\n" + ISS2 + "\n" or buf.getvalue().decode() == text


def test_detect_format():
    assert detect_format(b"  <?xml") == "xml"
    assert detect_format("\n[{") == "json" and detect_format("{") == "json"
    assert detect_format("OBJECT_NAME,OBJECT_ID,EPOCH\n") == "csv"
    assert detect_format("0 ISS\n1 25544U") == "tle"


def test_streaming_reads_in_chunks(tmp_path, monkeypatch):
    import oor.codec.io as cio
    monkeypatch.setattr(cio, "CHUNK", 37)          # lines and objects cut across chunk boundaries
    sets = [iss(f"SAT {i}") for i in range(50)]
    for fmt in ("3le", "xml", "json", "csv"):
        path = tmp_path / f"s.{fmt}"
        write_elements(sets, path, fmt, newline="\r\n") if fmt == "3le" else write_elements(sets, path, fmt)
        assert list(read_elements(path)) == sets, fmt
