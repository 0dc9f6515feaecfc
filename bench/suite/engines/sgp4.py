"""The codec's anchor: sgp4's ``Satrec.twoline2rv`` and the plain line split that feeds it.

Owns the optional import of sgp4 (``Satrec`` is None when it is missing: the parse and ingest measures are then
skipped with a note) and ``tle_pairs``, the anchor's reading of a TLE / 3LE file (no checksum check).

Caller: measures/parse.py, and the sgp4 ingest pipelines of engines/sqlite.py and engines/lmdb.py.
"""
try:
    from sgp4.api import Satrec
except ImportError:  # pragma: no cover
    Satrec = None


def tle_pairs(path):
    """(name or "", line 1, line 2) of every element set of a TLE / 3LE file, in file order."""
    with open(path) as f:
        lines = f.read().splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("1 ") and i + 1 < len(lines) and lines[i + 1].startswith("2 "):
            out.append((lines[i - 1] if i and not lines[i - 1].startswith(("1 ", "2 ")) else "",
                        lines[i], lines[i + 1]))
            i += 2
        else:
            i += 1
    return out
