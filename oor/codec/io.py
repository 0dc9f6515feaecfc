"""Where element sets come from and go to: paths, '.gz', stdin/stdout, open files; format detection; limits.

Who may import: anyone (``read_elements`` and ``write_elements`` are re-exported
by ``oor.codec`` and ``oor``); ``atomic_output`` is for the registry and CLI.

Inputs: a path (str or os.PathLike; ``"-"`` is stdin), or an open file in
binary or text mode.  Gzip is recognised by its magic bytes, whatever the
name, and decompressed here (``_Gunzip``, zlib with a bounded output per
call): a truncated or corrupt gzip (bad block, bad CRC, cut before its end
marker, nothing after the magic) ends the stream with one
``InputDamagedError`` naming the file, the first text line not read in full
and the compressed byte offset; the sets before the damage are kept.
Binary input is decoded as UTF-8 one complete line at a time: a line that is
not UTF-8 is one rejected line (FILE:LINE:COLUMN), the rest is read.  A
UTF-8 BOM is skipped.  Line ends: LF, CRLF and CR alone (old Mac files), mixed
freely.

Limits (bounded memory on any input, including ``/dev/zero``):
  MAX_LINE        65,535 bytes: a longer line is one rejected line at its
                  FILE:LINE; the rest of it is skipped without being kept;
  MAX_SKIP        16 MiB: a line still without a line end after this many
                  bytes ends the file with one error (not a text file);
  MAX_RECORD      1 MiB: one JSON object or XML ``<omm>`` element; larger
                  is an error for the file (JSON) or one rejected record (XML);
  MAX_JSON_DEPTH  32 levels of JSON nesting (an OMM array of objects is 2).
Everything else streams in 1 MiB chunks.

Formats: the vocabulary of ``oor.codec.formats`` (``"tle"``/``"3le"``: 2-line
and 3LE, mixed, one reader; ``"omm-xml"``, ``"omm-json"``, ``"omm-csv"``,
``"omm-kvn"``, ``"jsonl"``, CelesTrak's ``"xml"``, ``"json"``, ``"csv"``,
``"kvn"``; internally the short names), or ``"auto"``: the first
non-blank character ``<`` means XML, ``{`` or ``[`` JSON; a first keyword
``CCSDS_OMM_VERS`` means KVN; a first line with commas that names
OBJECT_NAME or NORAD_CAT_ID means CSV; anything else is TLE.

Outputs (``write_elements``): a path is written atomically (a temporary file
in the same directory, fsynced, then renamed over the path; on any failure
the temporary file is removed and the path is untouched), ``'-'`` is stdout,
or an open file.  A set the format cannot hold (TLE: id above 339999, mean
motion >= 100, ...) raises ``UnrepresentableError`` naming the object and the
formats that hold it, or with ``skip_unrepresentable=True`` is left out and
counted (``WriteCount.skipped``).
"""
import codecs
import gzip
import io
import os
import sys
import tempfile
import zlib
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional

from oor_core.errors import InputDamagedError, TLEParseError, UnrepresentableError
from oor_core.ommcodec import count_newlines

from oor.codec.formats import codec_name
from oor.codec.lines import MAX_LINE, MAX_SKIP, TOO_LONG, Unreadable, split_lines
from oor.codec.tle import format_tle, iter_tle
# The OMM codecs (omm_xml, omm_json, omm_kvn, omm_csv, with oor.codec.omm, xml.parsers.expat, csv, json)
# and the table writer are imported where a file of theirs is read or written (ElementReader.__iter__,
# format_elements).  Why: importing them made every process that stores or checks TLEs compile and run
# ~60 KB of Python it never calls -- ~15 ms of a fresh `oor check` (0.34 s) with bytecode caching off.

if TYPE_CHECKING:
    from oor.codec.elements import ElementSet

__all__ = ["read_elements", "ElementReader", "write_elements", "detect_format", "FORMATS", "WriteCount",
           "atomic_output", "MAX_LINE", "MAX_SKIP", "MAX_RECORD", "MAX_JSON_DEPTH"]

CHUNK = 1 << 20
FORMATS = ("tle", "3le", "xml", "json", "csv", "kvn")
MAX_RECORD = 1 << 20
MAX_JSON_DEPTH = 32
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


class _Damage(Exception):
    """Internal: the byte stream cannot be read past this point (reason, compressed offset)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class _Gunzip:
    """Streaming gzip decompression (multi-member) with bounded output per read; raises _Damage.

    Who may call: _open_input.  Why not gzip.GzipFile: it loses the data
    decompressed in the read that meets a truncation (EOFError), and its CRC
    error names no place.
    """

    def __init__(self, raw):
        self._raw = raw
        self._d = zlib.decompressobj(31)
        self._pending = b""          # compressed bytes not yet given to the decompressor
        self._consumed = 0           # compressed bytes read from the file so far
        self._eof = False
        self._started = False        # the current member produced its header

    def read(self, n=CHUNK):
        while True:
            if self._d.eof:
                rest = self._d.unused_data + self._pending
                self._pending = b""
                if not rest:
                    rest = self._raw.read(CHUNK)
                    self._consumed += len(rest)
                    if not rest:
                        return b""
                if rest[:2] == _GZIP_MAGIC or (len(rest) < 2 and rest == _GZIP_MAGIC[:len(rest)]):
                    self._d = zlib.decompressobj(31)
                    self._pending = rest
                    continue
                if not rest.strip(b"\0"):
                    continue                                     # zero padding after the last member
                raise _Damage(f"bytes after the end of the gzip data at compressed offset "
                              f"{self._consumed - len(rest)}")
            if not self._pending:
                if self._eof:
                    raise _Damage(f"the gzip data is truncated: it ends after {self._consumed:,} compressed "
                                  f"bytes, before its end-of-stream marker")
                self._pending = self._raw.read(CHUNK)
                self._consumed += len(self._pending)
                if not self._pending:
                    self._eof = True
                    continue
            try:
                out = self._d.decompress(self._pending, n)
            except zlib.error as exc:
                where = self._consumed - len(self._pending)
                reason = str(exc).split(":", 1)[-1].strip()
                if "check" in reason:
                    reason = "its CRC-32 does not match the data (corrupt)"
                raise _Damage(f"the gzip data is corrupt near compressed offset {where:,} ({reason})") from None
            self._pending = self._d.unconsumed_tail
            if out:
                return out


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
            stream = _Gunzip(stream)
    except BaseException:
        for f in closers:
            f.close()
        raise
    return stream, name, closers


def _raw_chunks(stream, file):
    while True:
        try:
            data = stream.read(CHUNK)
        except OSError as exc:
            raise _Damage(f"read error: {exc.strerror or exc}") from None
        if not data:
            return
        yield data


def _text_chunks(stream, file):
    """str chunks from a binary or text stream (incremental UTF-8 decoding)."""
    decoder = None
    for data in _raw_chunks(stream, file):
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


def _line_chunks(stream, file, blocks=False):
    """Lists of lines (line ends LF, CRLF or CR removed) from a binary or text stream.

    Who may call: ElementReader.  A line longer than MAX_LINE is replaced by an
    Unreadable marker (the rest of it is read and dropped, up to MAX_SKIP);
    _Damage from the byte stream becomes an InputDamagedError naming the
    first line not read in full.  ``blocks=True``: the complete lines of each
    chunk as one block (bytes or str, see oor.codec.lines) instead of a list,
    over-long lines in it left for ``split_lines``; the lines of an over-long
    line's start still come as a list ``[Unreadable]``.
    """
    carry = None          # the unfinished last line (bytes or str), at most MAX_LINE long
    dropping = -1         # >= 0: inside an over-long line, this many bytes dropped
    skip_lf = False       # the last chunk ended with CR: a LF starting the next one belongs to it
    line = 1              # number of the first line of the next list
    first = True
    too_long = TOO_LONG
    try:
        for data in _raw_chunks(stream, file):
            text_mode = isinstance(data, str)
            nl, cr = ("\n", "\r") if text_mode else (b"\n", b"\r")
            if first:
                first = False
                if data.startswith("\ufeff" if text_mode else codecs.BOM_UTF8):
                    data = data[1:] if text_mode else data[3:]
            if skip_lf:
                skip_lf = False
                if data[:1] == nl:
                    data = data[1:]
            if dropping >= 0:
                a, b = data.find(nl), data.find(cr)
                cut = a if b < 0 else b if a < 0 else min(a, b)
                if cut < 0:
                    dropping += len(data)
                    if dropping > MAX_SKIP:
                        raise _Damage(f"no line end within {MAX_SKIP:,} bytes: this is not a text element-set file")
                    continue
                dropping = -1
                if data[cut:cut + 2] == cr + nl:
                    cut += 1
                elif cut == len(data) - 1 and data[cut:] == cr:
                    skip_lf = True
                data = data[cut + 1:]
            if carry:
                data = carry + data
                carry = None
            end = max(data.rfind(nl), data.rfind(cr))
            if end < 0:
                if len(data) > MAX_LINE:
                    yield [Unreadable(too_long, MAX_LINE + 1)]
                    line += 1
                    dropping = len(data)
                else:
                    carry = data
                continue
            body = data[:end]
            carry = data[end + 1:]
            if data[end:end + 1] == cr:
                if end == len(data) - 1:
                    skip_lf = True
            elif body[-1:] == cr:
                body = body[:-1]
            if cr in body:
                body = body.replace(cr + nl, nl).replace(cr, nl)
            if blocks:
                line += count_newlines(body) + 1
                yield body
            else:
                lines = split_lines(body)
                line += len(lines)
                yield lines
            if len(carry) > MAX_LINE:
                yield [Unreadable(too_long, MAX_LINE + 1)]
                line += 1
                dropping, carry = len(carry), None
        if carry:
            yield carry if blocks else split_lines(carry)
    except _Damage as exc:
        raise InputDamagedError(exc.reason + "; the sets before it were read", file, line) from None


def _record_chunks(chunk_fn, stream, file):
    """Chunks for the XML and JSON readers; _Damage becomes InputDamagedError (no line known here)."""
    try:
        yield from chunk_fn(stream, file)
    except _Damage as exc:
        raise InputDamagedError(exc.reason + "; the sets before it were read", file) from None


def detect_format(head):
    """Format name for the first bytes/characters of an input (see module doc).  Who may call: anyone."""
    if isinstance(head, bytes):
        head = head.decode("utf-8", "replace")
    text = head.lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        return "xml"
    if text[:1] in ("{", "["):
        return "json"
    for line in text.replace("\r", "\n").split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("COMMENT"):
            if stripped.startswith("CCSDS_OMM_VERS"):
                return "kvn"
            break
    first = text.replace("\r", "\n").split("\n", 1)[0].upper()
    if "," in first and ("NORAD_CAT_ID" in first or "OBJECT_NAME" in first):
        return "csv"
    return "tle"


class ElementReader:
    """Iterable of the ElementSets in one input; created by ``read_elements``.

    Who may call: anyone.  Iterating opens the input, reads it in chunks and
    closes it (if it opened it) when done.  With ``errors="collect"`` the bad
    sets are skipped and their TLEParseErrors appended to ``.errors`` (one per
    rejected set, never one per line); with ``errors="strict"`` the first one
    is raised.  ``.skipped`` counts the lines that are not part of any set and
    not an error: ``#`` comment lines and short text lines (names, headings)
    not followed by element lines.  ``.format`` is the format read (known once
    iteration has started).
    """

    def __init__(self, src, format="auto", *, errors="strict", source=None, allow_missing_checksum=False,
                 origins=True):
        format = codec_name(format)              # the vocabulary of oor.codec.formats, aliases included
        if format == "table":
            raise ValueError("table is a display format (what oor history prints); it cannot be read back")
        if format == "jsonl":
            format = "json"                      # the JSON reader reads JSON Lines too
        if errors not in ("strict", "collect"):
            raise ValueError("errors must be 'strict' or 'collect'")
        self.src = src
        self.format = None if format == "auto" else format
        self.errors = []
        self._counts = [0]
        self._strict = errors == "strict"
        self._source = source
        self._allow68 = allow_missing_checksum
        self._origins = origins
        self._started = False

    @property
    def skipped(self):
        """Lines skipped (comments, names without sets); see the class doc."""
        return self._counts[0]

    def __iter__(self) -> "Iterator[ElementSet]":
        if self._started:
            raise RuntimeError("an ElementReader can be iterated once; call read_elements() again")
        self._started = True
        return self._generate()

    def _generate(self):
        stream, name, closers = _open_input(self.src)
        try:
            if self.format is None:
                try:
                    head, stream = _peek(stream, 4096)
                except _Damage as exc:
                    head, stream = b"", _Failing(exc)
                self.format = detect_format(head)
            collect = None if self._strict else self.errors
            kw = {"file": name, "source": self._source, "collect": collect}
            label = _origin_label(self.src) if self._origins else None
            try:
                if self.format in ("tle", "3le"):
                    yield from iter_tle(_line_chunks(stream, name), allow_missing_checksum=self._allow68,
                                        counts=self._counts, origin=label, **kw)
                elif self.format == "xml":
                    from oor.codec.omm_xml import iter_omm_xml
                    yield from _provenance(iter_omm_xml(_record_chunks(_raw_chunks, stream, name),
                                                        max_record=MAX_RECORD, **kw), label, collect, self._source)
                elif self.format == "json":
                    from oor.codec.omm_json import iter_omm_json
                    yield from _provenance(iter_omm_json(_record_chunks(_text_chunks, stream, name),
                                                         max_record=MAX_RECORD, max_depth=MAX_JSON_DEPTH, **kw),
                                           label, collect, self._source)
                elif self.format == "kvn":
                    from oor.codec.omm_kvn import iter_omm_kvn
                    yield from _provenance(iter_omm_kvn(_line_chunks(stream, name, blocks=True), origin=label,
                                                        **kw), None, collect, self._source)
                else:
                    from oor.codec.omm_csv import iter_omm_csv
                    yield from _provenance(iter_omm_csv(_line_chunks(stream, name), origin=label, **kw), None,
                                           collect, self._source)
            except InputDamagedError as err:
                if collect is None:
                    raise
                collect.append(err)
        finally:
            for f in reversed(closers):
                f.close()


def _origin_label(src):
    """How origins name an input: the path as the user gave it, '-' for stdin and for a stream without a name."""
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    name = getattr(src, "name", None)
    return name if isinstance(name, str) and name != "<stdin>" else "-"


_OOR_KEYS = frozenset(("OOR_SOURCE", "OOR_ORIGIN", "OOR_ARRIVAL"))


def _provenance(sets, label, collect, source):
    """The sets of an OMM reader with their provenance: origin ``LABEL#N`` (label given: the N-th record,
    rejected ones counted) and the OOR_* keywords of OOR's writers mapped back: OOR_SOURCE onto the
    source when the load names none, OOR_ORIGIN onto the origin, OOR_ARRIVAL (ISO 8601) onto the
    arrival; they leave the metadata.  Who may call: ElementReader."""
    from oor.codec import elements as _el
    from oor.codec.elements import element_values
    from oor.codec.omm import parse_epoch
    n = 0
    base = len(collect) if collect is not None else 0
    prefix = None if label is None else label + "#"
    for es in sets:
        n += 1
        v = element_values(es)
        meta = v[_el.META]
        if meta is not None and any(k in _OOR_KEYS for k, _ in meta):
            d = dict(meta)
            kept = tuple((k, x) for k, x in meta if k not in _OOR_KEYS)
            origin = d.get("OOR_ORIGIN")
            arrival = v[_el.ARRIVAL]
            if "OOR_ARRIVAL" in d:
                try:
                    arrival = parse_epoch(d["OOR_ARRIVAL"])
                except ValueError:
                    pass
            if source is None and "OOR_SOURCE" in d and len(d["OOR_SOURCE"].encode("utf-8")) <= 255:
                es = es.replace(source=d["OOR_SOURCE"])
            es = es.with_provenance(meta=kept or None, origin=origin if origin is not None else v[_el.ORIGIN],
                                    arrival_us=arrival)
            if origin is not None:
                yield es
                continue
        if prefix is not None and element_values(es)[_el.ORIGIN] is None:
            k = n + (len(collect) - base if collect is not None else 0)
            es = es.with_provenance(origin=f"{prefix}{k}")
        yield es


class _Failing:
    """A stream whose first read raises the damage found while peeking at the head."""

    def __init__(self, exc):
        self._exc = exc

    def read(self, n=-1):
        raise self._exc


def read_elements(src: Any, format: str = "auto", *, errors: str = "strict", source: Optional[str] = None,
                  allow_missing_checksum: bool = False, origins: bool = True) -> "ElementReader":
    """Stream the element sets of a path, '-' (stdin), or open file: returns an iterable ElementReader.

    Who may call: anyone.  ``format``: "auto" or a name of the vocabulary
    (``oor.codec.formats``: "tle"/"3le", "omm-xml", "omm-json", "omm-csv",
    "omm-kvn", "jsonl"; aliases "xml", "json", "csv", "kvn").  ``errors``: "strict" raises the first TLEParseError,
    "collect" skips bad sets and keeps their errors in ``reader.errors``.
    ``source`` is stored on every set.  ``origins``: each set's origin is
    ``"FILE:LINE"`` (TLE/3LE, KVN, CSV: the line of its first line) or
    ``"FILE#N"`` (XML, JSON: the N-th record), FILE the path as given ('-' for
    stdin or a stream without a name); False leaves it None.  OMM metadata
    goes to each set's ``meta`` (see ``oor.codec.omm``).  Bounded memory on
    any input (limits in the module doc).

    >>> import io
    >>> text = ("ISS (ZARYA)\\n"
    ...         "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927\\n"
    ...         "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537\\n")
    >>> [es.name for es in read_elements(io.StringIO(text))]
    ['ISS (ZARYA)']
    """
    return ElementReader(src, format, errors=errors, source=source, allow_missing_checksum=allow_missing_checksum,
                         origins=origins)


class WriteCount(int):
    """The number of sets written (an int), with ``.skipped``: the norad ids of sets left out as unrepresentable."""

    skipped = ()

    @classmethod
    def make(cls, n, skipped):
        obj = cls(n)
        obj.skipped = tuple(skipped)
        return obj


class atomic_output:
    """Context manager: a text stream on a temporary file next to ``path``, renamed over it on success.

    Who may call: write_elements, the registry and the CLI.  On an exception
    the temporary file is removed and ``path`` is untouched; an OSError
    (full disk, ...) is re-raised naming ``path``.  ``.gz`` compresses.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._tmp = None
        self._raw = None
        self.stream = None

    def __enter__(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, self._tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".", suffix=".tmp",
                                             dir=directory)
            self._raw = os.fdopen(fd, "wb")
            if self.path.endswith(".gz"):
                gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
                self.stream = io.TextIOWrapper(gz, encoding="utf-8", newline="")
            else:
                self.stream = io.TextIOWrapper(self._raw, encoding="utf-8", newline="", write_through=False)
        except OSError as exc:
            self._cleanup()
            raise self._named(exc) from None
        return self.stream

    def _named(self, exc):
        if exc.filename == self.path:
            return exc
        return OSError(exc.errno, exc.strerror or str(exc), self.path)

    def _cleanup(self):
        for f in (self.stream, self._raw):
            if f is not None:
                try:
                    f.close()
                except (OSError, ValueError):
                    pass
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except OSError:
                pass
            self._tmp = None

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._cleanup()
            if isinstance(exc, OSError):
                raise self._named(exc) from None
            return False
        try:
            self.stream.flush()
            if self.stream.buffer is not self._raw:
                self.stream.close()          # closes the gzip member (writes its trailer), not the file
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            os.replace(self._tmp, self.path)
            self._tmp = None
        except OSError as exc:
            self._cleanup()
            raise self._named(exc) from None
        return False


def _open_output(dst):
    """(text stream, closer) for '-' (stdout) or an open file (paths go through atomic_output)."""
    if isinstance(dst, (str, os.PathLike)) and os.fspath(dst) == "-":
        return sys.stdout, None
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


def _tle_text(sets, names, name_prefix, newline, fmt, skip, skipped, file):
    for es in sets:
        try:
            yield format_tle(es, names=names, name_prefix=name_prefix, newline=newline)
        except ValueError as exc:
            if skip:
                skipped.append(es.norad_id)
                continue
            raise UnrepresentableError(es.norad_id, fmt, str(exc), file,
                                       es.epoch.isoformat().replace("+00:00", "Z")) from None


def _write(sets, out, format, name_prefix, newline, json_strings, skip, skipped, file):
    if format in ("tle", "3le"):
        runs = getattr(sets, "tle_runs", None)
        if runs is not None and name_prefix is None and newline == "\n":
            # the registry's latest sets as text in runs, straight from their records (oor_core/reads.pyx);
            # a set it cannot write alone comes back here as an ElementSet, formatted as below
            def one(es):
                return "".join(_tle_text((es,), format == "3le", None, "\n", format, skip, skipped, file))
            n = 0
            for text, k in runs(format == "3le", one):
                out.write(text)
                n += k
            return n
        # joined 256 sets a write (one write call per set was 8 % of exporting a catalog); what was
        # formatted before a failing set is still written before the error
        n = 0
        chunk = []
        try:
            for text in _tle_text(sets, format == "3le", name_prefix, newline, format, skip, skipped, file):
                chunk.append(text)
                if len(chunk) == 256:
                    text, chunk = "".join(chunk), []
                    out.write(text)
                    n += 256
        finally:
            if chunk:
                out.write("".join(chunk))
        return n + len(chunk)
    if format == "xml":
        from oor.codec.omm_xml import write_omm_xml
        return write_omm_xml(sets, out)
    if format == "json":
        from oor.codec.omm_json import write_omm_json
        return write_omm_json(sets, out, strings=json_strings)
    if format == "kvn":
        from oor.codec.omm_kvn import write_omm_kvn
        return write_omm_kvn(sets, out)
    if format == "jsonl":
        from oor.codec.omm_json import write_omm_jsonl
        return write_omm_jsonl(sets, out)
    if format == "table":
        from oor.codec.table import write_table
        return write_table(sets, out)
    from oor.codec.omm_csv import write_omm_csv
    return write_omm_csv(sets, out)


def write_elements(sets: "Iterable[ElementSet]", dst: Any, format: str = "3le", *, name_prefix: Optional[bool] = None,
                   newline: str = "\n", json_strings: bool = False, skip_unrepresentable: bool = False) -> "WriteCount":
    """Write element sets to a path ('.gz' compresses; '-' is stdout) or open file; return a WriteCount.

    Who may call: anyone.  ``format``: a name of the vocabulary
    (``oor.codec.formats``): "tle" (2 lines, no names), "3le" (name lines
    where a set has a name), "omm-xml", "omm-json", "omm-csv", "omm-kvn",
    "jsonl" (one OMM JSON object per line), "table" (one line per set, for
    reading by eye); aliases "xml", "json", "csv", "kvn".  Sets read
    from TLE text are written as their exact lines; others get canonical
    lines.  A path is replaced atomically (see the module doc).  A set that
    cannot be a TLE raises UnrepresentableError (nothing written to a path),
    or is left out and counted with ``skip_unrepresentable=True``.
    ``name_prefix``: see ``format_tle``.  ``newline`` applies to TLE/3LE.
    ``json_strings``: Space-Track style JSON (every value a string).  Streams.
    """
    format = codec_name(format)
    skipped = []
    if isinstance(dst, (str, os.PathLike)) and os.fspath(dst) != "-":
        path = os.fspath(dst)
        with atomic_output(path) as out:
            n = _write(sets, out, format, name_prefix, newline, json_strings, skip_unrepresentable, skipped, path)
        return WriteCount.make(n, skipped)
    out, closer = _open_output(dst)
    name = getattr(dst, "name", None)
    try:
        n = _write(sets, out, format, name_prefix, newline, json_strings, skip_unrepresentable, skipped,
                   name if isinstance(name, str) else None)
    finally:
        if closer is not None:
            closer.close()
        elif out is sys.stdout:
            out.flush()
    return WriteCount.make(n, skipped)


def format_elements(sets: "Iterable[ElementSet]", format: str = "3le", **options: Any) -> str:
    """The text write_elements would write, as a str.  Who may call: anyone."""
    buf = io.StringIO()
    write_elements(sets, buf, format, **options)
    return buf.getvalue()
