"""Load: an aftershock burst of 30 alerts within two minutes, the largest announced last.

A real ``airflow standalone`` (scheduler, LocalExecutor, API server) with the
``earthquake_alerts`` DAG unpaused and polling two local FDSN event services: agency A
lists 29 events at once and, once their runs have started, a 30th reported as Mw 7.0 (the
"mainshock"); agency B re-reports 8 of them under its own ids. The data are a generated
30-event sequence at the demo stations (SDS + StationXML). Checked: exactly one
``cmt_inversion`` run per earthquake, all successful; no simulation computed twice; the
simulation pool bounds the concurrency; every task of the mainshock's run goes before the
others' (its priority); its first solution comes within :data:`MAINSHOCK_BOUND_S` of its
trigger although 29 runs were there first; the memory of the whole Airflow process tree stays
bounded. Throughput (events/hour) is printed and written to ``load.json`` in the test folder.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from datetime import datetime

import pytest

pytest.importorskip("airflow")
httpx = pytest.importorskip("httpx")
psutil = pytest.importorskip("psutil")

N_EVENTS, SPACING_S = 30, 960.0
POOL_SLOTS = 4
#: The alert magnitude of the last event, announced after the others' runs have started.
MAINSHOCK_MW = 7.0
#: Seconds from the mainshock's trigger to its first published solution, with 29 runs before it
#: on this 2-CPU machine (a run alone through the same standalone takes about 40 s).
MAINSHOCK_BOUND_S = 150.0


def _agency_b(events):
    """Agency B's reports of every fourth event (the mainshock's too): its own ids, origins 2 s
    later, M +0.1."""
    import copy

    from obspy.core.event import ResourceIdentifier

    out = []
    for event in events[::4]:
        twin = copy.deepcopy(event)
        twin.resource_id = ResourceIdentifier(f"smi:agency-b/event/b-{str(event.resource_id).split('/')[-1]}")
        twin.origins[0].time += 2.0
        twin.magnitudes[0].mag += 0.1
        out.append(twin)
    return out


def _overlap(intervals) -> int:
    """The largest number of intervals open at one time."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1]))
    best = now = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def _when(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class MemoryWatch(threading.Thread):
    """Peak memory (PSS) of a process and all its descendants, sampled every second."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root, self.peak, self.processes, self.stop = psutil.Process(pid), 0, 0, threading.Event()

    def run(self):
        while not self.stop.wait(1.0):
            total = 0
            try:
                family = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:  # a child ended while being listed: next sample
                continue
            for proc in family:
                try:  # proportional set size: pages shared by forked processes counted once
                    total += proc.memory_full_info().pss
                except psutil.Error:
                    pass
            self.peak, self.processes = max(self.peak, total), max(self.processes, len(family))


@pytest.mark.load
def test_thirty_alerts_in_two_minutes_the_mainshock_last(tmp_path):
    from fdsn_fixtures import EventService
    from obspy import UTCDateTime, read_events

    from airflow_fixtures import standalone_airflow
    from cmtflow.demo import generate_sequence

    root = tmp_path / "home"
    now = UTCDateTime()
    # all in the past, the last (the mainshock) a few minutes ago
    times = [now - 900.0 - SPACING_S * (N_EVENTS - 1 - k) for k in range(N_EVENTS)]
    t = time.perf_counter()
    sequence = generate_sequence(root / "sequence", times)
    generated_s = time.perf_counter() - t
    events = list(read_events(str(sequence.quakeml)))
    events[-1].magnitudes[0].mag = MAINSHOCK_MW
    mainshock = events.pop()
    agency_a, agency_b = EventService(events), EventService(_agency_b(events + [mainshock]))
    template = {"data_source": "sds", "sds_path": str(sequence.sds), "inventory": str(sequence.inventory),
                "model": "scak", "tmin": 15.0, "tmax": 50.0, "dt": 0.5, "n_params": 6, "bootstrap": 20,
                "max_distance_km": 400.0, "max_stations": 16,
                # the orchestration under a burst is measured here; the depth search's cost is per run
                # (README, "The set-up follows the event") and would make this a CPU benchmark of it
                "depth_search": False}
    env = {"CMTFLOW_ALERT_SERVICES": f"{agency_a.url},{agency_b.url}", "CMTFLOW_ALERT_LOOKBACK_MINUTES": "600",
           "CMTFLOW_ALERT_MIN_MAGNITUDE": "3.5", "CMTFLOW_ALERT_CONF": json.dumps(template)}
    try:
        with standalone_airflow(tmp_path, env) as airflow:
            base, auth = airflow.base, airflow.auth
            watch = MemoryWatch(airflow.process.pid)
            watch.start()
            unpaused = httpx.patch(f"{base}/api/v2/dags/earthquake_alerts", json={"is_paused": False}, headers=auth,
                                   timeout=30)
            assert unpaused.status_code == 200, unpaused.text
            deadline, runs, slow_answers, announced = time.time() + 45 * 60, [], 0, None
            while time.time() < deadline:
                time.sleep(10)
                if announced is None and runs:  # the others' runs have started: the mainshock comes
                    agency_a.events.append(mainshock)
                    announced = time.time()
                try:  # the API server also serves every task's execution API: under load it can be slow
                    runs = httpx.get(f"{base}/api/v2/dags/cmt_inversion/dagRuns", params={"limit": 100},
                                     headers=auth, timeout=120).json()["dag_runs"]
                except httpx.TimeoutException:
                    slow_answers += 1
                    continue
                if len(runs) > N_EVENTS and all(r["state"] in ("success", "failed") for r in runs):
                    break
            alerted = {r["dag_run_id"]: r for r in runs}
            polls = httpx.get(f"{base}/api/v2/dags/earthquake_alerts/dagRuns", params={"limit": 100}, headers=auth,
                              timeout=120).json()["dag_runs"]
            simulate, weights, published = [], {}, {}
            for run in runs:
                tis = httpx.get(f"{base}/api/v2/dags/cmt_inversion/dagRuns/{run['dag_run_id']}/taskInstances",
                                params={"limit": 100}, headers=auth, timeout=120).json()["task_instances"]
                simulate += [(_when(ti["start_date"]), _when(ti["end_date"])) for ti in tis
                             if ti["task_id"] == "simulations.simulate" and ti["start_date"] and ti["end_date"]]
                weights[run["dag_run_id"]] = [ti["priority_weight"] for ti in tis]
                published[run["dag_run_id"]] = next((_when(ti["end_date"]) for ti in tis
                                                     if ti["task_id"] == "publish_solution" and ti["end_date"]), None)
            watch.stop.set()
    finally:
        agency_a.stop()
        agency_b.stop()

    # one run per earthquake (agency B's reports merged, later polls start nothing), all successful; the
    # mainshock's alert magnitude is far from its data's (Mw 3.8-4.8): a second pass, set up with the inverted Mw
    main_id = f"alert__seq{N_EVENTS:02d}"
    assert sorted(r["dag_run_id"] for r in runs) == sorted([f"alert__seq{k:02d}" for k in range(1, N_EVENTS + 1)]
                                                           + [f"{main_id}.mw"])
    assert all(r["state"] == "success" for r in runs), [(r["dag_run_id"], r["state"]) for r in runs]
    # the mainshock first: every task of its run weighs more than any other run's; its solution in time
    assert min(weights[main_id]) > max(w for run_id, ws in weights.items() if not run_id.startswith(main_id) for w in ws)
    main_s = published[main_id] - _when(alerted[main_id]["queued_at"] or alerted[main_id]["start_date"])
    others_running = sum(1 for r in runs if r["dag_run_id"] != main_id
                         and _when(r["start_date"]) < published[main_id] and _when(r["end_date"]) > published[main_id] - main_s)
    assert len([p for p in polls if p["state"] == "success"]) >= 2
    # no simulation computed twice: 7 per run, each computed once, none shared
    with sqlite3.connect(root / "catalogue.sqlite") as db:
        states = db.execute("SELECT state, COUNT(*) FROM simulations GROUP BY state").fetchall()
        links = db.execute("SELECT COUNT(*), COUNT(DISTINCT key), SUM(reused) FROM run_simulations").fetchone()
    n_sims = 7 * (N_EVENTS + 1)  # the second pass too
    assert states == [("complete", n_sims)] and links == (n_sims, n_sims, 0)
    assert len({p.name for p in (root / "simulations").iterdir() if not p.name.startswith(".")}) == n_sims
    # the configured bounds held
    spans = [(_when(r["start_date"]), _when(r["end_date"])) for r in runs]
    assert _overlap(simulate) <= POOL_SLOTS
    # bounded: the embedded task concurrency is sized to half the machine's memory
    from cmtflow.airflow.home import TASK_MEMORY_GIB, default_parallelism

    bound = (default_parallelism() * TASK_MEMORY_GIB + 2.0) * 2**30  # + the scheduler, API server...
    assert watch.peak < bound, (watch.peak / 2**30, bound / 2**30)
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    figures = {"events": N_EVENTS, "wall_s": round(last - first, 1),
               "events_per_hour": round(N_EVENTS / (last - first) * 3600.0, 1),
               "mean_run_s": round(sum(b - a for a, b in spans) / len(spans), 1),
               "max_concurrent_runs": _overlap(spans), "max_concurrent_simulations": _overlap(simulate),
               "peak_pss_gib": round(watch.peak / 2**30, 2), "max_processes": watch.processes,
               "parallelism": default_parallelism(), "cpus": os.cpu_count(), "scenario_generation_s": round(generated_s, 1),
               "event_service_queries": agency_a.requests + agency_b.requests,
               "api_answers_over_120_s": slow_answers,
               "mainshock_trigger_to_solution_s": round(main_s, 1), "runs_overlapping_the_mainshock": others_running}
    (tmp_path / "load.json").write_text(json.dumps(figures, indent=1))
    print("load:", json.dumps(figures))
    assert main_s <= MAINSHOCK_BOUND_S, figures
