"""Line-stream limits and the marker for a line that could not be read; shared by the line readers.

Who may import: oor.codec.io (which splits input into lines) and the line
readers it feeds (oor.codec.tle, omm_csv, omm_kvn).

``io._line_chunks`` yields lists of str lines.  A line that cannot be given
as text (longer than MAX_LINE, or not UTF-8) is replaced in those lists by an
``Unreadable``: a one-character str (``"\\x00"``, so it never looks like an
element line, a comment or a keyword) carrying the ``reason`` and the 1-based
``column`` of the fault.  Each reader turns it into one rejected line at its
FILE:LINE:COLUMN and reads on.
"""

__all__ = ["MAX_LINE", "MAX_SKIP", "Unreadable"]

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
