"""Times as the registry, the codec and the command line take them: one parser to epoch microseconds, and back.

Who may import: anyone (``oor.registry`` re-exports ``to_epoch_us``; the CLI,
``oor.codec.elements``, ``oor.lookups`` and ``oor.query`` parse with it).
Pure functions over the standard library only, with an own grammar -- not
``datetime.fromisoformat``, whose accepted forms differ between Python 3.9,
3.10 and 3.11 (it reads only the strict subset all versions read alike, as a
fast path) -- so every supported Python reads the same text as the same
instant (tests/test_times.py runs its table on the oldest Python it finds).

The instant scale is the codec's ``epoch_us``: microseconds since
1950-01-01T00:00:00Z, an int (``oor.codec.elements``).  UTC throughout; leap
seconds are not counted (as in TLEs, OMMs and POSIX time).  Accepted as a time:

  1. an aware ``datetime`` (any offset; converted to UTC); a naive one is UTC;
  2. a ``date``: its 00:00 UTC;
  3. an ``int`` or ``float``: Unix seconds (``1657886400`` = 2022-07-15T12:00Z);
  4. an object with ``utc_datetime()`` (a skyfield ``Time``);
  5. a string, surrounding blanks ignored, letters in any case:
     ISO 8601 dates    ``2022-07-15``  ``20220715``  ``2022-196`` / ``2022196`` (ordinal)
                       ``2022-W28-5`` / ``2022W285`` (week)  ``2022-07``  ``2022``
     ... with a time   ``T`` or a blank, then ``12``  ``12:14``  ``12:14:42``  ``121442``,
                       a fraction on the last part (``.`` or ``,``; beyond 6 digits rounded
                       half to even to the microsecond), ``24:00`` = the next midnight;
     ... and a zone    ``Z``, ``UTC``, ``+02``, ``+02:00``, ``-0530``; none means UTC;
     TLE epochs        ``22196.51021208`` (YYDDD.dddddddd, years 57-99 = 19xx, 00-56 = 20xx,
                       day 1.0 = Jan 1 00:00: exactly as the codec reads line 1);
     Unix seconds      ``@1657886400`` or any plain number of 9 or more digits;
     now               ``now``, ``now-30d``, ``now + 6h``; ``now-30`` means days (Space-Track's
                       ``>now-30``).  ``now=`` (epoch us or a time) fixes "now" for a call.

Durations (``parse_duration``, for ``max_age`` / ``--max-age``): ``14d``,
``6h``, ``90m``, ``30s``, ``2w``, ``1d12h``, ``1.5d``, ISO 8601 ``P14D`` /
``PT6H``, a ``timedelta``, or a number of seconds.

Anything else: ``TypeError`` (wrong kind) or ``ValueError`` naming the text
and showing the accepted forms.
"""
import datetime as _dt
import re
import time as _time
from typing import Any, Optional

__all__ = ["EPOCH_1950", "UNIX_EPOCH_US", "to_epoch_us", "to_datetime", "parse_duration", "now_us",
           "us_to_iso", "us_to_datetime", "iso_z"]

EPOCH_1950 = _dt.datetime(1950, 1, 1, tzinfo=_dt.timezone.utc)
_US = _dt.timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_ORD_1950 = _dt.date(1950, 1, 1).toordinal()
#: microseconds from 1950-01-01 to 1970-01-01 (the Unix epoch)
UNIX_EPOCH_US = (_dt.date(1970, 1, 1).toordinal() - _ORD_1950) * _DAY_US

_FORMS = ("2022-07-15, 2022-07-15T12:00:00Z, 2022-196, 22196.51021208 (a TLE epoch), now, now-30d, "
          "@1657886400 (Unix seconds)")

_DATE = re.compile(                             # each form must end where the date ends: (?!\d)
    r"(?P<y>\d{4})(?:"
    r"-(?P<doy>\d{3})(?!\d)"                     # 2022-196
    r"|-(?P<m>\d{2})(?:-(?P<d>\d{2}))?(?!\d)"    # 2022-07-15, 2022-07
    r"|(?P<m2>\d{2})(?P<d2>\d{2})(?!\d)"         # 20220715
    r"|(?P<doy2>\d{3})(?!\d)"                     # 2022196
    r"|-?W(?P<w>\d{2})(?:-?(?P<wd>\d))?(?!\d)"   # 2022-W28-5, 2022W285, 2022-W28
    r")?(?!\d)")
# The common extended forms, which datetime.fromisoformat reads alike on every Python >= 3.9 (3.9's grammar:
# YYYY-MM-DD[*HH:MM[:SS[.fff[fff]]]], no "Z"): parsed by it, 1.5 us instead of 8 in the general grammar
# below (at(id, "2022-07-01T00:00:00Z") spent 8 of its 22 us parsing).  Anything else, and any ValueError
# here, goes to the general grammar, which gives the error message.
_FAST = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{3}(?:\d{3})?)?)?(?P<z>Z)?)?")
_TIME = re.compile(
    r"(?P<hh>\d{2})(?:(?P<c>:?)(?P<mm>\d{2})(?:(?P=c)(?P<ss>\d{2}))?)?"
    r"(?:[.,](?P<f>\d+))?")
_ZONE = re.compile(r"\s*(?:(?P<z>Z|UTC|GMT)|(?P<sign>[+-])(?P<zh>\d{2})(?::?(?P<zm>\d{2}))?)")
_TLE_EPOCH = re.compile(r"(?P<yy>\d{2})(?P<ddd>\d{3})(?:\.(?P<f>\d*))?")
_UNIX = re.compile(r"@\s*(?P<n>[+-]?\d+(?:\.\d*)?)|(?P<big>\d{9,}(?:\.\d*)?)")
_NOW = re.compile(r"now(?:\s*(?P<sign>[+-])\s*(?P<d>.+))?")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(weeks?|w|days?|d|hours?|h|minutes?|mins?|m|seconds?|secs?|s)")
_ISO_DURATION = re.compile(r"P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
                           r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?")
_UNIT_US = {"w": 7 * _DAY_US, "d": _DAY_US, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000}


def now_us() -> int:
    """The current time as epoch microseconds (the system clock, UTC).  Who may call: anyone."""
    return _time.time_ns() // 1000 + UNIX_EPOCH_US


def _scaled(digits, unit_us):
    """round(0.digits * unit_us) to an int, half to even, exactly (no float)."""
    if not digits:
        return 0
    num = int(digits) * unit_us
    den = 10 ** len(digits)
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q % 2):
        q += 1
    return q


def _decimal_us(text, unit_us):
    """'1.5' of a unit -> microseconds, exactly."""
    whole, _, frac = text.partition(".")
    return int(whole or "0") * unit_us + _scaled(frac, unit_us)


def _bad(text, why=""):
    return ValueError(f"not an ISO 8601 time or TLE epoch: {text!r}{' (' + why + ')' if why else ''}; "
                      f"accepted forms include {_FORMS}")


def _day_ordinal(m, text):
    """Proleptic ordinal of the date matched by _DATE."""
    year = int(m.group("y"))
    if year < 1:
        raise _bad(text, "year 0")
    try:
        if m.group("doy") is not None or m.group("doy2") is not None:
            doy = int(m.group("doy") or m.group("doy2"))
            leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
            if not 1 <= doy <= (366 if leap else 365):
                raise _bad(text, f"day of year {doy} does not exist in {year}")
            return _dt.date(year, 1, 1).toordinal() + doy - 1
        if m.group("w") is not None:
            week, wday = int(m.group("w")), int(m.group("wd") or 1)
            if not 1 <= wday <= 7:
                raise _bad(text, f"weekday {wday} is not 1-7")
            jan4 = _dt.date(year, 1, 4)
            monday1 = jan4.toordinal() - jan4.isoweekday() + 1
            weeks = 53 if _dt.date(year, 12, 28).isocalendar()[1] == 53 else 52
            if not 1 <= week <= weeks:
                raise _bad(text, f"week {week} does not exist in {year}")
            return monday1 + (week - 1) * 7 + wday - 1
        month = int(m.group("m") or m.group("m2") or 1)
        day = int(m.group("d") or m.group("d2") or 1)
        return _dt.date(year, month, day).toordinal()
    except ValueError as exc:
        if str(exc).startswith("not an ISO"):
            raise
        raise _bad(text, str(exc)) from None


def _parse_iso(text, original):
    m = _DATE.match(text)
    if m is None:
        raise _bad(original)
    days = _day_ordinal(m, original) - _ORD_1950
    rest = text[m.end():]
    us = days * _DAY_US
    if not rest:
        return us
    if rest[0] not in "T ":
        raise _bad(original)
    rest = rest[1:].lstrip() if rest[0] == " " else rest[1:]
    t = _TIME.match(rest)
    if t is None:
        raise _bad(original, "no time of day after the date")
    hh = int(t.group("hh"))
    mm = int(t.group("mm") or 0)
    ss = int(t.group("ss") or 0)
    frac = t.group("f") or ""
    if hh > 24 or mm > 59 or ss > 59:
        why = "a leap second (23:59:60) is not a time the registry counts" if ss == 60 else \
            "hour, minute or second out of range"
        raise _bad(original, why)
    if hh == 24 and (mm or ss or frac.strip("0")):
        raise _bad(original, "24:00 is the only time with hour 24")
    unit = 1_000_000 if t.group("ss") else 60_000_000 if t.group("mm") else 3_600_000_000
    us += hh * 3_600_000_000 + mm * 60_000_000 + ss * 1_000_000 + _scaled(frac, unit)
    rest = rest[t.end():]
    if rest:
        z = _ZONE.fullmatch(rest)
        if z is None:
            raise _bad(original, f"cannot read {rest.strip()!r} as a zone (Z, UTC, +02:00)")
        if z.group("sign"):
            zh, zm = int(z.group("zh")), int(z.group("zm") or 0)
            if zh > 23 or zm > 59:
                raise _bad(original, "zone offset out of range")
            off = (zh * 60 + zm) * 60_000_000
            us -= off if z.group("sign") == "+" else -off
    return us


def _parse_tle_epoch(m):
    yy = int(m.group("yy"))
    year = 1900 + yy if yy >= 57 else 2000 + yy
    ddd = int(m.group("ddd"))
    if not 1 <= ddd <= 366:
        raise ValueError(f"TLE epoch {m.group(0)!r}: day {ddd} is not 1-366")
    start = _dt.date(year, 1, 1).toordinal() - _ORD_1950
    return (start + ddd - 1) * _DAY_US + _scaled(m.group("f") or "", _DAY_US)


def parse_duration(value: Any) -> int:
    """A duration as int microseconds (>= 0): '14d', '6h', '1d12h', 'P14D', a timedelta, or seconds.

    Who may call: anyone.  O(len(text)).

    >>> parse_duration("14d") == 14 * 86_400_000_000, parse_duration("1h30m"), parse_duration(1.5)
    (True, 5400000000, 1500000)
    """
    if isinstance(value, _dt.timedelta):
        us = value // _US
    elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"a duration must be a timedelta, a number of seconds or text like '14d', "
                        f"not {type(value).__name__}")
    elif isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"a duration must be finite, got {value!r}")
        us = round(value * 1_000_000)
    else:
        text = value.strip().lower()
        iso = _ISO_DURATION.fullmatch(text.upper()) if text.startswith("p") else None
        if iso is not None and text not in ("p", "pt"):
            us = sum(_decimal_us(iso.group(k), _UNIT_US[k]) for k in "wdhms" if iso.group(k))
        else:
            pos, us = 0, 0
            compact = text.replace(" ", "")
            if not compact:
                raise ValueError("empty duration; write e.g. 14d, 6h, 90m, 30s")
            while pos < len(compact):
                m = _DURATION_PART.match(compact, pos)
                if m is None:
                    if pos == 0 and re.fullmatch(r"\d+(?:\.\d*)?", compact):
                        raise ValueError(f"duration {value!r} has no unit; write e.g. {compact}d, {compact}h "
                                         f"or {compact}s")
                    raise ValueError(f"not a duration: {value!r} (write e.g. 14d, 6h, 90m, 30s, 1d12h, P14D)")
                us += _decimal_us(m.group(1), _UNIT_US[m.group(2)[0]])
                pos = m.end()
    if us < 0:
        raise ValueError(f"a duration must not be negative, got {value!r}")
    return us


def to_epoch_us(when: Any, *, now: Optional[Any] = None) -> int:
    """Microseconds since 1950-01-01T00:00Z for any time of the module doc (forms 1-5).

    Who may call: anyone.  O(len(text)).  ``now`` fixes what ``now`` means
    (epoch us or any time; default the system clock).

    >>> to_epoch_us("1950-01-01T00:00:01Z"), to_epoch_us("1950-01-02"), to_epoch_us("1950-001T01:00+01:00")
    (1000000, 86400000000, 0)
    >>> to_epoch_us("22196.51021208") == to_epoch_us("2022-07-15T12:14:42.323712Z")
    True
    >>> to_epoch_us("now-1d", now=to_epoch_us("2022-07-15")) == to_epoch_us("2022-07-14")
    True
    """
    if isinstance(when, str):
        text = when.strip()
        m = _FAST.fullmatch(text)
        if m is not None:
            try:
                if len(text) == 10:
                    return (_dt.date.fromisoformat(text).toordinal() - _ORD_1950) * _DAY_US
                t = _dt.datetime.fromisoformat(text[:-1] if m.group("z") else text)
                return (t.replace(tzinfo=_dt.timezone.utc) - EPOCH_1950) // _US
            except ValueError:
                pass
        low = text.lower()
        if low.startswith("now"):
            m = _NOW.fullmatch(low)
            if m is None:
                raise _bad(when)
            base = now_us() if now is None else (now if isinstance(now, int) and not isinstance(now, bool)
                                                 else to_epoch_us(now))
            if m.group("sign") is None:
                return base
            d = m.group("d").strip()
            try:
                delta = parse_duration(d + "d" if re.fullmatch(r"\d+(?:\.\d*)?", d) else d)
            except ValueError as exc:
                raise _bad(when, str(exc)) from None
            return base + delta if m.group("sign") == "+" else base - delta
        m = _TLE_EPOCH.fullmatch(text)
        if m is not None:
            return _parse_tle_epoch(m)
        m = _UNIX.fullmatch(text)
        if m is not None:
            n = m.group("n") or m.group("big")
            sign = -1 if n.startswith("-") else 1
            return UNIX_EPOCH_US + sign * _decimal_us(n.lstrip("+-"), 1_000_000)
        return _parse_iso(text.upper(), when)
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        return (when - EPOCH_1950) // _US
    if isinstance(when, _dt.date):
        return (when.toordinal() - _ORD_1950) * _DAY_US
    if isinstance(when, bool):
        raise TypeError("a time must be a datetime, date, number of Unix seconds or text, not bool")
    if isinstance(when, int):
        return when * 1_000_000 + UNIX_EPOCH_US
    if isinstance(when, float):
        if when != when or when in (float("inf"), float("-inf")):
            raise ValueError(f"not a time: {when!r}")
        return round(when * 1_000_000) + UNIX_EPOCH_US
    utc = getattr(when, "utc_datetime", None)
    if callable(utc):
        return to_epoch_us(utc())
    raise TypeError(f"a time must be a datetime, date, number of Unix seconds or text such as "
                    f"'2022-07-15T12:00:00Z', not {type(when).__name__}")


def us_to_datetime(epoch_us: int) -> _dt.datetime:
    """Epoch microseconds as an aware UTC datetime.  Who may call: anyone."""
    return EPOCH_1950 + epoch_us * _US


def to_datetime(when: Any, *, now: Optional[Any] = None) -> _dt.datetime:
    """Any time of the module doc as an aware UTC datetime.  Who may call: anyone.

    >>> to_datetime("2022-196T12:00")
    datetime.datetime(2022, 7, 15, 12, 0, tzinfo=datetime.timezone.utc)
    """
    return us_to_datetime(to_epoch_us(when, now=now))


def iso_z(when: _dt.datetime) -> str:
    """An aware UTC datetime as ISO 8601 text with ``Z`` for UTC.  Who may call: anyone.

    >>> iso_z(_dt.datetime(2022, 7, 15, 12, tzinfo=_dt.timezone.utc))
    '2022-07-15T12:00:00Z'
    """
    return when.isoformat().replace("+00:00", "Z")


def us_to_iso(epoch_us: Optional[int]) -> Optional[str]:
    """Epoch microseconds as ISO 8601 UTC text (``Z``); None stays None.  Who may call: anyone.

    >>> us_to_iso(0), us_to_iso(None)
    ('1950-01-01T00:00:00Z', None)
    """
    if epoch_us is None:
        return None
    return iso_z(us_to_datetime(epoch_us))
