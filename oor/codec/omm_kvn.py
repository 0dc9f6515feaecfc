"""CCSDS OMM KVN (keyword = value text, as CelesTrak and Space-Track serve it): streaming reader and writer.

Who may import: oor.codec.io (public entry points are ``read_elements`` and
``write_elements``).

A KVN file holds one or more messages; each starts with the line
``CCSDS_OMM_VERS = 2.0`` (the detection key) and runs to the next one or the
end of input.  Every other non-blank line is ``KEYWORD = value``, optionally
followed by units in brackets (``MEAN_MOTION = 15.5 [rev/day]``, dropped), or
a ``COMMENT`` line (ignored).  Keywords are those of the XML form (see
``oor.codec.omm``); the others (CCSDS_OMM_VERS's value, CREATION_DATE,
ORIGINATOR, CENTER_NAME, USER_DEFINED_*, ...) are kept in the set's ``meta``.  Values are taken exactly as written (the
same conversion as XML, so XML, JSON, CSV and KVN of the same sets give equal
records).  Errors name the keyword's line and the column where its value
starts; a message with a bad line is one rejected set (FILE:LINE of the
line), and reading goes on with the next message.

Speed: the input comes as blocks of whole lines (about 1 MiB each); from
each CCSDS_OMM_VERS line on, the plain messages are converted by
``ommkvn.kvn_block`` straight from the block (C, no str per line; see
docs/codec.md); the first message it does not take, and every error, is
split into lines and read by ``_Messages`` here.

The writer gives one message per set, a blank line between messages,
keywords in CCSDS order with the metadata CelesTrak writes (CENTER_NAME
EARTH, REF_FRAME TEME, TIME_SYSTEM UTC, MEAN_ELEMENT_THEORY SGP4, or the
set's own values of them); the set's metadata goes back in place:
CREATION_DATE and ORIGINATOR after CCSDS_OMM_VERS when the set has them,
every other keyword (and OOR_SOURCE / OOR_ORIGIN / OOR_ARRIVAL, see
``omm.extra_pairs``) as ``KEY = value`` after the elements; a value with a
line break cannot be a KVN line and is left out.
"""
from oor_core.errors import TLEParseError

from oor_core.ommkvn import kvn_block, kvn_next
from oor.codec import omm
from oor.codec.lines import MAX_LINE, Unreadable, split_lines
from oor.codec.omm import KEYWORDS, extra_pairs, from_omm, to_omm

__all__ = ["iter_omm_kvn", "write_omm_kvn"]

_VERS = "CCSDS_OMM_VERS"
_META = ("OBJECT_NAME", "OBJECT_ID")
_FIXED_META = (("CENTER_NAME", "EARTH"), ("REF_FRAME", "TEME"), ("TIME_SYSTEM", "UTC"),
               ("MEAN_ELEMENT_THEORY", "SGP4"))
_REST = tuple(k for k in KEYWORDS if k not in _META)
_HEADER = ("CREATION_DATE", "ORIGINATOR")
_NUMERIC = frozenset(k for k in KEYWORDS if k not in ("OBJECT_NAME", "OBJECT_ID", "EPOCH", "CLASSIFICATION_TYPE"))
KVN_STOP, KVN_AGAIN, KVN_MORE = range(3)     # kvn_block's status (oor_core/ommkvn.pyx)
_PENDING = 1 << 16     # a message cut by a block's end is carried into the next block up to this size


class _Messages:
    """The line-by-line KVN reader (the slow path): the state of the message being read.

    Who may call: iter_omm_kvn.  ``feed`` reads a list of lines and yields the
    sets of the messages it completes; ``close`` ends the open message.
    """

    def __init__(self, file, source, collect, origin=None):
        self.file, self.source, self.collect = file, source, collect
        self.origin = origin        # "FILE:" (each set's origin is it and its CCSDS_OMM_VERS line) or None
        self.record = None          # keyword -> value of the message being read
        self.positions = None       # keyword -> (line, column of the value)
        self.start = None           # line of its CCSDS_OMM_VERS
        self.broken = None          # the first error inside the current message
        self.lineno = 0             # lines read so far (by feed, or taken by the C scanner)

    def close(self):
        """The set of the open message (None if there is none, or it is rejected); no message is open after."""
        record, self.record = self.record, None
        if record is None:
            return None
        if self.broken is not None:
            if self.collect is None:
                raise self.broken
            self.collect.append(self.broken)
            return None
        try:
            es = from_omm(record, file=self.file, line=self.start, column=1, positions=self.positions,
                          source=self.source)
            return es if self.origin is None else es.with_provenance(origin=f"{self.origin}{self.start}")
        except TLEParseError as err:
            if self.collect is None:
                raise
            self.collect.append(err)
            return None

    def _reject(self, err):
        if self.collect is None:
            raise err
        self.collect.append(err)

    def feed(self, lines):
        file = self.file
        for text in lines:
            self.lineno += 1
            lineno = self.lineno
            if text.__class__ is Unreadable:
                err = TLEParseError(text.reason, file, lineno, text.column)
                if self.record is None:
                    self._reject(err)
                elif self.broken is None:
                    self.broken = err
                continue
            stripped = text.strip()
            if not stripped or stripped.startswith("COMMENT"):
                continue
            key, eq, value = stripped.partition("=")
            key = key.strip()
            if key == _VERS:
                es = self.close()
                if es is not None:
                    yield es
                self.record, self.positions, self.start, self.broken = {_VERS: value.strip()}, {}, lineno, None
                continue
            if self.record is None:
                err = TLEParseError(f"KVN line before the first {_VERS} line", file, lineno, 1, text)
                self._reject(err)
                # the rest of this message is lost
                self.record, self.positions, self.start, self.broken = {}, {}, lineno, err
                continue
            if self.broken is not None:
                continue
            if not eq or not key or " " in key:
                self.broken = TLEParseError("KVN line is not 'KEYWORD = value'", file, lineno, 1, text)
                continue
            value = value.strip()
            if value.endswith("]") and key in _NUMERIC:
                cut = value.rfind("[")
                if cut >= 0:
                    value = value[:cut].rstrip()
            if key in self.record:
                self.broken = TLEParseError(f"keyword {key} appears twice in one message", file, lineno, 1, text)
                continue
            self.record[key] = value
            self.positions[key] = (lineno, text.index("=") + 2)


def iter_omm_kvn(chunks, *, file=None, source=None, collect=None, origin=None):
    """Yield ElementSets from KVN given as blocks of lines (bytes or str) or lists of lines.

    Who may call: oor.codec.io (``_line_chunks(..., blocks=True)``).  Bad
    messages raise TLEParseError or, when ``collect`` is a list, are appended
    to it (one per message).  Each block goes to ``ommkvn.kvn_block`` (C) from
    each message start on; what it does not take, up to the next message
    start (``kvn_next``), is split into lines and read by ``_Messages``.  A
    message the block's end cuts is carried into the next block.
    """
    prefix = None if origin is None else origin + ":"
    msgs = _Messages(file, source, collect, prefix)
    use_fast = omm.FAST_PATH
    out = []
    starts = []
    pending = None          # the start of a message cut by the last block's end (a block itself)
    for block in chunks:
        if block.__class__ is list:
            if pending is not None:
                yield from msgs.feed(split_lines(pending))
                pending = None
            yield from msgs.feed(block)
            continue
        if pending is not None:
            block = pending + ("\n" if isinstance(block, str) else b"\n") + block
            pending = None
        if not use_fast:
            yield from msgs.feed(split_lines(block))
            continue
        pos = 0
        while True:
            status, end, taken = kvn_block(block, pos, MAX_LINE, source, out, starts)
            if end != pos:                  # whole plain messages converted in C
                es = msgs.close()           # the message before them ends at their CCSDS_OMM_VERS line
                if es is not None:
                    yield es
                if prefix is None:
                    yield from out
                else:
                    base = msgs.lineno + 1
                    for es, k in zip(out, starts):
                        yield es.with_provenance(origin=f"{prefix}{base + k}")
                out.clear()
                starts.clear()
                msgs.lineno += taken
                pos = end
            if status == KVN_AGAIN:
                continue
            if status == KVN_MORE and len(block) - pos <= _PENDING:
                pending = block[pos:]
                break
            nxt = kvn_next(block, pos)
            if nxt < 0:
                yield from msgs.feed(split_lines(block[pos:]))
                break
            yield from msgs.feed(split_lines(block[pos:nxt - 1]))
            pos = nxt
    if pending is not None:
        yield from msgs.feed(split_lines(pending))
    es = msgs.close()
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
        extra = {}
        for k, v in extra_pairs(es):
            if "\n" not in v and "\r" not in v and k != _VERS:
                extra.setdefault(k, v.strip())
        parts = [f"{_VERS} = 2.0\n"]
        if "COMMENT" in extra:
            parts.append(f"COMMENT {extra.pop('COMMENT')}\n")     # a KVN comment line (the reader skips it)
        parts.extend(f"{k} = {extra.pop(k)}\n" for k in _HEADER if k in extra)
        parts.extend(f"{k} = {f[k]}\n" for k in _META)
        parts.extend(f"{k} = {extra.pop(k, v)}\n" for k, v in _FIXED_META)
        parts.extend(f"{k} = {f[k]}\n" for k in _REST)
        parts.extend(f"{k} = {v}\n" for k, v in extra.items())
        write(("\n" if n else "") + "".join(parts))
        n += 1
    return n
