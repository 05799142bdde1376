"""Misfit measurements, windows and weights, against analytical cases."""

from __future__ import annotations

import numpy as np
import pytest

from cmtflow.errors import CmtflowError
from cmtflow.misfit import MeasureConfig, Window, measure_window, phase_windows, read_cap_weights, window_weights
from cmtflow.misfit.weights import WeightConfig

DT = 0.1


def _pulse(t, centre, period=8.0):
    """A Ricker-like wavelet centred at ``centre`` s."""
    x = (np.pi * (t - centre) / period) ** 2
    return (1 - 2 * x) * np.exp(-x)


def test_time_shift_sign_dlna_and_misfit():
    t = np.arange(0, 200, DT)
    syn = _pulse(t, 100.0)
    obs = 2.0 * _pulse(t, 101.5)  # observed arrives 1.5 s later, twice as large
    m = measure_window(obs, syn, 0.0, DT, 80.0, 120.0)
    assert m.accepted
    assert m.shift_s == pytest.approx(1.5, abs=1e-9)  # positive: data later than synthetic
    assert m.cc == pytest.approx(1.0, abs=1e-6)
    assert m.dlna == pytest.approx(np.log(2.0), abs=1e-6)  # ln(A_obs / A_syn)
    assert m.misfit == pytest.approx(0.25, abs=1e-6)  # |2s - s|^2 / |2s|^2 after alignment


def test_rejections_name_the_threshold():
    t = np.arange(0, 200, DT)
    syn = _pulse(t, 100.0)
    late = measure_window(_pulse(t, 106.0), syn, 0.0, DT, 80, 120, MeasureConfig(max_shift=3.0))
    assert not late.accepted and late.reason.startswith("cc")  # shift limited to 3 s: poor fit
    big = measure_window(10 * _pulse(t, 100.0), syn, 0.0, DT, 80, 120)
    assert not big.accepted and "dlnA" in big.reason
    nan = syn.copy()
    nan[1000] = np.nan
    assert measure_window(nan, syn, 0.0, DT, 80, 120).reason == "non-finite samples"
    assert measure_window(syn, syn, 0.0, DT, 500, 600).reason == "window outside the trace"


def test_phase_windows():
    body_and_surface = phase_windows("XX.A..BHZ", tp=20.0, ts=35.0, distance_km=300.0, tmax=10.0)
    assert [w.kind for w in body_and_surface] == ["body", "surface"]
    assert body_and_surface[0].start == 15.0 and body_and_surface[0].end == pytest.approx(32.5)
    assert body_and_surface[1].end == pytest.approx(300 / 2.8 + 10)
    assert [w.kind for w in phase_windows("XX.A..BHT", 20.0, 35.0, 300.0, 10.0)] == ["surface"]


def test_weights_distance_azimuth_and_cap(tmp_path):
    wins = [Window("XX.A..BHZ", 0, 10), Window("XX.B..BHZ", 0, 10), Window("XX.C..BHZ", 0, 10)]
    # A and B in the same 30-degree bin, C alone: C gets as much say as A and B together
    w = window_weights(wins, [100.0, 100.0, 100.0], [10.0, 20.0, 200.0], [1, 1, 1])
    assert w[2] == pytest.approx(w[0] + w[1])
    # surface-wave exponent 0.5: a station 4x farther is weighted 2x (spreading compensated)
    w = window_weights(wins[:2], [100.0, 400.0], [10.0, 200.0], [1, 1], WeightConfig(azimuth_bins=1))
    assert w[1] / w[0] == pytest.approx(2.0)
    cap = tmp_path / "weights.dat"
    cap.write_text("EV.XX.A..BH 100 1 1 0 1 1 0 0\nEV.XX.B..BH 120 0 0 0 0 0 0 0\n")
    flags = read_cap_weights(cap)
    assert flags[("XX.A", "surface", "Z")] == 0 and flags[("XX.A", "surface", "R")] == 1
    w = window_weights(wins[:2], [100.0, 100.0], [0.0, 180.0], [1, 1], WeightConfig(azimuth_bins=1), flags)
    assert w[0] == 0 and w[1] == 0
    bad = tmp_path / "bad.dat"
    bad.write_text("EV.XX.A..BH 100 1 x 0 1 1\n")
    with pytest.raises(CmtflowError, match="bad.dat:1: weights must be numbers"):
        read_cap_weights(bad)
