"""MT3D end to end: a published 1D solution refined with SPECFEM3D through the DAG (slow).

Kept apart from ``test_specfem_real.py``: the longest test of the suite, scheduled on its own
when ``make test`` spreads the files over processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow

HOLLYWOOD = {"origin_time": "2001-09-09T23:59:17.78", "latitude": 34.0745, "longitude": -118.3792, "depth_km": 6.4,
             "magnitude": 4.2, "magnitude_type": "ML", "data_source": "files", "data_quantity": "displacement",
             "model": "socal", "tmin": 10.0, "tmax": 30.0, "max_distance_km": 60.0}


def _run(tmp_path: Path, name: str, conf: dict, env: dict) -> dict:
    """``cmtflow run --conf`` as a user runs it; the published solution."""
    from airflow_fixtures import run_cmtflow

    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(conf))
    done = run_cmtflow(tmp_path / "home", "run", "--conf", str(path), timeout=1800, extra_env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    solution_dir = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("solution: "))
    return {"solution": json.loads((Path(solution_dir) / "solution.json").read_text()),
            "run_dir": Path(solution_dir).parent, "stdout": done.stdout}


def test_mt3d_refines_the_published_1d_solution_with_specfem3d_through_the_dag(specfem_bin, socal1d, shared_data,
                                                                                tmp_path):
    """The MT3D case end to end, as a user runs it: the Hollywood 2001 records (7 CI stations,
    21-54 km) inverted in 1D (FK, ``socal``); then ``solver: specfem3d``, ``start_from:
    published``: 1 + 6 + 3 SPECFEM3D simulations in a mesh of the same layers (the socal1D
    example's, 8 x 8 elements over the stations: it resolves 8.4 s, the band is 10-30 s),
    inverted for 9 parameters and published as version 2 beside version 1. A third run
    (6 parameters) reuses the simulations and, in the same layered model, must land on the
    1D answer: an independent check of both solvers and of the derivative inversion."""
    from cmtflow.catalogue import open_catalogue
    from cmtflow.source import kagan_angle
    from specfem_models import regional_socal1d

    par_file = regional_socal1d(socal1d, tmp_path / "model", nex=8, layers=(2, 1, 1, 1), dt=0.075)
    folder = shared_data / "hollywood-2001-09-09-specfem" / "data_T006_T030"
    env = {"CMTFLOW_SPECFEM_BIN": str(specfem_bin), "CMTFLOW_INPUT_ROOTS": f"{shared_data}:{tmp_path}"}
    conf = {**HOLLYWOOD, "waveforms": str(folder), "depth_search": False, "bootstrap": 20}
    first = _run(tmp_path, "1d", conf, env)
    mt3d = {**conf, "solver": "specfem3d", "specfem_par_file": str(par_file), "start_from": "published"}
    second = _run(tmp_path, "3d", {**mt3d, "n_params": 9}, env)
    third = _run(tmp_path, "3d-6", {**mt3d, "n_params": 6, "start_from": first["run_dir"].name}, env)

    sol1, sol2, sol3 = first["solution"], second["solution"], third["solution"]
    # published as final (graded A-C, not a preliminary D): the refinement's start_from: published finds it
    assert sol1["quality"]["status"] == "final" and len(sol1["stations_used"]) == 7
    # version 2 started from version 1, and says how far it moved
    start = sol2["starting_solution"]
    assert (start["run_id"], start["version"], start["solver"]) == (first["run_dir"].name, 1, "fk")
    assert sol2["parameters_inverted"] == ["Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp", "depth", "latitude", "longitude"]
    assert start["change"]["kagan_deg"] == pytest.approx(kagan_angle(_mt(sol1), _mt(sol2)), abs=0.05)
    plan2 = json.loads((second["run_dir"] / "simulations" / "plan.json").read_text())
    assert plan2["solver"] == "specfem3d" and plan2["dt"] == 0.075 and len(plan2["variants"]) == 10
    catalogue = open_catalogue(tmp_path / "home")
    sims = catalogue.simulations(run_id=second["run_dir"].name)
    assert len(sims) == 10 and {s["solver"] for s in sims} == {"specfem3d"} and not any(s["reused"] for s in sims)
    # the third run computed nothing: every simulation it needs exists
    reused = catalogue.simulations(run_id=third["run_dir"].name)
    assert len(reused) == 7 and all(s["reused"] for s in reused)
    assert "done    simulations.simulate[" not in third["stdout"] and "prepare_solver[" not in third["stdout"]
    # all three versions kept, in order
    versions = [json.loads((r["run_dir"] / "published.json").read_text())["version"] for r in (first, second, third)]
    assert versions == [1, 2, 3] and len(catalogue.solutions(sol1["event_id"])) == 3
    report = (second["run_dir"] / "report" / "index.html").read_text()
    assert "Refined from version 1" in report and "version 2: specfem3d" in report and "version 1: fk" in report
    # SPECFEM3D and FK in the same layers: the same moment tensor and moment
    assert sol3["starting_solution"]["change"]["kagan_deg"] < 5.0
    assert abs(sol3["mw"] - sol1["mw"]) < 0.05


def _mt(solution: dict) -> list[float]:
    return [solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]
