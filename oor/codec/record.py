"""Binary record of one ElementSet, for the registry's B+ tree leaves: format owner.

Who may import: the registry (and tests); ``encode_record``/``decode_record``
are re-exported by ``oor.codec`` and ``oor``.  The implementation is the
Cython hot path ``oor_core/tlecodec.pyx``; this module is the format's
definition.

Byte order: little-endian for every multi-byte integer and IEEE-754 double.
Text: TLE lines are ASCII; name and source are UTF-8.

Header (every record)
  OFFSET  SIZE  DESCRIPTION
  0       1     format version, 1
  1       1     kind: 1 = TEXT (set read from TLE text), 2 = FIELDS (set built from OMM or fields)
  2       1     flags: bit 0 name present, bit 1 source present,
                bit 2 the 3LE name line had the "0 " prefix; bits 3-7 zero
  3       1     S, length of source in bytes (0-255)
  4       2     N, length of name in bytes (0-65535)

TEXT body: the exact lines; every field is re-derived from them on decode
  6       1     L1, length of line 1 (68-255)
  7       1     L2, length of line 2 (68-255)
  8       L1    line 1, ASCII, without line ending
  8+L1    L2    line 2
  8+L1+L2 N     name;  then S bytes of source

FIELDS body (101 bytes)
  6       4     norad_id, u32
  10      1     classification, ASCII 'U', 'C' or 'S'
  11      1     ephemeris type, u8 (0-9)
  12      8     epoch, i64 microseconds since 1950-01-01T00:00Z
  20      8     mean motion, f64 rev/day
  28      8     mean motion dot (TLE /2 value), f64
  36      8     mean motion ddot (TLE /6 value), f64
  44      8     bstar, f64
  52      8     inclination, f64 deg
  60      8     raan, f64 deg
  68      8     eccentricity, f64
  76      8     argument of perigee, f64 deg
  84      8     mean anomaly, f64 deg
  92      4     revolution number, u32
  96      2     element set number, u16
  98      1     D, length of the international designator (0-8)
  99      8     international designator, TLE form, ASCII, zero-padded
  107     N     name;  then S bytes of source

A record is valid if and only if:
  1. it is at least 6 bytes long and byte 0 is 1;
  2. byte 1 is 1 (TEXT) or 2 (FIELDS), and flag bits 3-7 are zero;
  3. N is 0 unless flag bit 0 is set, and S is 0 unless flag bit 1 is set;
  4. its length is exactly the header plus the body plus N plus S
     (TEXT: 8 + L1 + L2 + N + S; FIELDS: 107 + N + S);
  5. name and source are valid UTF-8;
  6. TEXT: both lines are ASCII and parse as a TLE pair under the rules of
     oor.codec.tle (a 68-column line is accepted without checksum; a
     69-column line's checksum must match);
  7. FIELDS: classification is U, C or S; ephemeris type <= 9; D <= 8 and the
     designator is [0-9A-Z]*; all floats are finite; mean motion > 0;
     inclination in [0, 180]; raan, argument of perigee and mean anomaly in
     [0, 360]; eccentricity in [0, 1).
``decode_record`` checks every condition and raises ValueError naming the
first that fails (the registry wraps it with the page id); ``encode_record``
never produces an invalid record.

Size: a catalog TLE set with a 24-character name is 6 + 2 + 69 + 69 + 24 +
len(source) bytes, about 170.  Losslessness: decode(encode(es)) == es and
``same_text`` holds; the exact text, the name-prefix flag, name and source
are all kept.
"""
from oor_core import tlecodec as _tlecodec

import oor.codec.elements  # noqa: F401  (registers ElementSet with the Cython decoder)

__all__ = ["encode_record", "decode_record", "VERSION"]

VERSION = 1
encode_record = _tlecodec.encode_record
decode_record = _tlecodec.decode_record
