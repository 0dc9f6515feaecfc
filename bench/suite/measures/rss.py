"""The ``rss`` measure: peak RSS (VmHWM) of a fresh process loading the stream file's sets, per engine.

Each engine's load runs in its own child (children/rss_load.py) so that nothing the parent holds counts: OOR a
registry load with a 16 MB pool, SQLite a 16 MB cache, LMDB plain write transactions.  The child's start and end
high-water marks, its sets stored, its seconds and its RSS samples go into the JSON beside the peak.

Caller: ``suite.cli``.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ..children import script
from ..engines import anchors


def peak_rss(res, tmp, stream, n, cfg):
    vals, extra = {}, {}
    for name in ["oor"] + [E.name for E in anchors() if E.name in ("lmdb", "sqlite")]:
        d = tempfile.mkdtemp(dir=tmp)
        path = os.path.join(d, "rss.db")
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, script("rss_load"), name, path, stream, str(n), "16"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"rss child {name}: {p.stderr[-3000:]}")
        first, second = p.stdout.splitlines()[:2]
        base, peak, count = first.split()
        vals[name] = float(peak)
        extra[name] = {"start_mb": float(base), "peak_mb": float(peak), "sets": int(count),
                       "seconds": time.perf_counter() - t0, "rss_samples_mb": second}
        shutil.rmtree(d, ignore_errors=True)
    res.add("rss", "MB", "lower", vals,
            f"peak RSS (VmHWM) of a fresh process loading {n:,} sets: OOR registry load with a 16 MB pool "
            "(10k-set transactions); SQLite 16 MB cache, 10k-row transactions; LMDB 10k-put transactions "
            "(its RSS counts the mapped file pages it touched)", extra)
