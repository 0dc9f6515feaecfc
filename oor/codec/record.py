"""Binary record of one ElementSet, for the registry's B+ tree leaves: format owner.

Who may import: the registry (and tests); ``encode_record``/``decode_record``
are re-exported by ``oor.codec`` and ``oor``.  The implementation is the
Cython hot path ``oor_core/tlecodec.pyx``; this module is the format's
definition.  C-level offsets of this table, for Cython readers of leaf pages
(``oor_core/batch.pyx``), are in ``oor_core/elset_layout.pxd``: a change of
the table changes that file in the same commit.

Byte order: little-endian for every multi-byte integer and IEEE-754 double.
Text: TLE lines are ASCII; name and source are UTF-8.

Every record: header, fields block, then (TEXT only) the exact lines, then name and source.
The fields are stored even beside the text so that decoding never re-parses
(about 0.5 us instead of 0.9 us); the price is ~100 bytes per record.

  OFFSET  SIZE  DESCRIPTION
  0       1     format version, 1
  1       1     kind: 1 = TEXT (set read from TLE text), 2 = FIELDS (set built from OMM or fields)
  2       1     flags: bit 0 name present, bit 1 source present,
                bit 2 the 3LE name line had the "0 " prefix; bits 3-7 zero
  3       1     S, length of source in bytes (0-255)
  4       2     N, length of name in bytes (0-65535)
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
  -- TEXT only --
  107     1     L1, length of line 1 (68-255)
  108     1     L2, length of line 2 (68-255)
  109     L1    line 1, ASCII, without line ending
  109+L1  L2    line 2
  -- all --
  T       N     name, UTF-8   (T = 107 for FIELDS, 109 + L1 + L2 for TEXT)
  T+N     S     source, UTF-8

A record is valid if and only if:
  1. it is at least 107 bytes long and byte 0 is 1;
  2. byte 1 is 1 (TEXT) or 2 (FIELDS), and flag bits 3-7 are zero;
  3. N is 0 unless flag bit 0 is set, and S is 0 unless flag bit 1 is set;
  4. its length is exactly T + N + S, with L1 >= 68 and L2 >= 68 for TEXT;
  5. name and source are valid UTF-8;
  6. classification is U, C or S; ephemeris type <= 9; D <= 8 and the
     designator is [0-9A-Z]*; all floats are finite; mean motion > 0;
     inclination in [0, 180]; raan, argument of perigee and mean anomaly in
     [0, 360]; eccentricity in [0, 1);
  7. TEXT: both lines are ASCII;
  8. TEXT: columns 19-32 of line 1 hold an epoch year and day (the raw
     epoch_year / epoch_day are taken from there);
  9. TEXT: the lines parse as a TLE pair under the rules of oor.codec.tle
     (a 68-column line is accepted without checksum) and give exactly the
     stored fields.
``decode_record`` (the fast path) checks 1-8; ``check_record`` checks all
nine.  Both raise ValueError naming the first condition that fails (the
registry adds the page id); ``encode_record`` never produces an invalid record.

Size: a catalog TLE set with a 24-character name is 107 + 2 + 138 + 24 +
len(source) bytes, about 270; a FIELDS set 107 + name + source.
Losslessness: decode(encode(es)) has the same value tuple as es: exact text,
name-prefix flag, name, source, and raw epoch year/day included.
"""
from oor_core import tlecodec as _tlecodec

import oor.codec.elements  # noqa: F401  (registers ElementSet with the Cython decoder)

__all__ = ["encode_record", "decode_record", "check_record", "VERSION"]

VERSION = 1
encode_record = _tlecodec.encode_record
decode_record = _tlecodec.decode_record
check_record = _tlecodec.check_record
