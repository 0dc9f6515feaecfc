"""Snapshot reads beside one writer (issue 12, docs/concurrency.md): the acceptance list in this process.

Every randomized test is deterministic from its seed and prints it on failure.
Cross-process readers are in tests/test_snapshot_processes.py.
"""
import datetime
import os
import random
import threading
import time
from collections import Counter

import pytest

import oor
from oor import ConflictError, OorError
from oor.codec import read_elements

from conftest import data_dir

_CACHE = []


def _sets(n):
    """The first n sets of a real catalog (../shared/data; a failure under CI when it is missing)."""
    if not _CACHE:
        folder = data_dir()
        if folder is None:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail("real data folder not found")
            pytest.skip("real data folder not found")
        for es in read_elements(str(folder / "catalogs" / "catalog-2022-07.3le")):
            _CACHE.append(es)
            if len(_CACHE) >= 3000:
                break
    return _CACHE[:n]


def _bump(es, k):
    """The same object and epoch with different elements (another set at that epoch)."""
    return es.replace(mean_motion=es.mean_motion + 1e-6 * (k + 1))


@pytest.fixture
def reg(tmp_path):
    r = oor.open(tmp_path / "snap.oor", checkpoint_bytes=1 << 20, segment_bytes=1 << 20)
    yield r
    r.close()


def test_three_versions_each_snapshot_sees_its_own(reg):
    es = _sets(1)[0]
    snaps = []
    for k in range(3):
        reg.put(_bump(es, k))
        snaps.append((k, reg.snapshot()))
    for k, s in snaps:
        assert s.latest(es.norad_id).mean_motion == pytest.approx(es.mean_motion + 1e-6 * (k + 1), abs=1e-12)
        assert len(s.history(es.norad_id)) == k + 1      # distinct sets at one epoch are all kept
    for _, s in snaps:
        s.release()
    assert reg.check() == []


def test_delete_is_invisible_to_older_snapshots(reg):
    sets = _sets(50)
    reg.load(sets)
    before = reg.snapshot()
    victim = sets[7].norad_id
    assert reg.delete(victim) >= 1
    after = reg.snapshot()
    assert before.latest(victim) is not None
    assert after.latest(victim) is None and reg.latest(victim) is None
    assert victim in [e.norad_id for e in before.scan()]
    assert victim not in [e.norad_id for e in after.scan()]
    before.release()
    after.release()


def test_uncommitted_writes_are_invisible_and_read_by_their_transaction(reg):
    sets = _sets(200)
    reg.load(sets[:100])
    with reg.transaction() as tx:
        tx.load(sets[100:])
        assert sum(1 for _ in tx.scan()) == len({e.norad_id for e in sets})
        # in the transaction's own thread reg's reads see its writes (as before snapshots); a snapshot,
        # or any other thread, sees the committed state only
        assert sum(1 for _ in reg.scan()) == len({e.norad_id for e in sets})
        with reg.snapshot() as committed:
            assert sum(1 for _ in committed.scan()) == len({e.norad_id for e in sets[:100]})
        other = []
        t = threading.Thread(target=lambda: other.append(sum(1 for _ in reg.scan())))
        t.start()
        t.join(10)
        assert other == [len({e.norad_id for e in sets[:100]})]
        # a reader in another thread does not wait for the running transaction
        got = []
        t = threading.Thread(target=lambda: got.append(reg.latest(sets[150].norad_id)))
        t0 = time.perf_counter()
        t.start()
        t.join(5)
        assert not t.is_alive() and time.perf_counter() - t0 < 2
        assert got == [None] or got[0].norad_id in {e.norad_id for e in sets[:100]}
    assert reg.latest(sets[150].norad_id) is not None


def test_10000_reads_at_one_snapshot_while_1000_writes_commit(reg):
    seed = 12
    rng = random.Random(seed)
    sets = _sets(300)
    reg.load(sets)
    ids = sorted({e.norad_id for e in sets})
    snap = reg.snapshot()
    want = {n: snap.latest(n) for n in ids}
    stop = threading.Event()
    errors = []

    def writer():
        try:
            for k in range(1000):
                es = sets[k % len(sets)]
                reg.put(_bump(es, k + 10))
                if k % 250 == 0:
                    reg.checkpoint()
        except BaseException as e:       # reported by the main thread
            errors.append(e)
        finally:
            stop.set()

    t = threading.Thread(target=writer)
    t.start()
    worst = 0.0
    try:
        for i in range(10_000):
            n = ids[rng.randrange(len(ids))]
            t0 = time.perf_counter()
            got = snap.latest(n)
            worst = max(worst, time.perf_counter() - t0)
            assert got == want[n], f"seed {seed}: read {i} of {n} differs from its snapshot"
    finally:
        t.join()
        snap.release()
    assert not errors, errors
    assert worst < 0.5, f"a snapshot read took {worst:.3f} s"
    for n in ids[:20]:
        assert reg.latest(n) != want[n] or all(e.norad_id != n for e in sets[:1000 % len(sets)])
    assert reg.check() == []


def test_history_never_mixes_two_commits(reg):
    """A history() call while a writer rewrites the object returns one commit's list (the issue's 53/165)."""
    es = _sets(1)[0]
    epochs = [es.replace(epoch=es.epoch + datetime.timedelta(microseconds=k)) for k in range(40)]
    reg.load(epochs)
    stop = threading.Event()

    def writer():
        k = 0
        while not stop.is_set():
            with reg.transaction() as tx:
                for e in epochs:
                    tx.put(_bump(e, k))
            k += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(60):
            h = reg.history(es.norad_id)
            # each commit adds 40 distinct sets at the same epochs (all kept): a history holds whole
            # commits, 40 sets of each mean motion (it asserted 40 sets in all, which held only while
            # the reads beat the writer's first commit)
            per_commit = Counter(round(x.mean_motion, 9) for x in h)
            assert set(per_commit.values()) == {40}, f"history mixes two commits: {sorted(per_commit.values())}"
    finally:
        stop.set()
        t.join()


def test_first_committer_wins(reg):
    es = _sets(1)[0]
    reg.put(es)
    s1 = reg.snapshot()
    s2 = reg.snapshot()
    with s1.transaction() as t1:
        t1.put(_bump(es, 1))
    with pytest.raises(ConflictError, match=str(es.norad_id)):
        with s2.transaction() as t2:
            t2.put(_bump(es, 2))
    assert reg.latest(es.norad_id) == _bump(es, 1)
    # read for update: a changed object fails the commit too, an untouched one does not
    s3 = reg.snapshot()
    reg.put(_bump(es, 3))
    with pytest.raises(ConflictError):
        with s3.transaction() as t3:
            t3.latest(es.norad_id, for_update=True)
            t3.put(_bump(_sets(2)[1], 0))
    assert reg.latest(_sets(2)[1].norad_id) is None       # nothing stored
    s4 = reg.snapshot()
    with s4.transaction() as t4:
        t4.put(_bump(_sets(2)[1], 0))
    for s in (s1, s2, s3, s4):
        s.release()


def test_retention_keeps_what_a_snapshot_needs_and_releases_it(tmp_path):
    reg = oor.open(tmp_path / "ret.oor", checkpoint_bytes=1 << 18, segment_bytes=1 << 18)
    try:
        sets = _sets(3000)
        reg.load(sets[:500])
        old = reg.snapshot()
        want = {e.norad_id: old.latest(e.norad_id) for e in sets[:500]}
        for k in range(4):
            reg.load([_bump(e, k) for e in sets[:500]])
            reg.checkpoint()
        st = reg.stats()
        assert st["watermark"] == old.lsn
        kept = reg.db.wal.first_lsn
        assert kept <= old.lsn + 1, "the log a live snapshot needs was removed"
        assert all(old.latest(n) == w for n, w in want.items())
        old.release()
        reg.load([_bump(e, 9) for e in sets[:500]])
        reg.checkpoint()
        assert reg.stats()["watermark"] > old.lsn
        assert reg.db.wal.first_lsn > kept, "the log was not released after the snapshot ended"
    finally:
        reg.close()


def test_snapshot_too_old(tmp_path):
    reg = oor.open(tmp_path / "old.oor", checkpoint_bytes=1 << 18, segment_bytes=1 << 18, max_snapshot_age=0.05)
    try:
        sets = _sets(800)
        reg.load(sets)
        old = reg.snapshot()
        time.sleep(0.1)
        for k in range(3):
            reg.load([_bump(e, k) for e in sets])
            reg.checkpoint()
        with pytest.raises(oor.SnapshotTooOldError):
            for e in sets:
                old.latest(e.norad_id)
        old.release()
    finally:
        reg.close()


def test_model_interleaving_threads(tmp_path):
    """Random commits, aborts, savepoints and checkpoints with reader threads taking snapshots at random
    moments: every read equals the model's committed state at that snapshot."""
    seed = int(os.environ.get("OOR_SEED", "2026"))
    rng = random.Random(seed)
    sets = _sets(120)
    reg = oor.open(tmp_path / "model.oor", checkpoint_bytes=1 << 18, segment_bytes=1 << 18, pool_pages=64)
    history = []                 # (snapshot lsn, {norad: mean_motion}) of each committed state
    state = {}
    stored = {}                  # norad -> mean motions of the sets stored (a repeat changes nothing)
    lock = threading.Lock()
    failures = []
    checked = [0]
    stop = threading.Event()

    def record():
        with reg.snapshot() as s:
            with lock:
                history.append((s.lsn, dict(state)))

    record()

    def reader(rseed):
        try:
            read_loop(rseed)
        except BaseException as e:           # reported by the main thread, with the seed
            failures.append(f"seed {seed}: reader {rseed}: {e!r}")

    def read_loop(rseed):
        r = random.Random(rseed)
        while not stop.is_set():
            with reg.snapshot() as s:
                with lock:
                    # the state recorded at exactly this snapshot's commit (None: an abort's END, or a
                    # commit not recorded yet -- nothing to compare)
                    expect = next((st for lsn, st in reversed(history) if lsn == s.lsn), None)
                if expect is None:
                    continue
                ids = r.sample(range(len(sets)), 10)
                for i in ids:
                    n = sets[i].norad_id
                    got = s.latest(n)
                    want = expect.get(n)
                    if (got is None) != (want is None) or (got is not None and abs(got.mean_motion - want) > 1e-12):
                        failures.append(f"seed {seed}: snapshot {s.lsn}: NORAD {n}: {got} != {want}")
                        return
                checked[0] += 1

    threads = [threading.Thread(target=reader, args=(seed + i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        for step in range(150):
            op = rng.random()
            picks = rng.sample(range(len(sets)), rng.randint(1, 12))
            if op < 0.6:
                with lock:
                    with reg.transaction() as tx:
                        for i in picks:
                            es = _bump(sets[i], rng.randrange(1000))
                            tx.put(es)
                            # a set already stored is unchanged by a repeat (docs/revisions.md)
                            if es.mean_motion not in stored.setdefault(es.norad_id, {sets[i].mean_motion}):
                                stored[es.norad_id].add(es.mean_motion)
                                state[es.norad_id] = es.mean_motion
                record()
            elif op < 0.75:
                try:
                    with reg.transaction() as tx:
                        for i in picks:
                            tx.put(_bump(sets[i], 5000 + step))
                        raise KeyError("abort")
                except KeyError:
                    pass
            elif op < 0.85:
                with lock:
                    with reg.transaction() as tx:
                        for i in picks:
                            n = sets[i].norad_id
                            tx.delete(n)
                            state.pop(n, None)
                record()
            else:
                reg.checkpoint()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[0]
    assert checked[0] > 20, f"seed {seed}: only {checked[0]} snapshots were compared"
    assert reg.check() == [], f"seed {seed}"
    reg.close()


def test_readme_style_snapshot_block(reg):
    sets = _sets(20)
    reg.load(sets)
    with reg.snapshot() as s:
        n = len(list(s.scan()))
        reg.load([_bump(e, 1) for e in sets])
        assert len(list(s.scan())) == n
        assert s.stats()["element_sets"] == len({(e.norad_id, e.epoch) for e in sets})
    with pytest.raises(OorError):
        s.latest(sets[0].norad_id)


def test_pages_parked_across_moves_are_rolled_to_each_snapshot(tmp_path):
    """A view moving to a newer commit parks the cached pages the commit changed and rolls one forward only
    when it is read again (docs/concurrency.md, "As built"): across many moves, checkpoints (which raise the
    page index's floor) and deletes, every read equals the committed state, and parked copies were used."""
    seed = int(os.environ.get("OOR_SEED", "4242"))
    rng = random.Random(seed)
    sets = _sets(900)
    reg = oor.open(tmp_path / "park.oor", checkpoint_bytes=1 << 20, segment_bytes=1 << 20, pool_pages=256)
    try:
        with reg.transaction() as tx:
            for es in sets:
                tx.put(es)
        ids = sorted({es.norad_id for es in sets})
        first = {es.norad_id: es for es in sets}
        state = {n: reg.latest(n).mean_motion for n in ids}     # also warms the view's pool
        for step in range(60):
            op = rng.random()
            picks = rng.sample(ids, rng.randint(1, 40))
            if op < 0.8:
                with reg.transaction() as tx:
                    for n in picks:
                        es = first[n].replace(mean_motion=first[n].mean_motion + 1e-6 * rng.randrange(1, 10 ** 6))
                        tx.put(es)
                        state[n] = es.mean_motion
            elif op < 0.9:
                with reg.transaction() as tx:
                    for n in picks[:3]:
                        tx.delete(n)
                        state[n] = None
            else:
                reg.checkpoint()
            # a few reads per commit: most changed pages stay parked over several moves
            for n in rng.sample(ids, 5):
                got = reg.latest(n)
                want = state[n]
                assert (got is None) == (want is None), f"seed {seed}: step {step}: NORAD {n}"
                assert got is None or got.mean_motion == want, f"seed {seed}: step {step}: NORAD {n}"
        for n in ids:
            got = reg.latest(n)
            assert (got is None and state[n] is None) or got.mean_motion == state[n], f"seed {seed}: NORAD {n}"
        assert reg.db.stats()["parked_rolls"] > 0, f"seed {seed}: no parked copy was ever used"
        assert reg.check() == [], f"seed {seed}"
    finally:
        reg.close()


def test_a_clean_file_copied_without_its_log_opens_read_only(tmp_path):
    """A cleanly closed registry copied alone (no -wal directory beside it) reads every set read-only, and
    check() finds nothing wrong: the file holds every change below its clean-close mark."""
    import shutil
    sets = _sets(800)
    src = tmp_path / "a" / "cat.oor"
    src.parent.mkdir()
    with oor.open(src) as reg:
        reg.load(sets)
        want = {n: reg.latest(n) for n in sorted({es.norad_id for es in sets})}
    dst = tmp_path / "b" / "cat.oor"
    dst.parent.mkdir()
    shutil.copy(src, dst)
    with oor.open(dst, read_only=True) as reg:
        for n, es in want.items():
            assert reg.latest(n) == es
        assert reg.check() == []
    assert not (tmp_path / "b" / "cat.oor-wal").exists() or not os.listdir(tmp_path / "b" / "cat.oor-wal")


def test_misses_served_in_c_agree_with_the_snapshot(tmp_path):
    """With a pool far smaller than the file, a held snapshot's misses are served in C from the writer's
    frames or the file when those are old enough, and by the snapshot layer otherwise, while the writer
    commits, evicts and writes pages back: every read agrees with the snapshot (seeded)."""
    seed = 1729
    rnd = random.Random(seed)
    sets = _sets(3000)
    reg = oor.open(tmp_path / "c.oor", pool_pages=24, checkpoint_bytes=1 << 18, segment_bytes=1 << 18)
    try:
        reg.load(sets)
        ids = [e.norad_id for e in sets]
        with reg.snapshot() as s:
            want = {n: s.latest(n) for n in ids}
            for k in range(4):
                reg.load([_bump(e, k) for e in rnd.sample(sets, 600)])
                for n in rnd.sample(ids, 400):
                    assert s.latest(n) == want[n], f"seed {seed}: {n} differs at its snapshot"
            reg.checkpoint()
            for n in ids:
                assert s.latest(n) == want[n], f"seed {seed}: {n} differs after a checkpoint"
        now = {n: reg.latest(n) for n in ids}
        v = reg.db.acquire_view()
        try:
            served, misses = v.pool.direct_misses, v.pool.misses
        finally:
            reg.db.release_view(v)
        assert misses > 0 and served > 0, (served, misses)
        assert sum(1 for n in ids if now[n] != want[n]) > 0      # the writer's commits are seen now
        assert reg.check() == []
    finally:
        reg.close()


def test_reader_process_misses_in_c_agree_with_the_log(tmp_path):
    """A read-only registry (a reader process's Database) serves a miss in C when its followed log lists
    no record of the page (bufpool._file_direct: the file's copy is the page at its snapshot), and through
    the snapshot layer when it does; with a pool far smaller than the file and updates the log still
    holds (no checkpoint since), every read agrees with the writer's, both kinds of miss happen, and the
    file checks clean (seeded)."""
    seed = 4242
    rnd = random.Random(seed)
    sets = _sets(3000)
    path = tmp_path / "c.oor"
    w = oor.open(path, checkpoint_bytes=1 << 30, checkpoint_seconds=3600)
    r = None
    try:
        w.load(sets)
        w.checkpoint()
        ids = sorted({e.norad_id for e in sets})
        for k in range(3):
            w.load([_bump(e, k) for e in rnd.sample(sets, 300)])
        want = {n: w.latest(n) for n in ids}
        r = oor.open(path, read_only=True, pool_pages=24)
        for n in rnd.sample(ids, len(ids)):
            assert r.latest(n) == want[n], f"seed {seed}: {n} differs in the reader"
        v = r.db.acquire_view()
        try:
            served, misses = v.pool.direct_misses, v.pool.misses
        finally:
            r.db.release_view(v)
        assert 0 < served < misses, f"seed {seed}: {served} of {misses} misses served in C"
        assert r.check() == []
    finally:
        if r is not None:
            r.close()
        w.close()
