"""cmt_inversion through Airflow end to end (dag.test on an embedded SQLite home), as the
``cmtflow`` commands run it: in a separate process with its own data root and Airflow home."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from airflow_fixtures import run_cmtflow as _cmtflow
from airflow_fixtures import start_run_until
from openlineage_spec import validate_event

from cmtflow.source import kagan_angle, read_cmtsolution, read_quakeml

pytest.importorskip("airflow")
SPEC = Path(__file__).resolve().parents[2] / "shared" / "data" / "openlineage-spec"


class LineageReceiver:
    """A local OpenLineage HTTP endpoint: POST /api/v1/lineage, one JSON run event per request."""

    def __init__(self):
        import http.server
        import threading

        self.events, self.errors = [], []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                problem = None
                if self.path != "/api/v1/lineage":
                    problem = f"wrong path {self.path}"
                elif not self.headers.get("Content-Type", "").startswith("application/json"):
                    problem = f"wrong content type {self.headers.get('Content-Type')}"
                else:
                    try:
                        event = json.loads(body)
                        validate_event(event, SPEC)
                        receiver.events.append(event)
                    except Exception as exc:  # record, answer 400 like a strict server
                        problem = f"invalid event: {exc}"
                if problem:
                    receiver.errors.append(problem)
                self.send_response(400 if problem else 201)
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow
def test_cmt_inversion_through_airflow(tmp_path):
    root = tmp_path / "home"
    prepared = _cmtflow(root, "demo", "--prepare-only")
    assert prepared.returncode == 0, prepared.stderr
    conf = json.loads(prepared.stdout)  # stdout is the conf and nothing else
    assert conf["data_source"] == "sds"
    # the depth search has its own tests (test_pipeline, test_setup) and runs in `make demo`
    (tmp_path / "conf.json").write_text(json.dumps({**conf, "bootstrap": 20, "depth_search": False}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**conf, "n_params": 8}))
    refused = _cmtflow(root, "run", "--conf", str(bad))
    assert refused.returncode == 2 and refused.stderr.startswith("error: n_params: 8 is not one of [6, 7, 9]")

    # lineage to a file in the data root (the embedded default) and to an HTTP receiver
    receiver = LineageReceiver().start()
    transport = {"type": "composite", "continue_on_failure": True, "continue_on_success": True, "transports": {
        "file": {"type": "file", "log_file_path": str(root / "lineage" / "openlineage.jsonl"), "append": True},
        "http": {"type": "http", "url": receiver.url, "endpoint": "api/v1/lineage"}}}
    (root / "lineage").mkdir(parents=True, exist_ok=True)
    try:
        done = _cmtflow(root, "run", "--conf", str(tmp_path / "conf.json"),
                        extra_env={"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)})
    finally:
        receiver.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done    simulations.simulate[0]" in done.stderr and "done    publish_solution" in done.stderr
    report = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("report: "))
    run_dir = os.path.dirname(os.path.dirname(report))
    solution = json.loads(open(os.path.join(run_dir, "solution", "solution.json")).read())
    quakeml = read_quakeml(os.path.join(run_dir, "solution", "solution.xml"))
    cmt = read_cmtsolution(os.path.join(run_dir, "solution", "CMTSOLUTION"))
    mt = np.array([solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")])
    assert np.allclose(quakeml.mt, mt, rtol=1e-6) and np.allclose(cmt.mt, mt, rtol=1e-5)
    assert quakeml.mw == pytest.approx(solution["mw"], abs=1e-3)
    html = open(report).read()
    assert f"{solution['mw']:.2f}" in html and "manual__" in html  # the Airflow run is in the provenance
    true = read_cmtsolution(root / "demo" / "scenario" / "CMTSOLUTION.true")
    assert kagan_angle(mt, true.mt) < 10.0 and abs(solution["mw"] - true.mw) < 0.1
    published = json.loads(open(os.path.join(run_dir, "published.json")).read())
    assert published["report"] == report

    # lineage: every event valid against the OpenLineage JSON Schemas of ../shared/data
    events = [json.loads(line) for line in open(root / "lineage" / "openlineage.jsonl")]
    checked = set()
    for event in events:
        validate_event(event, SPEC, checked)
    assert {"ParentRunFacet", "JobTypeJobFacet", "ProcessingEngineRunFacet"} <= checked
    complete = {e["job"]["name"].split(".", 1)[1]: e for e in events if e["eventType"] == "COMPLETE"
                and "." in e["job"]["name"]}
    assert set(complete) >= {  # every task that ran (prepare_solver has nothing to run for FK)
        "resolve_event", "data.select_stations", "data.fetch_waveforms", "data.plan_preprocessing",
        "data.preprocess_observed", "simulations.plan_simulations", "simulations.plan_solver", "simulations.simulate",
        "simulations.plan_synthetics", "simulations.preprocess_synthetics", "inversion.measure_misfit",
        "inversion.invert_source", "publish_solution"}
    # the DAG run's own event too: sent (from OpenLineage's process pool) before the run's
    # process ended, which skips the interpreter's teardown once Airflow's listeners are stopped
    assert any(e["eventType"] == "COMPLETE" and e["job"]["name"] == "cmt_inversion" for e in events)
    invert = complete["inversion.invert_source"]
    assert {d["name"] for d in invert["outputs"]} == {os.path.join(run_dir, "solution")}
    assert os.path.join(run_dir, "processed") in {d["name"] for d in invert["inputs"]}
    facet = invert["run"]["facets"]["cmtflow"]
    assert facet["eventId"] == solution["event_id"] and facet["model"] == "scak" and facet["bandSeconds"] == [15, 50]
    assert len(facet["simulations"]) == 7 and all(s["key"] for s in facet["simulations"])
    assert invert["run"]["facets"]["parent"]["job"]["name"] == "cmt_inversion"
    # the HTTP receiver got the same events through the /api/v1/lineage contract
    assert receiver.errors == [] and len(receiver.events) == len(events)

    # the same run again: every simulation reused, so the planning tasks skip their (empty)
    # step tasks themselves, and the run succeeds
    again = _cmtflow(root, "run", "--conf", str(tmp_path / "conf.json"))
    assert again.returncode == 0, again.stderr[-3000:]
    import sqlite3

    with sqlite3.connect(root / "airflow" / "airflow.db") as db:
        last = db.execute("select run_id from dag_run where dag_id = 'cmt_inversion' order by id desc").fetchone()[0]
        states = dict(db.execute("select task_id, state from task_instance where run_id = ?", (last,)))
    assert {t: states[t] for t in ("simulations.prepare_solver", "simulations.simulate",
                                   "simulations.preprocess_synthetics", "data.start_update")} == dict.fromkeys(
        ("simulations.prepare_solver", "simulations.simulate", "simulations.preprocess_synthetics",
         "data.start_update"), "skipped")
    assert states["simulations.plan_simulations"] == "success" and states["publish_solution"] == "success"

    # a screening no record passes: the run ends as "no solution" at measure_misfit, which
    # skips itself and every task after it; the DAG run succeeds, the command says why
    (tmp_path / "strict.json").write_text(json.dumps({**conf, "bootstrap": 0, "depth_search": False,
                                                      "min_snr": 1000.0}))
    strict = _cmtflow(root, "run", "--conf", str(tmp_path / "strict.json"))
    assert strict.returncode == 2 and "no solution: only 0 stations processed" in strict.stderr, strict.stderr[-3000:]
    with sqlite3.connect(root / "airflow" / "airflow.db") as db:
        last, state = db.execute("select run_id, state from dag_run where dag_id = 'cmt_inversion' "
                                 "order by id desc").fetchone()
        states = dict(db.execute("select task_id, state from task_instance where run_id = ?", (last,)))
    assert state == "success" and states["data.preprocess_observed"] == "success"
    assert {states[t] for t in ("inversion.measure_misfit", "inversion.invert_source", "publish_solution")} == {
        "skipped"}


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["warm", "subprocess"])
def test_sigterm_stops_a_run_waiting_for_its_retry_and_marks_it_failed(tmp_path, runner):
    """``cmtflow run`` with a data centre that refuses connections: fetch_waveforms fails and
    waits 10 minutes for its retry; SIGTERM then ends the command within seconds (exit 143),
    with the DAG run and the catalogue run failed, not left running. The run a fork of the warm
    runner, or a new interpreter."""
    import signal
    import sqlite3
    import time

    from fdsn_fixtures import free_port

    root = tmp_path / "home"
    conf = json.loads(_cmtflow(root, "demo", "--prepare-only").stdout)
    conf = {**conf, "data_source": "fdsn", "dataselect_service": f"http://127.0.0.1:{free_port()}",
            "depth_search": False}
    conf.pop("sds_path")
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    proc = start_run_until(root, tmp_path / "conf.json", "retry   data.fetch_waveforms", tmp_path / "stderr",
                           {"CMTFLOW_TASK_RETRY_DELAY_S": "600", "CMTFLOW_RUNNER": runner})
    try:
        t = time.time()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(60)
        stopped_s = time.time() - t
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = (tmp_path / "stderr").read_text()
    assert status == 128 + signal.SIGTERM, stderr[-2000:]
    assert stopped_s < 15, stopped_s
    assert "error: SIGTERM: cmt_inversion run manual__" in stderr and "stopped and marked failed" in stderr
    assert "no warm runner" not in stderr
    with sqlite3.connect(root / "airflow" / "airflow.db") as db:
        runs = db.execute("select run_id, state from dag_run where dag_id = 'cmt_inversion'").fetchall()
        tasks = dict(db.execute("select task_id, state from task_instance where task_id like 'data.fetch%'"))
    assert [state for _, state in runs] == ["failed"] and tasks["data.fetch_waveforms"] == "failed"
    with sqlite3.connect(root / "catalogue.sqlite") as db:
        assert db.execute("select state from runs where run_id = ?", (runs[0][0],)).fetchall() == [("failed",)]

