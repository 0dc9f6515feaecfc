# oor_core/ommkvn.pyx -- the OMM KVN record scanner: runs of plain messages in a block of text -> ElementSets.
#
# The format, its rules and every error message are oor/codec/omm_kvn.py's.  The scanner reads the
# block of whole lines io._line_chunks gives (bytes, or a str of 1-byte characters; lines joined by
# LF, CR already removed, the last line without its LF) straight from its buffer: no str per line.
# It takes only the messages it recognises in full (see kvn_block) and stops at any other, which
# omm_kvn splits into lines and reads itself (same values, every error).  Values become sets in
# ommcodec.build_set.  Why: the per-line str objects (22 per set) cost more than converting them;
# reading KVN through line lists ran at 62-98k sets/s (issue 14).
# Who may import: oor.codec.omm_kvn.
from libc.string cimport memchr, memcmp

from oor_core.ommcodec cimport (BATCH, ENC_LATIN1, NKEYS, PyList_Append, V_ABSENT, V_TEXT, Extra, Val, build_set,
                                key_index, strip_space, text_view)

DEF MAX_UNKNOWN = 32       # at most MAX_EXTRA - 1 (ommcodec.pxd): CCSDS_OMM_VERS is one more

# kvn_block's status (oor/codec/omm_kvn.py names them)
DEF KVN_STOP = 0        # the line at pos starts nothing the scanner takes: omm_kvn reads that message
DEF KVN_AGAIN = 1       # BATCH sets taken: call again from pos
DEF KVN_MORE = 2        # the message at pos may go on past the block's end

# a line's kind (_classify)
DEF L_SKIP = 0          # blank or COMMENT
DEF L_VERS = 1          # the keyword is CCSDS_OMM_VERS: a message starts here
DEF L_KEY = 2           # KEY = value, KEY of A-Z, 0-9, '_'
DEF L_OTHER = 3         # anything else (the Python reader names it, or decides)


cdef inline Py_ssize_t _line_end(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, bint* ascii):
    """End (index of its LF, or n) of the line starting at p[i]; ascii: all its bytes are ASCII."""
    cdef const unsigned char* e = <const unsigned char*>memchr(p + i, 10, n - i)
    cdef Py_ssize_t end = n if e == NULL else e - p
    cdef unsigned char acc = 0
    for i in range(i, end):
        acc |= p[i]
    ascii[0] = acc < 128
    return end


cdef inline bint _key_char(unsigned char c):
    return 65 <= c <= 90 or 48 <= c <= 57 or c == 95


cdef int _classify(const unsigned char* p, Py_ssize_t s, Py_ssize_t e, Py_ssize_t* ka, Py_ssize_t* kb,
                   Py_ssize_t* va, Py_ssize_t* vb):
    """The kind of the ASCII line p[s:e] as omm_kvn reads it (strip; COMMENT; partition at the first '=',
    strip the key); for L_KEY the keyword p[ka:kb] and the stripped value p[va:vb].

    One pass over the keyword: a line whose keyword is not [A-Z0-9_]+ followed by white space and '='
    (or the end of the line, for CCSDS_OMM_VERS) is L_OTHER, which the Python reader decides.  Why:
    finding '=' first and then checking the keyword was 330 instructions a line (callgrind).
    """
    cdef Py_ssize_t a = s, q, r
    while a < e and strip_space(p[a]):
        a += 1
    if a == e:
        return L_SKIP
    if p[a] == 67 and e - a >= 7 and p[a + 1] == 79 and memcmp(p + a, b"COMMENT", 7) == 0:
        return L_SKIP
    q = a
    while q < e and _key_char(p[q]):
        q += 1
    r = q
    while r < e and strip_space(p[r]):
        r += 1
    if q - a == 14 and (r == e or p[r] == 61) and memcmp(p + a, b"CCSDS_OMM_VERS", 14) == 0:
        if r < e:
            r += 1
            while r < e and strip_space(p[r]):
                r += 1
            while e > r and strip_space(p[e - 1]):
                e -= 1
        va[0] = r
        vb[0] = e
        return L_VERS
    if q == a or r == e or p[r] != 61:
        return L_OTHER
    ka[0] = a
    kb[0] = q
    r += 1
    while r < e and strip_space(p[r]):
        r += 1
    while e > r and strip_space(p[e - 1]):
        e -= 1
    va[0] = r
    vb[0] = e
    return L_KEY


def kvn_block(buf, Py_ssize_t pos, Py_ssize_t max_line, source, list out, list starts):
    """Convert the plain KVN messages of ``buf`` from ``pos`` (a line start) on; return (status, pos, lines).

    ``pos`` and ``lines`` after the call: where the first message not taken starts, and the number
    of lines taken.  Status KVN_STOP: the line at pos is not a CCSDS_OMM_VERS line, or its message is
    not plain; KVN_AGAIN: BATCH sets (ommcodec.pxd) were appended, call again; KVN_MORE: the message at
    pos runs to the block's end (it may go on in the next block).

    A plain message: a CCSDS_OMM_VERS line and the lines up to the next one, every line ASCII and at
    most ``max_line`` bytes long, each blank, a COMMENT, or ``KEY = value`` with KEY of A-Z, 0-9 and
    '_', no keyword twice, at most 32 keywords outside KEYWORDS, and values ``build_set`` accepts.
    Units in brackets are cut from the numeric keywords' values as omm_kvn cuts them.  For each set
    appended to ``out``, ``starts`` gets the number of lines taken before its message (its origin).
    """
    cdef const unsigned char* p
    cdef Extra x[MAX_UNKNOWN + 1]
    cdef Py_ssize_t n, j, le, ka = 0, kb = 0, va = 0, vb = 0, cut, u, n_unknown, taken = 0, msg_lines
    cdef Val v[NKEYS]
    cdef int key, kind
    cdef bint ascii
    if not text_view(buf, &p, &n) or pos < 0 or pos > n:
        return (KVN_STOP, pos, 0)
    while True:
        le = _line_end(p, pos, n, &ascii)
        if not ascii or le - pos > max_line or _classify(p, pos, le, &ka, &kb, &va, &vb) != L_VERS:
            return (KVN_STOP, pos, taken)
        for u in range(NKEYS):
            v[u].kind = V_ABSENT
        x[0].kp = <const unsigned char*>b"CCSDS_OMM_VERS"       # its value goes to META too
        x[0].kn = 14
        x[0].v.kind = V_TEXT
        x[0].v.p = p + va
        x[0].v.n = vb - va
        n_unknown = 1
        msg_lines = 1
        j = le + 1
        while True:
            if j > n:
                return (KVN_MORE, pos, taken)
            le = _line_end(p, j, n, &ascii)
            if not ascii or le - j > max_line:
                return (KVN_STOP, pos, taken)
            kind = _classify(p, j, le, &ka, &kb, &va, &vb)
            if kind == L_VERS:
                break                       # the next message starts at j
            if kind == L_KEY:
                key = key_index(p + ka, kb - ka)
                if key >= 0:
                    if v[key].kind != V_ABSENT:
                        return (KVN_STOP, pos, taken)      # twice: the Python reader names the line
                    if key != 0 and key != 1 and key != 2 and key != 10 and vb > va and p[vb - 1] == 93:
                        cut = vb - 1                      # units in brackets: value[:value.rfind('[')].rstrip()
                        while cut >= va and p[cut] != 91:
                            cut -= 1
                        if cut >= va:
                            vb = cut
                            while vb > va and strip_space(p[vb - 1]):
                                vb -= 1
                    v[key].kind = V_TEXT
                    v[key].p = p + va
                    v[key].n = vb - va
                else:
                    for u in range(n_unknown):
                        if x[u].kn == kb - ka and memcmp(x[u].kp, p + ka, kb - ka) == 0:
                            return (KVN_STOP, pos, taken)
                    if n_unknown == MAX_UNKNOWN + 1:
                        return (KVN_STOP, pos, taken)
                    x[n_unknown].kp = p + ka
                    x[n_unknown].kn = kb - ka
                    x[n_unknown].v.kind = V_TEXT
                    x[n_unknown].v.p = p + va
                    x[n_unknown].v.n = vb - va
                    n_unknown += 1
            elif kind != L_SKIP:
                return (KVN_STOP, pos, taken)              # not KEY = value: the Python reader names the line
            msg_lines += 1
            j = le + 1
        es = build_set(v, source, ENC_LATIN1, x, n_unknown, None)
        if es is None:
            return (KVN_STOP, pos, taken)
        PyList_Append(out, es)
        PyList_Append(starts, taken)
        taken += msg_lines
        pos = j
        if len(out) >= BATCH:
            return (KVN_AGAIN, pos, taken)


def kvn_next(buf, Py_ssize_t pos):
    """Start of the first line after the line at ``pos`` whose keyword is CCSDS_OMM_VERS, or -1.

    A hint for omm_kvn (how much to read line by line before trying kvn_block again): only ASCII
    lines are looked at.  Who may call: oor.codec.omm_kvn.
    """
    cdef const unsigned char* p
    cdef Py_ssize_t n, le, ka = 0, kb = 0, va = 0, vb = 0
    cdef bint ascii
    if not text_view(buf, &p, &n) or pos < 0 or pos > n:
        return -1
    pos = _line_end(p, pos, n, &ascii) + 1
    while pos <= n:
        le = _line_end(p, pos, n, &ascii)
        if ascii and _classify(p, pos, le, &ka, &kb, &va, &vb) == L_VERS:
            return pos
        pos = le + 1
    return -1
