"""A whole run of ``cmt_inversion`` without Airflow: every stage of :mod:`cmtflow.stages` called
in order in this process. The reference of the latency benchmark, the calibration's runner and
the tests' shortest path through the science; the DAG runs the same stage functions."""

from __future__ import annotations

from pathlib import Path

from cmtflow.errors import NoSolutionError
from cmtflow.stages import (NO_SOLUTION, fetch_waveforms, invert_source, measure_misfit, plan_simulations,
                            preprocess_observed, preprocess_synthetics, publish_solution, resolve_event, run_steps,
                            second_pass_runs, select_stations, solver_steps, wait_for_data)
from cmtflow.workspace import RunWorkspace, read_json


def run_all(conf: dict, run_id: str, root: str | Path | None = None, backend=None) -> dict:
    """All stages in order in this process (no Airflow): the reference for the DAG benchmark;
    a second pass (:func:`second_pass_runs`) follows its first, as the DAG triggers it. Returns
    the last pass's published record (with ``passes``: the run ids)."""
    record = _run_all_once(conf, run_id, root, backend)
    if record.get("state") == NO_SOLUTION:
        return {**record, "passes": [run_id]}
    again = second_pass_runs(record["run_dir"], conf)
    if not again:
        return {**record, "passes": [run_id]}
    second = _run_all_once(again[0]["conf"], again[0]["trigger_run_id"], root, backend)
    return {**second, "passes": [run_id, again[0]["trigger_run_id"]]}


def _run_all_once(conf: dict, run_id: str, root: str | Path | None = None, backend=None) -> dict:
    first = resolve_event(conf, run_id, root)
    run_dir = first["run_dir"]
    select_stations(run_dir)
    wait_for_data(run_dir)
    if not fetch_waveforms(run_dir)["solvable"]:
        return {"run_dir": run_dir, "state": NO_SOLUTION, **read_json(RunWorkspace.at(run_dir).outcome_file)}
    try:
        return invert_fetched(run_dir, backend)
    except NoSolutionError:  # recorded by the stage
        return {"run_dir": run_dir, "state": NO_SOLUTION, **read_json(RunWorkspace.at(run_dir).outcome_file)}


def invert_fetched(run_dir: str | Path, backend=None) -> dict:
    """The stages after the fetch, in order in this process: the published record."""
    preprocess_observed(run_dir, backend)
    simulations = plan_simulations(run_dir)
    run_steps(solver_steps(run_dir), backend)
    run_steps(simulations, backend)
    preprocess_synthetics(run_dir, backend)
    measure_misfit(run_dir)
    invert_source(run_dir)
    return publish_solution(run_dir)
