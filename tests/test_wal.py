"""The write-ahead log (oor/wal.py) and its format (oor_core/logformat): records, torn tails, segments,
truncation, group commit.

The format checks read the segment files with the format owner's own functions
(oor_core.logformat: no second reader or encoder here), and pin the bytes: a
golden digest of a log holding every record type and page kind, written before
the format moved into logformat, so a change of the on-disk format fails here.
"""
import hashlib
import os
import random
import threading
import time

import pytest

from oor_core.errors import CorruptLogError

from oor.storage import open_database
from oor.vfs import OS_VFS, OsFile, OsVfs
from oor.wal import WAL
from oor_core import logformat as LF
from oor_core.checksum import crc32c
from oor_core.errors import WalError

PAGE = 4096


# ---- the segment files, read with the format owner's functions -------------------------------
def read_segments(wal_dir):
    """[(start, [(lsn, txid, prev, type, payload)])] parsed straight from the files."""
    out = []
    names = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))
    for name in names:
        with open(os.path.join(wal_dir, name), "rb") as f:
            data = f.read()
        start = LF.segment_start(data[:LF.SEG_HEADER_SIZE], name)
        assert start is not None, f"{name}: bad segment header"
        assert name == f"{start:016x}.wal"
        recs = []
        pos = LF.SEG_HEADER_SIZE
        while pos < len(data):
            length = LF.record_length(data, pos)
            if length == 0:
                # the end of the records: the rest of the segment is its zero preallocation
                assert data[pos:] == bytes(len(data) - pos), f"{name}: non-zero bytes after the last record"
                break
            lsn = start + pos - LF.SEG_HEADER_SIZE
            problem = LF.record_problem(data[pos:pos + length], lsn)
            assert problem is None, f"{name}: {problem}"
            r = LF.read_record(data, pos)
            assert LF.payload_problem(r.type, r.payload) is None
            recs.append((r.lsn, r.txid, r.prev_lsn, r.type, r.payload))
            pos += length
        out.append((start, recs))
    return out


def all_records(wal_dir):
    segs = read_segments(wal_dir)
    for (s1, r1), (s2, _r2) in zip(segs, segs[1:]):
        end = r1[-1][0] + LF.REC_HEADER_SIZE + len(r1[-1][4]) if r1 else s1
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
    assert recs[0][0] == LF.FIRST_LSN
    types = [r[3] for r in recs]
    # the tree creation is a transaction of its own
    assert types.count(LF.COMMIT) == n_tx + 1
    assert types.count(LF.UPDATE) >= n_tx + 1
    assert LF.CKPT_BEGIN in types and LF.CKPT_END in types     # the checkpoint taken at open
    # the prev-LSN chain of every transaction: first record has 0, each later one links to the one before
    last = {}
    for lsn, txid, prev, rtype, payload in recs:
        if rtype in (LF.CKPT_BEGIN, LF.CKPT_END):
            assert txid == 0 and prev == 0
            continue
        assert txid > 0
        assert prev == last.get(txid, 0), f"LSN {lsn}: prev {prev} != {last.get(txid, 0)}"
        last[txid] = lsn
        if rtype == LF.UPDATE:
            pages = LF.decode_pages(payload)
            assert pages and all(p.image is not None or p.ranges for p in pages)
        elif rtype == LF.COMMIT:
            assert payload == b""
    # every committed transaction ends with COMMIT; transaction ids increase
    ends = {}
    for lsn, txid, prev, rtype, payload in recs:
        if txid:
            ends[txid] = rtype
    assert set(ends.values()) == {LF.COMMIT}
    assert sorted(ends) == list(range(min(ends), min(ends) + len(ends)))
    # the log alone rebuilds every key: redo its page images and ranges in LSN order.  (Looking
    # for each key's bytes in the raw records is not enough: ranges hold only the bytes that
    # differ, so a record written over a similar one -- a leaf settled into its sibling, or
    # compacted -- is logged in pieces.)
    pages = {}
    for lsn, txid, prev, rtype, payload in recs:
        if rtype == LF.UPDATE:
            for pc in LF.decode_pages(payload):
                if pc.image is not None:
                    pages[pc.page_id] = bytearray(pc.image)
                else:
                    pg = pages[pc.page_id]           # a page is imaged before its first ranges
                    for off, _old, new in pc.ranges:
                        pg[off:off + len(new)] = new
    blob = b"".join(bytes(pg) for pg in pages.values())
    for i in range(1010):
        assert key(i) in blob, i
    # the WAL's own reader sees exactly the same records
    ro = WAL(path + "-wal", OS_VFS, read_only=True)
    mine = [(r.lsn, r.txid, r.prev_lsn, r.type, r.payload) for r in ro.scan()]
    ro.close()
    assert mine == recs
    # a clean close ends with a checkpoint, marks the file clean, and then removes the log (the
    # data file holds everything; a segment is 16 MiB of file): no segment is left behind
    end = db.wal.next_lsn
    db.close()
    assert all_records(path + "-wal") == []
    assert [n for n in os.listdir(path + "-wal") if n.endswith(".wal")] == []
    from oor_core.pager import Pager
    pg = Pager(path, create=False, read_only=True)
    assert pg.clean_end() >= end
    pg.close()
    # the next writer continues at the mark, with every key readable
    db = open_database(path)
    assert db.wal.next_lsn >= end
    db.close()


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
        pid, off = rng.randrange(1, 1000), 16 + i % 100
        after = bytearray(PAGE)
        after[off:off + size] = rng.randbytes(size)
        payload = LF.encode_changes([(pid, bytes(PAGE), bytes(after), [(off, size)])], {pid})   # kind 0
        lsn, end = w.append(LF.UPDATE, txid, prev, payload)
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
    seg = d / f"{LF.FIRST_LSN:016x}.wal"
    data = seg.read_bytes()
    assert len(data) >= 32 + end - LF.FIRST_LSN
    assert data[32 + end - LF.FIRST_LSN:] == bytes(len(data) - 32 - end + LF.FIRST_LSN), "zeros after the log"
    last_lsn = recs[-1][0]
    # cut the last record in half
    cut = 32 + last_lsn - LF.FIRST_LSN + 50
    os.truncate(seg, cut)
    w = WAL(str(d), OS_VFS)
    got = list(w.scan())
    assert [(r.lsn, r.payload) for r in got] == recs[:-1]
    assert seg.read_bytes()[32 + last_lsn - LF.FIRST_LSN:] == bytes(cut - 32 - last_lsn + LF.FIRST_LSN), \
        "torn tail not zeroed"
    assert w.next_lsn == last_lsn
    # the log goes on from there
    lsn, _ = w.append(LF.COMMIT, 7, recs[-2][0])
    assert lsn == last_lsn
    w.flush()
    w.close()
    w = open_wal(d)
    assert [r.type for r in w.scan()][-1] == LF.COMMIT
    assert len(list(w.scan())) == 20
    w.close()


@pytest.mark.parametrize("where", ["payload", "header", "crc", "length"])
def test_torn_tail_flipped_byte(tmp_path, where):
    d = tmp_path / "wal"
    w = open_wal(d)
    recs = fill(w, 10)
    w.flush()
    w.close()
    seg = d / f"{LF.FIRST_LSN:016x}.wal"
    last = 32 + recs[-1][0] - LF.FIRST_LSN
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
    seg = d / f"{LF.FIRST_LSN:016x}.wal"
    with open(seg, "ab") as f:
        f.write(b"\x01garbage tail")
    size = seg.stat().st_size
    ro = WAL(str(d), OS_VFS, read_only=True)
    assert [(r.lsn, r.payload) for r in ro.scan()] == recs
    ro.close()
    assert seg.stat().st_size == size


@pytest.mark.parametrize("how", ["crash", "clean"])
def test_torn_tail_in_database_log(tmp_path, how):
    """Junk after the last record of a database's log changes nothing on reopen.  After a crash (the
    writer left without a checkpoint: ``abandon``) the junk is a torn tail that recovery cuts off, keeping
    every commit; after a clean close the log is removed (the data file holds everything below its
    clean-close mark) and a junk segment put there later is dropped: a fresh log begins at the mark."""
    path = str(tmp_path / "db")
    db = open_database(path, pool_pages=64)
    t = db.tree("t", create=True)
    for b in range(5):
        with db.transaction():
            for i in range(b * 50, b * 50 + 50):
                t.insert(key(i), b"x" * 30)
    wal_dir = path + "-wal"
    if how == "crash":
        end = db.wal.next_lsn
        db.abandon()
        name = sorted(os.listdir(wal_dir))[-1]
        seg = os.path.join(wal_dir, name)
        good = LF.SEG_HEADER_SIZE + end - int(name[:16], 16)
        # half of a plausible record header, then garbage, right after the last record
        with open(seg, "r+b") as f:
            f.seek(good)
            f.write(bytes.fromhex("efbeadde" "f4010000") + os.urandom(100))
    else:
        end = db.wal.next_lsn
        db.close()
        assert [n for n in os.listdir(wal_dir) if n.endswith(".wal")] == []
        with open(os.path.join(wal_dir, f"{end:016x}.wal"), "wb") as f:
            f.write(bytes.fromhex("efbeadde" "f4010000") + os.urandom(100))
    db = open_database(path, pool_pages=64)
    t = db.tree("t")
    assert [k for k in t.keys()] == [key(i) for i in range(250)]
    assert db.check() == [] and t._check() == []
    db.abandon()
    all_records(wal_dir)          # the log parses to its end again


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
        assert r.lsn == lsn and r.payload == payload and r.type == LF.UPDATE
    mid = recs[117][0]
    assert [r.lsn for r in w.scan(mid)] == [lsn for lsn, _ in recs[117:]]
    with pytest.raises(WalError):
        w.read(recs[5][0] + 1)
    w.close()
    w = open_wal(d, segment_bytes=4096)
    assert [(r.lsn, r.payload) for r in w.scan()] == recs
    w.close()


def test_damaged_segment_header_with_later_segments_is_corruption(tmp_path):
    """Issue 11: a bad segment header followed by more log is damage, never a tail: refused, log untouched."""
    d = tmp_path / "wal"
    w = open_wal(d, segment_bytes=4096)
    fill(w, 100, size=150)
    w.flush()
    segs = list(w.segments)
    w.close()
    with open(d / f"{segs[2]:016x}.wal", "r+b") as f:
        f.write(b"XX")
    before = {n: (d / n).read_bytes() for n in os.listdir(d)}
    w = WAL(str(d), OS_VFS, segment_bytes=4096)
    with pytest.raises(CorruptLogError) as ei:
        w.open()
    assert f"{segs[2]:016x}.wal" in str(ei.value) and "offset 0" in str(ei.value)
    assert {n: (d / n).read_bytes() for n in os.listdir(d)} == before


def test_torn_header_of_the_newest_segment_ends_the_log(tmp_path):
    """The newest segment's header torn at its creation (nothing after it, nothing known durable there)."""
    d = tmp_path / "wal"
    w = open_wal(d, segment_bytes=4096)
    recs = fill(w, 100, size=150)
    w.flush()
    segs = list(w.segments)
    w.close()
    with open(d / f"{segs[-1]:016x}.wal", "r+b") as f:
        f.write(b"XX")
    w = WAL(str(d), OS_VFS, segment_bytes=4096)
    got = [r.lsn for r in w.scan()]
    assert got == [lsn for lsn, _ in recs if lsn < segs[-1]]
    assert sorted(os.listdir(d)) == [f"{s:016x}.wal" for s in segs[:-1]]
    assert w.next_lsn == segs[-1]
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
    with pytest.raises(WalError):
        w.read(recs[0][0])
    # appends continue in the kept segment, and a reopen sees the same log
    lsn, _ = w.append(LF.COMMIT, 7, recs[-1][0])
    w.flush()
    w.close()
    w = open_wal(d, segment_bytes=4096)
    assert w.segments == [segs[-1]]
    assert list(w.scan())[-1].lsn == lsn
    w.close()


def page_with(base, edits):
    """base (bytes of a page) with [(offset, bytes)] written over it."""
    p = bytearray(base)
    for off, data in edits:
        p[off:off + len(data)] = data
    return bytes(p)


def test_every_record_type_round_trips(tmp_path):
    rng = random.Random(5)
    base = rng.randbytes(PAGE)
    image = page_with(base, [(4000, b"\x01" * 96)])
    changes = [(3, base, page_with(base, [(16, b"cd"), (100, rng.randbytes(10))]), [(16, 2), (100, 10)]),
               (9, base, image, [(4000, 96)]),                      # first change since the checkpoint: kind 1
               (2 ** 32 - 2, base, page_with(base, [(4095, b"y")]), [(4095, 1)]),
               (4, base, base, []),                                  # unchanged: not logged
               (5, None, image, [(16, PAGE - 16)])]                  # new page: kind 2, image only
    imaged = {3, 2 ** 32 - 2}
    enc = LF.encode_changes(changes, imaged)
    assert imaged == {3, 9, 2 ** 32 - 2, 5}
    want = [(pid, None if pid in (3, 2 ** 32 - 2) else after,
             [] if before is None else [(o, before[o:o + n], after[o:o + n]) for o, n in ranges])
            for pid, before, after, ranges in changes if ranges]
    assert [tuple(p) for p in LF.decode_pages(enc)] == want
    assert len(LF.encode_changes([(5, None, image, [(16, 8)])], set())) == 2 + 8 + PAGE
    assert LF.encode_changes([(4, base, base, [])], set()) is None
    assert LF.decode_pages(LF.EMPTY_PAGE_LIST) == []
    ck = LF.encode_ckpt_end(12345, {5: [4096, 8000], 9: [9000, 9100]})
    assert LF.decode_ckpt_end(ck) == (12345, {5: (4096, 8000), 9: (9000, 9100)})
    assert LF.decode_ckpt_end(LF.encode_ckpt_end(1, {})) == (1, {})
    clr = LF.encode_clr(777, enc)
    assert LF.decode_clr(clr, pages=False) == (777, None)
    unl = LF.encode_unlogged([7, 2 ** 32 - 1])
    assert LF.decode_unlogged(unl) == [7, 2 ** 32 - 1]
    cases = [(LF.UPDATE, 4, 1, enc), (LF.CLR, 4, 2, clr), (LF.COMMIT, 4, 3, b""), (LF.UNLOGGED, 5, 0, unl),
             (LF.ABORT, 5, 0, b""), (LF.END, 5, 4, b""), (LF.CKPT_BEGIN, 0, 0, b""), (LF.CKPT_END, 0, 0, ck)]
    assert sorted(c[0] for c in cases) == list(range(2, 10))       # every type but the reserved 1
    assert all(LF.payload_problem(c[0], c[3]) is None for c in cases)
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
    assert [LF.TYPE_NAMES[r.type] for r in got] == ["UPDATE", "CLR", "COMMIT", "UNLOGGED", "ABORT", "END",
                                                    "CKPT_BEGIN", "CKPT_END"]
    undo_next, pages = LF.decode_clr(got[1].payload)
    assert undo_next == 777 and [tuple(p) for p in pages] == want
    assert w.check() == []
    w.close()
    assert [(r[3], r[1], r[2], r[4]) for r in all_records(str(d))] == cases


def golden_log(d):
    """A log of every record type and page kind, built with fixed inputs; returns its bytes."""
    rng = random.Random(20240610)
    base = rng.randbytes(PAGE)
    after = page_with(base, [(100, b"0123456789"), (4000, b"abcdefghij")])
    changes = [(7, base, after, [(100, 10), (4000, 10)]),       # kind 1 (7 not imaged yet)
               (9, None, after, [(16, PAGE - 16)]),             # kind 2
               (11, base, after, [(100, 10), (4000, 10)])]      # kind 0 (11 imaged)
    pl = LF.encode_changes(changes, {11})
    w = WAL(str(d), OS_VFS)
    w.open()
    for c in [(LF.UPDATE, 3, 0, pl), (LF.UNLOGGED, 3, 4096, LF.encode_unlogged([5, 6, 70000])),
              (LF.CLR, 3, 4200, LF.encode_clr(4096, pl)), (LF.COMMIT, 3, 4300, b""), (LF.ABORT, 4, 0, b""),
              (LF.END, 4, 1, b""), (LF.CKPT_BEGIN, 0, 0, b""),
              (LF.CKPT_END, 0, 0, LF.encode_ckpt_end(4096, {3: [4096, 5000]}))]:
        w.append(*c)
    w.flush()
    end = w.next_lsn
    w.close()
    with open(os.path.join(str(d), f"{LF.FIRST_LSN:016x}.wal"), "rb") as f:
        return f.read()[:LF.SEG_HEADER_SIZE + end - LF.FIRST_LSN]


def test_format_bytes_are_pinned(tmp_path):
    """The on-disk bytes did not change when the format moved into oor_core/logformat.

    The digest is that of the same log written by the code before the move
    (oor/wal.py's structs and walscan's framing); the literal header bytes are the
    byte table's, read off by hand.
    """
    data = golden_log(tmp_path / "wal")
    assert len(data) == 16969
    assert hashlib.sha256(data).hexdigest() == "6f0a2dbc483cfd80df7fef85701c104c3b3390080b58918e2ba761e67a1eaa32"
    # segment header: magic "OORWAL", version 1 (big-endian), start LSN 4096, 12 zero bytes, CRC32C
    assert data[:28] == b"OORWAL\x00\x01" + bytes.fromhex("0010000000000000") + bytes(12)
    # a COMMIT record framed by hand from the byte table
    buf = bytearray()
    assert LF.frame(buf, LF.COMMIT, 5, 4200, 8192, b"") == 36
    assert bytes(buf[4:]) == bytes.fromhex("24000000" "0020000000000000" "0500000000000000"
                                           "6810000000000000" "03" "000000")


def test_reserved_and_foreign_records_end_the_log(tmp_path):
    """Type 1 (BEGIN, never written) fails condition 3; a segment of another version is an error."""
    d = tmp_path / "wal"
    w = open_wal(d)
    lsn, _ = w.append(LF.COMMIT, 1, 0)
    w.flush()
    end = w.next_lsn
    w.close()
    seg = d / f"{LF.FIRST_LSN:016x}.wal"
    buf = bytearray()
    LF.frame(buf, LF.RESERVED_BEGIN, 2, 0, end, b"")
    with open(seg, "r+b") as f:
        f.seek(LF.SEG_HEADER_SIZE + end - LF.FIRST_LSN)
        f.write(buf)
    ro = WAL(str(d), OS_VFS, read_only=True)
    assert [r.lsn for r in ro.scan()] == [lsn]
    ro.close()
    # a header sound in every respect but its version: never taken for a torn one
    head = bytearray(seg.read_bytes()[:32])
    head[7] = 2
    head[28:32] = crc32c(bytes(head[:28])).to_bytes(4, "little")
    with open(seg, "r+b") as f:
        f.write(head)
    with pytest.raises(WalError, match="format version 2"):
        WAL(str(d), OS_VFS, read_only=True).open()


@pytest.mark.parametrize("bad", [
    lambda e: e[:-1],                              # truncated range
    lambda e: e + b"\0",                           # stray byte
    lambda e: e[:6] + b"\x07" + e[7:],             # unknown kind
    lambda e: e[:10] + (8).to_bytes(2, "little") + e[12:],   # range offset inside the page header
    lambda e: e[:1],                               # truncated count
    lambda e: e[:12],                              # truncated range header
])
def test_decode_pages_rejects_malformed(bad):
    base = bytes(PAGE)
    enc = LF.encode_changes([(3, base, page_with(base, [(16, b"cd")]), [(16, 2)])], {3})
    with pytest.raises(ValueError):
        LF.decode_pages(bad(enc))
    assert LF.payload_problem(LF.UPDATE, bad(enc)) is not None
    assert LF.payload_problem(LF.COMMIT, b"x") is not None


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
    w.append(LF.COMMIT, 1, 0)
    w.flush()
    base = w.fsyncs
    n_threads, per = 8, 20
    errors = []

    def worker(tid):
        try:
            prev = 0
            for i in range(per):
                lsn, end = w.append(LF.COMMIT, tid, prev)
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
    assert sum(1 for r in w.scan() if r.type == LF.COMMIT) == commits + 1     # and the first one
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


def test_encode_changes_round_trips():
    """The logger's encoder (logformat.encode_changes) and the decoder undo uses agree, kind by kind."""
    from oor_core.capture import page_diff
    for trial in range(200):
        rng = random.Random(trial)
        changes, want, imaged = [], [], set(rng.sample(range(1, 60), 20))
        seen = set(imaged)
        for pid in rng.sample(range(1, 60), rng.randint(1, 6)):
            after = bytearray(rng.randbytes(PAGE))
            if rng.random() < 0.2:
                before = None
            else:
                before = bytearray(after)
                for _ in range(rng.randint(0, 5)):
                    a = rng.randrange(16, PAGE)
                    before[a:a + rng.randint(1, 40)] = rng.randbytes(40)[:len(before[a:a + 40])]
                before = bytes(before[:PAGE])
            after = bytes(after)
            ranges = page_diff(before, after)
            changes.append((pid, before, after, ranges))
            if not ranges:
                continue
            if before is None:
                want.append((pid, after, []))
            else:
                full = pid not in seen
                want.append((pid, after if full else None,
                             [(o, before[o:o + n], after[o:o + n]) for o, n in ranges]))
            seen.add(pid)
        got = LF.encode_changes(changes, imaged)
        if not want:
            assert got is None, f"seed {trial}"
        else:
            assert [tuple(p) for p in LF.decode_pages(got)] == want, f"seed {trial}"
        assert imaged == seen, f"seed {trial}"


def _diff_pair(rng):
    """A (before, after) pair of pages that differ the way logged pages do: none, a few bytes, runs at
    every alignment and gap around the 8-byte merge distance, half a page shifted, or all of it."""
    after = bytearray(rng.randbytes(PAGE) if rng.random() < 0.5 else bytes(PAGE))
    before = bytearray(after)
    shape = rng.randrange(5)
    if shape == 1:
        for _ in range(rng.randint(1, 4)):
            before[rng.randrange(PAGE)] ^= 1 << rng.randrange(8)
    elif shape == 2:
        at = rng.randrange(16)
        while at < PAGE:
            n = rng.randint(1, 12)
            for i in range(at, min(at + n, PAGE)):
                before[i] ^= rng.randint(1, 255)
            at += n + rng.randint(1, 12)             # gaps of 1..12 bytes: some merge, some do not
    elif shape == 3:
        at = rng.randrange(40, PAGE // 2)
        before[at:] = after[at - rng.randint(1, 300):PAGE - rng.randint(1, 300)][:PAGE - at].ljust(PAGE - at, b"\0")
    elif shape == 4:
        before = bytearray(rng.randbytes(PAGE))
    before[0:16] = rng.randbytes(16)                 # checksum, id and LSN never count
    return bytes(before[:PAGE]), bytes(after)


def test_encode_pages_matches_encode_changes():
    """logformat.encode_pages (the logger's C diff and encoder) makes exactly encode_changes' payload
    from captured_changes-style input, imaged set included, on seeded random page lists."""
    from oor_core.capture import page_diff
    for trial in range(400):
        rng = random.Random(trial)
        imaged = set(rng.sample(range(1, 80), 25))
        pages, changes = [], []
        for pid in rng.sample(range(1, 80), rng.randint(0, 12)):
            before, after = _diff_pair(rng)
            if rng.random() < 0.15:
                before = None
            pages.append((pid, before, after))
            changes.append((pid, before, after, page_diff(before, after)))
        im1, im2 = set(imaged), set(imaged)
        want = LF.encode_changes(changes, im1)
        got = LF.encode_pages(pages, im2)
        assert got == want, f"seed {trial}"
        assert im1 == im2, f"seed {trial}"
    with pytest.raises(ValueError):
        LF.encode_pages([(1, bytes(PAGE), bytes(100))], set())
    assert LF.encode_pages([], set()) is None


def test_apply_page_applies_one_page_forward_and_back():
    """logformat.apply_page (a snapshot roll's one-page apply): for every page of random page lists, forward
    gives the page after the change and back the page before it, as the full decoder says; a page the list
    does not hold is reported, and a list cut short raises."""
    from oor_core.capture import page_diff
    for trial in range(200):
        rng = random.Random(trial)
        imaged = set(rng.sample(range(1, 60), 20))
        changes, pages = [], {}
        for pid in rng.sample(range(1, 60), rng.randint(1, 6)):
            after = bytearray(rng.randbytes(PAGE))
            before = None if rng.random() < 0.2 else bytearray(after)
            if before is not None:
                for _ in range(rng.randint(1, 5)):
                    a = rng.randrange(16, PAGE - 40)
                    before[a:a + 40] = rng.randbytes(40)
                before = bytes(before)
            after = bytes(after)
            changes.append((pid, before, after, page_diff(before, after)))
            pages[pid] = (before, after)
        payload = LF.encode_changes(changes, imaged)
        if payload is None:
            continue
        start = 0
        if rng.random() < 0.5:                      # the same list inside a CLR payload
            payload, start = LF.encode_clr(12345, payload), 8
        for pc in LF.decode_pages(payload, start):
            before, after = pages[pc.page_id]
            page = bytearray(before if before is not None else bytes(PAGE))
            assert LF.apply_page(payload, start, pc.page_id, page, True), f"seed {trial}"
            assert page[16:] == after[16:], f"seed {trial}: page {pc.page_id} forward"
            if before is not None:
                assert LF.apply_page(payload, start, pc.page_id, page, False), f"seed {trial}"
                assert page[16:] == before[16:], f"seed {trial}: page {pc.page_id} back"
        assert not LF.apply_page(payload, start, 999, bytearray(PAGE), True), f"seed {trial}"
        with pytest.raises(ValueError):
            LF.apply_page(payload[:-1], start, LF.decode_pages(payload, start)[-1].page_id, bytearray(PAGE), True)


def test_follow_reads_in_chunks_across_record_boundaries(tmp_path, monkeypatch):
    """A reader follows a growing log in chunks (oor.wal._valid_chunks): records cut by a chunk's end, records
    longer than a chunk and the preallocated zeros after the last record; every record exactly once, in order."""
    import oor.wal as wal_module
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    monkeypatch.setattr(wal_module, "FOLLOW_CHUNK", 97)
    monkeypatch.setattr(wal_module, "FOLLOW_CHUNK_MAX", 1000)
    d = tmp_path / "wal"
    w = open_wal(d, segment_bytes=1 << 20)
    reader = WAL(str(d), OS_VFS, read_only=True)
    reader.open()
    seen, want, pos = [], [], reader.first_lsn
    for step in range(6):
        for i in range(rng.randrange(1, 40)):
            payload = rng.randbytes(rng.choice((0, 1, 50, 500, 3000)))   # many longer than a chunk
            lsn, _end = w.append(LF.COMMIT if not payload else LF.UPDATE, 7, 0, payload)
            want.append((lsn, payload))
        w.flush()
        for rec in reader.follow(pos, None):
            seen.append((rec.lsn, rec.payload))
            pos = rec.lsn + rec.length
        assert seen == want, f"seed {seed}: step {step}"
    w.close()
    reader.close()
