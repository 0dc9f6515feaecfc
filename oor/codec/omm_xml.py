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
import xml.parsers.expat
from xml.sax.saxutils import escape

from oor_core.errors import TLEParseError

from oor.codec.omm import KEYWORDS, from_omm, to_omm

__all__ = ["iter_omm_xml", "write_omm_xml"]

_KNOWN = frozenset(KEYWORDS)
_META = ("OBJECT_NAME", "OBJECT_ID")
_MEAN = ("EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION", "RA_OF_ASC_NODE", "ARG_OF_PERICENTER",
         "MEAN_ANOMALY")
_TLE = ("EPHEMERIS_TYPE", "CLASSIFICATION_TYPE", "NORAD_CAT_ID", "ELEMENT_SET_NO", "REV_AT_EPOCH", "BSTAR",
        "MEAN_MOTION_DOT", "MEAN_MOTION_DDOT")


def iter_omm_xml(chunks, *, file=None, source=None, collect=None, max_record=1 << 20):
    """Yield ElementSets from XML text given as chunks (bytes or str).

    Who may call: oor.codec.io.  Bad records raise TLEParseError or, when
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
        pos = (parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        if name == "omm":
            state["record"], state["positions"], state["start"] = {}, {}, pos
        elif state["record"] is not None and name in _KNOWN:
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
        err = TLEParseError(f"malformed XML: {xml.parsers.expat.ErrorString(exc.code)}", file, exc.lineno,
                            exc.offset + 1)
        if collect is None:
            raise err from None
        collect.append(err)
        return
    yield from drain()


_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
         '<ndm xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
         'xsi:noNamespaceSchemaLocation="https://sanaregistry.org/r/ndmxml_unqualified/ndmxml-2.0.0-master-2.0.xsd">\n')


def _omm_element(es):
    f = to_omm(es)

    def group(keys):
        return "".join(f"<{k}>{escape(f[k])}</{k}>" if f[k] != "" else f"<{k}/>" for k in keys)

    return ('<omm id="CCSDS_OMM_VERS" version="2.0">\n<header><CREATION_DATE/><ORIGINATOR/></header><body>'
            f'<segment><metadata>{group(_META)}<CENTER_NAME>EARTH</CENTER_NAME><REF_FRAME>TEME</REF_FRAME>'
            '<TIME_SYSTEM>UTC</TIME_SYSTEM><MEAN_ELEMENT_THEORY>SGP4</MEAN_ELEMENT_THEORY></metadata>'
            f'<data><meanElements>{group(_MEAN)}</meanElements><tleParameters>{group(_TLE)}</tleParameters>'
            '</data></segment></body></omm>\n')


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
