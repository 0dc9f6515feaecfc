"""The predicate language of ``oor query --where`` and ``Query.where("...")``: parse, bind, evaluate.

Who may import: the rest of ``oor.query`` (and tests).

Grammar (keywords case-insensitive; docs/query.md has examples)::

    expr    := term ("or" term)*
    term    := factor ("and" factor)*
    factor  := "not" factor | "(" expr ")" | test
    test    := FIELD OP value
             | FIELD ["not"] "between" value "and" value
             | FIELD ["not"] "in" "(" value ("," value)* ")"
             | FIELD ["not"] ("like" | "~") STRING          (* any run, ? one character)
    OP      := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value   := NUMBER | STRING ('...' or "...") | WORD (LEO, U, ...)

A predicate is parsed once into a tree of tuples, then bound to a reader
(field names resolved, literals turned into the field's internal domain:
times into us, source names into ids, regimes into codes), then evaluated
either row by row (``row_test``) or on whole ColumnBatches (``BatchEval``,
one vecops kernel call per test per batch).  Errors are PredicateError
(a ValueError) whose message names the 1-based column.
"""
import re

from oor_core import vecops

from oor.query.fields import REGIMES, batch_columns, field

__all__ = ["PredicateError", "parse", "bind", "row_test", "BatchEval", "conjuncts", "from_kwargs"]

NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_TOKEN = re.compile(r"""\s*(?:(?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)(?![A-Za-z_])
                      |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
                      |(?P<op><=|>=|!=|<>|==|=|<|>|~|\(|\)|,)
                      |(?P<word>[A-Za-z_][A-Za-z0-9_.:*?+-]*))""", re.X)
_KEYWORDS = {"and", "or", "not", "between", "in", "like"}


class PredicateError(ValueError):
    """A predicate that does not parse or bind; ``position`` is the 0-based offset of the error."""

    def __init__(self, message, text="", position=None):
        self.text = text
        self.position = position
        self.reason = message
        where = f"column {position + 1}: " if position is not None else ""
        super().__init__(f"{where}{message}")


# ---- parsing ---------------------------------------------------------------------------------
def _tokens(text):
    out = []
    i = 0
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        m = _TOKEN.match(text, i)
        if not m or m.end() == i:
            raise PredicateError(f"unexpected character {text[i]!r}", text, i)
        kind = m.lastgroup
        val = m.group(kind)
        start = m.start(kind)
        if kind == "str":
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        elif kind == "num":
            val = float(val) if any(c in val for c in ".eE") else int(val)
        elif kind == "word" and val.lower() in _KEYWORDS:
            kind, val = "kw", val.lower()
        out.append((kind, val, start))
        i = m.end()
    out.append(("end", None, n))
    return out


class _Parser:
    def __init__(self, text):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, what, tok=None):
        tok = tok or self.peek()
        found = "the end" if tok[0] == "end" else repr(self.text[tok[2]:].split()[0] if tok[0] != "str" else tok[1])
        raise PredicateError(f"expected {what}, found {found}", self.text, tok[2])

    def expect_kw(self, kw):
        t = self.peek()
        if t[0] == "kw" and t[1] == kw:
            return self.take()
        self.fail(f"'{kw}'")

    def parse(self):
        if self.peek()[0] == "end":
            self.fail("a test such as inclination > 80")
        e = self.expr()
        if self.peek()[0] != "end":
            self.fail("'and', 'or' or the end")
        return e

    def expr(self):
        parts = [self.term()]
        while self.peek()[:2] == ("kw", "or"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def term(self):
        parts = [self.factor()]
        while self.peek()[:2] == ("kw", "and"):
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def factor(self):
        t = self.peek()
        if t[:2] == ("kw", "not"):
            self.take()
            return ("not", self.factor())
        if t[:2] == ("op", "("):
            self.take()
            e = self.expr()
            if self.peek()[:2] != ("op", ")"):
                self.fail("')'")
            self.take()
            return e
        return self.test()

    def value(self):
        t = self.peek()
        if t[0] in ("num", "str", "word"):
            self.take()
            return (t[1], t[2])
        self.fail("a value (number, 'text' or word)")

    def test(self):
        t = self.peek()
        if t[0] != "word":
            self.fail("a field name")
        self.take()
        fname, fpos = t[1], t[2]
        negate = False
        if self.peek()[:2] == ("kw", "not"):
            self.take()
            negate = True
            nxt = self.peek()
            if not (nxt[0] == "kw" and nxt[1] in ("between", "in", "like")) and nxt[:2] != ("op", "~"):
                self.fail("'between', 'in' or 'like' after 'not'")
        t = self.peek()
        if t[:2] == ("kw", "between"):
            self.take()
            lo = self.value()
            self.expect_kw("and")
            hi = self.value()
            node = ("between", (fname, fpos), lo, hi)
        elif t[:2] == ("kw", "in"):
            self.take()
            if self.peek()[:2] != ("op", "("):
                self.fail("'(' after 'in'")
            self.take()
            vals = [self.value()]
            while self.peek()[:2] == ("op", ","):
                self.take()
                vals.append(self.value())
            if self.peek()[:2] != ("op", ")"):
                self.fail("',' or ')'")
            self.take()
            node = ("in", (fname, fpos), vals)
        elif t[:2] == ("kw", "like") or t[:2] == ("op", "~"):
            self.take()
            v = self.peek()
            if v[0] not in ("str", "word"):
                self.fail("a pattern such as 'STARLINK*'")
            self.take()
            node = ("like", (fname, fpos), (v[1], v[2]))
        elif t[0] == "op" and t[1] in ("=", "==", "!=", "<>", "<", "<=", ">", ">="):
            self.take()
            op = {"==": "=", "<>": "!="}.get(t[1], t[1])
            node = ("cmp", (fname, fpos), op, self.value())
        else:
            self.fail("a comparison (=, !=, <, <=, >, >=, between, in, like)")
        return ("not", node) if negate else node


def parse(text):
    """Parse a predicate into its tree (unbound).  Raises PredicateError.

    >>> parse("inclination > 80 and not name like 'STARLINK*'")[0]
    'and'
    """
    if not isinstance(text, str):
        raise TypeError("a predicate is a str")
    return _Parser(text).parse()


def from_kwargs(kwargs):
    """Django-style keyword tests (``inclination__gt=80``) as an unbound tree (an 'and' of tests)."""
    ops = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "lte": "<=", "gt": ">", "ge": ">=", "gte": ">="}
    parts = []
    for key, value in kwargs.items():
        name, _, suffix = key.partition("__")
        suffix = suffix or "eq"
        f = (name, None)
        if suffix in ops:
            parts.append(("cmp", f, ops[suffix], (value, None)))
        elif suffix == "between":
            lo, hi = value
            parts.append(("between", f, (lo, None), (hi, None)))
        elif suffix == "in":
            parts.append(("in", f, [(v, None) for v in value]))
        elif suffix == "like":
            parts.append(("like", f, (value, None)))
        else:
            raise PredicateError(f"{key}: unknown test __{suffix} (use eq, ne, lt, le, gt, ge, between, in, like)")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ("and", parts)


# ---- binding ---------------------------------------------------------------------------------
class EvalContext:
    """What binding and row evaluation need from the reader: now, and source name <-> id."""

    def __init__(self, now_us, source_ids):
        self.now_us = now_us
        self.source_ids = source_ids        # name -> id


def bind(tree, ctx, text=""):
    """Resolve fields and literals of an unbound tree; returns the bound tree.  Raises PredicateError.

    Bound tests: ("num", Field, op, float) ("numin", Field, [floats]) ("between", Field, lo, hi)
    ("glob", Field, pattern bytes) ("text_eq", Field, str) ("srcin", [ids]) plus and/or/not.
    """
    if tree is None:
        return None
    kind = tree[0]
    if kind in ("and", "or"):
        return (kind, [bind(t, ctx, text) for t in tree[1]])
    if kind == "not":
        return ("not", bind(tree[1], ctx, text))
    fname, fpos = tree[1]
    try:
        f = field(fname)
    except KeyError as exc:
        raise PredicateError(exc.args[0], text, fpos) from None
    if kind == "cmp":
        op, (val, vpos) = tree[2], tree[3]
        if f.kind in ("text", "code") and op not in ("=", "!="):
            raise PredicateError(f"{f.name} takes =, !=, in or like, not {op}", text, fpos)
        if f.kind == "text":
            node = _text_in(f, [(val, vpos)], ctx, text)
            return ("not", node) if op == "!=" else node
        return ("num", f, op, _literal(f, val, vpos, text))
    if kind == "between":
        if f.kind in ("text", "code"):
            raise PredicateError(f"{f.name} takes =, !=, in or like, not between", text, fpos)
        return ("between", f, _literal(f, *tree[2], text), _literal(f, *tree[3], text))
    if kind == "in":
        if f.kind == "text":
            return _text_in(f, tree[2], ctx, text)
        return ("numin", f, [_literal(f, v, p, text) for v, p in tree[2]])
    if kind == "like":
        val, vpos = tree[2]
        if f.kind != "text":
            raise PredicateError(f"like works on name, cospar and source, not {f.name}", text, fpos)
        if f.name == "source":
            import fnmatch
            ids = [i for n, i in ctx.source_ids.items() if vecops.glob_match(n.encode("utf-8"), str(val).encode("utf-8"))]
            del fnmatch
            return ("srcin", f, ids)
        return ("glob", f, str(val).encode("utf-8"))
    raise AssertionError(kind)


def _text_in(f, vals, ctx, text):
    if f.name == "source":
        ids = [ctx.source_ids.get(str(v), -1) for v, _ in vals]
        return ("srcin", f, [i for i in ids if i >= 0])
    parts = []
    for v, p in vals:
        s = str(v)
        if f.name == "cospar":
            s = _cospar_literal(s, p, text)
        parts.append(("glob", f, s.encode("utf-8")))
    return parts[0] if len(parts) == 1 else ("or", parts)


def _cospar_literal(s, pos, text):
    t = s.strip().upper()
    m = re.fullmatch(r"([0-9]{2})([0-9]{3})([A-Z]{0,3})", t)
    if m:                                   # TLE form 98067A -> 1998-067A
        yy = int(m.group(1))
        t = f"{1900 + yy if yy >= 57 else 2000 + yy}-{m.group(2)}{m.group(3)}"
    return t


def _literal(f, val, pos, text):
    if f.kind == "time":
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            raise PredicateError(f"{f.name} compares with a time such as '2022-07-15', not {val!r}", text, pos)
        from oor.registry import to_epoch_us
        try:
            return float(to_epoch_us(val))
        except (ValueError, TypeError) as exc:
            raise PredicateError(str(exc), text, pos) from None
    if f.kind == "code":
        s = str(val).strip().upper()
        if f.name == "regime":
            if s not in REGIMES:
                raise PredicateError(f"regime is one of {', '.join(REGIMES)}, not {val!r}", text, pos)
            return float(REGIMES.index(s))
        if s not in ("U", "C", "S"):
            raise PredicateError(f"classification is U, C or S, not {val!r}", text, pos)
        return float(ord(s))
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        try:
            return float(val)
        except (TypeError, ValueError):
            raise PredicateError(f"{f.name} compares with a number, not {val!r}", text, pos) from None
    return float(val)


def conjuncts(bound):
    """The top-level AND parts of a bound tree (the planner looks there for access paths)."""
    if bound is None:
        return []
    if bound[0] == "and":
        out = []
        for t in bound[1]:
            out.extend(conjuncts(t))
        return out
    return [bound]


# ---- row-wise evaluation ---------------------------------------------------------------------
def _cmp(op):
    return {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[op]


def row_test(bound, ctx):
    """A function es -> bool for a bound tree (None: always true).  The row-wise twin of BatchEval."""
    if bound is None:
        return lambda es: True
    kind = bound[0]
    if kind == "and":
        fs = [row_test(t, ctx) for t in bound[1]]
        return lambda es: all(f(es) for f in fs)
    if kind == "or":
        fs = [row_test(t, ctx) for t in bound[1]]
        return lambda es: any(f(es) for f in fs)
    if kind == "not":
        f = row_test(bound[1], ctx)
        return lambda es: not f(es)
    fl = bound[1]
    get = fl.row
    if kind == "num":
        c, v = _cmp(bound[2]), bound[3]
        return lambda es: c(float(get(es, ctx)), v)
    if kind == "between":
        lo, hi = bound[2], bound[3]
        return lambda es: lo <= float(get(es, ctx)) <= hi
    if kind == "numin":
        vals = bound[2]
        return lambda es: float(get(es, ctx)) in vals
    if kind == "glob":
        pat = bound[2]
        match = vecops.glob_match
        return lambda es: match((get(es, ctx) or "").encode("utf-8"), pat)
    if kind == "srcin":
        names = {n for n, i in ctx.source_ids.items() if i in set(bound[2])}
        return lambda es: es.source in names
    raise AssertionError(kind)


# ---- vectorized evaluation -------------------------------------------------------------------
class BatchEval:
    """Evaluates a bound tree on whole ColumnBatches: one kernel call per test, masks combined.

    Who may call: oor.query.operators.  ``mask(batch)`` returns a uint8
    array('B') (1 = keep) valid for batch.n rows.  Derived columns are
    computed once per batch, only those the tree uses.
    """

    def __init__(self, bound, ctx):
        import array
        self.bound = bound
        self.ctx = ctx
        self._array = array.array
        self._derived = {}
        self._masks = []

    def _scratch(self, cap):
        import array
        return array.array("B", bytes(cap))

    def column(self, batch, f):
        """The buffer holding field f for the batch's rows (derived ones computed on demand, cached per fill)."""
        if f.column is not None:
            return getattr(batch, f.column)
        cached = self._derived.get(f.name)
        if cached is not None and cached[0] is batch and cached[1] == self._fill_no:
            return cached[2]
        out = cached[2] if cached is not None and len(cached[2]) >= batch.capacity else \
            self._array("d", bytes(8 * batch.capacity))
        derive_column(batch, f, self.ctx.now_us, out)
        self._derived[f.name] = (batch, self._fill_no, out)
        return out

    _fill_no = 0

    def columns(self):
        """The ColumnBatch columns mask() reads (a set of names; see fields.batch_columns)."""
        out = set()
        stack = [self.bound] if self.bound is not None else []
        while stack:
            t = stack.pop()
            kind = t[0]
            if kind in ("and", "or"):
                stack.extend(t[1])
            elif kind == "not":
                stack.append(t[1])
            elif kind == "srcin":
                out.add("source_id")
            else:
                out.update(batch_columns(t[1]))
        return out

    def mask(self, batch):
        self._fill_no += 1
        self._depth = 0
        if self.bound is None:
            m = self._get_mask(batch.capacity)
            vecops.mask_fill(m, batch.n, 1)
            return m
        return self._eval(self.bound, batch)

    def _get_mask(self, cap):
        d = self._depth
        self._depth += 1
        while len(self._masks) <= d:
            self._masks.append(self._scratch(cap))
        if len(self._masks[d]) < cap:
            self._masks[d] = self._scratch(cap)
        return self._masks[d]

    def _eval(self, t, b):
        kind = t[0]
        n = b.n
        if kind in ("and", "or"):
            m = self._eval(t[1][0], b)
            for sub in t[1][1:]:
                m2 = self._eval(sub, b)
                (vecops.mask_and if kind == "and" else vecops.mask_or)(m, m2, n)
            return m
        if kind == "not":
            m = self._eval(t[1], b)
            vecops.mask_not(m, n)
            return m
        m = self._get_mask(b.capacity)
        f = t[1]
        if kind == "num":
            vecops.compare(self.column(b, f), vecops.OPS[t[2]], t[3], m, n, 0)
        elif kind == "between":
            col = self.column(b, f)
            vecops.compare(col, vecops.OPS[">="], t[2], m, n, 0)
            vecops.compare(col, vecops.OPS["<="], t[3], m, n, 1)
        elif kind in ("numin", "srcin"):
            col = b.source_id if kind == "srcin" else self.column(b, f)
            vecops.mask_fill(m, n, 0)
            for v in t[2]:
                vecops.compare(col, 0, float(v), m, n, 2)
        elif kind == "glob":
            if f.name == "name":
                vecops.glob_names(b.name_off, b.name_data, t[2], m, n)
            else:
                vecops.glob_cospar(b.intl, b.intl_len, t[2], m, n)
        else:
            raise AssertionError(kind)
        return m


_DERIVE_ORBIT = {"sma": 0, "period": 1, "apogee": 2, "perigee": 3, "regime": 4}


def derive_column(batch, f, now_us, out):
    """Compute derived field f for the batch's rows into out (array('d'))."""
    from oor.codec.elements import EARTH_RADIUS_KM, MU_KM3_S2
    n = batch.n
    if f.derive in _DERIVE_ORBIT:
        vecops.derive_orbit(batch.mean_motion, batch.eccentricity, _DERIVE_ORBIT[f.derive], MU_KM3_S2,
                            EARTH_RADIUS_KM, out, n)
    elif f.derive == "age":
        vecops.derive_age(batch.epoch_us, now_us, out, n)
    elif f.derive == "launch_year":
        vecops.derive_launch_year(batch.intl, batch.intl_len, out, n)
    else:
        raise AssertionError(f.derive)
