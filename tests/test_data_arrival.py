"""Waiting on the data centre, not on the clock, on a simulated clock.

The demo's sequence event ``seq01`` behind a real dataselect server and a front that serves each
network's samples with its own latency (``fdsn_fixtures.RealtimeDataselect``): AK after 10 s,
YV after 90 s and down for the first five minutes, AT after 6 minutes, AV never. The event's
runs are made as the DAG makes them (ask the data centre at the times the stage names, fetch,
invert, start the update), by a clock that jumps instead of sleeping: the first solution goes
out from the stations in, each update adds the late ones, the network that never delivers
ends as dropped at the deadline, and no station with data is lost.
"""

from __future__ import annotations

import pytest
from fdsn_fixtures import DataselectServer, RealtimeDataselect
from obspy import UTCDateTime

ORIGIN = UTCDateTime("2026-03-01T04:00:00")
ALERT_AFTER_S = 60.0
DEADLINE_S = 900.0
LATENCIES = {"AK": 10.0, "YV": 90.0, "AT": 360.0, "AV": None}
OUTAGES = {"YV": (ORIGIN, ORIGIN + 300.0)}


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    from cmtflow.demo import generate_sequence

    folder = tmp_path_factory.mktemp("arrival")
    scenario = generate_sequence(folder / "scenario", [ORIGIN])
    server = DataselectServer(scenario.sds, folder).start()
    yield scenario, server
    server.stop()


def _conf(scenario, front, **overrides) -> dict:
    conf = {**scenario.conf(max_distance_km=250.0, depth_search=False, bootstrap=0),
            "data_source": "fdsn", "dataselect_service": front.url, "data_deadline_s": DEADLINE_S,
            "wait_for_stations": 4, "min_stations": 3, "updates": 2, **overrides}
    conf.pop("sds_path")
    return conf


def _versions(conf: dict, root, clock: list, invert: bool = True) -> list[dict]:
    """The event's runs, the first and the updates each one starts, on the clock ``clock[0]``."""
    from cmtflow import pipeline, stages
    from cmtflow.workspace import RunWorkspace, read_json

    run_id, versions = "rt", []
    while run_id:
        run_dir = stages.resolve_event(conf, run_id, root)["run_dir"]
        stages.select_stations(run_dir)
        status = stages.wait_for_data(run_dir, clock=lambda: clock[0],
                                      sleep=lambda s: clock.__setitem__(0, clock[0] + s))
        fetched = stages.fetch_waveforms(run_dir, now=clock[0])
        ws = RunWorkspace.at(run_dir)
        versions.append({"run_id": run_id, "fetched_at": clock[0] - ORIGIN, "wait": status, **fetched,
                         "stations": read_json(ws.stations_report), "run_dir": run_dir,
                         "published": pipeline.invert_fetched(run_dir) if fetched["solvable"] and invert else None,
                         "outcome": read_json(ws.outcome_file) if ws.outcome_file.is_file() else None})
        clock[0] += 30.0  # the inversion's time
        updates = stages.update_runs(run_dir, run_id, conf)
        run_id, conf = (updates[0]["trigger_run_id"], updates[0]["conf"]) if updates else (None, None)
    return versions


def _network(code: str) -> str:
    return code.split(".")[0]


@pytest.mark.parametrize("availability_service", [False, True], ids=["dataselect-probe", "availability-service"])
def test_late_networks_come_in_updates_and_one_that_never_delivers_is_dropped_at_the_deadline(
        availability_service, sequence, tmp_path, monkeypatch):
    """Asked of the FDSN availability service where the data centre has one, else of the
    dataselect service itself: the same versions either way."""
    from cmtflow.demo import DURATION_S
    from cmtflow.source import kagan_angle, read_cmtsolution

    scenario, server = sequence
    clock = [ORIGIN + ALERT_AFTER_S]
    extent = (ORIGIN + DURATION_S[0], ORIGIN + DURATION_S[1]) if availability_service else None
    front = RealtimeDataselect(f"http://127.0.0.1:{server.port}", LATENCIES, clock=lambda: clock[0],
                               outages=OUTAGES, extent=extent).start()
    monkeypatch.setenv("CMTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CMTFLOW_INPUT_ROOTS", str(scenario.sds.parent))
    try:
        versions = _versions(_conf(scenario, front), tmp_path / "home", clock)
    finally:
        front.stop()
    assert (front.availability_queries > 0) == availability_service
    for v in versions:
        print(f"{v['run_id']}: fetched {v['fetched_at']:.0f} s after the origin ({v['wait']['reason']}): "
              f"{v['used']} used, {v['pending']} pending")
    first, last = versions[0], versions[-1]
    selected = {s["station"] for s in last["stations"]["used"]} | {
        d["station"] for d in last["stations"]["dropped"] if not d["reason"].startswith("distance")}

    # the first solution from the stations in: AK only while YV is down, before AT's 6 minutes
    assert first["published"] is not None and first["fetched_at"] < 360.0
    assert {_network(s["station"]) for s in first["stations"]["used"]} <= {"AK", "YV"}
    assert first["stations"]["pending"] and all(p["until"] == str(ORIGIN + DEADLINE_S)
                                                for p in first["stations"]["pending"])
    # each update adds late stations; none is lost
    counts = [v["used"] for v in versions]
    assert len(versions) >= 2 and counts == sorted(counts) and counts[-1] > counts[0]
    assert not last["stations"]["pending"]
    assert {s["station"] for s in last["stations"]["used"]} == {code for code in selected if _network(code) != "AV"}
    # the network that never delivers: dropped for the deadline, with its reason
    never = [d for d in last["stations"]["dropped"] if _network(d["station"]) == "AV"]
    assert never and all(d["reason"].startswith(f"no data by the deadline {ORIGIN + DEADLINE_S}") for d in never)
    assert last["fetched_at"] >= DEADLINE_S or not never
    true = read_cmtsolution(scenario.truth)
    for v in versions:
        assert v["published"] is not None
        assert kagan_angle(_mt(v), true.mt) < 30


def _mt(version: dict) -> list[float]:
    from cmtflow.workspace import RunWorkspace, read_json

    solution = read_json(RunWorkspace.at(version["run_dir"]).solution_record)
    return [solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]


def test_an_event_without_data_by_the_deadline_ends_as_no_solution(sequence, tmp_path, monkeypatch):
    """Every network silent: the run waits (on the simulated clock) until the deadline, then
    ends with the record "no solution: 0 usable stations by T", in its folder and the
    catalogue, and starts no update."""
    from cmtflow.catalogue import open_catalogue
    from cmtflow.stages import NO_SOLUTION

    scenario, server = sequence
    clock = [ORIGIN + ALERT_AFTER_S]
    front = RealtimeDataselect(f"http://127.0.0.1:{server.port}", {n: None for n in LATENCIES},
                               clock=lambda: clock[0]).start()
    monkeypatch.setenv("CMTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CMTFLOW_INPUT_ROOTS", str(scenario.sds.parent))
    try:
        [version] = _versions(_conf(scenario, front), tmp_path / "home", clock, invert=False)
    finally:
        front.stop()
    assert version["fetched_at"] == pytest.approx(DEADLINE_S, abs=1.0)
    assert not version["solvable"] and version["used"] == 0 and version["pending"] == 0
    assert version["outcome"]["reason"].startswith(f"no solution: 0 usable stations by {ORIGIN + DEADLINE_S}")
    assert open_catalogue(tmp_path / "home").run("rt")["state"] == NO_SOLUTION
    assert all(d["reason"].startswith("no data by the deadline") for d in version["stations"]["dropped"]
               if not d["reason"].startswith("distance"))


def test_the_wait_defers_only_while_there_is_something_to_wait_for(sequence, tmp_path, monkeypatch):
    """An earthquake of the past is answered in the worker (a trigger firing at once races the
    executor under load); one whose stations are not in yet defers to the trigger, which the
    triggerer can rebuild from its serialised form."""
    from airflow.sdk.exceptions import TaskDeferred

    from cmtflow import stages
    from cmtflow.airflow.sensors import DataArrivalSensor, DataArrivalTrigger
    from cmtflow.demo import true_source

    scenario, _ = sequence
    monkeypatch.setenv("CMTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CMTFLOW_INPUT_ROOTS", str(scenario.sds.parent))
    source = true_source()
    now = {"origin_time": str(UTCDateTime() - 60.0), "latitude": source.latitude, "longitude": source.longitude,
           "depth_km": source.depth_km, "magnitude": 4.5}
    runs = {}
    for run_id, conf in (("past", scenario.conf()), ("now", {**scenario.conf(), "quakeml": None, **now})):
        runs[run_id] = stages.resolve_event(conf, run_id, tmp_path / "home")["run_dir"]
        stages.select_stations(runs[run_id])
    answer = DataArrivalSensor(task_id="past", run_dir=runs["past"]).execute({})
    assert answer["ready"] and "deadline" in answer["reason"]
    with pytest.raises(TaskDeferred) as deferred:
        DataArrivalSensor(task_id="now", run_dir=runs["now"]).execute({})
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "cmtflow.airflow.sensors.DataArrivalTrigger" and kwargs["run_dir"] == str(runs["now"])
    assert isinstance(DataArrivalTrigger(**kwargs), DataArrivalTrigger) and kwargs["first_look_s"] >= 1.0
