"""The cmt_inversion pipeline: run conf validation, DAG structure, stages without Airflow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmtflow import pipeline, stages
from cmtflow.runconf import ConfError, check_conf
from cmtflow.source import kagan_angle, read_cmtsolution, read_quakeml

ORIGIN_CONF = {"origin_time": "2024-03-10T12:00:00", "latitude": 46.0, "longitude": 8.0, "depth_km": 10.0,
               "magnitude": 4.3}


@pytest.mark.parametrize("change, message", [
    ({"n_params": 8}, "n_params: 8 is not one of [6, 7, 9]"),
    ({"tmin": "fast"}, "tmin: 'fast' is not of type 'null', 'number'"),
    ({"latitude": 95}, "latitude: 95 is greater than the maximum of 90"),
    ({"colour": "red"}, "colour: unknown run conf key"),
    ({"event_id": "abc"}, "event_id: give exactly one of event_id, quakeml or origin_time"),
    ({"magnitude": None}, "magnitude: required with origin_time"),
    ({"sds_path": None}, "sds_path: required when data_source is 'sds'"),
    ({"tmin": 60.0, "tmax": 50.0}, "tmin: must be smaller than tmax"),
    ({"dt": 10.0, "tmin": 15.0}, "dt: 10.0 s is too coarse for tmin 15.0 s"),
    ({"wait_for_stations": 4, "min_stations": 6}, "wait_for_stations: 4 is fewer than min_stations (6)"),
    ({"updates": 9}, "updates: 9 is greater than the maximum of 5"),
])
def test_bad_conf_is_refused_naming_the_key(change, message, sds_inputs):
    with pytest.raises(ConfError) as err:
        check_conf({**ORIGIN_CONF, **sds_inputs, **change})
    assert str(err.value).startswith(message)


def test_good_conf_gets_defaults(sds_inputs):
    full = check_conf({**ORIGIN_CONF, **sds_inputs})
    assert full["model"] == "auto" and full["tmin"] is None and full["n_params"] == 6 and full["compute_backend"] == "local"


def test_dag_structure_and_trigger_time_validation():
    pytest.importorskip("airflow")
    from airflow.sdk.exceptions import ParamValidationError

    from cmtflow.airflow.dags import SIMULATION_POOL, SIMULATION_POOL_SLOTS, cmt_inversion_dag

    with pytest.MonkeyPatch.context() as mp:  # a pool only where one is named (and created)
        mp.delenv("CMTFLOW_SIMULATION_POOL", raising=False)
        bare = cmt_inversion_dag().task_dict["simulations.simulate"]
        assert bare.pool == "default_pool" and bare.max_active_tis_per_dag == SIMULATION_POOL_SLOTS
        mp.setenv("CMTFLOW_SIMULATION_POOL", SIMULATION_POOL)
        dag = cmt_inversion_dag()
    assert dag.dag_id == "cmt_inversion"
    assert dag.task_dict["data.plan_update"].upstream_task_ids == {"data.fetch_waveforms"}  # not skipped with the rest
    assert set(dag.task_dict) == {
        "resolve_event", "data.select_stations", "data.wait_for_data", "data.fetch_waveforms", "data.enough_stations",
        "data.plan_preprocessing",
        "data.preprocess_observed", "simulations.plan_simulations", "simulations.plan_solver",
        "simulations.prepare_solver", "simulations.simulate",
        "simulations.plan_synthetics", "simulations.preprocess_synthetics",
        "inversion.measure_misfit", "inversion.invert_source", "publish_solution", "data.plan_update",
        "data.start_update", "plan_second_pass", "start_second_pass"}
    assert dag.task_dict["plan_second_pass"].upstream_task_ids == {"publish_solution", "resolve_event"}
    simulate = dag.task_dict["simulations.simulate"]
    assert simulate.pool == SIMULATION_POOL and "MappedOperator" in type(simulate).__name__  # .expand()
    assert all(t.execution_timeout is not None for t in dag.tasks)
    assert dag.task_dict["resolve_event"].retries == 3
    measure = dag.task_dict["inversion.measure_misfit"]
    assert {"data.preprocess_observed", "simulations.preprocess_synthetics"} <= measure.upstream_task_ids
    # the trigger form's sections and the trigger-time validation (Airflow's own, per key)
    assert dag.params.get_param("n_params").schema["section"] == "Inversion"
    import copy

    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError, match=r"Invalid input for param n_params: 8 is not one of \[6, 7, 9\]"):
        params.update({"n_params": 8})  # what a trigger with this conf does
        params.validate()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """The stages run directly (no Airflow) on a small generated scenario."""
    from cmtflow.demo import generate

    root = tmp_path_factory.mktemp("pipeline-home")
    scenario = generate(root / "scenario")
    return scenario, pipeline.run_all(scenario.conf(bootstrap=20), "direct", root), root


def test_stages_recover_the_demo_source(small_run):
    scenario, record, _ = small_run
    solution = json.loads((stages.Path(record["solution"]) / "solution.json").read_text())
    true = read_cmtsolution(scenario.truth)
    mt = [solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]
    assert kagan_angle(mt, true.mt) < 5.0 and abs(solution["mw"] - true.mw) < 0.05
    quakeml = read_quakeml(stages.Path(record["solution"]) / "solution.xml")
    assert np.allclose(quakeml.mt, mt, rtol=1e-6)
    report = stages.Path(record["report"]).read_text()
    assert "Centroid moment tensor: alaska2009" in report and "stations.png" in report
    assert (stages.Path(record["report"]).parent / "stations.png").is_file()


def test_the_answer_is_shown_with_its_uncertainties_and_one_defined_variance_reduction(small_run):
    import html

    from cmtflow.commands.common import answer_line
    from cmtflow.report.html import VR_DEFINITION

    _, record, _ = small_run
    solution = json.loads((stages.Path(record["solution"]) / "solution.json").read_text())
    unc, plane = solution["uncertainties"], solution["nodal_planes"][0]
    spread, c = unc["nodal_planes"][0], solution["centroid"]
    shown = [f"{solution['mw']:.2f} ± {unc['mw']:.2f}", f"{c['depth_km']:.2f} ± {unc['depth_km']:.1f} km",
             f"{solution['centroid']['time']} ± {unc['centroid_time_s']:.1f} s",
             f"{plane['strike']:.0f}/{plane['dip']:.0f}/{plane['rake']:.0f} (± {spread['strike']:.0f}/{spread['dip']:.0f}/"]
    report = stages.Path(record["report"]).read_text()
    for text in shown:
        assert text in report, text
    assert f"{100 * solution['variance_reduction']['plain']:.1f} %<sup>" in report
    assert html.escape(VR_DEFINITION) in report and "what the inversion minimises" in report
    line = answer_line(solution)
    assert f"Mw {solution['mw']:.2f} ± {unc['mw']:.2f}" in line and shown[-1] in line
    sims = json.loads((stages.Path(record["run_dir"]) / "simulations" / "plan.json").read_text())["variants"]
    assert [s["variant"] for s in sims] == ["initial", "Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp"]


def test_depth_search_synthetics_are_the_simulation_steps_own(small_run):
    """The depth scan recomputes synthetics in-process; at the run's own depth they must be
    the ones the 'cmtflow synth' and processing-graph steps made; and the search is in the
    solution and the report."""
    from cmtflow.inversion.depth import dataset_at_depth, scan_fmax
    from cmtflow.models import load_model

    _, record, _ = small_run
    run = stages.Path(record["run_dir"])
    conf = stages._conf(run)
    dataset, geometry = stages._dataset(run)
    points = {code: g.point() for code, g in geometry.items()}
    npts = json.loads((run / "simulations" / "plan.json").read_text())["npts"]
    again = dataset_at_depth(dataset, points, load_model(conf.model), dataset.source.depth_km,
                             stages._preprocess_config(conf, False), npts)
    for ch, ch2 in zip(dataset.channels, again.channels):
        for name in ("Mrr", "Mtp"):  # (Mrr radiates nothing on T: both exactly zero there)
            a = ch.dsyn[name]
            np.testing.assert_allclose(ch2.dsyn[name], a, rtol=0, atol=1e-4 * np.max(np.abs(a)), err_msg=ch.channel)
        np.testing.assert_allclose(ch2.syn, ch.syn, rtol=0, atol=1e-4 * np.max(np.abs(ch.syn)))
    # the scan's own, band-limited: within a few thousandths of the full band after processing
    fmax = scan_fmax(conf.tmin, conf.dt)
    assert fmax is not None and fmax < 0.5 / conf.dt
    scanned = dataset_at_depth(dataset, points, load_model(conf.model), dataset.source.depth_km,
                               stages._preprocess_config(conf, False), npts, fmax=fmax)
    worst = max(np.max(np.abs(b.syn - a.syn)) / np.max(np.abs(a.syn)) for a, b in zip(dataset.channels,
                                                                                      scanned.channels))
    assert 1e-6 < worst < 3e-3, worst
    solution = json.loads((run / "solution" / "solution.json").read_text())
    search = solution["depth_search"]
    # the 13 depths of the grid and up to 4 finer ones around the best; a stated uncertainty
    assert 13 < len(search["curve"]) <= 17 and search["range_km"][0] <= search["best_km"] <= search["range_km"][1]
    depths = [c["depth_km"] for c in search["curve"]]
    assert depths == sorted(depths) and 0 < search["uncertainty_km"] < 10
    assert solution["uncertainties"]["depth_km"] == search["uncertainty_km"]
    assert search["best_km"] == solution["centroid"]["depth_km"]
    assert "Depth search" in stages.Path(record["report"]).read_text()


def test_a_rerun_on_the_same_data_takes_the_kept_depth_scan(small_run):
    """The scan is kept under its inputs' key: invert_source again (the same data, windows and
    settings) takes the curve; any change of the data is another key."""
    from dataclasses import replace

    from cmtflow.inversion.scans import load_scan, scan_key, scan_path
    from cmtflow.misfit import Window
    from cmtflow.models import load_model

    _, record, root = small_run
    run = stages.Path(record["run_dir"])
    first = json.loads((run / "solution" / "solution.json").read_text())["depth_search"]
    key = first["scan_key"]
    assert first["reused_from_run"] is None and load_scan(key, root)["run"] == run.name
    stages.invert_source(run)
    again = json.loads((run / "solution" / "solution.json").read_text())["depth_search"]
    assert again["reused_from_run"] == run.name and again["curve"] == first["curve"]
    assert again["best_km"] == first["best_km"]

    conf = stages._conf(run)
    dataset, geometry = stages._dataset(run)
    points = {code: g.point() for code, g in geometry.items()}
    windows = [Window(w["channel"], w["start"], w["end"], w["kind"])
               for w in json.loads(stages.RunWorkspace.at(run).windows_file.read_text())["windows"]]
    args = (points, load_model(conf.model), stages._preprocess_config(conf, False), 1024, None, [10.0, 12.0],
            windows, "config", {})
    base = scan_key(dataset, *args)
    assert scan_key(dataset, *args) == base  # a function of its inputs
    ch = dataset.channels[3]
    changed = replace(dataset, channels=[*dataset.channels[:3], replace(ch, obs=ch.obs * (1 + 1e-9)),
                                         *dataset.channels[4:]])
    assert scan_key(changed, *args) != base
    assert scan_key(dataset, *args[:5], [10.0, 12.5], *args[6:]) != base
    damaged = scan_path("0" * 32, root)
    damaged.write_text("{not json")  # a damaged record is scanned again, not trusted
    assert load_scan("0" * 32, root) is None


def test_rerunning_a_stage_reproduces_it_and_touches_nothing_else(small_run):
    _, record, _ = small_run
    run = stages.Path(record["run_dir"])
    others = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file() and "solution" not in p.parts}
    before = json.loads((run / "solution" / "solution.json").read_text())
    stages.invert_source(run)
    after = json.loads((run / "solution" / "solution.json").read_text())
    assert after["moment_tensor_nm"] == before["moment_tensor_nm"]
    assert {p: p.stat().st_mtime_ns for p in others} == others


def test_the_run_folder_is_read_through_its_typed_layout(small_run):
    """Every file the stages wrote is where :class:`RunWorkspace` says, and the simulation
    plan reads back into its record class unchanged."""
    from cmtflow.errors import CmtflowError
    from cmtflow.workspace import RunWorkspace, SimulationPlan

    _, record, root = small_run
    ws = RunWorkspace.at(record["run_dir"])
    assert (ws.event_id, ws.run_id, ws.root) == ("alaska2009", "direct", root)
    for path in (ws.conf_file, ws.setup_file, ws.event_file, ws.initial_source, ws.station_metadata,
                 ws.selection_file, ws.raw_inventory, ws.stations_report, ws.processed_record, ws.stations_file,
                 ws.plan_file, ws.windows_file, ws.solution_record, ws.published, ws.report / "index.html"):
        assert path.is_file(), path
    plan = SimulationPlan.read(ws)
    assert SimulationPlan.from_dict(plan.as_dict()) == plan
    assert [v.variant for v in plan.variants] == ["initial", "Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp"]
    assert plan.variant("Mrr").step == pytest.approx(read_cmtsolution(ws.initial_source).m0)  # dM: the initial M0
    assert all((ws.simulation_store / v.key / "synthetics.json").is_file() for v in plan.variants)
    with pytest.raises(CmtflowError, match="'depth' is not in the simulation plan"):
        plan.variant("depth")

def test_a_second_run_reuses_every_simulation(small_run):
    scenario, _, root = small_run
    import time

    t = time.perf_counter()
    record = pipeline.run_all(scenario.conf(bootstrap=0), "again", root)
    print(f"second run {time.perf_counter() - t:.1f} s")
    run = stages.Path(record["run_dir"])
    reused = [json.loads((run / "simulations" / f"{v}.json").read_text())["reused"]
              for v in ("initial", "Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]
    assert all(reused)

    # the catalogue knows: 7 simulations, computed for the first run, reused by the second
    from cmtflow.catalogue import open_catalogue

    uses = open_catalogue(root).simulations(event_id="alaska2009")
    assert {(u["run_id"], u["reused"]) for u in uses} == {("direct", False), ("again", True)}
    assert len({u["key"] for u in uses}) == 7
    assert all(u["created_by_run"] == "direct" and u["state"] == "complete" for u in uses)
    from cmtflow.cli import main

    assert main(["--data-root", str(root), "catalogue", "simulations", "--event", "alaska2009", "--reused",
                 "yes", "--json"]) == 0


def test_a_run_started_from_the_published_solution_is_the_event_s_next_version(small_run):
    """``start_from: published``: the latest published solution (centroid, moment tensor,
    half duration) is the initial source; the solution records it and how far it moved;
    every earlier version stays in the catalogue."""
    from cmtflow.catalogue import open_catalogue
    from cmtflow.errors import CmtflowError

    scenario, _, root = small_run
    catalogue = open_catalogue(root)
    before = catalogue.solutions("alaska2009")  # newest first
    conf = scenario.conf(bootstrap=0, depth_search=False)
    record = pipeline.run_all({**conf, "start_from": "published"}, "refined", root)
    run = stages.Path(record["run_dir"])
    latest = stages.Path(before[0]["path"]) / "CMTSOLUTION"
    started = read_cmtsolution(run / "initial" / "CMTSOLUTION")
    assert np.allclose(started.mt, read_cmtsolution(latest).mt) and started.time == read_cmtsolution(latest).time
    solution = json.loads((run / "solution" / "solution.json").read_text())
    start = solution["starting_solution"]
    assert (start["run_id"], start["version"], start["solver"]) == (before[0]["run_id"], len(before), "fk")
    assert start["change"]["kagan_deg"] < 2.0 and abs(start["change"]["dmw"]) < 0.02  # it had converged
    assert record["version"] == len(before) + 1 and len(catalogue.solutions("alaska2009")) == len(before) + 1
    assert f"Refined from version {len(before)}" in stages.Path(record["report"]).read_text()
    with pytest.raises(CmtflowError, match="start_from: no solution of run 'nosuchrun' of event alaska2009"):
        stages.resolve_event({**conf, "start_from": "nosuchrun"}, "refused", root)


@pytest.mark.parametrize("change, reason", [
    # a screening no record passes: the processing keeps none, the run ends after it
    ({"min_snr": 1000.0}, "no solution: only 0 stations processed, at least 3 needed"),
    # no station inside the distance range: nothing is fetched
    ({"min_distance_km": 1.0, "max_distance_km": 2.0}, "no solution: 0 usable stations"),
])
def test_data_that_determine_no_source_end_the_run_as_no_solution(small_run, change, reason):
    """Not a failed run and not a product: the reason in the run's ``outcome.json`` and the
    catalogue state "no solution", as for too few stations by the deadline."""
    from cmtflow.catalogue import open_catalogue
    from cmtflow.workspace import RunWorkspace

    scenario, _, root = small_run
    run_id = f"none{len(change)}{next(iter(change))}"
    record = pipeline.run_all(scenario.conf(bootstrap=0, depth_search=False, **change), run_id, root)
    assert record["state"] == stages.NO_SOLUTION and record["reason"].startswith(reason), record
    ws = RunWorkspace.at(record["run_dir"])
    assert json.loads(ws.outcome_file.read_text())["reason"] == record["reason"]
    assert open_catalogue(root).run(run_id)["state"] == stages.NO_SOLUTION
    assert not ws.solution.exists() and not ws.report.exists()


def test_a_stage_that_finds_no_solution_skips_the_rest_of_the_dag_run():
    """In the DAG the "no solution" of a stage skips its task, and so every task after it
    (publish_solution included); any other error still fails it."""
    pytest.importorskip("airflow")
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from cmtflow.airflow.dags import fail_fast
    from cmtflow.errors import CmtflowError
    from cmtflow.inversion.cmt3d import UndeterminedError

    with pytest.raises(AirflowSkipException, match="no solution: no trial depth gave a solution"):
        with fail_fast():
            raise UndeterminedError("no trial depth gave a solution")
    with pytest.raises(AirflowFailException):
        with fail_fast():
            raise CmtflowError("a malformed file")


@pytest.mark.slow
def test_origin_times_with_milliseconds(tmp_path):
    """A catalogue time finer than a CMTSOLUTION's 10 ms (USGS gives milliseconds): data and
    synthetics still share one time axis (found by the load test: every such run failed)."""
    from obspy import UTCDateTime

    from cmtflow.demo import generate_sequence

    root = tmp_path / "home"
    sequence = generate_sequence(root / "sequence", [UTCDateTime("2024-05-01T10:00:12.345678")])
    conf = {"quakeml": str(sequence.quakeml), "data_source": "sds", "sds_path": str(sequence.sds),
            "inventory": str(sequence.inventory), "model": "scak", "max_distance_km": 400.0, "bootstrap": 0,
            "depth_search": False}  # the time axis is the point here, not the depth
    record = pipeline.run_all(conf, "milliseconds", root)
    solution = json.loads((stages.Path(record["solution"]) / "solution.json").read_text())
    true = read_cmtsolution(sequence.truth)
    mt = [solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]
    assert kagan_angle(mt, true.mt) < 10.0 and abs(solution["mw"] - true.mw) < 0.1
