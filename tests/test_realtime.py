"""Real time: a run started by an alert minutes after the origin, against a data centre whose
records arrive as the waves are recorded (``fdsn_fixtures.RealtimeDataselect``: a real
dataselect server behind a front that serves a sample only ``LATENCY_S`` after it was
recorded, by the clock).

Triggered over the REST API of a real ``airflow standalone``, the first run waits (deferred)
for the data of the nearest stations only, triggers an update and publishes version 1 from
them; the update waits for every station and publishes version 2. Slow: it runs in real
time, as long as the surface waves take to cross the network and the two runs take."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_fixtures import standalone_airflow
from fdsn_fixtures import DataselectServer, RealtimeDataselect

pytestmark = pytest.mark.slow

#: The alert comes this long after the origin (1-5 minutes in practice).
ALERT_AFTER_S = 100.0
#: A sample is at the data centre this long after it was recorded; the run conf expects a little more.
LATENCY_S, CONF_LATENCY_S = 10.0, 15.0
FIRST_STATIONS = 4
#: Seconds to write the scenario and start the data centre (the origin is set before)
PREPARE_S = 30.0


def test_a_first_solution_from_the_nearest_stations_then_an_update_with_all(tmp_path, monkeypatch):
    import httpx
    from obspy import UTCDateTime

    from cmtflow import stages
    from cmtflow.catalogue import open_catalogue
    from cmtflow.data.fetch import due_times
    from cmtflow.demo import generate_sequence
    from cmtflow.source import kagan_angle, read_cmtsolution
    from cmtflow.workspace import RunWorkspace, read_json

    with standalone_airflow(tmp_path) as airflow:
        root = airflow.root
        # the alert: the trigger, once the scenario is written and the data centre is up
        scenario = generate_sequence(root / "scenario", [UTCDateTime() + PREPARE_S - ALERT_AFTER_S])
        server = DataselectServer(scenario.sds, tmp_path).start()
        front = RealtimeDataselect(f"http://127.0.0.1:{server.port}", LATENCY_S).start()
        try:
            conf = {**scenario.conf(max_distance_km=130.0, depth_search=False, bootstrap=0),
                    "data_source": "fdsn", "dataselect_service": front.url, "data_latency_s": CONF_LATENCY_S,
                    "wait_for_stations": FIRST_STATIONS, "updates": 1}
            conf.pop("sds_path")
            alert = UTCDateTime()
            started = httpx.post(f"{airflow.base}/api/v2/dags/cmt_inversion/dagRuns", headers=airflow.auth,
                                 timeout=30, json={"logical_date": None, "dag_run_id": "rt", "conf": conf})
            assert started.status_code == 200, started.text
            states = _wait_for_runs(airflow, ["rt", "rt.update1"], timeout_s=600)
        finally:
            front.stop()
            server.stop()
    assert states == {"rt": "success", "rt.update1": "success"}, (states, (tmp_path / "standalone.log").read_text()[-3000:])

    monkeypatch.setenv("CMTFLOW_HOME", str(root))
    rows = sorted(open_catalogue(root).solutions("seq01"), key=lambda r: r["published_at"])
    assert [row["run_id"] for row in rows] == ["rt", "rt.update1"]
    first, final = (Path(row["path"]).parent for row in rows)  # the solution folder's run folder
    reports = [read_json(RunWorkspace.at(d).stations_report) for d in (first, final)]
    assert reports[0]["pending"] and not reports[1]["pending"]
    assert len(reports[0]["used"]) >= 3 and len(reports[1]["used"]) > len(reports[0]["used"])

    # when the data were at the data centre (its own latency, not the conf's margin)
    conf = read_json(RunWorkspace.at(first).conf_file)
    quake, selection = stages._quake(first), stages._selection(first)
    arrived = sorted(t - CONF_LATENCY_S + LATENCY_S for t in due_times(quake, selection.stations,
                                                                       stages.fetch_config(conf)).values())
    published = [UTCDateTime(row["published_at"]) for row in rows]
    first_s, final_s = published[0] - arrived[FIRST_STATIONS - 1], published[1] - arrived[-1]
    print(f"\nalert {alert - quake.time:.0f} s after the origin; the data of the nearest {FIRST_STATIONS} stations at "
          f"the data centre {arrived[FIRST_STATIONS - 1] - alert:.0f} s after the alert, of all {len(arrived)} "
          f"{arrived[-1] - alert:.0f} s after it")
    true = read_cmtsolution(scenario.truth)
    for row, report, when, after in zip(rows, reports, published, (first_s, final_s)):
        mt = [row["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]
        print(f"{row['run_id']}: {len(report['used'])} stations, grade {row['record']['quality']['grade']}, "
              f"{when - alert:.0f} s after the alert, {after:.0f} s after its data; Kagan angle to the true source "
              f"{kagan_angle(mt, true.mt):.1f} deg, Mw {row['mw']:.2f} (true {true.mw:.2f})")
        assert kagan_angle(mt, true.mt) < 30 and abs(row["mw"] - true.mw) < 0.2
    assert 0 < first_s < 240 and 0 < final_s < 240  # the targets (60 s) are the benchmark's; here: it followed


def _wait_for_runs(airflow, run_ids: list[str], timeout_s: float) -> dict:
    """The final states of ``run_ids`` (``cmt_inversion``), or their states at the timeout."""
    import time

    import httpx

    deadline, states = time.time() + timeout_s, {}
    while time.time() < deadline:
        for run_id in run_ids:
            answer = httpx.get(f"{airflow.base}/api/v2/dags/cmt_inversion/dagRuns/{run_id}", headers=airflow.auth,
                               timeout=30)
            states[run_id] = answer.json()["state"] if answer.status_code == 200 else None
        if all(state in ("success", "failed") for state in states.values()):
            break
        time.sleep(5)
    return states
