"""The preprocessing chain and its dispel4py graph: numerics and both mappings."""

from __future__ import annotations

import json

import numpy as np
import obspy
import pytest
from fdsn_fixtures import EVENT_ID, ORIGIN, RESPONSE, velocity_to_counts
from obspy import Stream, Trace, UTCDateTime
from obspy.core.inventory import Channel, Inventory, Network, Station

from cmtflow.data.events import earthquake_from_origin
from cmtflow.data.fetch import SDSArchive, fetch_waveforms
from cmtflow.data.selection import select_stations
from cmtflow.errors import CmtflowError
from cmtflow.processing import Band, bandpass
from cmtflow.processing.graphs import run_preprocess
from cmtflow.processing.preprocess import PreprocessConfig, ProcessingError, preprocess_station, rotate_to_zrt
from cmtflow.processing.tasks import observed_tasks
from cmtflow.workspace import RunWorkspace

T0 = UTCDateTime("2024-01-01T00:00:00")


def _inventory(codes=("BHZ", "BHN", "BHE"), response=RESPONSE):
    cha = [Channel(code=c, location_code="", latitude=0, longitude=0, elevation=0, depth=0,
                   azimuth={"Z": 0, "N": 0, "E": 90}[c[-1]], dip=-90 if c.endswith("Z") else 0, sample_rate=20,
                   response=response) for c in codes]
    return Inventory(networks=[Network("XX", stations=[Station("S1", 0, 0, 0, channels=cha)])], source="test")


def _stream(data: dict, dt=0.05):
    return Stream([Trace(np.asarray(x, float), header=dict(network="XX", station="S1", channel=f"BH{c}",
                                                             starttime=T0, delta=dt)) for c, x in data.items()])


def test_response_removal_recovers_a_known_sine():
    # ground velocity A sin(2 pi f t) through the STS-2-like response; 25 s period, in band
    dt, f, amp = 0.05, 1 / 25.0, 2e-6
    t = dt * np.arange(int(1200 / dt))
    v = amp * np.sin(2 * np.pi * f * t)
    counts = {c: velocity_to_counts(v, dt) for c in "ZNE"}
    inv = _inventory()
    start, end = T0 + 400, T0 + 800  # away from the edges of taper and filters
    for output, expected in (("velocity", amp), ("displacement", amp / (2 * np.pi * f))):
        config = PreprocessConfig(10.0, 100.0, 0.5, output=output)
        st = preprocess_station(_stream(counts), config, start, end, back_azimuth=0.0, inventory=inv)
        z = st.select(component="Z")[0]
        assert z.stats.delta == 0.5 and z.stats.starttime == start
        peak = np.sqrt(2) * np.std(z.data)  # rms of a sine * sqrt 2
        assert peak == pytest.approx(expected, rel=0.01)  # 1 %: the band-pass's pass-band ripple


def test_rotation_with_a_known_back_azimuth():
    # a station at azimuth 60 deg from the source: R away from the source, T clockwise of R
    t = np.arange(2000) * 0.05
    r, tt = np.sin(t), np.cos(0.3 * t)
    az = np.radians(60.0)
    st = _stream({"Z": 0 * t, "N": r * np.cos(az) - tt * np.sin(az), "E": r * np.sin(az) + tt * np.cos(az)})
    out = rotate_to_zrt(st, back_azimuth=240.0)
    assert [tr.stats.channel for tr in out] == ["BHZ", "BHR", "BHT"]
    assert np.allclose(out[1].data, r, atol=1e-12) and np.allclose(out[2].data, tt, atol=1e-12)
    with pytest.raises(ProcessingError, match=r"XX.S1..BH1: orientation unknown \(no azimuth/dip in the metadata"):
        rotate_to_zrt(_stream({"Z": t, "1": t, "2": t}), 240.0)


def test_bad_configuration_is_refused():
    with pytest.raises(CmtflowError, match="Nyquist"):
        PreprocessConfig(0.8, 50.0, 0.5)
    with pytest.raises(CmtflowError, match="0 < TMIN < TMAX"):
        PreprocessConfig(50.0, 15.0, 0.5)
    with pytest.raises(ProcessingError, match="no usable response"):
        preprocess_station(_stream({"Z": np.ones(4000), "N": np.ones(4000), "E": np.ones(4000)}),
                           PreprocessConfig(15, 50, 0.5), T0 + 50, T0 + 150, 0.0, _inventory(response=None))


@pytest.fixture(scope="module")
def fetched(scenario, tmp_path_factory):
    """The scenario fetched from its SDS archive into a run workspace."""
    quake = earthquake_from_origin(ORIGIN, 46.0, 8.0, 10.0, 4.3, event_id=EVENT_ID)
    ws = RunWorkspace.create(EVENT_ID, "processing", tmp_path_factory.mktemp("home"))
    fetch_waveforms(quake, select_stations(scenario.inventory, quake), scenario.inventory, SDSArchive(scenario.sds),
                    ws)
    return ws


def test_processed_data_match_the_known_ground_motion(fetched, scenario):
    config = PreprocessConfig(15.0, 50.0, 0.5)
    record = run_preprocess(observed_tasks(fetched.path, config), config, fetched.processed)
    assert len(record["stations"]) == 6 and not record["failed"]
    for entry in record["stations"]:
        st = obspy.read(str(fetched.processed / entry["file"]))
        truth = scenario.truth[entry["station"].split(".")[1]]
        assert [tr.stats.channel[-1] for tr in st] == ["Z", "R", "T"]  # EEE's 1/2 rotated too
        for tr in st:
            # expected: the true velocity integrated to displacement, through the same band-pass
            v = truth["zrt"][tr.stats.channel[-1]]
            disp = np.cumsum(v) * truth["dt"]
            expected = bandpass(disp - disp[0], truth["dt"], Band(15.0, 50.0))
            times = (tr.stats.starttime - ORIGIN) + tr.stats.delta * np.arange(tr.stats.npts)
            ref = np.interp(times, truth["t0"] + truth["dt"] * np.arange(len(expected)), expected)
            inner = slice(40, -40)  # the taper and filter edges of the longer raw window are cut away
            cc = np.dot(tr.data[inner], ref[inner]) / np.sqrt(np.dot(tr.data[inner], tr.data[inner])
                                                              * np.dot(ref[inner], ref[inner]))
            assert cc > 0.99, (entry["station"], tr.id, cc)
            assert np.std(tr.data[inner]) / np.std(ref[inner]) == pytest.approx(1.0, abs=0.03)


def test_simple_and_multi_mappings_write_identical_products(fetched, tmp_path):
    config = PreprocessConfig(15.0, 50.0, 0.5)
    tasks = observed_tasks(fetched.path, config)
    simple = run_preprocess(tasks, config, tmp_path / "simple", "simple")
    multi = run_preprocess(tasks, config, tmp_path / "multi", "multi", processes=4)
    assert multi["mapping"] == "multi" and multi["processes"] == 4
    assert simple["stations"] == multi["stations"]
    for entry in simple["stations"]:
        a, b = (obspy.read(str(tmp_path / m / entry["file"])) for m in ("simple", "multi"))
        for x, y in zip(a, b):
            assert np.array_equal(x.data, y.data)
    # too few processes for one per PE: the simple mapping runs instead, same products
    fallback = run_preprocess(tasks, config, tmp_path / "two", "multi", processes=2)
    assert fallback["mapping"] == "simple" and fallback["stations"] == simple["stations"]


def test_a_failing_station_is_reported_and_the_others_go_on(fetched, tmp_path):
    config = PreprocessConfig(15.0, 50.0, 0.5)
    tasks = observed_tasks(fetched.path, config)
    tasks[0] = {**tasks[0], "files": [str(tmp_path / "missing.mseed")]}
    record = run_preprocess(tasks, config, tmp_path / "out", "multi", processes=3)
    assert len(record["stations"]) == 5
    assert record["failed"][0]["station"] == tasks[0]["station"] and "missing.mseed" in record["failed"][0]["reason"]
    assert json.loads((tmp_path / "out" / "processed.json").read_text()) == record


def test_detrend_and_taper_are_obspy_s_own():
    """The array functions the chain uses instead of the Trace methods give ObsPy's numbers."""
    from obspy import Trace

    from cmtflow.processing.signal import detrend_linear, hann_taper

    rng = np.random.default_rng(0)
    for n in (7, 100, 101, 4096):
        data = rng.standard_normal(n) + np.linspace(0, 5, n)
        expected = Trace(data.copy()).detrend("linear").taper(max_percentage=0.05, type="hann").data
        np.testing.assert_allclose(hann_taper(detrend_linear(data), 0.05), expected, rtol=0, atol=1e-12)


def test_resampling_is_obspy_s_lanczos():
    from obspy import Trace, UTCDateTime

    from cmtflow.processing.preprocess import resample

    rng = np.random.default_rng(1)
    tr = Trace(rng.standard_normal(3000))
    tr.stats.update({"delta": 0.05, "starttime": UTCDateTime("2020-01-01T00:00:00.013")})
    start = UTCDateTime("2020-01-01T00:00:10")
    expected = tr.copy().interpolate(2.0, method="lanczos", a=20, starttime=start, npts=200)
    got = tr.copy()
    resample(got, start, 0.5, 200)
    np.testing.assert_array_equal(got.data, expected.data)
    assert (got.stats.starttime, got.stats.delta, got.stats.npts) == (start, 0.5, 200)


@pytest.mark.parametrize("start_s", [10.0, 10.3, 0.013, 149.25])  # whole and fractional samples, both edges
def test_resampling_at_the_same_rate_is_obspy_s_lanczos(start_s):
    """The same-rate path (one kernel, one convolution) gives ObsPy's Lanczos samples,
    also where the kernel reaches past the data's ends (zeros there, as ObsPy's)."""
    from obspy import Trace, UTCDateTime

    from cmtflow.processing.preprocess import resample

    rng = np.random.default_rng(2)
    tr = Trace(rng.standard_normal(300))
    tr.stats.update({"delta": 0.5, "starttime": UTCDateTime("2020-01-01T00:00:00.013")})
    start = tr.stats.starttime + start_s - 0.013
    npts = int((tr.stats.endtime - start) / 0.5) + 1
    expected = tr.copy().interpolate(2.0, method="lanczos", a=20, starttime=start, npts=npts)
    got = tr.copy()
    resample(got, start, 0.5, npts)
    np.testing.assert_allclose(got.data, expected.data, rtol=0, atol=1e-12 * np.max(np.abs(expected.data)))
    assert (got.stats.starttime, got.stats.delta, got.stats.npts) == (start, 0.5, npts)
    with pytest.raises(ValueError, match="contained"):  # a window past the data: refused as ObsPy does
        resample(tr.copy(), start, 0.5, npts + 1)


def test_the_band_pass_is_scipy_s_sosfiltfilt():
    """The zero-phase filter with its initial conditions computed once gives SciPy's numbers."""
    from scipy.signal import butter, sosfiltfilt

    from cmtflow.processing.signal import _butterworth, zero_phase

    rng = np.random.default_rng(2)
    for n, dt, band in ((4000, 0.5, (15.0, 50.0)), (30, 1.0, (20.0, 80.0)), (100000, 0.02, (2.0, 30.0))):
        x = rng.standard_normal(n).cumsum()
        sos = butter(4, [1 / band[1], 1 / band[0]], btype="band", fs=1 / dt, output="sos")
        expected = sosfiltfilt(sos, x)
        got = zero_phase(_butterworth(4, 1 / band[1], 1 / band[0], 1 / dt), x)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
