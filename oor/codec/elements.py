"""ElementSet: one immutable set of SGP4 mean elements, as a TLE or an OMM carries it.

Who may import: everyone (re-exported by ``oor.codec`` and ``oor``).

Representation.  All state lives in one tuple slot, ``_v`` (layout below, shared
with the Cython parser ``oor_core.tlecodec``, which builds instances without
calling ``__init__``).  An element set read from TLE text keeps its two lines
exactly as read (``line1``/``line2`` return them untouched, so writing it back is
byte-identical); one built from fields or from OMM has no text and gets
canonical TLE lines generated on demand.

Units are those of the TLE / OMM fields themselves: degrees, revolutions per
day; ``mean_motion_dot`` is the TLE/OMM "first derivative of mean motion
divided by two" in rev/day^2 and ``mean_motion_ddot`` the "second derivative
divided by six" in rev/day^3, both exactly as written in the text (sgp4 divides
them by 1440*xpdotp and 1440^2*xpdotp to get its ``ndot``/``nddot``).  ``bstar``
is in 1/earth radii.

Epoch.  ``epoch_us`` is an int: microseconds since 1950-01-01T00:00:00Z.  A TLE
epoch has 8 decimals of a day and 1e-8 day is exactly 864 us, so the
conversion is exact (no rounding at all); the day counts linearly from
Jan 1 00:00 = day 1.0 of the epoch year, as sgp4 computes it, so day 0.5 is
Dec 31 12:00 of the previous year and day 366.5 of a common year is Jan 1 12:00
of the next.  Years ``57``-``99`` are 1957-1999, ``00``-``56`` are 2000-2056.
``epoch`` is the same instant as an aware UTC datetime; ``epoch_year`` and
``epoch_day`` are the raw TLE year (4 digits) and day-of-year with fraction.

Provenance.  Three more slots say where a set came from, and take no part in
equality: ``meta`` (the OMM keywords of the record that are not element
fields, in file order, each value the exact text: ``CREATION_DATE``,
``GP_ID``, ``TLE_LINE1``, ...; None for TLE input), ``origin`` (``"FILE:LINE"``
for TLE/3LE/KVN/CSV, the line of the set's first line; ``"FILE#N"`` for the
N-th record of an XML or JSON file; set by the readers) and ``arrival_us``
(the registry's arrival stamp, microseconds since 1950; the codec only keeps
it).  ``with_provenance`` replaces them in one tuple build.

Equality.  ``a == b`` compares values: the 16 element fields (id,
classification, designator, epoch to the microsecond, the six elements, the
three drag terms, ephemeris type, element set number, revolution number) plus
name and source; it ignores how the text was formatted.  ``same_elements``
compares the 16 element fields only; ``same_text`` also requires identical TLE
lines (text identity).
"""
import datetime as _dt
import operator
import math
import re
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Union

from oor_core import tlecodec as _tlecodec

from oor.times import to_epoch_us

__all__ = ["ElementSet", "EPOCH_1950", "MAX_NORAD_ID", "MAX_TLE_NORAD_ID"]

_KEEP: Any = object()      # with_provenance: leave this slot as it is

EPOCH_1950 = _dt.datetime(1950, 1, 1, tzinfo=_dt.timezone.utc)
MAX_NORAD_ID = 999_999_999          # 9 digits (OMM NORAD_CAT_ID)
MAX_TLE_NORAD_ID = 339_999          # alpha-5 "Z9999"
_US_PER_DAY = 86_400_000_000
MAX_NAME_BYTES = 65535          # the record stores the name's length in two bytes
MAX_ORIGIN_BYTES = 65535        # the record stores the origin's length in two bytes
MAX_META_PAIRS = 65535          # ... the number of metadata pairs in two bytes
MAX_META_KEY_BYTES = 255        # ... a key's length in one byte (keys are ASCII)

# WGS-72, the constants SGP4 element sets are fitted with.
MU_KM3_S2 = 398600.8
EARTH_RADIUS_KM = 6378.135

# Layout of ElementSet._v (indices).  Slots 0..15 are the element fields,
# 0..17 take part in ==, 18..22 are representation (same_text compares 20..22),
# 23..25 provenance (in no comparison).
(NORAD_ID, CLASSIFICATION, INTL_DESIGNATOR, EPOCH_US, MEAN_MOTION, MEAN_MOTION_DOT,
 MEAN_MOTION_DDOT, BSTAR, EPHEMERIS_TYPE, ELEMENT_SET_NO, INCLINATION, RAAN,
 ECCENTRICITY, ARG_PERIGEE, MEAN_ANOMALY, REV_NUMBER, NAME, SOURCE, EPOCH_YEAR,
 EPOCH_DAY, LINE1, LINE2, FLAGS, META, ORIGIN, ARRIVAL) = range(26)
N_SLOTS = 26
N_ELEMENTS = 16
N_VALUES = 18
FLAG_NAME_PREFIX = 1     # the 3LE name line carried the "0 " prefix

FIELD_NAMES = ("norad_id", "classification", "intl_designator", "epoch_us", "mean_motion",
               "mean_motion_dot", "mean_motion_ddot", "bstar", "ephemeris_type", "element_set_no",
               "inclination", "raan", "eccentricity", "arg_perigee", "mean_anomaly", "rev_number")

_COSPAR = re.compile(r"([0-9]{4})-([0-9]{3})([A-Z]{0,3})")
_TLE_INTL = re.compile(r"[0-9]{5}[A-Z]{0,3}")
_new = object.__new__
_setattr = object.__setattr__


def _field(index, doc):
    def get(self):
        return self._v[index]
    get.__doc__ = doc
    return property(get)


def _cospar_to_tle(text):
    """'1998-067A' or '98067A' -> '98067A' (TLE form); '' stays ''.  Raises ValueError."""
    t = text.strip().upper()
    if not t:
        return ""
    m = _COSPAR.fullmatch(t)
    if m:
        if not 1957 <= int(m.group(1)) <= 2056:
            raise ValueError(f"international designator {text!r}: launch year must be 1957-2056")
        return m.group(1)[2:] + m.group(2) + m.group(3)
    if _TLE_INTL.fullmatch(t):
        return t
    raise ValueError(f"international designator {text!r} is not of the form 1998-067A or 98067A")


def tle_to_cospar(intl):
    """'98067A' -> '1998-067A' (launch years 57-99 are 19xx); '' -> ''."""
    if not intl:
        return ""
    yy = int(intl[:2])
    return f"{1900 + yy if yy >= 57 else 2000 + yy}-{intl[2:5]}{intl[5:]}"


def epoch_to_us(epoch):
    """A datetime (naive = UTC) or any time ``oor.times`` reads -> int microseconds since 1950-01-01T00:00Z (exact).

    Raises TypeError / ValueError as ``oor.times.to_epoch_us`` does.
    """
    if isinstance(epoch, _dt.datetime):
        if epoch.tzinfo is None or epoch.utcoffset() is None:
            epoch = epoch.replace(tzinfo=_dt.timezone.utc)      # naive = UTC, as everywhere in OOR
        return (epoch - EPOCH_1950) // _dt.timedelta(microseconds=1)
    return to_epoch_us(epoch)


def us_to_epoch(epoch_us):
    """Int microseconds since 1950 -> aware UTC datetime."""
    return EPOCH_1950 + _dt.timedelta(microseconds=epoch_us)


def _check_float(name, value, lo=None, hi=None, hi_open=False, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not value > 0.0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if lo is not None and value < lo:
        raise ValueError(f"{name} {value} is below {lo}")
    if hi is not None and (value >= hi if hi_open else value > hi):
        raise ValueError(f"{name} {value} is above {'or equal to ' if hi_open else ''}{hi}")
    return value


def _check_meta(meta):
    """A mapping or iterable of (key, value) pairs -> tuple of (str, str) pairs, or None when empty.

    Keys: non-empty ASCII, at most 255 bytes; values: str.  Raises TypeError / ValueError.
    """
    if meta is None:
        return None
    pairs = tuple(meta.items()) if isinstance(meta, Mapping) else tuple(tuple(p) for p in meta)
    if len(pairs) > MAX_META_PAIRS:
        raise ValueError(f"meta holds {len(pairs)} pairs; a record holds at most {MAX_META_PAIRS}")
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError("meta must be a mapping or (key, value) pairs")
        key, value = pair
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"meta keys and values must be str, got {key!r}: {value!r}")
        if not key or not key.isascii() or len(key) > MAX_META_KEY_BYTES:
            raise ValueError(f"meta key {key!r} must be 1-{MAX_META_KEY_BYTES} ASCII characters")
    return pairs or None


def _check_origin(origin):
    if origin is not None:
        if not isinstance(origin, str):
            raise TypeError("origin must be a str or None")
        if len(origin.encode("utf-8")) > MAX_ORIGIN_BYTES:
            raise ValueError(f"origin must be at most {MAX_ORIGIN_BYTES} bytes of UTF-8")
    return origin


def _check_arrival(arrival_us):
    if arrival_us is not None:
        if isinstance(arrival_us, bool) or not isinstance(arrival_us, int):
            raise TypeError("arrival_us must be an int (microseconds since 1950) or None")
        if not -2**63 <= arrival_us < 2**63:
            raise ValueError("arrival_us does not fit 64 bits")
    return arrival_us


def _check_int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} {value} is outside {lo}..{hi}")
    return value


class ElementSet:
    """One immutable element set (TLE / OMM mean elements for SGP4).

    Who may call: anyone.  Build one from fields with keyword arguments; the
    readers in ``oor.codec`` build them from text.  Construction validates
    every field (ValueError / TypeError).  O(1).

    >>> import datetime as dt
    >>> es = ElementSet(norad_id=25544, epoch=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    ...                 mean_motion=15.5, eccentricity=0.0005, inclination=51.64, raan=10.0,
    ...                 arg_perigee=20.0, mean_anomaly=30.0, intl_designator="1998-067A")
    >>> es.line1
    '1 25544U 98067A   24001.00000000  .00000000  00000+0  00000+0 0  9995'
    >>> es.cospar_id, round(es.period, 3)
    ('1998-067A', 92.903)
    """

    __slots__ = ("_v",)

    def __init__(self, *, norad_id: int, epoch: "Union[_dt.datetime, _dt.date, str, float]", mean_motion: float,
                 eccentricity: float, inclination: float, raan: float, arg_perigee: float, mean_anomaly: float,
                 classification: str = "U", intl_designator: str = "", mean_motion_dot: float = 0.0,
                 mean_motion_ddot: float = 0.0, bstar: float = 0.0, ephemeris_type: int = 0,
                 element_set_no: int = 999, rev_number: int = 0, name: Optional[str] = None,
                 source: Optional[str] = None, meta: Any = None, origin: Optional[str] = None) -> None:
        epoch_us = epoch_to_us(epoch)
        if classification not in ("U", "C", "S"):
            raise ValueError(f"classification must be 'U', 'C' or 'S', got {classification!r}")
        if not isinstance(intl_designator, str):
            raise TypeError("intl_designator must be a str")
        for label, text in (("name", name), ("source", source)):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"{label} must be a str or None")
        if source is not None and len(source.encode("utf-8")) > 255:
            raise ValueError("source must be at most 255 bytes of UTF-8")
        if name is not None and len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(f"name must be at most {MAX_NAME_BYTES} bytes of UTF-8")
        year, day = _tlecodec.epoch_year_day(epoch_us)
        v = (
            _check_int("norad_id", norad_id, 0, MAX_NORAD_ID),
            classification,
            _cospar_to_tle(intl_designator),
            epoch_us,
            _check_float("mean_motion", mean_motion, positive=True),
            _check_float("mean_motion_dot", mean_motion_dot),
            _check_float("mean_motion_ddot", mean_motion_ddot),
            _check_float("bstar", bstar),
            _check_int("ephemeris_type", ephemeris_type, 0, 9),
            _check_int("element_set_no", element_set_no, 0, 9999),
            _check_float("inclination", inclination, 0.0, 180.0),
            _check_float("raan", raan, 0.0, 360.0),
            _check_float("eccentricity", eccentricity, 0.0, 1.0, hi_open=True),
            _check_float("arg_perigee", arg_perigee, 0.0, 360.0),
            _check_float("mean_anomaly", mean_anomaly, 0.0, 360.0),
            _check_int("rev_number", rev_number, 0, 2**32 - 1),
            name, source, year, day, None, None, 0,
            _check_meta(meta), _check_origin(origin), None,
        )
        _setattr(self, "_v", v)

    # -- immutability ---------------------------------------------------------------------
    def __setattr__(self, key, value):
        raise AttributeError(f"ElementSet is immutable (cannot set {key!r}); use replace()")

    def __delattr__(self, key):
        raise AttributeError("ElementSet is immutable")

    def __reduce__(self):
        return (_rebuild, (self._v,))

    @classmethod
    def _from_values(cls, v):
        """Internal: wrap a complete, already-validated value tuple.  Who may call: oor.codec only."""
        assert len(v) == N_SLOTS
        obj = _new(cls)
        _setattr(obj, "_v", v)
        return obj

    def replace(self, **changes: Any) -> "ElementSet":
        """A new ElementSet with some fields changed (keyword names as in __init__).

        Who may call: anyone.  The result has no TLE text unless only ``name``
        and/or ``source`` changed, in which case the original lines are kept.
        Provenance (meta, origin, arrival) is kept; ``meta=`` / ``origin=`` replace it.
        """
        prov = {}
        for label in ("meta", "origin"):
            if label in changes:
                prov[label] = changes.pop(label)
        if set(changes) <= {"name", "source"}:
            v = list(self._v)
            if "name" in changes:
                v[NAME] = changes["name"]
            if "source" in changes:
                v[SOURCE] = changes["source"]
            for label in ("name", "source"):
                if label in changes and changes[label] is not None and not isinstance(changes[label], str):
                    raise TypeError(f"{label} must be a str or None")
            if "meta" in prov:
                v[META] = _check_meta(prov["meta"])
            if "origin" in prov:
                v[ORIGIN] = _check_origin(prov["origin"])
            return ElementSet._from_values(tuple(v))
        kw = self.fields()
        kw.pop("epoch_us")
        kw["epoch"] = self.epoch
        kw.update(changes)
        new = ElementSet(**kw)
        v = list(new._v)
        v[META] = _check_meta(prov["meta"]) if "meta" in prov else self._v[META]
        v[ORIGIN] = _check_origin(prov["origin"]) if "origin" in prov else self._v[ORIGIN]
        v[ARRIVAL] = self._v[ARRIVAL]
        return ElementSet._from_values(tuple(v))

    def with_provenance(self, meta: Any = _KEEP, origin: Any = _KEEP, arrival_us: Any = _KEEP) -> "ElementSet":
        """A copy with the provenance slots given replaced (the others kept); one tuple build.

        Who may call: anyone (the registry, on every load and read).  ``meta``: a
        mapping or (key, value) pairs, a tuple of pairs taken as it is, or None;
        ``origin``: str or None; ``arrival_us``: int microseconds since 1950 or
        None.  O(1) for a tuple of pairs (checked: O(len(meta)) otherwise).
        """
        v = self._v
        if meta is _KEEP:
            meta = v[META]
        elif meta is not None and (meta.__class__ is not tuple or not meta):
            meta = _check_meta(meta)
        if origin is _KEEP:
            origin = v[ORIGIN]
        elif origin is not None and origin.__class__ is not str:
            raise TypeError("origin must be a str or None")
        if arrival_us is _KEEP:
            arrival_us = v[ARRIVAL]
        elif arrival_us is not None and arrival_us.__class__ is not int:
            raise TypeError("arrival_us must be an int or None")
        obj = _new(ElementSet)
        _setattr(obj, "_v", v[:META] + (meta, origin, arrival_us))
        return obj

    # -- fields ---------------------------------------------------------------------------
    if TYPE_CHECKING:                 # what checkers see: typed read-only fields; at run time, properties
        @property
        def norad_id(self) -> int: ...
        @property
        def classification(self) -> str: ...
        @property
        def intl_designator(self) -> str: ...
        @property
        def epoch_us(self) -> int: ...
        @property
        def mean_motion(self) -> float: ...
        @property
        def mean_motion_dot(self) -> float: ...
        @property
        def mean_motion_ddot(self) -> float: ...
        @property
        def bstar(self) -> float: ...
        @property
        def ephemeris_type(self) -> int: ...
        @property
        def element_set_no(self) -> int: ...
        @property
        def inclination(self) -> float: ...
        @property
        def raan(self) -> float: ...
        @property
        def eccentricity(self) -> float: ...
        @property
        def arg_perigee(self) -> float: ...
        @property
        def mean_anomaly(self) -> float: ...
        @property
        def rev_number(self) -> int: ...
        @property
        def name(self) -> Optional[str]: ...
        @property
        def source(self) -> Optional[str]: ...
        @property
        def epoch_year(self) -> int: ...
        @property
        def epoch_day(self) -> float: ...
    else:
        norad_id = _field(NORAD_ID, "NORAD catalog number (int, up to 9 digits).")
        classification = _field(CLASSIFICATION, "'U', 'C' or 'S'.")
        intl_designator = _field(INTL_DESIGNATOR, "International designator, TLE form ('98067A'); '' if none.")
        epoch_us = _field(EPOCH_US, "Epoch as int microseconds since 1950-01-01T00:00Z.")
        mean_motion = _field(MEAN_MOTION, "Mean motion, rev/day.")
        mean_motion_dot = _field(MEAN_MOTION_DOT, "First derivative of mean motion / 2, rev/day^2 (TLE/OMM value).")
        mean_motion_ddot = _field(MEAN_MOTION_DDOT, "Second derivative of mean motion / 6, rev/day^3 (TLE/OMM value).")
        bstar = _field(BSTAR, "B* drag term, 1/earth radii.")
        ephemeris_type = _field(EPHEMERIS_TYPE, "Ephemeris type (0 for SGP4 element sets).")
        element_set_no = _field(ELEMENT_SET_NO, "Element set number.")
        inclination = _field(INCLINATION, "Inclination, degrees.")
        raan = _field(RAAN, "Right ascension of the ascending node, degrees.")
        eccentricity = _field(ECCENTRICITY, "Eccentricity.")
        arg_perigee = _field(ARG_PERIGEE, "Argument of perigee, degrees.")
        mean_anomaly = _field(MEAN_ANOMALY, "Mean anomaly, degrees.")
        rev_number = _field(REV_NUMBER, "Revolution number at epoch.")
        name = _field(NAME, "Object name (str) or None.")
        source = _field(SOURCE, "Where the set came from (e.g. 'celestrak') or None.")
        epoch_year = _field(EPOCH_YEAR, "Raw epoch year (4 digits) as written in the TLE.")
        epoch_day = _field(EPOCH_DAY, "Raw epoch day of year with fraction (1.0 = Jan 1 00:00) as written.")

    @property
    def meta(self) -> Dict[str, str]:
        """The OMM keywords the record carried beyond the element fields, as a new dict (empty if none).

        A keyword the file gave twice (KVN ``COMMENT`` lines) keeps its last value here; ``meta_pairs``
        has them all, in file order.
        """
        m = self._v[META]
        return dict(m) if m else {}

    @property
    def meta_pairs(self) -> "tuple":
        """The metadata as the file had it: a tuple of (keyword, text) pairs in file order (() if none)."""
        return self._v[META] or ()

    @property
    def origin(self) -> Optional[str]:
        """Where the set was read: ``"FILE:LINE"`` or ``"FILE#RECORD"`` (see the module doc), or None."""
        return self._v[ORIGIN]

    @property
    def arrival_us(self) -> Optional[int]:
        """The registry's arrival stamp (microseconds since 1950), or None."""
        return self._v[ARRIVAL]

    @property
    def arrival(self) -> Optional[_dt.datetime]:
        """The arrival stamp as an aware UTC datetime, or None."""
        a = self._v[ARRIVAL]
        return None if a is None else EPOCH_1950 + _dt.timedelta(microseconds=a)

    @property
    def epoch(self) -> _dt.datetime:
        """Epoch as a timezone-aware UTC datetime (microsecond resolution)."""
        return EPOCH_1950 + _dt.timedelta(microseconds=self._v[EPOCH_US])

    @property
    def cospar_id(self) -> str:
        """International designator in COSPAR form ('1998-067A'); '' if none."""
        return tle_to_cospar(self._v[INTL_DESIGNATOR])

    @property
    def has_text(self) -> bool:
        """True when the set was read from TLE text and keeps its exact lines."""
        return self._v[LINE1] is not None

    @property
    def line1(self) -> str:
        """TLE line 1: the exact text read, or canonical formatting (ValueError if unrepresentable)."""
        if self._v[LINE1] is not None:
            return self._v[LINE1]
        from oor.codec.tle import format_lines
        return format_lines(self)[0]

    @property
    def line2(self) -> str:
        """TLE line 2: the exact text read, or canonical formatting (ValueError if unrepresentable)."""
        if self._v[LINE2] is not None:
            return self._v[LINE2]
        from oor.codec.tle import format_lines
        return format_lines(self)[1]

    # -- derived --------------------------------------------------------------------------
    @property
    def period(self) -> float:
        """Orbital period in minutes (1440 / mean motion)."""
        return 1440.0 / self._v[MEAN_MOTION]

    @property
    def semi_major_axis(self) -> float:
        """Semi-major axis in km from the mean motion (Kepler's third law, WGS-72 mu)."""
        n = self._v[MEAN_MOTION] * 2.0 * math.pi / 86400.0      # rad/s
        return (MU_KM3_S2 / (n * n)) ** (1.0 / 3.0)

    @property
    def apogee(self) -> float:
        """Apogee altitude above the WGS-72 equatorial radius, km."""
        return self.semi_major_axis * (1.0 + self._v[ECCENTRICITY]) - EARTH_RADIUS_KM

    @property
    def perigee(self) -> float:
        """Perigee altitude above the WGS-72 equatorial radius, km (negative for decaying orbits)."""
        return self.semi_major_axis * (1.0 - self._v[ECCENTRICITY]) - EARTH_RADIUS_KM

    # -- comparison -----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ElementSet):
            return NotImplemented
        return self._v[:N_VALUES] == other._v[:N_VALUES]

    def __hash__(self) -> int:
        return hash(self._v[:N_VALUES])

    def same_elements(self, other: "ElementSet") -> bool:
        """True when the 16 element fields are equal (name, source and text ignored).  Who may call: anyone."""
        return self._v[:N_ELEMENTS] == other._v[:N_ELEMENTS]

    def same_text(self, other: "ElementSet") -> bool:
        """True when equal (==) and the stored TLE text (or its absence) and name-prefix flag are identical.

        Who may call: anyone.  This is text identity: two sets read from lines
        that differ only in formatting ('+00000-0' vs ' 00000-0') are == but not same_text.
        """
        return self == other and self._v[LINE1:META] == other._v[LINE1:META]

    def fields(self) -> Dict[str, Any]:
        """The element fields plus name and source as a dict (epoch as epoch_us)."""
        d = dict(zip(FIELD_NAMES, self._v))
        d["name"] = self._v[NAME]
        d["source"] = self._v[SOURCE]
        return d

    def __repr__(self) -> str:
        name = f" {self._v[NAME]!r}" if self._v[NAME] else ""
        return (f"<ElementSet {self._v[NORAD_ID]}{name} epoch={self.epoch.isoformat()} "
                f"n={self._v[MEAN_MOTION]} e={self._v[ECCENTRICITY]} i={self._v[INCLINATION]}>")

    # -- interop: OMM dicts, sgp4, skyfield (bodies in oor/interop.py) ------------------------
    def to_omm(self) -> Dict[str, Any]:
        """The set as an OMM dict, CelesTrak's JSON keywords and values (numbers as numbers).

        Who may call: anyone.  What ``sgp4.omm.initialize(satrec, d)`` and
        skyfield's ``EarthSatellite.from_omm(ts, d)`` read; ``ElementSet.from_omm``
        reads it back to an equal set.  OBJECT_NAME is left out when the set has no name.
        """
        from oor.codec.omm import to_omm_values
        return to_omm_values(self)

    @classmethod
    def from_omm(cls, fields: Mapping[str, Any], source: Optional[str] = None) -> "ElementSet":
        """An ElementSet from an OMM dict (CelesTrak JSON numbers or Space-Track strings); TLEParseError naming
        the keyword when one is missing or bad.  Who may call: anyone."""
        from oor.interop import from_omm
        return from_omm(fields, source)

    def to_satrec(self, placeholder: int = 0) -> Any:
        """An ``sgp4.api.Satrec`` for this set, every field sgp4 keeps filled (requires the sgp4 package).

        Who may call: anyone.  Sets with TLE text go through ``Satrec.twoline2rv``
        on the exact lines; sets built from fields or OMM through ``Satrec.sgp4init``
        (WGS-72; OMM precision is not rounded to TLE columns) plus the designator,
        element set number, revolution number, ephemeris type and classification,
        as ``sgp4.omm.initialize`` fills them, so ``sgp4.exporter.export_omm``
        works.  sgp4 holds ids up to 339999: a larger one propagates under
        ``placeholder`` (``satrec.satnum``; default 0).  The Satrec's ``error``
        attribute tells whether sgp4 accepts the orbit.
        """
        from oor.interop import to_satrec
        return to_satrec(self, placeholder)

    def to_skyfield(self, ts: Any = None, placeholder: int = 0) -> Any:
        """A skyfield ``EarthSatellite`` named after the set (requires skyfield: ``pip install 'oor[skyfield]'``).

        Who may call: anyone.  ``ts``: a skyfield Timescale; default the
        built-in one (``load.timescale(builtin=True)``, nothing downloaded).
        Positions equal sgp4's for the same Satrec (``to_satrec``).
        """
        from oor.interop import to_skyfield
        return to_skyfield(self, ts, placeholder)


def _rebuild(v):
    """Pickle support: rebuild from the value tuple."""
    return ElementSet._from_values(v)


_tlecodec.set_element_class(ElementSet)


class RecordElementSet(ElementSet):
    """An ElementSet read from the registry, decoded on first use (issue 17).

    Who makes them: the registry's read path in C (``oor_core/tlecodec.pyx``, ``lazy_at``), for a valid
    text-elided record -- nearly every set read from TLE text.  It holds a copy of the stored record
    (``_rec``) and its two TLE lines (the ``line1`` and ``line2`` slots), written straight from the record when it was read (the
    canonical lines of the fields in the set's style: what decoding gives); the value tuple is decoded
    from the record the first time a field is asked for, so a caller who wants the lines pays for neither
    the 26 values nor their objects.  Every other behaviour -- equality, hashing, pickling (as an ElementSet), ``replace``,
    immutability -- is ElementSet's, through the decoded values.
    """

    # line1 / line2 are slots, set by lazy_at: reading one is a C-level slot read (they shadow
    # ElementSet's properties, which format the lines from the values)
    __slots__ = ("_rec", "line1", "line2")

    # the values: ElementSet's _v slot, decoded from _rec into it on first use (a data descriptor in C,
    # not __getattr__, which would put CPython's getattr hook on every attribute read)
    _v = _tlecodec.LazyValues()


_tlecodec.set_lazy_class(RecordElementSet)

#: The value tuple of an ElementSet (layout above), for the codec's writers and the query layer's
#: field getters: one C-level attribute fetch, no property call.
element_values = operator.attrgetter("_v")
