"""Data builders: where the real data is, the synthetic history, the stream file, the probes of each workload.

Owns: the data paths (``OOR_DATA`` or ../shared/data beside the project), the real catalog read through the
codec, the synthetic history (copy 0 the real set, copy k an ``es.replace`` k intervals older), the split of that
history into the engine-level history and the RSS stream in arrival order, the engine-level workload (seeded
probes, shuffled catalog, SQL rows), the commit payloads and the registry-level file list.  Everything is built
before any timing starts and every random choice is seeded, so every engine sees the same data in every run.

Caller: ``suite.cli`` (prepare, engine_workload), the measures (synth_kv, real_registry_sets, CATALOG).
"""
import datetime as dt
import os
import random

from oor.codec import encode_record, read_elements
from oor.keys import elset_key

from .formats import rows_of, split_key, write_stream

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("OOR_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
CATALOG = os.path.join(DATA, "catalogs", "catalog-2022-07.3le")
CATALOGS = [os.path.join(DATA, "catalogs", f) for f in ("catalog-2022-01.3le", "catalog-2022-07.3le",
                                                         "catalog-2026-06.3le")]
HISTORY_DIR = os.path.join(DATA, "history")


def catalog_sets(limit=None):
    sets = list(read_elements(CATALOG))
    return sets[:limit] if limit else sets


def synth_history(sets, copies, seed=40):
    """copies x len(sets) (key, record) pairs, sorted by key.

    Copy 0 is the real set (its TEXT record, exact lines).  Copy k >= 1 is
    ``es.replace(epoch=epoch - k*interval)``: a valid ElementSet built through
    the codec's API (FIELDS record, no text), with a per-object interval drawn
    from 0.5-3 days and +-10 % jitter per copy.
    """
    rng = random.Random(seed)
    out = []
    for es in sets:
        base = es.epoch
        interval = rng.uniform(0.5, 3.0)
        shift = 0.0
        out.append((elset_key(es.norad_id, es.epoch_us, 0), encode_record(es)))
        for _k in range(1, copies):
            shift += interval * rng.uniform(0.9, 1.1)
            e2 = es.replace(epoch=base - dt.timedelta(days=shift))
            out.append((elset_key(e2.norad_id, e2.epoch_us, 0), encode_record(e2)))
    out.sort(key=lambda kv: kv[0])
    # equal keys cannot occur (shifts are > 0 and strictly increasing) but be safe
    dedup = [out[0]] if out else []
    for kv in out[1:]:
        if kv[0] != dedup[-1][0]:
            dedup.append(kv)
    return dedup


def prepare(cat, cfg, stream):
    """The engine-level history and the RSS stream, from the catalog sets ``cat``.

    Writes the stream file ``stream`` (the sets the RSS children load) and returns (hist, n_rss): hist is the
    newest ``cfg["copies"]`` sets of each object, sorted by key; n_rss the number of sets in the stream.
    """
    rss_copies = max(cfg["copies"], -(-cfg["rss_sets"] // len(cat)))
    allh = synth_history(cat, rss_copies)
    # the RSS children stream 1M sets from this file in arrival order (copy after copy), so that the
    # loads are not sorted: copy k of every object, then copy k+1 ...
    by_copy = sorted(allh, key=lambda kv: (kv[0][:4], kv[0][4:12]), reverse=True)
    order = {}
    arrival = []
    for k, v in by_copy:
        c = order.get(k[:4], 0)
        order[k[:4]] = c + 1
        arrival.append((c, k, v))
    arrival.sort(key=lambda t: (t[0], t[1]))
    write_stream(stream, ((k, v) for _c, k, v in arrival[:cfg["rss_sets"]]))
    n_rss = min(cfg["rss_sets"], len(arrival))
    del by_copy, arrival, order
    # the history: the newest `copies` sets of each object
    hist = []
    seen = {}
    for k, v in reversed(allh):
        c = seen.get(k[:4], 0)
        if c < cfg["copies"]:
            hist.append((k, v))
        seen[k[:4]] = c + 1
    hist.reverse()
    return hist, n_rss


class Workload:
    """What the engine-level measures ask of every engine, drawn once (seeded) from the catalog and the history.

    cat_items    the catalog's (key, record) pairs, sorted
    shuffled     the same in a seeded shuffled order (the unsorted load), sh_rows its SQL rows
    hist_rows    the history's SQL rows (the bulk load's SQLite side; dropped after it)
    probe_ids    random objects for latest; at_probes (object, time) pairs for at; hist_ids objects for history
    pool_pages   OOR's pool for the history: the whole tree fits (as LMDB's page cache)
    """

    def __init__(self, cat, hist, cfg):
        rng = random.Random(7)
        self.cat_items = sorted({elset_key(es.norad_id, es.epoch_us, 0): encode_record(es) for es in cat}.items())
        norads = sorted({split_key(k)[0] for k, _ in hist})
        n_probe = cfg["probes"]
        self.probe_ids = [rng.choice(norads) for _ in range(n_probe)]
        lo_us = min(split_key(k)[1] for k, _ in hist)
        hi_us = max(split_key(k)[1] for k, _ in hist)
        self.at_probes = [(rng.choice(norads), rng.randrange(lo_us, hi_us)) for _ in range(n_probe)]
        self.hist_ids = [rng.choice(norads) for _ in range(cfg["hist_probes"])]
        self.hist_rows = rows_of(hist)
        self.pool_pages = max(4096, len(hist) * 400 // 4096 + 2048)
        self.shuffled = list(self.cat_items)
        random.Random(11).shuffle(self.shuffled)
        self.sh_rows = rows_of(self.shuffled)


def synth_kv(n, seed, cat_items):
    """n (random key, real record) pairs: the payloads of the commit measures."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        _k, v = cat_items[rng.randrange(len(cat_items))]
        out.append((elset_key(rng.randrange(100000, 999999), rng.randrange(0, 1 << 52), 0), v))
    return out


def real_registry_sets(quick):
    """Every set of the 3 real catalogs and the 15 real histories (file order)."""
    files = CATALOGS[1:2] if quick else CATALOGS
    hist = sorted(os.path.join(HISTORY_DIR, f) for f in os.listdir(HISTORY_DIR) if f.endswith(".tle"))
    if quick:
        hist = hist[:2]
    return files + hist
