# oor_core/ommcodec.pxd -- what the OMM record scanners share: C-level contract.
#
# ommcodec.pyx turns 17 OMM values into an ElementSet (the rules are oor/codec/omm.py's); the scanners
# of each encoding (ommcsv, ommkvn, ommjson, ommxml) find the values in their text as slices (Val)
# and hand them to build_set.  Who may cimport: oor_core/ommcsv.pyx, ommkvn.pyx, ommjson.pyx, ommxml.pyx.

cdef extern from "Python.h":
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    bint PyUnicode_IS_ASCII(object)
    int PyList_Append(object, object) except -1

cdef enum:
    NKEYS = 17           # oor.codec.omm.KEYWORDS
    V_ABSENT = 0
    V_TEXT = 1           # characters p[0:n] (1-byte kind: latin-1 from str input; UTF-8 from bytes)
    V_INT = 2            # a JSON integer literal
    V_FLOAT = 3          # a JSON number with a fraction or exponent
    ENC_LATIN1 = 0
    ENC_UTF8 = 1
    # Sets a scanner appends to ``out`` before it returns (it is called again from where it stopped).
    # Why: with whole 1 MiB blocks (about 2,000 sets) in ``out`` at once, every 350 sets met a gen-0
    # collection that kept them all and pushed them on to full collections: 1.5-2.5 us of a 5-9 us set
    # (perf: visit_decref, visit_reachable, gc_collect_main).  64 sets stay below gen 0's threshold.
    BATCH = 64
    MAX_EXTRA = 64       # keywords beyond KEYWORDS a scanner keeps for a record's META (more: the Python reader)

cdef struct Val:
    const unsigned char* p
    Py_ssize_t n
    int kind

# A keyword outside KEYWORDS and its value: kept in the set's META (oor/codec/omm.py's rules: in file
# order, the exact text, absent/empty values and keys not 1-255 ASCII characters left out).
cdef struct Extra:
    const unsigned char* kp
    Py_ssize_t kn
    Val v

cdef int key_index(const unsigned char* p, Py_ssize_t n)
cdef object build_set(Val* v, object source, int enc, Extra* x, int nx, tuple keys)


cdef inline bint latin1_view(object s, const unsigned char** p, Py_ssize_t* n):
    """A 1-byte-kind str (ASCII or latin-1 characters) -> its characters as bytes; False for any other object."""
    if type(s) is not str or PyUnicode_KIND(s) != 1:
        return False
    p[0] = <const unsigned char*>PyUnicode_DATA(s)
    n[0] = PyUnicode_GET_LENGTH(s)
    return True


cdef inline bint text_view(object s, const unsigned char** p, Py_ssize_t* n):
    """latin1_view, or the bytes of a bytes object."""
    if type(s) is bytes:
        p[0] = <const unsigned char*>(<char*>s)
        n[0] = len(<bytes>s)
        return True
    return latin1_view(s, p, n)


cdef inline bint strip_space(unsigned char c):
    """str.strip()'s white space among ASCII characters."""
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31
