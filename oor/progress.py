"""The load's progress line on a terminal: one line that fits any width, ETA, sets/s, totals across files.

Who may import: ``oor.cli`` (``oor load``), tests.  Draws on a stream that is a
terminal (the CLI checks ``isatty``); nothing is written before the load has
run for ``delay`` seconds (1; ``OOR_PROGRESS_DELAY`` overrides it, tests set 0),
nor more often than every ``interval`` seconds (0.1; ``OOR_PROGRESS_INTERVAL`` overrides it: tests that
count frames set it small, as a load of a whole catalog takes only a fraction of a second).

  catalog-2022-07.3le [########........]  47%  11,342 sets  21,873 sets/s  ETA 0:01
  [2/3] .../catalogs/catalog-2022-07.3le  [#####...]  61%  38,015 sets  20,118 sets/s  ETA 0:02

Fit: every draw asks the terminal its width (so a resize is followed) and
writes ``\\r`` + a line of at most width - 1 characters + ``ESC [K``; the line
never reaches the last column, so no terminal wraps it, and each redraw
overwrites the last -- no debris whatever the width or the path length.  The
numbers come first: the bar is drawn only where the label keeps 28 columns
beside it, the label (``[2/3]`` and the path) is shortened in the middle
(``/tmp/...catalog-2022-07.3le``), and where even that does not fit only the
counts are shown.

Position: bytes read of all files (``Counting`` wraps each input; reads are
capped at 256 KiB so the count moves smoothly) over their total size.  The
percentage stops at 99 % until ``finish`` -- called once the last batch is
committed -- so it never says 100 % while sets are still being stored.  For
stdin (size unknown) only counts and rate are shown.

Why hand-written and not tqdm: under a pseudo-terminal of 80 columns with a
long path (tests/test_progress.py) tqdm trims the line from the right, so the
percentage, rate and ETA are the part cut off; fitting needs the label
shortened here anyway, after which tqdm would only draw the bar -- not worth a
runtime dependency (OOR's runtime imports only the standard library).
"""
import os
import time

__all__ = ["Counting", "LoadProgress", "fit_label"]

READ_CAP = 256 * 1024          # bytes per read while progress is shown (a 3.9 MB catalog: 16 steps)


class Counting:
    """A binary file wrapper counting the bytes read (``consumed``); reads at most READ_CAP at a time."""

    def __init__(self, raw):
        self.raw = raw
        self.consumed = 0
        self.name = getattr(raw, "name", None)

    def read(self, n=-1):
        if n is None or n < 0 or n > READ_CAP:
            n = READ_CAP
        data = self.raw.read(n)
        self.consumed += len(data)
        return data

    def close(self):
        self.raw.close()


def fit_label(label, width):
    """label shortened in the middle to at most width characters ('...' marks the cut), keeping the file name
    whole when it fits.  Who may call: anyone.

    >>> fit_label("/a/very/long/path/catalog-2022-07.3le", 26)
    '/a/v...catalog-2022-07.3le'
    """
    if len(label) <= width:
        return label
    if width <= 3:
        return label[len(label) - width:] if width > 0 else ""
    keep = width - 3
    head = keep // 4                     # the end of a path says most: three quarters from the end
    base = len(os.path.basename(label))
    if keep - head < base <= keep:
        head = keep - base
    return label[:head] + "..." + label[len(label) - (keep - head):]


def _clock(seconds):
    seconds = int(seconds + 0.5)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LoadProgress:
    """The progress line of one ``oor load`` over one or several files.

    Who may call: oor.cli.  ``files``: [(label, size in bytes or None)].  Call
    ``begin(i, counting)`` before file i, the instance itself with the load's
    report (``Registry.load(progress=...)``), ``file_done(stored)`` after each
    file, and ``finish()`` at the end (clears the line).
    """

    def __init__(self, stream, files, *, delay=None, interval=None, clock=time.monotonic, columns=None):
        self.stream = stream
        self.files = list(files)
        self.total = None if any(size is None for _, size in self.files) else sum(s for _, s in self.files)
        if delay is None:           # OOR_PROGRESS_DELAY: seconds before the first draw (tests set 0)
            delay = float(os.environ.get("OOR_PROGRESS_DELAY", "1.0"))
        self.delay = delay
        if interval is None:        # OOR_PROGRESS_INTERVAL: seconds between draws
            interval = float(os.environ.get("OOR_PROGRESS_INTERVAL", "0.1"))
        self.interval = interval
        self.clock = clock
        self.columns = columns            # fixed width (tests); None: ask the terminal at each draw
        self.t0 = clock()
        self.last = None                  # time of the last draw
        self.index = 0
        self.counting = None
        self.bytes_before = 0             # bytes of the files already read
        self.sets_before = 0              # sets stored from the files already read
        self.sets = 0
        self.drawn = False

    def begin(self, index, counting):
        self.index = index
        self.counting = counting

    def file_done(self, stored):
        self.sets_before += stored
        self.sets = self.sets_before
        size = self.files[self.index][1]
        self.bytes_before += size or 0
        self.counting = None

    def __call__(self, report):
        self.sets = self.sets_before + report.stored
        now = self.clock()
        if now - self.t0 < self.delay or (self.last is not None and now - self.last < self.interval):
            return
        self.last = now
        self.draw(now)

    def _width(self):
        if self.columns is not None:
            return self.columns
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            return 80

    def line(self, now, width):
        """The text of the progress line for a terminal width (at most width - 1 characters)."""
        elapsed = max(now - self.t0, 1e-9)
        room = width - 1
        pieces = [f"{self.sets:,} sets", f"{self.sets / elapsed:,.0f} sets/s"]
        frac = None
        if self.total:
            done = self.bytes_before + (self.counting.consumed if self.counting is not None else 0)
            frac = min(done / self.total, 0.99)
            pieces.insert(0, f"{frac * 100:3.0f}%")
            if done > 0:
                pieces.append(f"ETA {_clock(elapsed * (self.total - done) / done)}")
        while len(pieces) > 1 and len("  ".join(pieces)) >= room:
            pieces.pop()                             # narrow: ETA goes first, then the rate
        stats = "  ".join(pieces)
        if len(stats) >= room:
            return stats[:room]
        label, _ = self.files[self.index] if self.files else ("<stdin>", None)
        prefix = f"[{self.index + 1}/{len(self.files)}] " if len(self.files) > 1 else ""
        free = room - len(stats) - 2                 # two blanks between the parts
        bar = ""
        label_min = min(len(prefix) + len(label), 28)  # room for "[2/3] catalog-2022-07.3le" before any bar
        if frac is not None and free - label_min - 2 >= 10:
            cells = min(30, free - label_min - 4)
            filled = int(frac * cells)
            bar = "[" + "#" * filled + "." * (cells - filled) + "]"
            free -= len(bar) + 2
        if free < len(prefix) + 8:
            return stats
        parts = [prefix + fit_label(label, free - len(prefix))] + ([bar] if bar else []) + [stats]
        return "  ".join(parts)

    def draw(self, now=None):
        now = self.clock() if now is None else now
        self.stream.write("\r" + self.line(now, self._width()) + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def finish(self):
        """Clear the line (the caller prints the summary).  Idempotent."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
