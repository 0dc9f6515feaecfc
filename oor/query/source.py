"""What the query layer reads through: a reader handed out by the Registry.

Who may import: ``oor.registry`` (builds one in ``Registry.reader()``) and the
rest of ``oor.query``.  Operators never touch the Registry or the Database:
they take a ``Reader`` and call ``reading()`` around each step (a batch fill,
a seek).  The Registry hands out a Reader whose trees are one snapshot's
(held by ``hold`` while the Reader lives) and whose ``reading`` is then a
no-op; inside a transaction, the writer's trees and its lock.
"""
from oor.codec import decode_record
from oor.storage import batched_items

__all__ = ["Reader"]


class Reader:
    """Trees, a read guard and the source table, as one object.  Who may call: oor.query, oor.registry.

    ``reading``: a callable returning a context manager that makes the reads
    inside it consistent.  ``elsets``, ``names``, ``cospar``: the B+ trees
    (None when the file has none yet).  ``source_ids``: {source name: id}.
    """

    __slots__ = ("reading", "elsets", "names", "cospar", "source_ids", "path", "hold")

    def __init__(self, reading, elsets, names, cospar, source_ids, path="", hold=None):
        self.hold = hold          # what keeps the trees readable (the snapshot), for as long as this lives
        self.reading = reading
        self.elsets = elsets
        self.names = names
        self.cospar = cospar
        self.source_ids = dict(source_ids)
        self.path = path

    def source_name(self, sid):
        for name, i in self.source_ids.items():
            if i == sid:
                return name
        return None

    def get_set(self, key):
        """The ElementSet stored under a primary key (None if gone)."""
        with self.reading():
            v = self.elsets.get(key) if self.elsets is not None else None
        return None if v is None else decode_record(v)

    def items(self, tree, lo, hi, batch=1024):
        """(key, value) pairs of tree with lo <= key < hi, read in batches under reading() (none held across
        a yield)."""
        return batched_items(self.reading, tree, lo, hi, batch)
