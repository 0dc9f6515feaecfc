"""The ``oor`` command line (console script ``oor`` and ``python -m oor``).

Who may import: the console-script entry point, ``oor.__main__`` and tests
(``main(argv)`` returns the exit code instead of exiting).

  oor load FILE... [--format F] [--source NAME] [--strict] [--quiet]
  oor get ID... [--ids FILE|-] [--at T [--nearest|--after]] [--max-age D] [--format F] [-o FILE]
  oor history ID... [--ids FILE|-] [--since T] [--until T] [--format F] [-o FILE]
  oor scan [FIRST [LAST]] [--format F] [-o FILE]
  oor find TEXT... [--contains] [--format F] [-o FILE]
  oor export [--all | --at T [--nearest|--after] [--max-age D]] [--format F] [-o FILE] [--skip-unrepresentable]
  oor stats [--json] | check | checkpoint | recover [--salvage]
  oor query|merge|screen ...   (oor/query/cli.py, docs/query.md)

Every command takes ``--db DB``; its default is the environment variable
``OOR_DB``.  ``--source NAME`` and ``--as-of T`` select on the reading commands
(``sel_args``); ``history --revisions`` lists every version (docs/revisions.md).
  oor dump | restore FILE | backup DEST | compact | upgrade | prune --before T   (issue 13)

Formats: one vocabulary (``oor.codec.formats``) on every command: table, tle,
3le, omm-xml, omm-json, omm-csv, omm-kvn, jsonl (aliases xml, json, csv,
kvn), and parquet with ``-o FILE`` when pyarrow is installed.  Without
``--format`` the format follows ``-o``'s extension (``-o latest.xml`` writes
OMM XML), else the command's default: ``get`` and ``export`` 3le,
``history``, ``scan`` and ``find`` table on stdout (3le into a file).  A
``--format`` that the extension contradicts is an error.

Times (``--at``, ``--since``, ``--until``): every form ``oor.times`` reads --
``2022-07-15``, ``2022-07-15T12:00:00Z``, ``2022-196``, ``22196.51021208`` (a
TLE epoch), ``now``, ``now-30d``, ``@1657886400``.  ``--max-age 14d``: only a
set that close to the time asked (to now, without ``--at``).

Exit codes: 0 all good; 1 some input rejected (good sets kept), an object
not found, or ``check`` found problems; 2 usage or fatal error (with
``--strict``, nothing stored); 130 interrupted (Ctrl-C: one line says what was
committed; the file is left clean).  Fatal errors are one line on stderr,
``oor: <what>: <why>``, never a traceback.

``load`` prints rejected sets as ``FILE:LINE: reason`` on stderr, a progress
line on stderr when stderr is a terminal and the load runs over a second
(``oor.progress``), and a one-line summary on stdout; ``--quiet`` silences the
progress line and the summary (rejections are still listed).
"""
import argparse
import datetime as _dt
import json
import os
import re
import signal
import sys
import threading

from oor_core.errors import LoadInterrupted, OorError, TLEParseError

from oor.codec import cospar, write_elements
from oor.codec.io import atomic_output
from oor.codec.formats import ALIASES, FORMATS, READ_FORMATS, canonical, resolve
from oor.codec.tle import alpha5_decode
from oor.registry import Registry
from oor.times import parse_duration, to_datetime

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_REJECTED, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 130
# ``oor check`` reads every page once, so a cache buys it nothing: 256 frames (1 MiB) hold the walk's path
# and the small trees.  Why: the default pool's 32 MiB of frames were page-faulted in (zeroed by the kernel)
# for the 6,310 pages of the real data's file, ~20% of the check's time and 24 MB of its peak RSS (49 -> 25
# MB); SQLite's integrity_check likewise runs in its default 2 MB cache.
CHECK_POOL_PAGES = 256
WRITE_FORMATS = FORMATS + ("parquet",)
FORMAT_HELP = (f"{', '.join(WRITE_FORMATS)} (aliases {', '.join(ALIASES)}); default: from -o's extension, "
               f"else %(default_text)s")


class _Fatal(Exception):
    """A fatal, user-facing error: printed as one line, exit 2."""


# ---- argument types ---------------------------------------------------------------------------
def norad_arg(text):
    """NORAD id from '25544', '5' or alpha-5 'T0288'."""
    t = text.strip()
    if t.isdigit() and t.isascii():
        return int(t)
    try:
        return alpha5_decode(t.upper().rjust(5))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a NORAD catalog number: {text!r} (e.g. 25544 or T0288)") from None


def _time(text):
    """A time argument as an aware UTC datetime (``now`` read once, when the command starts)."""
    try:
        return to_datetime(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Duration(_dt.timedelta):
    """A --max-age value: a timedelta that prints as the user wrote it."""

    text = ""

    def __str__(self):
        return self.text


def _duration(text):
    try:
        us = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    d = _Duration(microseconds=us)
    d.text = text
    return d


def _format(allowed):
    def parse(text):
        try:
            return canonical(text, allowed)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = "format"
    return parse


EXAMPLES = {
    "load": "oor load ../shared/data/catalogs/catalog-2022-07.3le --db catalog.oor\n"
            "  curl -s 'https://celestrak.org/NORAD/elements/gp.php?GROUP=stations&FORMAT=xml' | oor load -",
    "get": "oor get 25544 --db catalog.oor\n  oor get 25544 25575 T0288 --format omm-json\n"
           "  oor get 25544 --at 2022-196 --nearest --max-age 14d",
    "history": "oor history 25544 --since now-90d\n  oor history 25544 -o iss.csv      # OMM CSV, from the extension",
    "scan": "oor scan 25000 26000 --db catalog.oor\n  oor scan -o latest.jsonl",
    "find": "oor find iss       # name prefix\n  oor find zarya --contains\n  oor find 1998-067   "
            "# every piece of a launch\n  oor find 2022-     # every object launched in 2022\n  oor find T0288",
    "export": "oor export -o latest.xml             # OMM XML (from the extension)\n"
              "  oor export --all --format 3le -o all.3le.gz\n  oor export --at 2022-07-01 -o july.parquet",
    "stats": "oor stats --db catalog.oor --json",
    "check": "oor check --db catalog.oor",
    "checkpoint": "oor checkpoint --db catalog.oor",
    "recover": "oor recover --db catalog.oor --salvage",
}


_ANY_SOURCE = object()          # --source not given (None would mean "sets without a source")


class _Unparsed:
    """Stands for the parser of a command this run does not parse: takes its arguments and drops them."""

    def add_argument(self, *args, **kw):
        return None

    def add_mutually_exclusive_group(self, *args, **kw):
        return self


def build_parser(only=None):
    """The argparse parser of every subcommand.  Who may call: main, tests, docs.

    ``only``: the one command this run parses (main, when the first argument names one), so only its
    parser is built: building all of them (with ``oor.query`` imported for its three) was ~25 ms of a
    fresh ``oor check`` (0.28 s).  Every other use (``--help``, no or an unknown command) builds them all.
    """
    p = argparse.ArgumentParser(
        prog="oor", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Orbital Object Registry: store every element set (TLE, 3LE, OMM XML/JSON/CSV/KVN) of\n"
                    "every object, by epoch and source, in one crash-safe file, and get them back.",
        epilog="examples:\n  oor load ../shared/data/catalogs/catalog-2022-07.3le --db catalog.oor\n"
               "  export OOR_DB=catalog.oor; oor get 25544; oor find iss; oor export -o latest.xml\n\n"
               "Every command takes --db DB (default: $OOR_DB).\n"
               "Formats: " + ", ".join(WRITE_FORMATS) + " (aliases xml, json, csv, kvn).\n"
               "Times: 2022-07-15, 2022-07-15T12:00:00Z, 2022-196, 22196.51021208 (TLE epoch), now-30d,\n"
               "       @1657886400 (Unix seconds).\n"
               "Exit codes: 0 ok, 1 some input rejected or nothing found, 2 usage or fatal error,\n"
               "130 interrupted.  'oor COMMAND --help' for each command.")
    from oor import __version__
    p.add_argument("--version", action="version", version=f"oor {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def db_arg(s):
        s.add_argument("--db", default=None, metavar="DB", help="the registry file (default: $OOR_DB)")
        _access_options(s)

    def cmd(name, help_):
        if only is not None and name != only:
            return _Unparsed()
        s = sub.add_parser(name, help=help_, description=help_, epilog="example:\n  " + EXAMPLES[name],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        db_arg(s)
        return s

    def out_args(s, default_text, allowed=WRITE_FORMATS):
        s.add_argument("--format", "-f", type=_format(allowed), default=None, metavar="F",
                       help=FORMAT_HELP % {"default_text": default_text})
        s.add_argument("-o", "--output", default="-", metavar="FILE",
                       help="write to FILE (atomically; .gz compresses) instead of stdout")

    def at_args(s, what):
        s.add_argument("--at", type=_time, metavar="TIME", help=f"{what} valid at TIME (newest with epoch <= TIME); "
                                                               "TIME: 2022-07-15T12:00Z, 2022-196, 22196.51, now-30d")
        g = s.add_mutually_exclusive_group()
        g.add_argument("--nearest", action="store_const", dest="mode", const="nearest", default="before",
                       help="with --at: the set whose epoch is nearest TIME, before or after")
        g.add_argument("--after", action="store_const", dest="mode", const="after",
                       help="with --at: the oldest set with epoch >= TIME")
        s.add_argument("--max-age", type=_duration, metavar="D",
                       help="only a set within D of TIME (of now without --at): 14d, 6h, 90m, P14D")

    def sel_args(s):
        s.add_argument("--as-of", type=_time, metavar="TIME", dest="as_of",
                       help="answer as the registry did at wall-clock TIME (what it held then; docs/revisions.md)")
        s.add_argument("--source", default=_ANY_SOURCE, metavar="NAME",
                       help="only sets of the source NAME (as given to load --source)")

    def ids_args(s):
        s.add_argument("norad", type=norad_arg, nargs="*", metavar="ID", help="NORAD ids (25544, alpha-5 T0288)")
        s.add_argument("--ids", metavar="FILE", help="read more ids from FILE ('-' = stdin), blank or comma "
                                                     "separated")

    s = cmd("load", "store the element sets of TLE/3LE/OMM files ('-' reads stdin)")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--format", "-f", default="auto", type=_format(READ_FORMATS + ("auto",)), metavar="F",
                   help=f"input format: auto (default: detect), {', '.join(READ_FORMATS)}, or an alias")
    s.add_argument("--source", default=None, metavar="NAME", help="source name stored with every set")
    s.add_argument("--strict", action="store_true", help="all or nothing: the first bad set stores nothing")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress line and no summary")

    s = cmd("get", "the newest element set of objects (or the one valid at --at)")
    ids_args(s)
    at_args(s, "the set")
    sel_args(s)
    out_args(s, "3le")

    s = cmd("history", "every element set of objects, by epoch then arrival")
    ids_args(s)
    s.add_argument("--since", type=_time, metavar="T", help="only sets with epoch >= T")
    s.add_argument("--until", type=_time, metavar="T", help="only sets with epoch <= T")
    sel_args(s)
    s.add_argument("--revisions", action="store_true",
                   help="every version of every set (current, superseded, deletions) with arrival and "
                        "supersession times; --format jsonl for JSON lines")
    out_args(s, "table (3le into a file)")

    s = cmd("scan", "the newest element set of every object in an id range")
    s.add_argument("first", type=norad_arg, nargs="?", metavar="FIRST")
    s.add_argument("last", type=norad_arg, nargs="?", metavar="LAST")
    sel_args(s)
    out_args(s, "table (3le into a file)")

    s = cmd("find", "objects by name, COSPAR id or catalog number (CelesTrak's NAME=, INTDES=, CATNR=)")
    s.add_argument("text", nargs="+", metavar="TEXT",
                   help="name prefix (case-insensitive), COSPAR id 1998-067A, launch 1998-067, launch year "
                        "2022-, catalog number 25544 or T0288")
    s.add_argument("--contains", action="store_true", help="names containing TEXT anywhere (not only a prefix)")
    sel_args(s)
    out_args(s, "table (3le into a file)")

    s = cmd("export", "write element sets (newest of each object by default)")
    s.add_argument("--all", action="store_true", help="every stored set, not only the newest")
    at_args(s, "for each object the set")
    sel_args(s)
    out_args(s, "3le")
    s.add_argument("--skip-unrepresentable", action="store_true",
                   help="leave out (and count) sets the format cannot hold, instead of stopping")

    s = cmd("stats", "counts and file statistics")
    s.add_argument("--json", action="store_true")

    cmd("check", "verify pages, trees and indexes; exit 1 naming each problem")
    cmd("checkpoint", "write every committed change to the data file")
    s = cmd("recover", "recover after a crash; --salvage: past a damaged log, keeping what precedes the damage")
    s.add_argument("--salvage", action="store_true",
                   help="cut the log at its first damage: keep every transaction committed before it, drop the "
                        "rest, and say exactly what was dropped (the damaged segments are kept as *.damaged)")

    _archive_parsers(sub, cmd)          # dump, restore, backup, compact, upgrade, prune (below)

    # ---- query subcommands (query, merge, screen): parsing and handlers in oor/query/cli.py
    if only is None or only in QUERY_COMMANDS:
        from oor.query import cli as _query_cli
        _query_cli.register(sub, db_arg)
    return p


def _access_options(s):
    """--wait and --immutable, on every command (docs/concurrency.md)."""
    s.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="a writing command waits up to SECONDS for another writer to finish (default: refuse at once)")
    s.add_argument("--immutable", action="store_true",
                   help="read a file on read-only media without any lock file (you promise nobody writes it)")


# ---- output helpers ---------------------------------------------------------------------------
def _write_sets(sets, args, default, out, err, reg=None):
    """Write sets in the format args ask for (module doc); returns the count.  Parquet goes through Arrow."""
    dest = args.output
    fmt = resolve(args.format, None if dest == "-" else dest, default if dest == "-" else "3le", WRITE_FORMATS)
    if fmt == "parquet":
        if dest == "-":
            raise _Fatal("parquet is a binary format: give -o FILE.parquet")
        from oor.interop import sets_to_arrow, write_parquet
        n = write_parquet(sets_to_arrow(sets, reg.sources() if reg is not None else None), dest)
    else:
        n = write_elements(sets, out if dest == "-" else dest, fmt)
    if dest != "-":
        err.write(f"oor: wrote {_sets(n)} to {dest}\n")
    return n


def _reject_line(err):
    where = err.file if err.file is not None else "<input>"
    line = err.line if err.line is not None else "?"
    col = f" (column {err.column})" if err.column is not None and f"column {err.column}" not in err.reason else ""
    return f"{where}:{line}: {err.reason}{col}"


def _ids(args):
    """The ids of a get/history call: the positional ones, then those of --ids (a file or stdin)."""
    ids = list(args.norad)
    if args.ids is not None:
        try:
            text = sys.stdin.read() if args.ids == "-" else open(args.ids, encoding="utf-8").read()
        except OSError as exc:
            raise _Fatal(f"{args.ids}: {exc.strerror or exc}") from None
        for lineno, line in enumerate(text.splitlines(), 1):
            for tok in line.replace(",", " ").split():
                if tok.startswith("#"):
                    break
                try:
                    ids.append(norad_arg(tok))
                except argparse.ArgumentTypeError as exc:
                    raise _Fatal(f"{'<stdin>' if args.ids == '-' else args.ids}:{lineno}: {exc}") from None
    if not ids:
        raise _Fatal(f"{args.command}: no NORAD id given (e.g. oor {args.command} 25544, or --ids -)")
    return ids


# ---- commands ---------------------------------------------------------------------------------
def _open(args, write, pool_pages=None):
    """The registry for a command: a writer (waiting --wait seconds for another writer), or a reader at
    snapshots, which never waits for a writer (--immutable: no lock file at all).  pool_pages: its buffer
    pool's frames (default: the Registry's)."""
    pool = {} if pool_pages is None else {"pool_pages": pool_pages}
    if write:
        if getattr(args, "immutable", False):
            raise _Fatal(f"{args.db}: --immutable is for reading; this command writes")
        return Registry(args.db, create=True, timeout=getattr(args, "wait", 0.0), **pool)
    if not os.path.exists(args.db):
        raise _Fatal(f"{args.db}: no such database (create one with: oor load FILE --db {args.db})")
    return Registry(args.db, create=False, read_only=True, immutable=getattr(args, "immutable", False), **pool)


class _Interrupt:
    """Ctrl-C during a load: the first one asks the load to stop at its next safe point (the progress hook,
    inside the open transaction, so the batch is rolled back and exactly the committed sets stay); a second one
    interrupts at once."""

    def __init__(self):
        self.requested = False
        self.old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self):
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)


def _cmd_load(args, out, err):
    from oor.progress import Counting, LoadProgress      # here: no other command draws progress
    for f in args.files:
        if f == "-":
            continue
        if not os.path.exists(f):
            raise _Fatal(f"{f}: no such file")
        if os.path.isdir(f):
            raise _Fatal(f"{f}: is a directory, not an element-set file")
        if not os.access(f, os.R_OK):
            raise _Fatal(f"{f}: permission denied")
    show_progress = not args.quiet and err.isatty()
    sizes = [None if f == "-" else os.path.getsize(f) for f in args.files]
    display = LoadProgress(err, [("<stdin>" if f == "-" else f, size) for f, size in zip(args.files, sizes)]) \
        if show_progress else None
    total = None
    done_files = []                    # (file, sets stored) of the files loaded in full
    with _Interrupt() as stop, _open(args, True) as reg:
        def hook(report):
            stop.check()
            if display is not None:
                display(report)

        if args.strict:
            tx = reg.transaction()
            tx.__enter__()
        try:
            for i, f in enumerate(args.files):
                raw = sys.stdin.buffer if f == "-" else open(f, "rb")
                fileobj = Counting(raw) if display is not None else raw
                if display is not None:
                    display.begin(i, fileobj)
                try:
                    rep = reg.load(fileobj, format=args.format, source_name=args.source, strict=args.strict,
                                   progress=hook)
                finally:
                    if f != "-":
                        raw.close()
                if display is not None:
                    display.file_done(rep.stored)
                for e in rep.rejected:
                    err.write(_reject_line(e) + "\n")
                if rep.stored == 0 and not rep.rejected:
                    err.write(f"oor: {f}: warning: no element sets found\n")
                done_files.append((f, rep.stored))
                if total is None:
                    total = rep
                else:
                    total += rep
        except TLEParseError as exc:
            if display is not None:
                display.finish()
            if args.strict:
                try:
                    tx.__exit__(type(exc), exc, exc.__traceback__)
                except OorError as undo:
                    raise _Fatal(f"{_reject_line(exc)} (--strict, but the load could not be undone: {undo})") \
                        from None
                raise _Fatal(f"{_reject_line(exc)} (--strict: nothing stored)") from None
            raise
        except LoadInterrupted as exc:
            if display is not None:
                display.finish()
            if args.strict:
                tx.__exit__(type(exc), exc, exc.__traceback__)
                err.write(f"oor: interrupted: nothing stored (--strict); {args.db} is unchanged\n")
                return EXIT_INTERRUPTED
            for e in exc.report.rejected:
                err.write(_reject_line(e) + "\n")
            stored = sum(n for _, n in done_files) + exc.report.stored
            current = args.files[len(done_files)]
            parts = [f"{os.path.basename(f)}: all {n:,}" for f, n in done_files]
            parts.append(f"{os.path.basename(current)}: {exc.report.stored:,} before the interruption")
            err.write(f"oor: interrupted: {stored:,} element sets committed ({'; '.join(parts)}); the rest was "
                      f"not stored, {args.db} is consistent -- load the same files again to finish\n")
            return EXIT_INTERRUPTED
        except BaseException as exc:
            if display is not None:
                display.finish()
            if args.strict:
                tx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            if args.strict:
                tx.__exit__(None, None, None)
            if display is not None:
                display.finish()
    if not args.quiet:
        nfiles = len(args.files)
        label = args.files[0] if nfiles == 1 else f"{nfiles} files"
        out.write(f"{label}: {total.summary()}\n")
    return EXIT_REJECTED if total.rejected else EXIT_OK


def _when(args):
    """(time, mode, max_age) of --at/--nearest/--after/--max-age; --max-age without --at is relative to now."""
    if args.at is None and args.mode != "before":
        raise _Fatal(f"--{args.mode} needs --at TIME")
    at = args.at
    if at is None and args.max_age is not None:
        at = to_datetime("now")
    return at, args.mode, args.max_age


def _cmd_get(args, out, err):
    ids = _ids(args)
    at, mode, max_age = _when(args)
    missing = []
    with _open(args, False) as reg:
        def sets():
            for norad in ids:
                es = (reg.latest(norad, **_sel(args)) if at is None
                      else reg.at(norad, at, mode, max_age, **_sel(args)))
                if es is None:
                    missing.append(norad)
                else:
                    yield es
        _write_sets(sets(), args, "3le", out, err, reg)
    for norad in missing:
        if at is None:
            why = "no element set"
        else:
            rel = {"before": "at or before", "after": "at or after", "nearest": "near"}[mode]
            age = f" within {args.max_age}" if max_age is not None else ""
            why = f"no element set {rel} {at.isoformat().replace('+00:00', 'Z')}{age}"
        err.write(f"oor: {norad}: {why} in {args.db}\n")
    return EXIT_REJECTED if missing else EXIT_OK


def _cmd_history(args, out, err):
    ids = _ids(args)
    missing = []
    if args.revisions:
        return _cmd_revisions(args, ids, out, err)
    with _open(args, False) as reg:
        def sets():
            for norad in ids:
                h = reg.history(norad, since=args.since, until=args.until, **_sel(args))
                if not h:
                    missing.append(norad)
                yield from h
        _write_sets(sets(), args, "table", out, err, reg)
    for norad in missing:
        err.write(f"oor: {norad}: no element sets in that range in {args.db}\n")
    return EXIT_REJECTED if missing else EXIT_OK


def _sel(args):
    """The --as-of / --source selection of a reading command, as keyword arguments of the Registry methods."""
    sel = {}
    if getattr(args, "as_of", None) is not None:
        sel["as_of"] = args.as_of
    if getattr(args, "source", _ANY_SOURCE) is not _ANY_SOURCE:
        sel["source"] = args.source
    return sel


def _cmd_revisions(args, ids, out, err):
    """history --revisions: one line (table) or JSON object (jsonl) per version."""
    if args.as_of is not None:
        raise _Fatal("--revisions lists every version; --as-of does not go with it")
    fmt = args.format or "table"
    if fmt not in ("table", "jsonl"):
        raise _Fatal(f"--revisions writes table or jsonl, not {fmt}")
    missing = []
    sel = {"source": args.source} if args.source is not _ANY_SOURCE else {}
    lines = []
    with _open(args, False) as reg:
        for norad in ids:
            revs = reg.history(norad, since=args.since, until=args.until, revisions=True, **sel)
            if not revs:
                missing.append(norad)
            lines.extend(_revision_line(r, fmt) for r in revs)
    text = "".join(line + "\n" for line in lines)
    if args.output == "-":
        out.write(text)
    else:
        with atomic_output(args.output) as f:
            f.write(text)
        err.write(f"oor: wrote {len(lines):,} revisions to {args.output}\n")
    for norad in missing:
        err.write(f"oor: {norad}: no element sets in {args.db}\n")
    return EXIT_REJECTED if missing else EXIT_OK


def _revision_line(r, fmt):
    d = r.as_dict()
    if fmt == "jsonl":
        return json.dumps(d, ensure_ascii=False, sort_keys=True)
    what = "DELETED " + repr(r.reason or "") if r.tombstone else (
        f"{d['epoch']}  seq {r.seq}  {r.element_set.source or '-'}  {r.element_set.name or ''}")
    until = "current" if r.current else f"superseded {d['superseded']} ({r.superseded_by})"
    return f"{r.norad_id:>9}  arrived {d['arrival']}  {until}  {what}".rstrip()


def _cmd_scan(args, out, err):
    with _open(args, False) as reg:
        _write_sets(reg.scan(args.first, args.last, **_sel(args)), args, "table", out, err, reg)
    return EXIT_OK


def _cmd_find(args, out, err):
    with _open(args, False) as reg:
        found = {}
        for text in args.text:
            for es in reg.find(text, contains=args.contains, **_sel(args)):
                found.setdefault(es.norad_id, es)
        if not found:
            what = " or ".join(repr(t) for t in args.text)
            names = not args.contains and any(not _designator_like(t) for t in args.text)
            err.write(f"oor: nothing in {args.db} matches {what}"
                      f"{' (as a name prefix; --contains finds it anywhere in a name)' if names else ''}\n")
            return EXIT_REJECTED
        _write_sets([found[k] for k in sorted(found)], args, "table", out, err, reg)
    return EXIT_OK


def _designator_like(text):
    """True when find reads text as a COSPAR id, launch or catalog number rather than a name."""
    t = text.strip()
    return cospar.normalize(t) is not None or bool(re.fullmatch(r"[0-9]{4}-[0-9]{0,2}|[0-9]{1,9}", t))


def _sets(n):
    return f"{n:,} element set{'' if n == 1 else 's'}"


def _cmd_export(args, out, err):
    if args.all and (args.at is not None or args.max_age is not None):
        raise _Fatal("--all and --at/--max-age do not go together: --all writes every set")
    at, mode, max_age = _when(args)
    dest = out if args.output == "-" else args.output
    fmt = resolve(args.format, None if args.output == "-" else args.output, "3le", WRITE_FORMATS)
    if fmt == "parquet" and args.output == "-":
        raise _Fatal("parquet is a binary format: give -o FILE.parquet")
    with _open(args, False) as reg:
        n = reg.export(dest, format=fmt, latest=not args.all, at=at, mode=mode, max_age=max_age,
                       skip_unrepresentable=args.skip_unrepresentable, **_sel(args))
    if args.output != "-":
        err.write(f"oor: wrote {_sets(n)} to {args.output}\n")
    if getattr(n, "skipped", ()):
        err.write(f"oor: skipped {len(n.skipped):,} element sets that {fmt} cannot hold "
                  f"(objects {', '.join(map(str, n.skipped[:5]))}{', ...' if len(n.skipped) > 5 else ''})\n")
    return EXIT_OK


def _cmd_stats(args, out, err):
    with _open(args, False) as reg:
        st = reg.stats()
    if args.json:
        json.dump(st, out, indent=2, sort_keys=True, default=str)
        out.write("\n")
        return EXIT_OK
    for k in ("path", "objects", "element_sets", "deleted_objects", "revisions", "commits", "name_entries",
              "cospar_entries", "oldest_epoch", "newest_epoch", "file_bytes", "page_count", "free_pages"):
        v = st[k]
        out.write(f"{k:<15} {v:,}\n" if isinstance(v, int) else f"{k:<15} {v}\n")
    for name, n in st["sources"].items():
        out.write(f"source          {name}: {n:,} sets\n")
    for name, t in st["trees"].items():
        out.write(f"tree {name:<10} {t['keys']:,} keys, height {t['height']}, {t['leaves']:,} leaves, "
                  f"fill {t['fill']:.0%}\n")
    return EXIT_OK


def _cmd_check(args, out, err):
    with _open(args, False, CHECK_POOL_PAGES) as reg:
        problems = reg.check()
    if problems:
        for p in problems:
            out.write(f"{args.db}: {p}\n")
        err.write(f"oor: {args.db}: {len(problems)} problem(s) found\n")
        return EXIT_REJECTED
    out.write(f"{args.db}: ok\n")
    return EXIT_OK


def _cmd_checkpoint(args, out, err):
    with _open(args, True) as reg:
        reg.checkpoint()
    return EXIT_OK


def _cmd_recover(args, out, err):
    if not os.path.exists(args.db):
        raise _Fatal(f"{args.db}: no such database")
    with Registry(args.db, create=False, salvage=args.salvage) as reg:
        report = reg.db.recovery or {}
        salvaged = reg.db.wal.salvaged
        if salvaged is not None:
            out.write(f"{args.db}: log cut at LSN {salvaged['cut_lsn']}: {salvaged['reason']}\n")
            for path in salvaged["dropped_segments"]:
                out.write(f"{args.db}: dropped log segment {path} (kept as {os.path.basename(path)}.damaged)\n")
            losers = report.get("losers", [])
            out.write(f"{args.db}: {len(losers)} transaction(s) without a COMMIT before the cut rolled back"
                      f"{(': ' + ', '.join(map(str, losers))) if losers else ''}\n")
            newer = reg.db.salvage_newer
            if newer:
                out.write(f"{args.db}: {len(newer)} page(s) hold changes from the dropped log "
                          f"(first: page {newer[0]}); check follows\n")
        else:
            out.write(f"{args.db}: recovered ({report.get('redo_records', 0)} records redone, "
                      f"{len(report.get('losers', []))} transaction(s) rolled back)\n")
        problems = reg.check()
    for p in problems:
        out.write(f"{args.db}: {p}\n")
    if problems:
        err.write(f"oor: {args.db}: {len(problems)} problem(s) remain after recovery; restore from a backup\n")
        return EXIT_REJECTED
    out.write(f"{args.db}: ok\n")
    return EXIT_OK


COMMANDS = {"recover": _cmd_recover, "load": _cmd_load, "get": _cmd_get, "history": _cmd_history,
            "scan": _cmd_scan, "find": _cmd_find, "export": _cmd_export, "stats": _cmd_stats, "check": _cmd_check,
            "checkpoint": _cmd_checkpoint}


# ---- whole-file commands: dump, restore, backup, compact, upgrade, prune (oor/archive.py) ---------------
EXAMPLES.update({
    "dump": "oor dump --db catalog.oor -o catalog.jsonl      # every set, tombstone, revision and commit",
    "restore": "oor restore catalog.jsonl --db copy.oor         # a new registry, exactly the dumped one",
    "backup": "oor backup /backups/catalog-$(date +%F).oor --db catalog.oor   # while loads go on",
    "compact": "oor compact --db catalog.oor                     # no reader may be attached",
    "upgrade": "oor upgrade --db catalog.oor   # format 1 -> 2; the original stays as catalog.oor.format1",
    "prune": "oor prune --before now-90d --keep-latest 2 --db catalog.oor\n"
             "  oor prune --before 2024-01-01 --purge-deleted",
})


def _archive_parsers(sub, cmd):
    """The parsers of the whole-file commands.  Caller: build_parser."""
    s = cmd("dump", "write every stored value as JSON lines, at one snapshot (oor restore reads it back)")
    s.add_argument("-o", "--output", default="-", metavar="FILE",
                   help="write to FILE (atomically; .gz compresses) instead of stdout")
    s = cmd("restore", "build a new registry (--db, which must not exist) from an oor dump ('-' reads stdin)")
    s.add_argument("dump", metavar="FILE")
    s = cmd("backup", "copy the registry at one snapshot into the new file DEST while writers go on")
    s.add_argument("dest", metavar="DEST")
    cmd("compact", "rebuild the file with full leaves and replace it atomically (refused while readers are "
                   "attached); prints the bytes before and after")
    cmd("upgrade", "convert a format-1 registry file (--db) to format 3 in a new file renamed into place; the "
                   "original is kept as DB.format1")
    s = cmd("prune", "remove superseded versions (and with --purge-deleted, deleted objects) older than --before")
    s.add_argument("--before", type=_time, required=True, metavar="T",
                   help="versions superseded before T (as-of answers at and after T stay the same)")
    s.add_argument("--keep-latest", type=int, default=0, metavar="N",
                   help="keep each object's N newest superseded versions whatever their age")
    s.add_argument("--purge-deleted", action="store_true",
                   help="also remove objects deleted before T entirely: sets, history and tombstone")


def _cmd_dump(args, out, err):
    with _open(args, False) as reg:
        counts = reg.dump(out if args.output == "-" else args.output)
    if args.output != "-":
        err.write(f"oor: wrote {_sets(counts['elsets'])} and {counts['revs']:,} revisions to {args.output}\n")
    return EXIT_OK


def _cmd_restore(args, out, err):
    from oor.registry import restore
    counts = restore(args.dump, args.db)
    out.write(f"{args.db}: restored {_sets(counts['elsets'])} and {counts['revs']:,} revisions\n")
    return EXIT_OK


def _cmd_backup(args, out, err):
    with _open(args, False) as reg:
        size = reg.backup(args.dest)
    out.write(f"{args.dest}: {size:,} bytes, a copy of {args.db}\n")
    return EXIT_OK


def _cmd_compact(args, out, err):
    if not os.path.exists(args.db):
        raise _Fatal(f"{args.db}: no such database")
    with Registry(args.db, create=False, timeout=args.wait) as reg:
        report = reg.compact()
    out.write(report.summary() + "\n")
    return EXIT_OK


def _cmd_upgrade(args, out, err):
    from oor.archive import upgrade
    n = upgrade(args.db)
    out.write(f"{args.db}: upgraded to registry format 3 ({_sets(n)}); the original is {args.db}.format1\n")
    return EXIT_OK


def _cmd_prune(args, out, err):
    if args.keep_latest < 0:
        raise _Fatal("--keep-latest must be >= 0")
    with _open(args, True) as reg:
        report = reg.prune(args.before, keep_latest=args.keep_latest, purge_deleted=args.purge_deleted)
    out.write(f"{args.db}: {report.summary()}\n")
    return EXIT_OK


COMMANDS.update({"dump": _cmd_dump, "restore": _cmd_restore, "backup": _cmd_backup, "compact": _cmd_compact,
                 "upgrade": _cmd_upgrade, "prune": _cmd_prune})


# ---- query subcommands (oor/query/cli.py) -------------------------------------------------------
def _query_command(name):
    def run(args, out, err):
        from oor.query import cli as _query_cli
        return _query_cli.COMMANDS[name](args, out, err, lambda a: _open(a, False))
    return run


QUERY_COMMANDS = ("query", "merge", "screen")
COMMANDS.update({name: _query_command(name) for name in QUERY_COMMANDS})


def _glue_descending_sort(argv):
    """``--sort -epoch`` as users write it (argparse would take ``-epoch`` for an option): ``--sort=-epoch``."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--sort" and i + 1 < len(argv) and argv[i + 1].startswith("-") and len(argv[i + 1]) > 1 \
                and not argv[i + 1].startswith("--"):
            out.append("--sort=" + argv[i + 1])
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def main(argv=None):
    """Run one ``oor`` command; returns the exit code (0, 1, 2 or 130).  Who may call: the entry points, tests."""
    argv = _glue_descending_sort(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:            # argparse: --help / --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_FATAL
    out, err = sys.stdout, sys.stderr
    if hasattr(args, "db") and args.db is None:
        args.db = os.environ.get("OOR_DB") or None
        if args.db is None:
            err.write(f"oor {args.command}: no registry given: add --db FILE or set OOR_DB=FILE\n")
            return EXIT_FATAL
    try:
        return COMMANDS[args.command](args, out, err)
    except _Fatal as exc:
        err.write(f"oor: {exc}\n")
    except TLEParseError as exc:
        err.write(f"oor: {_reject_line(exc)}\n")
    except OorError as exc:
        err.write(f"oor: {exc}\n")
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            return EXIT_OK
        where = exc.filename if exc.filename is not None else "error"
        err.write(f"oor: {where}: {exc.strerror or exc}\n")
    except ImportError as exc:
        err.write(f"oor: {exc}\n")
    except (ValueError, TypeError) as exc:
        err.write(f"oor: {exc}\n")
    except KeyboardInterrupt:
        err.write("oor: interrupted\n")
        return EXIT_INTERRUPTED
    return EXIT_FATAL

