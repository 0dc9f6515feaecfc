"""TLE / 3LE rules: columns, checksum, ids, epochs, names, errors with line and column."""
import datetime as dt
import io

import pytest

from oor import TLEParseError
from oor.codec import ElementSet, alpha5_decode, alpha5_encode, format_elements, parse_tle, read_elements
from oor.codec.tle import tle_checksum

ISS1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
UTC = dt.timezone.utc


def fix(line):
    """Give a 68/69-column line a correct checksum."""
    return line[:68] + str(tle_checksum(line[:68]))


def read(text, **kw):
    return list(read_elements(io.StringIO(text), "tle", **kw))


def error_of(text, **kw):
    with pytest.raises(TLEParseError) as info:
        read(text, **kw)
    return info.value


def test_iss_fields():
    es = parse_tle(ISS1, ISS2)
    assert es.norad_id == 25544 and es.classification == "U"
    assert es.intl_designator == "98067A" and es.cospar_id == "1998-067A"
    assert es.epoch_year == 2008 and es.epoch_day == 264.51782528
    assert es.epoch == dt.datetime(2008, 9, 20, 12, 25, 40, 104192, tzinfo=UTC)
    assert es.mean_motion_dot == -0.00002182 and es.mean_motion_ddot == 0.0
    assert es.bstar == -0.11606e-4
    assert es.inclination == 51.6416 and es.raan == 247.4627 and es.eccentricity == 0.0006703
    assert es.arg_perigee == 130.536 and es.mean_anomaly == 325.0288
    assert es.mean_motion == 15.72125391 and es.rev_number == 56353 and es.element_set_no == 292
    assert es.line1 == ISS1 and es.line2 == ISS2 and es.has_text
    assert es.period == pytest.approx(1440 / 15.72125391)
    assert 300 < es.perigee < es.apogee < 400


def test_epoch_us_is_exact_multiple_of_864():
    es = parse_tle(ISS1, ISS2)
    start = (dt.datetime(2008, 1, 1, tzinfo=UTC) - dt.datetime(1950, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
    assert es.epoch_us == start + (263 * 100_000_000 + 51782528) * 864


@pytest.mark.parametrize("yy, year", [("57", 1957), ("99", 1999), ("00", 2000), ("56", 2056)])
def test_year_pivot(yy, year):
    es = parse_tle(fix(ISS1[:18] + yy + ISS1[20:]), ISS2)
    assert es.epoch_year == year and es.epoch.year == year


@pytest.mark.parametrize("day, expected", [
    ("000.50000000", dt.datetime(2007, 12, 31, 12, tzinfo=UTC)),     # day 0: the day before Jan 1
    ("001.00000000", dt.datetime(2008, 1, 1, tzinfo=UTC)),
    ("366.50000000", dt.datetime(2008, 12, 31, 12, tzinfo=UTC)),     # leap year
])
def test_day_of_year_edges(day, expected):
    es = parse_tle(fix(ISS1[:20] + day + ISS1[32:]), ISS2)
    assert es.epoch == expected


def test_day_366_of_common_year_rolls_over_like_sgp4():
    line1 = fix(ISS1[:18] + "21366.25000000" + ISS1[32:])
    es = parse_tle(line1, ISS2)
    assert es.epoch == dt.datetime(2022, 1, 1, 6, tzinfo=UTC)
    sgp4 = pytest.importorskip("sgp4.api")
    sat = sgp4.Satrec.twoline2rv(line1, ISS2)
    assert sat.jdsatepoch + sat.jdsatepochF == pytest.approx(2459580.5 + 0.25, abs=1e-9)


def test_day_out_of_range():
    err = error_of(fix(ISS1[:20] + "367.00000000" + ISS1[32:]) + "\n" + ISS2 + "\n")
    assert (err.line, err.column) == (1, 21) and "out of range" in err.reason


@pytest.mark.parametrize("field, value", [("    5", 5), ("00005", 5), ("A0000", 100000), ("T0288", 270288),
                                          ("Z9999", 339999), ("J0001", 180001), ("P1234", 231234)])
def test_ids(field, value):
    es = parse_tle(fix("1 " + field + ISS1[7:]), fix("2 " + field + ISS2[7:]))
    assert es.norad_id == value
    if field.strip().isdigit():
        assert alpha5_encode(value) == f"{value:05d}"
    else:
        assert alpha5_encode(value) == field
    assert alpha5_decode(field) == value


@pytest.mark.parametrize("field", ["I0000", "O1234", "a0001", "A 001", " 5   ", "12 45"])
def test_bad_ids(field):
    err = error_of(fix("1 " + field + ISS1[7:]) + "\n" + fix("2 " + field + ISS2[7:]) + "\n")
    assert err.line == 1 and 3 <= err.column <= 7


def test_alpha5_limits():
    with pytest.raises(ValueError, match="OMM"):
        alpha5_encode(340000)
    assert alpha5_encode(99999) == "99999" and alpha5_encode(100000) == "A0000"


def test_history_quirks():
    l1 = "1 22076U 92052  A 92238.06805350  .00000009 +00000-0 +00000-4 0  9999"
    l2 = "2 22076 066.0797 224.2935 0003086 359.0164 001.0847 12.82723417001813"
    es = parse_tle(l1, l2)
    assert es.intl_designator == "92052A" and es.cospar_id == "1992-052A"
    assert es.inclination == 66.0797 and es.mean_anomaly == 1.0847 and es.rev_number == 181
    assert es.mean_motion_ddot == 0.0 and es.bstar == 0.0
    assert es.line1 == l1 and es.line2 == l2


def test_exponent_written_without_sign_as_sgp4_reads_it():
    l1 = "1 22076U 92052  A 92261.23748056  .00035466 +00000-0 +0153801 0  9991"
    l2 = "2 22076 066.0397 176.0874 0006971 272.2313 087.7878 12.80988404004784"
    assert parse_tle(l1, l2).bstar == 0.1538


def test_checksum_mismatch():
    bad = ISS1[:68] + str((int(ISS1[68]) + 1) % 10)
    err = error_of("NAME\n" + bad + "\n" + ISS2 + "\n")
    assert (err.line, err.column) == (2, 69) and "checksum" in err.reason
    assert err.text == bad


def test_68_columns_needs_the_option():
    err = error_of(ISS1[:68] + "\n" + ISS2[:68] + "\n")
    assert (err.line, err.column) == (1, 69) and "allow_missing_checksum" in err.reason
    [es] = read(ISS1[:68] + "\n" + ISS2[:68] + "\n", allow_missing_checksum=True)
    assert es.line1 == ISS1[:68] and es.mean_motion == 15.72125391
    assert format_elements([es], "tle") == ISS1[:68] + "\n" + ISS2[:68] + "\n"
    # the option does not switch off the check of 69-column lines
    bad = ISS1[:68] + "0"
    assert error_of(bad + "\n" + ISS2 + "\n", allow_missing_checksum=True).column == 69


def test_short_line():
    err = error_of("X\n" + ISS1 + "\n" + ISS2[:50] + "\n")
    assert (err.line, err.column) == (3, 51) and "too short" in err.reason


@pytest.mark.parametrize("pos, char", [(10, "X"), (25, "x"), (40, "?"), (62, "Q")])
def test_letters_in_numeric_columns_of_line_2(pos, char):
    line2 = fix(ISS2[:pos] + char + ISS2[pos + 1:])
    err = error_of(ISS1 + "\n" + line2 + "\n")
    assert err.line == 2 and err.column == pos + 1 and repr(char) in err.reason


@pytest.mark.parametrize("pos", [3, 20, 25, 35, 46, 55, 66])     # 62: a letter is an ephemeris type
def test_letters_in_numeric_columns_of_line_1(pos):
    line1 = fix(ISS1[:pos] + "Y" + ISS1[pos + 1:])
    err = error_of(ISS1[:0] + line1 + "\n" + ISS2 + "\n")
    assert err.line == 1 and err.column == pos + 1


def test_mismatched_ids():
    line2 = fix("2 25545" + ISS2[7:])
    err = error_of("\n\n" + ISS1 + "\n" + line2 + "\n")
    assert (err.line, err.column) == (4, 3) and "25545" in err.reason and "25544" in err.reason


def test_lone_line_2():
    err = error_of(ISS1 + "\n" + ISS2 + "\n" + ISS2 + "\n")
    assert (err.line, err.column) == (3, 1) and "without a preceding line 1" in err.reason


def test_line_1_without_line_2():
    err = error_of(ISS1 + "\n" + ISS1 + "\n" + ISS2 + "\n")
    assert (err.line, err.column) == (1, 1) and "not followed by a line 2" in err.reason


def test_name_without_elements_is_skipped_not_rejected():
    """Issue 14 item 2: a short line with no set after it is counted as skipped, not as a rejected set."""
    reader = read_elements(io.StringIO("ISS\n" + ISS1 + "\n" + ISS2 + "\nORPHAN\n"), errors="collect")
    assert [es.name for es in reader] == ["ISS"]
    assert reader.errors == [] and reader.skipped == 1
    err = error_of("ISS\n" + ISS1 + "\n" + ISS2 + "\n" + "X" * 40 + "\n")     # too long for a name
    assert err.line == 4 and "neither an element line nor a name" in err.reason


def test_non_ascii_in_element_line():
    line1 = ISS1[:20] + "é" + ISS1[21:]
    err = error_of(line1 + "\n" + ISS2 + "\n")
    assert (err.line, err.column) == (1, 21) and "U+00E9" in err.reason


def test_non_ascii_name_in_utf8_file():
    data = ("0 ÅSTRÖM-1 ☄\n" + ISS1 + "\n" + ISS2 + "\n").encode("utf-8")
    [es] = list(read_elements(io.BytesIO(data)))
    assert es.name == "ÅSTRÖM-1 ☄"
    assert format_elements([es]) == data.decode("utf-8")


def test_invalid_utf8_is_located():
    data = b"OK\n" + ISS1.encode() + b"\n" + ISS2.encode() + b"\nBAD \xff NAME\n"
    with pytest.raises(TLEParseError) as info:
        list(read_elements(io.BytesIO(data)))
    assert (info.value.line, info.value.column) == (4, 5)


def test_collect_mode_yields_good_and_keeps_bad():
    bad = ISS1[:68] + "0"
    text = ("A\n" + ISS1 + "\n" + ISS2 + "\n"
            "B\n" + bad + "\n" + ISS2 + "\n"
            + ISS2 + "\n"
            "C\n" + ISS1 + "\n" + ISS2 + "\n")
    reader = read_elements(io.StringIO(text), errors="collect")
    good = list(reader)
    assert [es.name for es in good] == ["A", "C"]
    assert [(e.line, e.column) for e in reader.errors] == [(5, 69), (7, 1)]
    assert all(isinstance(e, ValueError) for e in reader.errors)


def test_name_forms_and_write_back():
    text = "0 WITH PREFIX\n" + ISS1 + "\n" + ISS2 + "\nNO PREFIX               \n" + ISS1 + "\n" + ISS2 + "\n"
    a, b = read(text)
    assert a.name == "WITH PREFIX" and b.name == "NO PREFIX"
    assert format_elements([a, b]) == text.replace("NO PREFIX               ", "NO PREFIX")
    names = [ln for ln in format_elements([a, b], name_prefix="0 ").split("\n") if ln[:1] not in ("1", "2", "")]
    assert names == ["0 WITH PREFIX", "0 NO PREFIX"]
    assert format_elements([a, b], "tle") == (ISS1 + "\n" + ISS2 + "\n") * 2


def test_name_starting_with_1():
    text = "1KUNS-PF\n" + ISS1 + "\n" + ISS2 + "\n"
    [es] = read(text)
    assert es.name == "1KUNS-PF"


def test_crlf_and_missing_final_newline():
    [es] = read("ISS\r\n" + ISS1 + "\r\n" + ISS2)
    assert es.line2 == ISS2 and es.name == "ISS"


def test_trailing_blanks_after_column_69_are_kept():
    [es] = read(ISS1 + "   \n" + ISS2 + "\n")
    assert es.line1 == ISS1 + "   "
    [es] = read(ISS1 + "  x\n" + ISS2 + "\n")          # text after column 69 is kept (issue 14 item 1)
    assert es.line1 == ISS1 + "  x"


def test_error_message_names_file_line_column(tmp_path):
    path = tmp_path / "bad.tle"
    path.write_text(ISS1 + "\n" + ISS2[:30] + "\n")
    with pytest.raises(TLEParseError) as info:
        list(read_elements(path))
    assert str(info.value).startswith(f"{path}:2:31: ")


def test_canonical_lines_from_fields():
    es = ElementSet(norad_id=270288, epoch=dt.datetime(2022, 7, 14, 2, 40, 39, 681696, tzinfo=UTC),
                    mean_motion=12.95226767, eccentricity=0.0029272, inclination=90.266, raan=333.8671,
                    arg_perigee=290.4809, mean_anomaly=69.3169, mean_motion_dot=-0.00000142, bstar=-0.53026e-3,
                    rev_number=10858, element_set_no=999, intl_designator="")
    assert es.line1 == "1 T0288U          22195.11157039 -.00000142  00000+0 -53026-3 0  9991"
    assert es.line2 == "2 T0288  90.2660 333.8671 0029272 290.4809  69.3169 12.95226767108581"
    back = parse_tle(es.line1, es.line2)
    assert back.same_elements(es) and back == es


def test_ids_above_339999_must_go_to_omm():
    es = ElementSet(norad_id=400000, epoch=dt.datetime(2024, 1, 1, tzinfo=UTC), mean_motion=15.0,
                    eccentricity=0.001, inclination=53.0, raan=1.0, arg_perigee=2.0, mean_anomaly=3.0)
    with pytest.raises(ValueError, match="export this element set as OMM"):
        es.line1
    with pytest.raises(ValueError, match="OMM"):
        format_elements([es], "3le")
    assert "400000" in format_elements([es], "json")


def test_unrepresentable_values_name_the_field():
    base = dict(norad_id=1, epoch=dt.datetime(2024, 1, 1, tzinfo=UTC), eccentricity=0.1, inclination=1.0,
                raan=1.0, arg_perigee=1.0, mean_anomaly=1.0)
    with pytest.raises(ValueError, match="mean_motion"):
        ElementSet(mean_motion=123.0, **base).line2
    with pytest.raises(ValueError, match="revolution number"):
        ElementSet(mean_motion=1.0, rev_number=123456, **base).line2
    with pytest.raises(ValueError, match="epoch year"):
        ElementSet(mean_motion=1.0, **{**base, "epoch": dt.datetime(2060, 1, 1, tzinfo=UTC)}).line1


def test_epoch_rounds_to_the_tle_resolution():
    es = ElementSet(norad_id=1, epoch=dt.datetime(2024, 1, 1, 0, 0, 0, 433, tzinfo=UTC), mean_motion=1.0,
                    eccentricity=0.1, inclination=1.0, raan=1.0, arg_perigee=1.0, mean_anomaly=1.0)
    assert es.line1[18:32] == "24001.00000001"       # 433 us rounds to 864 us = 1e-8 day
    late = es.replace(epoch=dt.datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert late.line1[18:32] == "25001.00000000"      # rounding carries into the next year


def test_element_set_is_immutable_and_hashable():
    es = parse_tle(ISS1, ISS2)
    with pytest.raises(AttributeError):
        es.norad_id = 1
    with pytest.raises(AttributeError):
        es.anything = 1
    assert len({es, parse_tle(ISS1, ISS2)}) == 1
    renamed = es.replace(name="ISS")
    assert renamed.name == "ISS" and renamed.line1 == ISS1 and renamed != es and renamed.same_elements(es)
    import pickle
    assert pickle.loads(pickle.dumps(es)).same_text(es)


def test_constructor_validates():
    base = dict(norad_id=1, epoch=dt.datetime(2024, 1, 1, tzinfo=UTC), mean_motion=1.0, eccentricity=0.1,
                inclination=1.0, raan=1.0, arg_perigee=1.0, mean_anomaly=1.0)
    for key, value, exc in [("eccentricity", 1.0, ValueError), ("inclination", 181.0, ValueError),
                            ("norad_id", 10**9, ValueError), ("mean_motion", float("nan"), ValueError),
                            ("epoch", "not a time", ValueError), ("classification", "X", ValueError),
                            ("intl_designator", "98-067", ValueError), ("norad_id", "5", TypeError)]:
        with pytest.raises(exc):
            ElementSet(**{**base, key: value})
    # a naive datetime is UTC, as everywhere in OOR (issue 15); so is any time oor.times reads
    assert ElementSet(**{**base, "epoch": dt.datetime(2024, 1, 1)}) == ElementSet(**base)
    assert ElementSet(**{**base, "epoch": "24001.0"}) == ElementSet(**base)


def test_to_satrec_from_text_and_from_fields():
    sgp4 = pytest.importorskip("sgp4.api")
    es = parse_tle(ISS1, ISS2)
    fields = es.fields()
    fields.pop("epoch_us")
    built = ElementSet(epoch=es.epoch, **fields)
    jd, fr = sgp4.jday(2008, 9, 21, 0, 0, 0)
    e1, r1, _ = es.to_satrec().sgp4(jd, fr)
    e2, r2, _ = built.to_satrec().sgp4(jd, fr)
    assert e1 == e2 == 0
    assert r1 == pytest.approx(r2, abs=1e-3)     # km; same elements, epoch equal to ~1 us


def test_negative_zero_mean_motion_dot_keeps_its_lines():
    """Space-Track writes some ndot fields as "-.00000000" (75 sets of ../shared/data/history).  The C
    formatter leaves -0.0 to the Python definition (which writes the '-'), so such a set is stored with its
    lines -- every earlier build rebuilds an elided record's lines in C alone and would refuse it -- and
    reads back exactly; +0.0 is formatted in C and elided as before."""
    import math
    from oor.codec import decode_record, encode_record
    from oor.codec.tle import _format_lines_py
    from oor_core import tlecodec
    l1 = "1 36508U 10013A   16200.16477416 -.00000000  00000-0 -84066-6 0  9994"
    l2 = "2 36508  92.0301 121.6730 0009479  50.1105 310.0935 14.52173432332685"
    plus = l1[:33] + " " + l1[34:68] + str(tle_checksum(l1[:33] + " " + l1[34:68]))
    for a, sign in ((l1, -1.0), (plus, 1.0)):
        es = parse_tle(a, l2)
        assert es.mean_motion_dot == 0.0 and math.copysign(1.0, es.mean_motion_dot) == sign
        py1, py2 = _format_lines_py(es._v)
        assert py1[33:43] == a[33:43] and py2 == l2
        c = tlecodec.canonical_lines(es._v)
        assert c == ((py1, py2) if sign > 0 else None)
        rec = encode_record(es)
        assert bool(rec[2] & 64) == (sign > 0), "elided exactly when the C formatter writes the lines"
        back = decode_record(rec)
        assert (back.line1, back.line2) == (a, l2) and back == es
