"""The `cmtflow greens` and `cmtflow synth` commands, including bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy.core.inventory import Channel, Inventory, Network, Station

from cmtflow.cli import main
from cmtflow.solvers.base import FK_EXTENSIONS
from cmtflow.source import read_source


def test_greens_writes_fk_layout(tmp_path, capsys):
    out = tmp_path / "greens"
    assert main(["greens", "--model", "scak", "--depth", "34", "--distances", "10,12.5",
                 "--dt", "0.2", "--npts", "256", "--out", str(out)]) == 0
    folder = out / "scak_34"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(f"{d}.grn.{e}" for d in ("10", "12.5") for e in FK_EXTENSIONS.values())
    tr = obspy.read(str(folder / "10.grn.0"))[0]
    sac = tr.stats.sac
    assert tr.stats.npts == 256 and tr.stats.delta == pytest.approx(0.2)
    assert sac.dist == pytest.approx(10.0) and sac.t1 == pytest.approx(5.36, abs=0.01)
    assert sac.t2 == pytest.approx(9.45, abs=0.01) and sac.b == pytest.approx(5.36 - 50 * 0.2, abs=0.01)
    assert "computed" in capsys.readouterr().out
    assert main(["greens", "--model", "scak", "--depth", "34", "--distances", "10,12.5",
                 "--dt", "0.2", "--npts", "256", "--out", str(out)]) == 0
    assert "reused" in capsys.readouterr().out


def _inventory(path):
    inv = Inventory(networks=[Network(code="XX", stations=[
        Station(code="AAA", latitude=61.9, longitude=-149.7, elevation=10.0,
                channels=[Channel(code="BHZ", location_code="00", latitude=61.9, longitude=-149.7,
                                  elevation=10.0, depth=0.0)]),
        Station(code="BBB", latitude=61.2, longitude=-148.1, elevation=100.0)])], source="test")
    inv.write(str(path), format="STATIONXML")
    return path


def test_synth_from_stationxml_and_quakeml(tmp_path, capsys):
    from cmtflow.source import Source, write_quakeml

    src = Source.from_strike_dip_rake(206, 52, -90, 4.5, time="2009-04-07T20:12:55.35", latitude=61.4542,
                                      longitude=-149.7428, depth_km=33.03, event_id="ak2009")
    quakeml = write_quakeml(src, tmp_path / "event.xml")
    out = tmp_path / "syn"
    assert main(["synth", "--model", "scak", "--source", str(quakeml), "--stations",
                 str(_inventory(tmp_path / "stations.xml")), "--dt", "0.1", "--npts", "1024", "--out", str(out)]) == 0
    manifest = json.loads((out / "synthetics.json").read_text())
    assert manifest["units"] == "m" and manifest["quantity"] == "displacement"
    assert [s["file"] for s in manifest["stations"]] == ["XX.AAA.00.mseed", "XX.BBB..mseed"]
    st = obspy.read(str(out / "XX.AAA.00.mseed"))
    assert [tr.stats.channel for tr in st] == ["BXZ", "BXR", "BXT"]  # 10 Hz: band code B
    assert st[0].stats.location == "00" and st[0].stats.npts == 1024
    d_km = manifest["stations"][0]["distance_km"]
    assert 45 < d_km < 55
    assert st[0].stats.starttime > src.time and st[0].stats.starttime < src.time + d_km / 6.0
    assert np.all(np.isfinite(st[0].data)) and np.abs(st[0].data).max() > 0


def test_synth_from_specfem_files(shared_data, tmp_path):
    folder = shared_data / "hollywood-2001-09-09-specfem"
    out = tmp_path / "syn"
    assert main(["synth", "--model", "socal", "--source", str(folder / "CMTSOLUTION"), "--stations",
                 str(folder / "STATIONS"), "--components", "ZNE", "--out", str(out)]) == 0
    st = obspy.read(str(out / "*.mseed"))
    assert {tr.stats.channel for tr in st} == {"MXZ", "MXN", "MXE"}
    assert {tr.stats.network for tr in st} == {"CI"}


@pytest.mark.parametrize("args, message", [
    (["greens", "--model", "nowhere", "--depth", "10", "--distances", "10"], "unknown model 'nowhere'"),
    (["greens", "--model", "scak", "--depth", "33", "--distances", "10"], "on an interface"),
    (["greens", "--model", "scak", "--depth", "66", "--distances", "10"], "half-space boundary"),
    (["greens", "--model", "scak", "--depth", "10", "--distances", "10,0"], "distances must be positive"),
    (["greens", "--model", "scak", "--depth", "10", "--distances", "10", "--npts", "1000"], "power of two"),
    (["greens", "--model", "scak", "--depth", "10", "--distances", "10", "--dt", "-1"], "dt must be a positive number"),
])
def test_bad_greens_input(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_bad_synth_input(tmp_path, capsys, shared_data):
    cmt = shared_data / "hollywood-2001-09-09-specfem" / "CMTSOLUTION"
    bad_model = tmp_path / "bad.fkmodel"
    bad_model.write_text("10 3.5 4.0 2.7\n0 4.5 8.0 3.3\n")
    bad_stations = tmp_path / "STATIONS"
    bad_stations.write_text("AAA XX north 10.0 0 0\n")
    good_stations = tmp_path / "GOOD"
    good_stations.write_text("AAA XX 34.5 -118.0 0 0\n")
    bad_cmt = tmp_path / "CMT"
    bad_cmt.write_text("not a cmtsolution\n")
    out = tmp_path / "out"
    cases = [
        (["--model", str(bad_model), "--source", str(cmt), "--stations", str(good_stations)],
         "bad.fkmodel:1: vp/vs 1.143 (vp 4, vs 3.5) outside 1.4-3"),
        (["--model", "socal", "--source", str(cmt), "--stations", str(bad_stations)], "must be numbers"),
        (["--model", "socal", "--source", str(bad_cmt), "--stations", str(good_stations)], "13 lines"),
        (["--model", "socal", "--source", str(cmt), "--stations", str(tmp_path / "none")], "does not exist"),
    ]
    for args, message in cases:
        assert main(["synth", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err, err
        assert not (out / "synthetics.json").exists()


def test_a_local_step_runs_in_the_task_s_process_with_a_subprocess_s_contract(tmp_path, monkeypatch, shared_data):
    """The local backend calls a ``cmtflow`` step in-process (no new interpreter): its output
    is captured and returned, an error becomes StepFailed with the command's error line, a
    command line argparse refuses too, and the environment the step set is restored."""
    import os

    from cmtflow.steps import ContainerStep, LocalBackend, StepFailed

    def no_spawn(*args, **kwargs):
        raise AssertionError("a cmtflow step started a subprocess")

    monkeypatch.setattr(subprocess, "run", no_spawn)
    monkeypatch.delenv("CMTFLOW_HOME", raising=False)
    stations = tmp_path / "STATIONS"
    stations.write_text("AAA XX 34.5 -118.0 0 0\n")
    cmt = shared_data / "hollywood-2001-09-09-specfem" / "CMTSOLUTION"
    synth = ("cmtflow", "--data-root", str(tmp_path / "root"), "synth", "--model", "socal", "--stations",
             str(stations), "--dt", "0.5", "--npts", "256")
    out = LocalBackend().run(ContainerStep("synth", "cmtflow", (*synth, "--source", str(cmt), "--out",
                                                                 str(tmp_path / "out"))))
    assert "wrote 1 stations x 3 components" in out and (tmp_path / "out" / "synthetics.json").is_file()
    assert "CMTFLOW_HOME" not in os.environ
    with pytest.raises(StepFailed, match="exited with status 2: error: cannot read"):
        LocalBackend().run(ContainerStep("bad", "cmtflow", (*synth, "--source", str(tmp_path / "none"), "--out",
                                                             str(tmp_path / "out2"))))
    with pytest.raises(StepFailed, match="status 2: .*invalid float value: 'x'"):
        LocalBackend().run(ContainerStep("bad", "cmtflow", ("cmtflow", "synth", "--dt", "x")))
    with pytest.raises(StepFailed, match="give either --variant"):
        LocalBackend().run(ContainerStep("bad", "cmtflow", (*synth, "--source", str(cmt), "--variant", "a", "b",
                                                             "c", "d")))
    monkeypatch.setenv("CMTFLOW_LOCAL_STEPS", "subprocess")
    with pytest.raises(AssertionError, match="started a subprocess"):
        LocalBackend().run(ContainerStep("synth", "cmtflow", synth))


def test_console_script_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cmtflow.cli", "greens", "--model", "scak", "--depth", "33",
                           "--distances", "10", "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: source depth 33.0 km is on an interface")


# ----------------------------------------------------------------------------- invert
def test_invert_synthetic_test_writes_all_products(tmp_path, capsys):
    out = tmp_path / "solution"
    cmt = tmp_path / "CMTSOLUTION"
    from cmtflow.source import Source, write_cmtsolution

    write_cmtsolution(Source.from_strike_dip_rake(30, 60, 80, 4.2, time="2020-01-01T00:00:00", latitude=45.0,
                                                  longitude=10.0, depth_km=12.0, event_id="test"), cmt)
    assert main(["invert", "--synthetic-test", "--initial", str(cmt), "--model", "scak", "--bootstrap", "10",
                 "--picker", "phases", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "kagan_result_to_true_deg" in printed
    for name in ("solution.json", "CMTSOLUTION", "solution.xml", "beachball.png", "waveforms.png", "misfit.png"):
        assert (out / name).stat().st_size > 0
    record = json.loads((out / "solution.json").read_text())
    for key in ("event_id", "centroid", "moment_tensor_nm", "m0_nm", "mw", "nodal_planes", "uncertainties",
                "variance_reduction", "stations_used"):
        assert key in record
    assert record["synthetic_test"]["kagan_result_to_true_deg"] < 5
    assert len(record["nodal_planes"]) == 2 and len(record["stations_used"]) >= 20
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left
    obspy.read_events(str(out / "solution.xml"))


def _sac_folder(tmp_path, poison=None, no_coordinates=False, idep=None):
    """A small SAC event folder: embedded synthetics at 8 stations with SAC headers
    (displacement in m; with ``idep="ivel"``, velocity in nm/s as the SAC standard has it)."""
    from obspy.io.sac import SACTrace

    from cmtflow.inversion.synthetic_test import ring_stations
    from cmtflow.solvers.synthetics import synthetics
    from cmtflow.source import Source

    src = Source.from_strike_dip_rake(30, 60, 80, 4.2, time="2020-01-01T00:00:00", latitude=45.0, longitude=10.0,
                                      depth_km=12.0, event_id="test")
    stations = ring_stations(src, 8, np.random.default_rng(2))
    stream, _ = synthetics(src, stations, "scak", 0.5, 1024)
    folder = tmp_path / "data"
    folder.mkdir()
    coords = {s.station: s for s in stations}
    for k, tr in enumerate(stream):
        if poison == "nan" and k == 4:
            tr.data[100] = np.nan
        if idep == "ivel":
            tr.data = np.gradient(tr.data, tr.stats.delta) * 1e9
        sac = SACTrace.from_obspy_trace(tr)
        if idep:
            sac.idep = idep
        if not no_coordinates:
            sac.stla, sac.stlo = coords[tr.stats.station].latitude, coords[tr.stats.station].longitude
        sac.write(str(folder / f"{tr.id}.sac"))
    return folder


@pytest.mark.parametrize("case, message", [("no_coordinates", "no usable records"),
                                           ("no_units", "the units of the records are not stated")])
def test_invert_bad_data_is_refused_and_nothing_is_written(tmp_path, capsys, case, message):
    folder = _sac_folder(tmp_path, no_coordinates=case == "no_coordinates")
    cmt = tmp_path / "CMTSOLUTION"
    from cmtflow.source import Source, write_cmtsolution

    write_cmtsolution(Source.from_strike_dip_rake(30, 60, 80, 4.2, time="2020-01-01T00:00:00", latitude=45.0,
                                                  longitude=10.0, depth_km=12.0, event_id="test"), cmt)
    out = tmp_path / "out"
    units = [] if case == "no_units" else ["--quantity", "displacement"]
    assert main(["invert", "--data", str(folder), "--initial", str(cmt), "--model", "scak",
                 "--out", str(out), "--bootstrap", "0", *units]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (out / "solution.json").exists()


def test_invert_leaves_out_a_broken_record_with_its_reason(tmp_path, capsys):
    """A trace with a NaN: that component is not used, the reason is in solution.json."""
    folder = _sac_folder(tmp_path, poison="nan")
    from cmtflow.source import Source, write_cmtsolution

    write_cmtsolution(Source.from_strike_dip_rake(30, 60, 80, 4.2, time="2020-01-01T00:00:00", latitude=45.0,
                                                  longitude=10.0, depth_km=12.0, event_id="test"), tmp_path / "CMT")
    out = tmp_path / "out"
    assert main(["invert", "--data", str(folder), "--initial", str(tmp_path / "CMT"), "--model", "scak",
                 "--out", str(out), "--bootstrap", "0", "--quantity", "displacement"]) == 0
    record = json.loads((out / "solution.json").read_text())
    poisoned = sorted(folder.iterdir())[4].name  # the fifth trace of the stream
    broken = [n for n in record["data_notes"] if "non-finite samples" in n]
    assert len(broken) == 1 and broken[0].split(":")[0] == ".".join(poisoned.split(".")[:2])


def _solution(out):
    """solution.json and its moment tensor (Mrr..Mtp, N·m)."""
    record = json.loads((out / "solution.json").read_text())
    return record, [record["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]


@pytest.mark.parametrize("idep, units", [(None, ["--quantity", "displacement"]), ("ivel", [])])
def test_invert_sac_folder_recovers_the_source(tmp_path, capsys, idep, units):
    """Units from --quantity, or from SAC idep alone (IVEL: nm/s by the SAC standard)."""
    folder = _sac_folder(tmp_path, idep=idep)
    from cmtflow.source import Source, kagan_angle, write_cmtsolution

    true = Source.from_strike_dip_rake(30, 60, 80, 4.2, time="2020-01-01T00:00:00", latitude=45.0, longitude=10.0,
                                       depth_km=12.0, event_id="test")
    write_cmtsolution(Source.from_strike_dip_rake(60, 45, 60, 4.0, time="2020-01-01T00:00:00", latitude=45.0,
                                                  longitude=10.0, depth_km=12.0, event_id="test"), tmp_path / "CMT")
    out = tmp_path / "out"
    assert main(["invert", "--data", str(folder), "--initial", str(tmp_path / "CMT"), "--model", "scak",
                 "--out", str(out), "--bootstrap", "0", "--picker", "phases", *units]) == 0
    record, mt = _solution(out)
    assert kagan_angle(mt, true.mt) < 1.0 and abs(record["mw"] - 4.2) < 0.02
    assert record["data_units"]["quantity"] == ("velocity" if idep else "displacement")
    assert record["data_units"]["source"] == ("SAC idep" if idep else "run conf")
    assert record["magnitude_check"]["flagged"] is False


def test_invert_specfem_cli(shared_data, tmp_path, capsys):
    folder = shared_data / "hollywood-2001-09-09-specfem"
    out = tmp_path / "hollywood"
    assert main(["invert", "--synthetics", str(folder), "--windows", str(folder / "flexwin_T006_T030.output"),
                 "--initial", str(folder / "CMTSOLUTION"), "--params", "7", "--bootstrap", "10",
                 "--out", str(out)]) == 0
    record = json.loads((out / "solution.json").read_text())
    # pycmt3d's target for this case (CMTSOLUTION_TRUE): 7.0 km from 5.4 km
    target = read_source(folder / "CMTSOLUTION_TRUE").depth_km
    assert abs(record["centroid"]["depth_km"] - target) < abs(5.4 - target) - 0.5
    # the case's data are noise-free SPECFEM3D synthetics: every resample agrees
    assert record["uncertainties"]["solutions"] == 10 and record["uncertainties"]["depth_km"] < 0.05


def test_invert_miniseed_and_stationxml_with_ne_components(tmp_path, capsys):
    """The other data layout: miniSEED Z/N/E + StationXML; N/E are rotated to R/T."""
    from cmtflow.inversion.synthetic_test import ring_stations
    from cmtflow.solvers.synthetics import synthetics
    from cmtflow.source import Source, kagan_angle, write_cmtsolution

    true = Source.from_strike_dip_rake(120, 70, 20, 4.4, time="2020-01-01T00:00:00", latitude=45.0, longitude=10.0,
                                       depth_km=12.0, event_id="ne")
    stations = ring_stations(true, 10, np.random.default_rng(8))
    stream, _ = synthetics(true, stations, "scak", 0.5, 1024, components="ZNE")
    folder = tmp_path / "data"
    folder.mkdir()
    for tr in stream:
        tr.stats.channel = "BH" + tr.stats.channel[-1]
    stream.write(str(folder / "event.mseed"), format="MSEED", encoding="FLOAT64")
    inv = Inventory(networks=[Network(code="XX", stations=[
        Station(code=s.station, latitude=s.latitude, longitude=s.longitude, elevation=0.0) for s in stations])])
    inv.write(str(folder / "stations.xml"), format="STATIONXML")
    write_cmtsolution(Source.from_strike_dip_rake(150, 60, 0, 4.2, time="2020-01-01T00:00:00", latitude=45.0,
                                                  longitude=10.0, depth_km=12.0, event_id="ne"), tmp_path / "CMT")
    out = tmp_path / "out"
    assert main(["invert", "--data", str(folder), "--initial", str(tmp_path / "CMT"), "--model", "scak",
                 "--out", str(out), "--bootstrap", "0", "--picker", "phases", "--quantity", "displacement"]) == 0
    record, mt = _solution(out)
    assert kagan_angle(mt, true.mt) < 1.0 and abs(record["mw"] - 4.4) < 0.02
    assert len(record["stations_used"]) == 10


def test_flexwin_window_weights_are_read(shared_data):
    from cmtflow.inversion.specfem_derivatives import read_flexwin

    pairs = read_flexwin(shared_data / "hollywood-2001-09-09-specfem" / "flexwin_T006_T030.output.weight")
    assert pairs[1][2] == [(-0.055, 44.595, 0.6), (44.595, 76.845, 2.0)]
    plain = read_flexwin(shared_data / "hollywood-2001-09-09-specfem" / "flexwin_T006_T030.output")
    assert all(w[2] == 1.0 for _, _, wins in plain for w in wins)


# ----------------------------------------------------------------------------- fetch / process
def test_fetch_offline_from_sds_and_stationxml(scenario, data_root, capsys):
    from fdsn_fixtures import ORIGIN

    assert main(["fetch", "--origin", f"{ORIGIN},46.0,8.0,10.0,4.3", "--sds", str(scenario.sds), "--inventory",
                 str(scenario.inventory_file), "--run-id", "offline", "--mapping", "multi", "-n", "3"]) == 0
    out = capsys.readouterr().out
    assert "6 stations fetched" in out and "6 stations processed" in out
    run = next((data_root / "events").glob("*/runs/offline"))
    report = json.loads((run / "stations.json").read_text())
    assert len(report["used"]) == 6 and {d["station"] for d in report["dropped"]} == {
        "XS.FARS", "XS.NORS", "XS.TWOC", "XS.DUPL"}
    processed = json.loads((run / "processed" / "processed.json").read_text())
    assert len(processed["stations"]) == 6
    st = obspy.read(str(run / "processed" / processed["stations"][0]["file"]))
    assert sorted(tr.stats.channel[-1] for tr in st) == ["R", "T", "Z"]
    # the same command again reuses the raw data
    assert main(["fetch", "--origin", f"{ORIGIN},46.0,8.0,10.0,4.3", "--sds", str(scenario.sds), "--inventory",
                 str(scenario.inventory_file), "--run-id", "offline"]) == 0
    assert "(6 reused)" in capsys.readouterr().out


def test_fetch_by_event_id_through_fdsn_services(dataselect_server, station_event_server, data_root, capsys):
    from fdsn_fixtures import EVENT_ID

    assert main(["fetch", "--event-id", EVENT_ID, "--event-service", station_event_server.url,
                 "--station-service", station_event_server.url, "--dataselect-service",
                 dataselect_server.url.rsplit("/fdsnws", 1)[0], "--run-id", "online"]) == 0
    assert (data_root / "events" / EVENT_ID / "runs" / "online" / "processed" / "processed.json").is_file()
    assert main(["fetch", "--event-id", "unknown", "--event-service", station_event_server.url]) == 2
    assert capsys.readouterr().err.strip().endswith(f"unknown event id 'unknown' at {station_event_server.url}")


def test_fetch_with_too_few_stations_fails_and_publishes_nothing(scenario, data_root, capsys):
    from fdsn_fixtures import ORIGIN

    assert main(["fetch", "--origin", f"{ORIGIN},46.0,8.0,10.0,4.3", "--sds", str(scenario.sds), "--inventory",
                 str(scenario.inventory_file), "--run-id", "few", "--min-stations", "9"]) == 2
    assert "only 6 usable stations, at least 9 needed" in capsys.readouterr().err
    run = next((data_root / "events").glob("*/runs/few"))
    assert (run / "stations.json").is_file() and not (run / "processed" / "processed.json").exists()


def test_process_synthetics_with_the_multi_mapping(tmp_path, capsys):
    out = tmp_path / "syn"
    examples = Path(__file__).resolve().parents[1] / "src" / "cmtflow" / "scenarios"
    assert main(["synth", "--model", "scak", "--source", str(examples / "CMTSOLUTION_alaska_2009"), "--stations",
                 str(examples / "STATIONS_alaska"), "--components", "ZNE", "--dt", "0.2", "--npts", "2048",
                 "--out", str(out)]) == 0
    assert main(["process", "--graph", "preprocess", "--synthetics", str(out), "--mapping", "multi", "-n", "4"]) == 0
    assert "26 stations processed, 0 failed, mapping multi (4 processes)" in capsys.readouterr().out
    st = obspy.read(str(out / "processed" / "AK.BMR..mseed"))
    assert [tr.stats.channel for tr in st] == ["MXZ", "MXR", "MXT"] and st[0].stats.delta == 0.5


def test_process_several_variants_in_one_process(tmp_path, capsys):
    """``--variant`` (the embedded solver's one step for a run's variants): each folder
    processed as ``--synthetics`` alone processes it, into its own output and kept copy."""
    from cmtflow.source import Source, write_cmtsolution

    examples = Path(__file__).resolve().parents[1] / "src" / "cmtflow" / "scenarios"
    stations = tmp_path / "STATIONS"
    lines = [line for line in (examples / "STATIONS_alaska").read_text().splitlines() if not line.startswith("#")]
    stations.write_text("\n".join(lines[:3]) + "\n")
    folders = []
    for label, strike in (("a", 10), ("b", 120)):
        source = tmp_path / f"CMTSOLUTION_{label}"
        write_cmtsolution(Source.from_strike_dip_rake(strike, 50, 90, 4.5, time="2009-04-07T20:12:55", latitude=61.45,
                                                      longitude=-149.74, depth_km=30.0), source)
        assert main(["synth", "--model", "scak", "--source", str(source), "--stations", str(stations), "--dt", "0.5",
                     "--npts", "1024", "--out", str(tmp_path / label)]) == 0
        folders.append(tmp_path / label)
    band = ["--band", "15,50", "--dt", "0.5"]
    assert main(["process", "--synthetics", str(folders[0]), "--out", str(tmp_path / "alone"), *band]) == 0
    args = [arg for f in folders for arg in ("--variant", str(f), str(tmp_path / f"out-{f.name}"),
                                            str(tmp_path / f"kept-{f.name}"))]
    assert main(["process", *args, *band]) == 0
    assert capsys.readouterr().out.count("3 stations processed, 0 failed") == 3
    for name in ("out-a", "kept-a"):
        for alone in (tmp_path / "alone").glob("*.mseed"):
            a, b = obspy.read(str(alone)), obspy.read(str(tmp_path / name / alone.name))
            assert all(np.array_equal(x.data, y.data) for x, y in zip(a, b))
    assert not np.allclose(obspy.read(str(tmp_path / "out-a" / alone.name))[2].data,
                           obspy.read(str(tmp_path / "out-b" / alone.name))[2].data)
    assert main(["process", *args[:4], "--out", str(tmp_path / "x"), *band]) == 2  # the variant names its output
    assert "no --out or --keep-in" in capsys.readouterr().err


def test_fetch_then_invert_the_fetched_records(tmp_path, data_root, capsys):
    """``cmtflow fetch`` then ``cmtflow invert --data`` on what fetch printed (the processed
    folder, or the run folder): the inversion reads the raw records and their StationXML and
    recovers the demo's source from a start 40 degrees off."""
    from dataclasses import replace

    from cmtflow.demo import generate
    from cmtflow.source import kagan_angle, mt_from_strike_dip_rake, read_cmtsolution, write_cmtsolution

    scenario = generate(tmp_path / "scenario")
    assert main(["fetch", "--quakeml", str(scenario.quakeml), "--sds", str(scenario.sds), "--inventory",
                 str(scenario.inventory), "--run-id", "chain", "--max-distance", "400"]) == 0
    out = capsys.readouterr().out
    processed = Path(out.split("-> ")[-1].split("\n")[0])
    assert processed.name == "processed" and f"cmtflow invert --data {processed.parent}" in out
    true = read_cmtsolution(scenario.truth)
    start = replace(true, mt=mt_from_strike_dip_rake(231, 47, -107, true.m0))
    assert kagan_angle(start.mt, true.mt) > 35
    write_cmtsolution(start, tmp_path / "CMTSOLUTION")
    for data in (processed, processed.parent):
        assert main(["invert", "--data", str(data), "--initial", str(tmp_path / "CMTSOLUTION"), "--model", "scak",
                     "--dt", "0.5", "--out", str(tmp_path / data.name)]) == 0, capsys.readouterr().err
        solution = json.loads((tmp_path / data.name / "solution.json").read_text())
        mt = [solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]
        assert kagan_angle(mt, true.mt) < 5 and abs(solution["mw"] - true.mw) < 0.05
        assert len(solution["stations_used"]) == 26


def test_the_cli_page_names_every_command_and_option():
    """docs/cli.md and ``cmtflow --help`` agree: every command and every long option is on the page."""
    import argparse

    from cmtflow.cli import build_parser

    page = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {option}" for name, parser in sub.choices.items()
               for option in [f"cmtflow {name}"] + [o for a in parser._actions for o in a.option_strings
                                                   if o.startswith("--") and o != "--help"]
               if option not in page]
    assert not missing
