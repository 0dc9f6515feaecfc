"""Binary record: losslessness and each numbered validity condition of oor/codec/record.py."""
import datetime as dt
import struct

import pytest

from oor.codec import ElementSet, check_record, decode_record, encode_record, parse_tle

ISS1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"


ISS1V = ISS1 + "  "     # trailing blanks (kept): not a canonical line, so the record keeps the text


def text_set():
    return parse_tle(ISS1V, ISS2, name="ISS (ZARYA)", source="celestrak")


def elided_set():
    return parse_tle(ISS1, ISS2, name="ISS (ZARYA)", source="celestrak")


def fields_set():
    return ElementSet(norad_id=400000, epoch=dt.datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc),
                      mean_motion=15.1, eccentricity=0.25, inclination=97.5, raan=360.0, arg_perigee=0.0,
                      mean_anomaly=123.456789, bstar=-1.5e-5, mean_motion_dot=1e-7, mean_motion_ddot=-3e-12,
                      element_set_no=9999, rev_number=123456, intl_designator="2030-123ABC", name="Ünïcode",
                      source=None, classification="S", ephemeris_type=2)


@pytest.mark.parametrize("make", [text_set, fields_set, elided_set])
def test_lossless(make):
    es = make()
    rec = encode_record(es)
    back = decode_record(rec)
    assert back._v == es._v and back.same_text(es)
    assert check_record(rec)._v == es._v
    assert decode_record(bytearray(rec))._v == es._v and decode_record(memoryview(rec))._v == es._v


def test_layout_matches_the_byte_table():
    es = text_set()
    rec = encode_record(es)
    assert rec[0] == 2 and rec[1] == 1 and rec[2] == 0b011
    assert rec[3] == len("celestrak") and struct.unpack_from("<H", rec, 4)[0] == len("ISS (ZARYA)")
    assert struct.unpack_from("<I", rec, 6)[0] == 25544 and rec[10:11] == b"U"
    assert struct.unpack_from("<q", rec, 12)[0] == es.epoch_us
    assert struct.unpack_from("<d", rec, 20)[0] == es.mean_motion
    assert struct.unpack_from("<d", rec, 68)[0] == es.eccentricity
    assert rec[98] == 6 and rec[99:107] == b"98067A\0\0"
    assert rec[107] == 71 and rec[108] == 69 and rec[109:180].decode() == ISS1V
    assert rec[249:].decode() == "ISS (ZARYA)celestrak"
    el = encode_record(elided_set())          # canonical but for the '-0' zero exponent: text elided
    assert el[2] == 0b1000011 and el[107] == 1 and el[108:].decode() == "ISS (ZARYA)celestrak"
    assert len(encode_record(fields_set())) == 107 + len("Ünïcode".encode())


def corrupt(rec, offset, value):
    b = bytearray(rec)
    b[offset] = value
    return bytes(b)


@pytest.mark.parametrize("label, mutate, message", [
    ("1 short", lambda r: r[:50], "shorter"),
    ("1 version", lambda r: corrupt(r, 0, 3), "version"),
    ("2 kind", lambda r: corrupt(r, 1, 9), "kind"),
    ("2 flags", lambda r: corrupt(r, 2, 0x83), "flag"),
    ("3 presence", lambda r: corrupt(r, 2, 0x01), "presence"),
    ("4 length", lambda r: r + b"x", "length"),
    ("4 line length", lambda r: corrupt(r, 107, 40), "shorter than 68"),
    ("6 classification", lambda r: corrupt(r, 10, ord("X")), "classification"),
    ("6 ephemeris", lambda r: corrupt(r, 11, 10), "ephemeris"),
    ("6 designator", lambda r: corrupt(r, 99, ord("a")), "designator"),
    ("6 nan", lambda r: r[:20] + struct.pack("<d", float("nan")) + r[28:], "NaN"),
    ("6 eccentricity", lambda r: r[:68] + struct.pack("<d", 1.5) + r[76:], "range"),
    ("7 ascii", lambda r: corrupt(r, 120, 0xC3), "ASCII"),
    ("8 epoch text", lambda r: corrupt(r, 109 + 22, ord("x")), "epoch"),
])
def test_each_condition_is_checked(label, mutate, message):
    with pytest.raises(ValueError, match=message):
        decode_record(mutate(encode_record(text_set())))


def test_condition_5_utf8():
    rec = encode_record(fields_set())
    with pytest.raises(ValueError, match="UTF-8"):
        decode_record(rec[:-1] + b"\xff")


def test_condition_9_text_agrees_with_fields_only_in_check_record():
    rec = encode_record(text_set())
    tampered = rec[:52] + struct.pack("<d", 51.7) + rec[60:]        # inclination field differs from text
    assert decode_record(tampered).inclination == 51.7               # fast path trusts the fields
    with pytest.raises(ValueError, match="differs"):
        check_record(tampered)
    bad_text = corrupt(rec, 109 + 68, ord("0"))                      # checksum of line 1
    with pytest.raises(ValueError, match="does not parse"):
        check_record(bad_text)
