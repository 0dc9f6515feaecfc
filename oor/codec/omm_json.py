"""OMM JSON (CelesTrak numbers or Space-Track strings): streaming reader and writer.

Who may import: oor.codec.io (public entry points are ``read_elements`` and
``write_elements``).

Accepted layouts: a JSON array of OMM objects (CelesTrak, Space-Track), a
single object, or a sequence of objects separated by whitespace / newlines
(JSON Lines).  The reader decodes one object at a time from a sliding buffer
(``json.JSONDecoder.raw_decode``), so memory is bounded by the largest object
plus one chunk.  Runs of flat objects (string, number and null values, no
escapes) are converted by ``ommjson.json_run`` in C instead (same sets);
any other object, and every error, goes through the JSON decoder here.  Errors carry the line (and column, for malformed JSON) where
the object starts.  Malformed JSON ends the stream.
"""
import json

from oor_core.errors import TLEParseError

from oor_core.ommcodec import count_newlines
from oor_core.ommjson import json_run
from oor.codec import omm
from oor.codec.omm import INT_KEYWORDS, KEYWORDS, extra_pairs, from_omm, to_omm, to_omm_values

__all__ = ["iter_omm_json", "write_omm_json", "write_omm_jsonl"]

_TAIL = 1 << 16          # an error this close to the end of the buffer may just be a cut object: read on
_WS = " \t\r\n"


def iter_omm_json(chunks, *, file=None, source=None, collect=None, max_record=1 << 20, max_depth=32):
    """Yield ElementSets from JSON text given as str chunks.

    Who may call: oor.codec.io.  Bad objects raise TLEParseError or, when
    ``collect`` is a list, are appended to it.
    """
    decoder = json.JSONDecoder()
    it = iter(chunks)
    buf = ""
    pos = 0
    line_base = 1          # line number of buf[0]
    eof = False
    in_array = None        # None until the first token is seen

    mark = [0, 1]          # [position in buf, its line]: where() counts newlines from here, not from 0
    use_fast = omm.FAST_PATH
    out = []

    def refill():
        nonlocal buf, pos, line_base, eof
        if pos:
            line_base += count_newlines(buf, 0, pos)
            buf, pos = buf[pos:], 0
            mark[0], mark[1] = 0, line_base
        if len(buf) > max_record:
            raise malformed(f"a JSON value is longer than {max_record:,} characters (the limit)", 0)
        try:
            buf += next(it)
        except StopIteration:
            eof = True

    def where(p):
        if p < mark[0]:
            mark[0], mark[1] = 0, line_base
        mark[1] += count_newlines(buf, mark[0], p)
        mark[0] = p
        return mark[1], p - (buf.rfind("\n", 0, p) + 1) + 1

    def malformed(reason, p):
        line, col = where(p)
        return TLEParseError(f"malformed JSON: {reason}", file, line, col)

    while True:
        while pos < len(buf) and buf[pos] in _WS:
            pos += 1
        if pos >= len(buf):
            if eof:
                if in_array:
                    err = malformed("unterminated array (missing ']')", len(buf))
                    if collect is None:
                        raise err
                    collect.append(err)
                return
            refill()
            continue
        ch = buf[pos]
        if in_array is None:
            in_array = ch == "["
            if in_array:
                pos += 1
                continue
        if in_array and ch == "]":
            return
        if in_array and ch == ",":
            pos += 1
            continue
        if ch == "{" and use_fast:
            end = json_run(buf, pos, in_array, source, out)
            if end != pos:             # flat objects converted in C (same sets as below)
                yield from out
                out.clear()
                pos = end
                continue
        if (ch == "{" or ch == "[") and _too_deep(buf, pos, max_depth - 1):
            err = malformed(f"nested deeper than {max_depth} levels (an OMM file is an array of flat objects)",
                            pos)
            if collect is None:
                raise err
            collect.append(err)
            return
        try:
            obj, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            if not eof and exc.pos >= len(buf) - _TAIL:
                try:
                    refill()
                except TLEParseError as err:
                    if collect is None:
                        raise
                    collect.append(err)
                    return
                continue
            err = malformed(exc.msg, exc.pos)
            if collect is None:
                raise err from None
            collect.append(err)
            return
        except RecursionError:
            err = malformed("nested too deeply", pos)
            if collect is None:
                raise err from None
            collect.append(err)
            return
        line, col = where(pos)
        pos = end
        if not isinstance(obj, dict):
            err = TLEParseError(f"expected an OMM object, found {type(obj).__name__}", file, line, col)
        else:
            try:
                yield from_omm(obj, file=file, line=line, column=col, source=source)
                continue
            except TLEParseError as exc:
                err = exc
        if collect is None:
            raise err
        collect.append(err)


def _too_deep(buf, pos, limit):
    """True when the value at buf[pos] nests more than ``limit`` arrays/objects.

    A flat OMM object has no '{' or '[' before its first '}': two C-speed
    finds, no Python loop.  Anything else is scanned (strings skipped) up to
    its end or the limit.
    """
    end = buf.find("}", pos)
    if buf[pos] == "{" and end >= 0 and buf.find("{", pos + 1, end) < 0 and buf.find("[", pos + 1, end) < 0:
        return False
    depth = 0
    in_str = False
    i = pos
    n = len(buf)
    while i < n:
        c = buf[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{" or c == "[":
            depth += 1
            if depth > limit:
                return True
        elif c == "}" or c == "]":
            depth -= 1
            if depth <= 0:
                return False
        i += 1
    return False


def write_omm_json(sets, out, *, strings=False, indent=None):
    """Write ElementSets as a JSON array of OMM objects to a text stream; return the count.

    Who may call: oor.codec.io.  ``strings=False`` writes CelesTrak style
    (numbers as JSON numbers), ``strings=True`` Space-Track style (every value
    a string).  Names are written as UTF-8, not escaped.  After the element
    keywords: the set's metadata and OOR_SOURCE / OOR_ORIGIN / OOR_ARRIVAL
    (``omm.extra_pairs``), as strings.
    """
    n = 0
    out.write("[")
    for es in sets:
        fields = to_omm(es)
        if not strings:
            fields = {k: (v if k in ("OBJECT_NAME", "OBJECT_ID", "EPOCH", "CLASSIFICATION_TYPE")
                          else int(v) if k in INT_KEYWORDS else float(v)) for k, v in fields.items()}
        if es.name is None:
            fields.pop("OBJECT_NAME")
        for k, v in extra_pairs(es):
            fields.setdefault(k, v)
        out.write(("," if n else "") + "\n" + json.dumps(fields, ensure_ascii=False, indent=indent))
        n += 1
    out.write("\n]\n")
    return n


def write_omm_jsonl(sets, out):
    """Write ElementSets as JSON Lines: one CelesTrak-style OMM object per line; return the count.

    Who may call: oor.codec.io.  The JSON reader reads it back (it reads JSON Lines).
    """
    n = 0
    dumps = json.dumps
    write = out.write
    for es in sets:
        fields = to_omm_values(es)
        for k, v in extra_pairs(es):
            fields.setdefault(k, v)
        write(dumps(fields, ensure_ascii=False) + "\n")
        n += 1
    return n


assert set(INT_KEYWORDS) <= set(KEYWORDS)
