"""The ``ingest`` measure: catalog-2022-07 from the file to durable storage, end to end, median of ``rounds_load``.

OOR: ``oor.open(new).load(file)`` (parse, validate, 4 trees, fsync per 10k-set commit; the close, a checkpoint,
is not timed: engines/oor.py ``ingest``).  Anchors: read + sgp4 twoline2rv + one SQLite (or LMDB) transaction of
the 3LE text keyed by (norad, epoch), fsync (``sgp4_ingest`` of engines/sqlite.py and engines/lmdb.py).  Each
round in a fresh directory.  ``--profile`` adds a cProfile of OOR's load.

Caller: ``suite.cli`` (only when sgp4 is importable).
"""
import cProfile
import gc
import os
import shutil
import statistics
import tempfile
import time

import oor

from ..data import CATALOG
from ..engines import lmdb, sqlite
from ..engines.oor import ingest as oor_ingest
from ..harness import profile_text


def ingest(res, tmp, cfg, profile):
    def run(fn):
        out = []
        for _ in range(cfg["rounds_load"]):
            d = tempfile.mkdtemp(dir=tmp)
            gc.collect()
            out.append(fn(d))
            shutil.rmtree(d, ignore_errors=True)
        return statistics.median(out)

    def timed(fn):
        def wrapped(d):
            t0 = time.perf_counter()
            fn(d)
            return time.perf_counter() - t0
        return wrapped

    vals = {"oor": run(lambda d: oor_ingest(d, CATALOG)),
            "sqlite": run(timed(lambda d: sqlite.sgp4_ingest(CATALOG, os.path.join(d, "i.sqlite"))))}
    if lmdb.AVAILABLE:
        vals["lmdb"] = run(timed(lambda d: lmdb.sgp4_ingest(CATALOG, os.path.join(d, "i.lmdb"))))
    res.add("ingest", "s", "lower", vals,
            "end to end ingest of catalog-2022-07: OOR oor.open(new).load(file) (parse, validate, 4 trees, "
            "fsync per 10k-set commit; close not timed) vs read + sgp4 twoline2rv + one SQLite (or LMDB) "
            "transaction with (norad, epoch, 0, 3LE text), fsync")
    if profile:
        d = tempfile.mkdtemp(dir=tmp)
        reg = oor.open(os.path.join(d, "ingest.oor"))
        pr = cProfile.Profile()
        pr.enable()
        reg.load(CATALOG)
        pr.disable()
        reg.close()
        shutil.rmtree(d, ignore_errors=True)
        res.profiles["ingest"] = profile_text(pr)
