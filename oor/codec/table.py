"""The ``table`` format: one line per element set for reading by eye (``oor history``, ``oor find`` on a terminal).

Who may import: ``oor.codec.io`` (``write_elements(..., "table")``).  Output only: it
holds no elements, so nothing reads it back.

  NORAD_ID  EPOCH (ISO 8601 UTC)        COSPAR       SOURCE        NAME
      25544  2022-07-15T12:14:42.323712Z  1998-067A    celestrak     ISS (ZARYA)

The source column shows ``-`` for a set without a source; a longer source name
pushes the name right (the name is last because it may hold blanks).
"""
from oor.times import iso_z

__all__ = ["table_line", "write_table"]


def table_line(es):
    """One table line (no line end) for an ElementSet.  Who may call: anyone."""
    return (f"{es.norad_id:>9}  {iso_z(es.epoch)}  {es.cospar_id or '-':<11}  {es.source or '-':<12}  "
            f"{es.name or ''}").rstrip()


def write_table(sets, out):
    """Write one table line per set to a text stream; return the count.  Who may call: oor.codec.io."""
    n = 0
    write = out.write
    for es in sets:
        write(table_line(es) + "\n")
        n += 1
    return n
