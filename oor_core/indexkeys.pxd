# The index keys a stored record implies (the rule of oor/index_counts.py), computed in C from its facts.
# Who may cimport: oor_core/regcheck.pyx (the check's sums) and oor_core/indexkeys.pyx (a load's counts).
#
# Key layout (oor.keys.index_key): text | 0x00 | NORAD u32 BE.  Texts, for the records C decides:
#   names   the name stripped of what str.strip() removes (ASCII), A-Z lower-cased (= casefold for
#           ASCII), cut to NAME_MAX bytes (oor.keys.name_text); none when that is empty
#   cospar  "YYYY-" + designator[2:] for a designator starting with two digits, YY >= 57 -> 19YY
#           (oor.codec.elements.tle_to_cospar); none when there is no designator
# Anything else (a non-ASCII name, a designator not starting with two digits) returns -1: the caller
# takes the Python rule (oor.index_counts.index_texts), so the rule stays owned by its Python modules.
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memcpy
from oor_core.tlecodec cimport RecordFacts

cdef enum:
    NAME_MAX = 256                        # oor.keys.NAME_KEY_MAX
    NAME_KEY_CAP = NAME_MAX + 5           # text, 0x00, NORAD
    COSPAR_KEY_CAP = 64


cdef inline bint strip_space(uint8_t c) noexcept nogil:
    """ASCII characters str.strip() removes: \\t \\n \\v \\f \\r, \\x1c-\\x1f, space."""
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31


cdef inline Py_ssize_t name_key(const RecordFacts* f, const uint8_t* norad4, uint8_t* out) noexcept nogil:
    """The names key into out (NAME_KEY_CAP bytes): its length, 0 for none, -1 when C cannot tell
    (a byte >= 0x80 in the name)."""
    cdef Py_ssize_t a = 0, b, n, i
    cdef uint8_t c
    if not f.has_name:
        return 0
    b = f.name_len
    for i in range(b):
        if f.name[i] >= 0x80:
            return -1
    while a < b and strip_space(f.name[a]):
        a += 1
    while b > a and strip_space(f.name[b - 1]):
        b -= 1
    n = b - a
    if n > NAME_MAX:
        n = NAME_MAX
    if n == 0:
        return 0
    for i in range(n):
        c = f.name[a + i]
        out[i] = c + 32 if 65 <= c <= 90 else c
    out[n] = 0
    memcpy(out + n + 1, norad4, 4)
    return n + 5


cdef inline Py_ssize_t cospar_key(const RecordFacts* f, const uint8_t* norad4, uint8_t* out) noexcept nogil:
    """The cospar key into out (COSPAR_KEY_CAP bytes): its length, 0 for none, -1 when C cannot tell."""
    cdef int yy
    cdef Py_ssize_t n
    if not f.intl_len:
        return 0
    if f.intl_len < 2 or f.intl_len - 2 + 10 > COSPAR_KEY_CAP \
            or not (48 <= f.intl[0] <= 57 and 48 <= f.intl[1] <= 57):
        return -1
    yy = (f.intl[0] - 48) * 10 + (f.intl[1] - 48)
    yy += 1900 if yy >= 57 else 2000
    out[0] = 48 + yy // 1000
    out[1] = 48 + (yy // 100) % 10
    out[2] = 48 + (yy // 10) % 10
    out[3] = 48 + yy % 10
    out[4] = 45
    memcpy(out + 5, f.intl + 2, f.intl_len - 2)
    n = 5 + f.intl_len - 2
    out[n] = 0
    memcpy(out + n + 1, norad4, 4)
    return n + 5


cdef class KeyCounter:
    cdef dict names, cospar               # per index: key bytes -> summed delta
    cdef public Py_ssize_t fast, slow     # records counted in C / left to the caller
