"""The query layer: operators, vectorized batches, predicates, merge and screening (docs/query.md).

Who may import: anyone.  This package only re-exports.  ``Registry.query()``,
``Registry.merge()`` and ``Registry.screen()`` are the usual doors.
"""
from oor.query.fields import FIELDS, REGIMES, field  # noqa: F401
from oor.query.merge import MergeResult, merge_columns, merge_sets, merge_stored  # noqa: F401
from oor.query.predicate import PredicateError, parse  # noqa: F401
from oor.query.query import DEFAULT_FIELDS, Query  # noqa: F401
from oor.query.screen import ScreenResult, screen  # noqa: F401
from oor.query.source import Reader  # noqa: F401
