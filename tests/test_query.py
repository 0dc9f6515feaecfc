"""The query layer (oor/query, oor_core/batch, oor_core/vecops) against brute-force Python references
on the real catalogs in ../shared/data."""
import collections
import glob
import io
import os
import random

import pytest

import oor
from oor.query import PredicateError, merge_sets
from oor.query.merge import merge_columns, sort_columns
from oor.query.operators import HashJoin, KWayMerge, NestedLoopJoin, Resolve, SortMergeJoin

NOW = "2026-07-01T00:00:00Z"


@pytest.fixture(scope="module")
def reg(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("q") / "q.oor"
    r = oor.open(str(path), pool_pages=20000, sync="normal")
    for f in sorted(glob.glob(str(data / "catalogs" / "*.3le"))):
        r.load(f, source_name=os.path.basename(f).split(".")[0])
    for f in sorted(glob.glob(str(data / "history" / "*.tle"))):
        r.load(f, source_name="history")
    yield r
    r.close()


def test_scans_match_the_registry(reg):
    all_sets = list(reg.iter_sets())
    assert len(all_sets) > 100_000
    q = reg.query().select("norad_id", "epoch")
    assert [s.epoch_us for s in q.all_sets().sets()] == [s.epoch_us for s in all_sets]
    latest = list(reg.scan())
    assert list(q.sets()) == latest
    assert list(q.vectorized(False).sets()) == latest
    at = [e for e in (reg.at(n, "2022-03-01") for n in reg.objects()) if e is not None]
    assert list(q.as_of("2022-03-01").sets()) == at
    assert list(q.as_of("2022-03-01").vectorized(False).sets()) == at


def test_filter_100k_sets_inclination_project(reg):
    """The seed's plan: scan 100,000 sets, keep inclination > 80, project (norad, epoch)."""
    want = [(e.norad_id, e.epoch) for e in reg.iter_sets() if e.inclination > 80]
    q = reg.query().all_sets().where(inclination__gt=80).select("norad_id", "epoch")
    assert list(q.rows()) == want
    assert list(q.vectorized(False).rows()) == want
    assert "BatchFilter" in q.explain()


PREDICATES = [
    "inclination > 80 and perigee_km < 600",
    "not (eccentricity < 0.01) or mean_motion between 0.9 and 1.1",
    "regime = GEO and raan between 60 and 80",
    "regime in (MEO, HEO, OTHER)",
    "name like 'STARLINK*' and launch_year >= 2021",
    "name ~ '*deb*' and not classification = C",
    "cospar like '1998-067*'",
    "source = 'history' or source like 'catalog-2026*'",
    "age_days > 1000 and apogee_km > 20000",
    "period_min < 90 or sma_km > 42000",
    "epoch >= '2022-01-01' and epoch < '2022-02-01'",
    "norad_id between 25000 and 26000 and bstar > 0.0001",
    "norad in (25544, 5, 11, 999999) or name = 'iss (zarya)'",
    "bstar != 0 and rev_number > 10000 and element_set_no < 999",
]


@pytest.mark.parametrize("text", PREDICATES)
def test_vectorized_equals_row_wise_equals_brute_force(reg, text):
    for mode in ("latest", "all"):
        q = reg.query(now=NOW).where(text).select("*")
        q = q.all_sets() if mode == "all" else q
        vec = list(q.rows())
        row = list(q.vectorized(False).rows())
        assert vec == row, text
    # brute force on ElementSets for a few of them
    sets = list(reg.scan())
    if text == "inclination > 80 and perigee_km < 600":
        want = [e.norad_id for e in sets if e.inclination > 80 and e.perigee < 600]
        got = [r["norad_id"] for r in reg.query().where(text).select("norad")]
        assert got == want
    if text == "cospar like '1998-067*'":
        want = [e.norad_id for e in sets if e.cospar_id.startswith("1998-067")]
        assert [r["norad_id"] for r in reg.query().where(text).select("norad")] == want


@pytest.mark.parametrize("text", PREDICATES[::3])
def test_narrow_projections_read_only_their_columns(reg, text):
    """The scan decodes only the columns the predicate and the fields read; every field alone still gives the
    row-wise result (raw and converted), and the plan names the columns."""
    from oor.query.fields import FIELDS
    names = list(FIELDS)
    q = reg.query(now=NOW).all_sets().where(text)
    raw = list(q.select("*").vectorized(False).rows(raw=True))
    shown = list(q.select("*").vectorized(False).rows())
    for k, name in enumerate(names):
        one = q.select("norad", name)
        assert list(one.rows(raw=True)) == [(t[0], t[k]) for t in raw], (text, name)
        assert list(one.rows()) == [(t[0], t[k]) for t in shown], (text, name)
    assert "columns epoch_us,inclination,norad)" in \
        reg.query().all_sets().where("inclination > 80").select("norad", "epoch").explain()


def test_column_mask_fills_key_columns_and_the_asked_ones(reg):
    from oor_core.batch import ColumnBatch, LeafScan, SCAN_ALL, column_mask
    r = reg.reader()
    full, part = ColumnBatch(300), ColumnBatch(300)
    with r.reading():
        n = LeafScan(r.elsets, None, None, SCAN_ALL).fill(full)
        m = LeafScan(r.elsets, None, None, SCAN_ALL, 0, column_mask(["inclination", "intl"])).fill(part)
    assert n == m == 300 and part._check()
    for col in ("norad", "epoch_us", "source_id", "inclination", "intl", "intl_len"):
        assert getattr(part, col)[:n] == getattr(full, col)[:n], col
    assert [part.intl_designator(i) for i in range(n)] == [full.intl_designator(i) for i in range(n)]
    with pytest.raises(ValueError, match="without its name column"):
        part.name(0)
    with pytest.raises(ValueError, match="without its key column"):
        part.key(0)
    with pytest.raises(KeyError):
        column_mask(["no_such_column"])


def test_take_rows_builds_the_rows_it_is_given():
    from array import array
    from oor_core import vecops
    cols = [array("I", [7, 8, 9]), array("q", [-1, 2**40, 3]), array("d", [0.5, 1.5, 2.5]), ["a", None, "c"], None,
            array("B", [1, 2, 3])]
    out = []
    assert vecops.take_rows(cols, array("i", [0, 2, 1]), 3, False, out) == 3
    assert out == [(7, -1, 0.5, "a", None, 1), (9, 3, 2.5, None, None, 3), (8, 2**40, 1.5, "c", None, 2)]
    out = []
    vecops.take_rows(cols, array("i", [0]), 2, True, out)
    assert out == [(7, -1, 0.5, "a", None, 1), (8, 2**40, 1.5, None, None, 2)]
    with pytest.raises(IndexError):
        vecops.take_rows([array("d", [1.0])], array("i", [5]), 1, False, [])
    with pytest.raises(ValueError):
        vecops.take_rows([["x"]], array("i", [0, 1]), 2, False, [])


def test_index_scans(reg):
    sets = list(reg.scan())
    q = reg.query().where("name like 'ISS (*'").select("norad", "name")
    assert "names index" in q.explain()
    assert [r["norad_id"] for r in q] == [e.norad_id for e in sets if (e.name or "").upper().startswith("ISS (")]
    q = reg.query().where("cospar like '2019-074*'").select("norad")
    assert "cospar index" in q.explain()
    assert [r["norad_id"] for r in q] == [e.norad_id for e in sets if e.cospar_id.startswith("2019-074")]
    q = reg.query().where("norad_id >= 40000 and norad_id < 40100").select("norad")
    assert "ids 40000..40099" in q.explain()
    assert [r["norad_id"] for r in q] == [e.norad_id for e in sets if 40000 <= e.norad_id < 40100]


def test_sort_limit(reg):
    sets = list(reg.scan())
    got = list(reg.query().where("inclination > 97").select("norad", "perigee_km")
               .order_by("-perigee_km", "norad").limit(25).rows())
    ref = sorted((e for e in sets if e.inclination > 97), key=lambda e: (-e.perigee, e.norad_id))[:25]
    assert [g[0] for g in got] == [e.norad_id for e in ref]
    assert reg.query().limit(0).count() == 0


def test_predicate_errors_name_the_column(reg):
    for text, col in [("inclinaton > 80", 1), ("inclination > ", 15), ("inclination >> 3", 14),
                      ("name < 'A'", 1), ("regime = LOW", 10), ("epoch > 5", 9), ("a = 1 and (b = 2", 17), ("a = 1", 1),
                      ("inclination between 1", 22), ("perigee_km in (1, 2", 20), ("x $ 1", 3)]:
        with pytest.raises(PredicateError) as ei:
            reg.query().where(text)
        assert ei.value.position == col - 1, (text, str(ei.value))
        assert str(ei.value).startswith(f"column {col}: ")
        assert "\n" not in str(ei.value)


def test_joins_agree_on_a_subset(reg):
    a = list(reg.query().where("norad_id < 3000").select("norad", "inclination").rows())
    b = list(reg.query().where("norad_id < 3000").all_sets().select("norad", "epoch").rows())
    a, b = a[:300], b[:400]
    key = (lambda r: r[0])
    h = sorted(HashJoin(a, b, key, key))
    m = sorted(SortMergeJoin(a, b, key, key))
    n = sorted(NestedLoopJoin(a, b, lambda x, y: x[0] == y[0]))
    assert h == m == n and len(h) > 0


def _five_sources(reg, k=5, seed=16):
    """k synthetic sources of ~100k sets each: every stored set, epochs moved by up to a day per source."""
    rnd = random.Random(seed)
    base = list(reg.iter_sets())
    out = []
    for j in range(k):
        shift = [rnd.randrange(-86_400_000_000, 86_400_000_000) for _ in base]
        out.append([(e.norad_id, e.epoch_us + s) for e, s in zip(base, shift)])
    return out


def test_hash_and_merge_joins_of_two_100k_sources(reg):
    l, r = _five_sources(reg, 2)
    l = [(n, e // 86_400_000_000) for n, e in l]        # join on (object, day)
    r = [(n, e // 86_400_000_000) for n, e in r]
    key = (lambda x: x)
    cl, cr = collections.Counter(l), collections.Counter(r)
    want = sum(c * cr[k] for k, c in cl.items())
    h = list(HashJoin(l, r, key, key))
    m = list(SortMergeJoin(l, r, key, key))
    assert len(h) == len(m) == want
    assert all(a == b for a, b in h)
    assert sorted(h) == sorted(m)


def test_five_way_merge_sorted_and_complete(reg):
    srcs = [sorted(s) for s in _five_sources(reg, 5)]
    assert all(len(s) > 100_000 for s in srcs)
    merged = list(KWayMerge(srcs, key=lambda x: x))
    assert [x for _, x in merged] == sorted(x for s in srcs for x in s)
    from array import array
    norads = [array("q", [n for n, _ in s]) for s in srcs]
    epochs = [array("q", [e for _, e in s]) for s in srcs]
    total = sum(len(s) for s in srcs)
    from oor_core import vecops
    o_src, o_row = array("i", bytes(4 * total)), array("i", bytes(4 * total))
    assert vecops.kway_merge(norads, epochs, o_src, o_row) == total
    keyed = [(srcs[j][r], j) for j, r in zip(o_src, o_row)]
    assert keyed == sorted(keyed)
    assert collections.Counter(j for j in o_src) == collections.Counter({j: len(s) for j, s in enumerate(srcs)})
    winners, ns, td, g = merge_columns(norads, epochs, list(range(5)), True)
    # newest wins: brute force per object
    best = {}
    for j, s in enumerate(srcs):
        for n, e in s:
            if n not in best or (e, -j) > (best[n][0], -best[n][1]):
                best[n] = (e, j)
    assert g == len(best)
    assert {srcs[j][r][0]: (srcs[j][r][1], j) for j, r in winners} == best


def test_conflict_resolution_newest_and_priority(data, reg):
    cats = sorted(glob.glob(str(data / "catalogs" / "*.3le")))
    names = [os.path.basename(c).split(".")[0] for c in cats]
    inputs = [list(oor.read_elements(c)) for c in cats] if hasattr(oor, "read_elements") else None
    if inputs is None:
        from oor.codec import read_elements
        inputs = [list(read_elements(c, "auto", source=n)) for c, n in zip(cats, names)]
    res = merge_sets(inputs, names, "newest")
    by_obj = collections.defaultdict(list)
    for j, s in enumerate(inputs):
        for e in s:
            by_obj[e.norad_id].append((e.epoch_us, j))
    assert res.report["objects"] == len(by_obj)
    assert res.report["conflicts"] == sum(1 for v in by_obj.values() if len({j for _, j in v}) > 1)
    win = {e.norad_id: e for e in res.winners}
    assert win[25544].epoch_us == max(e for e, _ in by_obj[25544])
    assert res.report["samples"][0][1] in names
    # the same through the registry's stored sources
    st = reg.merge(sources=names, policy="newest")
    assert st.report["objects"] == res.report["objects"]
    assert st.report["conflicts"] == res.report["conflicts"]
    assert {e.norad_id: e.epoch_us for e in st.winners} == {n: e.epoch_us for n, e in win.items()}
    pr = reg.merge(sources=names, policy=[names[0], names[1]])
    assert set(pr.report["wins"]) <= {names[0], names[1]}
    with pytest.raises(ValueError):
        reg.merge(policy=["nope"])


def test_resolve_operator_matches_kernel(reg):
    srcs = [sorted(s) for s in _five_sources(reg, 3, seed=3)]

    class E:
        __slots__ = ("norad_id", "epoch_us")

        def __init__(self, n, e):
            self.norad_id, self.epoch_us = n, e
    sets = [[E(n, e) for n, e in s] for s in srcs]
    op = Resolve(KWayMerge(sets, key=lambda x: (x.norad_id, x.epoch_us)), newest=True)
    rows = [(j, es.norad_id, es.epoch_us) for j, es, _ in op]
    from array import array
    winners, ns, td, g = merge_columns([array("q", [n for n, _ in s]) for s in srcs],
                                       [array("q", [e for _, e in s]) for s in srcs], [0, 1, 2], True)
    assert rows == [(j, *srcs[j][r]) for j, r in winners]
    assert op.stats["conflicts"] == sum(1 for i in range(g) if ns[i] > 1)


def test_column_batch_check(reg):
    from oor_core.batch import ColumnBatch, LeafScan, SCAN_ALL
    r = reg.reader()
    b = ColumnBatch(100)
    s = LeafScan(r.elsets, None, None, SCAN_ALL)
    total = 0
    while True:
        with r.reading():
            k = s.fill(b)
        if not k:
            break
        assert b._check()
        total += k
    assert total == sum(1 for _ in reg.iter_sets())


def test_optional_exports(reg):
    q = reg.query().where("inclination > 98").select("norad", "epoch", "regime")
    cols = q.columns()
    assert set(cols) == {"norad_id", "epoch", "regime"}
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError):
            q.to_arrow()
    else:
        assert q.to_arrow().num_rows == len(cols["norad_id"])
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError):
            q.to_pandas()
    else:
        assert len(q.to_pandas()) == len(cols["norad_id"])


def test_cli_query_merge_screen(data, tmp_path, capsys):
    from oor.cli import main
    db = str(tmp_path / "cli.oor")
    assert main(["load", str(data / "catalogs" / "catalog-2026-06.3le"), "--db", db, "--quiet"]) == 0
    assert main(["query", "--db", db, "--where", "inclination > 80 and perigee_km < 600", "--fields",
                 "norad,name,epoch", "--sort=-epoch", "--limit", "3", "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "norad_id,name,epoch" and len(out) == 4
    # the spelling users type: --sort -epoch (a separate argument), same rows
    assert main(["query", "--db", db, "--where", "inclination > 80 and perigee_km < 600", "--fields",
                 "norad,name,epoch", "--sort", "-epoch", "--limit", "3", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == out
    assert main(["query", "--db", db, "--where", "inclination >> 80"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("oor: --where: column 14: ") and err.count("\n") == 1
    assert main(["query", "--db", db, "--where", "norad = 25544", "--format", "3le"]) == 0
    assert "ISS (ZARYA)" in capsys.readouterr().out
    cats = sorted(glob.glob(str(data / "catalogs" / "*.3le")))
    outp = tmp_path / "m.3le"
    assert main(["merge", *cats, "-o", str(outp), "--policy", "newest", "--report"]) == 0
    cap = capsys.readouterr()
    assert "conflicts" in cap.err
    from oor.codec import read_elements
    merged = list(read_elements(str(outp), "auto"))
    assert len({e.norad_id for e in merged}) == len(merged)
    assert main(["screen", "25544", "--db", db]) == 0
    cap = capsys.readouterr()
    assert "candidates" in cap.err and cap.out.strip()
