"""Conjunction screening prefilter over the latest catalog (vectorized).

Who may import: ``oor.registry`` (``Registry.screen``), ``oor.query.cli``, tests.

The classic first stages (Hoots, Crawford and Roehrich, 1984): an
apogee/perigee filter (the radial bands of the two orbits, widened by the
pad, must overlap), then an orbit-geometry filter (near the mutual line of
nodes the radii of both orbits must come within the pad; kernel and proof
sketch in ``oor_core/vecops.pyx``, ``screen``).  Both stages only drop objects
that cannot come within pad_km of the target at the elements' epoch with
fixed orbit planes; a full screening (propagation over the window) then
looks at the candidates.  Nodal precession over a long window moves the
planes: widen the pad or use ``geometry=False`` (band only) for long spans.
"""
from array import array

from oor_core import vecops

__all__ = ["ScreenResult", "screen"]


class ScreenResult:
    """``candidates`` (NORAD ids, ascending), ``band`` (how many passed stage 1), ``total`` (objects
    screened), ``target``, ``pad_km``, ``geometry``."""

    __slots__ = ("target", "pad_km", "geometry", "candidates", "band", "total")

    def __init__(self, target, pad_km, geometry, candidates, band, total):
        self.target, self.pad_km, self.geometry = target, pad_km, geometry
        self.candidates, self.band, self.total = candidates, band, total

    def summary(self):
        return (f"{self.target}: {len(self.candidates):,} candidates of {self.total:,} objects "
                f"(apogee/perigee band {self.band:,}{', then orbit geometry' if self.geometry else ''}; "
                f"pad {self.pad_km:g} km)")

    __str__ = summary


def catalog_columns(reader):
    """Latest catalog as columns {norad, mean_motion, eccentricity, inclination, raan, arg_perigee}."""
    from oor.query.operators import BatchScan
    cols = {k: array("d") for k in ("mean_motion", "eccentricity", "inclination", "raan", "arg_perigee")}
    norad = array("q")
    for b in BatchScan(reader, "latest", columns=tuple(cols)):
        n = b.n
        norad.extend(b.norad[:n].tolist())
        for k, a in cols.items():
            a.extend(getattr(b, k)[:n])
    cols["norad"] = norad
    return cols


def screen(reader, norad_id, pad_km=10.0, geometry=True, columns=None):
    """Candidates for close approaches with norad_id (within pad_km) among the latest sets."""
    from oor.codec.elements import MU_KM3_S2
    if pad_km < 0:
        raise ValueError("pad_km must be >= 0")
    c = columns if columns is not None else catalog_columns(reader)
    ids = c["norad"]
    n = len(ids)
    import bisect
    t = bisect.bisect_left(ids, norad_id)
    if t >= n or ids[t] != norad_id:
        raise KeyError(f"object {norad_id} is not stored")
    band, out = array("B", bytes(n)), array("B", bytes(n))
    vecops.screen(c["mean_motion"], c["eccentricity"], c["inclination"], c["raan"], c["arg_perigee"], t,
                  float(pad_km), bool(geometry), MU_KM3_S2, band, out, n)
    cand = [ids[i] for i in range(n) if out[i]]
    return ScreenResult(norad_id, pad_km, geometry, cand, sum(band), n)
