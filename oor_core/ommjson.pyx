# oor_core/ommjson.pyx -- the OMM JSON record scanner: runs of flat objects -> ElementSets, in C.
#
# The format, its rules and every error message are oor/codec/omm_json.py's; this scanner takes
# only the objects it recognises in full (see json_run) and stops at any other value, which
# omm_json then decodes with json (same values, every error).  Values become sets in
# ommcodec.build_set.  Who may import: oor.codec.omm_json.
from libc.string cimport memcmp

from oor_core.ommcodec cimport (BATCH, ENC_LATIN1, MAX_EXTRA, NKEYS, PyList_Append, V_ABSENT, V_FLOAT, V_INT,
                                V_TEXT, Extra, Val, build_set, key_index, latin1_view)


cdef inline bint _jws(unsigned char c):
    return c == 32 or c == 10 or c == 13 or c == 9


cdef Py_ssize_t _json_string(const unsigned char* p, Py_ssize_t i, Py_ssize_t n):
    """p[i] is '"': index after the closing quote of a string without escapes or control characters; -1 if
    the string is not of that kind or not complete."""
    cdef unsigned char c
    i += 1
    while i < n:
        c = p[i]
        if c == 34:
            return i + 1
        if c == 92 or c < 32:
            return -1
        i += 1
    return -1


cdef Py_ssize_t _json_number(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, bint* is_int):
    """Index after a JSON number starting at p[i] (strict JSON grammar); -1 if none or it may go on past n."""
    cdef bint integer = True
    if i < n and p[i] == 45:
        i += 1
    if i >= n:
        return -1
    if p[i] == 48:
        i += 1
    elif 49 <= p[i] <= 57:
        while i < n and 48 <= p[i] <= 57:
            i += 1
    else:
        return -1
    if i < n and p[i] == 46:
        integer = False
        i += 1
        if i >= n or not 48 <= p[i] <= 57:
            return -1
        while i < n and 48 <= p[i] <= 57:
            i += 1
    if i < n and (p[i] == 101 or p[i] == 69):
        integer = False
        i += 1
        if i < n and (p[i] == 43 or p[i] == 45):
            i += 1
        if i >= n or not 48 <= p[i] <= 57:
            return -1
        while i < n and 48 <= p[i] <= 57:
            i += 1
    if i >= n:
        return -1                     # the number may go on in the next chunk
    is_int[0] = integer
    return i


def json_run(str buf, Py_ssize_t pos, bint in_array, source, list out):
    """Convert the flat JSON objects starting at buf[pos] (omm_json's fast path); return the position of
    the first value not taken.

    Taken: objects (complete within buf) whose keys and string values have no escapes or control
    characters, whose values are strings, numbers or null, and whose values ``build_set`` accepts --
    exactly the objects json decodes to a flat dict that omm_fast converts.  Between objects, JSON
    white space (and, in an array, commas, as omm_json skips them).  Only 1-byte-kind buffers.
    Returns after BATCH sets (ommcodec.pxd); the caller calls again from there.
    """
    cdef const unsigned char* p
    cdef Py_ssize_t n, q, ka, kb, e
    cdef Val v[NKEYS]
    cdef Extra x[MAX_EXTRA]
    cdef Val* dst
    cdef int key, k, nx
    cdef bint is_int
    if not latin1_view(buf, &p, &n):
        return pos
    while True:
        while pos < n and (_jws(p[pos]) or (in_array and p[pos] == 44)):
            pos += 1
        if pos >= n or p[pos] != 123:
            return pos
        for k in range(NKEYS):
            v[k].kind = V_ABSENT
        nx = 0
        q = pos + 1
        while q < n and _jws(p[q]):
            q += 1
        if q >= n or p[q] != 34:
            return pos                     # {} or malformed: the Python reader decides
        while True:
            ka = q + 1
            q = _json_string(p, q, n)
            if q < 0:
                return pos
            kb = q - 1
            while q < n and _jws(p[q]):
                q += 1
            if q >= n or p[q] != 58:
                return pos
            q += 1
            while q < n and _jws(p[q]):
                q += 1
            if q >= n:
                return pos
            key = key_index(p + ka, kb - ka)
            if key >= 0:
                dst = &v[key]
            else:                          # kept for META (a keyword twice: the Python reader decides)
                if nx == MAX_EXTRA:
                    return pos
                for k in range(nx):
                    if x[k].kn == kb - ka and memcmp(x[k].kp, p + ka, kb - ka) == 0:
                        return pos
                x[nx].kp = p + ka
                x[nx].kn = kb - ka
                dst = &x[nx].v
                nx += 1
            if p[q] == 34:
                e = _json_string(p, q, n)
                if e < 0:
                    return pos
                dst.kind = V_TEXT
                dst.p = p + q + 1
                dst.n = e - 1 - (q + 1)
            elif p[q] == 45 or 48 <= p[q] <= 57:
                e = _json_number(p, q, n, &is_int)
                if e < 0:
                    return pos
                dst.kind = V_INT if is_int else V_FLOAT
                dst.p = p + q
                dst.n = e - q
            elif p[q] == 110 and q + 4 <= n and memcmp(p + q, b"null", 4) == 0:
                e = q + 4
                dst.kind = V_ABSENT
            else:
                return pos
            q = e
            while q < n and _jws(p[q]):
                q += 1
            if q >= n:
                return pos
            if p[q] == 44:
                q += 1
                while q < n and _jws(p[q]):
                    q += 1
                if q >= n or p[q] != 34:
                    return pos
                continue
            if p[q] == 125:
                q += 1
                break
            return pos
        es = build_set(v, source, ENC_LATIN1, x, nx, None)
        if es is None:
            return pos
        PyList_Append(out, es)
        pos = q
        if len(out) >= BATCH:
            return pos

