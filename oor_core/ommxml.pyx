# oor_core/ommxml.pyx -- the OMM XML record scanner: a well-formedness check of a subset of XML 1.0, with the
# plain <omm> segments converted to ElementSets, in C.
#
# The format, its rules and every error message are oor/codec/omm_xml.py's (and expat's); the
# scanner stops at anything outside its subset, and omm_xml goes on from there (see below).
# Values become sets in ommcodec.build_set.  Who may import: oor.codec.omm_xml.
from libc.string cimport memcmp, memcpy
from libc.stdint cimport int64_t

from oor_core.ommcodec cimport (BATCH, ENC_UTF8, MAX_EXTRA, NKEYS, PyList_Append, V_ABSENT, V_TEXT, Extra, Val,
                                build_set, key_index)
from oor_core.tlecodec cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

cdef int _k

# The subset (anything else stops the scan with XML_BAIL; omm_xml then hands the rest of the document to
# expat, primed with the open elements, so every malformed-XML error is expat's own): elements with
# ASCII names ([A-Za-z_][A-Za-z0-9._-]*, at most one inner ':'), attributes with quoted values,
# character data without '&' or ']]>', UTF-8 checked (no overlong forms, surrogates, U+FFFE/U+FFFF
# or control characters but TAB, LF, CR); no comments, CDATA, processing instructions, references or
# DOCTYPE (the prolog is checked by omm_xml).  Every document in the subset is well-formed, so
# expat accepts it.  An <omm> segment's keywords are read as omm_xml._segment reads them: the text
# after each start or empty tag without attributes whose local name is [A-Z_]+, up to the next '<',
# the last one winning.

DEF XML_MORE = 0        # the buffer ends inside a token or segment: call again from pos with more data
DEF XML_SLOW = 1        # the segment [a, b) is for omm_xml._segment; go on from pos (= b)
DEF XML_BAIL = 2        # outside the subset at pos (a token or segment start): expat takes over
DEF XML_END = 3         # final, and the document is complete
DEF XML_AGAIN = 4       # BATCH sets (ommcodec.pxd) appended: call again from pos


# byte classes: TEXT_PLAIN[c] for character data needing no further check (printable ASCII but < & ] >),
# NAME_CH[c] for [A-Za-z0-9._:-]: N_NAME, plus N_COLON for ':' and N_UPPER for [A-Z_]
DEF N_NAME = 1
DEF N_COLON = 2
DEF N_UPPER = 4
cdef unsigned char TEXT_PLAIN[256]
cdef unsigned char NAME_CH[256]
for _k in range(256):
    TEXT_PLAIN[_k] = 1 if (32 <= _k < 128 and _k != 60 and _k != 38 and _k != 93 and _k != 62) or _k == 9 or _k == 10 \
        or _k == 13 else 0
    NAME_CH[_k] = N_NAME if (65 <= _k <= 90 or 97 <= _k <= 122 or 48 <= _k <= 57 or _k == 95 or _k == 46
                             or _k == 45 or _k == 58) else 0
    if _k == 58:
        NAME_CH[_k] |= N_COLON
    if 65 <= _k <= 90 or _k == 95:
        NAME_CH[_k] |= N_UPPER


cdef class XmlScan:
    """State of xml_run between buffers: the open elements and whether the root element was seen."""

    def prefix(self):
        """Bytes that bring a fresh expat parser to this state: the open start tags, or '<_/>' after the root."""
        if self.root_seen and self.depth == 0:
            return b"<_/>"
        return b"".join(b"<" + self.names[i][:self.nlen[i]] + b">" for i in range(self.depth))


cdef Py_ssize_t _utf8(const unsigned char* p, Py_ssize_t i, Py_ssize_t n):
    """p[i] >= 0x80: index after a valid UTF-8 XML character there; -1 invalid; -2 cut by the buffer end."""
    cdef unsigned char c = p[i], c1, c2
    cdef int need
    if 0xC2 <= c <= 0xDF:
        need = 1
    elif 0xE0 <= c <= 0xEF:
        need = 2
    elif 0xF0 <= c <= 0xF4:
        need = 3
    else:
        return -1
    if i + need >= n:
        return -2
    c1 = p[i + 1]
    if not 0x80 <= c1 <= 0xBF:
        return -1
    if need == 1:
        return i + 2
    c2 = p[i + 2]
    if not 0x80 <= c2 <= 0xBF:
        return -1
    if need == 2:
        if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 > 0x9F):
            return -1
        if c == 0xEF and c1 == 0xBF and c2 >= 0xBE:
            return -1                                # U+FFFE, U+FFFF
        return i + 3
    if not 0x80 <= p[i + 3] <= 0xBF:
        return -1
    if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 > 0x8F):
        return -1
    return i + 4


cdef inline bint _xname_start(unsigned char c):
    return 65 <= c <= 90 or 97 <= c <= 122 or c == 95


cdef inline bint _xname(unsigned char c):
    return 65 <= c <= 90 or 97 <= c <= 122 or c == 95 or 48 <= c <= 57 or c == 46 or c == 45 or c == 58


cdef inline bint _xs(unsigned char c):
    return c == 32 or c == 10 or c == 13 or c == 9


cdef inline Py_ssize_t _xname_end(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, Py_ssize_t* colon,
                                  bint* upper):
    """Index after the name at p[i]; -1 outside the subset; -2 cut by the buffer end. colon: its ':' or -1;
    upper: its local name (after the ':') is [A-Z_]+.  Why one pass with a class table: this and a second
    loop for the capture check were 4,400 instructions of an XML set (callgrind)."""
    cdef Py_ssize_t a = i, c = -1
    cdef unsigned char cls, up = N_UPPER
    if i >= n:
        colon[0] = -1
        return -2
    if not _xname_start(p[i]):
        colon[0] = -1
        return -1
    while i < n:
        cls = NAME_CH[p[i]]
        if cls == 0:
            break
        if cls & N_COLON:
            if c >= 0 or i == a:
                colon[0] = c
                return -1
            c = i
            up = N_UPPER
        else:
            up &= cls
        i += 1
    colon[0] = c
    upper[0] = up != 0
    if i >= n:
        return -2
    if c == i - 1 or i - a > XML_NAME:
        return -1
    return i


cdef Py_ssize_t _xref(const unsigned char* p, Py_ssize_t i, Py_ssize_t n):
    """p[i] is '&': index after a predefined entity or character reference to an XML character; -1 if
    it is none of those; -2 cut by the buffer end."""
    cdef Py_ssize_t j = i + 1, a
    cdef int64_t cp = 0
    cdef int d
    if j < n and p[j] == 35:
        j += 1
        if j < n and p[j] == 120:
            j += 1
            a = j
            while j < n and j - a <= 8:
                d = p[j]
                if 48 <= d <= 57:
                    cp = cp * 16 + d - 48
                elif 97 <= d <= 102:
                    cp = cp * 16 + d - 87
                elif 65 <= d <= 70:
                    cp = cp * 16 + d - 55
                else:
                    break
                j += 1
        else:
            a = j
            while j < n and j - a <= 8 and 48 <= p[j] <= 57:
                cp = cp * 10 + p[j] - 48
                j += 1
        if j >= n:
            return -2
        if j == a or p[j] != 59 or j - a > 8:
            return -1
        if not (cp == 9 or cp == 10 or cp == 13 or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD
                or 0x10000 <= cp <= 0x10FFFF):
            return -1
        return j + 1
    a = j
    while j < n and j - a <= 5 and 97 <= p[j] <= 122:
        j += 1
    if j >= n:
        return -2
    if p[j] != 59:
        return -1
    if ((j - a == 2 and (memcmp(p + a, b"lt", 2) == 0 or memcmp(p + a, b"gt", 2) == 0))
            or (j - a == 3 and memcmp(p + a, b"amp", 3) == 0)
            or (j - a == 4 and (memcmp(p + a, b"apos", 4) == 0 or memcmp(p + a, b"quot", 4) == 0))):
        return j + 1
    return -1


def xml_run(XmlScan st, bytes buf, Py_ssize_t pos, bint final, source, list out):
    """Scan buf[pos:] (see above), appending the sets of plain <omm> segments to ``out``.

    Returns (code, pos, a, b): XML_MORE/SLOW/BAIL/END/AGAIN as defined above.
    """
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buf)
    cdef Py_ssize_t i, t, e, colon, ecolon, tq = 0, an, j, k, q, nattr, seg_start = -1, vstart = -1
    cdef Py_ssize_t attr_a[16]
    cdef Py_ssize_t attr_n[16]
    cdef int seg_depth = 0, key = -1, saved_depth = st.depth
    cdef bint empty, leaf, upper = False, aupper = False, seg_slow = False
    cdef unsigned char c, quote
    cdef Val v[NKEYS]
    cdef Extra x[MAX_EXTRA]
    cdef int nx = 0, u
    cdef bint dup
    i = pos
    while True:
        if i >= n:
            if seg_start >= 0:
                st.depth = saved_depth
                return (XML_MORE if not final else XML_BAIL, seg_start, 0, 0)
            if final:
                if st.root_seen and st.depth == 0:
                    return (XML_END, i, 0, 0)
                return (XML_BAIL, i, 0, 0)
            return (XML_MORE, i, 0, 0)
        c = p[i]
        if c != 60:
            # character data up to the next '<'
            t = i
            while i < n:
                if st.depth > 0:
                    while i < n and TEXT_PLAIN[p[i]]:    # the common bytes in one tight loop
                        i += 1
                    if i >= n:
                        break
                c = p[i]
                if c == 60:
                    break
                if c >= 0x80:
                    e = _utf8(p, i, n)
                    if e == -2 and not final:
                        i = -2
                        break
                    if e < 0 or st.depth == 0:
                        i = -1
                        break
                    i = e
                    continue
                if c < 32 and c != 9 and c != 10 and c != 13:
                    i = -1
                    break
                if c == 38:
                    e = _xref(p, i, n)
                    if e == -2 and not final:
                        i = -2
                        break
                    if e < 0 or st.depth == 0:
                        i = -1
                        break
                    seg_slow = True                  # omm_xml._segment reads the references
                    i = e
                    continue
                if c == 62 and i >= t + 2 and p[i - 1] == 93 and p[i - 2] == 93:
                    i = -1
                    break
                if st.depth == 0 and not _xs(c):
                    i = -1
                    break
                i += 1
            if i == -2 or (i >= n and not final):
                if seg_start >= 0:
                    st.depth = saved_depth
                    return (XML_MORE, seg_start, 0, 0)
                return (XML_MORE, t, 0, 0)
            if i < 0:
                if seg_start >= 0:
                    st.depth = saved_depth
                    return (XML_BAIL, seg_start, 0, 0)
                return (XML_BAIL, t, 0, 0)
            continue
        # markup at i
        t = i
        if i + 1 >= n:
            e = -2
        elif p[i + 1] == 47:                          # end tag: the open element's name, S?, '>'
            if st.depth == 0:
                e = -1
            else:
                k = st.depth - 1
                an = st.nlen[k]
                e = i + 2 + an
                if e >= n:
                    e = -2                            # more data decides
                elif memcmp(st.names[k], p + i + 2, an) != 0 or NAME_CH[p[e]]:
                    e = -1
                else:
                    while e < n and _xs(p[e]):
                        e += 1
                    if e >= n:
                        e = -2
                    elif p[e] != 62:
                        e = -1
                    else:
                        st.depth = k
                        e += 1
                        if seg_start >= 0 and st.depth == seg_depth:
                            es = None if seg_slow else build_set(v, source, ENC_UTF8, x, nx, None)
                            if es is None:
                                return (XML_SLOW, e, seg_start, e)
                            PyList_Append(out, es)
                            seg_start = -1
                            saved_depth = st.depth
                            if len(out) >= BATCH:
                                return (XML_AGAIN, e, 0, 0)
        elif _xname_start(p[i + 1]):                  # start or empty-element tag
            e = _xname_end(p, i + 1, n, &ecolon, &upper)
            an = e - (i + 1)
            leaf = False
            nattr = 0
            empty = False
            j = e
            while j >= 0:
                k = j
                while j < n and _xs(p[j]):
                    j += 1
                if j >= n:
                    j = -2
                    break
                if p[j] == 62:
                    j += 1
                    break
                if p[j] == 47:
                    if j + 1 >= n:
                        j = -2
                    elif p[j + 1] == 62:
                        empty = True
                        j += 2
                    else:
                        j = -1
                    break
                if j == k or nattr == 16:             # an attribute needs white space before it
                    j = -1
                    break
                q = _xname_end(p, j, n, &colon, &aupper)
                if q < 0:
                    j = q
                    break
                attr_a[nattr] = j
                attr_n[nattr] = q - j
                for k in range(nattr):
                    if attr_n[k] == q - j and memcmp(p + attr_a[k], p + j, q - j) == 0:
                        q = -1
                        break
                if q < 0:
                    j = -1
                    break
                nattr += 1
                j = q
                while j < n and _xs(p[j]):
                    j += 1
                if j >= n:
                    j = -2
                    break
                if p[j] != 61:
                    j = -1
                    break
                j += 1
                while j < n and _xs(p[j]):
                    j += 1
                if j >= n:
                    j = -2
                    break
                quote = p[j]
                if quote != 34 and quote != 39:
                    j = -1
                    break
                j += 1
                while j < n and p[j] != quote:
                    c = p[j]
                    if c == 60 or c == 38 or (c < 32 and c != 9 and c != 10 and c != 13):
                        j = -1
                        break
                    if c >= 0x80:
                        q = _utf8(p, j, n)
                        if q < 0:
                            j = q
                            break
                        j = q
                        continue
                    j += 1
                if j < 0:
                    break
                if j >= n:
                    j = -2
                    break
                j += 1
            if e >= 0:
                e = j
            if e >= 0:
                if (st.root_seen and st.depth == 0) or st.depth >= XML_STACK:
                    e = -1
            if e >= 0:
                k = ecolon + 1 if ecolon >= 0 else i + 1   # its local name starts at k
                if (i + 1 + an) - k == 3 and memcmp(p + k, b"omm", 3) == 0:
                    if seg_start >= 0 or empty:
                        e = -1
                    else:
                        seg_start = t
                        seg_slow = False
                        seg_depth = st.depth
                        saved_depth = st.depth
                        for q in range(NKEYS):
                            v[q].kind = V_ABSENT
                        nx = 0
                elif seg_start >= 0 and nattr > 0:
                    if (i + 1 + an) - k == 12 and memcmp(p + k, b"USER_DEFINED", 12) == 0:
                        seg_slow = True                   # omm_xml._segment reads its parameter (META)
                elif seg_start >= 0 and nattr == 0:
                    leaf = not empty
                    tq = e                                # the run of plain character data after the tag
                    while tq < n and TEXT_PLAIN[p[tq]]:
                        tq += 1
                    if upper:
                        key = key_index(p + k, i + 1 + an - k)
                        q = tq
                        while q < n and p[q] != 60:
                            q += 1
                        if key >= 0:
                            v[key].kind = V_TEXT
                            v[key].p = p + e
                            v[key].n = q - e          # checked as character data when the scan gets there
                        else:                         # kept for META; a keyword twice: _segment decides
                            dup = nx == MAX_EXTRA
                            for u in range(nx):
                                if x[u].kn == i + 1 + an - k and memcmp(x[u].kp, p + k, x[u].kn) == 0:
                                    dup = True
                            if dup:
                                seg_slow = True
                            else:
                                x[nx].kp = p + k
                                x[nx].kn = i + 1 + an - k
                                x[nx].v.kind = V_TEXT
                                x[nx].v.p = p + e
                                x[nx].v.n = q - e
                                nx += 1
            if e >= 0:
                st.root_seen = True
                if leaf and tq + 3 + an <= n and p[tq] == 60 and p[tq + 1] == 47 \
                        and memcmp(p + tq + 2, p + i + 1, an) == 0 and p[tq + 2 + an] == 62:
                    # <NAME>plain text</NAME> in one step: the text is plain character data (TEXT_PLAIN)
                    # and the end tag closes this element, so nothing is pushed.  Why: the general path
                    # (push, character-data loop, end tag, pop) was most of xml_run's 11k instructions a
                    # set (callgrind).
                    e = tq + 3 + an
                elif not empty:
                    memcpy(st.names[st.depth], p + i + 1, an)
                    st.nlen[st.depth] = an
                    st.depth += 1
        else:
            e = -1
        if e == -2:
            if final:
                e = -1
            else:
                if seg_start >= 0:
                    st.depth = saved_depth
                    return (XML_MORE, seg_start, 0, 0)
                return (XML_MORE, t, 0, 0)
        if e < 0:
            if seg_start >= 0:
                st.depth = saved_depth
                return (XML_BAIL, seg_start, 0, 0)
            return (XML_BAIL, t, 0, 0)
        i = e

