"""``Query``: the builder behind ``Registry.query()``, and its planner.

Who may import: ``oor.registry`` (``Registry.query``), ``oor.query.cli``, tests.

    reg.query().where(inclination__gt=80, perigee_km__lt=600) \\
       .select("norad_id", "epoch", "name").order_by("-epoch").limit(100)

Each call returns a new Query (the old one is unchanged).  Nothing is read
until the query is iterated.  Iterating gives dicts {field: value}; ``rows()``
tuples; ``sets()`` ElementSets; ``columns()`` {field: list}; ``to_arrow()`` /
``to_pandas()`` when pyarrow / pandas are installed.  ``explain()`` shows the
plan.

Planner (docs/query.md): the top-level AND of the predicate is searched for
an access path, in this order: a short ``norad_id in (...)`` list or a
``norad_id`` range (seeks on the primary tree), a name pattern with a literal
ASCII prefix (the names index), a COSPAR pattern with a literal prefix of 4+
characters (the cospar index); otherwise the whole primary tree.  The full
predicate is always evaluated on what the access path returns, so an index
only narrows.  The primary-tree scan is vectorized (BatchScan + BatchFilter,
Cython) unless ``vectorized(False)``; index paths and the row-wise mode use
RowScan + Filter (Python).
"""
import itertools

from oor.query import operators as ops
from oor.query.fields import batch_columns, field, now_us
from oor.query.predicate import BatchEval, EvalContext, bind, conjuncts, from_kwargs, parse, row_test

__all__ = ["Query", "DEFAULT_FIELDS"]

DEFAULT_FIELDS = ("norad_id", "name", "epoch", "cospar", "inclination", "perigee_km", "apogee_km")
_MAX_ID = 999_999_999
_ID_LIST_MAX = 256


class Query:
    """A query over a Reader (see oor.query.source).  Who may call: anyone, via Registry.query()."""

    def __init__(self, reader, *, now=None):
        self._reader = reader
        self._trees = []                 # unbound predicate trees (and-ed), with their text
        self._fields = None
        self._order = []
        self._limit = None
        self._mode = "latest"
        self._as_of = None
        self._vectorized = True
        self._now = now

    def _copy(self, **changes):
        q = Query.__new__(Query)
        q.__dict__.update(self.__dict__)
        q._trees = list(self._trees)
        q._order = list(self._order)
        q.__dict__.update(changes)
        return q

    # ---- building -------------------------------------------------------------------------
    def where(self, text=None, **tests):
        """And a predicate: text in the predicate language and/or keyword tests (``inclination__gt=80``)."""
        q = self._copy()
        new = []
        if text is not None:
            new.append((parse(text), text))
        t = from_kwargs(tests)
        if t is not None:
            new.append((t, " and ".join(f"{k}={v!r}" for k, v in tests.items())))
        ctx = self._ctx()
        for tree, txt in new:
            bind(tree, ctx, txt)            # refuse unknown fields and bad literals now, with their column
        q._trees.extend(new)
        return q

    def select(self, *names):
        """The fields each result row holds (default: DEFAULT_FIELDS).  Names or aliases; '*' = every field."""
        from oor.query.fields import FIELDS
        flat = []
        for n in names:
            flat.extend(x.strip() for x in n.split(",") if x.strip()) if isinstance(n, str) else flat.append(n)
        if flat == ["*"]:
            return self._copy(_fields=list(FIELDS.values()))
        return self._copy(_fields=[field(n) for n in flat])

    def order_by(self, *names):
        """Sort keys; '-name' or 'name desc' sorts descending."""
        keys = []
        for n in names:
            for part in n.split(","):
                p = part.strip()
                if not p:
                    continue
                desc = p.startswith("-") or p.lower().endswith(" desc")
                p = p.lstrip("-+")
                if p.lower().endswith((" desc", " asc")):
                    p = p.rsplit(" ", 1)[0]
                keys.append((field(p), desc))
        return self._copy(_order=keys)

    def limit(self, n):
        if n is not None and (not isinstance(n, int) or n < 0):
            raise ValueError("limit takes an int >= 0")
        return self._copy(_limit=n)

    def latest(self):
        """Newest set of each object (the default)."""
        return self._copy(_mode="latest", _as_of=None)

    def all_sets(self):
        """Every stored set (history), in (id, epoch, source) order."""
        return self._copy(_mode="all", _as_of=None)

    def as_of(self, when):
        """For each object the newest set with epoch <= when (ISO string, datetime or date)."""
        from oor.registry import to_epoch_us
        return self._copy(_mode="as_of", _as_of=to_epoch_us(when))

    def vectorized(self, flag=True):
        """Use the Cython column path (default) or the row-wise Python path for primary scans."""
        return self._copy(_vectorized=bool(flag))

    # ---- planning -------------------------------------------------------------------------
    def _ctx(self):
        from oor.registry import to_epoch_us
        now = now_us() if self._now is None else to_epoch_us(self._now)
        return EvalContext(now, self._reader.source_ids)

    def _bound(self, ctx):
        parts = [bind(t, ctx, text) for t, text in self._trees]
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else ("and", parts)

    def _text(self):
        return " and ".join(f"({t})" if len(self._trees) > 1 else t for _, t in self._trees) or "true"

    def plan(self, want_sets=False):
        """(root operator, output fields).  Root yields tuples of internal values plus a handle."""
        ctx = self._ctx()
        bound = self._bound(ctx)
        fields = list(self._fields or [field(n) for n in DEFAULT_FIELDS])
        extract = list(fields)
        for f, _ in self._order:
            if f not in extract:
                extract.append(f)
        ranges, index = _access_path(bound, self._reader)
        r = self._reader
        if index is None and self._vectorized:
            ev = BatchEval(bound, ctx)
            cols = ev.columns()                 # only what the filter and the fields read is decoded
            for f in extract:
                cols.update(batch_columns(f))
            if want_sets:
                cols.add("keys")
            root = ops.BatchScan(r, self._mode, self._as_of, ranges, columns=cols)
            root = ops.BatchFilter(root, ev, self._text())
            root = ops.BatchExtract(root, extract, ctx, r, ev, handles=want_sets)
        else:
            root = ops.RowScan(r, self._mode, self._as_of, ranges, access=index or "primary")
            if bound is not None:
                root = ops.Filter(root, row_test(bound, ctx), self._text())
            root = ops.Extract(root, extract, ctx)
        if self._order:
            root = ops.Sort(root, [(extract.index(f), d) for f, d in self._order],
                            [("-" if d else "") + f.name for f, d in self._order])
        if self._limit is not None:
            root = ops.Limit(root, self._limit)
        return root, fields

    def explain(self):
        """The plan as text, one operator a line (root first)."""
        root, fields = self.plan()
        return f"Present({', '.join(f.name for f in fields)})\n" + ops.explain(root, 1)

    # ---- results --------------------------------------------------------------------------
    def rows(self, raw=False):
        """Iterator of tuples of the selected fields (Python values: datetime epochs, str regimes...).

        raw=True: the internal values instead (epoch in us since 1950, regime and classification codes),
        which skips a conversion per value.  Nothing is read before the first row is asked for."""
        if raw:
            # the vectorized plan's rows come as lists of tuples built in C; chain hands them out
            # without a generator step a row (5 of 30 ms of a 45k-row query, CPU)
            return itertools.chain.from_iterable(self._raw_batches())
        return self._rows()

    def _raw_batches(self):
        root, fields = self.plan()
        if isinstance(root, ops.BatchExtract):
            yield from root.batches(handle=False)        # tuples of the fields only
            return
        k = len(fields)
        it = iter(root)
        while True:
            chunk = [t[:k] for t in itertools.islice(it, 1024)]   # streamed, 1,024 rows at a time
            if not chunk:
                return
            yield chunk

    def _rows(self):
        root, fields = self.plan()
        k = len(fields)
        conv = [f.to_py for f in fields]
        for t in root:
            yield tuple(v if c is None or v is None else c(v) for v, c in zip(t[:k], conv))

    def __iter__(self):
        """Iterator of dicts {field name: value}."""
        root, fields = self.plan()
        names = [f.name for f in fields]
        conv = [f.to_py for f in fields]
        k = len(fields)
        for t in root:
            yield {n: (v if c is None or v is None else c(v)) for n, v, c in zip(names, t[:k], conv)}

    def sets(self):
        """Iterator of the ElementSets the query selects (full records, in the query's order)."""
        root, _ = self.plan(want_sets=True)
        r = self._reader
        for t in root:
            h = t[-1]
            yield r.get_set(h) if isinstance(h, bytes) else h

    def count(self):
        return sum(1 for _ in self.plan()[0])

    def columns(self):
        """{field name: list of values}."""
        names = [f.name for f in (self._fields or [field(n) for n in DEFAULT_FIELDS])]
        cols = {n: [] for n in names}
        for row in self.rows():
            for n, v in zip(names, row):
                cols[n].append(v)
        return cols

    def to_arrow(self):
        """A pyarrow.Table of the selected fields (needs the optional pyarrow)."""
        try:
            import pyarrow
        except ImportError:
            raise ImportError("to_arrow() needs pyarrow (pip install 'oor[arrow]')") from None
        return pyarrow.table(self.columns())

    def to_pandas(self):
        """A pandas.DataFrame of the selected fields (needs the optional pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_pandas() needs pandas (pip install 'oor[pandas]')") from None
        return pandas.DataFrame(self.columns())

    def __repr__(self):
        return f"<oor Query where {self._text()} mode={self._mode}>"


def _access_path(bound, reader):
    """(id ranges or None, index label or None) for the top-level AND of a bound predicate."""
    lo, hi = 0, _MAX_ID
    id_list = None
    name_prefix = cospar_prefix = None
    for t in conjuncts(bound):
        kind = t[0]
        f = t[1] if len(t) > 1 and not isinstance(t[1], list) else None
        if f is not None and getattr(f, "name", None) == "norad_id":
            if kind == "num":
                op, v = t[2], t[3]
                if op == "=":
                    lo, hi = max(lo, _ceil(v)), min(hi, _floor(v))
                elif op in (">", ">="):
                    lo = max(lo, _floor(v) + 1 if op == ">" else _ceil(v))
                elif op in ("<", "<="):
                    hi = min(hi, _ceil(v) - 1 if op == "<" else _floor(v))
            elif kind == "between":
                lo, hi = max(lo, _ceil(t[2])), min(hi, _floor(t[3]))
            elif kind == "numin" and len(t[2]) <= _ID_LIST_MAX:
                ids = {int(v) for v in t[2] if v == int(v)}
                id_list = ids if id_list is None else id_list & ids
        elif kind == "glob" and f.name in ("name", "cospar"):
            p = _literal_prefix(t[2])
            if f.name == "name" and p and p.isascii():
                name_prefix = p
            elif f.name == "cospar" and len(p) >= 4:
                cospar_prefix = p
    if lo > hi:
        return [], None
    if id_list is not None:
        ids = sorted(i for i in id_list if lo <= i <= hi)
        return [(i, i) for i in ids], None
    if name_prefix is not None or cospar_prefix is not None:
        from oor.keys import name_text, prefix_end, split_index_key
        if name_prefix is not None:
            tree, pre, label = reader.names, name_text(name_prefix.decode("ascii")), "names index"
        else:
            tree, pre, label = reader.cospar, cospar_prefix.upper(), "cospar index"
        ids = sorted({split_index_key(k)[1] for k, _ in reader.items(tree, pre, prefix_end(pre))})
        return [(i, i) for i in ids if lo <= i <= hi], label
    if (lo, hi) != (0, _MAX_ID):
        return [(lo, hi)], None
    return None, None


def _literal_prefix(pattern):
    out = bytearray()
    for c in pattern:
        if c in b"*?":
            break
        out.append(c)
    return bytes(out)


def _ceil(v):
    import math
    return max(0, math.ceil(v))


def _floor(v):
    import math
    return min(_MAX_ID, math.floor(v))
