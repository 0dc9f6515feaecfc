"""CCSDS OMM KVN (keyword = value text, as CelesTrak and Space-Track serve it): streaming reader and writer.

Who may import: oor.codec.io (public entry points are ``read_elements`` and
``write_elements``).

A KVN file holds one or more messages; each starts with the line
``CCSDS_OMM_VERS = 2.0`` (the detection key) and runs to the next one or the
end of input.  Every other non-blank line is ``KEYWORD = value``, optionally
followed by units in brackets (``MEAN_MOTION = 15.5 [rev/day]``, dropped), or
a ``COMMENT`` line (ignored).  Keywords are those of the XML form (see
``oor.codec.omm``); unknown ones (CREATION_DATE, ORIGINATOR, CENTER_NAME,
USER_DEFINED_*, ...) are ignored.  Values are taken exactly as written (the
same conversion as XML, so XML, JSON, CSV and KVN of the same sets give equal
records).  Errors name the keyword's line and the column where its value
starts; a message with a bad line is one rejected set (FILE:LINE of the
line), and reading goes on with the next message.

Speed: at each CCSDS_OMM_VERS line the plain messages from there on are
converted by ``ommcodec.kvn_run`` (C; see docs/codec.md); the first message
it does not take, and every error, is read by the loop here.

The writer gives one message per set, a blank line between messages,
keywords in CCSDS order with the metadata CelesTrak writes (CENTER_NAME
EARTH, REF_FRAME TEME, TIME_SYSTEM UTC, MEAN_ELEMENT_THEORY SGP4);
CREATION_DATE and ORIGINATOR are left out so that an export is a function
of the sets alone.
"""
from oor_core.errors import TLEParseError

from oor_core.ommcodec import kvn_run
from oor.codec import omm
from oor.codec.lines import Unreadable
from oor.codec.omm import KEYWORDS, from_omm, to_omm

__all__ = ["iter_omm_kvn", "write_omm_kvn"]

_VERS = "CCSDS_OMM_VERS"
_META = ("OBJECT_NAME", "OBJECT_ID")
_FIXED_META = (("CENTER_NAME", "EARTH"), ("REF_FRAME", "TEME"), ("TIME_SYSTEM", "UTC"),
               ("MEAN_ELEMENT_THEORY", "SGP4"))
_REST = tuple(k for k in KEYWORDS if k not in _META)
_NUMERIC = frozenset(k for k in KEYWORDS if k not in ("OBJECT_NAME", "OBJECT_ID", "EPOCH", "CLASSIFICATION_TYPE"))


def iter_omm_kvn(chunks, *, file=None, source=None, collect=None):
    """Yield ElementSets from KVN given as lists of lines.

    Who may call: oor.codec.io.  Bad messages raise TLEParseError or, when
    ``collect`` is a list, are appended to it (one per message).
    """
    record = None          # keyword -> value of the message being read
    positions = None       # keyword -> (line, column of the value)
    start = None           # line of its CCSDS_OMM_VERS
    broken = None          # the first error inside the current message
    lineno = 0

    def finish():
        if broken is not None:
            if collect is None:
                raise broken
            collect.append(broken)
            return None
        try:
            return from_omm(record, file=file, line=start, column=1, positions=positions, source=source)
        except TLEParseError as err:
            if collect is None:
                raise
            collect.append(err)
            return None

    use_fast = omm.FAST_PATH
    out = []
    for lines in chunks:
        i, n = 0, len(lines)
        while i < n:
            text = lines[i]
            i += 1
            lineno += 1
            if text.__class__ is Unreadable:
                err = TLEParseError(text.reason, file, lineno, text.column)
                if record is None:
                    if collect is None:
                        raise err
                    collect.append(err)
                elif broken is None:
                    broken = err
                continue
            stripped = text.strip()
            if not stripped or stripped.startswith("COMMENT"):
                continue
            key, eq, value = stripped.partition("=")
            key = key.strip()
            if key == _VERS:
                if record is not None:
                    es = finish()
                    if es is not None:
                        yield es
                    record = None
                if use_fast:
                    j = kvn_run(lines, i - 1, source, out)
                    if j > i - 1:              # whole plain messages converted in C
                        yield from out
                        out.clear()
                        lineno += j - i
                        i = j
                        continue
                record, positions, start, broken = {}, {}, lineno, None
                continue
            if record is None:
                err = TLEParseError(f"KVN line before the first {_VERS} line", file, lineno, 1, text)
                if collect is None:
                    raise err
                collect.append(err)
                record, positions, start, broken = {}, {}, lineno, err      # the rest of this message is lost
                continue
            if broken is not None:
                continue
            if not eq or not key or " " in key:
                broken = TLEParseError("KVN line is not 'KEYWORD = value'", file, lineno, 1, text)
                continue
            value = value.strip()
            if value.endswith("]") and key in _NUMERIC:
                cut = value.rfind("[")
                if cut >= 0:
                    value = value[:cut].rstrip()
            if key in record:
                broken = TLEParseError(f"keyword {key} appears twice in one message", file, lineno, 1, text)
                continue
            record[key] = value
            positions[key] = (lineno, text.index("=") + 2)
    if record is not None:
        es = finish()
        if es is not None:
            yield es


def write_omm_kvn(sets, out):
    """Write ElementSets as KVN messages (one per set) to a text stream; return the count.

    Who may call: oor.codec.io.  Streams: one set in memory at a time.
    """
    n = 0
    write = out.write
    for es in sets:
        f = to_omm(es)
        parts = [f"{_VERS} = 2.0\n"]
        parts.extend(f"{k} = {f[k]}\n" for k in _META)
        parts.extend(f"{k} = {v}\n" for k, v in _FIXED_META)
        parts.extend(f"{k} = {f[k]}\n" for k in _REST)
        write(("\n" if n else "") + "".join(parts))
        n += 1
    return n
