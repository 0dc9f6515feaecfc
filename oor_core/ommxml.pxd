# oor_core/ommxml.pxd -- the XML scanner's state between buffers: C-level contract (bodies in ommxml.pyx).

cdef enum:
    XML_STACK = 64       # open elements the scanner follows (deeper: expat takes over)
    XML_NAME = 64        # bytes of an element name it keeps


cdef class XmlScan:
    cdef int depth
    cdef int nlen[XML_STACK]
    cdef char names[XML_STACK][XML_NAME]
    cdef readonly bint root_seen
