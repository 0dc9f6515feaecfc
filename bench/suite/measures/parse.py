"""The ``parse`` measure: the codec's ``read_elements`` against sgp4 on the lines of catalog-2022-07, us per set.

OOR: read_elements of the file (checksums, validation, ElementSet); sgp4: the same file's line split
(engines/sgp4.py ``tle_pairs``) + ``Satrec.twoline2rv`` per pair.  Median of ``rounds`` after one warm run.

Caller: ``suite.cli`` (only when sgp4 is importable).
"""
from oor.codec import read_elements

from ..data import CATALOG
from ..engines.sgp4 import Satrec, tle_pairs
from ..harness import median_time


def parse(res, cfg):
    pairs = tle_pairs(CATALOG)

    def ours():
        for _ in read_elements(CATALOG):
            pass

    def theirs():
        for _n, a, b in tle_pairs(CATALOG):
            Satrec.twoline2rv(a, b)
    ours()
    vals = {"oor": median_time(ours, cfg["rounds"]) / len(pairs) * 1e6,
            "sgp4": median_time(theirs, cfg["rounds"]) / len(pairs) * 1e6}
    res.add("parse", "us", "lower", vals, f"parse catalog-2022-07 ({len(pairs):,} sets) from the file: OOR "
            "read_elements (checksums, validation, ElementSet) vs sgp4 line split + Satrec.twoline2rv")
