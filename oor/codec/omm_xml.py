"""CCSDS OMM XML (as CelesTrak serves it): streaming reader and writer.

Who may import: oor.codec.io (public entry points are ``read_elements`` and
``write_elements``).

Reading uses expat directly, fed in chunks, so memory stays constant on any
file size and every error carries the line and column expat reports.  Each
``<omm>`` element is one element set; the keywords are the leaf elements
inside it (``<metadata>``, ``<meanElements>``, ``<tleParameters>``), matched by
local name, so a namespace prefix does not matter.  A document holding many
``<omm>`` elements under ``<ndm>`` (CelesTrak) and a single ``<omm>`` document
are both accepted.  Malformed XML ends the stream: the error is raised
(strict) or collected, and reading stops there.
"""
import re
import xml.parsers.expat

from oor_core.errors import TLEParseError

from oor_core.ommcodec import count_newlines, omm_fast_dict as _omm_fast_dict
from oor_core.ommxml import XmlScan, xml_run
from oor.codec import omm
from oor.codec.omm import KEYWORDS, extra_pairs, from_omm, to_omm


def escape(text, entities=None):
    """Text for XML character data: &, < and > as entities, then each of entities' keys replaced.
    Why not xml.sax.saxutils.escape: importing it imports urllib.request, http.client and email (22 ms
    of every `oor` command's start, measured with -X importtime)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for k, v in (entities or {}).items():
        text = text.replace(k, v)
    return text


__all__ = ["iter_omm_xml", "write_omm_xml"]

_KNOWN = frozenset(KEYWORDS)
_META = ("OBJECT_NAME", "OBJECT_ID")
_MEAN = ("EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION", "RA_OF_ASC_NODE", "ARG_OF_PERICENTER",
         "MEAN_ANOMALY")
_TLE = ("EPHEMERIS_TYPE", "CLASSIFICATION_TYPE", "NORAD_CAT_ID", "ELEMENT_SET_NO", "REV_AT_EPOCH", "BSTAR",
        "MEAN_MOTION_DOT", "MEAN_MOTION_DDOT")


_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?omm[\s>/]")
_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?omm\s*>")
_LEAF = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?([A-Z_]+)\s*/?>([^<]*)")
_INDEX = {k: i for i, k in enumerate(KEYWORDS)}
_UPPER_NAME = re.compile(r"[A-Z_]+")
# <USER_DEFINED parameter="KEY">value</USER_DEFINED>: metadata KEY (what write_omm_xml writes for keywords
# OMM has no element for)
_USER = re.compile(r"""<(?:[A-Za-z_][\w.-]*:)?USER_DEFINED\s+parameter\s*=\s*["']([^"'<>&]+)["']\s*>([^<]*)<""")
# the prologs the C scanner starts after: an XML declaration (UTF-8 or none) and white space, then an element
_PROLOG = re.compile(rb"""(?:<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"1\.0"|'1\.0')"""
                     rb"""(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"(?:UTF|utf)-8"|'(?:UTF|utf)-8'))?"""
                     rb"""[ \t\r\n]*\?>)?[ \t\r\n]*(?=<[A-Za-z_])""")
XML_MORE, XML_SLOW, XML_BAIL, XML_END, XML_AGAIN = range(5)     # xml_run's codes (oor_core/ommxml.pyx)
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([^"']*)["']""")



def _too_long(max_record, file, line, collect):
    """An <omm> element over the record limit: one error naming FILE:LINE (raised, or collected)."""
    err = TLEParseError(f"an <omm> element is longer than {max_record:,} bytes (the limit)", file, line)
    if collect is None:
        raise err
    collect.append(err)

def iter_omm_xml(chunks, *, file=None, source=None, collect=None, max_record=1 << 20):
    """Yield ElementSets from XML bytes given as chunks: the C scanner, else expat (see below).

    Who may call: oor.codec.io.  Fast path (why: expat alone reads 24-36 MB/s
    here, i.e. at most 36k sets/s; with Python callbacks 2.7k sets/s; sgp4's
    ElementTree reader 5-14k/s): ``ommxml.xml_run`` checks the document
    (a subset of XML; see there) and converts the plain ``<omm>`` segments in
    C; a segment it cannot convert goes through ``_segment``; at anything
    outside its subset (comments, references, errors, ...) the rest of the
    document goes to ``_iter_checked``, with expat primed with the open
    elements, so a malformed document gets expat's message and position.
    ``_iter_checked`` alone (``FAST_PATH = False``, or a prolog other than an
    XML declaration) lets expat check the whole document with no Python
    callbacks and picks the ``<omm>`` segments out by regular expressions.  A
    document not in UTF-8, or given as str, goes through ``_iter_expat``.
    """
    it = iter(chunks)
    first = next(it, b"")
    if not isinstance(first, bytes):
        yield from _iter_expat(_chain(first, it), file=file, source=source, collect=collect)
        return
    m = _ENCODING.match(first[:200])
    if m and m.group(1).upper().replace(b"-", b"") not in (b"UTF8", b"ASCII", b"USASCII"):
        yield from _iter_expat(_chain(first, it), file=file, source=source, collect=collect)
        return
    kw = {"file": file, "source": source, "collect": collect, "max_record": max_record}
    prolog = _PROLOG.match(first) if omm.FAST_PATH else None
    if prolog is None:
        yield from _iter_checked(xml.parsers.expat.ParserCreate(), first, it, b"", 0, 1, (0, 0), **kw)
        return
    scan = XmlScan()
    buf, pos, base_line, final = first, prolog.end(), 1, False
    lone_cr = 0               # CRs alone before buf: expat counts them as line ends too
    out = []
    while True:
        code, pos, a, b = xml_run(scan, buf, pos, final, source, out)
        if out:
            yield from out
            out.clear()
        if code == XML_AGAIN:
            continue
        if code == XML_SLOW:
            yield from _segment(buf, a, b, base_line, source, file, collect)
        elif code == XML_END:
            return
        elif code == XML_BAIL:
            if not scan.root_seen:           # at the root element: buf is the document from its start
                yield from _iter_checked(xml.parsers.expat.ParserCreate(), buf, it, b"", 0, 1, (0, 0),
                                         final=final, **kw)
                return
            # expat takes the rest, as if it had read everything before pos itself
            head = scan.prefix()
            checker = xml.parsers.expat.ParserCreate()
            checker.Parse(head, False)
            cut = max(buf.rfind(b"\n", 0, pos), buf.rfind(b"\r", 0, pos)) + 1
            line = base_line + lone_cr + _expat_lines(buf, cut)      # expat's line and column of pos
            col = len(buf[cut:pos].decode("utf-8", "replace"))
            cut = buf.rfind(b"\n", 0, pos) + 1
            if cut < pos - 4096:
                cut = pos
            yield from _iter_checked(checker, buf[pos:], it, buf[cut:pos], len(head) - (pos - cut),
                                     base_line + count_newlines(buf, 0, cut), (line - 1, col - len(head)),
                                     final=final, **kw)
            return
        else:                                   # XML_MORE
            if len(buf) - pos > max_record + (1 << 20):
                _too_long(max_record, file, base_line + count_newlines(buf, 0, pos), collect)
                return
            cut = _cut(buf, pos) if scan.root_seen else 0
            if cut:
                base_line += count_newlines(buf, 0, cut)
                if buf.find(b"\r", 0, cut) >= 0:
                    lone_cr += _expat_lines(buf, cut) - count_newlines(buf, 0, cut)
                buf, pos = buf[cut:], pos - cut
            chunk = next(it, None)
            if chunk is None:
                final = True
            else:
                buf += chunk


def _expat_lines(buf, end):
    """Line ends in buf[:end] as expat counts them: LF, CRLF and CR alone."""
    return count_newlines(buf, 0, end) + buf.count(b"\r", 0, end) - buf.count(b"\r\n", 0, end)


def _cut(buf, pos):
    """Where to cut a buffer whose bytes before pos are done: the start of pos's line (so _where's columns
    count from the line start), unless that line is long."""
    cut = buf.rfind(b"\n", 0, pos) + 1
    return cut if pos - cut <= 4096 else pos


def _iter_checked(checker, chunk, it, buf, base, base_line, adjust, *, file, source, collect, max_record,
                  final=False):
    """ElementSets of the rest of a document checked by expat (no callbacks), segments by regex.

    Who may call: iter_omm_xml.  ``checker`` has read everything before
    ``chunk``; ``buf`` holds the bytes of chunk's first line before chunk
    (searched from its end); ``base`` is the checker's offset of buf[0],
    ``base_line`` its line; ``adjust`` = (lines, columns on the checker's
    first line) to add to expat's error positions.
    """
    pos = len(buf)
    while True:
        error = None
        try:
            checker.Parse(chunk, final)
        except xml.parsers.expat.ExpatError as exc:
            error = exc
        buf += chunk
        limit = len(buf) if error is None else checker.ErrorByteIndex - base
        while True:
            # the end tag '</omm>' (also '</p:omm>', '</omm >') and its start tag by short regexes: C speed
            end = _END.search(buf, pos, limit)
            if end is None:
                break
            start = _START.search(buf, pos, end.start())
            if start is None:
                pos = end.end()       # an end tag without its start: expat has already refused it
                continue
            a, pos = start.start(), end.end()
            for es in _segment(buf, a, pos, base_line, source, file, collect):
                yield es
        if error is not None:
            col = error.offset + 1 + (adjust[1] if error.lineno == 1 else 0)
            err = TLEParseError(f"malformed XML: {xml.parsers.expat.ErrorString(error.code)}", file,
                                error.lineno + adjust[0], col)
            if collect is None:
                raise err
            collect.append(err)
            return
        cut = _cut(buf, pos)
        if cut:
            base_line += count_newlines(buf, 0, cut)
            base += cut
            buf, pos = buf[cut:], pos - cut
        if len(buf) - pos > max_record + (1 << 20):
            _too_long(max_record, file, base_line + count_newlines(buf, 0, pos), collect)
            return
        if final:
            return
        chunk = next(it, None)
        if chunk is None:
            chunk, final = b"", True


def _chain(first, it):
    yield first
    yield from it


_MARK = [None, 0, 0]      # [buffer, offset, newlines before it]: _where counts on from here (one reader at a time)


def _where(buf, offset, base_line):
    """(line, 1-based byte column) of buf[offset]; counts newlines on from the last offset asked in buf."""
    mark = _MARK
    if mark[0] is not buf or offset < mark[1]:
        mark[0], mark[1], mark[2] = buf, 0, 0
    mark[2] += count_newlines(buf, mark[1], offset)
    mark[1] = offset
    return base_line + mark[2], offset - (buf.rfind(b"\n", 0, offset) + 1) + 1


def _segment(buf, a, b, base_line, source, file, collect):
    """The ElementSet(s) of the <omm> segment buf[a:b] (bytes already checked well-formed by expat)."""
    data = buf[a:b]
    text = data.decode("utf-8")
    if "&" in text or "<!" in text or "<?" in text:
        line, col = _where(buf, a, base_line)
        yield from _iter_expat([data], file=file, source=source, collect=collect, line_offset=line - 1,
                               col_offset=col - 1)
        return
    record = dict(_LEAF.findall(text))
    if "USER_DEFINED" in record or "<USER_DEFINED " in text:
        record.pop("USER_DEFINED", None)
        for m in _USER.finditer(text):
            record.setdefault(m.group(1), m.group(2))
    es = _omm_fast_dict(record, KEYWORDS, source) if omm.FAST_PATH else None
    meta = omm.meta_of(record)
    if es is not None:
        yield es if meta is None else es.with_provenance(meta=meta)
        return
    record = {k: (v.strip() if k in _INDEX else v) for k, v in record.items()}
    line, col = _where(buf, a, base_line)
    positions = {}
    for m in _LEAF.finditer(text):
        if m.group(1) in _INDEX:
            positions[m.group(1)] = _where(buf, a + len(text[:m.start()].encode("utf-8")), base_line)
    try:
        yield from_omm(record, file=file, line=line, column=col, positions=positions, source=source)
    except TLEParseError as err:
        if collect is None:
            raise
        collect.append(err)


def _iter_expat(chunks, *, file=None, source=None, collect=None, line_offset=0, col_offset=0):
    """Yield ElementSets from XML text given as chunks (bytes or str), with expat callbacks.

    Who may call: iter_omm_xml.  Bad records raise TLEParseError or, when
    ``collect`` is a list, are appended to it.
    """
    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True
    done = []
    state = {"record": None, "positions": None, "text": None, "start": None}

    def local(tag):
        return tag.rpartition(":")[2]

    def start(tag, attrs):
        name = local(tag)
        line = parser.CurrentLineNumber
        pos = (line + line_offset, parser.CurrentColumnNumber + 1 + (col_offset if line == 1 else 0))
        if name == "omm":
            state["record"], state["positions"], state["start"] = {}, {}, pos
        elif state["record"] is not None and name == "USER_DEFINED" and attrs.get("parameter"):
            state["text"] = []
            state["user"] = attrs["parameter"]
        elif state["record"] is not None and (name in _KNOWN or (not attrs and _UPPER_NAME.fullmatch(name))):
            state["text"] = []
            state["positions"][name] = pos

    def chars(data):
        if state["text"] is not None:
            state["text"].append(data)

    def end(tag):
        name = local(tag)
        record = state["record"]
        if record is None:
            return
        if name == "omm":
            done.append((record, state["positions"], state["start"]))
            state["record"] = None
        elif state["text"] is not None and name in _KNOWN:
            record[name] = "".join(state["text"]).strip()
            state["text"] = None
        elif state["text"] is not None and name == "USER_DEFINED" and state.get("user"):
            record.setdefault(state.pop("user"), "".join(state["text"]))
            state["text"] = None
        elif state["text"] is not None:
            record[name] = "".join(state["text"])          # metadata: the exact text
            state["text"] = None

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars

    def drain():
        for record, positions, (line, col) in done:
            try:
                es = from_omm(record, file=file, line=line, column=col, positions=positions, source=source)
            except TLEParseError as err:
                if collect is None:
                    raise
                collect.append(err)
                continue
            yield es
        done.clear()

    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
            yield from drain()
        parser.Parse(b"", True)
    except xml.parsers.expat.ExpatError as exc:
        yield from drain()
        err = TLEParseError(f"malformed XML: {xml.parsers.expat.ErrorString(exc.code)}", file,
                            exc.lineno + line_offset, exc.offset + 1)
        if collect is None:
            raise err from None
        collect.append(err)
        return
    except LookupError as exc:          # the declared encoding is unknown (expat asks Python's codecs)
        yield from drain()
        err = TLEParseError(f"malformed XML: the declared encoding is not known ({exc}); "
                            f"re-encode the file as UTF-8", file, 1, 1)
        if collect is None:
            raise err from None
        collect.append(err)
        return
    yield from drain()


_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
         '<ndm xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
         'xsi:noNamespaceSchemaLocation="https://sanaregistry.org/r/ndmxml_unqualified/ndmxml-2.0.0-master-2.0.xsd">\n')


_HEADER_KEYS = ("CREATION_DATE", "ORIGINATOR")
_FIXED_META = (("CENTER_NAME", "EARTH"), ("REF_FRAME", "TEME"), ("TIME_SYSTEM", "UTC"), ("MEAN_ELEMENT_THEORY", "SGP4"))
_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _omm_element(es):
    f = to_omm(es)
    extra = {}
    for k, v in extra_pairs(es):
        if not _XML_CHAR.search(v):
            extra.setdefault(k, v)

    def group(keys):
        return "".join(f"<{k}>{escape(f[k])}</{k}>" if f[k] != "" else f"<{k}/>" for k in keys)

    def leaf(k, v):
        return f"<{k}>{escape(v)}</{k}>" if v != "" else f"<{k}/>"

    header = "".join(leaf(k, extra.pop(k, "")) for k in _HEADER_KEYS)
    fixed = "".join(leaf(k, extra.pop(k, v)) for k, v in _FIXED_META)
    user = "".join(f'<USER_DEFINED parameter="{escape(k, {chr(34): "&quot;"})}">{escape(v)}</USER_DEFINED>'
                   for k, v in extra.items())
    if user:
        user = f"<userDefinedParameters>{user}</userDefinedParameters>"
    return (f'<omm id="CCSDS_OMM_VERS" version="2.0">\n<header>{header}</header><body>'
            f'<segment><metadata>{group(_META)}{fixed}</metadata>'
            f'<data><meanElements>{group(_MEAN)}</meanElements><tleParameters>{group(_TLE)}</tleParameters>'
            f'{user}</data></segment></body></omm>\n')


def write_omm_xml(sets, out):
    """Write ElementSets to a text stream as one CCSDS NDM/OMM 2.0 document; return the count.

    Who may call: oor.codec.io.  Streams: one set in memory at a time.
    """
    out.write(_HEAD)
    n = 0
    for es in sets:
        out.write(_omm_element(es))
        n += 1
    out.write("</ndm>\n")
    return n
