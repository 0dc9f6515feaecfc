"""Smoke tests of the benchmark harnesses: the user-level one (``bench/run.py --quick``: a few hundred sets of each
real file, one round) and the internal micro benchmarks (``bench/run.py --internal --quick`` on a tiny slice).

Assert structure only (operations present, values positive, every goal judged), never timing, so they cannot be
flaky on a slow or busy machine.  Need the real data (../shared/data or OOR_DATA) and py-lmdb / sgp4 (the
``bench`` extra); they skip otherwise.  The user-level peers that do not import (rocksdict, duckdb, berkeleydb)
are skipped by the harness with a note, and the test asks only for those that import.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("OOR_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))

pytest.importorskip("lmdb")
pytest.importorskip("sgp4")
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(DATA, "catalogs", "catalog-2022-07.3le")),
                                reason="real data not found")


def _run(args, tmp_path, timeout=240, **extra_env):
    env = dict(os.environ, **extra_env)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"), *args],
                       capture_output=True, text=True, timeout=timeout, cwd=str(tmp_path), env=env)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    return p


# ---- user level (issue 17) -------------------------------------------------------------------------------
USER_OPS = {"ingest", "latest", "at", "history", "deep", "scan", "find", "export", "size", "check", "check_rss"}


def test_user_level_quick_run_reports_every_ratio(tmp_path):
    out = tmp_path / "user.json"
    p = _run(["--quick", "--no-profile", "--out", str(out)], tmp_path)
    doc = json.loads(out.read_text())
    s = doc["summary"]
    assert USER_OPS <= set(s), USER_OPS - set(s)
    peers = ["sqlite", "lmdb"] + [n for n, mod in (("rocksdb", "rocksdict"), ("duckdb", "duckdb"))
                                  if importlib.util.find_spec(mod) is not None]
    for op in USER_OPS:
        assert s[op]["median"]["oor"] > 0, op
        for peer in s[op]["ratios"]:
            r = s[op]["ratios"][peer]
            assert 0 < r["min"] <= r["median"] <= r["max"], (op, peer, r)
    for peer in peers:                                   # every importable peer ingests, scans and exports
        for op in ("ingest", "scan", "find", "export", "size"):
            assert peer in s[op]["ratios"], (op, peer)
    for op in ("latest", "at", "history", "deep"):      # point reads: not DuckDB's job (as in the issue)
        assert {"sqlite", "lmdb"} <= set(s[op]["ratios"]), op
        assert "duckdb" not in s[op]["ratios"]
    assert "sqlite" in s["check"]["ratios"]
    judged = {(g["op"], g["peer"]) for g in doc["goals"]}
    assert ("latest", "lmdb") in judged and ("check_rss", "abs") in judged and ("size", "sqlite") in judged
    assert all(isinstance(g["met"], bool) for g in doc["goals"])
    # the engines gave the same answers (counts of line pairs) for every operation
    assert not [n for n in doc["notes"] if "answer counts differ" in n], doc["notes"]
    assert "| operation" in p.stdout and "goal" in p.stdout


def test_user_level_reuses_a_cached_store_until_its_key_changes(tmp_path):
    """--reuse-stores (the default at --scale 10m): the first run builds each engine's store and times its
    ingest; the next reuses the stores, reports the build's ingest figure with a note saying so, and
    still times every read; --rebuild builds them again."""
    cache = tmp_path / "cache"
    args = ["--quick", "--no-profile", "--engines", "sqlite", "--ops", "latest,scan", "--reuse-stores"]
    docs = []
    for extra in ([], [], ["--rebuild"]):
        out = tmp_path / f"run{len(docs)}.json"
        _run(args + extra + ["--out", str(out)], tmp_path, OOR_BENCH_CACHE=str(cache))
        docs.append(json.loads(out.read_text()))
    first, again, rebuilt = docs
    assert {e: b["this_run"] for e, b in first["meta"]["stores"].items()} == {"oor": True, "sqlite": True}
    assert {e: b["this_run"] for e, b in again["meta"]["stores"].items()} == {"oor": False, "sqlite": False}
    assert all(b["this_run"] for b in rebuilt["meta"]["stores"].values())
    for e in ("oor", "sqlite"):
        assert again["summary"]["ingest"]["median"][e] == first["summary"]["ingest"]["median"][e]
        assert again["meta"]["stores"][e]["built"] == first["meta"]["stores"][e]["built"]
        assert again["summary"]["latest"]["median"][e] > 0 and again["summary"]["scan"]["median"][e] > 0
    assert [n for n in again["notes"] if n.startswith("ingest figures from the cached stores")], again["notes"]
    assert not [n for n in first["notes"] if n.startswith("ingest figures from the cached stores")]
    assert (cache / "quick-stores" / "oor" / "catalog.oor").exists()


# ---- internal micro benchmarks (issue 7) --------------------------------------------------------------------
# every measure, and the anchors each one must carry a ratio for
EXPECTED = {
    "unsorted": ("lmdb", "sqlite"), "bulk": ("lmdb", "sqlite"), "latest": ("lmdb", "sqlite"),
    "at": ("lmdb", "sqlite"), "scan": ("lmdb", "sqlite"), "history": ("lmdb", "sqlite"),
    "commit": ("lmdb", "sqlite"), "group": ("lmdb", "sqlite"), "recovery": ("sqlite",),
    "rss": ("lmdb", "sqlite"), "reg_latest": ("lmdb", "sqlite"), "reg_at": ("lmdb", "sqlite"),
    "reg_history": ("lmdb", "sqlite"), "parse": ("sgp4",), "ingest": ("lmdb", "sqlite"),
}
TARGETS = {"latest", "scan", "bulk", "commit", "ingest", "recovery", "rss"}


def test_internal_quick_run_reports_every_ratio(tmp_path):
    out = tmp_path / "quick.json"
    p = _run(["--internal", "--quick", "--sets", "400", "--out", str(out), "--no-chart"], tmp_path)
    doc = json.loads(out.read_text())
    measures = doc["measures"]
    assert set(EXPECTED) <= set(measures), set(EXPECTED) - set(measures)
    for name, want in EXPECTED.items():
        m = measures[name]
        assert m["values"]["oor"] > 0, name
        for anchor in want:
            assert anchor in m["ratios"], (name, anchor)
            r = m["ratios"][anchor]
            assert isinstance(r, float) and r > 0 and r == r, (name, anchor, r)
    assert measures["group"]["extra"]["oor_commits_per_fsync"] > 0
    assert measures["recovery"]["extra"]["oor_all_present"] is True
    assert {t["measure"] for t in doc["targets"]} == TARGETS
    for t in doc["targets"]:
        assert isinstance(t["met"], bool) and t["value"] > 0
    assert "NOT met" in p.stdout or "met" in p.stdout
