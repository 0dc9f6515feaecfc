# oor_core/ommcsv.pyx -- the OMM CSV record scanner: runs of plain rows -> ElementSets, in C.
#
# The format, its rules and every error message are oor/codec/omm_csv.py's; this scanner takes
# only the rows it recognises in full (see csv_run) and stops at any other, which omm_csv then
# reads through csv.reader (same values, every error).  Values become sets in ommcodec.build_set.
# Who may import: oor.codec.omm_csv.
from oor_core.ommcodec cimport (BATCH, ENC_LATIN1, MAX_EXTRA, NKEYS, PyList_Append, V_ABSENT, V_TEXT, Extra, Val,
                                build_set, latin1_view)

DEF MAX_CSV_COLS = 256


def csv_run(list lines, Py_ssize_t i, tuple order, Py_ssize_t ncols, source, list out, tuple extra=()):
    """Convert CSV lines[i:] while each is a plain row (omm_csv's fast path); return the first index not taken.

    A plain row: a str of 1-byte characters, none a quote or a control character, with exactly
    ``ncols - 1`` commas -- the rows csv.reader splits as ``line.split(',')`` -- whose values
    ``build_set`` accepts.  ``order[k]`` is the column of KEYWORDS[k], or -1; ``extra`` the
    (column, keyword) pairs of the other columns, kept in META.  Returns after BATCH sets
    (ommcodec.pxd); the caller calls again from there.
    """
    cdef Py_ssize_t n_lines = len(lines), n, j, k, col
    cdef const unsigned char* p
    cdef Py_ssize_t starts[MAX_CSV_COLS + 1]
    cdef int idx[NKEYS]
    cdef Val v[NKEYS]
    cdef Extra x[MAX_EXTRA]
    cdef int xcol[MAX_EXTRA]
    cdef Py_ssize_t nx = len(extra)
    cdef tuple xkeys
    cdef unsigned char ch
    if len(order) != NKEYS or ncols > MAX_CSV_COLS or ncols < 1 or nx > MAX_EXTRA:
        return i
    xkeys = tuple([e[1] for e in extra])
    for k in range(nx):
        xcol[k] = extra[k][0]
        if not 0 <= xcol[k] < ncols:
            return i
        x[k].kn = k                       # index into xkeys
    for k in range(NKEYS):
        idx[k] = order[k]
        if idx[k] >= ncols:
            return i
    while i < n_lines:
        line = lines[i]
        if not latin1_view(line, &p, &n) or n == 0:
            return i
        col = 1
        starts[0] = 0
        for j in range(n):
            ch = p[j]
            if ch == 44:
                if col == ncols:
                    return i
                starts[col] = j + 1
                col += 1
            elif ch == 34 or ch < 32 or ch == 127:
                return i
        if col != ncols:
            return i
        starts[ncols] = n + 1
        for k in range(NKEYS):
            col = idx[k]
            if col < 0:
                v[k].kind = V_ABSENT
            else:
                v[k].kind = V_TEXT
                v[k].p = p + starts[col]
                v[k].n = starts[col + 1] - 1 - starts[col]
        for k in range(nx):
            col = xcol[k]
            x[k].v.kind = V_TEXT
            x[k].v.p = p + starts[col]
            x[k].v.n = starts[col + 1] - 1 - starts[col]
        es = build_set(v, source, ENC_LATIN1, x, nx, xkeys)
        if es is None:
            return i
        PyList_Append(out, es)
        i += 1
        if len(out) >= BATCH:
            return i
    return i

