"""Strict mode: with ``OOR_VERIFY=1`` in the environment, every commit checks the structures it changed.

Who may import: ``oor.storage`` (a Database opened while the variable is set
makes a ``CommitVerifier``: ``_log_changes`` calls ``note``, ``_commit`` calls ``run``),
tests.  The variable is read when the Database opens; child processes inherit it.

What each commit checks, after its last change is logged and before its
COMMIT record is written (docs/architecture.md, "Strict mode"):

  1. the buffer pool's invariants and the free list: ``BufferPool._check()``
     (frames, page table, free-list chain, types and count) -- O(frames + free pages);
  2. the full ``BTree._check()`` of every tree the transaction changed, i.e.
     whose node pages (leaf or internal: the tree id in their header) it
     logged: btree.pxd conditions 1-6 on every page of that tree, page
     validity (page.pxd 3-7) included -- O(pages of those trees), one walk each.

Bounded by what the transaction touched, never by the file: not checked per
commit are the trees it did not touch, page accounting across trees (leaks),
the on-disk checksum of every page, and the registry's records and index
counts -- all O(file); ``oor check`` does them.  A violation raises
``VerifyError`` (an internal bug) naming the page; the transaction is then not
committed and the Database refuses further writes until reopened (recovery
undoes the transaction).
"""
import os

from oor_core.btree import BTree, page_tree_id
from oor_core.errors import VerifyError

__all__ = ["enabled", "CommitVerifier"]


def enabled():
    """True when OOR_VERIFY is set to anything but "" or "0"."""
    return os.environ.get("OOR_VERIFY", "") not in ("", "0")


class CommitVerifier:
    """Collects the trees a transaction changes and checks them at its commit.  Who may create: oor.storage."""

    __slots__ = ("txid", "touched")

    def __init__(self):
        self.txid = None
        self.touched = {}        # tree id -> first page of it transaction txid changed

    def note(self, txid, changes):
        """Record the trees of page changes [(page_id, before, after, ranges)] that transaction txid logs."""
        if txid != self.txid:     # a new transaction (the last one aborted, or committed and was checked)
            self.txid, self.touched = txid, {}
        for pid, _before, after, _ranges in changes:
            tid = page_tree_id(after)
            if tid >= 0:
                self.touched.setdefault(tid, pid)

    def run(self, pool, txid):
        """Check the pool and every touched tree; raise VerifyError naming the page on the first failure."""
        if txid != self.txid:
            return                # the transaction logged no change: nothing to check
        touched = self.touched
        self.txid, self.touched = None, {}
        what = f"transaction {txid}"
        problems = pool._check()
        if problems:
            raise VerifyError(what, [f"pool: {p}" for p in problems])
        names = {tid: name for name, tid in BTree.trees(pool).items()}
        for tid, pid in sorted(touched.items()):
            if tid not in names:
                raise VerifyError(what, [f"page {pid}: a node of tree id {tid}, which the file header does not list"])
            problems = BTree(pool, tid)._check()
            if problems:
                raise VerifyError(what, [f"tree {names[tid]}: {p}" for p in problems])
