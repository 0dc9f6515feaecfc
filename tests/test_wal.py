"""The write-ahead log (oor/wal.py): on-disk format, torn tails, segments, truncation, group commit.

The format checks read the segment files with the byte table at the top of
oor/wal.py (not through the WAL class), so a change to the format that is not
a change to the documented table fails here.
"""
import os
import random
import struct
import threading
import time

import pytest

from oor import wal as W
from oor.storage import open_database
from oor.vfs import OS_VFS, OsFile, OsVfs
from oor.wal import WAL
from oor_core.checksum import crc32c


# ---- an independent reader of the documented byte table ------------------------------
def read_segments(wal_dir):
    """[(start, [(lsn, txid, prev, type, payload)])] parsed straight from the files."""
    out = []
    names = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))
    for name in names:
        with open(os.path.join(wal_dir, name), "rb") as f:
            data = f.read()
        assert len(data) >= 32, name
        magic, start = struct.unpack_from("<8sQ", data, 0)
        assert magic == b"OORWAL\x00\x01"
        assert data[16:28] == bytes(12)
        assert struct.unpack_from("<I", data, 28)[0] == crc32c(data[:28])
        assert name == f"{start:016x}.wal"
        recs = []
        pos = 32
        while pos < len(data):
            if pos + 36 > len(data) or struct.unpack_from("<I", data, pos + 4)[0] == 0:
                # the end of the records: the rest of the segment is its zero preallocation
                assert data[pos:] == bytes(len(data) - pos), f"{name}: non-zero bytes after the last record"
                break
            crc, length, lsn, txid, prev, rtype = struct.unpack_from("<IIQQQB", data, pos)
            assert length >= 36 and pos + length <= len(data), f"{name}: bad length at {pos}"
            assert data[pos + 33:pos + 36] == b"\0\0\0"
            assert crc32c(data[pos + 4:pos + length]) == crc, f"{name}: CRC mismatch at LSN {lsn}"
            assert lsn == start + pos - 32, "LSN is not the record's stream position"
            assert rtype in range(1, 10)
            recs.append((lsn, txid, prev, rtype, data[pos + 36:pos + length]))
            pos += length
        out.append((start, recs))
    return out


def all_records(wal_dir):
    segs = read_segments(wal_dir)
    for (s1, r1), (s2, _r2) in zip(segs, segs[1:]):
        end = r1[-1][0] + 36 + len(r1[-1][4]) if r1 else s1
        assert end == s2, "segments are not contiguous"
    return [r for _s, recs in segs for r in recs]


def key(i):
    return b"key-%012d" % i


# ---- records of a real workload ---------------------------------------------------------
def test_records_visible_after_1000_inserts(tmp_path):
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=128)
    t = db.tree("t", create=True)
    n_tx = 0
    for b in range(10):
        with db.transaction():
            for i in range(b * 100, b * 100 + 100):
                t.insert(key(i), b"value-%06d" % i + bytes(40))
        n_tx += 1
    for i in range(1000, 1010):                      # one-record transactions too
        with db.transaction():
            t.insert(key(i), b"v")
        n_tx += 1
    # every commit is durable, so the files already hold everything (read them while open)
    recs = all_records(path + "-wal")
    assert recs, "no log records"
    assert recs[0][0] == W.FIRST_LSN
    types = [r[3] for r in recs]
    # the tree creation is a transaction of its own
    assert types.count(W.COMMIT) == n_tx + 1
    assert types.count(W.UPDATE) >= n_tx + 1
    assert W.CKPT_BEGIN in types and W.CKPT_END in types     # the checkpoint taken at open
    # the prev-LSN chain of every transaction: first record has 0, each later one links to the one before
    last = {}
    for lsn, txid, prev, rtype, payload in recs:
        if rtype in (W.CKPT_BEGIN, W.CKPT_END):
            assert txid == 0 and prev == 0
            continue
        assert txid > 0
        assert prev == last.get(txid, 0), f"LSN {lsn}: prev {prev} != {last.get(txid, 0)}"
        last[txid] = lsn
        if rtype == W.UPDATE:
            pages = W.decode_pages(payload)
            assert pages and all(p.image is not None or p.ranges for p in pages)
        elif rtype == W.COMMIT:
            assert payload == b""
    # every committed transaction ends with COMMIT; transaction ids increase
    ends = {}
    for lsn, txid, prev, rtype, payload in recs:
        if txid:
            ends[txid] = rtype
    assert set(ends.values()) == {W.COMMIT}
    assert sorted(ends) == list(range(min(ends), min(ends) + len(ends)))
    # every key is in the log (as new bytes of a range or inside a full page image)
    blob = b"".join(r[4] for r in recs)
    for i in range(1010):
        assert key(i) in blob, i
    # the WAL's own reader sees exactly the same records
    ro = WAL(path + "-wal", OS_VFS, read_only=True)
    mine = [(r.lsn, r.txid, r.prev_lsn, r.type, r.payload) for r in ro.scan()]
    ro.close()
    assert mine == recs
    db.close()
    # a clean close ends with a checkpoint
    recs = all_records(path + "-wal")
    assert recs[-1][3] == W.CKPT_END
    begin, txns = W.decode_ckpt_end(recs[-1][4])
    assert txns == {} and any(r[0] == begin and r[3] == W.CKPT_BEGIN for r in recs)


# ---- a WAL on its own ------------------------------------------------------------------
def open_wal(d, **kw):
    w = WAL(str(d), OS_VFS, **kw)
    list(w.scan())
    return w


def fill(w, n, size=100, seed=1, txid=7):
    rng = random.Random(seed)
    out = []
    prev = 0
    for i in range(n):
        payload = W.encode_pages([(rng.randrange(1, 1000), None,
                                   [(16 + i % 100, bytes(size), rng.randbytes(size))])])
        lsn, end = w.append(W.UPDATE, txid, prev, payload)
        out.append((lsn, payload))
        prev = lsn
    return out


def test_torn_tail_truncated_mid_record(tmp_path):
    d = tmp_path / "wal"
    w = open_wal(d)
    recs = fill(w, 20)
    w.flush()
    end = w.next_lsn
    w.close()
    seg = d / f"{W.FIRST_LSN:016x}.wal"
    data = seg.read_bytes()
    assert len(data) >= 32 + end - W.FIRST_LSN
    assert data[32 + end - W.FIRST_LSN:] == bytes(len(data) - 32 - end + W.FIRST_LSN), "zeros after the log"
    last_lsn = recs[-1][0]
    # cut the last record in half
    cut = 32 + last_lsn - W.FIRST_LSN + 50
    os.truncate(seg, cut)
    w = WAL(str(d), OS_VFS)
    got = list(w.scan())
    assert [(r.lsn, r.payload) for r in got] == recs[:-1]
    assert seg.read_bytes()[32 + last_lsn - W.FIRST_LSN:] == bytes(cut - 32 - last_lsn + W.FIRST_LSN), \
        "torn tail not zeroed"
    assert w.next_lsn == last_lsn
    # the log goes on from there
    lsn, _ = w.append(W.COMMIT, 7, recs[-2][0])
    assert lsn == last_lsn
    w.flush()
    w.close()
    w = open_wal(d)
    assert [r.type for r in w.scan()][-1] == W.COMMIT
    assert len(list(w.scan())) == 20
    w.close()


@pytest.mark.parametrize("where", ["payload", "header", "crc", "length"])
def test_torn_tail_flipped_byte(tmp_path, where):
    d = tmp_path / "wal"
    w = open_wal(d)
    recs = fill(w, 10)
    w.flush()
    w.close()
    seg = d / f"{W.FIRST_LSN:016x}.wal"
    last = 32 + recs[-1][0] - W.FIRST_LSN
    off = {"payload": last + 60, "header": last + 16, "crc": last + 1, "length": last + 5}[where]
    with open(seg, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x40]))
    w = WAL(str(d), OS_VFS)
    got = [(r.lsn, r.payload) for r in w.scan()]
    assert got == recs[:-1]
    data = seg.read_bytes()
    assert data[last:] == bytes(len(data) - last), "torn tail not zeroed"
    w.close()


def test_read_only_wal_does_not_truncate(tmp_path):
    d = tmp_path / "wal"
    w = open_wal(d)
    recs = fill(w, 5)
    w.flush()
    w.close()
    seg = d / f"{W.FIRST_LSN:016x}.wal"
    with open(seg, "ab") as f:
        f.write(b"\x01garbage tail")
    size = seg.stat().st_size
    ro = WAL(str(d), OS_VFS, read_only=True)
    assert [(r.lsn, r.payload) for r in ro.scan()] == recs
    ro.close()
    assert seg.stat().st_size == size


def test_torn_tail_in_database_log(tmp_path):
    """Junk after the last record of a closed database is cut on reopen; all data stays."""
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=64)
    t = db.tree("t", create=True)
    for b in range(5):
        with db.transaction():
            for i in range(b * 50, b * 50 + 50):
                t.insert(key(i), b"x" * 30)
    db.close()
    wal_dir = path + "-wal"
    seg = os.path.join(wal_dir, sorted(os.listdir(wal_dir))[-1])
    good = os.path.getsize(seg)
    # half of a plausible record header, then garbage
    with open(seg, "ab") as f:
        f.write(struct.pack("<II", 0xDEADBEEF, 500) + os.urandom(100))
    db = open_database(path, pool_pages=64)
    assert os.path.getsize(seg) >= good
    t = db.tree("t")
    assert [k for k in t.keys()] == [key(i) for i in range(250)]
    assert db.check() == [] and t._check() == []
    db.close()
    all_records(wal_dir)          # the file parses to its end again


def test_segment_rotation(tmp_path):
    d = tmp_path / "wal"
    w = open_wal(d, segment_bytes=4096)
    recs = fill(w, 200, size=150)
    w.flush()
    assert len(w.segments) > 10
    names = sorted(os.listdir(d))
    assert names == [f"{s:016x}.wal" for s in w.segments]
    parsed = all_records(str(d))
    for a, b in zip(w.segments, w.segments[1:]):
        # a segment is closed once it reaches segment_bytes; only the last record may overshoot
        assert b - a < 4096 + 400
    assert [(r[0], r[4]) for r in parsed] == recs
    assert [(r.lsn, r.payload) for r in w.scan()] == recs
    # random access across segments, and scanning from the middle
    rng = random.Random(3)
    for lsn, payload in rng.sample(recs, 30):
        r = w.read(lsn)
        assert r.lsn == lsn and r.payload == payload and r.type == W.UPDATE
    mid = recs[117][0]
    assert [r.lsn for r in w.scan(mid)] == [lsn for lsn, _ in recs[117:]]
    with pytest.raises(W.WalError):
        w.read(recs[5][0] + 1)
    w.close()
    w = open_wal(d, segment_bytes=4096)
    assert [(r.lsn, r.payload) for r in w.scan()] == recs
    w.close()


def test_torn_segment_header_ends_the_log(tmp_path):
    d = tmp_path / "wal"
    w = open_wal(d, segment_bytes=4096)
    recs = fill(w, 100, size=150)
    w.flush()
    segs = list(w.segments)
    w.close()
    # damage the header of the third segment: the log ends before it, later segments go
    with open(d / f"{segs[2]:016x}.wal", "r+b") as f:
        f.write(b"XX")
    w = WAL(str(d), OS_VFS, segment_bytes=4096)
    got = [r.lsn for r in w.scan()]
    assert got == [lsn for lsn, _ in recs if lsn < segs[2]]
    assert sorted(os.listdir(d)) == [f"{s:016x}.wal" for s in segs[:2]]
    assert w.next_lsn == segs[2]
    w.close()


def test_remove_before(tmp_path):
    d = tmp_path / "wal"
    w = open_wal(d, segment_bytes=4096)
    recs = fill(w, 100, size=150)
    w.flush()
    segs = list(w.segments)
    assert len(segs) >= 5
    # an LSN inside segment 2 removes segments 0 and 1 only
    inside = segs[2] + 10
    assert w.remove_before(inside) == 2
    assert w.segments == segs[2:]
    assert sorted(os.listdir(d)) == [f"{s:016x}.wal" for s in segs[2:]]
    assert w.first_lsn == segs[2]
    assert w.remove_before(segs[2]) == 0
    # everything: the current segment is always kept
    assert w.remove_before(w.next_lsn + 10 ** 6) == len(segs) - 3
    assert w.segments == [segs[-1]]
    assert os.listdir(d) == [f"{segs[-1]:016x}.wal"]
    assert [r.lsn for r in w.scan()] == [lsn for lsn, _ in recs if lsn >= segs[-1]]
    with pytest.raises(W.WalError):
        w.read(recs[0][0])
    # appends continue in the kept segment, and a reopen sees the same log
    lsn, _ = w.append(W.COMMIT, 7, recs[-1][0])
    w.flush()
    w.close()
    w = open_wal(d, segment_bytes=4096)
    assert w.segments == [segs[-1]]
    assert list(w.scan())[-1].lsn == lsn
    w.close()


def test_every_record_type_round_trips(tmp_path):
    rng = random.Random(5)
    image = rng.randbytes(4096)
    # kind 1 (full image) stores only old bytes per range: the new ones are the image's
    pages = [(3, None, [(16, b"ab", b"cd"), (100, bytes(10), rng.randbytes(10))]),
             (9, image, [(4000, b"\x01" * 96, image[4000:4096])]),
             (0, image, []),
             (2 ** 32 - 2, None, [(4095, b"x", b"y")])]
    enc = W.encode_pages(pages + [(5, image, None)])          # kind 2: a new page, image only
    dec = W.decode_pages(enc)
    assert [tuple(p) for p in dec] == pages + [(5, image, [])]
    assert len(W.encode_pages([(5, image, None)])) == 2 + 8 + 4096
    enc = W.encode_pages(pages)
    assert W.decode_pages(W.encode_pages([])) == []
    ck = W.encode_ckpt_end(12345, {5: [4096, 8000], 9: [9000, 9100]})
    assert W.decode_ckpt_end(ck) == (12345, {5: (4096, 8000), 9: (9000, 9100)})
    assert W.decode_ckpt_end(W.encode_ckpt_end(1, {})) == (1, {})
    clr = (777).to_bytes(8, "little") + enc
    cases = [(W.BEGIN, 4, 0, b""), (W.UPDATE, 4, 1, enc), (W.CLR, 4, 2, clr), (W.COMMIT, 4, 3, b""),
             (W.ABORT, 5, 0, b""), (W.END, 5, 4, b""), (W.CKPT_BEGIN, 0, 0, b""), (W.CKPT_END, 0, 0, ck)]
    assert sorted(c[0] for c in cases) == list(range(1, 9))
    d = tmp_path / "wal"
    w = open_wal(d)
    lsns = [w.append(*c)[0] for c in cases]
    # readable from the buffer before the flush...
    assert [(r.type, r.txid, r.prev_lsn, r.payload) for r in w.scan()] == cases
    assert [w.read(lsn).payload for lsn in lsns] == [c[3] for c in cases]
    w.flush()
    w.close()
    # ...and from the file after it
    w = open_wal(d)
    got = list(w.scan())
    assert [(r.type, r.txid, r.prev_lsn, r.payload) for r in got] == cases
    assert [r.lsn for r in got] == lsns
    assert [W.TYPE_NAMES[r.type] for r in got] == ["BEGIN", "UPDATE", "CLR", "COMMIT", "ABORT", "END",
                                                   "CKPT_BEGIN", "CKPT_END"]
    assert [tuple(p) for p in W.decode_pages(got[2].payload, 8)] == pages
    assert int.from_bytes(got[2].payload[:8], "little") == 777
    w.close()
    assert [(r[3], r[1], r[2], r[4]) for r in all_records(str(d))] == cases


@pytest.mark.parametrize("bad", [
    lambda e: e[:-1],                              # truncated range
    lambda e: e + b"\0",                           # stray byte
    lambda e: e[:6] + b"\x07" + e[7:],             # unknown kind
    lambda e: e[:10] + struct.pack("<H", 8) + e[12:],   # range offset inside the page header
])
def test_decode_pages_rejects_malformed(bad):
    enc = W.encode_pages([(3, None, [(16, b"ab", b"cd")])])
    with pytest.raises((ValueError, struct.error)):
        W.decode_pages(bad(enc))


# ---- group commit ----------------------------------------------------------------------
class _SlowFile(OsFile):
    def fsync(self):
        time.sleep(0.004)
        super().fsync()


class _SlowVfs(OsVfs):
    def open(self, path, create=True):
        return _SlowFile(path, create)


def test_group_commit_wal_level(tmp_path):
    """Threads that flush at once share fsyncs (a slow fsync makes the overlap certain)."""
    w = WAL(str(tmp_path / "wal"), _SlowVfs())
    list(w.scan())
    w.append(W.BEGIN, 1, 0)
    w.flush()
    base = w.fsyncs
    n_threads, per = 8, 20
    errors = []

    def worker(tid):
        try:
            prev = 0
            for i in range(per):
                lsn, end = w.append(W.COMMIT, tid, prev)
                prev = lsn
                w.flush(end)
                assert w.durable_lsn >= end
        except Exception as e:       # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t + 2,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    commits = n_threads * per
    fsyncs = w.fsyncs - base
    assert fsyncs < commits / 2, (fsyncs, commits)
    w.close()
    w = open_wal(tmp_path / "wal")
    assert sum(1 for r in w.scan() if r.type == W.COMMIT) == commits
    w.close()


def test_group_commit_database(tmp_path):
    """N threads committing one-record transactions: fewer fsyncs than commits, nothing lost."""
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=256, vfs=None)
    t = db.tree("t", create=True)
    base = db.wal.fsyncs
    n_threads, per = 8, 60
    errors = []

    def worker(tid):
        try:
            for i in range(per):
                with db.transaction():
                    t.insert(b"%02d-%06d" % (tid, i), b"v" * 100)
        except Exception as e:       # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    commits = n_threads * per
    fsyncs = db.wal.fsyncs - base
    assert fsyncs < commits, (fsyncs, commits)
    assert len(t) == commits
    db.close()
    db = open_database(path)
    assert len(db.tree("t")) == commits
    assert db.recovery["redo_records"] == 0
    db.close()


def test_group_commit_slow_disk_database(tmp_path):
    """With a 4 ms fsync, 8 committing threads need far fewer fsyncs than commits."""
    path = str(tmp_path / "db")
    vfs = _SlowVfs()
    db = open_database(path, pool_pages=256, vfs=vfs)
    t = db.tree("t", create=True)
    base = db.wal.fsyncs
    n_threads, per = 8, 25

    def worker(tid):
        for i in range(per):
            with db.transaction():
                t.insert(b"%02d-%06d" % (tid, i), b"v" * 100)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    commits = n_threads * per
    fsyncs = db.wal.fsyncs - base
    assert fsyncs <= commits / 2, (fsyncs, commits)
    assert len(t) == commits
    db.close()


def test_encode_changes_matches_the_reference_encoder():
    """The C encoder the logger uses writes exactly what wal.encode_pages (the format's reference) writes."""
    from oor_core import walscan
    from oor_core.capture import page_diff
    rng = random.Random(11)
    for trial in range(200):
        changes, want, imaged = [], [], set(rng.sample(range(1, 60), 20))
        seen = set(imaged)
        for pid in rng.sample(range(1, 60), rng.randint(1, 6)):
            after = bytearray(rng.randbytes(4096))
            if rng.random() < 0.2:
                before = None
            else:
                before = bytearray(after)
                for _ in range(rng.randint(0, 5)):
                    a = rng.randrange(16, 4096)
                    before[a:a + rng.randint(1, 40)] = rng.randbytes(40)[:len(before[a:a + 40])]
                before = bytes(before[:4096])
            after = bytes(after)
            ranges = page_diff(before, after)
            changes.append((pid, before, after, ranges))
            if not ranges:
                continue
            if before is None:
                want.append((pid, after, None))
            else:
                full = pid not in seen
                want.append((pid, after if full else None,
                             [(o, before[o:o + n], after[o:o + n]) for o, n in ranges]))
            seen.add(pid)
        got = walscan.encode_changes(changes, imaged)
        assert got == (W.encode_pages(want) if want else None), trial
        assert imaged == seen
