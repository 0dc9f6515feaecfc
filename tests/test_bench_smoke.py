"""Smoke test of the benchmark harness: ``bench/run.py --quick`` on a tiny slice completes and reports every ratio.

Asserts structure only (keys present, values positive), never timing, so it cannot be flaky on a slow or busy
machine.  Needs the real data (../shared/data or OOR_DATA) and py-lmdb / sgp4 (the ``bench`` extra) for the
anchors whose ratios it checks; it skips otherwise.
"""
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

# every measure, and the anchors each one must carry a ratio for
EXPECTED = {
    "unsorted": ("lmdb", "sqlite"), "bulk": ("lmdb", "sqlite"), "latest": ("lmdb", "sqlite"),
    "at": ("lmdb", "sqlite"), "scan": ("lmdb", "sqlite"), "history": ("lmdb", "sqlite"),
    "commit": ("lmdb", "sqlite"), "group": ("lmdb", "sqlite"), "recovery": ("sqlite",),
    "rss": ("lmdb", "sqlite"), "reg_latest": ("lmdb", "sqlite"), "reg_at": ("lmdb", "sqlite"),
    "reg_history": ("lmdb", "sqlite"), "parse": ("sgp4",), "ingest": ("lmdb", "sqlite"),
}
TARGETS = {"latest", "scan", "bulk", "commit", "ingest", "recovery", "rss"}


def test_quick_run_reports_every_ratio(tmp_path):
    out = tmp_path / "quick.json"
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"), "--quick", "--sets", "400",
                        "--out", str(out), "--no-chart"],
                       capture_output=True, text=True, timeout=240, cwd=str(tmp_path))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
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
