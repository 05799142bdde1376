"""SPECFEM3D_Cartesian for real: the vendored 4.1.1 source built by ``scripts/build-specfem3d``
(cached), SPECFEM3D's own socal1D example run through cmtflow's container steps (``cmtflow
specfem databases`` / ``simulate`` by the local backend), read back, and checked against the
SPECFEM3D team's reference seismograms (``REF_SEIS/``) and against the embedded FK solver;
real failures (an unstable time step) explained with SPECFEM3D's own words."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy import Stream

from cmtflow.data.stations import read_stations, station_list
from cmtflow.solvers.specfem import plan
from cmtflow.solvers.specfem.inputs import read_par_file, resolve_run_settings
from cmtflow.solvers.specfem.outputs import read_semd
from cmtflow.source import read_cmtsolution
from cmtflow.steps import ContainerStep, LocalBackend, StepFailed
from cmtflow.steps import specfem as specfem_step

pytestmark = pytest.mark.slow


def _stations(example: Path) -> list[dict]:
    return [{"network": s.network, "station": s.station, "latitude": s.latitude, "longitude": s.longitude,
             "elevation_m": s.elevation_m} for s in station_list(read_stations(example / "DATA" / "STATIONS"))]


def _run_steps(specfem_dir: Path, out: Path) -> dict[str, float]:
    """The two container steps as the local backend runs them; seconds each."""
    steps = [ContainerStep("specfem-databases", "specfem3d", specfem_step.databases_command(specfem_dir / "databases")),
             ContainerStep("simulate-initial", "specfem3d",
                           specfem_step.simulate_command(specfem_dir / "initial", out, None, "initial"))]
    seconds = {}
    for step in steps:
        start = time.perf_counter()
        LocalBackend().run(step)
        seconds[step.name] = time.perf_counter() - start
    return seconds


@pytest.fixture(scope="session")
def socal1d_run(specfem_bin, socal1d, tmp_path_factory):
    """The example's source and stations through cmtflow's prepare + container steps, with
    the example's own mesh, Par_file, NSTEP and DT."""
    work = tmp_path_factory.mktemp("socal1d-run")
    par_file = socal1d / "DATA" / "Par_file"
    source = read_cmtsolution(socal1d / "DATA" / "CMTSOLUTION")  # latorUTM/longorUTM labels
    nproc, dt = resolve_run_settings(par_file, None, None)
    nstep = int(read_par_file(par_file.read_text())["NSTEP"])
    plan.prepare(work / "specfem", {"initial": source}, _stations(socal1d), par_file, nstep, dt, nproc, False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CMTFLOW_SPECFEM_BIN", str(specfem_bin))
        mp.setenv("CMTFLOW_HOME", str(work / "home"))
        seconds = _run_steps(work / "specfem", work / "synthetics")
    return {"work": work, "source": source, "nproc": nproc, "dt": dt, "seconds": seconds}


def _pairs(ours: Stream, reference: Stream):
    for ref in reference:
        tr = ours.select(network=ref.stats.network, station=ref.stats.station, channel=f"*{ref.stats.channel[-1]}")
        assert len(tr) == 1, f"{ref.id}: not in cmtflow's output"
        yield tr[0], ref


def test_cmtflow_s_specfem3d_run_reproduces_the_reference_seismograms(socal1d_run, socal1d):
    work, source = socal1d_run["work"], socal1d_run["source"]
    assert (socal1d_run["nproc"], socal1d_run["dt"]) == (1, 0.012)  # the mesh's partition and the example's DT
    raw = read_semd(work / "specfem" / "initial" / "OUTPUT_FILES", source.time)
    reference = read_semd(socal1d / "REF_SEIS", source.time)
    assert len(reference) == 84 and len(raw) == 84
    for ours, ref in _pairs(raw, reference):
        n = min(ours.stats.npts, ref.stats.npts)
        a, b = ours.data[:n], ref.data[:n]
        assert abs(ours.stats.starttime - ref.stats.starttime) < 1e-6
        assert np.corrcoef(a, b)[0, 1] >= 0.99, ours.id
        assert np.max(np.abs(a)) == pytest.approx(np.max(np.abs(b)), rel=0.02), ours.id
    # and collected into the common synthetics format (E/N/Z channels, the manifest)
    manifest = json.loads((work / "synthetics" / "synthetics.json").read_text())
    collected = Stream()
    for entry in manifest["stations"]:
        collected += obspy.read(str(work / "synthetics" / entry["file"]))
    assert manifest["solver"] == "specfem3d" and len(manifest["stations"]) == 28
    assert sorted(manifest["left_out"]) == ["CI.CAB.", "NP.5404."]  # SPECFEM3D: "2 stations outside the model"
    assert sorted({tr.stats.channel for tr in collected}) == ["HXE", "HXN", "HXZ"] and len(collected) == 84


def test_stations_beyond_the_mesh_block_are_left_out_before_simulating(socal1d):
    """A station beyond socal1D's block is not asked for, with the reason; none that SPECFEM3D
    keeps is (its two "outside the model" lie inside the latitude/longitude bounds but beyond
    the block's UTM rectangle: SPECFEM3D drops those itself, see the REF_SEIS test)."""
    from cmtflow.solvers.specfem.inputs import stations_outside_mesh

    stations = _stations(socal1d)
    assert stations_outside_mesh(socal1d / "DATA" / "Par_file", stations) == {}
    far = {**stations[0], "network": "XX", "station": "FAR", "latitude": 35.0}
    left_out = stations_outside_mesh(socal1d / "DATA" / "Par_file", stations + [far])
    assert left_out == {"XX.FAR": "outside the SPECFEM3D mesh (33.79 to 34.157 N, -118.728 to -118.237 E)"}

def test_a_time_step_beyond_the_mesh_s_stability_limit_is_refused_before_computing(specfem_bin, socal1d_run,
                                                                                   tmp_path):
    """DT five times the example's (the mesh allows 0.0225 s): refused with the mesh's limit
    from xgenerate_databases, not a floating-point exception minutes later."""
    par_file = socal1d_run["work"] / "specfem" / "initial" / "DATA" / "Par_file"
    bad = tmp_path / "variant"
    (bad / "DATA").mkdir(parents=True)
    for name in ("CMTSOLUTION", "STATIONS"):
        (bad / "DATA" / name).write_text((par_file.parent / name).read_text())
    (bad / "DATA" / "Par_file").write_text(par_file.read_text().replace("= 0.012d0", "= 0.06d0"))
    step = ContainerStep("simulate-bad", "specfem3d", specfem_step.simulate_command(bad, tmp_path / "out", None, "bad"))
    with pytest.MonkeyPatch.context() as mp, pytest.raises(StepFailed) as failure:
        mp.setenv("CMTFLOW_SPECFEM_BIN", str(specfem_bin))
        LocalBackend().run(step)
    assert "specfem_dt: DT 0.06 s exceeds the mesh's largest stable time step 0.0225 s" in str(failure.value)
    assert not (tmp_path / "out" / "synthetics.json").exists()  # nothing presented as a simulation



def test_fk_agrees_with_specfem3d_s_reference_seismograms_below_1_hz(socal1d):
    """The embedded FK solver in the shipped ``socal`` model (the velocities of the example's
    mesh; generic Q) against the SPECFEM3D team's REF_SEIS for the same source and stations,
    low-passed at 1 Hz (the records are 10 s long: longer periods do not fit in them). Compared
    where a component carries at least 30 % of its station's peak (nodal components are
    dominated by the small differences of the two methods)."""
    from cmtflow.solvers.synthetics import synthetics

    source = read_cmtsolution(socal1d / "DATA" / "CMTSOLUTION")
    reference = read_semd(socal1d / "REF_SEIS", source.time)
    stations = [s for s in station_list(read_stations(socal1d / "DATA" / "STATIONS"))
                if reference.select(network=s.network, station=s.station)]
    fk, _ = synthetics(source, stations, "socal", 0.012, 2048, components="ZNE")
    correlations, ratios = [], []
    for ref in reference:
        ours = fk.select(network=ref.stats.network, station=ref.stats.station, channel=f"*{ref.stats.channel[-1]}")
        a, b = ours[0].copy(), ref.copy()
        start, end = max(a.stats.starttime, b.stats.starttime), min(a.stats.endtime, b.stats.endtime)
        for tr in (a, b):
            tr.trim(start, end)
            tr.detrend("linear")
            tr.taper(0.05)
            tr.filter("lowpass", freq=1.0, corners=4, zerophase=True)
        peak = max(np.abs(tr.data).max() for tr in reference.select(network=ref.stats.network,
                                                                      station=ref.stats.station))
        if np.abs(ref.data).max() >= 0.3 * peak:
            n = min(a.stats.npts, b.stats.npts)
            correlations.append(np.corrcoef(a.data[:n], b.data[:n])[0, 1])
            ratios.append(np.abs(a.data).max() / np.abs(b.data).max())
    assert len(correlations) >= 40
    assert np.median(correlations) >= 0.98 and min(correlations) >= 0.75
    assert 0.95 <= np.median(ratios) <= 1.08


def test_a_killed_solver_rank_is_reported_as_killed(specfem_bin, socal1d_run, tmp_path):
    """xspecfem3D killed (SIGKILL, as the OOM killer does) while it computes: the step fails
    with OpenMPI's line and the reason, and leaves no synthetics."""
    import signal

    variant = socal1d_run["work"] / "specfem" / "initial" / "DATA"
    again = tmp_path / "variant"
    (again / "DATA").mkdir(parents=True)
    for name in ("CMTSOLUTION", "STATIONS", "Par_file"):
        (again / "DATA" / name).write_text((variant / name).read_text())
    argv = LocalBackend().argv(ContainerStep("simulate", "specfem3d",
                                             specfem_step.simulate_command(again, tmp_path / "out", None, "killed")))
    env = {**os.environ, "CMTFLOW_SPECFEM_BIN": str(specfem_bin)}
    step = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait for the solver to be in its time loop
        found = subprocess.run(["pgrep", "-x", "xspecfem3D"], capture_output=True, text=True)  # the rank
        if found.stdout.strip() and (again / "OUTPUT_FILES" / "starttimeloop.txt").exists():
            break
        time.sleep(0.2)
    else:
        step.kill()
        pytest.fail("xspecfem3D did not start")
    for pid in found.stdout.split():
        os.kill(int(pid), signal.SIGKILL)
    _, stderr = step.communicate(timeout=60)
    assert step.returncode != 0
    assert "signal 9" in stderr and "an MPI rank was killed" in stderr
    assert not (tmp_path / "out" / "synthetics.json").exists()


def test_a_band_the_mesh_does_not_resolve_is_refused(specfem_bin, socal1d, tmp_path):
    """The coarse regional mesh of the MT3D test resolves 8.4 s (xgenerate_databases): a run
    asking for 6 s is refused after the databases step, naming tmin, before any simulation."""
    from specfem_models import regional_socal1d

    par_file = regional_socal1d(socal1d, tmp_path / "model", nex=8, layers=(2, 1, 1, 1), dt=0.075)
    source = read_cmtsolution(socal1d / "DATA" / "CMTSOLUTION")
    plan.prepare(tmp_path / "specfem", {"initial": source}, _stations(socal1d)[:3], par_file, 100, 0.075, 1, False)
    step = ContainerStep("specfem-databases", "specfem3d", specfem_step.databases_command(tmp_path / "specfem" / "databases",
                                                                                  6.0))
    with pytest.MonkeyPatch.context() as mp, pytest.raises(StepFailed) as failure:
        mp.setenv("CMTFLOW_SPECFEM_BIN", str(specfem_bin))
        LocalBackend().run(step)
    assert "tmin: 6 s is shorter than the shortest period the SPECFEM3D mesh resolves, 8.37 s" in str(failure.value)
