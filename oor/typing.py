"""Type aliases of OOR's public API, for annotations in user code and in OOR itself.

Who may import: anyone (``from oor.typing import TimeLike``).  Aliases only; nothing
runs.  The package ships ``py.typed`` (PEP 561), so mypy and pyright read the
annotations of ``oor`` and the stubs (``.pyi``) of the compiled ``oor_core``.

  TimeLike      what ``oor.times.to_epoch_us`` reads: a datetime (naive = UTC), a date,
                Unix seconds, or text (ISO 8601, TLE epoch, ``now-30d``, ``@1657886400``)
  DurationLike  what ``oor.times.parse_duration`` reads: a timedelta, seconds, or text (``14d``)
  PathLike      a file name: str or os.PathLike
"""
import datetime as _dt
import os
from typing import Union

__all__ = ["TimeLike", "DurationLike", "PathLike"]

TimeLike = Union[_dt.datetime, _dt.date, int, float, str]
DurationLike = Union[_dt.timedelta, int, float, str]
PathLike = Union[str, "os.PathLike[str]"]
