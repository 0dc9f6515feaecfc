"""OMM keywords <-> ElementSet: the mapping shared by the XML, JSON and CSV formats.

Who may import: oor.codec.omm_xml, omm_json, omm_csv.

An OMM record is a flat mapping of CCSDS keywords to values.  CelesTrak's
JSON gives numbers as JSON numbers, Space-Track's as strings; XML and CSV
give text.  All are accepted: text must be a plain decimal (``.0001869``,
``.18312E-3``, ``-1.5e-05``; no NaN, infinity or underscores), integers plain
digits.  Numbers convert exactly as ``float()`` of their text, so an OMM value
equals the TLE value with the same decimal digits.

EPOCH: ``YYYY-MM-DDThh:mm:ss[.f...]`` or ``YYYY-DDDThh:mm:ss[.f...]``, optional
trailing ``Z``, UTC.  Up to 6 decimals are exact; more are rounded to the
microsecond (half to even).

Required: EPOCH, MEAN_MOTION, ECCENTRICITY, INCLINATION, RA_OF_ASC_NODE,
ARG_OF_PERICENTER, MEAN_ANOMALY, NORAD_CAT_ID.  Optional (default): OBJECT_NAME
(none; empty text is none), OBJECT_ID (''), CLASSIFICATION_TYPE ('U'), EPHEMERIS_TYPE (0),
ELEMENT_SET_NO (999), REV_AT_EPOCH (0), BSTAR, MEAN_MOTION_DOT,
MEAN_MOTION_DDOT (0).

Other keywords (metadata: CCSDS_OMM_VERS, CREATION_DATE, ORIGINATOR, CENTER_NAME,
REF_FRAME, TIME_SYSTEM, MEAN_ELEMENT_THEORY, Space-Track's GP_ID, TLE_LINE1,
TLE_LINE2, OBJECT_TYPE, RCS_SIZE, DECAY_DATE, ..., CelesTrak's extras, user-defined
keywords) are kept in the set's ``meta`` in file order, each value its exact text
(a JSON number: its literal text; a JSON value the C scanner does not take, e.g.
one with escapes, is read by ``json`` and given as ``str`` of the number, or JSON
text of a list or object; ``true``/``false`` as written).  A keyword without a
value (JSON null, empty text, ``<CREATION_DATE/>``) is not kept, nor is one whose
name is not 1-255 ASCII characters.  KVN COMMENT lines are not kept (a JSON
COMMENT keyword is).  ``OOR_SOURCE``, ``OOR_ORIGIN`` and ``OOR_ARRIVAL`` (what
OOR's writers add) are not metadata: ``oor.codec.io`` maps them back onto the
set's source (when the load names none), origin and arrival.

Speed: ``from_omm`` first tries ``oor_core.ommcodec.omm_fast`` (C), which
converts the common form (plain values, canonical OBJECT_ID, calendar EPOCH
with up to 6 decimals) and returns None for anything else, which then goes
through the Python rules below: same values, and every error message comes
from the Python path.  The readers hand whole records to the C scanners of
``oor_core.ommcsv``, ``ommkvn``, ``ommjson`` and ``ommxml`` (``csv_run``,
``kvn_block``, ``json_run``, ``xml_run``),
which build the sets of the records they recognise in full with the same
conversion and leave every other record to the Python reader.  ``FAST_PATH =
False`` turns all of it off (the tests compare both paths on every real file
and the fuzz corpus).

Writing: ``to_omm`` gives the text of each keyword (floats in their shortest
round-trip form, so reading back gives the same floats; the epoch with 6
decimals), in CelesTrak's keyword order (``KEYWORDS``); ``to_omm_values`` the
same keywords with numbers as numbers (CelesTrak's JSON; what
``ElementSet.to_omm()`` returns and sgp4's ``omm.initialize`` reads).
"""
import datetime as _dt
import re

from oor_core.errors import TLEParseError
from oor_core.ommcodec import omm_keywords as _c_keywords, omm_fast_dict as _omm_fast_dict

from oor.codec.elements import ElementSet, EPOCH_1950

__all__ = ["KEYWORDS", "FAST_PATH", "from_omm", "to_omm", "to_omm_values", "parse_epoch", "format_epoch",
           "meta_of", "extra_pairs", "PROVENANCE_KEYWORDS"]

FAST_PATH = True           # False: every record through the Python rules (for tests; same results, slower)

KEYWORDS = ("OBJECT_NAME", "OBJECT_ID", "EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION",
            "RA_OF_ASC_NODE", "ARG_OF_PERICENTER", "MEAN_ANOMALY", "EPHEMERIS_TYPE",
            "CLASSIFICATION_TYPE", "NORAD_CAT_ID", "ELEMENT_SET_NO", "REV_AT_EPOCH", "BSTAR",
            "MEAN_MOTION_DOT", "MEAN_MOTION_DDOT")
REQUIRED = ("EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION", "RA_OF_ASC_NODE",
            "ARG_OF_PERICENTER", "MEAN_ANOMALY", "NORAD_CAT_ID")
assert _c_keywords() == KEYWORDS, "oor_core/ommcodec.pyx KEYNAMES must list KEYWORDS in order"
INT_KEYWORDS = frozenset(("EPHEMERIS_TYPE", "NORAD_CAT_ID", "ELEMENT_SET_NO", "REV_AT_EPOCH"))
_KEYWORD_SET = frozenset(KEYWORDS)
PROVENANCE_KEYWORDS = ("OOR_SOURCE", "OOR_ORIGIN", "OOR_ARRIVAL")     # written after the metadata, read back


def _meta_text(value):
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    import json
    return json.dumps(value, ensure_ascii=False)


def meta_of(record):
    """The META pairs of a record mapping (keywords outside KEYWORDS; rules in the module doc), or None.

    Who may call: the OMM readers (the C scanners apply the same rules).
    """
    pairs = []
    for key, value in record.items():
        if key in _KEYWORD_SET or value is None or value == "":
            continue
        if not key or len(key) > 255 or not key.isascii():
            continue
        pairs.append((key, _meta_text(value)))
    return tuple(pairs) or None
# keyword -> ElementSet keyword argument
_FLOATS = (("MEAN_MOTION", "mean_motion"), ("ECCENTRICITY", "eccentricity"), ("INCLINATION", "inclination"),
           ("RA_OF_ASC_NODE", "raan"), ("ARG_OF_PERICENTER", "arg_perigee"), ("MEAN_ANOMALY", "mean_anomaly"),
           ("BSTAR", "bstar"), ("MEAN_MOTION_DOT", "mean_motion_dot"), ("MEAN_MOTION_DDOT", "mean_motion_ddot"))
_INTS = (("NORAD_CAT_ID", "norad_id", None), ("EPHEMERIS_TYPE", "ephemeris_type", 0),
         ("ELEMENT_SET_NO", "element_set_no", 999), ("REV_AT_EPOCH", "rev_number", 0))

_ARG_TO_KEYWORD = {arg: key for key, arg in _FLOATS}
_ARG_TO_KEYWORD.update({arg: key for key, arg, _ in _INTS})
_ARG_TO_KEYWORD.update({"classification": "CLASSIFICATION_TYPE", "international": "OBJECT_ID",
                        "name": "OBJECT_NAME"})
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_EPOCH = re.compile(r"([0-9]{4})-(?:([0-9]{2})-([0-9]{2})|([0-9]{3}))T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                    r"(?:\.([0-9]+))?Z?")


def parse_epoch(text):
    """OMM EPOCH text -> int microseconds since 1950 (ValueError if malformed).  Who may call: OMM readers."""
    m = _EPOCH.fullmatch(text.strip())
    if not m:
        raise ValueError(f"EPOCH {text!r} is not YYYY-MM-DDThh:mm:ss[.ffffff]")
    year = int(m.group(1))
    hh, mi, ss = int(m.group(5)), int(m.group(6)), int(m.group(7))
    if hh > 23 or mi > 59 or ss > 59:
        raise ValueError(f"EPOCH {text!r}: time of day out of range")
    if m.group(4) is not None:
        doy = int(m.group(4))
        days_in_year = 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365
        if not 1 <= doy <= days_in_year:
            raise ValueError(f"EPOCH {text!r}: day of year out of range")
        date = _dt.date(year, 1, 1) + _dt.timedelta(days=doy - 1)
    else:
        date = _dt.date(year, int(m.group(2)), int(m.group(3)))     # ValueError on a bad date
    frac = m.group(8) or ""
    if len(frac) <= 6:
        us = int(frac.ljust(6, "0")) if frac else 0
    else:
        whole, rest = int(frac[:6]), frac[6:]
        half = "5" + "0" * (len(rest) - 1)
        us = whole + (1 if rest > half or (rest == half and whole % 2) else 0)
    days = (date - EPOCH_1950.date()).days
    return ((days * 86400 + hh * 3600 + mi * 60 + ss) * 1_000_000) + us


def format_epoch(epoch_us):
    """Int microseconds since 1950 -> '2023-10-26T17:45:13.145472'.  Who may call: OMM writers."""
    return (EPOCH_1950 + _dt.timedelta(microseconds=epoch_us)).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _number(value, keyword, integer):
    if isinstance(value, bool):
        raise ValueError(f"{keyword} must be a number, got {value!r}")
    if isinstance(value, int):
        return value if integer else float(value)
    if isinstance(value, float):
        if integer:
            raise ValueError(f"{keyword} must be an integer, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{keyword} must be a number, got {value!r}")
    text = value.strip()
    if integer:
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"{keyword} must be an integer, got {value!r}")
        return int(text)
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{keyword} must be a decimal number, got {value!r}")
    return float(text)


def from_omm(record, *, file=None, line=None, column=None, positions=None, source=None):
    """Mapping of OMM keywords -> ElementSet.

    Who may call: the OMM readers.  Raises TLEParseError naming the keyword,
    located at ``file``/``line``/``column`` where the record starts, or, when
    ``positions`` maps the keyword to (line, column) (XML), where its element starts.
    """
    if record.__class__ is dict and FAST_PATH:
        es = _omm_fast_dict(record, KEYWORDS, source)
        if es is not None:
            meta = meta_of(record) if len(record) > 17 or not _KEYWORD_SET.issuperset(record) else None
            return es if meta is None else es.with_provenance(meta=meta)

    def fail(reason, key=None):
        lineno, col = positions.get(key, (line, column)) if positions else (line, column)
        raise TLEParseError(reason, file, lineno, col)

    for key in REQUIRED:
        value = record.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            fail(f"OMM keyword {key} is missing or empty", key)
    kw = {}
    try:
        key = "EPOCH"
        if not isinstance(record["EPOCH"], str):
            raise ValueError(f"EPOCH must be text, got {record['EPOCH']!r}")
        epoch_us = parse_epoch(record["EPOCH"])
        kw["epoch"] = EPOCH_1950 + _dt.timedelta(microseconds=epoch_us)
        for key, arg in _FLOATS:
            value = record.get(key)
            if value is not None and not (isinstance(value, str) and not value.strip()):
                kw[arg] = _number(value, key, False)
        for key, arg, default in _INTS:
            value = record.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                kw[arg] = default
            else:
                kw[arg] = _number(value, key, True)
        key = "CLASSIFICATION_TYPE"
        cls = record.get(key)
        kw["classification"] = "U" if cls is None or cls == "" else cls
        key = "OBJECT_ID"
        oid = record.get(key)
        kw["intl_designator"] = "" if oid is None or str(oid).strip().upper() in ("", "UNKNOWN") else str(oid)
        key = "OBJECT_NAME"
        name = record.get(key)
        if name is not None and not isinstance(name, str):
            raise ValueError(f"OBJECT_NAME must be text, got {name!r}")
        kw["name"] = name.strip() if isinstance(name, str) and name.strip() else None
        kw["source"] = source
        key = None
        es = ElementSet(**kw)
        meta = meta_of(record)
        return es if meta is None else es.with_provenance(meta=meta)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        if key is None:                       # raised by ElementSet(): its messages start with the argument
            key = _ARG_TO_KEYWORD.get(text.split(" ", 1)[0])
        if key is not None and key not in text:
            text = f"{key}: {text}"
        fail(f"bad OMM value: {text}", key)


def extra_pairs(es):
    """What the OMM writers add after the element keywords: the set's metadata (OOR_* keys left out)
    then OOR_SOURCE, OOR_ORIGIN and OOR_ARRIVAL (ISO 8601, Z) when the set has them.

    Who may call: the OMM writers.  A list of (keyword, text) pairs.
    """
    from oor.codec import elements as _el
    v = _el.element_values(es)
    pairs = [p for p in v[_el.META] or () if p[0] not in PROVENANCE_KEYWORDS]
    if v[_el.SOURCE] is not None:
        pairs.append(("OOR_SOURCE", v[_el.SOURCE]))
    if v[_el.ORIGIN] is not None:
        pairs.append(("OOR_ORIGIN", v[_el.ORIGIN]))
    if v[_el.ARRIVAL] is not None:
        pairs.append(("OOR_ARRIVAL", format_epoch(v[_el.ARRIVAL]) + "Z"))
    return pairs


def _num(value):
    return repr(float(value))


def to_omm(es):
    """ElementSet -> dict keyword -> text, in KEYWORDS order.  Who may call: OMM writers."""
    return {
        "OBJECT_NAME": es.name if es.name is not None else "",
        "OBJECT_ID": es.cospar_id,
        "EPOCH": format_epoch(es.epoch_us),
        "MEAN_MOTION": _num(es.mean_motion),
        "ECCENTRICITY": _num(es.eccentricity),
        "INCLINATION": _num(es.inclination),
        "RA_OF_ASC_NODE": _num(es.raan),
        "ARG_OF_PERICENTER": _num(es.arg_perigee),
        "MEAN_ANOMALY": _num(es.mean_anomaly),
        "EPHEMERIS_TYPE": str(es.ephemeris_type),
        "CLASSIFICATION_TYPE": es.classification,
        "NORAD_CAT_ID": str(es.norad_id),
        "ELEMENT_SET_NO": str(es.element_set_no),
        "REV_AT_EPOCH": str(es.rev_number),
        "BSTAR": _num(es.bstar),
        "MEAN_MOTION_DOT": _num(es.mean_motion_dot),
        "MEAN_MOTION_DDOT": _num(es.mean_motion_ddot),
    }


def to_omm_values(es):
    """ElementSet -> dict keyword -> value, numbers as int/float (CelesTrak JSON), KEYWORDS order; OBJECT_NAME
    left out when the set has no name.  Who may call: the JSON writers, ``ElementSet.to_omm``."""
    d = {
        "OBJECT_NAME": es.name,
        "OBJECT_ID": es.cospar_id,
        "EPOCH": format_epoch(es.epoch_us),
        "MEAN_MOTION": es.mean_motion,
        "ECCENTRICITY": es.eccentricity,
        "INCLINATION": es.inclination,
        "RA_OF_ASC_NODE": es.raan,
        "ARG_OF_PERICENTER": es.arg_perigee,
        "MEAN_ANOMALY": es.mean_anomaly,
        "EPHEMERIS_TYPE": es.ephemeris_type,
        "CLASSIFICATION_TYPE": es.classification,
        "NORAD_CAT_ID": es.norad_id,
        "ELEMENT_SET_NO": es.element_set_no,
        "REV_AT_EPOCH": es.rev_number,
        "BSTAR": es.bstar,
        "MEAN_MOTION_DOT": es.mean_motion_dot,
        "MEAN_MOTION_DDOT": es.mean_motion_ddot,
    }
    if es.name is None:
        del d["OBJECT_NAME"]
    return d
