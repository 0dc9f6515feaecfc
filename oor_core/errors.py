"""Every exception the engine raises, in one pure-Python module.

Who may import: everything (the Cython core and the Python layers above it).
``oor`` re-exports the public ones.  Internal bugs use ``assert``; bad files,
bad input and exhausted resources raise these.
"""
import re

_PAGE_RE = re.compile(r"page (\d+)")


class OorError(Exception):
    """Base class of every error raised by OOR."""


class CorruptPageError(OorError):
    """A page read from disk failed its checksum or carries the wrong page id.

    The page's bytes are never returned as data (invariant 1).
    """

    def __init__(self, page_id, reason="checksum mismatch", path=None):
        self.page_id = page_id
        self.reason = reason
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}page {page_id} is corrupt: {reason}")


class NotAnOorFileError(OorError):
    """The file exists but is not an OOR database (wrong size or magic)."""

    def __init__(self, path, reason="bad magic"):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: not an OOR database ({reason})")


class VersionMismatchError(OorError):
    """The file was written by a newer (or unknown) on-disk format version."""

    def __init__(self, path, found, supported):
        self.path = path
        self.found = found
        self.supported = supported
        super().__init__(
            f"{path}: on-disk format version {found} is not supported "
            f"(this build reads version {supported}); upgrade oor")


class DatabaseLockedError(OorError):
    """Another process holds the database's writer lock."""

    def __init__(self, path, pid=None, who=None):
        self.path = path
        self.pid = pid
        who = who or (f"by process {pid}" if pid else "")
        super().__init__(f"{path}: database is locked{' ' + who if who else ''}")


class ForeignProcessError(OorError):
    """An open database was used in a process other than the one that opened it (after fork)."""

    def __init__(self, path, owner_pid):
        self.path = path
        self.owner_pid = owner_pid
        super().__init__(
            f"{path}: this database was opened by process {owner_pid}, and a forked process cannot use it; "
            f"open it again in this process (multiprocessing: open the registry inside each worker)")


class SnapshotTooOldError(OorError):
    """A snapshot outlived the log it needs (held past max_snapshot_age): start the read again."""


class ConflictError(OorError):
    """A transaction begun on an older snapshot wrote a key that another transaction changed
    after that snapshot; the first committer wins and this transaction stored nothing."""


class TxClosedError(OorError):
    """An operation was attempted on a committed or aborted transaction."""


class BufferPoolFullError(OorError):
    """Every frame of the buffer pool is pinned; nothing can be evicted."""

    def __init__(self, nframes):
        self.nframes = nframes
        super().__init__(
            f"buffer pool full: all {nframes} frames are pinned "
            f"(release page guards, or open with a larger pool)")


class PageFullError(OorError):
    """A record does not fit in the page; the page is left unchanged."""

    def __init__(self, page_id, needed, available):
        self.page_id = page_id
        self.needed = needed
        self.available = available
        super().__init__(
            f"page {page_id} is full: record needs {needed} bytes, "
            f"{available} available")


class VerifyError(OorError, AssertionError):
    """Strict mode (``OOR_VERIFY=1``): a commit broke a structure invariant -- an internal bug, not bad input.

    ``page_id``: the first page named by the problems (None if none is);
    ``problems``: every violation found, as strings naming the page.  The
    transaction is not committed; reopening the file recovers it.
    """

    def __init__(self, what, problems):
        self.problems = list(problems)
        m = _PAGE_RE.search(self.problems[0]) if self.problems else None
        self.page_id = int(m.group(1)) if m else None
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"OOR_VERIFY: {what} broke an invariant (an internal bug; not committed, reopen "
                         f"to recover): {self.problems[0] if self.problems else '?'}{more}")


class TLEParseError(OorError, ValueError):
    """A malformed element set, located by file, line (1-based) and column (1-based)."""

    def __init__(self, reason, file=None, line=None, column=None, text=None):
        self.reason = reason
        self.file = file
        self.line = line
        self.column = column
        self.text = text
        super().__init__(self._format())

    def _format(self):
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.line is not None:
            where.append(str(self.line))
            if self.column is not None:
                where.append(str(self.column))
        prefix = ":".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def __reduce__(self):
        return (TLEParseError, (self.reason, self.file, self.line, self.column, self.text))


class InputDamagedError(TLEParseError):
    """An input stops being readable part-way (a truncated or corrupt gzip, a read error).

    The sets read before the damage are kept (yielded, or stored by a load);
    ``line`` is the first text line that could not be read in full and the
    reason names the byte offset in the file where the damage was found.
    """

    def __reduce__(self):
        return (InputDamagedError, (self.reason, self.file, self.line, self.column, self.text))


class UnrepresentableError(OorError, ValueError):
    """An export met an element set that the chosen format cannot hold (e.g. id above 339999 as TLE).

    Nothing is left at the destination (exports are atomic).  ``norad_id``,
    ``format`` and ``reason`` say which set, where it was going and why.
    """

    def __init__(self, norad_id, format, reason, file=None, epoch=None):
        self.norad_id = norad_id
        self.format = format
        self.reason = reason
        self.file = file
        self.epoch = epoch
        where = f"{file}: " if file else ""
        when = f" (epoch {epoch})" if epoch else ""
        super().__init__(
            f"{where}object {norad_id}{when} cannot be written as {format.upper()}: {reason}; "
            f"OMM (omm-xml, omm-json, omm-csv, omm-kvn) holds it: export that format, or leave such sets "
            f"out with --skip-unrepresentable (skip_unrepresentable=True)")

    def __reduce__(self):
        return (UnrepresentableError, (self.norad_id, self.format, self.reason, self.file, self.epoch))


class WalError(OorError):
    """The log cannot be written or read (I/O error, full disk, damaged or foreign log file)."""


class CorruptLogError(WalError):
    """The log is damaged before a point known to have been durable (invariant 14).

    Raised instead of cutting the log there (which could drop acknowledged
    commits); the log is left exactly as it was found.  ``path`` names the
    segment file, ``offset`` the byte offset in it, ``lsn`` the LSN.
    """

    def __init__(self, path, offset, lsn, reason):
        self.path = path
        self.offset = offset
        self.lsn = lsn
        self.reason = reason
        super().__init__(
            f"{path}: log damaged at byte offset {offset} (LSN {lsn}): {reason}; nothing was changed. "
            f"Restore from a backup, or run `oor recover --salvage` to keep every transaction committed "
            f"before the damage (docs/durability.md)")

    def __reduce__(self):
        return (CorruptLogError, (self.path, self.offset, self.lsn, self.reason))


class LoadInterrupted(KeyboardInterrupt):
    """A load stopped by Ctrl-C (KeyboardInterrupt): what was committed before it, and nothing else.

    Raised by ``Registry.load`` from the KeyboardInterrupt (still a
    KeyboardInterrupt, so code that catches that sees it).  ``report`` is a
    LoadReport counting only the sets committed; the batch in progress was
    rolled back, so the file holds exactly those.
    """

    def __init__(self, report):
        self.report = report
        super().__init__(f"interrupted: {report.stored:,} element sets committed")
