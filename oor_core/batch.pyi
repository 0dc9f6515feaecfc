"""Typing stub for oor_core/batch.pyx (column batches decoded from leaf pages; contract in batch.pxd)."""
from array import array
from typing import Dict, Iterable, Optional

from oor_core.btree import BTree

BATCH_ROWS: int
SCAN_ALL: int
SCAN_LATEST: int
SCAN_AS_OF: int
COL_ALL: int
COLUMN_BITS: Dict[str, int]

def column_mask(names: Iterable[str]) -> int: ...

class ColumnBatch:
    n: int
    capacity: int
    norad: array; epoch_us: array; source_id: array
    mean_motion: array; mm_dot: array; mm_ddot: array; bstar: array
    inclination: array; raan: array; eccentricity: array; arg_perigee: array; mean_anomaly: array
    rev_number: array; elset_no: array; ephemeris: array; classification: array
    intl: array; intl_len: array; name_off: array; keys: array; arrival_us: array
    name_data: bytearray
    columns: int
    def __init__(self, capacity: int = ...) -> None: ...
    def __len__(self) -> int: ...
    def name(self, i: int) -> Optional[str]: ...
    def intl_designator(self, i: int) -> str: ...
    def key(self, i: int) -> bytes: ...
    def _check(self) -> bool: ...

class LeafScan:
    tree: BTree
    mode: int
    done: bool
    columns: int
    rows_read: int
    leaves_read: int
    def __init__(self, tree: BTree, lo: Optional[bytes] = ..., hi: Optional[bytes] = ...,
                 mode: int = ..., as_of_us: int = ..., columns: int = ...) -> None: ...
    def fill(self, batch: ColumnBatch) -> int: ...
