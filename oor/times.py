"""Times as the registry and the command line take them: parsing to epoch microseconds, and back to ISO text.

Who may import: ``oor.registry``, ``oor.cli``, tests, benchmarks (``oor.registry``
re-exports ``to_epoch_us``).  Pure functions, no I/O.

The instant scale is the codec's ``epoch_us``: microseconds since
1950-01-01T00:00:00Z, an int (``oor.codec.elements``).  Accepted as a time:

  1. an aware ``datetime`` (any offset; converted to UTC);
  2. a naive ``datetime``: taken as UTC;
  3. a ``date``: its 00:00 UTC;
  4. an ISO 8601 string as ``datetime.fromisoformat`` reads it (Python 3.11:
     ``2022-07-15``, ``2022-07-15T12:00``, ``2022-07-15 12:00:00.5``,
     ``20220715T120000``, ...), surrounding blanks ignored, a trailing ``Z`` or
     ``z`` meaning UTC, ``+hh:mm`` offsets honoured, no offset meaning UTC.

Anything else: ``TypeError`` (wrong kind) or ``ValueError`` (a string that is
not ISO 8601), with a message that shows an accepted form.
"""
import datetime as _dt

__all__ = ["EPOCH_1950", "to_epoch_us", "us_to_iso", "iso_z"]

EPOCH_1950 = _dt.datetime(1950, 1, 1, tzinfo=_dt.timezone.utc)
_US = _dt.timedelta(microseconds=1)


def to_epoch_us(when):
    """Microseconds since 1950-01-01T00:00Z for a datetime, date or ISO 8601 string (forms 1-4 above).

    Who may call: anyone.  O(1).

    >>> to_epoch_us("1950-01-01T00:00:01Z"), to_epoch_us("1950-01-02")
    (1000000, 86400000000)
    >>> to_epoch_us("1950-01-01T01:00:00+01:00"), to_epoch_us(_dt.date(1950, 1, 1))
    (0, 0)
    """
    if isinstance(when, str):
        text = when.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            when = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {when!r} (try 2022-07-15 or 2022-07-15T12:00:00Z)") from None
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        return (when - EPOCH_1950) // _US
    if isinstance(when, _dt.date):
        return (_dt.datetime(when.year, when.month, when.day, tzinfo=_dt.timezone.utc) - EPOCH_1950) // _US
    raise TypeError(f"a time must be a datetime, date or ISO 8601 string, not {type(when).__name__}")


def iso_z(when):
    """An aware UTC datetime as ISO 8601 text with ``Z`` for UTC.  Who may call: anyone.

    >>> iso_z(_dt.datetime(2022, 7, 15, 12, tzinfo=_dt.timezone.utc))
    '2022-07-15T12:00:00Z'
    """
    return when.isoformat().replace("+00:00", "Z")


def us_to_iso(epoch_us):
    """Epoch microseconds as ISO 8601 UTC text (``Z``); None stays None.  Who may call: anyone.

    >>> us_to_iso(0), us_to_iso(None)
    ('1950-01-01T00:00:00Z', None)
    """
    if epoch_us is None:
        return None
    return iso_z(EPOCH_1950 + epoch_us * _US)
