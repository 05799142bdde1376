"""CMT3D inversion: synthetic recovery, constraints, bootstrap, bad input, and real events.

Tolerances are the issue's acceptance figures: Kagan angle (degrees between principal
axes), |delta Mw| and depth error (km).
"""

from __future__ import annotations

import numpy as np
import pytest

from cmtflow.errors import NoSolutionError
from cmtflow.inversion import InversionConfig, invert
from cmtflow.inversion.embedded import embedded_dataset
from cmtflow.inversion.synthetic_test import ring_stations, run_synthetic_test
from cmtflow.processing import Band
from cmtflow.source import Source, kagan_angle, magnitude_to_moment, mt_from_strike_dip_rake, read_source

BAND = Band(15.0, 50.0)
ALASKA = "alaska-2009-04-07"
MTUQ_MT = np.array([-6.731618e15, 8.398708e14, 5.891747e15, -1.318056e15, 7.911756e14, 2.718294e15])


def _true_source() -> Source:
    return Source.from_strike_dip_rake(191.0, 47.0, -107.0, 4.5, time="2009-04-07T20:12:55.35", latitude=61.4542,
                                       longitude=-149.7428, depth_km=33.03, half_duration=0.5, event_id="synthetic")


@pytest.mark.parametrize("n_params", [6, 7])
def test_noise_free_recovery(n_params):
    config = InversionConfig(n_params=n_params, bootstrap=0)
    result, _, extra = run_synthetic_test(_true_source(), "scak", BAND, config, noise=0.0)
    report = extra["synthetic_test"]
    assert report["kagan_start_to_true_deg"] > 15  # the start is really off
    assert report["kagan_result_to_true_deg"] < 1.0
    assert abs(report["delta_mw"]) < 0.01
    assert abs(report["depth_error_km"]) < 0.2
    assert result.variance_reduction_after > 0.99


def test_recovery_with_noise_24_stations():
    config = InversionConfig(n_params=7, bootstrap=50)
    result, _, extra = run_synthetic_test(_true_source(), "scak", BAND, config, noise=0.2, seed=3)
    report = extra["synthetic_test"]
    assert report["stations"] >= 20
    assert report["kagan_result_to_true_deg"] < 5.0
    assert abs(report["delta_mw"]) < 0.05
    assert abs(report["depth_error_km"]) < 1.0
    # the bootstrap spread is finite and small compared with the moment
    assert 0 < result.sigma[0] < 0.2 * result.source.m0


def test_constraints_and_reproducible_bootstrap():
    true = _true_source()
    rng = np.random.default_rng(0)
    observed_source = true.with_mt(true.mt + np.array([1, 1, 1, 0, 0, 0]) * 0.2 * true.m0)  # add an isotropic part
    from cmtflow.solvers.synthetics import synthetics

    stations = ring_stations(true, 16, rng)
    observed, _ = synthetics(observed_source, stations, "scak", 0.5, 1024)
    dataset, windows = embedded_dataset(observed, stations, true, "scak", BAND, 0.5, 1024, picker="phases")
    deviatoric = invert(dataset, windows, InversionConfig(bootstrap=30, seed=7))
    assert abs(np.sum(deviatoric.source.mt[:3])) < 1e-6 * deviatoric.source.m0
    dc = invert(dataset, windows, InversionConfig(double_couple=True, bootstrap=0))
    eig = np.linalg.eigvalsh(np.array([[dc.source.mt[0], dc.source.mt[3], dc.source.mt[4]],
                                       [dc.source.mt[3], dc.source.mt[1], dc.source.mt[5]],
                                       [dc.source.mt[4], dc.source.mt[5], dc.source.mt[2]]]))
    assert abs(eig[1]) < 1e-6 * np.abs(eig).max()  # det M = 0: one zero eigenvalue
    assert kagan_angle(dc.source.mt, true.mt) < 1.0
    again = invert(dataset, windows, InversionConfig(bootstrap=30, seed=7))
    assert np.array_equal(again.sigma, deviatoric.sigma)
    # damping pulls the solution toward the start: a strongly damped update is smaller
    start = true.with_mt(mt_from_strike_dip_rake(200, 40, -80, magnitude_to_moment(4.3)))
    dataset, windows = embedded_dataset(observed, stations, start, "scak", BAND, 0.5, 1024, picker="phases")
    free = invert(dataset, windows, InversionConfig(bootstrap=0, iterations=1, robust_start=False))
    damped = invert(dataset, windows, InversionConfig(bootstrap=0, iterations=1, robust_start=False, damping=10.0))
    assert np.linalg.norm(damped.dm) < 0.5 * np.linalg.norm(free.dm)


def test_not_determined_is_refused_with_the_reason():
    true = _true_source()
    stations = ring_stations(true, 4, np.random.default_rng(1))
    from cmtflow.solvers.synthetics import synthetics

    observed, _ = synthetics(true, stations, "scak", 0.5, 1024)
    dataset, windows = embedded_dataset(observed, stations, true, "scak", BAND, 0.5, 1024, picker="phases")
    # data that do not determine the source: a "no solution" of the run, not a failure of it
    with pytest.raises(NoSolutionError, match="usable windows for 6 parameters; not determined"):
        invert(dataset, windows[:2], InversionConfig(bootstrap=0))
    # derivatives that cannot be told apart: the system is singular and no solution is claimed
    for ch in dataset.channels:
        ch.dsyn["Mtt"] = ch.dsyn["Mrr"].copy()
    with pytest.raises(NoSolutionError, match="singular"):
        invert(dataset, windows, InversionConfig(bootstrap=0, robust_start=False))
    for ch in dataset.channels:
        ch.obs[:] = np.nan
    with pytest.raises(NoSolutionError, match="only 0 usable windows"):
        invert(dataset, windows, InversionConfig(bootstrap=0))


@pytest.mark.slow
def test_alaska_2009_real_data_against_published_solutions(shared_data):
    """Real records of the Mw 4.5 southern Alaska event, our own scak Green's functions.

    The SAC files are velocity in cm/s (MTUQ reads them as ``type:velocity``); the
    inversion starts from a vertical strike-slip fault, ~100 degrees from the answer.
    """
    from cmtflow.processing.event_records import read_event_waveforms
    from cmtflow.inversion.embedded import invert_embedded

    from cmtflow.data.events import earthquake_from_origin

    quake = earthquake_from_origin("2009-04-07T20:12:55.35", 61.4542, -149.7428, 33.03, 4.5)
    data = read_event_waveforms(shared_data / ALASKA, quake, "velocity", 0.01)  # cm/s -> m/s
    stream, stations = data.stream, data.stations
    assert data.units == {"quantity": "velocity", "source": "run conf"} and len(stations) == 26
    start = Source.from_strike_dip_rake(0.0, 90.0, 0.0, 4.5, time="2009-04-07T20:12:55.35", latitude=61.4542,
                                        longitude=-149.7428, depth_km=33.03, half_duration=0.5, event_id=ALASKA)
    cap = mt_from_strike_dip_rake(206, 52, -90, magnitude_to_moment(4.50))
    result, _ = invert_embedded(stream, stations, start, "scak", BAND, 0.5, 1024, InversionConfig(bootstrap=20),
                                quantity="velocity", picker="phases")
    assert kagan_angle(start.mt, MTUQ_MT) > 90
    assert kagan_angle(result.source.mt, MTUQ_MT) < 20.0
    assert kagan_angle(result.source.mt, cap) < 20.0
    assert abs(result.source.mw - 4.5) <= 0.1
    assert result.variance_reduction_after > 0.7


@pytest.mark.slow
def test_hollywood_specfem_derivatives_move_toward_the_target(shared_data):
    from cmtflow.inversion.specfem_derivatives import read_specfem_dataset

    folder = shared_data / "hollywood-2001-09-09-specfem"
    initial, target = read_source(folder / "CMTSOLUTION"), read_source(folder / "CMTSOLUTION_TRUE")
    dataset, windows = read_specfem_dataset(folder, initial, folder / "flexwin_T006_T030.output", 7)
    result = invert(dataset, windows, InversionConfig(n_params=7, bootstrap=20))
    new = result.source
    assert abs(new.depth_km - target.depth_km) < abs(initial.depth_km - target.depth_km) - 0.5
    assert abs(new.m0 - target.m0) < 0.1 * abs(initial.m0 - target.m0)
    assert kagan_angle(new.mt, target.mt) < 2.0
    assert result.variance_reduction_after > result.variance_reduction_before + 0.5


def test_flexwin_picks_windows_where_data_and_synthetics_agree():
    pytest.importorskip("pyflex")
    true = _true_source()
    stations = ring_stations(true, 4, np.random.default_rng(4))
    from cmtflow.solvers.synthetics import synthetics

    observed, _ = synthetics(true, stations, "scak", 0.5, 1024)
    start = true.with_mt(true.mt * 0.8)  # same mechanism, smaller: FLEXWIN accepts (|dlnA| ~ 0.2)
    dataset, windows = embedded_dataset(observed, stations, start, "scak", BAND, 0.5, 1024, picker="flexwin")
    _, phase = embedded_dataset(observed, stations, start, "scak", BAND, 0.5, 1024, picker="phases")
    assert windows != phase  # FLEXWIN's own windows, not the fallback
    for w in windows:
        ch = dataset.channel(w.channel)
        assert ch.t0 <= w.start < w.end <= ch.t0 + ch.dt * len(ch.obs)
        assert w.end - w.start >= BAND.tmin  # FLEXWIN's minimum window length
    result = invert(dataset, windows, InversionConfig(bootstrap=0))
    assert kagan_angle(result.source.mt, true.mt) < 1.0 and abs(result.source.mw - true.mw) < 0.01


def test_depth_on_a_model_interface_is_moved_off_it():
    # scak has an interface at 33 km; a depth update or the depth derivative can land there
    true = _true_source()
    stations = ring_stations(true, 8, np.random.default_rng(6))
    from cmtflow.solvers.synthetics import synthetics

    observed, _ = synthetics(true, stations, "scak", 0.5, 1024)
    on_interface = Source(time=true.time, latitude=true.latitude, longitude=true.longitude, depth_km=33.0,
                          mt=true.mt, half_duration=0.5)
    dataset, _ = embedded_dataset(observed, stations, on_interface, "scak", BAND, 0.5, 1024, n_params=7,
                                  picker="phases")
    assert any("on an interface" in note and "33.0200" in note for note in dataset.notes)
    assert "depth" in dataset.available_parameters()
