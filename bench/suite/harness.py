"""The harness: timing, results and ratios, the issue 7 targets, the printed table, the JSON and PNG output.

Owns: how a figure is taken (``median_time``: gc.collect before each round, median of the rounds;
``timed_threads``: threads released together, timed to the last one's end), how it is
recorded and printed (``Results.add``: the engines' medians and the ratios OOR / anchor in the measure's own unit,
one line per measure as it completes), the targets and their verdicts, the final table, the chart and the JSON
document (``meta``, ``measures``, ``targets``, ``notes``, ``profiles``, ``chart``).  The engines of a measure run
one after the other in the same process and directory; which engines and in what order is the measure's choice.

Caller: ``suite.cli`` (Results, finish), every measure module (median_time, timed_threads, note, profile_text,
MB), and bench/bench_durability.py (timed_threads).
"""
import gc
import io
import json
import os
import pstats
import statistics
import threading
import time

MB = 1 << 20

# (measure, anchor, op, threshold): the targets of issue 7, as OOR / anchor ratios.
TARGETS = [
    ("latest", "lmdb", "<=", 0.8),
    ("scan", "lmdb", ">=", 1.2),
    ("bulk", "lmdb", "<=", 1.0),          # time ratio <= 1.0  <=>  speed >= 1.0x LMDB
    ("commit", "sqlite", "<=", 1.0),
    ("ingest", "sqlite", "<=", 1.0),
    ("recovery", "abs", "<", 0.100),      # seconds
    ("rss", "abs", "<=", 16 + 40),        # MB: pool + 40 MB
]


def median_time(fn, rounds):
    out = []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def timed_threads(bodies):
    """Run each callable of ``bodies`` in its own thread, all released at once by a barrier; the seconds from the
    release to the end of the last one.  The first exception a body raised is raised here, after every join."""
    errors = []
    barrier = threading.Barrier(len(bodies) + 1)

    def worker(body):
        try:
            barrier.wait()
            body()
        except Exception as exc:  # pragma: no cover
            errors.append(exc)
    ths = [threading.Thread(target=worker, args=(b,)) for b in bodies]
    for th in ths:
        th.start()
    barrier.wait()
    t0 = time.perf_counter()
    for th in ths:
        th.join()
    el = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return el


def note(msg):
    print(msg, flush=True)


def profile_text(pr, n=16):
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(n)
    return s.getvalue()


class Results:
    def __init__(self, meta=None):
        self.meta = meta or {}
        self.measures = {}
        self.notes = []
        self.profiles = {}

    def add(self, name, unit, better, values, desc, extra=None):
        """values: {engine: median}; better: 'lower' or 'higher'."""
        ratios = {a: values["oor"] / v for a, v in values.items() if a != "oor" and v}
        self.measures[name] = {"unit": unit, "better": better, "values": values, "ratios": ratios,
                               "what": desc, **({"extra": extra} if extra else {})}
        shown = ", ".join(f"{e} {fmt(v, unit)}" for e, v in values.items())
        rs = ", ".join(f"/{a} {r:.2f}x" for a, r in ratios.items())
        note(f"  {name:12} {shown}   OOR{rs}")


def fmt(v, unit):
    if unit == "s":
        return f"{v * 1e3:.1f} ms" if v < 10 else f"{v:.2f} s"
    if unit == "us":
        return f"{v:.2f} us"
    if unit in ("sets/s", "commits/s"):
        return f"{v / 1e3:,.0f}k {unit}" if v >= 1e4 else f"{v:,.0f} {unit}"
    if unit == "MB":
        return f"{v:.1f} MB"
    return f"{v:.3g} {unit}"


def num(v):
    if v >= 1e5:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.3f}"
    return f"{v:.5f}"


def evaluate(res):
    out = []
    for m, anchor, op, thr in TARGETS:
        meas = res.measures.get(m)
        if meas is None:
            continue
        if anchor == "abs":
            val = meas["values"]["oor"]
            label = f"OOR {fmt(val, meas['unit'])} {op} {fmt(thr, meas['unit'])}"
        else:
            if anchor not in meas["ratios"]:
                continue
            val = meas["ratios"][anchor]
            label = f"OOR/{anchor} {val:.2f}x {op} {thr}x"
        ok = {"<=": val <= thr, "<": val < thr, ">=": val >= thr}[op]
        out.append({"measure": m, "anchor": anchor, "op": op, "threshold": thr, "value": val, "met": ok,
                    "label": label})
    return out


def print_table(res, targets):
    engines = []
    for m in res.measures.values():
        for e in m["values"]:
            if e not in engines:
                engines.append(e)
    print()
    hdr = f"{'measure':12} {'unit':10}" + "".join(f"{e:>14}" for e in engines) + "   ratios OOR/anchor"
    print(hdr)
    print("-" * len(hdr))
    for name, m in res.measures.items():
        row = f"{name:12} {m['unit']:10}"
        for e in engines:
            v = m["values"].get(e)
            row += f"{'' if v is None else num(v):>14}"
        row += "   " + "  ".join(f"{a} {r:.2f}x" for a, r in m["ratios"].items())
        print(row)
    print("\ntargets (issue 7):")
    for t in targets:
        print(f"  {t['measure']:10} {t['label']:40} {'met' if t['met'] else 'NOT met'}")
    for n in res.notes:
        print("note:", n)


def chart(res, targets, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        res.notes.append("matplotlib not installed (pip install -e '.[chart]'): no chart written")
        return None
    rows = []
    for name, m in res.measures.items():
        for a, r in m["ratios"].items():
            speed = (1 / r) if m["better"] == "lower" else r     # > 1: OOR better
            rows.append((f"{name} vs {a}", speed))
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.5))
    labels = [r[0] for r in rows][::-1]
    vals = [r[1] for r in rows][::-1]
    ax.barh(labels, vals, color=["tab:green" if v >= 1 else "tab:red" for v in vals])
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("OOR advantage (anchor time / OOR time, or OOR rate / anchor rate); > 1: OOR better")
    met = sum(t["met"] for t in targets)
    ax.set_title(f"OOR vs anchors — targets met {met}/{len(targets)}  ({res.meta['mode']}, "
                 f"{res.meta['when'][:10]})")
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def finish(res, out, t_start, with_chart=True):
    """Judge the targets, print the table, write ``out`` (JSON) and its chart (``out`` with .png); the document."""
    targets = evaluate(res)
    res.meta["seconds"] = time.perf_counter() - t_start
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    png = chart(res, targets, os.path.splitext(out)[0] + ".png") if with_chart else None
    print_table(res, targets)
    doc = {"meta": res.meta, "measures": res.measures, "targets": targets, "notes": res.notes,
           "profiles": res.profiles, "chart": os.path.basename(png) if png else None}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    print(f"\nwrote {out}" + (f" and {png}" if png else "") + f" in {res.meta['seconds']:.0f} s")
    return doc
