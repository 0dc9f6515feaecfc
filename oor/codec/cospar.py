"""COSPAR international designators: the forms a user may type, normalised to the one the registry indexes.

Who may import: ``oor.registry`` (``find``), the rest of the codec, tests.
Pure functions, no I/O.

Forms (case and surrounding blanks ignored):

  1998-067A    COSPAR: 4-digit launch year, 3-digit launch number, 0-3 piece letters
  1998-067     the same without a piece: every piece of that launch
  98067A       TLE line 1 columns 10-17: 2-digit year (57-99 = 19xx, 00-56 = 20xx),
               launch number, 1-3 piece letters

``normalize`` returns the COSPAR form or None (the text is not a designator,
e.g. a name); ``piece`` says whether it names one object (letters) or a launch.
"""
import re

__all__ = ["COSPAR_RE", "normalize", "piece", "tle_to_cospar"]

COSPAR_RE = re.compile(r"([0-9]{4})-([0-9]{3})([A-Z]{0,3})")
_TLE_PIECE_RE = re.compile(r"([0-9]{2})([0-9]{3})([A-Z]{1,3})")


def tle_to_cospar(intl):
    """'98067A' -> '1998-067A' (launch years 57-99 are 19xx, 00-56 are 20xx); '' -> ''.

    >>> tle_to_cospar("98067A"), tle_to_cospar("19029B"), tle_to_cospar("")
    ('1998-067A', '2019-029B', '')
    """
    if not intl:
        return ""
    yy = int(intl[:2])
    return f"{1900 + yy if yy >= 57 else 2000 + yy}-{intl[2:5]}{intl[5:]}"


def normalize(text):
    """The COSPAR form of a designator typed in any form above, or None when text is not one.

    >>> normalize(" 98067a "), normalize("1998-067"), normalize("ISS (ZARYA)"), normalize("98067")
    ('1998-067A', '1998-067', None, None)
    """
    t = text.strip().upper()
    if _TLE_PIECE_RE.fullmatch(t):
        t = tle_to_cospar(t)
    return t if COSPAR_RE.fullmatch(t) else None


def piece(cospar):
    """The piece letters of a COSPAR-form designator ('' for a whole launch).

    >>> piece("1998-067A"), piece("1998-067")
    ('A', '')
    """
    return COSPAR_RE.fullmatch(cospar).group(3)
