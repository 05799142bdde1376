"""The ten stages of ``cmt_inversion`` as plain functions (docs/running.md lists them with their products).

Each stage reads what earlier stages left in the run workspace, writes its own products
there (atomically, so a rerun replaces only its own outputs) and returns a small JSON-able
summary; Airflow tasks call these and pass paths, never data. The containerised stages
(preprocessing, simulation) are declared as :class:`~cmtflow.steps.ContainerStep`
command lines of the ``cmtflow`` CLI and run by a compute backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from cmtflow.catalogue import open_catalogue
from cmtflow.config import data_root, input_roots, settings
from cmtflow.data.run_data import fetch_config, selection_config, station_metadata, waveform_archive
from cmtflow.data.station_set import StationSet
from cmtflow.errors import CmtflowError, NoSolutionError
from cmtflow.runconf import RunConf
from cmtflow.steps import ContainerStep, LocalBackend, process
from cmtflow.inversion.simulations import DLATLON_DEG
from cmtflow.steps.solvers import VariantJob, solver_for
from cmtflow.source import magnitude_to_moment, read_cmtsolution, write_cmtsolution
from cmtflow.workspace import (PROCESSED_RECORD, SYNTHETICS_MANIFEST, PlannedVariant, RunWorkspace, SimulationPlan,
                               VariantRecord, check_free_space, copy_folder, read_json, simulation_key,
                               write_atomic, write_json_atomic)

log = logging.getLogger(__name__)


def _conf(run_dir: Path) -> RunConf:
    """The run's conf (``conf.json``: checked at trigger time, the set-up filled in)."""
    return RunConf.from_dict(read_json(RunWorkspace.at(run_dir).conf_file))


def _preprocess_config(conf: RunConf, remove_response: bool):
    from cmtflow.processing.preprocess import PreprocessConfig

    return PreprocessConfig(conf.tmin, conf.tmax, conf.dt, remove_response=remove_response)


# ----------------------------------------------------------------------------- 1
def resolve_event(conf: dict, run_id: str, root: str | Path | None = None) -> dict:
    """Validate the conf, find the event, fill the set-up the conf leaves empty
    (:mod:`cmtflow.inversion.setup`: ``conf.json`` holds the resolved values, ``setup.json``
    why each was chosen), create the run workspace, write the initial source."""
    from cmtflow.data.events import earthquake_from_origin, fetch_earthquake, read_earthquake
    from cmtflow.data.services import ServiceConfig
    from cmtflow.inversion.setup import SETUP_KEYS, event_setup
    from cmtflow.inversion.versions import published_solution, starting_record, version_of
    from cmtflow.inversion.versions import starting_source as published_source

    conf = RunConf.checked(conf, input_roots(root))
    if conf.event_id:
        quake = fetch_earthquake(conf.event_id, ServiceConfig.from_env(conf.event_service))
    elif conf.quakeml:
        quake = read_earthquake(conf.quakeml)
    else:
        quake = earthquake_from_origin(conf.origin_time, conf.latitude, conf.longitude, conf.depth_km,
                                       conf.magnitude)
    if conf.magnitude_type:
        quake = replace(quake, magnitude_type=conf.magnitude_type)
    setup = event_setup(conf, quake.latitude, quake.longitude, quake.magnitude, quake.magnitude_type)
    conf = conf.with_values(**{key: getattr(setup, key) for key in SETUP_KEYS})
    base = Path(root) if root is not None else data_root()
    catalogue = open_catalogue(base)
    start, source = None, starting_source(quake, setup)
    first_pass = _first_pass(catalogue, conf.first_pass_run) if conf.first_pass_run else None
    if first_pass:  # a second pass: the first one's mechanism, at the moment of its inverted Mw
        source = replace(source, mt=np.array(first_pass.pop("moment_tensor_nm")))
    elif conf.setup_mw is not None and quake.moment_tensor is None:
        source = source.with_mt(source.mt * magnitude_to_moment(conf.setup_mw) / source.m0)
    if conf.start_from:  # a published solution of this event, refined (e.g. 1D -> 3D)
        row = published_solution(catalogue, quake.event_id, conf.start_from)
        start = starting_record(row, version_of(catalogue, quake.event_id, row["run_id"]))
        source = published_source(row, source.hypocenter)
    source = solver_for(conf).solvable(source, conf)
    check_free_space(base, settings.min_free_mb)
    ws = RunWorkspace.create(quake.event_id, run_id, base)
    write_json_atomic(ws.conf_file, conf.as_dict())
    write_json_atomic(ws.setup_file, {**setup.as_dict(), **({"first_pass": first_pass} if first_pass else {})})
    if start:
        write_json_atomic(ws.starting_solution, start)
    ws.initial_source.parent.mkdir(exist_ok=True)
    write_cmtsolution(source, ws.initial_source)
    write_json_atomic(ws.event_file, quake.as_dict())
    catalogue.record_event(quake.as_dict())
    catalogue.start_run(run_id, quake.event_id, conf.as_dict(), str(ws.path))
    return {"run_dir": str(ws.path), "event_id": quake.event_id, "time": str(quake.time),
            "latitude": quake.latitude, "longitude": quake.longitude, "depth_km": quake.depth_km,
            "magnitude": quake.magnitude, "initial_mw": round(source.mw, 3),
            "started_from": start and {"run_id": start["run_id"], "version": start["version"]},
            "setup": {key: getattr(setup, key) for key in SETUP_KEYS}}


def _first_pass(catalogue, run_id: str) -> dict:
    """What a second pass records of its first: the run, its set-up (Mw, band, dt, distances,
    model), its inverted Mw, mechanism and grade, and why the set-up was made again."""
    row = catalogue.run(run_id)
    if row is None:
        raise CmtflowError(f"first_pass_run: no run {run_id!r} in the catalogue")
    first = RunWorkspace.at(row["run_dir"])
    if not first.solution_record.is_file():
        raise CmtflowError(f"first_pass_run: run {run_id} has no solution ({first.solution_record})")
    from cmtflow.inversion.setup import first_pass_record

    setup, solution = read_json(first.setup_file), read_json(first.solution_record)
    return {**first_pass_record(run_id, setup, solution["mw"], solution["quality"]["grade"],
                                solution.get("second_pass", {}).get("reason", "")),
            "nodal_planes": solution["nodal_planes"], "moment_tensor_nm": list(solution["moment_tensor_nm"].values())}


def starting_source(quake, setup):
    """The initial source with the set-up's half duration, its centroid ``centroid_delay_s``
    after the catalogue hypocentre (which the CMTSOLUTION keeps on its first line)."""
    from cmtflow.data.events import initial_source
    from cmtflow.source import Hypocenter

    source = initial_source(quake)
    hypocentre = Hypocenter(quake.time, quake.latitude, quake.longitude, quake.depth_km, round(quake.magnitude, 1),
                            round(quake.magnitude, 1), "", "PDE")
    return replace(source, time=quake.time + setup.centroid_delay_s, half_duration=setup.half_duration_s,
                   hypocenter=hypocentre)


def _quake(run_dir: Path):
    from cmtflow.data.events import Earthquake

    return Earthquake.from_dict(read_json(RunWorkspace.at(run_dir).event_file))


# ----------------------------------------------------------------------------- 2
def select_stations(run_dir: str | Path) -> dict:
    """Station metadata (service query or files, merged) and the selection, into ``stations/``."""
    from cmtflow.data.selection import select_stations as select

    run_dir = Path(run_dir)
    conf, quake = _conf(run_dir), _quake(run_dir)
    config = selection_config(conf)
    metadata = station_metadata(conf, quake, config)
    inventory = metadata.inventory
    selection = select(inventory, quake, config)
    for code, reason in metadata.problems.items():
        selection.dropped.setdefault(code, reason)
    ws = RunWorkspace.at(run_dir)
    write_atomic(ws.station_metadata, lambda tmp: inventory.write(tmp, format="STATIONXML"))
    write_json_atomic(ws.metadata_notes, {"notes": metadata.notes, "sources": metadata.sources})
    write_json_atomic(ws.selection_file, {
        "stations": [s.as_dict() for s in selection.stations],
        "alternates": {k: [s.as_dict() for s in v] for k, v in selection.alternates.items()},
        "dropped": selection.dropped})
    return {"selected": len(selection.stations), "dropped": len(selection.dropped)}


def _selection(run_dir: Path):
    from cmtflow.data.selection import SelectedStation, Selection

    record = read_json(RunWorkspace.at(run_dir).selection_file)
    station = SelectedStation.from_dict
    return Selection([station(d) for d in record["stations"]], dict(record["dropped"]),
                     {k: [station(d) for d in v] for k, v in record["alternates"].items()})


# ----------------------------------------------------------------------------- 3
def data_arrival(run_dir: str | Path, now=None) -> dict:
    """Which selected stations' data are at the archive now (:func:`cmtflow.data.arrivals.probe`),
    recorded in ``stations/arrivals.json``, and whether the run can fetch: when the stations in
    are enough for a first solution (``wait_for_stations``, by count and azimuth), or the
    deadline (``data_deadline_s`` after the origin) has passed. An alert arrives minutes after
    the origin, before the surface waves have reached the farther stations, and each network's
    data come with its own latency: the run fetches as soon as it has enough, and the rest come
    in updates (:func:`update_runs`). An earthquake of the past is not waited for.

    :returns: ``ready``, ``reason``, ``arrived``, ``stations``, ``deadline`` and ``next_look``
        (when to ask again, ISO).
    """
    from obspy import UTCDateTime

    from cmtflow.data.arrivals import Arrivals, first_solution_ready, next_look, probe

    run_dir = Path(run_dir)
    conf, quake, ws = _conf(run_dir), _quake(run_dir), RunWorkspace.at(run_dir)
    stations, config = _selection(run_dir).stations, fetch_config(conf)
    now = UTCDateTime(now) if now is not None else UTCDateTime()
    deadline = quake.time + config.deadline_s
    record = Arrivals.from_dict(read_json(ws.arrivals_file)) if ws.arrivals_file.is_file() else Arrivals()
    record.deadline = str(deadline)
    if now < deadline:
        out = [s for s in stations if s.code not in record.arrived]
        record.arrived.update({code: str(now) for code in probe(waveform_archive(conf), quake, out, config.checks,
                                                                 now)})
        record.checked_at = str(now)
    ready, reason = first_solution_ready(set(record.arrived), stations, conf.wait_for_stations)
    if not ready and now >= deadline:
        ready, reason = True, f"the deadline {deadline} has passed: {reason}"
    write_json_atomic(ws.arrivals_file, record.as_dict())
    look = next_look(quake, stations, set(record.arrived), config.checks, now, config.latency_s, settings.data_poll_s,
                     deadline)
    return {"ready": ready, "reason": reason, "arrived": len(record.arrived), "stations": len(stations),
            "deadline": str(deadline), "next_look": str(look)}


def wait_for_data(run_dir: str | Path, clock=None, sleep=None) -> dict:
    """Wait in this process until :func:`data_arrival` says the run can fetch (the DAG waits
    deferred instead, :class:`cmtflow.airflow.sensors.DataArrivalSensor`); its last answer.

    :param clock: the time now (``UTCDateTime`` now by default); ``sleep``: waits seconds."""
    import time

    from obspy import UTCDateTime

    clock, sleep = clock or UTCDateTime, sleep or time.sleep
    while not (status := data_arrival(run_dir, now=clock()))["ready"]:
        log.info("%s; next look at %s", status["reason"], status["next_look"])
        sleep(max(1.0, UTCDateTime(status["next_look"]) - clock()))
    return status


def _not_arrived(run_dir: Path, stations) -> set[str] | None:
    """The stations the last look at the archive did not find in (None: nobody looked, or the
    deadline had passed when it did: nothing is waited for)."""
    from obspy import UTCDateTime

    ws = RunWorkspace.at(run_dir)
    if not ws.arrivals_file.is_file():
        return None
    record = read_json(ws.arrivals_file)
    if not record.get("checked_at") or UTCDateTime(record["checked_at"]) >= UTCDateTime(record["deadline"]):
        return set()
    return {s.code for s in stations} - set(record["arrived"])


#: The suffix of an update's run id, before its number: ``<first run id>.update2``.
UPDATE_SUFFIX = ".update"


def update_runs(run_dir: str | Path, run_id: str, params: dict) -> list[dict]:
    """The run that makes the event's next version, as ``[{"trigger_run_id", "conf"}]``, or
    ``[]``: one is due when the fetch asked stations before their data were due at the data
    centre (``stations.json``'s ``pending``) and ``updates`` allows another. It has the same
    settings (``params``, the conf as given), waits (deferred) for twice as many stations
    (the last update for all of them), and inverts independently of this run, which goes on
    with the stations it has: its solution is the next version, with its own grade. Its run
    id is this one's with ``.update<n>``: a repeated trigger starts nothing."""
    import re

    from cmtflow.runconf import KEYS

    run_dir = Path(run_dir)
    ws, conf = RunWorkspace.at(run_dir), _conf(run_dir)
    pending = StationSet.read(ws.stations_report).pending
    if not pending or conf.updates <= 0:
        return []
    left = conf.updates - 1
    waits_for = 0 if left == 0 else min(2 * conf.wait_for_stations, KEYS["wait_for_stations"].schema["maximum"])
    log.info("%d stations are still pending (%s): an update waits for %s", len(pending),
             ", ".join(p["station"] for p in pending), f"{waits_for} stations" if waits_for else "all stations")
    numbered = re.fullmatch(rf"(.*){re.escape(UPDATE_SUFFIX)}(\d+)", run_id)
    base, n = (numbered.group(1), int(numbered.group(2))) if numbered else (run_id, 0)
    update = {**{k: v for k, v in params.items() if k in KEYS}, "updates": left, "wait_for_stations": waits_for}
    return [{"trigger_run_id": f"{base}{UPDATE_SUFFIX}{n + 1}", "conf": update}]


def fetch_waveforms(run_dir: str | Path, now=None) -> dict:
    """Raw miniSEED + StationXML into ``raw/``, the reasons into ``stations.json``.

    Too few usable stations is not an error that a retry mends unless the data centre failed
    to answer: the run ends without a solution (:func:`record_no_solution`), ``solvable``
    False, and an update takes up the stations still pending (:func:`update_runs`)."""
    import obspy
    from obspy import UTCDateTime

    from cmtflow.data.fetch import TooFewStationsError
    from cmtflow.data.fetch import fetch_waveforms as fetch

    run_dir = Path(run_dir)
    conf, quake = _conf(run_dir), _quake(run_dir)
    config = fetch_config(conf)
    ws = RunWorkspace.at(run_dir)
    inventory = obspy.read_inventory(str(ws.station_metadata))
    selection = _selection(run_dir)
    now = UTCDateTime(now) if now is not None else UTCDateTime()
    solvable = True
    try:
        report = fetch(quake, selection, inventory, waveform_archive(conf), ws, config, now=now,
                       not_arrived=_not_arrived(run_dir, selection.stations))
    except TooFewStationsError as exc:
        if exc.report is None or (exc.retriable and exc.report.unserved and not exc.report.pending):
            raise  # the data centre failed to answer and nothing waits for it: the task's retries ask again
        report, solvable = exc.report, False
        waiting = f"; {len(report.pending)} stations pending until {quake.time + config.deadline_s}" \
            if report.pending else ""
        record_no_solution(run_dir, f"no solution: {len(report.used)} usable stations by {now} (at least "
                                    f"{conf.min_stations} needed){waiting}", len(report.used), len(report.pending))
    return {"used": len(report.used), "reused": len(report.reused), "dropped": len(report.dropped),
            "pending": len(report.pending), "solvable": solvable}


#: The catalogue state of a run that ended without a solution (too few stations).
NO_SOLUTION = "no solution"


def record_no_solution(run_dir: str | Path, reason: str, stations: int, pending: int) -> None:
    """A run that ends without a solution says so: ``outcome.json`` in its folder and the
    catalogue's run state :data:`NO_SOLUTION`, instead of a failed run or silence."""
    from obspy import UTCDateTime

    ws = RunWorkspace.at(run_dir)
    write_json_atomic(ws.outcome_file, {"state": NO_SOLUTION, "reason": reason, "stations": stations,
                                        "pending": pending, "at": str(UTCDateTime())})
    log.warning("%s", reason)
    catalogue = open_catalogue(ws.root)
    if catalogue.run(ws.run_id) is not None:
        catalogue.finish_run(ws.run_id, NO_SOLUTION)


@contextmanager
def ends_without_solution(run_dir: str | Path):
    """A stage whose data cannot determine a source (:class:`NoSolutionError`: too few
    stations processed, too few windows at every trial depth) records the run as "no
    solution" with the reason (:func:`record_no_solution`) before the error goes on: the
    caller ends the run there (the DAG skips the rest) instead of failing it."""
    try:
        yield
    except NoSolutionError as exc:
        ws = RunWorkspace.at(run_dir)
        stations = len(StationSet.read(ws.stations_report).used) if ws.stations_report.is_file() else 0
        record_no_solution(run_dir, f"no solution: {exc}", stations, 0)
        raise


# ----------------------------------------------------------------------------- 4
def run_steps(steps: list[dict], backend=None) -> None:
    """Run container steps (dicts of :class:`ContainerStep`) with ``backend`` (local by default)."""
    runner = backend or LocalBackend()
    for step in steps:
        runner.run(ContainerStep.from_dict(step))


def observed_steps(run_dir: str | Path) -> list[dict]:
    """The step preprocessing the observed data (one, as a list like the other step lists)."""
    conf, ws = _conf(Path(run_dir)), RunWorkspace.at(run_dir)
    command = process.observed_command(Path(run_dir), (conf.tmin, conf.tmax), conf.dt, conf.processes,
                                       conf.min_snr)
    return [ContainerStep("preprocess-observed", "cmtflow", command,
        inputs=(str(ws.path / "raw"), str(ws.stations_report)), outputs=(str(ws.processed_record.parent),),
        resources=STEP_RESOURCES["preprocess"]).to_dict()]


def preprocess_observed(run_dir: str | Path, backend=None) -> dict:
    run_steps(observed_steps(run_dir), backend)
    return processed_summary(RunWorkspace.at(run_dir).processed_record)


def processed_summary(record_file: Path) -> dict:
    record = read_json(record_file)
    return {"processed": len(record["stations"]), "failed": len(record["failed"])}


# ----------------------------------------------------------------------------- 5
#: Requests/limits of the container steps (Kubernetes); the local backend ignores them.
STEP_RESOURCES = {"preprocess": {"cpu": "2", "memory": "2Gi"}}


def plan_simulations(run_dir: str | Path) -> list[dict]:
    """The CMT3D source set, one CMTSOLUTION each, with content keys (and, for SPECFEM3D, the
    run folders); returns the simulation steps."""
    from cmtflow.inversion.simulations import plan_source_set

    run_dir = Path(run_dir)
    ws, conf = RunWorkspace.at(run_dir), _conf(run_dir)
    initial = read_cmtsolution(ws.initial_source)
    used = sorted(StationSet.read(ws.stations_report).used, key=lambda u: u.code)
    stations = [{"network": p.network, "station": p.station, "latitude": p.latitude, "longitude": p.longitude,
                 "elevation_m": p.elevation_m} for p in (u.point() for u in used)]
    solver = solver_for(conf)
    left_out = solver.left_out(conf, stations)
    stations = [s for s in stations if f"{s['network']}.{s['station']}" not in left_out]
    if left_out and len(stations) < conf.min_stations:
        raise CmtflowError(f"only {len(stations)} of {len(used)} stations can be simulated ({len(left_out)} left out: "
                           f"{'; '.join(f'{c}: {why}' for c, why in sorted(left_out.items()))}); min_stations is "
                           f"{conf.min_stations}")
    lines = [f"{s['station']} {s['network']} {s['latitude']:.6f} {s['longitude']:.6f} {s['elevation_m']:.1f} 0.0"
             for s in stations]
    stations_text = "\n".join(lines) + "\n"
    folder = ws.simulations
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    ws.stations_file.write_text(stations_text)
    seconds = _preprocess_config(conf, False).synthetic_seconds(max(u.distance_km for u in used
                                                                    if u.code not in left_out))
    if conf.half_duration_search:  # the duration is applied and searched in the inversion
        initial = replace(initial, half_duration=0.0)
    variants = plan_source_set(initial, conf.n_params, solver.depth_step_km(conf, initial.depth_km), DLATLON_DEG)
    setup = solver.plan(run_dir, conf, {v.name: v.source for v in variants}, stations, seconds)
    planned = []
    for v in variants:
        path = write_cmtsolution(v.source, folder / f"CMTSOLUTION.{v.name}")
        key = simulation_key(setup.solver, setup.version, setup.model_id, path.read_text(), stations_text, setup.dt,
                             setup.npts)
        planned.append(PlannedVariant(v.name, key, v.step, path.name))
    # the simulations' own sampling: SPECFEM3D's time step and NSTEP, the embedded solver's dt and npts
    plan = SimulationPlan(setup.solver, setup.version, setup.model_label, setup.dt, setup.npts, tuple(planned),
                          left_out)
    write_json_atomic(ws.plan_file, plan.as_dict())
    return [step.to_dict() for step in simulate_steps(run_dir, [p.variant for p in planned
                                                                if not _reuse_planned(ws, p)])]


def _reuse_planned(ws: RunWorkspace, entry: PlannedVariant) -> bool:
    """A complete catalogued simulation needs no step: record its reuse now."""
    catalogue = open_catalogue(ws.root)
    row = catalogue.simulation(entry.key)
    path = ws.simulation_store / entry.key
    if row is None or row["state"] != "complete" or not (path / SYNTHETICS_MANIFEST).is_file():
        return False
    catalogue.link(ws.run_id, entry.key, entry.variant, True)
    VariantRecord(entry.variant, entry.key, str(path), True, row["created_by_run"]).write(
        ws.variant_record(entry.variant))
    return True


def solver_steps(run_dir: str | Path) -> list[dict]:
    """Steps once per model before the simulations (SPECFEM3D's mesh and databases)."""
    run_dir = Path(run_dir)
    ws, conf = RunWorkspace.at(run_dir), _conf(run_dir)
    if all(ws.variant_record(v.variant).is_file() for v in SimulationPlan.read(ws).variants):
        return []  # every simulation reused: nothing to mesh
    return [step.to_dict() for step in solver_for(conf).prepare_steps(run_dir, conf)]


# ----------------------------------------------------------------------------- 6
def simulate_steps(run_dir: str | Path, variants: list[str]) -> list[ContainerStep]:
    """The steps simulating ``variants`` into their content-addressed folders (the solver
    decides how many); a step does nothing for a complete folder (a reused simulation) and
    records which it was in ``simulations/<variant>.json``."""
    run_dir = Path(run_dir)
    ws, conf = RunWorkspace.at(run_dir), _conf(run_dir)
    plan = SimulationPlan.read(ws)
    jobs = [VariantJob(v, ws.simulations / plan.variant(v).cmtsolution, ws.simulation_store / plan.variant(v).key,
                       ws.variant_record(v)) for v in variants]
    return solver_for(conf).simulate_steps(run_dir, conf, plan, jobs, ws.root)


def simulation_record(run_dir: str | Path, variant: str) -> dict:
    record = VariantRecord.read(RunWorkspace.at(run_dir).variant_record(variant))
    return {"variant": variant, "key": record.key, "path": record.path, "reused": record.reused,
            "reused_from_run": record.reused_from_run}


# ----------------------------------------------------------------------------- 7
def _processing_id(conf: RunConf, spans: dict) -> str:
    """The processing of synthetics depends on these settings only (with the simulation):
    the processing configuration and the spans of the records they are cut to."""
    cfg = _preprocess_config(conf, False).as_dict()
    return hashlib.sha256(json.dumps([cfg, spans], sort_keys=True).encode()).hexdigest()[:12]


def synthetic_steps(run_dir: str | Path) -> list[dict]:
    """The preprocessing of the plan's simulations (the observed data's graph, no response):
    one step per simulation where each is a simulation of its own (SPECFEM3D), one step for
    all where one step made them (the embedded solver). Each station's synthetics are cut to
    the spans its records cover (``stations.json``) before they are filtered, as the data are.
    The processed synthetics are also kept in the simulation's folder (``processed-<hash of
    the settings and spans>``): a later run with the same simulation, processing and record
    spans copies them instead of running a step."""
    from cmtflow.processing.tasks import record_spans

    run_dir = Path(run_dir)
    ws, conf = RunWorkspace.at(run_dir), _conf(run_dir)
    proc_id = _processing_id(conf, record_spans(ws.stations_report))
    pending = []  # (variant, simulation folder, output folder, kept copy)
    for entry in SimulationPlan.read(ws).variants:
        sim = ws.simulation_store / entry.key
        out = ws.synthetics(entry.variant)
        kept = sim / f"processed-{proc_id}"
        if (kept / PROCESSED_RECORD).is_file():
            copy_folder(kept, out)
            continue
        pending.append((entry.variant, sim, out, kept))
    if not pending:
        return []
    groups = [pending] if solver_for(conf).one_step else [[p] for p in pending]
    steps = []
    for group in groups:
        command = process.synthetics_command([(sim, out, kept) for _, sim, out, kept in group],
                                             (conf.tmin, conf.tmax), conf.dt, conf.min_stations,
                                             ws.stations_report)
        name = "preprocess-synthetics-" + (group[0][0] if len(group) == 1 else "all")
        steps.append(ContainerStep(name, "cmtflow", command,
                                   inputs=tuple(str(g[1]) for g in group) + (str(ws.stations_report),),
                                   outputs=tuple(str(p) for g in group for p in g[2:]),
                                   resources=STEP_RESOURCES["preprocess"]).to_dict())
    return steps


def preprocess_synthetics(run_dir: str | Path, backend=None) -> dict:
    run_steps(synthetic_steps(run_dir), backend)
    return {"variants": len(SimulationPlan.read(RunWorkspace.at(run_dir)).variants)}


# ----------------------------------------------------------------------------- 8, 9
def _dataset(run_dir: Path):
    from cmtflow.inversion.simulations import Variant, dataset_from_folders

    ws = RunWorkspace.at(run_dir)
    plan = SimulationPlan.read(ws)
    variants = [Variant(p.variant, read_cmtsolution(ws.simulations / p.cmtsolution), p.step) for p in plan.variants]
    geometry = {u.code: u for u in StationSet.read(ws.stations_report).used if u.code not in plan.left_out}
    return dataset_from_folders(ws.processed_record.parent, {v.name: ws.synthetics(v.name) for v in variants},
                                variants, geometry, left_out=plan.left_out), geometry


def measure_misfit(run_dir: str | Path) -> dict:
    """Windows (FLEXWIN or arrival times) and their measurements against the initial synthetics."""
    from cmtflow.misfit import MeasureConfig, measure_window
    from cmtflow.misfit.windows import channel_windows, clip_to_record, use_flexwin
    from cmtflow.models import load_model
    from cmtflow.processing.preprocess import EXTEND_RAMP_S
    from cmtflow.solvers.traveltimes import first_arrival

    run_dir = Path(run_dir)
    conf = _conf(run_dir)
    record_file = RunWorkspace.at(run_dir).processed_record
    with ends_without_solution(run_dir):
        processed = processed_summary(record_file)
        if processed["processed"] < conf.min_stations:
            raise NoSolutionError(f"only {processed['processed']} stations processed, at least {conf.min_stations} "
                                  f"needed ({processed['failed']} failed: reasons in {record_file})")
    dataset, geometry = _dataset(run_dir)
    model = load_model(conf.model)
    source = dataset.source
    flexwin = use_flexwin(conf.picker)
    records, left_out, components = [], [], {}
    for ch in dataset.channels:
        g = geometry[ch.station]
        tp = float(first_arrival(model.thickness, model.vp, source.depth_km, [ch.distance_km])[0])
        ts = float(first_arrival(model.thickness, model.vs, source.depth_km, [ch.distance_km])[0])
        kept = 0
        for picked in channel_windows(ch.channel, ch.obs, ch.syn, ch.t0, ch.dt, source,
                                      (g.latitude, g.longitude), ch.distance_km, tp, ts, conf.tmin,
                                      conf.tmax, flexwin):
            w, note = clip_to_record(picked, ch.span, conf.tmin, conf.tmax, EXTEND_RAMP_S)
            if w is None:
                left_out.append({"channel": picked.channel, "start": picked.start, "end": picked.end,
                                 "kind": picked.kind, "reason": note})
                continue
            kept += 1
            m = measure_window(ch.obs, ch.syn, ch.t0, ch.dt, w.start, w.end, MeasureConfig())
            records.append({"channel": w.channel, "start": w.start, "end": w.end, "kind": w.kind,
                            "shift_s": m.shift_s, "cc": m.cc, "dlna": m.dlna,
                            "misfit": m.misfit if np.isfinite(m.misfit) else None,
                            "accepted": m.accepted, "reason": m.reason, **({"note": note} if note else {})})
        if not kept:
            components[ch.channel] = "no window inside the record"
    write_json_atomic(RunWorkspace.at(run_dir).windows_file, {
        "picker": "flexwin" if flexwin else "phases", "windows": records, "left_out": left_out,
        "components_left_out": components})
    return {"windows": len(records), "accepted_initially": sum(r["accepted"] for r in records),
            "outside_records": len(left_out)}


def invert_source(run_dir: str | Path) -> dict:
    """CMT3D on the measured windows; the solution products into ``solution/``. Data that
    determine no source end the run as "no solution" (:func:`ends_without_solution`)."""
    with ends_without_solution(run_dir):
        return _invert_source(Path(run_dir))


def _invert_source(run_dir: Path) -> dict:
    from cmtflow.inversion import InversionConfig
    from cmtflow.inversion.bootstrap import uncertainties
    from cmtflow.inversion.centroid_search import search_centroid
    from cmtflow.report.publish import write_products
    from cmtflow.inversion.quality import predictors
    from cmtflow.inversion.screening import invert_screened
    from cmtflow.inversion.setup import second_pass, station_warnings
    from cmtflow.inversion.versions import compare, read_starting_record
    from cmtflow.misfit import Window

    conf = _conf(run_dir)
    dataset, _ = _dataset(run_dir)
    windows = [Window(w["channel"], w["start"], w["end"], w["kind"])
               for w in read_json(RunWorkspace.at(run_dir).windows_file)["windows"]]
    # the inversions themselves repeat nothing: the uncertainty is the bootstrap of re-inversions below
    config = InversionConfig(n_params=conf.n_params, double_couple=conf.double_couple, bootstrap=0,
                             max_time_shift=conf.time_shift_search_s, shortest_period_s=conf.tmin)
    extra = {"run_conf": conf.as_dict(), "setup": read_json(RunWorkspace.at(run_dir).setup_file)}
    candidates = None
    if conf.depth_search:
        ws = RunWorkspace.at(run_dir)
        dataset, windows, extra["depth_search"], durations, candidates = search_centroid(
            conf, dataset, windows, config, _station_points(ws), SimulationPlan.read(ws).npts,
            _preprocess_config(conf, False), ws.root, run_dir.name)
        if durations:
            extra["half_duration_search"] = durations
    if conf.half_duration_search:
        from cmtflow.inversion.duration import search_half_duration, with_half_duration

        if "half_duration_search" in extra:  # searched with the depth: the best pair's duration
            best = max((c for c in extra["half_duration_search"] if c.get("variance_reduction") is not None),
                       key=lambda c: c["variance_reduction"])
            dataset = with_half_duration(dataset, best["half_duration_s"])
            result = invert_screened(dataset, windows, config)
        else:
            result, extra["half_duration_search"] = search_half_duration(dataset, windows, config,
                                                                         conf.half_duration_s)
            dataset = with_half_duration(dataset, result.source.half_duration)
    else:
        result = invert_screened(dataset, windows, config)
    extra["uncertainties"] = uncertainties(result, dataset, windows, config, conf.bootstrap, candidates,
                                           conf.half_duration_search, extra.get("depth_search"))
    start = read_starting_record(run_dir)
    if start:  # the solution this run refines, and how far it moved from it
        extra["starting_solution"] = {**start, "change": compare(start, result.source)}
    quake = _quake(run_dir)
    distances = [u.distance_km for u in StationSet.read(RunWorkspace.at(run_dir).stations_report).used]
    extra["warnings"] = extra["setup"].get("warnings", []) + station_warnings(conf.tmin, distances,
                                                                               conf.min_stations)
    again = second_pass(extra["setup"], conf, quake.latitude, quake.longitude, result.source.mw)
    if again:
        extra["second_pass"] = {**again, "run_id": f"{run_dir.name}{SECOND_PASS_SUFFIX}"}
        extra["warnings"].append(
            f"set up again: {again['reason']}; the second pass (run {run_dir.name}{SECOND_PASS_SUFFIX}, "
            f"{', '.join(_change_text(k, v) for k, v in again['changes'].items())}) is the event's next version")
    found = predictors(result, dataset, windows, config, extra.get("depth_search"), extra["uncertainties"],
                       extra["setup"])
    write_products(result, dataset, RunWorkspace.at(run_dir).solution, extra,
                   reference_magnitude=(quake.magnitude, quake.magnitude_type), published_mt=quake.moment_tensor,
                   band=(conf.tmin, conf.tmax), predictors=found)
    s = result.source
    return {"mw": round(s.mw, 3), "depth_km": round(s.depth_km, 3), "variance_reduction": round(
        result.variance_reduction_after, 4), "kagan_to_initial_deg": round(result.kagan_to_initial, 2),
        "stations_used": len(result.stations_used)}


#: The suffix of a second pass's run id (:func:`second_pass_runs`): ``<first run id>.mw``.
SECOND_PASS_SUFFIX = ".mw"


def _change_text(key: str, values: list) -> str:
    first, second = values
    return f"{key} {first:g} -> {second:g}" if isinstance(first, (int, float)) and not isinstance(first, bool) \
        else f"{key} {first} -> {second}"


def second_pass_runs(run_dir: str | Path, params: dict) -> list[dict]:
    """The second pass of a run whose set-up its inverted Mw corrects
    (:func:`cmtflow.inversion.setup.second_pass`, ``second_pass`` in ``solution.json``), as
    ``[{"trigger_run_id", "conf"}]``, or ``[]``: the conf as given (``params``), set up with the
    inverted Mw (``setup_mw``) and starting from this run's mechanism (``first_pass_run``)."""
    from cmtflow.runconf import KEYS

    run_dir = Path(run_dir)
    plan = read_json(RunWorkspace.at(run_dir).solution_record).get("second_pass")
    if not plan:
        return []
    log.info("second pass %s: %s", plan["run_id"], plan["reason"])
    conf = {**{k: v for k, v in params.items() if k in KEYS}, "setup_mw": plan["inverted_mw"],
            "first_pass_run": run_dir.name}
    return [{"trigger_run_id": plan["run_id"], "conf": conf}]


def _station_points(ws: RunWorkspace) -> dict:
    """``{"NET.STA": StationPoint}`` of the stations the fetch used."""
    return {u.code: u.point() for u in StationSet.read(ws.stations_report).used}


# ----------------------------------------------------------------------------- 10
def publish_solution(run_dir: str | Path, airflow: dict | None = None) -> dict:
    """The HTML report and the run record; the solution becomes the run's published product."""
    from cmtflow.inversion.versions import version_of
    from cmtflow.report.html import write_report

    run_dir = Path(run_dir)
    ws = RunWorkspace.at(run_dir)
    solution = read_json(ws.solution_record)
    simulations = [simulation_record(run_dir, p.variant) for p in SimulationPlan.read(ws).variants]
    provenance = {"simulations": simulations, "airflow": airflow or {},
                  "event": read_json(ws.event_file), "conf": _conf(run_dir).as_dict(),
                  "stations": read_json(ws.stations_report), "processed": read_json(ws.processed_record)}
    catalogue = open_catalogue(ws.root)
    provenance["version"] = version_of(catalogue, solution["event_id"], run_dir.name)
    report = write_report(run_dir, solution, provenance)
    record = {"event_id": solution["event_id"], "version": provenance["version"], "run_dir": str(run_dir),
              "solution": str(ws.solution),
              "report": str(report), "mw": solution["mw"], "moment_tensor_nm": solution["moment_tensor_nm"],
              "variance_reduction": solution["variance_reduction"]["after"],
              "grade": solution["quality"]["grade"], "stations": len(provenance["stations"]["used"]),
              "pending": len(provenance["stations"].get("pending", []))}
    # the catalogue (one transaction) only after the report is in place, and published.json,
    # the run's "complete" mark, last: a worker killed in between leaves a run that a rerun
    # of this stage completes, never one that claims products it does not have
    catalogue.record_solution(run_dir.name, solution, str(ws.solution))
    write_json_atomic(ws.published, record)
    return record
