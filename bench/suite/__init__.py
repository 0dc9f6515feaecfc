"""The benchmark suite behind ``python bench/run.py``: OOR against SQLite, LMDB and Berkeley DB, the codec against sgp4.

Owns nothing itself and imports nothing, so that the child processes (``children/``) can import
``suite.formats`` without loading the rest.  Layout:

  cli.py        the command line: flags, configuration, the order the measures run in
  harness.py    timing (medians), ratios OOR / anchor, the issue 7 targets, the printed table, JSON + PNG output
  formats.py    the layouts parent and children share: the 14-byte key as SQL row, the SQL table, the stream file
  data.py       data builders: the real catalogs and histories, the synthetic history, probes and workloads
  engines/      one module per engine compared (oor, sqlite, lmdb, bdb) and the codec anchor (sgp4)
  measures/     one module per measure (bulk, lookup, scan, commit, recovery, rss, registry, parse, ingest)
  children/     the programs run as subprocesses (crash builders for recovery, the RSS loader)

Caller: bench/run.py (the entry point), through ``suite.cli.main``.
"""
