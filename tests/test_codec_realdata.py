"""The codec against every file of ../shared/data (read in place, never copied)."""
import io
import math

import pytest

from oor.codec import ElementSet, decode_record, encode_record, read_elements, write_elements, format_elements
from oor.codec.record import check_record

# counts measured on the files (the issue text says 102,758; the files hold 102,756 TLE pairs)
EXPECTED = {
    "catalogs/catalog-2022-01.3le": 23939, "catalogs/catalog-2022-07.3le": 24132,
    "catalogs/catalog-2026-06.3le": 16032, "omm/iridium-2023-10-26.3le": 31, "omm/iridium-2023-10-26.xml": 31,
    "history/CryoSat-2.tle": 4310, "history/Fengyun-2D.tle": 1189, "history/Fengyun-2E.tle": 2377,
    "history/Fengyun-2F.tle": 2987, "history/Fengyun-2H.tle": 1055, "history/Fengyun-4A.tle": 1307,
    "history/Haiyang-2A.tle": 3000, "history/Jason-1.tle": 3998, "history/Jason-2.tle": 3923,
    "history/Jason-3.tle": 2412, "history/SARAL.tle": 3292, "history/Sentinel-3A.tle": 2387,
    "history/Sentinel-3B.tle": 1584, "history/Sentinel-6A.tle": 665, "history/TOPEX.tle": 4136,
}
TLE_FILES = [f for f in EXPECTED if not f.endswith(".xml")]
_cache = {}


def sets_of(data, rel):
    if rel not in _cache:
        _cache[rel] = list(read_elements(data / rel))
    return _cache[rel]


def element_lines(path):
    """(name or None, line1, line2) per set, straight from the file bytes."""
    raw = path.read_bytes().decode("ascii").replace("\r\n", "\n").split("\n")
    out, name = [], None
    i = 0
    while i < len(raw):
        line = raw[i]
        if line.startswith("1 ") and i + 1 < len(raw) and raw[i + 1].startswith("2 "):
            out.append((name, line, raw[i + 1]))
            name = None
            i += 2
            continue
        if line.strip():
            name = line
        i += 1
    return out


def test_every_file_is_covered(data):
    found = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file() and p.suffix != ".md")
    assert found == sorted(EXPECTED)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_every_set_parses(data, rel):
    reader = read_elements(data / rel, errors="collect")
    sets = list(reader)
    assert reader.errors == []
    assert len(sets) == EXPECTED[rel]
    assert reader.format == ("xml" if rel.endswith(".xml") else "tle")
    assert all(isinstance(es, ElementSet) for es in sets)


def test_total_count(data):
    assert sum(n for f, n in EXPECTED.items() if not f.endswith(".xml")) == 102756


def test_jwst_is_stored(data):
    jwst = [es for es in sets_of(data, "catalogs/catalog-2022-01.3le") if es.norad_id == 50463]
    assert len(jwst) == 1
    es = jwst[0]
    assert es.eccentricity == 0.9884983 and es.mean_motion == 0.01958082
    assert es.name == "JWST" and es.cospar_id == "2021-130A"
    assert es.apogee > 1_000_000 and es.perigee < 1000
    assert es.to_satrec().error != 0       # sgp4 refuses it; we store it all the same
    assert decode_record(encode_record(es)).same_text(es)


@pytest.mark.parametrize("rel", TLE_FILES)
def test_write_back_is_byte_identical(data, rel):
    sets = sets_of(data, rel)
    fmt = "tle" if rel.endswith(".tle") else "3le"
    text = format_elements(sets, fmt)
    expected = element_lines(data / rel)
    got = element_lines_from_text(text)
    assert len(got) == len(expected) == len(sets)
    for (n1, a1, a2), (n2, b1, b2) in zip(got, expected):
        assert (a1, a2) == (b1, b2)
        assert (n1 or "").rstrip() == (n2 or "").rstrip()


def element_lines_from_text(text):
    out, name = [], None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("1 ") and i + 1 < len(lines) and lines[i + 1].startswith("2 "):
            out.append((name, lines[i], lines[i + 1]))
            name = None
            i += 2
            continue
        if lines[i].strip():
            name = lines[i]
        i += 1
    return out


def test_write_back_crlf_is_byte_identical_to_the_file(data):
    rel = "catalogs/catalog-2022-01.3le"        # CRLF, "0 " names
    buf = io.BytesIO()
    write_elements(sets_of(data, rel), buf, "3le", newline="\r\n")
    assert buf.getvalue() == (data / rel).read_bytes()


def sgp4_us(sat):
    whole = round((sat.jdsatepoch - 2433282.5) * 86_400_000_000)
    return whole + round(sat.jdsatepochF * 86_400_000_000)


@pytest.mark.parametrize("rel", TLE_FILES)
def test_fields_equal_sgp4(data, rel):
    Satrec = pytest.importorskip("sgp4.api").Satrec
    deg = math.pi / 180.0
    xpdotp = 1440.0 / (2.0 * math.pi)
    rejected = 0
    for es in sets_of(data, rel):
        sat = Satrec.twoline2rv(es.line1, es.line2)
        if sat.error:
            rejected += 1
            assert es.norad_id == 50463          # JWST, the one set sgp4 refuses
            continue
        assert sat.satnum == es.norad_id
        assert sat.classification == es.classification
        assert sat.intldesg.replace(" ", "") == es.intl_designator
        assert sat.epochyr == es.epoch_year % 100
        assert sat.epochdays == pytest.approx(es.epoch_day, abs=1e-11)
        assert abs(sgp4_us(sat) - es.epoch_us) <= 1
        assert sat.inclo == pytest.approx(es.inclination * deg, rel=1e-15)
        assert sat.nodeo == pytest.approx(es.raan * deg, rel=1e-15)
        assert sat.ecco == es.eccentricity
        assert sat.argpo == pytest.approx(es.arg_perigee * deg, rel=1e-15)
        assert sat.mo == pytest.approx(es.mean_anomaly * deg, rel=1e-15)
        assert sat.no_kozai == pytest.approx(es.mean_motion / xpdotp, rel=1e-15)
        assert sat.ndot == pytest.approx(es.mean_motion_dot / (xpdotp * 1440.0), rel=1e-14, abs=1e-300)
        assert sat.nddot == pytest.approx(es.mean_motion_ddot / (xpdotp * 1440.0 * 1440.0), rel=1e-12, abs=1e-300)
        assert sat.bstar == pytest.approx(es.bstar, rel=1e-12, abs=1e-300)
        assert sat.revnum == es.rev_number
        assert sat.elnum == es.element_set_no
        assert sat.ephtype == es.ephemeris_type
    assert rejected == (1 if rel == "catalogs/catalog-2022-01.3le" else 0)


def test_iridium_xml_equals_3le(data):
    xml = sets_of(data, "omm/iridium-2023-10-26.xml")
    tle = sets_of(data, "omm/iridium-2023-10-26.3le")
    assert len(xml) == len(tle) == 31
    for a, b in zip(xml, tle):
        assert a == b                          # values, epochs to the microsecond, names
        assert a.same_elements(b)
        assert a.epoch == b.epoch and a.epoch.microsecond == b.epoch.microsecond
        assert not a.same_text(b) or a.line1 == b.line1
    assert xml[0].epoch.isoformat() == "2023-10-26T17:45:13.145472+00:00"


def test_iridium_omm_written_as_tle_is_celestraks_text(data):
    """Issue 14 item 5: canonical lines of OMM-derived sets equal the provider's published lines, byte for byte."""
    xml = sets_of(data, "omm/iridium-2023-10-26.xml")
    assert not any(es.has_text for es in xml)
    published = [ln for ln in (data / "omm/iridium-2023-10-26.3le").read_bytes().decode().split("\r\n")
                 if ln.startswith(("1 ", "2 "))]
    assert format_elements(xml, "tle", newline="\r\n") == "".join(ln + "\r\n" for ln in published)


def test_iridium_in_every_omm_format_gives_equal_records(data):
    xml = sets_of(data, "omm/iridium-2023-10-26.xml")
    for fmt in ("json", "csv", "kvn", "xml"):
        assert list(read_elements(io.StringIO(format_elements(xml, fmt)))) == xml, fmt


@pytest.mark.parametrize("fmt", ["xml", "json", "csv", "kvn"])
@pytest.mark.parametrize("rel", ["catalogs/catalog-2022-07.3le", "catalogs/catalog-2026-06.3le",
                                 "history/TOPEX.tle", "history/Jason-1.tle"])
def test_round_trip_through_omm(data, rel, fmt):
    sets = sets_of(data, rel)
    text = format_elements(sets, fmt)
    back = list(read_elements(io.StringIO(text)))
    assert len(back) == len(sets)
    for a, b in zip(sets, back):
        assert a.same_elements(b)
        assert (a.name or None) == b.name
    # ... and on to TLE again: the same values
    again = list(read_elements(io.StringIO(format_elements(back, "3le"))))
    for a, c in zip(sets, again):
        assert a.same_elements(c)


@pytest.mark.parametrize("rel", TLE_FILES)
def test_records_are_lossless(data, rel):
    for es in sets_of(data, rel):
        back = decode_record(encode_record(es))
        assert back._v == es._v
    for es in sets_of(data, rel)[:500]:
        assert check_record(encode_record(es))._v == es._v
