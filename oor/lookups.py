"""The registry's lookups that need more than one seek: ``at`` with a mode and a maximum age, and ``find``'s matching.

Who may import: ``oor.registry`` (``Registry.at`` and ``Registry.find`` call these with
their trees and read guard; a snapshot or transaction read view calls them the same
way), tests.  Functions over a tree and a ``reading()`` guard: no Registry state,
so whichever read view owns the trees passes them in.

at(norad, t, mode, max_age) -- the rules (the current state's seeks: ``oor_core.reads.set_at``, in C;
a list of versions: ``pick_at``); keys are (norad, epoch, seq, source) in memcmp order:
  before   the newest set with epoch <= t: one seek ``<=`` (norad | t | FFFFFFFF);
  after    the oldest set with epoch >= t: ``>=`` (norad | t), then ``<=``
           (norad | that epoch | FFFFFFFF) so that at equal epochs the last arrival
           wins, as in ``latest`` and ``before``;
  nearest  both; the smaller distance to t wins, a tie goes to ``before`` (the set
           valid at t).
  max_age  (us, optional): the set found must lie within max_age of t, else None.

find(text): one text, its kind told by its form (CelesTrak's ``INTDES=``,
``CATNR=``, ``NAME=`` in one box):
  ``1998-067A`` / ``98067A``   one object by COSPAR id (cospar index, exact);
  ``1998-067``                 every piece of the launch (cospar index, prefix);
  ``2022-`` / ``2022-06``      every object of that year's launches / launch numbers
                               starting so (cospar index, prefix ``2022-``);
  ``25544`` / ``T0288``        that catalog number (digits or alpha-5), if stored,
                               and names starting with the text;
  anything else                names starting with it, case-insensitive (names index,
                               prefix); ``contains=True``: names containing it
                               anywhere (CelesTrak's ``NAME=``: one pass over the
                               names index, ~40k entries for the real catalogs).
"""
import bisect
import re

from oor.codec import cospar
from oor.codec.tle import alpha5_decode
from oor.keys import epoch_hi, epoch_lo, name_text, prefix_end, split_elset_key, split_index_key

__all__ = ["AT_MODES", "check_mode", "pick_at", "find_ids"]

AT_MODES = ("before", "nearest", "after")
_LAUNCH_PREFIX = re.compile(r"([0-9]{4})-([0-9]{0,2})")
_ALPHA5 = re.compile(r"[A-HJ-NP-Z][0-9]{4}")


def check_mode(mode):
    """mode, checked: "before", "nearest" or "after" (ValueError otherwise).  Who may call: anyone."""
    if mode not in AT_MODES:
        raise ValueError(f"mode must be one of {', '.join(AT_MODES)}, not {mode!r}")
    return mode


def _choose(before, after, us, mode, max_age_us):
    if mode == "nearest" and before is not None and after is not None:
        d_before = us - split_elset_key(before[0])[1]
        d_after = split_elset_key(after[0])[1] - us
        best = before if d_before <= d_after else after
    else:
        best = before if before is not None else after
    if best is None:
        return None
    if max_age_us is not None and abs(split_elset_key(best[0])[1] - us) > max_age_us:
        return None
    return best


def pick_at(items, us, mode="before", max_age_us=None):
    """The (key, record) ``at`` answers (module doc) from a list of (key, record) of one object in key
    order (no tombstones): the as-of and one-source paths; the current state's seeks are in C
    (``oor_core.reads.set_at``, the same rules).  O(len(items))."""
    if not items:
        return None
    norad = split_elset_key(items[0][0])[0]
    keys = [k for k, _ in items]
    i = bisect.bisect_right(keys, epoch_hi(norad, us))
    before = items[i - 1] if mode != "after" and i > 0 else None
    after = None
    if mode != "before" and not (before is not None and split_elset_key(before[0])[1] == us):
        j = bisect.bisect_left(keys, epoch_lo(norad, us))
        if j < len(items):
            epoch = split_elset_key(items[j][0])[1]
            while j + 1 < len(items) and split_elset_key(items[j + 1][0])[1] == epoch:
                j += 1
            after = items[j]
    return _choose(before, after, us, mode, max_age_us)


def find_ids(items, names, cospar_tree, has, text, contains=False, ids_in=None):
    """The NORAD ids matching text (module doc), as a set.  Who may call: the registry's read views.

    ``items(tree, lo, hi)``: (key, value) pairs of a tree in [lo, hi) read under the read guard; ``names`` and
    ``cospar_tree``: the index trees; ``has(norad)``: whether an object is stored; ``ids_in(tree, lo, hi)``
    (optional): the set of ids of an index range at once (the registry's: ``oor_core.reads.index_ids``).
    """
    if ids_in is None:
        def ids_in(tree, lo, hi):
            return {split_index_key(k)[1] for k, _ in items(tree, lo, hi)}
    t = text.strip()
    ids = set()
    if not t:
        return ids
    if contains:
        needle = name_text(t)
        for k, _ in items(names, None, None):
            key_text, norad = split_index_key(k)
            if needle in key_text:
                ids.add(norad)
        return ids
    designator = cospar.normalize(t)
    if designator is not None:
        # one piece: its exact text (key text | 0x00); a launch: every piece (text prefix)
        prefix = designator.encode("ascii") + (b"\x00" if cospar.piece(designator) else b"")
        return ids_in(cospar_tree, prefix, prefix_end(prefix))
    m = _LAUNCH_PREFIX.fullmatch(t)
    if m is not None:
        prefix = t.encode("ascii")
        return ids_in(cospar_tree, prefix, prefix_end(prefix))
    prefix = name_text(t)
    ids |= ids_in(names, prefix, prefix_end(prefix))
    number = None
    if t.isdigit() and t.isascii() and len(t) <= 9:
        number = int(t)
    elif _ALPHA5.fullmatch(t.upper()):
        number = alpha5_decode(t.upper())
    if number is not None and has(number):
        ids.add(number)
    return ids
