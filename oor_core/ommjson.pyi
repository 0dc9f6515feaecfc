"""Typing stub for oor_core.ommjson (the OMM JSON record scanner; see the .pyx header)."""
from typing import Any, List, Optional

def json_run(buf: str, pos: int, in_array: bool, source: Optional[str], out: List[Any]) -> int: ...
