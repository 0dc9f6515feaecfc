"""One time parser, the same result on every supported Python: a table of inputs and the instants they mean,
checked here and, when an older Python is installed (3.9 is the oldest supported), in that interpreter too
(``oor/times.py`` uses the standard library only, so it is loaded there by path, without the compiled core).
"""
import datetime as dt
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from oor import times
from oor.times import parse_duration, to_datetime, to_epoch_us
from times_table import BAD, DURATIONS, TABLE, results      # tests/times_table.py

TABLE_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "times_table.py")
TIMES_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "oor", "times.py")


def test_table():
    got = results(times)
    for text, want in TABLE.items():
        assert got[text] == want, text
    for text in BAD:
        assert got[text] == "ValueError", (text, got[text])
    for text, seconds in DURATIONS.items():
        assert got["duration " + text] == seconds * 1_000_000, text


def test_objects_and_errors():
    assert to_epoch_us(dt.datetime(2022, 7, 15, 12)) == to_epoch_us("2022-07-15T12:00Z")            # naive = UTC
    assert to_epoch_us(dt.datetime(2022, 7, 15, 14, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == \
        to_epoch_us("2022-07-15T12:00Z")
    assert to_epoch_us(dt.date(2022, 7, 15)) == to_epoch_us("2022-07-15")
    assert to_epoch_us(1657886400) == to_epoch_us(1657886400.0) == to_epoch_us("2022-07-15T12:00:00Z")
    assert to_datetime("22196.51021208") == dt.datetime(2022, 7, 15, 12, 14, 42, 323712, tzinfo=dt.timezone.utc)

    class SkyfieldLikeTime:
        def utc_datetime(self):
            return dt.datetime(2022, 7, 15, 12, tzinfo=dt.timezone.utc)
    assert to_epoch_us(SkyfieldLikeTime()) == to_epoch_us("2022-07-15T12Z")
    with pytest.raises(TypeError):
        to_epoch_us(True)
    with pytest.raises(TypeError):
        to_epoch_us([2022, 7, 15])
    with pytest.raises(ValueError) as ei:
        to_epoch_us("yesterday")
    assert "yesterday" in str(ei.value) and "2022-196" in str(ei.value) and "now-30d" in str(ei.value)
    assert abs(to_epoch_us("now") - times.now_us()) < 5_000_000
    assert parse_duration(dt.timedelta(days=2)) == 2 * 86_400_000_000 and parse_duration(90) == 90_000_000
    for bad in ("14", "x", "-1d", "", "P"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def _older_pythons():
    """Interpreters older than this one that are installed and run (pyenv's versions, PATH), oldest first."""
    found = {}
    for minor in range(9, sys.version_info[1]):
        cands = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}")))
        which = shutil.which(f"python3.{minor}")
        for exe in cands[::-1] + ([which] if which else []):
            try:
                ok = subprocess.run([exe, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
            except OSError:
                ok = False
            if ok:                                # a pyenv shim without that version installed exits 127
                found[minor] = exe
                break
    return [found[k] for k in sorted(found)]


SCRIPT = """
import importlib.util, json, sys
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
print(json.dumps(load("times_table", sys.argv[2]).results(load("oor_times", sys.argv[1]))))
"""


@pytest.mark.skipif(sys.version_info < (3, 10), reason="this is the oldest Python: test_table covers it")
def test_same_results_on_the_oldest_python_installed():
    olds = _older_pythons()
    if not olds:
        pytest.skip("no older Python installed (python3.9 on PATH or in ~/.pyenv)")
    for exe in olds[:1]:                              # the oldest one
        p = subprocess.run([exe, "-c", SCRIPT, TIMES_PY, TABLE_PY], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        assert json.loads(p.stdout) == json.loads(json.dumps(results(times))), exe


