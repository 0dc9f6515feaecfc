"""Every reading command writes every format of the one vocabulary, to stdout and with -o; the output, parsed back,
equals the stored sets.  Also: OOR_DB, several ids and --ids, the time forms and --nearest/--after/--max-age on the
command line, find's alpha-5 / launch-year / --contains, extension mismatches, and each command's help.

Registry: the July 2022 catalog (24,132 sets; names, COSPAR ids, alpha-5 T0288) plus Jason-1's 3,998-set history,
loaded once through the API.  Commands run in-process (``oor.cli.main``).
"""
import datetime as dt
import io
import os
import re
import sys

import pytest

import oor
from oor.cli import build_parser, main
from oor.codec.formats import FORMATS

JASON1 = 26997
EXT = {"tle": "tle", "3le": "3le", "omm-xml": "xml", "omm-json": "json", "omm-csv": "csv", "omm-kvn": "kvn",
       "jsonl": "jsonl", "table": "txt", "parquet": "parquet"}
TABLE_LINE = re.compile(r"^ *(\d+)  (\S+)  (\S+) +(\S+)(?: +(.*))?$")     # id, epoch, COSPAR, source, name


@pytest.fixture(scope="module")
def db(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("formats") / "cat.oor"
    with oor.open(path) as reg:
        reg.load(data / "catalogs" / "catalog-2022-07.3le")
        reg.load(data / "history" / "Jason-1.tle")
    return path


def cli(capsys, *args, stdin=None, monkeypatch=None):
    capsys.readouterr()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def parse_back(fmt, text=None, path=None):
    """The sets (or, for table, the rows) an output holds."""
    if fmt == "table":
        body = text if text is not None else path.read_text()
        rows = []
        for line in body.splitlines():
            m = TABLE_LINE.match(line)
            assert m, line
            rows.append((int(m.group(1)), m.group(2), m.group(3), m.group(4), m.group(5) or None))
        return rows
    if fmt == "parquet":
        pq = pytest.importorskip("pyarrow.parquet")
        return pq.read_table(path).to_pylist()
    src = io.StringIO(text) if text is not None else path
    return list(oor.read_elements(src, "auto" if path is not None else fmt))


def check_same(fmt, got, want):
    assert len(got) == len(want), (fmt, len(got), len(want))
    for g, w in zip(got, want):
        if fmt == "table":
            assert g == (w.norad_id, w.epoch.isoformat().replace("+00:00", "Z"), w.cospar_id or "-",
                         w.source or "-", w.name)
        elif fmt == "parquet":
            assert (g["norad_id"], g["epoch"], g["name"], g["mean_motion"]) == \
                (w.norad_id, w.epoch, w.name, w.mean_motion)
        else:
            assert g.norad_id == w.norad_id and g.same_elements(w), fmt
            if fmt == "tle":
                assert (g.line1, g.line2, g.name) == (w.line1, w.line2, None)     # the exact lines, no names
            elif fmt == "3le":
                assert g.same_text(w)
            else:
                assert g.name == w.name


def selections(reg):
    """command -> (arguments, the sets the command must write)."""
    return {
        "get": (["get", 25544, JASON1, "T0288"], [reg.latest(25544), reg.latest(JASON1), reg.latest(270288)]),
        "history": (["history", JASON1, "--since", "2012-01-01", "--until", "2012-02-01"],
                    reg.history(JASON1, since="2012-01-01", until="2012-02-01")),
        "scan": (["scan", 25000, 25100], list(reg.scan(25000, 25100))),
        "find": (["find", "iss"], reg.find("iss")),
        "export": (["export", "--at", "2022-07-01"],
                   [e for e in (reg.at(n, "2022-07-01") for n in reg.objects()) if e is not None]),
    }


@pytest.fixture(scope="module")
def wanted(db):
    with oor.open(db, create=False, read_only=True) as reg:
        return selections(reg)


@pytest.mark.parametrize("command", ["get", "history", "scan", "find", "export"])
def test_every_command_writes_every_format(command, db, wanted, tmp_path, capsys):
    args, want = wanted[command]
    assert len(want) >= 3, command
    for fmt in FORMATS + ("parquet",):
        if command == "export" and fmt not in ("omm-json", "3le", "table", "parquet"):
            continue           # 24k sets per format: the slow writers are covered on the smaller selections
        if fmt == "parquet":
            pytest.importorskip("pyarrow")
        else:                                        # stdout, --format given
            code, out, err = cli(capsys, *args, "--db", db, "--format", fmt)
            assert code == 0, err
            check_same(fmt, parse_back(fmt, text=out), want)
        path = tmp_path / f"{command}.{EXT[fmt]}"   # -o FILE: the format follows the extension
        code, out, err = cli(capsys, *args, "--db", db, "-o", path)
        assert code == 0 and out == "", err
        assert err == f"oor: wrote {len(want):,} element sets to {path}\n"
        check_same(fmt if fmt != "table" else "3le", parse_back(fmt if fmt != "table" else "3le", path=path)
                   if fmt != "table" else list(oor.read_elements(path)), want)


def test_defaults_aliases_and_mismatches(db, tmp_path, capsys):
    code, out, _ = cli(capsys, "get", 25544, "--db", db)
    assert code == 0 and out.splitlines()[0] == "0 ISS (ZARYA)" and out.splitlines()[1].startswith("1 25544U")
    code, out, _ = cli(capsys, "history", 25544, "--db", db)        # a listing: table
    assert code == 0 and TABLE_LINE.match(out.splitlines()[0])
    for alias, canonical in (("xml", "omm-xml"), ("json", "omm-json"), ("csv", "omm-csv"), ("kvn", "omm-kvn"),
                             ("XML", "omm-xml")):
        a = cli(capsys, "get", 25544, "--db", db, "--format", alias)[1]
        b = cli(capsys, "get", 25544, "--db", db, "--format", canonical)[1]
        assert a == b and a
    # the extension decides without --format; a contradicting --format is refused, nothing written
    for args in (["export", "-o", tmp_path / "x.xml", "--format", "3le"],
                 ["get", 25544, "-o", tmp_path / "x.json", "--format", "csv"]):
        code, out, err = cli(capsys, *args, "--db", db)
        assert code == 2 and err.count("\n") == 1 and "the extension says" in err
        assert not os.path.exists(args[-3] if args[0] == "export" else args[3])
    code, _, err = cli(capsys, "get", 25544, "--db", db, "-o", tmp_path / "iss.tle", "--format", "3le")
    assert code == 0                                                  # .tle holds 3LE too (one family)
    code, _, err = cli(capsys, "get", 25544, "--db", db, "--format", "pdf")
    assert code == 2 and "unknown format 'pdf'" in err
    code, _, err = cli(capsys, "load", tmp_path / "iss.tle", "--db", tmp_path / "n.oor", "--format", "table")
    assert code == 2


def test_oor_db_ids_from_stdin_and_missing_ids(db, monkeypatch, capsys):
    monkeypatch.setenv("OOR_DB", str(db))
    code, out, err = cli(capsys, "get", 25544, "--format", "table")
    assert code == 0 and out.split()[0] == "25544"
    code, out, err = cli(capsys, "get", "--ids", "-", "--format", "table",
                         stdin="25544, 5\n# a comment line\nT0288  999999  # no such object\n",
                         monkeypatch=monkeypatch)
    assert code == 1
    assert [ln.split()[0] for ln in out.splitlines()] == ["25544", "5", "270288"]
    assert err == f"oor: 999999: no element set in {db}\n"
    monkeypatch.delenv("OOR_DB")
    code, _, err = cli(capsys, "get", 25544)
    assert code == 2 and "OOR_DB" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "get", "--db", db)
    assert code == 2 and "no NORAD id" in err


def test_times_and_at_modes_on_the_command_line(db, capsys):
    with oor.open(db, create=False, read_only=True) as reg:
        iss = reg.history(25544)
    assert len(iss) == 1
    e = iss[0]
    tle_epoch = e.line1[18:32]                         # '22196.51021208'
    for when in (tle_epoch, e.epoch.isoformat(), "2022-196T12:14:42.323712Z", "20220715T121442.323712",
                 f"@{(e.epoch - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds()}", "now"):
        code, out, err = cli(capsys, "get", 25544, "--db", db, "--at", when, "--format", "tle")
        assert code == 0 and out == e.line1 + "\n" + e.line2 + "\n", (when, err)
    code, out, err = cli(capsys, "get", 25544, "--db", db, "--at", "2022-196")   # 12 hours before the set
    assert code == 1 and "no element set at or before 2022-07-15T00:00:00Z" in err
    assert cli(capsys, "get", 25544, "--db", db, "--at", "2022-196", "--after")[0] == 0
    assert cli(capsys, "get", 25544, "--db", db, "--at", "2022-196", "--nearest")[0] == 0
    assert cli(capsys, "get", 25544, "--db", db, "--at", "2022-196", "--nearest", "--max-age", "13h")[0] == 0
    code, _, err = cli(capsys, "get", 25544, "--db", db, "--at", "2022-196", "--nearest", "--max-age", "6h")
    assert code == 1 and "within 6h" in err
    code, _, err = cli(capsys, "get", 25544, "--db", db, "--max-age", "14d")     # no older than 14 days (from now)
    assert code == 1 and "within 14d" in err
    code, _, err = cli(capsys, "get", 25544, "--db", db, "--nearest")
    assert code == 2 and "needs --at" in err
    code, _, err = cli(capsys, "history", 25544, "--db", db, "--since", "yesterday")
    assert code == 2 and "ISO 8601" in err
    code, out, _ = cli(capsys, "export", "--db", db, "--at", "2022-196", "--nearest", "--max-age", "1d",
                       "--format", "table")
    assert code == 0 and len(out.splitlines()) > 20_000


def test_find_forms(db, capsys):
    def ids(*args):
        code, out, err = cli(capsys, "find", *args, "--db", db, "--format", "table")
        return code, [int(ln.split()[0]) for ln in out.splitlines()]
    assert ids("T0288") == (0, [270288])
    code, got = ids("zarya", "--contains")
    assert code == 0 and got == [25544]
    assert ids("zarya")[0] == 1                              # not a prefix of any name
    code, got = ids("2022-")
    with oor.open(db, create=False, read_only=True) as reg:
        want = sorted(e.norad_id for e in reg.scan() if e.cospar_id.startswith("2022-"))
        assert reg.find("2022-") == [reg.latest(n) for n in want]
        assert [e.norad_id for e in reg.find("ZaRyA", contains=True)] == [25544]
    assert code == 0 and got == want and len(want) > 500
    code, got = ids("iss", "1998-067A")
    assert code == 0 and 25544 in got and got == sorted(set(got))


def test_help_says_what_and_shows_an_example(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        text = p.format_help()
        if name in ("query", "merge", "screen"):
            continue
        assert "example:" in text and f"oor {name}" in text, name
        assert "--db" in text and "OOR_DB" in text, name
    code, out, _ = cli(capsys, "--help")
    assert code == 0 and "examples:" in out and "OOR_DB" in out and "Exit codes" in out
