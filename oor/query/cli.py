"""The query subcommands of ``oor``: ``query``, ``merge``, ``screen``.

Who may import: ``oor.cli`` (calls ``register`` and dispatches to ``COMMANDS``) and tests.

  oor query --db DB [--where PRED] [--fields F,..] [--sort F,..] [--limit N] [--all | --at T]
            [--format table|csv|jsonl|3le|tle|omm-xml|omm-json|omm-csv|omm-kvn] [--explain] [--row-wise]
  oor merge FILE... -o OUT [--policy newest|SRC,SRC..] [--report] [--format 3le|tle|omm-*|jsonl]
  oor screen NORAD --db DB [--pad-km KM] [--band-only] [--format table|csv]

A bad predicate is refused (exit 2) with one line naming the column:
``oor: --where: column 13: unknown field 'inclinaton' (did you mean inclination?)``.
"""
import csv
import datetime as _dt
import json
import os

from oor.query.predicate import PredicateError

__all__ = ["register", "COMMANDS"]

# Row formats of the selected fields (table, csv, jsonl) and the set formats of the one vocabulary
# (oor.codec.formats); here csv and jsonl are rows of --fields, so only xml, json and kvn are aliases.
QUERY_FORMATS = ("table", "csv", "jsonl", "3le", "tle", "omm-xml", "omm-json", "omm-csv", "omm-kvn")
SET_FORMATS = ("3le", "tle", "omm-xml", "omm-json", "omm-csv", "omm-kvn")
_ALIASES = {"xml": "omm-xml", "json": "omm-json", "kvn": "omm-kvn"}


def _choice(allowed, aliases):
    def parse(text):
        name = aliases.get(text.strip().lower(), text.strip().lower())
        if name not in allowed:
            import argparse
            raise argparse.ArgumentTypeError(f"unknown format {text!r}: expected one of {', '.join(allowed)}")
        return name
    parse.__name__ = "format"
    return parse


def register(sub, db_arg):
    """Add the query subcommands to an argparse subparsers object; db_arg(parser) adds --db."""
    s = sub.add_parser("query", help="filter, project and sort element sets (docs/query.md)",
                       description="filter, project and sort element sets (predicate language: docs/query.md)")
    db_arg(s)
    s.add_argument("--where", default=None, metavar="PRED", help='e.g. "inclination > 80 and perigee_km < 600"')
    s.add_argument("--fields", default=None, metavar="F,..", help="fields to show (default: a summary)")
    s.add_argument("--sort", default=None, metavar="F,..", help="sort keys; -F sorts descending")
    s.add_argument("--limit", type=int, default=None, metavar="N")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--all", action="store_true", help="every stored set, not only the newest of each object")
    g.add_argument("--at", default=None, metavar="TIME", help="the set valid at TIME for each object")
    s.add_argument("--format", default="table", type=_choice(QUERY_FORMATS, _ALIASES), metavar="F",
                   help=f"{', '.join(QUERY_FORMATS)} (aliases xml, json, kvn); csv and jsonl are rows of --fields")
    s.add_argument("--explain", action="store_true", help="print the plan instead of running it")
    s.add_argument("--row-wise", action="store_true", help="use the row-wise path (for comparison)")

    s = sub.add_parser("merge", help="merge source files into one set per object, without storing them",
                       description="merge source files (each file is one source) into one set per object")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("-o", "--output", required=True, metavar="OUT", help="output file ('-' = stdout)")
    s.add_argument("--policy", default="newest", metavar="P",
                   help="newest (default) or source names (file names without extension) in priority order")
    s.add_argument("--report", action="store_true", help="print the conflict report on stderr")
    s.add_argument("--format", default="3le", type=_choice(SET_FORMATS + ("jsonl",), dict(_ALIASES, csv="omm-csv")),
                   metavar="F", help="3le (default), tle, omm-xml, omm-json, omm-csv, omm-kvn, jsonl")

    s = sub.add_parser("screen", help="conjunction screening prefilter: objects that may come close to NORAD",
                       description="apogee/perigee then orbit-geometry prefilter over the latest catalog")
    db_arg(s)
    s.add_argument("norad", metavar="NORAD")
    s.add_argument("--pad-km", type=float, default=10.0, metavar="KM")
    s.add_argument("--band-only", action="store_true", help="only the apogee/perigee stage")
    s.add_argument("--format", default="table", choices=("table", "csv"))


def _shown(v):
    if isinstance(v, _dt.datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e6 else f"{v:.1f}"
    return "" if v is None else str(v)


def _cmd_query(args, out, err, open_registry):
    with open_registry(args) as reg:
        q = reg.query()
        try:
            if args.where:
                q = q.where(args.where)
            if args.fields:
                q = q.select(args.fields)
            if args.sort:
                q = q.order_by(args.sort)
        except PredicateError as exc:
            raise ValueError(f"--where: {exc}") from None
        except KeyError as exc:
            raise ValueError(f"--fields/--sort: {exc.args[0]}") from None
        if args.limit is not None:
            q = q.limit(args.limit)
        if args.all:
            q = q.all_sets()
        elif args.at:
            q = q.as_of(args.at)
        if args.row_wise:
            q = q.vectorized(False)
        if args.explain:
            out.write(q.explain() + "\n")
            return 0
        if args.format in SET_FORMATS:
            from oor.codec import write_elements
            write_elements(q.sets(), out, args.format)
            return 0
        names = [f.name for f in q.plan()[1]]
        if args.format == "csv":
            w = csv.writer(out, lineterminator="\n")
            w.writerow(names)
            for row in q.rows():
                w.writerow([_shown(v) for v in row])
        elif args.format == "jsonl":
            for row in q.rows():
                out.write(json.dumps({n: (_shown(v) if isinstance(v, _dt.datetime) else v)
                                      for n, v in zip(names, row)}) + "\n")
        else:
            rows = [[_shown(v) for v in r] for r in q.rows()]
            widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
            out.write("  ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip() + "\n")
            for r in rows:
                out.write("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")
    return 0


def _cmd_merge(args, out, err, open_registry):
    from oor.codec import read_elements, write_elements
    from oor.query.merge import merge_sets
    names, inputs = [], []
    for path in args.files:
        name = os.path.basename(path).split(".")[0]
        if name in names:
            raise ValueError(f"{path}: two inputs are called {name!r}; rename one")
        reader = read_elements(path, "auto", errors="collect", source=name)
        sets = list(reader)
        for e in reader.errors:
            err.write(f"{e.file}:{e.line}: {e.reason}\n")
        names.append(name)
        inputs.append(sets)
    result = merge_sets(inputs, names, args.policy)
    n = write_elements(result.winners, args.output, args.format)
    if args.report:
        err.write(result.summary() + "\n")
        for norad, won, k in result.report["samples"]:
            err.write(f"  {norad}: {won} won among {k} sources\n")
    if args.output != "-":
        out.write(f"{n:,} sets written to {args.output}\n")
    return 0


def _cmd_screen(args, out, err, open_registry):
    from oor.cli import norad_arg
    norad = norad_arg(args.norad)
    with open_registry(args) as reg:
        try:
            res = reg.screen(norad, pad_km=args.pad_km, geometry=not args.band_only)
        except KeyError as exc:
            raise ValueError(f"{args.db}: {exc.args[0]}") from None
        if args.format == "csv":
            out.write("norad_id\n")
            for c in res.candidates:
                out.write(f"{c}\n")
        else:
            err.write(res.summary() + "\n")
            for c in res.candidates:
                out.write(f"{c}\n")
    return 0


COMMANDS = {"query": _cmd_query, "merge": _cmd_merge, "screen": _cmd_screen}
