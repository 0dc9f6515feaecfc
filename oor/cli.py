"""The ``oor`` command line (console script ``oor`` and ``python -m oor``).

Who may import: the console-script entry point, ``oor.__main__`` and tests
(``main(argv)`` returns the exit code instead of exiting).

  oor load FILE... --db DB [--format F] [--source NAME] [--strict] [--quiet]
  oor get NORAD --db DB [--at TIME] [--format 3le|tle|json]
  oor history NORAD --db DB [--since T] [--until T] [--format table|3le|tle|json]
  oor scan [FIRST [LAST]] --db DB [--format table|3le|tle|json]
  oor find TEXT --db DB [--format table|3le|tle|json]
  oor export --db DB [--format 3le|tle|omm-xml|omm-json|omm-csv|omm-kvn] [--all] [--at TIME] [-o FILE]
             [--skip-unrepresentable]
  oor stats --db DB [--json]
  oor check --db DB
  oor checkpoint --db DB
  oor recover --db DB [--salvage]
  oor query|merge|screen ...   (oor/query/cli.py, docs/query.md)

Exit codes: 0 all good; 1 some input rejected (good sets kept), an object
not found, or ``check`` found problems; 2 usage or fatal error (with
``--strict``, nothing stored).  Fatal errors are one line on stderr,
``oor: <what>: <why>``, never a traceback.  Times are ISO 8601
(``2022-07-15``, ``2022-07-15T12:00:00Z``; no offset means UTC), read by
``oor.times``.

``load`` prints rejected sets as ``FILE:LINE: reason`` on stderr, a progress
bar on stderr when stderr is a terminal and the load runs over a second, and
a one-line summary on stdout; ``--quiet`` silences the bar and the summary
(rejections are still listed).
"""
import argparse
import json
import os
import sys
import time

from oor_core.errors import OorError, TLEParseError

from oor.codec import write_elements
from oor.codec.tle import alpha5_decode
from oor.registry import Registry
from oor.times import iso_z, to_epoch_us

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_REJECTED, EXIT_FATAL = 0, 1, 2
LOAD_FORMATS = ("auto", "3le", "tle", "omm-xml", "omm-json", "omm-csv", "omm-kvn", "xml", "json", "csv", "kvn")
SHOW_FORMATS = ("table", "3le", "tle", "json")
EXPORT_FORMATS = ("3le", "tle", "omm-xml", "omm-json", "omm-csv", "omm-kvn")


class _Fatal(Exception):
    """A fatal, user-facing error: printed as one line, exit 2."""


# ---- argument types ---------------------------------------------------------------------------
def norad_arg(text):
    """NORAD id from '25544', '5' or alpha-5 'T0288'."""
    t = text.strip()
    if t.isdigit():
        return int(t)
    try:
        return alpha5_decode(t.rjust(5))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a NORAD catalog number: {text!r}") from None


def _time(text):
    try:
        to_epoch_us(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser():
    """The argparse parser of every subcommand.  Who may call: main, tests, docs."""
    p = argparse.ArgumentParser(prog="oor", description="Orbital Object Registry: store and query satellite "
                                "element sets (TLE, 3LE, OMM).")
    from oor import __version__
    p.add_argument("--version", action="version", version=f"oor {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def cmd(name, help_):
        s = sub.add_parser(name, help=help_, description=help_)
        s.add_argument("--db", required=True, metavar="DB", help="the registry file")
        _access_options(s)
        return s

    s = cmd("load", "store the element sets of TLE/3LE/OMM files ('-' reads stdin)")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--format", default="auto", choices=LOAD_FORMATS, help="input format (default: detect)")
    s.add_argument("--source", default=None, metavar="NAME", help="source name stored with every set")
    s.add_argument("--strict", action="store_true", help="all or nothing: the first bad set stores nothing")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")

    s = cmd("get", "the newest element set of an object (or the one valid at --at)")
    s.add_argument("norad", type=norad_arg, metavar="NORAD")
    s.add_argument("--at", type=_time, metavar="TIME", help="newest set with epoch <= TIME")
    s.add_argument("--format", default="3le", choices=("3le", "tle", "json"))

    s = cmd("history", "every element set of an object, ascending epoch")
    s.add_argument("norad", type=norad_arg, metavar="NORAD")
    s.add_argument("--since", type=_time, metavar="T")
    s.add_argument("--until", type=_time, metavar="T")
    s.add_argument("--format", default="table", choices=SHOW_FORMATS)

    s = cmd("scan", "the newest element set of every object in an id range")
    s.add_argument("first", type=norad_arg, nargs="?", metavar="FIRST")
    s.add_argument("last", type=norad_arg, nargs="?", metavar="LAST")
    s.add_argument("--format", default="table", choices=SHOW_FORMATS)

    s = cmd("find", "objects by name prefix (case-insensitive) or COSPAR id (1998-067A)")
    s.add_argument("text", metavar="TEXT")
    s.add_argument("--format", default="table", choices=SHOW_FORMATS)

    s = cmd("export", "write element sets (newest of each object by default)")
    s.add_argument("--format", default="3le", choices=EXPORT_FORMATS)
    s.add_argument("--all", action="store_true", help="every stored set, not only the newest")
    s.add_argument("--at", type=_time, metavar="TIME", help="the set valid at TIME for each object")
    s.add_argument("-o", "--output", default="-", metavar="FILE", help="output file (default stdout; .gz compresses)")
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

    # ---- query subcommands (query, merge, screen): parsing and handlers in oor/query/cli.py
    from oor.query import cli as _query_cli
    def db_option(s):
        s.add_argument("--db", required=True, metavar="DB", help="the registry file")
        _access_options(s)
    _query_cli.register(sub, db_option)
    return p


def _access_options(s):
    """--wait and --immutable, on every command (docs/concurrency.md)."""
    s.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="a writing command waits up to SECONDS for another writer to finish (default: refuse at once)")
    s.add_argument("--immutable", action="store_true",
                   help="read a file on read-only media without any lock file (you promise nobody writes it)")


# ---- output helpers ---------------------------------------------------------------------------
def _table_line(es):
    return f"{es.norad_id:>9}  {iso_z(es.epoch)}  {es.cospar_id or '-':<11}  {es.name or ''}".rstrip()


def _show(sets, fmt, out):
    if fmt == "table":
        n = 0
        for es in sets:
            out.write(_table_line(es) + "\n")
            n += 1
        return n
    return write_elements(sets, out, fmt)


class _Progress:
    """A one-line progress bar on stderr, drawn only after the load has run for a second."""

    def __init__(self, stream, label, fileobj=None, size=None, started=None):
        self.stream = stream
        self.label = label
        self.fileobj = fileobj
        self.size = size
        self.t0 = time.perf_counter()
        self.started = self.t0 if started is None else started     # when the whole command started
        self.drawn = False

    def __call__(self, report):
        now = time.perf_counter()
        if now - min(self.t0, self.started) < 1.0:
            return
        n = report.stored
        rate = n / (now - self.t0)
        if self.size and self.fileobj is not None:
            try:
                frac = min(1.0, self.fileobj.tell() / self.size)
            except (OSError, ValueError):
                frac = None
        else:
            frac = None
        if frac is not None:
            filled = int(frac * 30)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {frac * 100:3.0f}%  "
        else:
            bar = ""
        self.stream.write(f"\r{self.label}: {bar}{n:,} sets  {rate:,.0f} sets/s  ")
        self.stream.flush()
        self.drawn = True

    def done(self):
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _reject_line(err):
    where = err.file if err.file is not None else "<input>"
    line = err.line if err.line is not None else "?"
    col = f" (column {err.column})" if err.column is not None and f"column {err.column}" not in err.reason else ""
    return f"{where}:{line}: {err.reason}{col}"


# ---- commands ---------------------------------------------------------------------------------
def _open(args, write):
    """The registry for a command: a writer (waiting --wait seconds for another writer), or a reader at
    snapshots, which never waits for a writer (--immutable: no lock file at all)."""
    if write:
        if getattr(args, "immutable", False):
            raise _Fatal(f"{args.db}: --immutable is for reading; this command writes")
        return Registry(args.db, create=True, timeout=getattr(args, "wait", 0.0))
    if not os.path.exists(args.db):
        raise _Fatal(f"{args.db}: no such database (create one with: oor load FILE --db {args.db})")
    return Registry(args.db, create=False, read_only=True, immutable=getattr(args, "immutable", False))


def _cmd_load(args, out, err):
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
    started = time.perf_counter()
    total = None
    with _open(args, True) as reg:
        if args.strict:
            tx = reg.transaction()
            tx.__enter__()
        try:
            for f in args.files:
                fileobj = sys.stdin.buffer if f == "-" else open(f, "rb")
                try:
                    size = None if f == "-" else os.fstat(fileobj.fileno()).st_size
                    prog = (_Progress(err, "<stdin>" if f == "-" else f, fileobj, size, started)
                            if show_progress else None)
                    try:
                        rep = reg.load(fileobj, format=args.format, source_name=args.source, strict=args.strict,
                                       progress=prog)
                    finally:
                        if prog is not None:
                            prog.done()
                finally:
                    if f != "-":
                        fileobj.close()
                for e in rep.rejected:
                    err.write(_reject_line(e) + "\n")
                if rep.stored == 0 and not rep.rejected:
                    err.write(f"oor: {f}: warning: no element sets found\n")
                if total is None:
                    total = rep
                else:
                    total += rep
        except TLEParseError as exc:
            if args.strict:
                try:
                    tx.__exit__(type(exc), exc, exc.__traceback__)
                except OorError as undo:
                    raise _Fatal(f"{_reject_line(exc)} (--strict, but the load could not be undone: {undo})") \
                        from None
                raise _Fatal(f"{_reject_line(exc)} (--strict: nothing stored)") from None
            raise
        except BaseException as exc:
            if args.strict:
                tx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            if args.strict:
                tx.__exit__(None, None, None)
    if not args.quiet:
        nfiles = len(args.files)
        label = args.files[0] if nfiles == 1 else f"{nfiles} files"
        out.write(f"{label}: {total.summary()}\n")
    return EXIT_REJECTED if total.rejected else EXIT_OK


def _cmd_get(args, out, err):
    with _open(args, False) as reg:
        es = reg.latest(args.norad) if args.at is None else reg.at(args.norad, args.at)
        if es is None:
            when = f" at or before {args.at}" if args.at else ""
            err.write(f"oor: {args.norad}: no element set{when} in {args.db}\n")
            return EXIT_REJECTED
        write_elements([es], out, args.format)
    return EXIT_OK


def _cmd_history(args, out, err):
    with _open(args, False) as reg:
        sets = reg.history(args.norad, since=args.since, until=args.until)
        if not sets:
            err.write(f"oor: {args.norad}: no element sets in that range in {args.db}\n")
            return EXIT_REJECTED
        _show(sets, args.format, out)
    return EXIT_OK


def _cmd_scan(args, out, err):
    with _open(args, False) as reg:
        _show(reg.scan(args.first, args.last), args.format, out)
    return EXIT_OK


def _cmd_find(args, out, err):
    with _open(args, False) as reg:
        sets = reg.find(args.text)
        if not sets:
            err.write(f"oor: nothing matches {args.text!r}\n")
            return EXIT_REJECTED
        _show(sets, args.format, out)
    return EXIT_OK


def _cmd_export(args, out, err):
    dest = out if args.output == "-" else args.output
    with _open(args, False) as reg:
        n = reg.export(dest, format=args.format, latest=not args.all, at=args.at,
                       skip_unrepresentable=args.skip_unrepresentable)
    if args.output != "-":
        err.write(f"oor: wrote {n:,} element sets to {args.output}\n")
    if getattr(n, "skipped", ()):
        err.write(f"oor: skipped {len(n.skipped):,} element sets that {args.format} cannot hold "
                  f"(objects {', '.join(map(str, n.skipped[:5]))}{', ...' if len(n.skipped) > 5 else ''})\n")
    return EXIT_OK


def _cmd_stats(args, out, err):
    with _open(args, False) as reg:
        st = reg.stats()
    if args.json:
        json.dump(st, out, indent=2, sort_keys=True, default=str)
        out.write("\n")
        return EXIT_OK
    for k in ("path", "objects", "element_sets", "name_entries", "cospar_entries", "oldest_epoch",
              "newest_epoch", "file_bytes", "page_count", "free_pages"):
        v = st[k]
        out.write(f"{k:<15} {v:,}\n" if isinstance(v, int) else f"{k:<15} {v}\n")
    for name, n in st["sources"].items():
        out.write(f"source          {name}: {n:,} sets\n")
    for name, t in st["trees"].items():
        out.write(f"tree {name:<10} {t['keys']:,} keys, height {t['height']}, {t['leaves']:,} leaves, "
                  f"fill {t['fill']:.0%}\n")
    return EXIT_OK


def _cmd_check(args, out, err):
    with _open(args, False) as reg:
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


COMMANDS = {"recover": _cmd_recover, "load": _cmd_load, "get": _cmd_get, "history": _cmd_history, "scan": _cmd_scan, "find": _cmd_find,
            "export": _cmd_export, "stats": _cmd_stats, "check": _cmd_check, "checkpoint": _cmd_checkpoint}


# ---- query subcommands (oor/query/cli.py) -------------------------------------------------------
def _query_command(name):
    def run(args, out, err):
        from oor.query import cli as _query_cli
        return _query_cli.COMMANDS[name](args, out, err, lambda a: _open(a, False))
    return run


COMMANDS.update({name: _query_command(name) for name in ("query", "merge", "screen")})


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
    """Run one ``oor`` command; returns the exit code (0, 1 or 2).  Who may call: the entry points, tests."""
    parser = build_parser()
    argv = _glue_descending_sort(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:            # argparse: --help / --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_FATAL
    out, err = sys.stdout, sys.stderr
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
    except (ValueError, TypeError) as exc:
        err.write(f"oor: {exc}\n")
    except KeyboardInterrupt:
        err.write("oor: interrupted\n")
        return 130
    return EXIT_FATAL
