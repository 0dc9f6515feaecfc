"""Typing stub for oor_core.ommxml (the OMM XML record scanner; see the .pyx header)."""
from typing import Any, List, Optional, Tuple

class XmlScan:
    root_seen: bool
    def prefix(self) -> bytes: ...

def xml_run(st: XmlScan, buf: bytes, pos: int, final: bool, source: Optional[str],
            out: List[Any]) -> Tuple[int, int, int, int]: ...
