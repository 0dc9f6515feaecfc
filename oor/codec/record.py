"""Binary record of one ElementSet, for the registry's B+ tree leaves: format owner.

Who may import: the registry (and tests); ``encode_record``/``decode_record``
are re-exported by ``oor.codec`` and ``oor``.  The implementation is the
Cython hot path ``oor_core/tlecodec.pyx``; this module is the format's
definition.  C-level offsets of this table, for Cython readers of leaf pages
(``oor_core/batch.pyx``), are in ``oor_core/elset_layout.pxd``: a change of
the table changes that file in the same commit.

Byte order: little-endian for every multi-byte integer and IEEE-754 double.
Text: TLE lines are ASCII; name and source are UTF-8.

Every record: header, fields block, then (TEXT only) the exact lines or, when they
are elided, one style byte, then name and source, then (version 2) the trailer.
The fields are stored even beside the text so that decoding never re-parses
(about 0.5 us instead of 0.9 us).  Text elision: a TEXT set whose two lines
are exactly what ``tlecodec``'s C formatter gives from the stored fields (the
canonical lines of ``oor.codec.tle.format_lines``) in one of the text styles
below is stored without its 140 bytes of lines; the decoder rebuilds them
(98.8% of the sets of ../shared/data; record mean 254 -> 118 bytes).

  OFFSET  SIZE  DESCRIPTION
  0       1     format version: 2 (encode_record writes 2; decode accepts 1, which has no trailer)
  1       1     kind: 1 = TEXT (set read from TLE text), 2 = FIELDS (set built from OMM or fields)
  2       1     flags: bit 0 name present, bit 1 source present,
                bit 2 the 3LE name line had the "0 " prefix; version 2 only: bit 3 arrival,
                bit 4 origin, bit 5 meta present (trailer), bit 6 text elided (TEXT only); bit 7 zero
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
  -- TEXT, not elided --
  107     1     L1, length of line 1 (68-255)
  108     1     L2, length of line 2 (68-255)
  109     L1    line 1, ASCII, without line ending
  109+L1  L2    line 2
  -- TEXT, elided (flag bit 6) --
  107     1     text style: the bits of the formatting variants applied to the canonical lines
                (checksums recomputed after): 1 zero nddot written ' 00000-0', 2 zero bstar
                ' 00000-0', 4 catalog number blank-padded, 8 '+' sign on non-negative ndot/nddot/bstar,
                16 line-2 angles and mean motion zero-padded, 32 revolution number zero-padded,
                64 element set number zero-padded; bit 7 zero (tlecodec.apply_style)
  -- all --
  T       N     name, UTF-8   (T = 107 for FIELDS, 108 for elided TEXT, 109 + L1 + L2 for TEXT)
  T+N     S     source, UTF-8
  -- trailer (version 2; each part present when its flag bit is set, in this order) --
  U       8     arrival, i64 microseconds since 1950 (bit 3)   (U = T + N + S)
  .       2     O, length of origin (bit 4)
  .       O     origin, UTF-8
  .       2     M, number of metadata pairs, >= 1 (bit 5); then M times:
  .       1       K, key length (1-255)
  .       K       key, ASCII
  .       4       V, value length, u32
  .       V       value, UTF-8

A record is valid if and only if:
  1. it is at least 107 bytes long and byte 0 is 2 (or 1);
  2. byte 1 is 1 (TEXT) or 2 (FIELDS); flag bits 3-7 are zero in version 1, bit 7 zero in
     version 2; bit 6 only with TEXT, and then the style byte has bit 7 zero;
  3. N is 0 unless flag bit 0 is set, and S is 0 unless flag bit 1 is set;
  4. its length is exactly T + N + S plus the trailer's parts, with L1 >= 68 and L2 >= 68
     for TEXT not elided;
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
     stored fields;
  10. the origin is valid UTF-8;
  11. M >= 1, each key is 1-255 ASCII bytes and each value valid UTF-8, all lengths within the record;
  12. the trailer ends exactly at the record's end (part of 4);
  13. elided TEXT: the fields have canonical TLE lines (catalog number <= 339999, ...).
``decode_record`` (the fast path) checks 1-8 and 10-13; ``check_record`` checks all
of them.  Both raise ValueError naming the first condition that fails (the
registry adds the page id); ``encode_record`` never produces an invalid record.
``oor_core/batch.pyx`` checks 1 and the lengths (4, 12) with ``elset_layout.rec_length_ok``.

Size: a catalog TLE set with a 24-character name whose text is elided is 108 + 24 +
len(source) bytes; with its text kept, 109 + 138 + 24 + len(source); a FIELDS set 107
+ name + source; plus the trailer (origin "catalog.3le:12345" is 19 bytes).
Losslessness: decode(encode(es)) has the same value tuple as es: exact text,
name-prefix flag, name, source, raw epoch year/day, meta, origin and arrival included.
"""
from oor_core import tlecodec as _tlecodec

import oor.codec.elements  # noqa: F401  (registers ElementSet with the Cython decoder)

__all__ = ["encode_record", "decode_record", "check_record", "VERSION"]

VERSION = 2          # what encode_record writes; decode_record also reads version 1
encode_record = _tlecodec.encode_record
decode_record = _tlecodec.decode_record
check_record = _tlecodec.check_record
