"""The `oor` command line on the real data: loads, queries, export, and every bad-input case of issue 6.

The CLI runs both as a real process (``python -m oor``, as users run it) and
in-process through ``oor.cli.main(argv)`` (fast).  Data is read in place from
the ``data`` fixture and never copied into the project.
"""
import datetime as dt
import io
import os
import re
import subprocess
import sys
import time

import pytest

import oor
from oor.cli import main
from oor.progress import LoadProgress

CATALOGS = [("catalog-2022-01.3le", 23_939), ("catalog-2022-07.3le", 24_132), ("catalog-2026-06.3le", 16_032)]
HISTORY_TOTAL = 38_622
IRIDIUM = 31
SUMMARY = re.compile(r"^(?P<label>.+): (?P<ins>[\d,]+) inserted, (?P<rep>[\d,]+) updated, (?P<unc>[\d,]+) unchanged, "
                     r"(?P<rej>[\d,]+) rejected in [\d.]+ s \([\d,]+ sets/s\)$")


def run(*args, stdin=None, timeout=120):
    """Run `python -m oor ARGS` as a separate process; returns CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "oor", *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=os.path.dirname(os.path.dirname(__file__)))


def cli(capsys, *args):
    """Run main(ARGS) in-process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def counts(summary_line):
    m = SUMMARY.match(summary_line.strip())
    assert m, f"not a summary line: {summary_line!r}"
    return {k: int(m.group(k).replace(",", "")) for k in ("ins", "rep", "unc", "rej")}


@pytest.fixture(scope="module")
def loaded(data, tmp_path_factory):
    """A registry holding every data file, loaded through the CLI; returns (db path, {file: counts})."""
    db = tmp_path_factory.mktemp("cli") / "all.oor"
    got = {}
    for name, _ in CATALOGS:                        # real processes, in time order
        p = run("load", data / "catalogs" / name, "--db", db)
        assert p.returncode == 0, p.stderr
        assert "Traceback" not in p.stderr
        got[name] = counts(p.stdout)
    hist = sorted(str(f) for f in (data / "history").glob("*.tle"))
    assert len(hist) == 15
    code = main(["load", *hist, "--db", str(db), "--quiet"])
    assert code == 0
    for name in ("iridium-2023-10-26.3le", "iridium-2023-10-26.xml"):
        buf_out = io.StringIO()
        old = sys.stdout
        sys.stdout = buf_out
        try:
            code = main(["load", str(data / "omm" / name), "--db", str(db)])
        finally:
            sys.stdout = old
        assert code == 0
        got[name] = counts(buf_out.getvalue())
    return db, got


# ---- loading the real data -----------------------------------------------------------------------
def test_catalog_counts_match_the_data(loaded):
    db, got = loaded
    for name, n in CATALOGS:
        c = got[name]
        assert c["rej"] == 0
        assert c["ins"] + c["rep"] + c["unc"] == n, name
    # the first catalog went into an empty registry: everything is new
    assert got["catalog-2022-01.3le"]["ins"] == 23_939


def test_history_files_count(data, tmp_path, capsys):
    db = tmp_path / "h.oor"
    code, out, err = cli(capsys, "load", *sorted((data / "history").glob("*.tle")), "--db", db)
    assert code == 0, err
    c = counts(out)
    assert out.startswith("15 files: ")
    assert c == {"ins": HISTORY_TOTAL, "rep": 0, "unc": 0, "rej": 0}
    with oor.open(db, read_only=True, create=False) as reg:
        st = reg.stats()
        assert st["element_sets"] == HISTORY_TOTAL and st["objects"] == 15
        jason1 = reg.history(26997)
        assert len(jason1) == 3998
        assert [e.epoch_us for e in jason1] == sorted(e.epoch_us for e in jason1)


def test_iridium_pair_and_repeat_semantics(loaded, data):
    db, got = loaded
    assert got["iridium-2023-10-26.3le"]["rej"] == 0
    assert sum(got["iridium-2023-10-26.3le"][k] for k in ("ins", "rep", "unc")) == IRIDIUM
    # the XML describes the same 31 sets: each is a repeat (values equal, text differs), stored once; the
    # OMM keywords it brings merge into the stored set, whose exact TLE text is kept
    x = got["iridium-2023-10-26.xml"]
    assert x["ins"] == 0 and x["rej"] == 0 and x["rep"] + x["unc"] == IRIDIUM
    with oor.open(db, read_only=True) as reg:
        for es in oor.read_elements(data / "omm" / "iridium-2023-10-26.3le"):
            stored = reg.history(es.norad_id, since=es.epoch, until=es.epoch)
            assert len(stored) == 1 and stored[0].same_text(es), es.norad_id


def test_reloading_a_file_changes_nothing(data, tmp_path, capsys):
    db = tmp_path / "twice.oor"
    f = data / "catalogs" / "catalog-2022-07.3le"
    assert cli(capsys, "load", f, "--db", db)[0] == 0
    size = os.path.getsize(db)
    code, out, _ = cli(capsys, "load", f, "--db", db)
    assert code == 0
    assert counts(out) == {"ins": 0, "rep": 0, "unc": 24_132, "rej": 0}
    assert os.path.getsize(db) == size
    assert cli(capsys, "check", "--db", db)[0] == 0


def test_three_catalogs_make_histories_in_epoch_order(loaded, data):
    db, _ = loaded
    per = []
    for name, _ in CATALOGS:
        per.append({es.norad_id: es for es in oor.read_elements(data / "catalogs" / name)})
    others = set()                                  # objects that the history and OMM files also hold
    for f in [*(data / "history").glob("*.tle"), data / "omm" / "iridium-2023-10-26.3le"]:
        others.update(es.norad_id for es in oor.read_elements(f))
    common = sorted((set(per[0]) & set(per[1]) & set(per[2])) - others)
    assert len(common) > 3000 and 25544 in common
    with oor.open(db, read_only=True, create=False) as reg:
        for norad in common:
            h = reg.history(norad)
            assert len(h) == 3, norad
            assert [e.epoch_us for e in h] == [per[i][norad].epoch_us for i in range(3)]
            assert h[0].epoch_us < h[1].epoch_us < h[2].epoch_us
            assert all(h[i].same_text(per[i][norad]) for i in range(3))
    code_out = run("history", 25544, "--db", db)
    assert code_out.returncode == 0
    lines = code_out.stdout.splitlines()
    assert len(lines) == 3 and all(" 25544 " in f" {ln} " for ln in lines)
    stamps = [ln.split()[1] for ln in lines]
    assert stamps == sorted(stamps)


def test_at_on_boundaries(loaded, data, capsys):
    db, _ = loaded
    iss = [next(es for es in oor.read_elements(data / "catalogs" / name) if es.norad_id == 25544)
           for name, _ in CATALOGS]
    us = dt.timedelta(microseconds=1)
    with oor.open(db, read_only=True, create=False) as reg:
        assert reg.at(25544, iss[0].epoch - us) is None
        for i, es in enumerate(iss):
            assert reg.at(25544, es.epoch).same_text(es)
            assert reg.at(25544, es.epoch + us).same_text(es)
            if i:
                assert reg.at(25544, es.epoch - us).same_text(iss[i - 1])
        assert reg.at(25544, "2100-01-01").same_text(iss[2])
        assert reg.latest(25544).same_text(iss[2])
    # the same through the CLI, with ISO 8601 times
    t = iss[1].epoch
    code, out, _ = cli(capsys, "get", 25544, "--db", db, "--at", t.isoformat().replace("+00:00", "Z"), "--format", "tle")
    assert code == 0 and out == iss[1].line1 + "\n" + iss[1].line2 + "\n"
    code, out, _ = cli(capsys, "get", 25544, "--db", db, "--at", (t - us).isoformat(), "--format", "tle")
    assert code == 0 and out.splitlines()[0] == iss[0].line1
    code, out, err = cli(capsys, "get", 25544, "--db", db, "--at", "1990-01-01")
    assert code == 1 and out == "" and "25544" in err


def test_scan_returns_one_set_per_object(loaded, data, capsys):
    db, _ = loaded
    ids = set()
    for f in sorted(data.rglob("*")):
        if f.suffix in (".3le", ".tle", ".xml"):
            ids.update(es.norad_id for es in oor.read_elements(f))
    with oor.open(db, read_only=True, create=False) as reg:
        got = list(reg.scan())
        assert [e.norad_id for e in got] == sorted(ids)
        for es in got[::97]:
            assert es == reg.latest(es.norad_id)
        part = list(reg.scan(25000, 26000))
        assert [e.norad_id for e in part] == sorted(i for i in ids if 25000 <= i <= 26000)
        assert reg.stats()["objects"] == len(ids)
    code, out, _ = cli(capsys, "scan", 25544, 25544, "--db", db)
    assert code == 0 and len(out.splitlines()) == 1 and out.split()[0] == "25544"
    code, out, _ = cli(capsys, "scan", "--db", db)
    assert code == 0 and len(out.splitlines()) == len(ids)


def test_find(loaded, capsys):
    db, _ = loaded
    with oor.open(db, read_only=True, create=False) as reg:
        iss = reg.find("ISS")
        assert 25544 in [e.norad_id for e in iss]
        assert [e.norad_id for e in iss] == sorted(e.norad_id for e in iss)
        assert [e.norad_id for e in reg.find("iss (zarya)")] == [25544]
        assert [e.norad_id for e in reg.find("1998-067A")] == [25544]
        assert [e.norad_id for e in reg.find("98067A")] == [25544]
        launch = reg.find("1998-067")
        assert len(launch) > 10 and all(e.cospar_id.startswith("1998-067") for e in launch)
        assert reg.find("no such satellite name") == []
    code, out, _ = cli(capsys, "find", "ISS", "--db", db)
    assert code == 0 and any(line.split()[0] == "25544" for line in out.splitlines())
    assert cli(capsys, "find", "zzzz-no-such", "--db", db)[0] == 1


def test_export_reproduces_input_bytes(data, tmp_path, capsys):
    db = tmp_path / "x.oor"
    src = data / "catalogs" / "catalog-2022-07.3le"
    assert cli(capsys, "load", src, "--db", db, "--quiet")[0] == 0
    out = tmp_path / "out.3le"
    code, _, err = cli(capsys, "export", "--db", db, "--all", "-o", out)
    assert code == 0 and "24,132" in err
    assert out.read_bytes() == src.read_bytes()           # sorted by id, LF ends: byte for byte
    # a CRLF catalog: every line identical once the line ending is removed
    db2 = tmp_path / "y.oor"
    src2 = data / "catalogs" / "catalog-2022-01.3le"
    assert cli(capsys, "load", src2, "--db", db2, "--quiet")[0] == 0
    code, text, _ = cli(capsys, "export", "--db", db2)
    assert code == 0
    assert text.splitlines() == src2.read_bytes().decode("ascii").splitlines()


def test_export_history_tle_and_subprocess(data, tmp_path):
    db = tmp_path / "j.oor"
    src = data / "history" / "Jason-1.tle"
    p = run("load", src, "--db", db)
    assert p.returncode == 0 and counts(p.stdout)["ins"] == 3998
    p = run("export", "--db", db, "--all", "--format", "tle")
    assert p.returncode == 0
    assert p.stdout.encode("ascii") == src.read_bytes()   # sgp4's exporter manages 0.5% of these
    p = run("export", "--db", db, "--format", "tle")      # latest only: the last pair of the file
    assert p.stdout.splitlines() == src.read_text().splitlines()[-2:]


def test_export_formats_round_trip(data, tmp_path, capsys):
    db = tmp_path / "i.oor"
    src = data / "omm" / "iridium-2023-10-26.3le"
    assert cli(capsys, "load", src, "--db", db, "--quiet")[0] == 0
    want = sorted(oor.read_elements(src), key=lambda e: e.norad_id)
    for fmt in ("omm-xml", "omm-json", "omm-csv", "3le", "tle"):
        out = tmp_path / f"e.{fmt}"
        assert cli(capsys, "export", "--db", db, "--format", fmt, "-o", out)[0] == 0
        back = list(oor.read_elements(out))
        assert len(back) == IRIDIUM
        assert all(a.same_elements(b) for a, b in zip(back, want)), fmt
    code, out, _ = cli(capsys, "export", "--db", db, "--at", "2000-01-01")
    assert code == 0 and out == ""


def test_get_formats_and_alpha5(loaded, capsys):
    db, _ = loaded
    code, out, _ = cli(capsys, "get", "25544", "--db", db)
    assert code == 0 and out.splitlines()[0].endswith("ISS (ZARYA)") and out.splitlines()[1].startswith("1 25544U")
    code, out, _ = cli(capsys, "get", "25544", "--db", db, "--format", "json")
    assert code == 0 and '"NORAD_CAT_ID"' in out and "25544" in out
    code, out, _ = cli(capsys, "get", "T0288", "--db", db, "--format", "tle")
    assert code == 0 and out.startswith("1 T0288")
    code, out, err = cli(capsys, "get", "999999", "--db", db)
    assert code == 1 and "999999" in err


def test_stats_and_check(loaded, capsys):
    db, _ = loaded
    code, out, _ = cli(capsys, "stats", "--db", db, "--json")
    assert code == 0
    import json
    st = json.loads(out)
    assert st["element_sets"] >= 23_939 + HISTORY_TOTAL
    code, out, _ = cli(capsys, "stats", "--db", db)
    assert code == 0 and "objects" in out and "tree elsets" in out
    code, out, _ = cli(capsys, "check", "--db", db)
    assert code == 0 and out.strip().endswith("ok")


def test_check_opens_a_small_pool(loaded, capsys, monkeypatch):
    # oor check reads each page once: it opens with CHECK_POOL_PAGES frames (1 MiB), not the default 32 MiB
    # whose frames the kernel had to zero as the walk touched them -- and still checks a file of many times
    # that many pages (corruption found in it: test_check_names_a_corrupt_page)
    import oor.cli as cli_mod
    db, _ = loaded
    seen = []

    class Spy(cli_mod.Registry):
        def __init__(self, *a, **kw):
            seen.append(kw.get("pool_pages"))
            super().__init__(*a, **kw)
            seen.append(self.db.stats()["page_count"])

    monkeypatch.setattr(cli_mod, "Registry", Spy)
    code, out, _ = cli(capsys, "check", "--db", db)
    assert code == 0 and out.strip().endswith("ok")
    assert seen[0] == cli_mod.CHECK_POOL_PAGES == 256 and seen[1] > 10 * cli_mod.CHECK_POOL_PAGES


def test_a_command_builds_only_its_parser(loaded):
    # a fresh `oor check` builds the parser of check alone, so oor.query (three commands' parsers) is not
    # imported; --help, no command or an unknown one still see every command
    db, _ = loaded
    code = ("import sys; from oor.cli import main; rc = main(['check', '--db', sys.argv[1]]); "
            "assert 'oor.query' not in sys.modules, 'oor.query imported'; sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=120,
                       cwd=os.path.dirname(os.path.dirname(__file__)))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().endswith("ok")
    p = run("--help")
    assert p.returncode == 0 and all(c in p.stdout for c in ("check", "query", "merge", "screen", "prune"))
    p = run("chek", "--db", db)
    assert p.returncode == 2 and "invalid choice" in p.stderr and "check" in p.stderr
    p = run("check", "--bogus")
    assert p.returncode == 2 and "unrecognized arguments: --bogus" in p.stderr


# ---- bad input ---------------------------------------------------------------------------------------
def _sample_lines(data, n_sets):
    """The first n_sets 3LE sets of a real catalog, as a list of lines (no endings)."""
    lines = (data / "catalogs" / "catalog-2022-07.3le").read_text().splitlines()
    return lines[:3 * n_sets]


def _corrupt_checksum(line):
    return line[:68] + str((int(line[68]) + 1) % 10)


def test_malformed_lines_among_good_ones(data, tmp_path, capsys):
    lines = _sample_lines(data, 20)
    good = [oor.alpha5_decode(lines[3 * i + 1][2:7]) for i in range(20) if i not in (5, 12)]
    lines[3 * 5 + 1] = _corrupt_checksum(lines[3 * 5 + 1])      # set 6: bad checksum on line 17
    lines[3 * 12 + 2] = lines[3 * 12 + 2][:30]                  # set 13: line 2 cut short (line 39)
    lines.insert(51, "this line is not part of any element set and is long enough to be data")
    f = tmp_path / "bad.3le"
    f.write_text("\n".join(lines) + "\n")
    db = tmp_path / "b.oor"
    code, out, err = cli(capsys, "load", f, "--db", db)
    assert code == 1
    assert counts(out)["rej"] == 3 and counts(out)["ins"] == 18
    rejected = [ln for ln in err.splitlines() if ln.startswith(str(f) + ":")]
    assert len(rejected) == counts(out)["rej"]
    numbers = [int(ln.split(":")[1]) for ln in rejected]
    assert 17 in numbers
    assert any(38 <= n <= 39 for n in numbers)
    assert 52 in numbers
    assert all(re.match(r"^.+:\d+: \S", ln) for ln in rejected)
    with oor.open(db, read_only=True, create=False) as reg:
        assert [e.norad_id for e in reg.scan()] == sorted(good)
        assert reg.check() == []
    # the same through a real process: exit 1, same lines
    p = run("load", f, "--db", tmp_path / "b2.oor")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert [ln for ln in p.stderr.splitlines() if ln.startswith(str(f) + ":")] == rejected


def test_strict_stores_nothing(data, tmp_path, capsys):
    """Depends on abort (the write-ahead log): the sets before the bad one must be undone."""
    lines = _sample_lines(data, 30)
    lines[3 * 20 + 1] = _corrupt_checksum(lines[3 * 20 + 1])     # line 62
    f = tmp_path / "bad.3le"
    f.write_text("\n".join(lines) + "\n")
    db = tmp_path / "s.oor"
    code, out, err = cli(capsys, "load", f, "--db", db, "--strict")
    assert code == 2
    assert f"{f}:62:" in err
    assert "Traceback" not in err
    with oor.open(db, create=False, read_only=True) as reg:
        assert list(reg.scan()) == []
        assert reg.check() == []


def test_text_file_as_db(tmp_path, capsys):
    short = tmp_path / "notes.txt"
    short.write_text("these are my notes\n")
    long = tmp_path / "long.txt"
    long.write_text("a line of text that is not a database page\n" * 200)
    for f in (short, long):
        before = f.read_bytes()
        for args in (("get", 25544), ("load", short), ("check",)):
            code, out, err = cli(capsys, *args, "--db", f)
            assert code == 2
            assert err.startswith(f"oor: {f}: not an OOR database (") and err.count("\n") == 1
        assert f.read_bytes() == before
    assert "bad magic" in cli(capsys, "stats", "--db", long)[2]
    p = run("get", 25544, "--db", long)
    assert p.returncode == 2 and "NotAnOorFileError" not in p.stderr and "Traceback" not in p.stderr
    assert p.stderr.startswith(f"oor: {long}: not an OOR database (bad magic")
    with pytest.raises(oor.NotAnOorFileError):
        oor.open(long)
    # nothing left beside the user's files (no lock file, no log directory)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.txt", "notes.txt"]


def test_second_writer_process_is_refused(data, tmp_path, capsys):
    db = tmp_path / "locked.oor"
    oor.open(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, oor; r = oor.open(sys.argv[1]); print('ready', flush=True); "
         "sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        code, out, err = cli(capsys, "load", data / "omm" / "iridium-2023-10-26.3le", "--db", db)
        assert time.monotonic() - t0 < 5            # at once, not a hang
        assert code == 2
        assert f"locked by process {holder.pid}" in err
        with pytest.raises(oor.DatabaseLockedError) as ei:
            oor.open(db)
        assert ei.value.pid == holder.pid
        p = run("checkpoint", "--db", db)
        assert p.returncode == 2 and str(holder.pid) in p.stderr and "Traceback" not in p.stderr
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert cli(capsys, "load", data / "omm" / "iridium-2023-10-26.3le", "--db", db, "-q")[0] == 0


def test_empty_file(tmp_path, capsys):
    empty = tmp_path / "empty.tle"
    empty.write_bytes(b"")
    db = tmp_path / "e.oor"
    code, out, err = cli(capsys, "load", empty, "--db", db)
    assert code == 0
    assert counts(out) == {"ins": 0, "rep": 0, "unc": 0, "rej": 0}
    assert "no element sets found" in err
    # an empty file as --db: a new registry for load, "not an OOR database" for a query
    empty_db = tmp_path / "empty.oor"
    empty_db.write_bytes(b"")
    code, _, err = cli(capsys, "get", 5, "--db", empty_db)
    assert code == 2 and "not an OOR database (empty file)" in err


def test_directory(tmp_path, capsys):
    d = tmp_path / "adir"
    d.mkdir()
    db = tmp_path / "d.oor"
    code, _, err = cli(capsys, "load", d, "--db", db)
    assert code == 2 and err == f"oor: {d}: is a directory, not an element-set file\n"
    assert not db.exists()
    code, _, err = cli(capsys, "get", 5, "--db", d)
    assert code == 2 and "is a directory" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "load", d, "--db", d)
    assert code == 2


def test_missing_file(data, tmp_path, capsys):
    db = tmp_path / "m.oor"
    good = data / "omm" / "iridium-2023-10-26.3le"
    code, _, err = cli(capsys, "load", good, tmp_path / "nope.tle", "--db", db)
    assert code == 2 and err == f"oor: {tmp_path / 'nope.tle'}: no such file\n"
    assert not db.exists()                            # checked before anything is stored
    code, _, err = cli(capsys, "get", 5, "--db", tmp_path / "nope.oor")
    assert code == 2 and "no such database" in err
    assert not (tmp_path / "nope.oor").exists()
    p = run("load", tmp_path / "nope.tle", "--db", db)
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_usage_errors(tmp_path, capsys):
    assert cli(capsys, )[0] == 2
    assert cli(capsys, "get", "not-a-number", "--db", tmp_path / "x.oor")[0] == 2
    assert cli(capsys, "get", "5")[0] == 2                          # --db missing
    assert cli(capsys, "history", "5", "--db", tmp_path / "x.oor", "--since", "yesterday")[0] == 2
    assert cli(capsys, "load", "x", "--db", tmp_path / "x.oor", "--format", "pdf")[0] == 2
    code, out, _ = cli(capsys, "--help")
    assert code == 0 and "load" in out


def test_stdin_and_source(data, tmp_path):
    db = tmp_path / "s.oor"
    text = (data / "omm" / "iridium-2023-10-26.xml").read_text()
    p = run("load", "-", "--db", db, "--source", "celestrak", "--format", "omm-xml", stdin=text)
    assert p.returncode == 0 and counts(p.stdout)["ins"] == IRIDIUM
    with oor.open(db, read_only=True, create=False) as reg:
        assert reg.sources() == {"celestrak": 1}
        assert all(e.source == "celestrak" for e in reg.scan())


def test_check_names_a_broken_index(data, tmp_path, capsys):
    db = tmp_path / "c.oor"
    assert cli(capsys, "load", data / "omm" / "iridium-2023-10-26.3le", "--db", db, "-q")[0] == 0
    with oor.open(db) as reg:
        with reg.transaction():
            names = reg.db.tree("names")
            key = next(iter(names.keys()))
            names.delete(key)
            reg.db.tree("cospar").upsert(b"2099-999Z\x00\x00\x00\x00\x07", b"\x00\x00\x00\x01")
    code, out, err = cli(capsys, "check", "--db", db)
    assert code == 1
    assert "index names: missing entry" in out and "index cospar: stale entry ('2099-999Z', 7)" in out


def test_check_names_a_corrupt_page(data, tmp_path, capsys):
    db = tmp_path / "p.oor"
    assert cli(capsys, "load", data / "catalogs" / "catalog-2022-07.3le", "--db", db, "-q")[0] == 0
    page = 100
    with open(db, "r+b") as f:
        f.seek(page * 4096 + 2000)
        b = f.read(1)
        f.seek(page * 4096 + 2000)
        f.write(bytes([b[0] ^ 0xFF]))
    code, out, err = cli(capsys, "check", "--db", db)
    assert code != 0
    assert f"page {page}" in out + err
    assert "Traceback" not in err


def test_progress_bar_only_on_a_terminal(data, tmp_path):
    # not a terminal: no carriage returns on stderr, whatever the load time
    p = run("load", data / "catalogs" / "catalog-2022-01.3le", "--db", tmp_path / "p.oor")
    assert p.returncode == 0 and "\r" not in p.stderr and p.stderr == ""

    class TTY(io.StringIO):
        def isatty(self):
            return True

    stream = TTY()
    clock = [0.0]
    prog = LoadProgress(stream, [("f.tle", None)], clock=lambda: clock[0], columns=80)
    prog(oor.LoadReport(inserted=10))
    assert stream.getvalue() == ""                  # under a second: nothing drawn
    clock[0] = 2.0
    prog(oor.LoadReport(inserted=5000))
    assert stream.getvalue().startswith("\rf.tle  ") and "5,000 sets" in stream.getvalue()
    prog.finish()
    assert stream.getvalue().endswith("\r\033[K")
