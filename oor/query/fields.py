"""The fields a query filters on, projects and sorts by: stored ones and derived ones.

Who may import: the rest of ``oor.query`` (and tests).  One table, ``FIELDS``,
says for every field its kind, unit, how to read it from an ElementSet (the
row-wise path) and which batch column or kernel gives it (the vectorized
path).  Both paths compute a derived value with the same operations in the
same order (``math.cbrt`` is the C ``cbrt`` the kernels call), so a filter
gives the same rows either way; tests/test_query.py checks it.

Derived fields (constants: WGS-72, the ones SGP4 element sets are fitted
with, owned by ``oor.codec.elements``):
  sma_km       a = (mu / w^2)^(1/3), w = mean motion in rad/s (no un-Kozai step)
  period_min   1440 / mean motion
  apogee_km    a (1 + e) - R        perigee_km   a (1 - e) - R
  age_days     (now - epoch) in days; ``now`` is fixed when the query starts
  launch_year  from the designator ("98067A" -> 1998; 57-99 are 19xx); None without one
  regime       LEO apogee < 2,000 km; else HEO e >= 0.25; else GEO perigee >= 35,586 km and
               apogee <= 35,986 km (35,786 +- 200); else MEO apogee < 35,586 km; else OTHER
"""
import datetime as _dt
import math

from oor.codec.elements import EARTH_RADIUS_KM, MU_KM3_S2, element_values as _values, tle_to_cospar, us_to_epoch

__all__ = ["Field", "FIELDS", "ALIASES", "field", "REGIMES", "regime_code", "batch_columns"]

REGIMES = ("LEO", "MEO", "GEO", "HEO", "OTHER")
_cbrt = getattr(math, "cbrt", None) or (lambda x: x ** (1.0 / 3.0))
_TWO_PI = 2.0 * math.pi


def sma_km(mm):
    w = mm * 2.0 * math.pi / 86400.0
    return _cbrt(MU_KM3_S2 / (w * w))


def regime_code(apogee, perigee, ecc):
    """Regime code (index into REGIMES) of an orbit; the row-wise twin of vecops' kernel."""
    if apogee < 2000.0:
        return 0
    if ecc >= 0.25:
        return 3
    if perigee >= 35786.0 - 200.0 and apogee <= 35786.0 + 200.0:
        return 2
    if apogee < 35786.0 - 200.0:
        return 1
    return 4


def launch_year(intl):
    if not intl or len(intl) < 2:
        return None
    yy = int(intl[:2])
    return 1900 + yy if yy >= 57 else 2000 + yy


class Field:
    """One queryable field.

    kind: "num" (compared as a float), "time" (us since 1950; literals are ISO
    times), "text" (name, cospar, source: =, !=, in, like), "code" (regime,
    classification: =, !=, in).  ``row(es, ctx)`` is the internal value of
    the row-wise path; ``column`` names a ColumnBatch column, ``derive`` a
    vecops kernel id; ``to_py`` turns an internal value into the value shown.
    """

    __slots__ = ("name", "kind", "unit", "doc", "row", "column", "derive", "to_py")

    def __init__(self, name, kind, unit, doc, row, column=None, derive=None, to_py=None):
        self.name = name
        self.kind = kind
        self.unit = unit
        self.doc = doc
        self.row = row
        self.column = column
        self.derive = derive
        self.to_py = to_py

    def __repr__(self):
        return f"<Field {self.name} {self.kind}>"


def _v(i):
    return lambda es, ctx: _values(es)[i]


def _age(es, ctx):
    return (ctx.now_us - _values(es)[3]) / 86400e6


def _apogee(es, ctx):
    return sma_km(_values(es)[4]) * (1.0 + _values(es)[12]) - EARTH_RADIUS_KM


def _perigee(es, ctx):
    return sma_km(_values(es)[4]) * (1.0 - _values(es)[12]) - EARTH_RADIUS_KM


def _regime(es, ctx):
    a = sma_km(_values(es)[4])
    e = _values(es)[12]
    return regime_code(a * (1.0 + e) - EARTH_RADIUS_KM, a * (1.0 - e) - EARTH_RADIUS_KM, e)


def _epoch_py(us):
    return us_to_epoch(us)


def _arrival_py(us):
    return None if not us else us_to_epoch(us)        # 0: a set stored without a stamp (upgraded format 1)


_F = [
    Field("norad_id", "num", "", "NORAD catalog number", _v(0), column="norad", to_py=int),
    Field("epoch", "time", "UTC", "epoch of the set", _v(3), column="epoch_us", to_py=_epoch_py),
    Field("age_days", "num", "day", "days from the epoch to now (the query's start)", _age, derive="age"),
    Field("inclination", "num", "deg", "inclination", _v(10), column="inclination"),
    Field("raan", "num", "deg", "right ascension of the ascending node", _v(11), column="raan"),
    Field("eccentricity", "num", "", "eccentricity", _v(12), column="eccentricity"),
    Field("arg_perigee", "num", "deg", "argument of perigee", _v(13), column="arg_perigee"),
    Field("mean_anomaly", "num", "deg", "mean anomaly", _v(14), column="mean_anomaly"),
    Field("mean_motion", "num", "rev/day", "mean motion", _v(4), column="mean_motion"),
    Field("mean_motion_dot", "num", "rev/day^2", "first derivative of mean motion / 2", _v(5), column="mm_dot"),
    Field("mean_motion_ddot", "num", "rev/day^3", "second derivative / 6", _v(6), column="mm_ddot"),
    Field("bstar", "num", "1/earth radii", "BSTAR drag term", _v(7), column="bstar"),
    Field("rev_number", "num", "", "revolution number at epoch", _v(15), column="rev_number"),
    Field("element_set_no", "num", "", "element set number", _v(9), column="elset_no"),
    Field("ephemeris_type", "num", "", "ephemeris type", _v(8), column="ephemeris"),
    Field("period_min", "num", "min", "orbital period, 1440 / mean motion", lambda es, ctx: 1440.0 / _values(es)[4],
          derive="period"),
    Field("sma_km", "num", "km", "semi-major axis", lambda es, ctx: sma_km(_values(es)[4]), derive="sma"),
    Field("apogee_km", "num", "km", "apogee altitude above the equatorial radius", _apogee, derive="apogee"),
    Field("perigee_km", "num", "km", "perigee altitude above the equatorial radius", _perigee, derive="perigee"),
    Field("regime", "code", "", "LEO / MEO / GEO / HEO / OTHER (definitions above)", _regime, derive="regime",
          to_py=lambda c: REGIMES[int(c)]),
    Field("classification", "code", "", "U, C or S", lambda es, ctx: ord(_values(es)[1]), column="classification",
          to_py=chr),
    Field("name", "text", "", "object name (3LE line 0 / OBJECT_NAME)", lambda es, ctx: _values(es)[16]),
    Field("cospar", "text", "", "COSPAR id, 1998-067A", lambda es, ctx: tle_to_cospar(_values(es)[2])),
    Field("launch_year", "num", "", "launch year from the COSPAR id (0 internally when none)",
          lambda es, ctx: launch_year(_values(es)[2]) or 0, derive="launch_year", to_py=lambda y: int(y) or None),
    Field("source", "text", "", "source the set was loaded from", lambda es, ctx: _values(es)[17]),
    Field("arrival_time", "time", "UTC", "when the registry stored the set (its transaction's arrival stamp; "
          "docs/revisions.md)", lambda es, ctx: es.arrival_us or 0, column="arrival_us", to_py=_arrival_py),
]
FIELDS = {f.name: f for f in _F}
ALIASES = {"norad": "norad_id", "id": "norad_id", "epoch_us": "epoch", "epoch_age": "age_days", "age": "age_days",
           "incl": "inclination", "inc": "inclination", "i": "inclination", "ecc": "eccentricity", "e": "eccentricity",
           "argp": "arg_perigee", "ma": "mean_anomaly", "mm": "mean_motion", "n": "mean_motion",
           "period": "period_min", "sma": "sma_km", "semi_major_axis": "sma_km", "apogee": "apogee_km",
           "perigee": "perigee_km", "cospar_id": "cospar", "intl_designator": "cospar", "object_name": "name",
           "launch": "launch_year", "elset_no": "element_set_no", "arrival": "arrival_time",
           "arrived": "arrival_time"}


def field(name):
    """The Field called name (or an alias); KeyError with a suggestion when unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    f = FIELDS.get(key)
    if f is None:
        import difflib
        close = difflib.get_close_matches(key, list(FIELDS) + list(ALIASES), n=1)
        hint = f"did you mean {ALIASES.get(close[0], close[0])}?" if close else f"fields: {', '.join(FIELDS)}"
        raise KeyError(f"unknown field {name!r} ({hint})")
    return f


# ColumnBatch columns each vecops kernel reads (oor.query.predicate.derive_column calls them)
_DERIVE_COLUMNS = {"sma": ("mean_motion", "eccentricity"), "period": ("mean_motion", "eccentricity"),
                   "apogee": ("mean_motion", "eccentricity"), "perigee": ("mean_motion", "eccentricity"),
                   "regime": ("mean_motion", "eccentricity"), "age": ("epoch_us",), "launch_year": ("intl",)}
_TEXT_COLUMNS = {"name": ("name",), "cospar": ("intl",), "source": ("source_id",)}


def batch_columns(f):
    """The ColumnBatch columns the vectorized path reads for field f (a scan fills only those)."""
    if f.column is not None:
        return (f.column,)
    if f.derive is not None:
        return _DERIVE_COLUMNS[f.derive]
    return _TEXT_COLUMNS[f.name]


def now_us():
    """Microseconds since 1950 now (UTC)."""
    return (_dt.datetime.now(_dt.timezone.utc) - _dt.datetime(1950, 1, 1, tzinfo=_dt.timezone.utc)) \
        // _dt.timedelta(microseconds=1)
