"""Seeded randomized test: the registry API against an in-memory model, reopening at random points.

The model is a dict (norad, epoch_us, seq, source id) -> ElementSet (the current
sets), the deleted (tombstoned) objects and the source registration order.  Every answer of latest/at/history/scan/find/delete/put is
compared; ``check()`` runs now and then.  The seed is printed (pytest shows it
for a failing test); rerun one with ``OOR_SEED=<seed>``.  ``OOR_SOAK=1`` runs
longer campaigns.

test_model_with_aborts depends on abort (the write-ahead log).
"""
import datetime as dt
import os
import random

import pytest

import oor
from oor import keys

from conftest import soak

UTC = dt.timezone.utc
BASE = dt.datetime(2020, 1, 1, tzinfo=UTC)
EPOCH_1950 = dt.datetime(1950, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
BASE_US = (BASE - EPOCH_1950) // dt.timedelta(microseconds=1)
IDS = [0, 1, 5, 11, 25544, 25545, 43870, 99999, 270288, 339999, 500000, 999_999_999]
EPOCH_DAYS = [-3650.0, 0.0, 0.25, 0.5, 1.0, 1.00000001, 2.0, 30.0]
SOURCES = [None, None, "celestrak", "spacetrack", "", "ünïcode"]
NAMES = [None, "ISS (ZARYA)", "iss deb", "ISS", "STARLINK-1007", "Starlink-1008", "VANGUARD 1", "Ωmega sat"]
COSPARS = ["", "1998-067A", "1998-067B", "2019-029A", "1958-002B"]


def seeds(n):
    env = os.environ.get("OOR_SEED")
    if env:
        return [int(env)]
    return [random.randrange(1 << 30) for _ in range(n)]


class Model:
    """What the registry should hold (registry format 2, docs/revisions.md): the current sets by key
    (norad, epoch_us, seq, source id), the tombstoned objects, the highest seq ever used per (norad, epoch)."""

    def __init__(self):
        self.sets = {}          # (norad, epoch_us, seq, sid) -> ElementSet
        self.src = {}           # name -> id, in registration order
        self.tomb = set()       # deleted objects (a tombstone is their last key)
        self.maxseq = {}        # (norad, epoch_us) -> highest seq ever used

    def copy(self):
        m = Model()
        m.sets = dict(self.sets)
        m.src = dict(self.src)
        m.tomb = set(self.tomb)
        m.maxseq = dict(self.maxseq)
        return m

    def sid(self, name):
        if name is None:
            return 0
        if name not in self.src:
            self.src[name] = len(self.src) + 1
        return self.src[name]

    def put(self, es):
        sid = self.sid(es.source)
        group = [k for k in self.sets if k[:2] == (es.norad_id, es.epoch_us)]
        for k in group:
            old = self.sets[k]
            if k[3] == sid and old.same_elements(es):
                if es.name and es.name.strip() and es.name != old.name:
                    self.sets[k] = old.replace(name=es.name)
                    return "updated"
                return "unchanged"
        g = (es.norad_id, es.epoch_us)
        seq = self.maxseq.get(g, -1) + 1
        self.maxseq[g] = seq
        key = (es.norad_id, es.epoch_us, seq, sid)
        self.sets[key] = es
        if es.norad_id in self.tomb and key == self.keys_of(es.norad_id)[-1]:
            self.tomb.discard(es.norad_id)             # a newer set brings a deleted object back
        return "inserted"

    def keys_of(self, norad):
        return sorted(k for k in self.sets if k[0] == norad)

    def latest(self, norad):
        ks = self.keys_of(norad)
        return self.sets[ks[-1]] if ks and norad not in self.tomb else None

    def at(self, norad, us):
        ks = [k for k in self.keys_of(norad) if k[1] <= us]
        return self.sets[ks[-1]] if ks else None

    def history(self, norad, lo, hi):
        return [self.sets[k] for k in self.keys_of(norad)
                if (lo is None or k[1] >= lo) and (hi is None or k[1] <= hi)]

    def delete(self, norad, us=None, source=Ellipsis):
        if us is None and source is Ellipsis:
            ks = self.keys_of(norad)
            if not ks or norad in self.tomb:
                return 0
            self.tomb.add(norad)
            return len(ks)
        if source is not Ellipsis and source is not None and source not in self.src:
            return 0
        doomed = [k for k in self.keys_of(norad) if (us is None or k[1] == us) and (
            source is Ellipsis or k[3] == self.sid(source))]
        for k in doomed:
            del self.sets[k]
        return len(doomed)

    def objects(self, lo=None, hi=None):
        return sorted({k[0] for k in self.sets if (lo is None or k[0] >= lo) and (hi is None or k[0] <= hi)})

    def live(self, lo=None, hi=None):
        return [n for n in self.objects(lo, hi) if n not in self.tomb]

    def find_name(self, prefix):
        p = keys.name_text(prefix)
        return sorted({k[0] for k, es in self.sets.items()
                       if keys.name_text(es.name).startswith(p) and k[0] not in self.tomb})

    def find_cospar(self, cospar):
        return sorted({k[0] for k, es in self.sets.items() if es.cospar_id == cospar and k[0] not in self.tomb})


def random_set(rnd):
    day = rnd.choice(EPOCH_DAYS)
    epoch = BASE + dt.timedelta(microseconds=round(day * DAY_US))
    return oor.ElementSet(
        norad_id=rnd.choice(IDS), epoch=epoch, mean_motion=rnd.choice([15.5, 14.2, 1.0027]),
        eccentricity=rnd.choice([0.0001, 0.5]), inclination=rnd.choice([51.6, 98.7]), raan=rnd.uniform(0, 360),
        arg_perigee=20.0, mean_anomaly=30.0, name=rnd.choice(NAMES), source=rnd.choice(SOURCES),
        intl_designator=rnd.choice(COSPARS), rev_number=rnd.randint(0, 5))


def to_dt(us):
    return EPOCH_1950 + dt.timedelta(microseconds=us)


def random_time(rnd, model):
    """(datetime, epoch_us): often exactly a stored epoch, or one microsecond either side."""
    if model.sets and rnd.random() < 0.6:
        us = rnd.choice(list(model.sets))[1] + rnd.choice([-1, 0, 0, 1])
    else:
        us = BASE_US + round(rnd.choice(EPOCH_DAYS) * DAY_US) + rnd.choice([-DAY_US, 0, 1])
    return to_dt(us), us


def same(a, b):
    return (a is None and b is None) or (a is not None and b is not None and a.same_text(b))


def compare(reg, model, rnd, ctx):
    for norad in rnd.sample(IDS, 4):
        assert same(reg.latest(norad), model.latest(norad)), f"latest({norad}) {ctx}"
        when, us = random_time(rnd, model)
        assert same(reg.at(norad, when), model.at(norad, us)), f"at({norad}, {when}) {ctx}"
    norad = rnd.choice(IDS)
    lo = hi = None
    if rnd.random() < 0.5:
        lo_t, lo = random_time(rnd, model)
    else:
        lo_t = None
    if rnd.random() < 0.5:
        hi_t, hi = random_time(rnd, model)
    else:
        hi_t = None
    got = reg.history(norad, since=lo_t, until=hi_t)
    want = model.history(norad, lo, hi)
    assert len(got) == len(want) and all(map(same, got, want)), f"history({norad}, {lo_t}, {hi_t}) {ctx}"


def full_compare(reg, model, ctx):
    assert [e.norad_id for e in reg.scan()] == model.live(), ctx
    assert list(reg.objects()) == model.objects(), ctx
    for es in reg.scan():
        assert same(es, model.latest(es.norad_id)), ctx
    a, b = sorted(random.Random(len(model.sets)).sample(IDS, 2))
    assert [e.norad_id for e in reg.scan(a, b)] == model.live(a, b), ctx
    allsets = list(reg.iter_sets())
    want = [model.sets[k] for k in sorted(model.sets)]
    assert len(allsets) == len(want) and all(map(same, allsets, want)), ctx
    for prefix in ("iss", "ISS (", "starlink", "Ω", "v"):
        assert [e.norad_id for e in reg.find(prefix)] == model.find_name(prefix), f"find({prefix!r}) {ctx}"
    for c in COSPARS[1:]:
        assert [e.norad_id for e in reg.find(c)] == model.find_cospar(c), f"find({c!r}) {ctx}"
    assert reg.sources() == model.src, ctx
    assert reg.check() == [], ctx


def one_op(reg, model, rnd, ctx):
    r = rnd.random()
    if r < 0.55:
        es = random_set(rnd)
        assert reg.put(es) == model.put(es), f"put({es!r}) {ctx}"
    elif r < 0.70 and model.sets:
        key = rnd.choice(list(model.sets))
        norad, us = key[0], key[1]
        if rnd.random() < 0.5:
            src = model.sets[key].source if rnd.random() < 0.7 else rnd.choice(SOURCES)
            assert reg.delete(norad, to_dt(us), source=src) == model.delete(norad, us, src), ctx
        else:
            assert reg.delete(norad, to_dt(us)) == model.delete(norad, us), ctx
    elif r < 0.75:
        norad = rnd.choice(IDS)
        assert reg.delete(norad) == model.delete(norad), f"delete({norad}) {ctx}"
    else:
        compare(reg, model, rnd, ctx)


def campaign(tmp_path, seed, ops, aborts):
    print(f"seed={seed} (rerun with OOR_SEED={seed})")
    rnd = random.Random(seed)
    path = tmp_path / f"m{seed}.oor"
    reg = oor.open(path, pool_pages=rnd.choice([32, 64, 2048]))
    model = Model()
    i = 0
    try:
        while i < ops:
            ctx = f"[seed {seed}, op {i}]"
            r = rnd.random()
            if r < 0.02:                                   # reopen at a random point
                reg.close()
                reg = oor.open(path, pool_pages=rnd.choice([32, 64, 2048]))
                full_compare(reg, model, ctx + " after reopen")
            elif r < 0.05:                                 # a transaction that commits
                with reg.transaction():
                    for _ in range(rnd.randint(1, 20)):
                        one_op(reg, model, rnd, ctx)
                        i += 1
            elif aborts and r < 0.09:                      # a transaction that aborts
                saved = model.copy()
                with pytest.raises(_Boom):
                    with reg.transaction():
                        for _ in range(rnd.randint(1, 20)):
                            one_op(reg, model, rnd, ctx)
                            i += 1
                        raise _Boom()
                model = saved
                compare(reg, model, rnd, ctx + " after abort")
                if rnd.random() < 0.3:
                    full_compare(reg, model, ctx + " after abort")
            elif r < 0.11:
                full_compare(reg, model, ctx)
            else:
                one_op(reg, model, rnd, ctx)
            i += 1
        full_compare(reg, model, f"[seed {seed}, end]")
        reg.close()
        reg = oor.open(path)
        full_compare(reg, model, f"[seed {seed}, end, reopened]")
    finally:
        reg.close()


class _Boom(Exception):
    pass


@pytest.mark.parametrize("seed", seeds(3))
def test_model_committed(tmp_path, seed):
    campaign(tmp_path, seed, 20_000 if soak() else 3000, aborts=False)


@pytest.mark.parametrize("seed", seeds(3))
def test_model_with_aborts(tmp_path, seed):
    """Depends on abort (the write-ahead log)."""
    campaign(tmp_path, seed, 20_000 if soak() else 3000, aborts=True)
