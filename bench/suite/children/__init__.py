"""Programs the measures run as subprocesses (``python bench/suite/children/<name>.py ARGS``), one job each.

crash_log.py  make a log of one-record committed transactions (OOR or SQLite) and die without a checkpoint
              (``os._exit``): the crash the recovery measure recovers from
rss_load.py   load sets from the stream file into one engine (OOR, SQLite or LMDB) in a fresh process, print
              its peak RSS

Each is a script: it puts the project and bench/ on ``sys.path`` itself and imports from the suite only
``suite.formats`` (the stream file and the SQL table), so that a child loads no more than its job needs.

Caller: measures/recovery.py and measures/rss.py, through ``script`` below.
"""
import os


def script(name):
    """The path of the child program ``name`` (without .py), to run with sys.executable."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
