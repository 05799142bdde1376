"""Moment tensors, magnitudes, fault planes, Kagan angle, CMTSOLUTION and QuakeML."""

from __future__ import annotations

import numpy as np
import pytest

from cmtflow.errors import SourceError
from cmtflow.source import (Source, kagan_angle, magnitude_to_moment, moment_magnitude, mt_from_strike_dip_rake,
                            nodal_planes, read_cmtsolution, read_quakeml, read_source, scalar_moment,
                            write_cmtsolution, write_quakeml)

# Published solutions of the 2009-04-07 Alaska event (see ../shared/data/README.md)
MTUQ_MT = np.array([-6.731618e15, 8.398708e14, 5.891747e15, -1.318056e15, 7.911756e14, 2.718294e15])
CAP_DC = (206.0, 52.0, -90.0)


def _same_plane(a, b, tol=1e-6):
    """Same fault plane and slip (strike mod 360, rake mod 360)."""
    ds = (a[0] - b[0] + 180) % 360 - 180
    dr = (a[2] - b[2] + 180) % 360 - 180
    return abs(ds) < tol and abs(a[1] - b[1]) < tol and abs(dr) < tol


def test_published_alaska_solutions():
    p1, p2 = nodal_planes(MTUQ_MT)
    assert any(abs(p[0] - 191) < 1 and abs(p[1] - 47) < 1 and abs(p[2] + 107) < 1 for p in (p1, p2))
    assert moment_magnitude(scalar_moment(MTUQ_MT)) == pytest.approx(4.5, abs=1e-6)
    cap = mt_from_strike_dip_rake(*CAP_DC, magnitude_to_moment(4.5))
    assert kagan_angle(cap, MTUQ_MT) == pytest.approx(14.5, abs=0.1)  # README: "about 14.5 degrees"


def test_mw_of_known_moments():
    assert moment_magnitude(10 ** 16.1) == pytest.approx(4.666667, abs=1e-6)
    assert magnitude_to_moment(6.0) == pytest.approx(10 ** 18.1)
    with pytest.raises(SourceError):
        moment_magnitude(0.0)


def test_strike_dip_rake_round_trip():
    rng = np.random.default_rng(1)
    for strike, dip, rake in zip(rng.uniform(0, 360, 200), rng.uniform(1, 89, 200), rng.uniform(-179, 179, 200)):
        mt = mt_from_strike_dip_rake(strike, dip, rake, 3.0e17)
        assert scalar_moment(mt) == pytest.approx(3.0e17)
        assert np.trace([[mt[0], 0, 0], [0, mt[1], 0], [0, 0, mt[2]]]) == pytest.approx(0, abs=1e3)
        planes = nodal_planes(mt)
        assert any(_same_plane(p, (strike, dip, rake), tol=1e-5) for p in planes)
        # the auxiliary plane gives back the same tensor
        assert np.allclose(mt_from_strike_dip_rake(*planes[0], 3.0e17), mt_from_strike_dip_rake(*planes[1], 3.0e17),
                           atol=1e6)


def test_known_mechanisms():
    # pure thrust on a 45-degree plane striking north: Mrr positive (T axis vertical)
    mt = mt_from_strike_dip_rake(0, 45, 90, 1.0)
    assert mt[0] == pytest.approx(1.0) and mt[2] == pytest.approx(-1.0)
    # vertical strike-slip striking north: only Mtp (north-east shear)
    mt = mt_from_strike_dip_rake(0, 90, 0, 1.0)
    assert np.allclose(mt, [0, 0, 0, 0, 0, -1.0], atol=1e-12)


def test_kagan_angle_properties():
    a = mt_from_strike_dip_rake(10, 30, 60, 1.0)
    b = mt_from_strike_dip_rake(200, 70, -20, 1.0)
    assert kagan_angle(a, a) == pytest.approx(0, abs=1e-5)
    assert kagan_angle(a, 7.0 * a) == pytest.approx(0, abs=1e-5)  # scale does not matter
    assert kagan_angle(a, b) == pytest.approx(kagan_angle(b, a), abs=1e-9)
    # the two planes of one double couple describe the same source
    p1, p2 = nodal_planes(a)
    assert kagan_angle(mt_from_strike_dip_rake(*p2, 1.0), a) == pytest.approx(0, abs=1e-5)
    # rotating a mechanism about the vertical by 25 degrees (strike + 25) -> 25 degrees
    assert kagan_angle(a, mt_from_strike_dip_rake(35, 30, 60, 1.0)) == pytest.approx(25.0, abs=1e-6)
    assert 0 <= kagan_angle(a, b) <= 120


def test_cmtsolution_units_and_round_trip(shared_data, tmp_path):
    src = read_cmtsolution(shared_data / "hollywood-2001-09-09-specfem" / "CMTSOLUTION")
    assert src.mt[0] == pytest.approx(1.0e15)  # 1e22 dyne-cm = 1e15 N-m
    assert src.depth_km == pytest.approx(5.4) and src.half_duration == pytest.approx(1.0)
    assert str(src.time) == "2001-09-09T23:59:19.780000Z"  # PDE time + 2 s time shift
    assert src.event_id == "9703873"
    out = write_cmtsolution(src, tmp_path / "CMTSOLUTION")
    again = read_cmtsolution(out)
    assert again.time == src.time and np.allclose(again.mt, src.mt, rtol=1e-6)
    assert (again.latitude, again.longitude, again.depth_km) == (src.latitude, src.longitude, src.depth_km)
    assert again.hypocenter.latitude == pytest.approx(34.0745)


def test_quakeml_round_trip(tmp_path):
    src = Source.from_strike_dip_rake(120, 40, 75, 5.3, time="2020-01-02T03:04:05.6", latitude=45.1,
                                      longitude=11.2, depth_km=12.5, half_duration=1.5, event_id="test01")
    path = write_quakeml(src, tmp_path / "event.xml")
    again = read_source(path)
    assert np.allclose(again.mt, src.mt, rtol=1e-9)
    assert again.time == src.time and again.depth_km == pytest.approx(12.5)
    assert again.half_duration == pytest.approx(1.5) and again.event_id == "test01"
    assert again.mw == pytest.approx(5.3, abs=1e-9)


@pytest.mark.parametrize("text, message", [
    ("", "13 lines"),
    (" PDE 2001  9  9 23 59 17.78  34.0745 -118.3792   6.4 4.2 4.2 X\nevent name: a\n" + "x\n" * 11, "key: value"),
    (" PDE 2001 13  9 23 59 17.78  34.0 -118.3 6.4 4.2 4.2 X\nevent name: a\ntime shift: 0\nhalf duration: 0\n"
     "latitude: 1\nlongitude: 2\ndepth: 3\nMrr: 1\nMtt: 1\nMpp: 1\nMrt: 1\nMrp: 1\nMtp: 1\n", "hypocentre time"),
    (" PDE 2001  9  9 23 59 17.78  34.0 -118.3 6.4 4.2 4.2 X\nevent name: a\ntime shift: 0\nhalf duration: 0\n"
     "latitude: 1\nlongitude: 2\ndepth: deep\nMrr: 1\nMtt: 1\nMpp: 1\nMrt: 1\nMrp: 1\nMtp: 1\n", "'depth' is not a number"),
    (" PDE 2001  9  9 23 59 17.78  34.0 -118.3 6.4 4.2 4.2 X\nevent name: a\ntime shift: 0\nhalf duration: 0\n"
     "latitude: 1\nlongitude: 2\ndepth: -3\nMrr: 1\nMtt: 1\nMpp: 1\nMrt: 1\nMrp: 1\nMtp: 1\n", "depth must be >= 0"),
])
def test_malformed_cmtsolution(tmp_path, text, message):
    path = tmp_path / "CMTSOLUTION"
    path.write_text(text)
    with pytest.raises(SourceError, match=message):
        read_cmtsolution(path)


def test_malformed_quakeml(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text("<?xml version='1.0'?><q:quakeml xmlns:q='x'><broken")
    with pytest.raises(SourceError, match="cannot read QuakeML"):
        read_quakeml(path)


@pytest.mark.parametrize("strike, dip, rake, p_axis, t_axis", [
    (0.0, 45.0, 90.0, (90.0, 0.0), (None, 90.0)),    # thrust on a N-S plane: P horizontal E-W, T vertical
    (0.0, 45.0, -90.0, (None, 90.0), (90.0, 0.0)),   # normal: P vertical, T horizontal E-W
    (0.0, 90.0, 0.0, (135.0, 0.0), (45.0, 0.0)),     # left-lateral on a N-S plane: P SE-NW, T NE-SW
])
def test_principal_axes_of_pure_faults(strike, dip, rake, p_axis, t_axis):
    from cmtflow.source import principal_axes

    axes = principal_axes(mt_from_strike_dip_rake(strike, dip, rake, 1e16))
    for name, (trend, plunge) in (("P", p_axis), ("T", t_axis)):
        got_trend, got_plunge = axes[name]
        assert got_plunge == pytest.approx(plunge, abs=1e-6), name
        if trend is not None:  # a horizontal axis has two ends: either trend
            assert min(abs(got_trend - trend) % 180.0, 180.0 - abs(got_trend - trend) % 180.0) < 1e-6, name
