"""The data of the user-level benchmark (issue 17): the files a user ingests, the synthetic scales, the probes.

Owns: the real file list (the 3 catalogs of ../shared/data/catalogs as source "celestrak", the 15 files of
../shared/data/history as "space-track": 18 text files, 102k sets), the synthetic scales made from them
(``--scale 1m`` / ``10m``: copy k of every real set with its epoch moved back by k times a per-object interval of
0.5-3 days, +-10 % jitter per copy, and a fresh line-1 checksum; written once as text into a cache dir outside
the project, ``/tmp/oor-bench-user/<scale>/``, reused while its ``done`` mark names the same recipe) and the
seeded probes every engine is asked (random ids for latest, (id, datetime) pairs for at, 1,000 ids for history,
the 15 deep objects, 10 name prefixes).  Everything is built before any timing starts.

The epoch is moved in exact integer units of 1e-8 day (the TLE field's resolution), so no rounding can
produce an invalid field; only the epoch and the checksum of line 1 change.

Caller: bench/user.py (the harness) and tests/test_bench_smoke.py (through the harness).
"""
import datetime as dt
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("OOR_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
CACHE = os.environ.get("OOR_BENCH_CACHE", "/tmp/oor-bench-user")
CAT_DIR = os.path.join(DATA, "catalogs")
HIST_DIR = os.path.join(DATA, "history")
SCALES = {"real": 1, "1m": 10, "10m": 98}        # copies of the real set (102,725 sets each)
RECIPE = "v1 shift k*interval(0.5-3 d, seed norad) jitter 10% units 1e-8 d"
PREFIXES = ["STARLINK", "COSMOS 2", "ISS", "NOAA", "IRIDIUM", "GPS", "ONEWEB", "FENGYUN", "SL-", "CZ-"]
E1950 = dt.datetime(1950, 1, 1, tzinfo=dt.timezone.utc)
UNITS = 100_000_000                               # 1e-8 day


def real_files():
    """[(path, source name)] of the 18 real text files, catalogs first, each list sorted."""
    cats = sorted(os.path.join(CAT_DIR, f) for f in os.listdir(CAT_DIR) if f.endswith(".3le"))
    hist = sorted(os.path.join(HIST_DIR, f) for f in os.listdir(HIST_DIR) if f.endswith(".tle"))
    return [(p, "celestrak") for p in cats] + [(p, "space-track") for p in hist]


def read_triples(path):
    """(name or '', line1, line2) of a 3LE or 2-line file: the plain split the peers' ingest also uses."""
    with open(path, encoding="ascii", errors="replace") as f:
        lines = [ln.rstrip("\r\n ") for ln in f]
    out = []
    name = ""
    i = 0
    n = len(lines)
    while i < n:
        ln = lines[i]
        if ln.startswith("1 ") and i + 1 < n and lines[i + 1].startswith("2 "):
            out.append((name, ln, lines[i + 1]))
            name = ""
            i += 2
            continue
        name = ln[2:] if ln.startswith("0 ") else ln
        i += 1
    return out


def checksum(line68):
    s = 0
    for c in line68:
        if c.isdigit():
            s += ord(c) - 48
        elif c == "-":
            s += 1
    return str(s % 10)


_YEAR_START = {}


def _year_start_days(year):
    d = _YEAR_START.get(year)
    if d is None:
        d = _YEAR_START[year] = (dt.date(year, 1, 1) - dt.date(1950, 1, 1)).days
    return d


def shift_line1(l1, units):
    """line 1 with its epoch moved back by ``units`` (1e-8 day) and a fresh checksum."""
    f = l1[18:32]
    yy = int(f[:2])
    year = 1900 + yy if yy >= 57 else 2000 + yy
    total = (_year_start_days(year) + int(f[2:5]) - 1) * UNITS + int(f[6:14]) - units
    while total < _year_start_days(year) * UNITS:
        year -= 1
    day, frac = divmod(total - _year_start_days(year) * UNITS, UNITS)
    new = f"{year % 100:02d}{day + 1:03d}.{frac:08d}"
    out = l1[:18] + new + l1[32:68]
    return out + checksum(out)


def scale_files(scale, log=print):
    """[(path, source)] of a scale: the real files, then copies 1.. as text files in the cache dir."""
    files = real_files()
    copies = SCALES[scale]
    if copies == 1:
        return files
    d = os.path.join(CACHE, scale)
    mark = os.path.join(d, "done")
    out = list(files)
    names = [(os.path.join(d, f"copy{k:03d}-{kind}"), src) for k in range(1, copies)
             for kind, src in (("cat.3le", "celestrak"), ("hist.tle", "space-track"))]
    if os.path.exists(mark) and open(mark).read() == RECIPE and all(os.path.exists(p) for p, _ in names):
        return out + names
    os.makedirs(d, exist_ok=True)
    log(f"data: generating {scale} ({copies - 1} shifted copies of the real set) into {d} ...")
    triples = [(src, read_triples(p)) for p, src in files]
    intervals = {}
    for k in range(1, copies):
        for kind, want, ext in (("cat", "celestrak", "3le"), ("hist", "space-track", "tle")):
            path = os.path.join(d, f"copy{k:03d}-{kind}.{ext}")
            with open(path + ".tmp", "w", encoding="ascii") as f:
                w = f.write
                for src, tr in triples:
                    if src != want:
                        continue
                    for name, l1, l2 in tr:
                        nid = l1[2:7]
                        iv = intervals.get(nid)
                        if iv is None:
                            iv = intervals[nid] = random.Random(nid).uniform(0.5, 3.0)
                        jit = random.Random(f"{nid}/{k}/{l1[18:32]}").uniform(-0.1, 0.1)
                        l1s = shift_line1(l1, int(k * iv * (1 + jit / k) * UNITS))
                        if ext == "3le":
                            w(f"0 {name}\n{l1s}\n{l2}\n")
                        else:
                            w(f"{l1s}\n{l2}\n")
            os.replace(path + ".tmp", path)
    with open(mark, "w") as f:
        f.write(RECIPE)
    return out + names


def subset_files(limit_sets, tmp):
    """The quick subset: the first ``limit_sets`` sets of each real file, written into tmp (smoke runs)."""
    out = []
    for p, src in real_files():
        tr = read_triples(p)[:limit_sets]
        q = os.path.join(tmp, os.path.basename(p))
        with open(q, "w", encoding="ascii") as f:
            for name, l1, l2 in tr:
                f.write(f"0 {name}\n{l1}\n{l2}\n" if p.endswith(".3le") else f"{l1}\n{l2}\n")
        out.append((q, src))
    return out


class Probes:
    """What every engine is asked, drawn once (seeded) from the files: ids, (id, datetime) pairs, prefixes."""

    def __init__(self, files, n_latest=50_000, n_at=20_000, n_hist=1_000, seed=17, back_days=0.0):
        """files: the real files (probes are drawn from them); back_days: how far the synthetic copies reach
        back before an object's first real set (the at() times are drawn over that span too)."""
        from sgp4.api import Satrec
        rng = random.Random(seed)
        rng_span = {}
        deep = []
        for p, src in files:
            tr = read_triples(p)
            first = None
            for _name, l1, l2 in tr:
                s = Satrec.twoline2rv(l1, l2)
                us = round(((s.jdsatepoch - 2433282.5) + s.jdsatepochF) * 86_400_000_000)
                lo, hi = rng_span.get(s.satnum, (us, us))
                rng_span[s.satnum] = (min(lo, us), max(hi, us))
                if first is None:
                    first = s.satnum
            if src == "space-track" and first is not None:
                deep.append(first)
        self.norads = sorted(rng_span)
        self.latest_ids = [rng.choice(self.norads) for _ in range(n_latest)]
        self.at_probes = []
        day = 86_400_000_000
        for _ in range(n_at):
            n = rng.choice(self.norads)
            lo, hi = rng_span[n]
            us = rng.randrange(lo - int((10 + back_days) * day), hi + 10 * day + 1)
            self.at_probes.append((n, E1950 + dt.timedelta(microseconds=us)))
        self.hist_ids = rng.sample(self.norads, min(n_hist, len(self.norads)))
        self.deep_ids = sorted(set(deep))
        self.prefixes = list(PREFIXES)
