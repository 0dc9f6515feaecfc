"""Codec benchmarks: TLE parsing vs sgp4's Satrec.twoline2rv, and binary record encode/decode.

Run: ``python bench/bench_codec.py`` (prints the figures; best of 5 runs each).
The same measurements exist as pytest-benchmark functions, skipped in the
default test run (``--benchmark-skip``); run them with
``python -m pytest bench/bench_codec.py --benchmark-enable``.
"""
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oor.codec import decode_record, encode_record, parse_tle, read_elements  # noqa: E402

DATA = pathlib.Path(os.environ.get("OOR_DATA", ROOT.parent / "shared" / "data"))
CATALOG = DATA / "catalogs" / "catalog-2022-07.3le"


def pairs():
    lines = CATALOG.read_text().splitlines()
    return [(lines[i + 1], lines[i + 2]) for i in range(0, len(lines), 3)]


def best(fn, runs=5):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    from sgp4.api import Satrec
    ps = pairs()
    n = len(ps)

    def sgp4_all():
        for a, b in ps:
            Satrec.twoline2rv(a, b)

    def ours_pairs():
        for a, b in ps:
            parse_tle(a, b)

    def ours_file():
        for _ in read_elements(CATALOG):
            pass

    t_sgp4 = best(sgp4_all)
    t_pairs = best(ours_pairs)
    t_file = best(ours_file)
    sets = list(read_elements(CATALOG))
    recs = [encode_record(es) for es in sets]

    def enc():
        for es in sets:
            encode_record(es)

    def dec():
        for r in recs:
            decode_record(r)

    t_enc, t_dec = best(enc), best(dec)
    print(f"catalog-2022-07: {n} sets")
    print(f"sgp4 Satrec.twoline2rv          {t_sgp4 * 1e3:8.1f} ms  {t_sgp4 / n * 1e6:6.2f} us/set")
    print(f"oor parse_tle (same line pairs) {t_pairs * 1e3:8.1f} ms  {t_pairs / n * 1e6:6.2f} us/set  "
          f"ratio {t_pairs / t_sgp4:.2f}x")
    print(f"oor read_elements (whole file)  {t_file * 1e3:8.1f} ms  {t_file / n * 1e6:6.2f} us/set  "
          f"ratio {t_file / t_sgp4:.2f}x  (includes I/O, decoding, 3LE names)")
    print(f"record encode                   {t_enc / n * 1e9:8.0f} ns/record")
    print(f"record decode                   {t_dec / n * 1e9:8.0f} ns/record  "
          f"(mean record {sum(map(len, recs)) / n:.0f} bytes)")


def test_parse_pairs(benchmark):
    ps = pairs()
    benchmark(lambda: [parse_tle(a, b) for a, b in ps])


def test_sgp4_twoline2rv(benchmark):
    from sgp4.api import Satrec
    ps = pairs()
    benchmark(lambda: [Satrec.twoline2rv(a, b) for a, b in ps])


def test_record_decode(benchmark):
    recs = [encode_record(es) for es in read_elements(CATALOG)]
    benchmark(lambda: [decode_record(r) for r in recs])


if __name__ == "__main__":
    main()
