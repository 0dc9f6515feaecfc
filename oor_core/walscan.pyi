"""Typing stub for the compiled oor_core.walscan (the log's hot loops; format in oor_core/logformat.pyx)."""
from typing import Dict, Tuple, Union

from oor_core.bufpool import BufferPool

_Buffer = Union[bytes, bytearray, memoryview]

def valid_length(body: _Buffer, seg_start: int) -> int: ...
def analyse(body: _Buffer, seg_start: int, txns: Dict[int, list], acc: list, unlogged: Dict[int, int]) -> None: ...
def redo(pool: BufferPool, body: _Buffer, seg_start: int, from_lsn: int,
         unlogged: Dict[int, int]) -> Tuple[int, int]: ...
def is_zero(body: _Buffer, start: int) -> bool: ...

def next_valid_record(body: bytes, seg_start: int, start: int) -> int: ...   # offset of the next valid record, or -1

# transaction states of analyse()'s table (values in walscan.pyx)
ST_ACTIVE: int
ST_ABORTING: int
ST_COMMITTED: int
ST_ENDED: int
