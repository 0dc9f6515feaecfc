"""Element-set codec: ElementSet; TLE / 3LE / OMM (XML, JSON, CSV, KVN) readers and writers; binary records.

This package only re-exports; see docs/codec.md for the design.
"""
from oor_core.errors import InputDamagedError, UnrepresentableError  # noqa: F401  (re-exported by oor)
from oor.codec.elements import ElementSet  # noqa: F401
from oor.codec.io import (  # noqa: F401
    ElementReader,
    WriteCount,
    detect_format,
    format_elements,
    read_elements,
    write_elements,
)
from oor.codec.record import check_record, decode_record, encode_record  # noqa: F401
from oor.codec.tle import alpha5_decode, alpha5_encode, format_lines, parse_tle  # noqa: F401

__all__ = ["ElementSet", "ElementReader", "read_elements", "write_elements", "format_elements",
           "detect_format", "parse_tle", "format_lines", "alpha5_encode", "alpha5_decode",
           "encode_record", "decode_record", "check_record", "WriteCount", "InputDamagedError",
           "UnrepresentableError"]
