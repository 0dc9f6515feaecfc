"""OMM and TLE readers of OOR against sgp4's, on catalog-sized files written by OOR's own writers.

Run: ``python bench/bench_omm.py [--rounds N] [--json FILE]``.  For each real catalog in
../shared/data/catalogs the sets are read once and written out by OOR as OMM XML, JSON, CSV and
KVN (in memory).  Each round times every engine once, alternating OOR and sgp4 on the same bytes,
so machine load hits both alike; the figures are the median over rounds and the ratio's spread
(min-max over rounds).  Engines (sgp4's where it has one):

  xml   oor read_elements  vs  sgp4.omm.parse_xml (dicts of text; no Satrec)
  csv   oor read_elements  vs  sgp4.omm.parse_csv (dicts of text; no Satrec)
  json  oor read_elements  vs  json.load + sgp4.omm.initialize (a Satrec per set)
  kvn   oor read_elements  (sgp4 has no KVN reader; the goal is only >= 100k sets/s)
  tle   oor parse_tle on the line pairs  vs  sgp4 Satrec.twoline2rv

Goals (issue 14): every OMM reader at least as fast as sgp4's (ratio oor/sgp4 time <= 1.0) and
>= 100k sets/s; TLE parsing <= 0.5x sgp4's time.
Who may import: nobody (a script).
"""
import argparse
import gc
import io
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from oor.codec import format_elements, parse_tle, read_elements  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "data", "catalogs")


def _time(fn):
    gc.collect()
    t = time.perf_counter()
    n = fn()
    return time.perf_counter() - t, n


def engines(sets):
    """name -> (oor callable, sgp4 callable or None); each returns the number of sets it read."""
    from sgp4 import omm
    from sgp4.api import Satrec
    xml = format_elements(sets, "xml").encode()
    csv_text = format_elements(sets, "csv")
    js = format_elements(sets, "json").encode()
    kvn = format_elements(sets, "kvn").encode()
    pairs = [(es.line1, es.line2) for es in sets]

    def oor_reader(data):
        return lambda: sum(1 for _ in read_elements(io.BytesIO(data)))

    def sgp4_json():
        n = 0
        for fields in json.load(io.BytesIO(js)):
            omm.initialize(Satrec(), fields)
            n += 1
        return n

    return {
        "xml": (oor_reader(xml), lambda: sum(1 for _ in omm.parse_xml(io.BytesIO(xml)))),
        "csv": (oor_reader(csv_text.encode()), lambda: sum(1 for _ in omm.parse_csv(io.StringIO(csv_text)))),
        "json": (oor_reader(js), sgp4_json),
        "kvn": (oor_reader(kvn), None),
        "tle": (lambda: sum(1 for a, b in pairs if parse_tle(a, b)),
                lambda: sum(1 for a, b in pairs if Satrec.twoline2rv(a, b))),
    }


def run(rounds, files):
    results = {}
    for path in files:
        sets = list(read_elements(path))
        name = os.path.basename(path)
        eng = engines(sets)
        for fmt, (ours, theirs) in eng.items():
            t_oor, t_sgp4 = [], []
            for r in range(rounds):
                order = [(ours, t_oor), (theirs, t_sgp4)] if r % 2 == 0 else [(theirs, t_sgp4), (ours, t_oor)]
                for fn, acc in order:
                    if fn is None:
                        continue
                    t, n = _time(fn)
                    assert n == len(sets), (fmt, n, len(sets))
                    acc.append(t)
            row = {"sets": len(sets), "oor_s": statistics.median(t_oor),
                   "oor_sets_per_s": len(sets) / statistics.median(t_oor)}
            if t_sgp4:
                ratios = [a / b for a, b in zip(t_oor, t_sgp4)]
                row.update(sgp4_s=statistics.median(t_sgp4), ratio=statistics.median(ratios),
                           ratio_min=min(ratios), ratio_max=max(ratios))
            results[f"{name}:{fmt}"] = row
            goal = 0.5 if fmt == "tle" else 1.0
            ok = (row.get("ratio", 0) <= goal) and (fmt == "tle" or row["oor_sets_per_s"] >= 100_000)
            ratio = (f"ratio {row['ratio']:.2f}x [{row['ratio_min']:.2f}-{row['ratio_max']:.2f}]"
                     if "ratio" in row else "ratio   -  (no sgp4 reader)")
            sgp = f"sgp4 {row['sgp4_s'] * 1e3:8.1f} ms" if "sgp4_s" in row else " " * 17
            print(f"{name:<22} {fmt:<5} oor {row['oor_s'] * 1e3:8.1f} ms {row['oor_sets_per_s']:>10,.0f} sets/s  "
                  f"{sgp}  {ratio}  goal {'<=' + str(goal) + 'x' if 'ratio' in row else ''}"
                  f"{'' if fmt == 'tle' else ' & >=100k/s'}: {'met' if ok else 'NOT MET'}", flush=True)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--quick", action="store_true", help="one catalog, 3 rounds")
    args = p.parse_args(argv)
    files = sorted(os.path.join(DATA, f) for f in os.listdir(DATA))
    if args.quick:
        files, args.rounds = files[1:2], 3
    results = run(args.rounds, files)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
