"""Conjunction screening prefilter: recall against a sampled brute force (numpy needed for the reference)."""
import math

import pytest

import oor
from oor.codec.elements import MU_KM3_S2

np = pytest.importorskip("numpy")


def _points(mm, e, inc, raan, argp, k=300):
    w = mm * 2 * math.pi / 86400.0
    a = (MU_KM3_S2 / (w * w)) ** (1 / 3)
    nu = np.linspace(0, 2 * np.pi, k, endpoint=False)
    r = a * (1 - e * e) / (1 + e * np.cos(nu))
    i, O, o = map(math.radians, (inc, raan, argp))
    u = nu + o
    x = r * (np.cos(O) * np.cos(u) - np.sin(O) * np.sin(u) * np.cos(i))
    y = r * (np.sin(O) * np.cos(u) + np.cos(O) * np.sin(u) * np.cos(i))
    z = r * np.sin(u) * np.sin(i)
    return np.stack([x, y, z], 1)


@pytest.mark.parametrize("target,pad", [(25544, 50.0), (20580, 25.0)])
def test_screen_recall_is_one(data, tmp_path, target, pad):
    with oor.open(str(tmp_path / "s.oor"), sync="normal") as reg:
        reg.load(str(data / "catalogs" / "catalog-2022-07.3le"))
        t = reg.latest(target)
        band = reg.screen(target, pad_km=pad, geometry=False)
        geo = reg.screen(target, pad_km=pad)
        assert set(geo.candidates) <= set(band.candidates)
        assert target not in geo.candidates
        P = _points(t.mean_motion, t.eccentricity, t.inclination, t.raan, t.arg_perigee)
        positives = 0
        for es in reg.scan():
            if es.norad_id == target:
                continue
            # brute force only where the (provably conservative) band test lets it matter
            lo = max(t.perigee, es.perigee) - min(t.apogee, es.apogee)
            if lo > pad:
                assert es.norad_id not in band.candidates
                continue
            Q = _points(es.mean_motion, es.eccentricity, es.inclination, es.raan, es.arg_perigee)
            d2 = ((P[:, None, :] - Q[None, :, :]) ** 2).sum(-1).min()
            if math.sqrt(d2) <= pad:
                positives += 1
                assert es.norad_id in geo.candidates, (es.norad_id, math.sqrt(d2))
        assert positives > 0
        assert len(geo.candidates) < len(band.candidates)
