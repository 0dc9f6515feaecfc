"""The measures, one module each; ``suite.cli`` runs them in a fixed order (the order of the printed lines).

Engine level: bulk (unsorted, bulk), lookup (latest, at), scan (scan, history), commit (commit, group),
recovery, rss.  Registry level: registry (reg_latest, reg_at, reg_history).  Codec: parse, ingest.  Each measure
runs every engine on the same data in the same directory (in this process; rss and recovery's crash in child
processes) and records one figure per engine with ``suite.harness.Results.add``; ``--profile`` adds a cProfile
of OOR's side, taken after the timed runs.

Caller: ``suite.cli``.
"""
