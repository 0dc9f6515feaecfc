"""Typing stub for oor_core.ommcsv (the OMM CSV record scanner; see the .pyx header)."""
from typing import Any, List, Optional, Tuple

def csv_run(lines: List[str], i: int, order: Tuple[int, ...], ncols: int, source: Optional[str],
            out: List[Any], extra: Tuple[Tuple[int, str], ...] = ()) -> int: ...
