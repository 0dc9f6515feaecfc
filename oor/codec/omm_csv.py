"""OMM CSV (CelesTrak's column set): streaming reader and writer.

Who may import: oor.codec.io (public entry points are ``read_elements`` and
``write_elements``).

The first non-blank row is the header of OMM keywords (any order, extra
columns ignored, case-insensitive); each following row is one element set.
Errors carry the row's line number and the 1-based index of the offending
field as the column.
"""
import csv

from oor_core.errors import TLEParseError

from oor_core.ommcodec import omm_fast_row as fast
from oor_core.ommcsv import csv_run
from oor.codec import omm
from oor.codec.lines import Unreadable
from oor.codec.omm import KEYWORDS, REQUIRED, extra_pairs, from_omm, to_omm

__all__ = ["iter_omm_csv", "write_omm_csv"]

_KNOWN = frozenset(KEYWORDS)


def iter_omm_csv(chunks, *, file=None, source=None, collect=None, origin=None):
    """Yield ElementSets from CSV given as lists of lines.

    Who may call: oor.codec.io.  Bad rows raise TLEParseError or, when
    ``collect`` is a list, are appended to it.  Once the header is read, runs
    of plain rows go to ``ommcsv.csv_run`` (C: the rows csv.reader would
    split as ``line.split(',')`` and whose values the fast conversion takes);
    every other row, including quoted ones running over several lines, goes
    through csv.reader and ``from_omm``.
    """
    unreadable = []
    chunk_iter = iter(chunks)
    cur = [[], 0]              # the list of lines being read, the index of its next line

    def lines():
        while True:
            block, i = cur
            if i >= len(block):
                block = next(chunk_iter, None)
                if block is None:
                    return
                cur[0], cur[1] = block, 0
                continue
            line = block[i]
            cur[1] = i + 1
            if line.__class__ is Unreadable:
                unreadable.append(line)
                line = ""
            yield line

    reader = csv.reader(lines(), strict=True)
    prefix = None if origin is None else origin + ":"
    extra = ()
    header = None
    fast_lines = 0             # lines taken by csv_run (reader.line_num counts only the others)
    use_fast = omm.FAST_PATH
    out = []
    while True:
        if header is not None and use_fast:
            block, i = cur
            if i >= len(block):
                block = next(chunk_iter, None)
                if block is None:
                    return
                cur[0], cur[1], i = block, 0, 0
            j = csv_run(block, i, order, len(header), source, out, extra)
            if j > i:
                cur[1] = j
                if prefix is None:
                    yield from out
                else:
                    base = reader.line_num + fast_lines + 1
                    for k, es in enumerate(out):
                        yield es.with_provenance(origin=f"{prefix}{base + k}")
                fast_lines += j - i
                out.clear()
                continue
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            err = TLEParseError(f"malformed CSV: {exc}", file, reader.line_num + fast_lines)
            if collect is None:
                raise err from None
            collect.append(err)
            return
        line = reader.line_num + fast_lines
        if unreadable:
            err = TLEParseError(unreadable[0].reason, file, line, unreadable[0].column)
            unreadable.clear()
            if collect is None:
                raise err
            collect.append(err)
            continue
        if not row or (not row[0].strip() and all(not cell.strip() for cell in row)):
            continue
        if header is None:
            header = [cell.strip().upper() for cell in row]
            missing = [k for k in REQUIRED if k not in header]
            if missing:
                err = TLEParseError(f"CSV header lacks OMM column(s) {', '.join(missing)}", file, line, 1)
                if collect is None:
                    raise err
                collect.append(err)
                return
            index = {k: i + 1 for i, k in enumerate(header)}
            order = tuple(index.get(k, 0) - 1 for k in KEYWORDS)
            extra = tuple((i, k) for i, k in enumerate(header) if k not in _KNOWN and k)
            if len(set(header)) != len(header) or len(extra) > 64:
                order = (-1,)          # a repeated column: the Python path decides which value counts
            continue
        if len(row) != len(header):
            err = TLEParseError(f"row has {len(row)} fields, the header has {len(header)}", file, line)
        else:
            es = fast(row, order, source) if use_fast else None
            if es is not None:
                meta = omm.meta_of(dict(zip(header, row))) if extra else None
                if meta is not None or prefix is not None:
                    es = es.with_provenance(meta=meta, origin=None if prefix is None else f"{prefix}{line}")
                yield es
                continue
            try:
                es = from_omm(dict(zip(header, row)), file=file, line=line, source=source,
                              positions={k: (line, i) for k, i in index.items()})
                yield es if prefix is None else es.with_provenance(origin=f"{prefix}{line}")
                continue
            except TLEParseError as exc:
                err = exc
        if collect is None:
            raise err
        collect.append(err)


def write_omm_csv(sets, out):
    """Write ElementSets as CSV (header + one row per set) to a text stream; return the count.

    Who may call: oor.codec.io.  Columns: KEYWORDS, then the metadata keywords and
    OOR_SOURCE / OOR_ORIGIN / OOR_ARRIVAL (``omm.extra_pairs``) of the first set
    (a streamed file has one header: a later set's other keywords are left out,
    a column it lacks is empty).
    """
    writer = csv.writer(out, lineterminator="\n")
    n = 0
    extra = None
    for es in sets:
        pairs = dict(extra_pairs(es))
        if extra is None:
            extra = tuple(k for k in pairs if k not in _KNOWN)
            writer.writerow(KEYWORDS + extra)
        writer.writerow(list(to_omm(es).values()) + [pairs.get(k, "") for k in extra])
        n += 1
    if extra is None:
        writer.writerow(KEYWORDS)
    return n
