"""OOR and the tools users already have: sgp4, skyfield, Arrow, pandas (and through them Parquet, numpy, DuckDB).

Who may import: ``oor.codec.elements`` (``ElementSet.to_satrec`` / ``to_skyfield`` /
``from_omm`` call in here), ``oor.registry`` (``load`` of dicts and line pairs,
``to_arrow``, ``to_pandas``, ``export(format="parquet")``), tests.  Every
third-party package is imported inside the function that needs it, so ``import
oor`` needs none of them: sgp4 (``pip install sgp4``), skyfield (``oor[skyfield]``),
pyarrow (``oor[arrow]``), pandas (``oor[pandas]``).

sgp4.  ``to_satrec`` fills every field a ``Satrec`` keeps, as sgp4's own
``omm.initialize`` does: a set read from TLE text goes through
``Satrec.twoline2rv`` on its exact lines; any other through ``sgp4init`` (WGS-72,
the epoch computed as ``omm.initialize`` computes it, so the two give the same
Satrec bit for bit) plus ``classification``, ``intldesg``, ``ephtype``,
``elnum`` and ``revnum``, so ``sgp4.exporter.export_omm`` / ``export_tle`` work
on it.  sgp4 holds catalog numbers up to 339999 (alpha-5 ``Z9999``): a larger
id is propagated under ``placeholder`` (default 0; ``satrec.satnum`` then is
not the object's id -- keep the ElementSet for that).

Columns.  ``Registry.to_arrow`` reads the primary tree in column batches
straight from its leaf pages (``oor.query``'s ``BatchScan``, Cython: no
ElementSet is built) and hands the typed arrays to Arrow without a copy per
value.  ``epoch`` is an Arrow ``timestamp[us, tz=UTC]`` (pandas
``datetime64[us, UTC]``), not microseconds since 1950.  Columns (``COLUMNS``):
norad_id, name, cospar_id, epoch, mean_motion, eccentricity, inclination, raan,
arg_perigee, mean_anomaly, bstar, mean_motion_dot, mean_motion_ddot,
classification, ephemeris_type, element_set_no, rev_number, source.
"""
from array import array

from oor.codec import ElementSet, parse_tle
from oor.codec.elements import MAX_TLE_NORAD_ID
from oor.codec.omm import from_omm as _omm_record
from oor.times import UNIX_EPOCH_US

__all__ = ["to_satrec", "to_skyfield", "from_omm", "as_element_set", "COLUMNS", "to_arrow", "sets_to_arrow",
           "to_pandas", "write_parquet"]

_US_PER_DAY = 86_400_000_000
_PI = 3.141592653589793
_DEG = _PI / 180.0
_NDOT_UNITS = 1036800.0 / _PI               # rev/day^2 -> rad/min^2, as sgp4.omm writes it
_NDDOT_UNITS = 2985984000.0 / 2.0 / _PI     # rev/day^3 -> rad/min^3
COLUMNS = ("norad_id", "name", "cospar_id", "epoch", "mean_motion", "eccentricity", "inclination", "raan",
           "arg_perigee", "mean_anomaly", "bstar", "mean_motion_dot", "mean_motion_ddot", "classification",
           "ephemeris_type", "element_set_no", "rev_number", "source")


# ---- sgp4 and skyfield ------------------------------------------------------------------------
def to_satrec(es, placeholder=0):
    """An ``sgp4.api.Satrec`` with every field filled (module doc).  Who may call: ``ElementSet.to_satrec``."""
    try:
        from sgp4.api import WGS72, Satrec
    except ImportError as exc:
        raise ImportError("to_satrec() needs the sgp4 package: pip install sgp4") from exc
    if es.has_text:
        return Satrec.twoline2rv(es.line1, es.line2)
    if not 0 <= placeholder <= MAX_TLE_NORAD_ID:
        raise ValueError(f"placeholder {placeholder} is outside 0..{MAX_TLE_NORAD_ID} (sgp4's range)")
    satnum = es.norad_id if es.norad_id <= MAX_TLE_NORAD_ID else placeholder
    # The arithmetic of sgp4.omm.initialize, operation for operation, so that both give the same Satrec to the
    # last bit (tests/test_interop.py): days since 1949-12-31 00:00 as total_seconds() / 86400, the rate units
    # as its constants (1440 / 2pi * 1440 written another way differs in the last bit).
    epoch = ((es.epoch_us + _US_PER_DAY) / 10 ** 6) / 86400.0
    sat = Satrec()
    sat.sgp4init(WGS72, "i", satnum, epoch, es.bstar, es.mean_motion_dot / _NDOT_UNITS,
                 es.mean_motion_ddot / _NDDOT_UNITS, es.eccentricity, es.arg_perigee * _DEG,
                 es.inclination * _DEG, es.mean_anomaly * _DEG, es.mean_motion / 720.0 * _PI, es.raan * _DEG)
    sat.classification = es.classification
    sat.intldesg = es.intl_designator
    sat.ephtype = es.ephemeris_type
    sat.elnum = es.element_set_no
    sat.revnum = es.rev_number
    return sat


def to_skyfield(es, ts=None, placeholder=0):
    """A skyfield ``EarthSatellite`` (named after the set).  ``ts``: a skyfield Timescale; default the
    built-in one (``load.timescale(builtin=True)``: no download).  Who may call: ``ElementSet.to_skyfield``."""
    try:
        from skyfield.api import EarthSatellite, load
    except ImportError as exc:
        raise ImportError("to_skyfield() needs skyfield: pip install 'oor[skyfield]'") from exc
    if ts is None:
        ts = load.timescale(builtin=True)
    if es.has_text:
        return EarthSatellite(es.line1, es.line2, es.name, ts)
    sat = EarthSatellite.from_satrec(to_satrec(es, placeholder), ts)
    sat.name = es.name
    return sat


def from_omm(fields, source=None):
    """An ElementSet from a mapping of OMM keywords (CelesTrak JSON numbers or Space-Track strings).
    TLEParseError naming the keyword when a value is missing or bad.  Who may call: anyone."""
    return _omm_record(dict(fields), source=source)


def as_element_set(item, source=None):
    """ElementSet, OMM dict, (line1, line2) or (name, line1, line2) -> ElementSet (source applied).

    Who may call: ``Registry.load`` for an iterable input.  TypeError for anything else.
    """
    if isinstance(item, ElementSet):
        return item if source is None else item.replace(source=source)
    if isinstance(item, dict) or (hasattr(item, "keys") and hasattr(item, "__getitem__")):
        return from_omm(item, source)
    if isinstance(item, (tuple, list)) and all(isinstance(x, str) for x in item):
        if len(item) == 2:
            return parse_tle(item[0], item[1], source=source)
        if len(item) == 3:
            name = item[0].strip()
            if name.startswith("0 "):
                name = name[2:].strip()
            return parse_tle(item[1], item[2], name=name or None, source=source)
    raise TypeError(f"load() takes ElementSets, OMM dicts or (line1, line2) / (name, line1, line2) tuples, "
                    f"not {type(item).__name__}" + (f" of {len(item)}" if isinstance(item, (tuple, list)) else ""))


# ---- columns: Arrow, pandas, Parquet ------------------------------------------------------------
def _need_arrow():
    try:
        import pyarrow
    except ImportError as exc:
        raise ImportError("to_arrow() and the parquet format need pyarrow: pip install 'oor[arrow]'") from exc
    return pyarrow


# column name -> (ColumnBatch attribute, array typecode, Arrow type name)
_NUMERIC = {"norad_id": ("norad", "I", "uint32"), "mean_motion": ("mean_motion", "d", "float64"),
            "eccentricity": ("eccentricity", "d", "float64"), "inclination": ("inclination", "d", "float64"),
            "raan": ("raan", "d", "float64"), "arg_perigee": ("arg_perigee", "d", "float64"),
            "mean_anomaly": ("mean_anomaly", "d", "float64"), "bstar": ("bstar", "d", "float64"),
            "mean_motion_dot": ("mm_dot", "d", "float64"), "mean_motion_ddot": ("mm_ddot", "d", "float64"),
            "ephemeris_type": ("ephemeris", "B", "uint8"), "element_set_no": ("elset_no", "H", "uint16"),
            "rev_number": ("rev_number", "I", "uint32")}


def _columns(columns):
    want = COLUMNS if columns is None else tuple(columns)
    for c in want:
        if c not in COLUMNS:
            raise ValueError(f"unknown column {c!r}; the columns are {', '.join(COLUMNS)}")
    return want


class _Columns:
    """Typed arrays filled batch by batch (ColumnBatch) or set by set, then wrapped as Arrow arrays (no copy)."""

    def __init__(self, want):
        self.want = want
        self.numeric = {c: array(_NUMERIC[c][1]) for c in want if c in _NUMERIC}
        self.epoch = array("q")
        self.source_id = array("H")
        self.classification = bytearray()
        self.names = bytearray()
        self.name_off = array("i", [0])
        self.intl = bytearray()         # TLE-form designators, 8 bytes a row, zero padded (ColumnBatch.intl)
        self.rows = 0

    def add_batch(self, b):
        n = b.n
        self.rows += n
        for c, a in self.numeric.items():
            a.extend(getattr(b, _NUMERIC[c][0])[:n])
        self.epoch.extend(b.epoch_us[:n])
        self.source_id.extend(b.source_id[:n])
        want = self.want
        if "classification" in want:
            self.classification += b.classification[:n].tobytes()
        if "name" in want:
            base = self.name_off[-1]
            self.names += b.name_data[:b.name_off[n]]
            off = b.name_off[1:n + 1]
            self.name_off.extend(off if not base else array("i", [x + base for x in off]))
        if "cospar_id" in want:
            self.intl += b.intl[:8 * n].tobytes()

    def add_set(self, es, source_ids):
        self.rows += 1
        for c, a in self.numeric.items():
            a.append(getattr(es, c))
        self.epoch.append(es.epoch_us)
        self.source_id.append(0 if es.source is None else source_ids.setdefault(es.source, len(source_ids) + 1))
        self.classification += es.classification.encode("ascii")
        if es.name:
            self.names += es.name.encode("utf-8")
        self.name_off.append(len(self.names))
        self.intl += es.intl_designator.encode("ascii").ljust(8, b"\0")

    def table(self, source_ids):
        pa = _need_arrow()
        import pyarrow.compute as pc
        rows = self.rows
        out = {}
        for c in self.want:
            if c in _NUMERIC:
                a = self.numeric[c]
                out[c] = pa.Array.from_buffers(getattr(pa, _NUMERIC[c][2])(), rows, [None, pa.py_buffer(a)])
            elif c == "epoch":
                # us since 1950 -> us since 1970 (Arrow's epoch): one vectorised subtraction, then a view
                e = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(self.epoch)])
                out[c] = pc.subtract(e, pa.scalar(UNIX_EPOCH_US, pa.int64())).view(pa.timestamp("us", tz="UTC"))
            elif c == "name":
                offsets = pa.Array.from_buffers(pa.int32(), rows + 1, [None, pa.py_buffer(self.name_off)])
                arr = pa.Array.from_buffers(pa.string(), rows, [None, pa.py_buffer(self.name_off),
                                                                pa.py_buffer(self.names)])
                empty = pc.equal(pc.subtract(offsets[1:], offsets[:-1]), 0)     # no name is stored as ""
                out[c] = pc.if_else(empty, pa.scalar(None, pa.string()), arr)
            elif c == "cospar_id":
                out[c] = _cospar_column(pa, pc, self.intl, rows)
            elif c == "classification":
                offs = array("i", range(rows + 1))
                out[c] = pa.Array.from_buffers(pa.string(), rows, [None, pa.py_buffer(offs),
                                                                   pa.py_buffer(self.classification)])
            elif c == "source":
                by_id = {i: name for name, i in source_ids.items()}
                top = max(by_id, default=0)
                ids = pa.Array.from_buffers(pa.uint16(), rows, [None, pa.py_buffer(self.source_id)])
                dictionary = pa.array([None] + [by_id.get(i, f"#{i}") for i in range(1, top + 1)], pa.string())
                out[c] = pa.DictionaryArray.from_arrays(ids, dictionary).cast(pa.string())
        return pa.table(out)


def _cospar_column(pa, pc, intl, rows):
    """'98067A\\0\\0' x rows -> '1998-067A' (null when empty), in Arrow compute kernels.

    Why vectorised: a Python loop over the rows (tle_to_cospar with a cache) was 80% of to_arrow's time on
    the 102,753 sets of the real data (0.8 of 1.05 s)."""
    fixed = pa.Array.from_buffers(pa.binary(8), rows, [None, pa.py_buffer(intl)])
    tle = pc.utf8_rtrim(fixed.cast(pa.binary()).cast(pa.string()), characters="\0")
    yy = pc.utf8_slice_codeunits(tle, 0, 2)
    century = pc.if_else(pc.greater_equal(yy, "57"), "19", "20")
    text = pc.binary_join_element_wise(century, yy, "-", pc.utf8_slice_codeunits(tle, 2, 8), "")
    return pc.if_else(pc.equal(pc.utf8_length(tle), 0), pa.scalar(None, pa.string()), text)


def to_arrow(reader, mode="latest", as_of_us=None, first_id=None, last_id=None, columns=None):
    """A ``pyarrow.Table`` of the sets a BatchScan yields (mode "latest", "all" or "as_of").

    Who may call: ``Registry.to_arrow``.  Columns: ``COLUMNS`` or the ``columns`` named (in that order).
    """
    _need_arrow()
    from oor.query.operators import BatchScan

    cols = _Columns(_columns(columns))
    lo = 0 if first_id is None else first_id
    hi = 999_999_999 if last_id is None else last_id
    if lo <= hi:
        for b in BatchScan(reader, mode, as_of_us, [(lo, hi)]):
            cols.add_batch(b)
    return cols.table(reader.source_ids)


def sets_to_arrow(sets, source_ids=None, columns=None):
    """A ``pyarrow.Table`` (columns as ``to_arrow``) of any iterable of ElementSets.  Who may call: anyone
    (the CLI and ``Registry.export`` for parquet output of a selection)."""
    _need_arrow()
    cols = _Columns(_columns(columns))
    ids = dict(source_ids or {})
    for es in sets:
        cols.add_set(es, ids)
    return cols.table(ids)


def to_pandas(reader, **kw):
    """``to_arrow(...).to_pandas()``: a DataFrame, epoch as ``datetime64[us, UTC]``.  Who may call:
    ``Registry.to_pandas``."""
    try:
        import pandas  # noqa: F401
    except ImportError as exc:
        raise ImportError("to_pandas() needs pandas: pip install 'oor[pandas]'") from exc
    return to_arrow(reader, **kw).to_pandas()


def write_parquet(table, path):
    """Write an Arrow table to a Parquet file, atomically (a temporary file renamed over path).

    Who may call: ``Registry.export``.  Returns the row count.
    """
    _need_arrow()
    import os
    import tempfile

    import pyarrow.parquet as pq
    path = os.fspath(path)
    if path == "-" or not isinstance(path, str):
        raise ValueError("parquet is written to a file: give -o FILE.parquet")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return table.num_rows

