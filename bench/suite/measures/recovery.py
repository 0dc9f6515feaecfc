"""The ``recovery`` measure: reopening after a crash with a log of ``recovery`` one-record committed transactions.

A child (children/crash_log.py) makes the log and dies without a checkpoint; the parent
times the reopen.  OOR's figure is its recovery passes (analysis + redo + undo, ``db.recovery["total_s"]``); the
whole open, which then also writes every recovered page back in a checkpoint, is reported beside it.  SQLite's is
connect + first read, which rebuilds its WAL index by reading the whole WAL.  LMDB has no log to recover.

Caller: ``suite.cli``.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from oor.storage import open_database

from ..children import script
from ..engines.oor import keep_files, profiled_open, restore_files
from ..harness import MB, profile_text


def crash_log(engine, path, stream, n):
    """Run the crash builder for ``engine``; the log size in bytes it prints."""
    p = subprocess.run([sys.executable, script("crash_log"), engine, path, stream, str(n)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    return int(p.stdout.split()[0])


def recovery(res, tmp, stream, cfg, profile):
    n = cfg["recovery"]
    d = tempfile.mkdtemp(dir=tmp)
    path = os.path.join(d, "rec.db")
    wal_bytes = crash_log("oor", path, stream, n)
    if profile:
        keep_files(path)
    t0 = time.perf_counter()
    db = open_database(path)
    open_s = time.perf_counter() - t0
    rep = dict(db.recovery or {})
    ok = len(db.tree("elsets")) == n
    db.close()
    if profile:
        restore_files(path)
        res.profiles["recovery"] = profile_text(profiled_open(path))
    # SQLite: the next opener after a crash rebuilds the WAL index by reading the whole WAL
    spath = os.path.join(d, "rec.sqlite")
    s_wal = crash_log("sqlite", spath, stream, n)
    t0 = time.perf_counter()
    con = sqlite3.connect(spath, isolation_level=None)
    con.execute("SELECT norad FROM elsets LIMIT 1").fetchall()
    s_open = time.perf_counter() - t0
    s_ok = con.execute("SELECT count(*) FROM elsets").fetchone()[0] > 0
    con.close()
    shutil.rmtree(d, ignore_errors=True)
    # The measure is the recovery of a log of 100k WAL records; each one-record
    # transaction writes two (UPDATE, COMMIT).
    vals = {"oor": rep.get("total_s", open_s), "sqlite": s_open}
    res.add("recovery", "s", "lower", vals,
            f"recovery after a crash with {n:,} one-record committed transactions = "
            f"{rep.get('log_records', 0):,} WAL records (OOR: WAL {wal_bytes / MB:.0f} MB, recovery passes "
            f"{rep.get('total_s', 0) * 1e3:.0f} ms, whole open incl. checkpoint {open_s * 1e3:.0f} ms; SQLite: WAL "
            f"{s_wal / MB:.0f} MB, open + first read, which rebuilds its WAL index); LMDB has no log to recover",
            {"n": n, "oor_wal_bytes": wal_bytes, "oor_report": rep, "oor_all_present": ok,
             "sqlite_wal_bytes": s_wal, "sqlite_ok": s_ok})
