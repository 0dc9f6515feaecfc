"""A full disk: the write fails with a clear error, and nothing already committed is lost.

The file layer is the power-loss simulator's (tests/powerloss.py) with a byte
budget: a write that would grow the files past it fails with ENOSPC, as the
OS reports a full disk.  The process then goes on (no crash): the database
must refuse further writes, close without damage, and reopen — after space is
freed — with every committed transaction and clean checks.
"""
import errno
import struct

import pytest
from powerloss import DB_PATH, SimFile, SimVfs

from oor.storage import open_database
from oor_core.errors import OorError

OPTS = dict(pool_pages=16, segment_bytes=64 * 1024)


class FullDiskFile(SimFile):
    def pwrite(self, data, offset):
        budget = self.vfs.budget
        grow = max(0, offset + len(data) - len(self.data))
        if budget is not None and grow and self.vfs.total() + grow > budget:
            raise OSError(errno.ENOSPC, "No space left on device", self.path)
        super().pwrite(data, offset)


class FullDiskVfs(SimVfs):
    def __init__(self):
        super().__init__()
        self.budget = None

    def total(self):
        return sum(len(f.data) for f in self.files.values())

    def open(self, path, create=True):
        f = self.files.get(path)
        if f is None:
            if not create:
                raise FileNotFoundError(2, "No such file", path)
            f = self.files[path] = FullDiskFile(self, path)
        return f


def key(i):
    return struct.pack(">IQ", i // 10, i)


@pytest.mark.parametrize("headroom", [0, 3_000, 10_000, 40_000, 90_000, 150_000, 170_000, 320_000])
def test_full_disk_loses_nothing_committed(headroom):
    vfs = FullDiskVfs()
    db = open_database(DB_PATH, vfs=vfs, **OPTS)
    t = db.tree("t", create=True)
    committed = {}
    for b in range(5):
        with db.transaction():
            for i in range(b * 200, b * 200 + 200):
                t.insert(key(i), b"c" * 120)
                committed[key(i)] = b"c" * 120
    vfs.budget = vfs.total() + headroom            # the disk fills up from here
    with pytest.raises((OSError, OorError)) as failure:
        for b in range(5, 200):
            with db.transaction():
                for i in range(b * 200, b * 200 + 200):
                    t.insert(key(i), b"n" * 400)
            for i in range(b * 200, b * 200 + 200):
                committed[key(i)] = b"n" * 400     # acknowledged: it must survive
    assert "No space left on device" in str(failure.value), str(failure.value)
    # Still full: reads work -- through a snapshot, as every registry read goes (its misses never need a
    # frame of the writer's pool, whose unpinned frames may all be dirty pages it cannot write now) --
    # and a read of the writer's own tree gives the committed value or fails with the same clear error,
    # never other data.  A write either fails the same clear way or (when the failure broke the log) is
    # refused with a word to reopen; nothing is half done.
    view = db.acquire_view()
    try:
        vt = view.tree("t")
        assert all(vt.get(k) == v for k, v in committed.items())
    finally:
        db.release_view(view)
    try:
        for k, v in committed.items():
            assert t.get(k) == v
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    try:
        with db.transaction():
            for i in range(10_000_000, 10_000_400):
                t.insert(key(i), b"x" * 400)
    except (OSError, OorError) as e:
        assert "No space left on device" in str(e) or "reopen" in str(e), str(e)
    else:
        pytest.fail("a 160 KB transaction fitted in a full disk")
    try:
        db.close()                                  # may fail to checkpoint: the disk is full
    except (OSError, OorError) as e:
        assert "No space left on device" in str(e) or "reopen" in str(e), str(e)
    assert db.closed
    vfs.budget = None                              # space freed
    db = open_database(DB_PATH, vfs=vfs, **OPTS)
    try:
        assert dict(db.tree("t").items()) == committed
        assert db.check() == []
        with db.transaction():                      # and it takes writes again
            db.tree("t").upsert(b"after", b"ok")
    finally:
        db.close()
