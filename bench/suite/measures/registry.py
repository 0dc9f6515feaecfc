"""The registry-level reads on the real data: ``reg_latest``, ``reg_at``, ``reg_history``, decoded ElementSets.

OOR is ``oor.open(...)`` loaded with the real catalogs and histories; SQLite and LMDB hold every set it stored
(the same keys and records) and are read by functions doing the equivalent work (argument check, key build, one
seek or range, ``decode_record``; see engines/sqlite.py and engines/lmdb.py).  A sanity check asserts all engines
return equal sets.  Seeded probes; each timed over all probes, median of ``rounds``.

Caller: ``suite.cli``.
"""
import cProfile
import datetime as dt
import os
import random
import shutil
import tempfile

import oor
from oor.codec import encode_record, read_elements
from oor.keys import elset_key

from ..data import real_registry_sets
from ..engines import lmdb, sqlite
from ..formats import split_key
from ..harness import median_time, profile_text


def registry_level(res, tmp, cfg, profile):
    files = real_registry_sets(cfg["quick"])
    d = tempfile.mkdtemp(dir=tmp)
    reg = oor.open(os.path.join(d, "reg.oor"))
    for f in files:
        reg.load(f)
    # the same content for the anchors: every stored set, as the registry has it
    recs = {}
    for f in files:
        for es in read_elements(f):
            recs[elset_key(es.norad_id, es.epoch_us, 0)] = encode_record(es)
    items = sorted(recs.items())
    con = sqlite.open_registry_copy(os.path.join(d, "reg.sqlite"), items)
    env = lmdb.open_registry_copy(os.path.join(d, "reg.lmdb"), items) if lmdb.AVAILABLE else None
    norads = sorted({split_key(k)[0] for k, _ in items})
    rng = random.Random(13)
    n_probe = cfg["reg_probes"]
    ids = [rng.choice(norads) for _ in range(n_probe)]
    e0 = dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc)
    when = [(rng.choice(norads), e0 + dt.timedelta(days=rng.uniform(0, 1300))) for _ in range(n_probe)]
    hist_ids = sorted({es.norad_id for f in files if f.endswith(".tle") for es in read_elements(f)})

    impl = {"oor": (reg.latest, reg.at, reg.history), "sqlite": sqlite.registry_readers(con)}
    if env is not None:
        impl["lmdb"] = lmdb.registry_readers(env)
    # sanity: all three agree
    for n in ids[:200]:
        a = [f[0](n) for f in impl.values()]
        assert all(x == a[0] for x in a), n
    lat, at_, hi_ = {}, {}, {}
    total_hist = sum(len(reg.history(n)) for n in hist_ids)
    for name, (fl, fa, fh) in impl.items():
        def r1(fl=fl):
            for n in ids:
                fl(n)

        def r2(fa=fa):
            for n, w in when:
                fa(n, w)

        def r3(fh=fh):
            for n in hist_ids:
                fh(n)
        r1()
        lat[name] = median_time(r1, cfg["rounds"]) / n_probe * 1e6
        at_[name] = median_time(r2, cfg["rounds"]) / n_probe * 1e6
        hi_[name] = total_hist / median_time(r3, cfg["rounds"])
    res.add("reg_latest", "us", "lower", lat,
            f"registry latest(id) on real data ({len(items):,} sets, {len(norads):,} objects), decoded ElementSet")
    res.add("reg_at", "us", "lower", at_, "registry at(id, datetime), decoded ElementSet")
    res.add("reg_history", "sets/s", "higher", hi_,
            f"registry history(id) of the {len(hist_ids)} real histories ({total_hist:,} sets), decoded")
    if profile:
        pr = cProfile.Profile()
        pr.enable()
        for n in ids:
            reg.latest(n)
        pr.disable()
        res.profiles["reg_latest"] = profile_text(pr)
    reg.close()
    con.close()
    if env is not None:
        env.close()
    shutil.rmtree(d, ignore_errors=True)
