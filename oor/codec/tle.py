"""Two-line element sets (TLE) and three-line sets (3LE): parse, read a stream, format.

Who may import: ``oor.codec`` (public names re-exported there).

Column layout (1-based, as in the NORAD/Space-Track documentation).  The
column parser itself is the Cython hot path ``oor_core/tlecodec.pyx``;
this module owns the rules and everything around them.

Line 1                                         Line 2
  1      '1'                                    1      '2'
  3-7    catalog number (1)                     3-7    catalog number, equal to line 1's
  8      classification U, C or S               9-16   inclination, deg (0-180)
  10-11  launch year  }                         18-25  RAAN, deg (0-360)
  12-14  launch number } designator, or blank   27-33  eccentricity, implied leading "0."
  15-17  piece        }  (blanks allowed:      35-42  argument of perigee, deg (0-360)
                          '92052  A')           44-51  mean anomaly, deg (0-360)
  19-20  epoch year (57-99: 19xx, 00-56: 20xx)  53-63  mean motion, rev/day (> 0)
  21-32  epoch day of year, up to 8 decimals    64-68  revolution number (blank = 0)
  34-43  ndot/2 (sign, '.', 8 digits)           69     checksum
  45-52  nddot/6 }  sign, 5 digits with implied
  54-61  BSTAR   }  leading '.', signed exponent (2)
  63     ephemeris type (blank = 0)
  65-68  element set number (blank = 0)
  69     checksum

(1) Digits, blank- or zero-padded ('    5', '00005'), or alpha-5: a letter A-Z
    without I and O for the ten-thousands (A=10 ... Z=33), then 4 digits, so
    'T0288' is 270288 and 'Z9999' the largest, 339999.
(2) The last two columns of an exponent field are read as one signed integer,
    as sgp4 reads them: '-3', '+0', ' 0' and also '01' (= +1; one history line
    has '+0153801', which is 0.1538).
Every separator column (2, 9, 18, 33, 44, 53, 62, 64 of line 1; 2, 8, 17, 26,
34, 43, 52 of line 2) must be blank.  Numbers may carry leading blanks or
zeros and explicit '+' signs ('+00000-0', '066.0797').

Checksum: digits count their value, '-' counts 1, everything else 0; the sum
of columns 1-68 modulo 10 must equal column 69.  A 68-column line (no
checksum) is accepted only with ``allow_missing_checksum=True``.  A line may
carry trailing blanks after column 69; they are kept.

Text identity: a set parsed from text keeps both lines exactly (line ending
removed), so ``line1``/``line2`` and the writers give back the input bytes.
Sets built from fields or OMM get canonical lines (``format_lines``).

3LE: a name line precedes line 1, with or without the ``0 `` prefix; the name
is stored without the prefix and without trailing blanks, and whether the
prefix was there is remembered so the writer can restore it.  A line whose
first character is '1' and whose next line starts with '2' is a line pair;
any other non-blank line shorter than 30 columns is a name; a longer line
starting with '1' or '2' that does not pair up is an error.  Blank lines are
skipped.
"""
import datetime as _datetime

from oor_core import tlecodec as _tlecodec
from oor_core.errors import TLEParseError

from oor.codec import elements as _el
from oor.codec.elements import element_values
from oor.codec.lines import Unreadable

__all__ = ["parse_tle", "format_lines", "alpha5_encode", "alpha5_decode", "iter_tle", "tle_checksum",
           "format_tle"]

MIN_ELEMENT_LINE = 30      # a non-pairing line at least this long is a broken element line, not a name
_DROPPED = "\x00dropped"   # pending name: the set after an unreadable line belongs to its rejection
_NAME_CHECK = _el.MAX_NAME_BYTES // 4      # a name this short (in characters) fits the record whatever it holds
_ALPHA5 = "ABCDEFGHJKLMNPQRSTUVWXYZ"     # 10..33
tle_checksum = _tlecodec.tle_checksum


def alpha5_encode(norad_id):
    """Catalog number -> 5-column TLE field ('00005', '99999', 'A0000', 'Z9999').

    Who may call: anyone.  Raises ValueError above 339999 (use OMM for those).

    >>> alpha5_encode(5), alpha5_encode(270288)
    ('00005', 'T0288')
    """
    if not 0 <= norad_id <= _el.MAX_TLE_NORAD_ID:
        raise ValueError(
            f"catalog number {norad_id} cannot be written as a TLE: the 5-column field (alpha-5) "
            f"holds at most {_el.MAX_TLE_NORAD_ID}; export this element set as OMM (XML, JSON, CSV or KVN) instead")
    if norad_id <= 99999:
        return f"{norad_id:05d}"
    return _ALPHA5[norad_id // 10000 - 10] + f"{norad_id % 10000:04d}"


def alpha5_decode(field):
    """5-column TLE catalog field -> int; ValueError if malformed.  Who may call: anyone.

    >>> alpha5_decode('T0288'), alpha5_decode('    5')
    (270288, 5)
    """
    f = field.strip()
    if f[:1] in _ALPHA5 and f[:1] != "" and len(f) == 5 and f[1:].isdigit() and f[1:].isascii():
        return (_ALPHA5.index(f[0]) + 10) * 10000 + int(f[1:])
    if f.isdigit() and f.isascii() and len(field) == 5:
        return int(f)
    raise ValueError(f"{field!r} is not a TLE catalog number")


# parse_tle(line1, line2, *, name=None, source=None, allow_missing_checksum=False): one line pair
# (trailing CR/LF ignored) -> ElementSet.  Who may call: anyone.  Raises TypeError for lines that
# are not str, TLEParseError whose ``line`` is 1 or 2 and ``column`` the 1-based column of the
# fault.  O(1), about a microsecond.  It is the compiled tlecodec.parse_line_pair itself: a Python
# wrapper (type checks, two rstrip calls, its frame) was a fifth of the time per pair.
parse_tle = _tlecodec.parse_line_pair


def _relocate(exc, file, line):
    return TLEParseError(exc.reason, file, line, exc.column, exc.text)


def iter_tle(chunks, *, file=None, source=None, allow_missing_checksum=False, collect=None, counts=None,
             origin=None):
    """Yield ElementSets from lists of text lines (2-line and 3LE, mixed freely).

    Who may call: oor.codec.io (the public entry point is ``read_elements``).
    ``chunks`` yields lists of lines without line endings; line numbers count
    from 1 across chunks.  Bad sets raise TLEParseError (file, absolute line,
    column) or, when ``collect`` is a list, are appended to it and skipped:
    one error per rejected set, not per line.  ``origin`` (a str, the file
    as the user named it): each set's origin is ``"ORIGIN:LINE"``, LINE that
    of its first line (the name line of a 3LE set).  ``counts[0]`` (a list, if
    given) is increased by one for every skipped line: ``#`` comments and
    short lines (names, headings) not followed by element lines.
    Memory: one chunk.
    """
    parse = _tlecodec.parse_tle
    prefix = None if origin is None else origin + ":"
    lineno = 0
    l1 = None
    l1_no = 0
    name = None
    name_no = 0
    flags = 0
    skipped = 0

    def bad(reason, line, column, text):
        err = TLEParseError(reason, file, line, column, text)
        if collect is None:
            raise err
        collect.append(err)

    try:
        for lines in chunks:
            for line in lines:
                lineno += 1
                first = line[:1]
                if first == "#":
                    skipped += 1
                    continue
                if l1 is not None:
                    if first == "2":
                        if name is _DROPPED:          # the set named by an unreadable line: rejected with it
                            l1 = name = None
                            continue
                        try:
                            es = parse(l1, line, allow_missing_checksum, name, source, flags, prefix,
                                       l1_no if name is None else name_no)
                            if name is not None and len(name) > _NAME_CHECK and \
                                    len(name.encode("utf-8")) > _el.MAX_NAME_BYTES:
                                raise TLEParseError(f"name is longer than {_el.MAX_NAME_BYTES:,} bytes (the limit)",
                                                    None, 0, 1, name[:80])
                        except TLEParseError as exc:
                            where = l1_no if exc.line == 1 else name_no if exc.line == 0 else lineno
                            err = _relocate(exc, file, where)
                            if collect is None:
                                raise err from None
                            collect.append(err)
                            es = None
                        l1 = None
                        name = None
                        flags = 0
                        if es is not None:
                            yield es
                        continue
                    # the pending '1...' line does not pair up: a broken line 1, or a name starting with '1'
                    if len(l1.rstrip()) >= MIN_ELEMENT_LINE:
                        bad("line 1 is not followed by a line 2", l1_no, 1, l1)
                        name = None
                        if line.__class__ is Unreadable:      # the same broken set: one rejection
                            l1 = None
                            continue
                    else:
                        if name is not None and name is not _DROPPED:
                            skipped += 1
                        name, flags, name_no = l1.rstrip(), 0, l1_no
                    l1 = None
                if first == "1":
                    l1 = line
                    l1_no = lineno
                    continue
                if first == "2" and len(line.rstrip()) >= MIN_ELEMENT_LINE:
                    bad("line 2 without a preceding line 1", lineno, 1, line)
                    name = None
                    continue
                if line.__class__ is Unreadable:
                    bad(line.reason + " (with the element set it names)", lineno, line.column, None)
                    name = _DROPPED
                    continue
                if not line.strip():
                    continue
                if name is _DROPPED:
                    name = None
                if name is not None:
                    if len(name) >= MIN_ELEMENT_LINE:
                        bad("line is neither an element line nor a name (too long for one) and is not "
                            "followed by element lines", name_no, 1, name)
                    else:
                        skipped += 1
                name_no = lineno
                if line[:2] == "0 ":
                    name, flags = line[2:].rstrip(), _el.FLAG_NAME_PREFIX
                else:
                    name, flags = line.rstrip(), 0
        if name is _DROPPED:
            name = None
        if l1 is not None:
            if len(l1.rstrip()) >= MIN_ELEMENT_LINE:
                bad("line 1 is not followed by a line 2 (end of input)", l1_no, 1, l1)
                name = None
            else:
                if name is not None:
                    skipped += 1
                name, name_no = l1.rstrip(), l1_no
        if name is not None:
            if len(name) >= MIN_ELEMENT_LINE:
                bad("line is neither an element line nor a name (too long for one) and is not followed by "
                    "element lines (end of input)", name_no, 1, name)
            else:
                skipped += 1
    finally:
        if counts is not None:
            counts[0] += skipped


# -- canonical formatting ------------------------------------------------------------------------

def _exp_field(value, what):
    """Value -> 8-column implied-point exponent field (' 12345-3'); ValueError if it does not fit."""
    if value == 0.0:
        return " 00000+0"           # as CelesTrak and Space-Track write zero today (older files: ' 00000-0')
    mant, exp = f"{abs(value):.4e}".split("e")
    digits = mant.replace(".", "")
    e = int(exp) + 1
    if e < -9:
        return " 00000+0"           # below the field's resolution: zero, as the column can hold
    if e > 9:
        raise ValueError(f"{what} {value} is too large for a TLE exponent field")
    return f"{'-' if value < 0 else ' '}{digits}{'-' if e < 0 else '+'}{abs(e)}"


def _fixed(value, width, decimals, what):
    text = f"{value:{width}.{decimals}f}"
    if len(text) != width:
        raise ValueError(f"{what} {value} does not fit TLE columns ({width} wide)")
    return text


def format_lines(es):
    """Canonical TLE lines (line1, line2) of an ElementSet, with fresh checksums.

    Who may call: ElementSet.line1/line2 and the writers.  Values are rounded to
    the column precision; the epoch to 1e-8 day (864 us).  Raises ValueError
    naming the field when a value cannot be written as a TLE (catalog number
    above 339999, mean motion >= 100, revolution number above 99999, ...).
    The C formatter ``tlecodec.canonical_lines`` gives the same lines (the
    record codec uses it to store canonical text without its lines); what it
    leaves (errors, -0.0 fields) is formatted here.
    """
    v = element_values(es)
    lines = _tlecodec.canonical_lines(v)
    if lines is not None:
        return lines
    return _format_lines_py(v)


def _format_lines_py(v):
    """format_lines in Python (the definition; tests compare it with the C formatter)."""
    sid = alpha5_encode(v[_el.NORAD_ID])
    epoch_us = v[_el.EPOCH_US]
    year = _tlecodec.epoch_year_day(epoch_us)[0]
    start = _el.epoch_to_us(_datetime.datetime(year, 1, 1, tzinfo=_datetime.timezone.utc))
    units = ((epoch_us - start) * 2 + 864) // 1728           # 1e-8 day, rounded half up
    days_in_year = 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365
    if units >= days_in_year * 100_000_000:
        year, units = year + 1, units - days_in_year * 100_000_000
    if not 1957 <= year <= 2056:
        raise ValueError(f"epoch year {year} cannot be written as a TLE (two-digit years cover 1957-2056)")
    day = f"{units // 100_000_000 + 1:03d}.{units % 100_000_000:08d}"
    ndot = f"{v[_el.MEAN_MOTION_DOT]:.8f}"
    if abs(float(ndot)) >= 1.0:
        raise ValueError(f"mean_motion_dot {v[_el.MEAN_MOTION_DOT]} does not fit TLE columns 34-43")
    ndot = ("-" if ndot.startswith("-") else " ") + ndot.lstrip("-")[1:]
    ecc = f"{v[_el.ECCENTRICITY]:.7f}"
    if not ecc.startswith("0."):
        raise ValueError(f"eccentricity {v[_el.ECCENTRICITY]} rounds to 1 in TLE columns 27-33")
    if v[_el.REV_NUMBER] > 99999:
        raise ValueError(f"revolution number {v[_el.REV_NUMBER]} does not fit TLE columns 64-68")
    intl = v[_el.INTL_DESIGNATOR]
    if len(intl) > 8:
        raise ValueError(f"international designator {intl!r} is longer than 8 columns")
    line1 = (f"1 {sid}{v[_el.CLASSIFICATION]} {intl:<8} {year % 100:02d}{day} {ndot} "
             f"{_exp_field(v[_el.MEAN_MOTION_DDOT], 'mean_motion_ddot')} {_exp_field(v[_el.BSTAR], 'bstar')} "
             f"{v[_el.EPHEMERIS_TYPE]} {v[_el.ELEMENT_SET_NO]:4d}")
    line2 = (f"2 {sid} {_fixed(v[_el.INCLINATION], 8, 4, 'inclination')} "
             f"{_fixed(v[_el.RAAN], 8, 4, 'raan')} {ecc[2:]} "
             f"{_fixed(v[_el.ARG_PERIGEE], 8, 4, 'arg_perigee')} {_fixed(v[_el.MEAN_ANOMALY], 8, 4, 'mean_anomaly')} "
             f"{_fixed(v[_el.MEAN_MOTION], 11, 8, 'mean_motion')}{v[_el.REV_NUMBER]:5d}")
    return line1 + str(tle_checksum(line1)), line2 + str(tle_checksum(line2))


def format_tle(es, *, names=True, name_prefix=None, newline="\n"):
    """Text of one set: optional name line, line 1, line 2, each ending with ``newline``.

    Who may call: the writers.  ``name_prefix`` None restores the prefix the
    set was read with ('0 ' or none); sets without text get '0 '.  A set
    without a name gets no name line.
    """
    v = element_values(es)
    out = ""
    if names and v[_el.NAME] is not None:
        if name_prefix is None:
            name_prefix = "0 " if (v[_el.FLAGS] & _el.FLAG_NAME_PREFIX or v[_el.LINE1] is None) else ""
        out = name_prefix + v[_el.NAME] + newline
    if v[_el.LINE1] is not None:
        return out + v[_el.LINE1] + newline + v[_el.LINE2] + newline
    l1, l2 = format_lines(es)
    return out + l1 + newline + l2 + newline
