"""Line-stream limits, the marker for a line that could not be read, and block splitting; shared by the line readers.

Who may import: oor.codec.io (which splits input into lines) and the line
readers it feeds (oor.codec.tle, omm_csv, omm_kvn).

``io._line_chunks`` yields lists of str lines, or (``blocks=True``, for a
reader with a C scanner of whole blocks) blocks: the complete lines of one
chunk as one bytes or str, joined by LF, CR removed, the last line without
its LF; ``split_lines`` turns a block into the list ``_line_chunks`` would
have given.  A line that cannot be given as text (longer than MAX_LINE, or
not UTF-8) is replaced in those lists by an ``Unreadable``: a one-character
str (``"\\x00"``, so it never looks like an element line, a comment or a
keyword) carrying the ``reason`` and the 1-based ``column`` of the fault.
Each reader turns it into one rejected line at its FILE:LINE:COLUMN and
reads on.
"""
from oor_core.tlecodec import longest

__all__ = ["MAX_LINE", "MAX_SKIP", "Unreadable", "split_lines", "TOO_LONG"]

MAX_LINE = 65_535          # bytes (characters for text streams): also the longest name a record holds
MAX_SKIP = 16 << 20        # bytes of one over-long line read (and dropped) before the file is given up


class Unreadable(str):
    """A line that could not be read: ``reason`` and ``column`` say why and where."""

    __slots__ = ("reason", "column")

    def __new__(cls, reason, column):
        obj = super().__new__(cls, "\x00")
        obj.reason = reason
        obj.column = column
        return obj


TOO_LONG = f"line is longer than {MAX_LINE:,} bytes (the limit); skipped"


def _decode_lines(data):
    """Complete lines of bytes (LF-joined, no CR) -> list of str; a non-UTF-8 line becomes Unreadable."""
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        pass
    out = []
    for raw in data.split(b"\n"):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            col = len(raw[:exc.start].decode("utf-8", "replace")) + 1
            out.append(Unreadable(f"byte 0x{raw[exc.start]:02x} is not UTF-8 text", col))
    return out


def split_lines(block):
    """A block (bytes or str; see the module doc) -> its list of lines, over-long or non-UTF-8 ones Unreadable.

    Who may call: oor.codec.io and the line readers.
    """
    lines = block.split("\n") if isinstance(block, str) else _decode_lines(block)
    if longest(lines) > MAX_LINE:           # why C: max(map(len, ...)) was 1/8 of reading KVN
        lines = [ln if len(ln) <= MAX_LINE else Unreadable(TOO_LONG, MAX_LINE + 1) for ln in lines]
    return lines
