"""SPECFEM3D inputs and outputs with the real file formats (no SPECFEM run here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import obspy
import pytest

from cmtflow.data.stations import read_stations, station_list
from cmtflow.errors import CmtflowError
from cmtflow.solvers.specfem.inputs import read_par_file, run_parameters, write_data_folder, write_par_file
from cmtflow.solvers.specfem.outputs import collect, read_asdf, read_semd
from cmtflow.solvers.specfem.plan import failure_reason
from cmtflow.source import Source, read_cmtsolution

TEMPLATE = (Path(__file__).parent / "data" / "Par_file.specfem3d").read_text()


def _source():
    return Source.from_strike_dip_rake(120, 70, 20, 4.2, time="2001-09-09T23:59:17.78", latitude=34.0745,
                                       longitude=-118.3792, depth_km=7.0, half_duration=0.5, event_id="9703873")


def test_par_file_keeps_everything_but_the_run_values():
    text = write_par_file(TEMPLATE, run_parameters(8000, 0.01, 16, True, "/data/db"))
    values = read_par_file(text)
    assert values["NSTEP"] == "8000" and values["DT"] == "0.01d0" and values["NPROC"] == "16"
    assert values["GPU_MODE"] == ".true." and values["LOCAL_PATH"] == "/data/db"
    assert values["SAVE_SEISMOGRAMS_DISPLACEMENT"] == ".true." and values["USE_RICKER_TIME_FUNCTION"] == ".false."
    assert values["MODEL"] == "default" and values["ATTENUATION"] == ".true."  # the model's own settings stay
    assert "# currently implemented in acoustic (i.e. fluid) elements only" in text  # comments too
    assert len(text.splitlines()) == len(TEMPLATE.splitlines())
    with pytest.raises(CmtflowError, match="Par_file template has no ASDF_FORMAT, .*NSTEP, .*: is it a SPECFEM3D"):
        write_par_file("DT = 0.1\n", run_parameters(10, 0.1, 1, False, "x"))


def test_data_folder(tmp_path):
    stations = [{"network": "CI", "station": "GSC", "latitude": 35.3018, "longitude": -116.8057, "elevation_m": 0.0}]
    data = write_data_folder(tmp_path / "run", _source(), stations, TEMPLATE)
    assert read_cmtsolution(data / "CMTSOLUTION").mt == pytest.approx(_source().mt)
    inv = read_stations(data / "STATIONS")  # SPECFEM STATIONS format: STA NET LAT LON ELEV BURIAL
    assert station_list(inv)[0].code == "CI.GSC."


def _write_semd(folder: Path, t0: float, dt: float, data: dict):
    folder.mkdir(parents=True, exist_ok=True)
    t = t0 + dt * np.arange(len(next(iter(data.values()))))
    for name, values in data.items():
        np.savetxt(folder / f"{name}.semd", np.column_stack([t, values]), fmt="%15.6f %15.7e")


def test_semd_seismograms_become_a_synthetics_folder(tmp_path):
    source = _source()
    rng = np.random.default_rng(0)
    traces = {f"CI.GSC.BX{c}": rng.standard_normal(400) * 1e-6 for c in "XYZ"}
    _write_semd(tmp_path / "OUTPUT_FILES", -1.5, 0.05, traces)
    st = read_semd(tmp_path / "OUTPUT_FILES", source.time)
    assert sorted(tr.stats.channel for tr in st) == ["BXE", "BXN", "BXZ"]  # X east, Y north
    east = st.select(channel="BXE")[0]
    assert east.stats.starttime == source.time - 1.5 and east.stats.delta == pytest.approx(0.05)
    assert np.allclose(east.data, traces["CI.GSC.BXX"], rtol=1e-6)
    stations = station_list(obspy.Inventory(networks=[obspy.core.inventory.Network(
        "CI", stations=[obspy.core.inventory.Station("GSC", 35.3018, -116.8057, 0.0)])]))
    manifest = collect(st, source, stations, tmp_path / "sim", {"dt": 0.05})
    assert manifest["solver"] == "specfem3d" and manifest["components"] == "ZNE"
    assert json.loads((tmp_path / "sim" / "synthetics.json").read_text())["stations"][0]["distance_km"] > 100
    assert len(obspy.read(str(tmp_path / "sim" / "CI.GSC..mseed"))) == 3


def test_asdf_seismograms(tmp_path):
    h5py = pytest.importorskip("h5py")
    start = obspy.UTCDateTime("2001-09-09T23:59:16")
    with h5py.File(tmp_path / "synthetic.h5", "w") as f:
        group = f.create_group("Waveforms/CI.GSC")
        for c in "XYZ":
            name = f"CI.GSC.S3.BX{c}__2001-09-09T23:59:16__2001-09-09T24:00:16__synthetic"
            ds = group.create_dataset(name, data=np.full(100, {"X": 1.0, "Y": 2.0, "Z": 3.0}[c]))
            ds.attrs["starttime"] = start.ns
            ds.attrs["sampling_rate"] = 20.0
    st = read_asdf(tmp_path / "synthetic.h5")
    assert {tr.stats.channel: tr.data[0] for tr in st} == {"BXE": 1.0, "BXN": 2.0, "BXZ": 3.0}
    assert st[0].stats.starttime == start and st[0].stats.delta == pytest.approx(0.05)


def test_malformed_outputs_are_refused(tmp_path):
    (tmp_path / "OUTPUT_FILES").mkdir()
    with pytest.raises(CmtflowError, match="no .semd seismograms"):
        read_semd(tmp_path / "OUTPUT_FILES", obspy.UTCDateTime())
    (tmp_path / "OUTPUT_FILES" / "CI.GSC.BXZ.semd").write_text("0.0 1.0\n0.1 2.0\n0.35 3.0\n")
    with pytest.raises(CmtflowError, match="not evenly sampled"):
        read_semd(tmp_path / "OUTPUT_FILES", obspy.UTCDateTime())


def test_a_killed_or_unstable_solver_is_explained():
    """SPECFEM3D/OpenMPI's own lines as the real runs above print them."""
    said = ("mpirun noticed that process rank 0 with PID 0 on node vm exited on signal 8 "
            "(Floating point exception).")
    assert "time step is too large for the mesh (CFL)" in failure_reason(Path("/nonexistent"), said)
    said = "mpirun noticed that process rank 1 with PID 7 on node vm exited on signal 9 (Killed)."
    assert "an MPI rank was killed" in failure_reason(Path("/nonexistent"), said)


def test_socal1d_s_cmtsolution_with_specfem3d_cartesian_labels_is_read(tmp_path):
    """SPECFEM3D_Cartesian's examples say latorUTM/longorUTM (degrees unless UTM is suppressed)."""
    text = ("PDE 2001  9  9 23 59 17.78  34.0745 -118.3792   6.4 4.2 4.2 HOLLYWOOD POLET SEM\n"
            "event name:     9703873\ntime shift:      0.0000\nhalf duration:   0.3114\nlatorUTM:       34.0745\n"
            "longorUTM:    -118.3792\ndepth:           5.4000\nMrr:      -0.002000e+23\nMtt:      -0.064000e+23\n"
            "Mpp:       0.066000e+23\nMrt:      -0.090000e+23\nMrp:      -0.002000e+23\nMtp:       0.188000e+23\n")
    (tmp_path / "CMTSOLUTION").write_text(text)
    source = read_cmtsolution(tmp_path / "CMTSOLUTION")
    assert (source.latitude, source.longitude, source.depth_km) == (34.0745, -118.3792, 5.4)
    (tmp_path / "CMTSOLUTION").write_text(text.replace("34.0745\nlong", "3771481.9\nlong"))
    with pytest.raises(Exception, match="latorUTM/longorUTM hold UTM or mesh coordinates"):
        read_cmtsolution(tmp_path / "CMTSOLUTION")


def test_a_source_below_or_beside_the_mesh_is_refused_before_any_simulation(tmp_path):
    """The internal mesher's block (socal1D's Mesh_Par_file: 33.79-34.157 N, 118.728-118.237 W,
    60 km deep): SPECFEM3D would move such a source onto the mesh and simulate another one."""
    from dataclasses import replace

    from cmtflow.solvers.specfem import plan

    data = tmp_path / "model" / "DATA"
    (data / "meshfem3D_files").mkdir(parents=True)
    (data / "Par_file").write_text(TEMPLATE)
    (data / "meshfem3D_files" / "Mesh_Par_file").write_text(
        "LATITUDE_MIN = 33.790d0\nLATITUDE_MAX = 34.157d0\nLONGITUDE_MIN = -118.728d0\nLONGITUDE_MAX = -118.237d0\n"
        "DEPTH_BLOCK_KM = 60.d0\nSUPPRESS_UTM_PROJECTION = .false.\nNPROC_XI = 1\nNPROC_ETA = 1\n"
        "LOCAL_PATH = ./OUTPUT_FILES/DATABASES_MPI\n")
    stations = [{"network": "CI", "station": "BVH", "latitude": 34.076, "longitude": -118.396}]
    inside = _source()
    plan.prepare(tmp_path / "ok", {"initial": inside}, stations, data / "Par_file", 100, 0.012, 1, False)
    mesh = (tmp_path / "ok" / "databases" / "DATA" / "meshfem3D_files" / "Mesh_Par_file").read_text()
    assert f"LOCAL_PATH = {(tmp_path / 'ok' / 'databases' / 'DATABASES_MPI').resolve()}" in mesh
    for variant, message in ((replace(inside, depth_km=70.0), "at 70 km lies below the SPECFEM3D mesh"),
                             (replace(inside, latitude=35.0), "lies outside the SPECFEM3D mesh")):
        with pytest.raises(CmtflowError, match=message):
            plan.prepare(tmp_path / "bad", {"initial": inside, "dep": variant}, stations, data / "Par_file", 100,
                         0.012, 1, False)
    assert not (tmp_path / "bad").exists()  # refused before writing anything
