"""Where element sets come from and go to: paths, '.gz', stdin/stdout, open files; format detection.

Who may import: anyone (``read_elements`` and ``write_elements`` are re-exported
by ``oor.codec`` and ``oor``).

Inputs: a path (str or os.PathLike; ``"-"`` is stdin), or an open file in
binary or text mode.  Gzip is recognised by its magic bytes, whatever the
name.  Binary input is decoded as UTF-8 one complete line at a time (a byte
that is not UTF-8 is a TLEParseError at its line and column); a UTF-8 BOM is
skipped.  Everything streams in 1 MiB chunks: memory does not grow with the
file.

Formats: ``"tle"`` (2-line and 3LE, mixed; ``"3le"`` is the same reader),
``"xml"``, ``"json"``, ``"csv"`` (OMM), or ``"auto"``: the first non-blank
character ``<`` means XML, ``{`` or ``[`` JSON; a first line with commas that
names OBJECT_NAME or NORAD_CAT_ID means CSV; anything else is TLE.
"""
import codecs
import gzip
import io
import os
import sys

from oor_core.errors import TLEParseError

from oor.codec.omm_csv import iter_omm_csv, write_omm_csv
from oor.codec.omm_json import iter_omm_json, write_omm_json
from oor.codec.omm_xml import iter_omm_xml, write_omm_xml
from oor.codec.tle import format_tle, iter_tle

__all__ = ["read_elements", "ElementReader", "write_elements", "detect_format", "FORMATS"]

CHUNK = 1 << 20
FORMATS = ("tle", "3le", "xml", "json", "csv")
_GZIP_MAGIC = b"\x1f\x8b"


class _Prefixed:
    """A read-only stream that first returns ``head`` and then the rest of ``stream``."""

    def __init__(self, head, stream):
        self._head = head
        self._stream = stream

    def read(self, n=-1):
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._stream.read(), self._head[:0]
                return data
            data, self._head = self._head[:n], self._head[n:]
            if len(data) < n:
                data += self._stream.read(n - len(data))
            return data
        return self._stream.read(n)


def _peek(stream, n):
    """(head, stream') where stream' still yields head first."""
    head = stream.read(n)
    return head, _Prefixed(head, stream)


def _open_input(src):
    """(stream, display name, [files to close]) for a path, '-', or an open file.  Who may call: ElementReader."""
    closers = []
    if isinstance(src, (str, os.PathLike)):
        if os.fspath(src) == "-":
            stream, name = getattr(sys.stdin, "buffer", sys.stdin), "<stdin>"
        else:
            stream, name = open(src, "rb"), os.fspath(src)
            closers.append(stream)
    elif hasattr(src, "read"):
        stream, name = src, getattr(src, "name", None)
        if not isinstance(name, str):
            name = None
    else:
        raise TypeError(f"cannot read element sets from {type(src).__name__}: give a path, '-' or an open file")
    try:
        head, stream = _peek(stream, 2)
        if isinstance(head, bytes) and head == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=stream, mode="rb")     # closing it leaves fileobj open
            closers.append(stream)
    except BaseException:
        for f in closers:
            f.close()
        raise
    return stream, name, closers


def _raw_chunks(stream):
    while True:
        data = stream.read(CHUNK)
        if not data:
            return
        yield data


def _text_chunks(stream, file):
    """str chunks from a binary or text stream (incremental UTF-8 decoding)."""
    decoder = None
    for data in _raw_chunks(stream):
        if isinstance(data, str):
            yield data
            continue
        if decoder is None:
            decoder = codecs.getincrementaldecoder("utf-8-sig")()
        try:
            yield decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise TLEParseError(f"input is not UTF-8 text ({exc.reason})", file) from None
    if decoder is not None:
        try:
            tail = decoder.decode(b"", True)
        except UnicodeDecodeError as exc:
            raise TLEParseError(f"input is not UTF-8 text ({exc.reason})", file) from None
        if tail:
            yield tail


def _decode_lines(data, file, first_line):
    """Complete lines of bytes -> str, locating a non-UTF-8 byte by line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = first_line + before.count(b"\n")
        start = before.rfind(b"\n") + 1
        col = len(data[start:exc.start].decode("utf-8", "replace")) + 1
        raise TLEParseError(f"byte 0x{data[exc.start]:02x} is not UTF-8 text", file, line, col) from None


def _line_chunks(stream, file):
    """Lists of lines (line endings removed: LF, CRLF) from a binary or text stream."""
    carry = None
    line = 1
    first = True
    for data in _raw_chunks(stream):
        if isinstance(data, bytes):
            if first and data.startswith(codecs.BOM_UTF8):
                data = data[3:]
            cut = data.rfind(b"\n")
            if carry:
                data = carry + data
                cut = cut + len(carry) if cut >= 0 else -1
            if cut < 0:
                carry = data
                first = False
                continue
            carry = data[cut + 1:]
            text = _decode_lines(data[:cut], file, line)
        else:
            if first and data.startswith("\ufeff"):
                data = data[1:]
            cut = data.rfind("\n")
            if carry:
                data = carry + data
                cut = cut + len(carry) if cut >= 0 else -1
            if cut < 0:
                carry = data
                first = False
                continue
            carry = data[cut + 1:]
            text = data[:cut]
        first = False
        lines = text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1].endswith("\r"):
            lines[-1] = lines[-1][:-1]
        line += len(lines)
        yield lines
    if carry:
        text = _decode_lines(carry, file, line) if isinstance(carry, bytes) else carry
        yield [text[:-1] if text.endswith("\r") else text]


def detect_format(head):
    """Format name for the first bytes/characters of an input (see module doc).  Who may call: anyone."""
    if isinstance(head, bytes):
        head = head.decode("utf-8", "replace")
    text = head.lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        return "xml"
    if text[:1] in ("{", "["):
        return "json"
    first = text.split("\n", 1)[0].upper()
    if "," in first and ("NORAD_CAT_ID" in first or "OBJECT_NAME" in first):
        return "csv"
    return "tle"


class ElementReader:
    """Iterable of the ElementSets in one input; created by ``read_elements``.

    Who may call: anyone.  Iterating opens the input, reads it in chunks and
    closes it (if it opened it) when done.  With ``errors="collect"`` the bad
    sets are skipped and their TLEParseErrors appended to ``.errors``; with
    ``errors="strict"`` the first one is raised.  ``.format`` is the format
    read (known once iteration has started).
    """

    def __init__(self, src, format="auto", *, errors="strict", source=None, allow_missing_checksum=False):
        if format not in FORMATS + ("auto",):
            raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS + ('auto',))}")
        if errors not in ("strict", "collect"):
            raise ValueError("errors must be 'strict' or 'collect'")
        self.src = src
        self.format = None if format == "auto" else format
        self.errors = []
        self._strict = errors == "strict"
        self._source = source
        self._allow68 = allow_missing_checksum
        self._started = False

    def __iter__(self):
        if self._started:
            raise RuntimeError("an ElementReader can be iterated once; call read_elements() again")
        self._started = True
        return self._generate()

    def _generate(self):
        stream, name, closers = _open_input(self.src)
        try:
            if self.format is None:
                head, stream = _peek(stream, 4096)
                self.format = detect_format(head)
            collect = None if self._strict else self.errors
            kw = {"file": name, "source": self._source, "collect": collect}
            if self.format in ("tle", "3le"):
                yield from iter_tle(_line_chunks(stream, name), allow_missing_checksum=self._allow68, **kw)
            elif self.format == "xml":
                yield from iter_omm_xml(_raw_chunks(stream), **kw)
            elif self.format == "json":
                yield from iter_omm_json(_text_chunks(stream, name), **kw)
            else:
                yield from iter_omm_csv(_line_chunks(stream, name), **kw)
        finally:
            for f in reversed(closers):
                f.close()


def read_elements(src, format="auto", *, errors="strict", source=None, allow_missing_checksum=False):
    """Stream the element sets of a path, '-' (stdin), or open file: returns an iterable ElementReader.

    Who may call: anyone.  ``format``: "auto", "tle"/"3le", "xml", "json",
    "csv".  ``errors``: "strict" raises the first TLEParseError, "collect"
    skips bad sets and keeps their errors in ``reader.errors``.  ``source``
    is stored on every set.  Constant memory on any input size.

    >>> import io
    >>> text = ("ISS (ZARYA)\\n"
    ...         "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927\\n"
    ...         "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537\\n")
    >>> [es.name for es in read_elements(io.StringIO(text))]
    ['ISS (ZARYA)']
    """
    return ElementReader(src, format, errors=errors, source=source, allow_missing_checksum=allow_missing_checksum)


def _open_output(dst):
    """(text stream, closer) for a path ('.gz' compresses), '-' (stdout), or an open file."""
    if isinstance(dst, (str, os.PathLike)):
        path = os.fspath(dst)
        if path == "-":
            return sys.stdout, None
        if path.endswith(".gz"):
            f = gzip.open(path, "wt", encoding="utf-8", newline="")
        else:
            f = open(path, "w", encoding="utf-8", newline="")
        return f, f
    if not hasattr(dst, "write"):
        raise TypeError(f"cannot write element sets to {type(dst).__name__}: give a path, '-' or an open file")
    if isinstance(dst, (io.RawIOBase, io.BufferedIOBase)) or "b" in getattr(dst, "mode", ""):
        wrapper = io.TextIOWrapper(dst, encoding="utf-8", newline="")
        return wrapper, _Detach(wrapper)
    return dst, None


class _Detach:
    """Flush and detach a TextIOWrapper put around a caller's binary file (leaving it open)."""

    def __init__(self, wrapper):
        self.wrapper = wrapper

    def close(self):
        self.wrapper.flush()
        self.wrapper.detach()


def write_elements(sets, dst, format="3le", *, name_prefix=None, newline="\n", json_strings=False):
    """Write element sets to a path ('.gz' compresses; '-' is stdout) or open file; return the count.

    Who may call: anyone.  ``format``: "tle" (2 lines, no names), "3le" (name
    lines where a set has a name), "xml", "json", "csv".  Sets read from TLE
    text are written as their exact lines; others get canonical lines (a set
    that cannot be a TLE raises ValueError saying to export OMM).
    ``name_prefix``: see ``format_tle``.  ``newline`` applies to TLE/3LE.
    ``json_strings``: Space-Track style JSON (every value a string).  Streams.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    out, closer = _open_output(dst)
    try:
        if format in ("tle", "3le"):
            names = format == "3le"
            n = 0
            for es in sets:
                out.write(format_tle(es, names=names, name_prefix=name_prefix, newline=newline))
                n += 1
        elif format == "xml":
            n = write_omm_xml(sets, out)
        elif format == "json":
            n = write_omm_json(sets, out, strings=json_strings)
        else:
            n = write_omm_csv(sets, out)
    finally:
        if closer is not None:
            closer.close()
        elif out is sys.stdout:
            out.flush()
    return n


def format_elements(sets, format="3le", **options):
    """The text write_elements would write, as a str.  Who may call: anyone."""
    buf = io.StringIO()
    write_elements(sets, buf, format, **options)
    return buf.getvalue()
