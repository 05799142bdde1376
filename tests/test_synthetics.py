"""Synthetics from Green's functions: radiation pattern, linearity, rotation, timing, reuse."""

from __future__ import annotations

import numpy as np
import pytest
from obspy.geodetics import kilometers2degrees

from cmtflow.data.stations import StationPoint
from cmtflow.solvers.store import GreensStore
from cmtflow.solvers.synthetics import synthetics
from cmtflow.source import Source, mt_from_strike_dip_rake

DT, NPTS = 0.25, 512


def _ring(distance_km, azimuths):
    """Stations on a circle around (0, 0) at the given azimuths (north = 0)."""
    deg = kilometers2degrees(distance_km)
    return [StationPoint("XX", f"S{int(az):03d}", "", deg * np.cos(np.deg2rad(az)), deg * np.sin(np.deg2rad(az)), 0.0)
            for az in azimuths]


def _source(mt, half_duration=0.0):
    return Source(time="2020-01-01T00:00:00", latitude=0.0, longitude=0.0, depth_km=12.0, mt=mt,
                  half_duration=half_duration, event_id="synthetic")


def _peak(stream, station, channel):
    return np.abs(stream.select(station=station, channel=channel)[0].data).max()


def test_strike_slip_radiation_pattern():
    # vertical strike-slip on a north-striking fault: P-SV nodal along and across strike,
    # SH nodal at 45 degrees and maximal along strike
    st, _ = synthetics(_source(mt_from_strike_dip_rake(0, 90, 0, 1e17)), _ring(80.0, [0, 45, 90]), "scak", DT, NPTS)
    z45, t0 = _peak(st, "S045", "MXZ"), _peak(st, "S000", "MXT")
    assert _peak(st, "S000", "MXZ") < 0.01 * z45 and _peak(st, "S090", "MXZ") < 0.01 * z45
    assert _peak(st, "S045", "MXT") < 0.01 * t0


def test_explosion_is_isotropic_and_has_no_sh():
    # north/south and east/west pairs are equidistant on the ellipsoid
    st, _ = synthetics(_source(np.array([1e16, 1e16, 1e16, 0, 0, 0])), _ring(60.0, [0, 90, 180, 270]), "scak", DT, NPTS)
    z = {s: st.select(station=s, channel="MXZ")[0].data for s in ("S000", "S090", "S180", "S270")}
    assert np.array_equal(z["S000"], z["S180"]) and np.array_equal(z["S090"], z["S270"])
    for s in z:
        assert _peak(st, s, "MXT") < 1e-6 * _peak(st, s, "MXZ")


def test_linear_in_the_moment_tensor():
    stations = _ring(120.0, [33])
    parts = np.eye(6) * 1e16
    total, _ = synthetics(_source(parts.sum(axis=0)), stations, "scak", DT, NPTS)
    summed = None
    for row in parts:
        st, _ = synthetics(_source(row), stations, "scak", DT, NPTS)
        data = np.array([tr.data for tr in st])
        summed = data if summed is None else summed + data
    assert np.allclose(np.array([tr.data for tr in total]), summed, rtol=1e-10, atol=1e-20)


def test_rotation_zne_matches_zrt():
    src = _source(mt_from_strike_dip_rake(30, 60, -40, 1e17))
    stations = _ring(100.0, [70])
    zrt, geo = synthetics(src, stations, "scak", DT, NPTS, components="ZRT")
    zne, _ = synthetics(src, stations, "scak", DT, NPTS, components="ZNE")
    r, t = zrt.select(channel="MXR")[0].data, zrt.select(channel="MXT")[0].data
    n, e = zne.select(channel="MXN")[0].data, zne.select(channel="MXE")[0].data
    baz = np.deg2rad(geo[0]["back_azimuth"])
    # ObsPy's NE->RT rotation with the back-azimuth gives R and T back
    assert np.allclose(-n * np.cos(baz) - e * np.sin(baz), r, atol=2e-3 * np.abs(r).max())
    assert np.allclose(n * np.sin(baz) - e * np.cos(baz), t, atol=2e-3 * np.abs(t).max())


def test_timing_units_and_source_time_function():
    mt = mt_from_strike_dip_rake(0, 45, 90, 1e16)
    stations = _ring(50.0, [0])
    sharp, geo = synthetics(_source(mt), stations, "scak", DT, NPTS)
    smooth, _ = synthetics(_source(mt, half_duration=2.0), stations, "scak", DT, NPTS)
    z, zs = sharp.select(channel="MXZ")[0], smooth.select(channel="MXZ")[0]
    assert z.stats.channel == "MXZ" and z.stats.delta == DT  # 4 Hz: SEED band code M
    # a centred triangle starts half a duration earlier (its first non-zero sample one
    # sample later) and keeps the static offset
    assert zs.stats.starttime - z.stats.starttime == pytest.approx(-(2.0 - DT))
    assert zs.data[-20:].mean() == pytest.approx(z.data[-20:].mean(), rel=1e-3)
    # metres: a Mw 4.6 thrust at 50 km gives micrometres to sub-millimetre displacement
    assert 1e-7 < np.abs(z.data).max() < 1e-3
    # the trace starts 50 samples before the first P
    from cmtflow.solvers.traveltimes import first_arrival
    from cmtflow.models import load_model
    m = load_model("scak")
    tp = first_arrival(m.thickness, m.vp, 12.0, [geo[0]["grid_km"]])[0]
    assert float(z.stats.starttime - _source(mt).time) == pytest.approx(tp - 50 * DT, abs=1e-6)


def test_greens_functions_are_reused(data_root):
    src = _source(mt_from_strike_dip_rake(0, 45, 90, 1e16))
    store = GreensStore()
    _, geo = synthetics(src, _ring(70.0, [0]), "scak", DT, NPTS, store=store)
    stored = [p for p in (data_root / "greens").iterdir() if p.name != "families"]  # the index of sets
    assert len(stored) == 1 and (stored[0] / "meta.json").is_file()
    mtime = (stored[0] / "greens.npz").stat().st_mtime_ns
    _, reused = store.get("scak", 12.0, [geo[0]["grid_km"]], DT, NPTS)
    assert reused and (stored[0] / "greens.npz").stat().st_mtime_ns == mtime
    assert not [p for p in (data_root / "greens").iterdir() if p.name.startswith(".")]  # no temporaries left


def test_amplitude_does_not_depend_on_sampling_or_source_duration():
    # the convolution with the unit-area moment rate is an integral (sum * dt): the static
    # offset of the displacement is the step response's, whatever dt and half duration
    mt = mt_from_strike_dip_rake(10, 50, 80, 1e16)
    stations = _ring(40.0, [20])
    statics = []
    for dt, npts, hd in ((0.25, 512, 0.0), (0.5, 256, 0.0), (0.25, 512, 1.5)):
        st, geo = synthetics(_source(mt, half_duration=hd), stations, "scak", dt, npts)
        statics.append(st.select(channel="?XZ")[0].data[-10:].mean())
    greens, _ = GreensStore().get("scak", 12.0, [geo[0]["grid_km"]], 0.25, 512)
    step = greens.displacement(_source(mt).mt_ned, geo[0]["grid_km"], geo[0]["azimuth"])["Z"]
    assert statics[0] == pytest.approx(step[-10:].mean(), rel=1e-6)
    # (1 %: the last samples still carry a slowly decaying near-field tail)
    assert statics[1] == pytest.approx(statics[0], rel=0.01) and statics[2] == pytest.approx(statics[0], rel=0.01)


def test_source_variants_share_one_greens_set_per_depth(data_root):
    """A run's variants (shifted centroids, another depth) take their Green's functions from
    one set per depth holding every variant's distances; the traces agree with each
    variant's own set to 1e-4 of their peak (the wavenumber step follows the farthest
    distance, about 1 km farther here)."""
    from dataclasses import replace

    from cmtflow.solvers.synthetics import shared_greens

    mt = mt_from_strike_dip_rake(30, 60, 45, 1e17)
    stations = _ring(80.0, [10, 130, 250])
    variants = [_source(mt), replace(_source(mt), latitude=0.01), replace(_source(mt), longitude=0.01),
                replace(_source(mt), depth_km=12.5)]
    store = GreensStore(data_root)
    shared = shared_greens(variants, stations, "scak", DT, NPTS, store=store)
    assert sorted(shared) == [12.0, 12.5]
    assert len(shared[12.0].distances_km) == 9 and len(shared[12.5].distances_km) == 3  # 3 centroids x 3 stations
    for source in variants:
        together, _ = synthetics(source, stations, "scak", DT, NPTS, greens=shared[source.depth_km])
        alone, _ = synthetics(source, stations, "scak", DT, NPTS, store=GreensStore(data_root / "alone"))
        for a, b in zip(together, alone):
            assert a.id == b.id and a.stats.starttime == b.stats.starttime
            assert np.abs(a.data - b.data).max() < 1e-3 * np.abs(b.data).max()
    with pytest.raises(ValueError, match="Green's functions at 12.0 km"):
        synthetics(variants[3], stations, "scak", DT, NPTS, greens=shared[12.0])


def test_a_stored_set_with_more_distances_serves_fewer(data_root):
    """A run with a subset of an earlier run's stations computes nothing: the wider set serves
    the asked distances, each trace as the wider set has it, and within 0.1 % of a set computed
    for those distances alone (whose coarser wavenumber step is all that differs)."""
    from cmtflow.models import load_model

    store = GreensStore()
    wide, reused = store.get("scak", 12.0, [40.0, 90.0, 180.0], DT, NPTS)
    assert not reused
    narrow, reused = store.get("scak", 12.0, [40.0, 90.0], DT, NPTS)
    assert reused and list(narrow.distances_km) == [40.0, 90.0]
    assert np.array_equal(narrow.impulse, wide.impulse[:, :2]) and np.array_equal(narrow.t0, wide.t0[:2])
    assert store.get("scak", 12.0, [40.0, 95.0], DT, NPTS)[1] is False  # a distance it lacks: computed
    alone = GreensStore(data_root / "other").get(load_model("scak"), 12.0, [40.0, 90.0], DT, NPTS)[0]
    peak = np.abs(alone.impulse).max(axis=-1, keepdims=True)
    assert np.max(np.abs(narrow.impulse - alone.impulse) / np.where(peak > 0, peak, 1)) < 1e-3


def test_take_off_angles_of_the_first_arrivals_are_those_of_a_layer_over_a_half_space():
    """Source 10 km deep in a 30 km layer (6 km/s) over 8 km/s: near the source the direct P
    leaves upwards at 180 - atan(x / h) from the downward vertical; far away the head wave
    (Pn) leaves downwards at the critical angle asin(6 / 8); its time there is the textbook
    head-wave time."""
    from cmtflow.solvers.traveltimes import first_arrival_rays

    h, v = [30.0, 0.0], [6.0, 8.0]
    times, takeoffs = first_arrival_rays(h, v, 10.0, [20.0, 300.0])
    assert takeoffs[0] == pytest.approx(180.0 - np.degrees(np.arctan(20.0 / 10.0)), abs=1e-3)
    assert times[0] == pytest.approx(np.hypot(20.0, 10.0) / 6.0, rel=1e-6)
    critical = np.arcsin(6.0 / 8.0)
    assert takeoffs[1] == pytest.approx(np.degrees(critical), abs=1e-9)
    assert times[1] == pytest.approx(300.0 / 8.0 + (30.0 + 20.0) * np.cos(critical) / 6.0, rel=1e-9)
