"""kill -9 of a real process in the middle of a large load, at seeded random moments.

A child process loads registry-shaped records (16-byte keys: NORAD id u32 BE,
epoch i64 BE with the sign bit flipped, source u16 BE, 2 zero bytes;
~140-byte values) in transactions, printing each transaction's index once its
commit has returned (so it is durable).  The parent SIGKILLs it after a random
delay spread over the load, then reopens and requires: every printed
transaction wholly present, at most the one after it present (its commit may
have returned just before the kill, unprinted), and then wholly; nothing later;
every tree's _check() and db.check() clean; and a reload of the whole workload
works.  Readers are attached (issue 12): a read-only Database opened beside the
child holds a snapshot taken mid-load across the kill -- it stays readable and
unchanged -- and a reader opened after the kill, before any writer, sees a
whole number of transactions, at least every printed one, without recovery.

Default: 20 trials of a 20,000-record load (about 30 s).  OOR_SOAK=1: 50
trials of 100,000 records.  The seed is printed; OOR_KILL_SEED=<n> replays one.
"""
import hashlib
import os
import random
import signal
import struct
import subprocess
import sys
import time

import pytest

from conftest import soak
from oor.storage import open_database

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if soak():
    N_RECORDS, TX_SIZE, TRIALS = 100_000, 1_000, 50
else:
    N_RECORDS, TX_SIZE, TRIALS = 20_000, 500, 20
N_OBJECTS = 1_000


def record(i):
    """The i-th record of the load: files arrive epoch by epoch, each naming every object."""
    norad = 10_000 + (i % N_OBJECTS) * 7
    epoch_us = 2_200_000_000_000_000 + (i // N_OBJECTS) * 43_200_000_000
    k = struct.pack(">IQHH", norad, (epoch_us ^ (1 << 63)) & 0xFFFFFFFFFFFFFFFF, 1, 0)
    v = hashlib.shake_128(b"%d" % i).digest(120) + b"ISS (ZARYA)        %d" % i
    return k, v


def tx_records(t):
    return [record(i) for i in range(t * TX_SIZE, min((t + 1) * TX_SIZE, N_RECORDS))]


CHILD = r"""
import os, sys
sys.path.insert(0, {root!r})
sys.path.insert(0, os.path.join({root!r}, "tests"))
from test_crash_kill import tx_records, N_RECORDS, TX_SIZE
from oor.storage import open_database
path = sys.argv[1]
db = open_database(path, pool_pages=256, segment_bytes=1 << 20, checkpoint_bytes=4 << 20)
t = db.tree("elements", create=True)
print("open", flush=True)
for n in range((N_RECORDS + TX_SIZE - 1) // TX_SIZE):
    with db.transaction():
        for k, v in tx_records(n):
            t.insert(k, v)
    print(n, flush=True)
print("done", flush=True)
db.close()
""".format(root=ROOT)


def start_child(path, out_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = open(out_path, "w")
    p = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=out, stderr=subprocess.PIPE, env=env)
    out.close()
    return p


def read_lines(out_path):
    with open(out_path) as f:
        text = f.read()
    # a line is only counted once its newline is out (print(..., flush=True) writes it in one go)
    return text.split("\n")[:-1]


def wait_open(p, out_path, timeout=60):
    t0 = time.monotonic()
    while "open" not in read_lines(out_path):
        if p.poll() is not None:
            raise AssertionError(f"child died before opening: {p.stderr.read().decode()[-3000:]}")
        if time.monotonic() - t0 > timeout:
            raise AssertionError("child did not open the database")
        time.sleep(0.002)
    return time.monotonic()


def whole_transactions(got, seed_note):
    """How many whole transactions the sorted records got are (AssertionError when not a whole number)."""
    n_tx = (N_RECORDS + TX_SIZE - 1) // TX_SIZE
    expected = []
    committed = 0
    for n in range(n_tx):
        if len(expected) >= len(got):
            break
        expected.extend(tx_records(n))
        committed = n + 1
    assert sorted(expected) == got, f"{seed_note}: a reader saw {len(got)} records, not whole transactions"
    return committed


def snapshot_records(db):
    with db.snapshot() as s:
        t = s.tree("elements")
        return [] if t is None else list(t.items())


def verify_reader(path, last_printed, seed_note):
    """A reader after the kill, before any writer: the last commit, no recovery, the trees clean."""
    db = open_database(path, read_only=True, pool_pages=256)
    try:
        got = snapshot_records(db)
        committed = whole_transactions(got, seed_note)
        assert last_printed <= committed - 1 <= last_printed + 1, f"{seed_note}: reader saw {committed} tx"
        assert db.check() == [], seed_note
    finally:
        db.close()


def verify(path, last_printed, seed_note):
    """Reopen after the kill and check everything the module docstring promises.  Returns committed count."""
    n_tx = (N_RECORDS + TX_SIZE - 1) // TX_SIZE
    db = open_database(path, pool_pages=256)
    try:
        if "elements" not in db.tree_names():
            assert last_printed == -1, seed_note
            t = db.tree("elements", create=True)
            got = []
        else:
            t = db.tree("elements")
            got = list(t.items())
        # the largest prefix of whole transactions that matches what is in the tree
        committed = whole_transactions(got, seed_note)
        assert committed - 1 >= last_printed, f"{seed_note}: printed transaction {last_printed} lost " \
                                              f"(only {committed} present)"
        assert committed - 1 <= last_printed + 1, f"{seed_note}: transaction {committed - 1} present " \
                                                  f"though only {last_printed} was printed"
        assert t._check() == [], seed_note
        assert db.check() == [], seed_note
        # a reload of the whole workload works
        with db.transaction():
            for n in range(n_tx):
                for k, v in tx_records(n):
                    t.upsert(k, v)
        assert len(t) == N_RECORDS
        assert t._check() == [] and db.check() == [], seed_note
    finally:
        db.close()
    db = open_database(path, pool_pages=256)
    try:
        assert db.recovery["redo_records"] == 0
        assert len(db.tree("elements")) == N_RECORDS
    finally:
        db.close()
    return committed


def test_kill9_during_large_load(tmp_path):
    seed = int(os.environ.get("OOR_KILL_SEED", random.SystemRandom().randrange(1 << 30)))
    print(f"kill -9 campaign seed={seed} (OOR_KILL_SEED={seed} replays it); "
          f"{TRIALS} trials of {N_RECORDS} records")
    rng = random.Random(seed)
    # calibration: one whole load, timed from the open
    out = str(tmp_path / "cal.out")
    p = start_child(str(tmp_path / "cal.db"), out)
    t_open = wait_open(p, out)
    assert p.wait(300) == 0, p.stderr.read().decode()[-3000:]
    load_s = time.monotonic() - t_open
    assert read_lines(out)[-1] == "done"
    # kill points: fractions of the load spread evenly (stratified) over [0, 0.95), in random order;
    # the load time is re-estimated from every trial that ran to its end (the machine may be busy)
    fractions = [(j + rng.random()) * 0.95 / TRIALS for j in range(TRIALS)]
    rng.shuffle(fractions)
    outcomes = []
    for trial, frac in enumerate(fractions):
        delay = frac * load_s
        note = f"seed={seed} trial={trial} delay={delay:.3f}s of {load_s:.3f}s"
        path = str(tmp_path / f"t{trial}.db")
        out = str(tmp_path / f"t{trial}.out")
        p = start_child(path, out)
        reader = held = None
        try:
            t_open = wait_open(p, out)
            if trial % 3 == 0:
                # a reader attached beside the writer, holding a snapshot across the kill
                time.sleep(delay / 2)
                reader = open_database(path, read_only=True, pool_pages=64)
                held = reader.snapshot()
                tree = held.tree("elements")
                seen = [] if tree is None else list(tree.items())
                whole_transactions(seen, note)
                time.sleep(delay / 2)
            else:
                time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            rc = p.wait(60)
            if held is not None:
                tree = held.tree("elements")
                assert ([] if tree is None else list(tree.items())) == seen, f"{note}: a held snapshot changed"
                held.release()
                whole_transactions(snapshot_records(reader), note)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            if reader is not None:
                reader.close()
        p.stderr.close()
        if rc == 0:
            load_s = min(load_s, time.monotonic() - t_open)
        lines = read_lines(out)
        printed = [int(x) for x in lines if x.isdigit()]
        assert printed == list(range(len(printed))), note
        last = printed[-1] if printed else -1
        verify_reader(path, last, note)
        committed = verify(path, last, note)
        outcomes.append((delay, rc, last, committed))
        for suffix in ("", "-lock"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        for f in os.listdir(path + "-wal"):
            os.remove(os.path.join(path + "-wal", f))
    n_tx = (N_RECORDS + TX_SIZE - 1) // TX_SIZE
    killed_mid = sum(1 for d, rc, last, c in outcomes if rc == -signal.SIGKILL and 0 <= last < n_tx - 1)
    print("trials (delay s, rc, last printed, transactions present):", outcomes)
    # the delays spread over the load: most kills landed in the middle of it
    assert killed_mid >= TRIALS // 2, outcomes
