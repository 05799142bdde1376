"""The plugin's REST endpoints (FastAPI test client), with and without a login."""

from __future__ import annotations

import os
from urllib.parse import urlencode

import pytest

pytest.importorskip("fastapi")
from fastapi import HTTPException  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from cmtflow.airflow.api import create_app  # noqa: E402
from cmtflow.catalogue import open_catalogue  # noqa: E402


def _login():
    from fastapi import Header

    def check(authorization: str | None = Header(None)):
        if authorization != "Bearer good":
            raise HTTPException(401, "Not authenticated")
    return check


@pytest.fixture()
def client(data_root):
    cat = open_catalogue()
    cat.record_event({"event_id": "evt1", "time": "2009-04-07T20:12:55", "latitude": 61.45, "longitude": -149.74,
                      "depth_km": 33.0, "magnitude": 4.5, "magnitude_type": "Mw", "provider": "EMSC"})
    cat.start_run("run-a", "evt1", {"model": "scak"}, "/runs/a")
    return TestClient(create_app(_login(), login_url=lambda next_url: f"/login?{urlencode({'next': next_url})}"))


def test_endpoints_need_a_login(client):
    assert client.get("/catalogue/events").status_code == 401
    assert client.get("/catalogue/events", headers={"Authorization": "Bearer bad"}).status_code == 401


def test_catalogue_endpoints(client):
    auth = {"Authorization": "Bearer good"}
    events = client.get("/catalogue/events", params={"min_magnitude": 4, "region": "60,62,-151,-148"}, headers=auth)
    assert events.status_code == 200 and [e["event_id"] for e in events.json()] == ["evt1"]
    assert client.get("/catalogue/runs/run-a", headers=auth).json()["state"] == "running"
    missing = client.get("/catalogue/runs/nope", headers=auth)
    assert missing.status_code == 404 and "run_id" in missing.json()["detail"]
    bad = client.get("/catalogue/events", params={"region": "1,2"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("region:")
    assert client.get("/catalogue/simulations", params={"event_id": "evt1"}, headers=auth).json() == []


def test_the_plugin_uses_airflows_authentication():
    pytest.importorskip("airflow.api_fastapi")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "plugins" / "cmtflow_plugin.py"
    spec = importlib.util.spec_from_file_location("cmtflow_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.CmtflowPlugin.fastapi_apps[0]["app"]
    assert module.CmtflowPlugin.fastapi_apps[0]["url_prefix"] == "/cmtflow"
    assert TestClient(app).get("/catalogue/events").status_code == 401  # anonymous: refused by Airflow


def test_thin_files_written_into_an_airflow_home_match_the_repository():
    from pathlib import Path

    from cmtflow.airflow.home import DAG_FILE, PLUGIN_FILE

    root = Path(__file__).resolve().parents[1]
    assert (root / "dags" / "cmt_inversion.py").read_text() == DAG_FILE
    assert (root / "plugins" / "cmtflow_plugin.py").read_text() == PLUGIN_FILE


def test_a_failed_dag_run_is_recorded_as_failed(client):
    pytest.importorskip("airflow")
    from cmtflow.airflow.dags import mark_run_failed

    mark_run_failed({"run_id": "run-a"})
    assert open_catalogue().run("run-a")["state"] == "failed"


def test_result_pages(client, tmp_path):
    auth = {"Authorization": "Bearer good"}
    run_dir = tmp_path / "run"
    (run_dir / "report").mkdir(parents=True)
    (run_dir / "solution").mkdir()
    (run_dir / "report" / "index.html").write_text("<img src='beachball.png'>")
    (run_dir / "report" / "beachball.png").write_bytes(b"\\x89PNG")
    (run_dir / "solution" / "solution.json").write_text("{}")
    cat = open_catalogue()
    cat.start_run("run-b", "evt1", {}, str(run_dir))
    cat.record_solution("run-b", {"event_id": "evt1", "mw": 4.49, "m0_nm": 6.8e15, "centroid": {"depth_km": 12.0},
                                  "moment_tensor_nm": {}, "variance_reduction": {"after": 0.82, "plain": 0.8},
                                  "uncertainties": {"mw": 0.03, "depth_km": 1.2}}, str(run_dir))
    page = client.get("/events", headers=auth)
    assert page.status_code == 200 and 'href="runs/run-b/report/"' in page.text
    assert "Mw 4.49 ± 0.03, 12.0 ± 1.2 km, VR 80.0 %" in page.text  # with their spreads, the headline fit
    assert client.get("/runs/run-b/report/", headers=auth).text == "<img src='beachball.png'>"  # no <body>: as is
    assert client.get("/runs/run-b/report/beachball.png", headers=auth).content == b"\\x89PNG"
    assert client.get("/runs/run-b/solution/solution.json", headers=auth).json() == {}
    # nothing outside the run's folders, nothing hidden, nothing without a login
    assert client.get("/runs/run-b/report/..%2Fsolution%2Fsolution.json", headers=auth).status_code == 404
    assert client.get("/runs/run-b/report/.secret", headers=auth).status_code == 404
    missing = client.get("/runs/nope/report/", headers=auth)  # a page for a person: the reason, the way back
    assert missing.status_code == 404 and "no run 'nope'" in missing.text and "href='/cmtflow/events'" in missing.text
    assert client.get("/catalogue/runs/nope", headers=auth).json()["detail"] == "run_id: no run 'nope'"
    (run_dir / "report" / "index.html").write_text("<html><body><h1>report</h1></body></html>")
    served = client.get("/runs/run-b/report/", headers=auth).text
    assert "<p><a href='/cmtflow/events'>" in served and "/plugin/cmtflow-earthquakes" in served  # into the frame


def test_pages_without_a_login_go_to_the_login_page_and_back(client):
    for path in ("/events", "/runs/run-a/report/", "/docs"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == f"/login?next=http%3A%2F%2Ftestserver{path.replace('/', '%2F')}"
    assert client.get("/catalogue/events").status_code == 401  # an API client gets the status, not a page
    assert client.get("/openapi.json").status_code == 401


def test_the_api_reference_is_served_from_here_behind_the_login(client):
    reference = client.get("/docs", headers={"Authorization": "Bearer good"})
    assert reference.status_code == 200 and "/cmtflow/catalogue/events" in reference.text
    assert "<script src" not in reference.text and "cdn" not in reference.text.lower()  # nothing from elsewhere
    schema = client.get("/openapi.json", headers={"Authorization": "Bearer good"}).json()
    assert "/catalogue/runs/{run_id}" in schema["paths"]


def test_a_simulation_pool_that_does_not_exist_is_refused_with_its_name_and_the_fix(tmp_path):
    """The API server refuses a trigger whose runs would wait for ever on a missing pool
    (checked on the metadata database of a real Airflow home)."""
    import subprocess
    import sys

    code = ("from cmtflow.airflow.home import activate; activate()\n"
            "from airflow.models.pool import Pool\n"
            "from cmtflow.airflow.trigger_check import missing_pool_error\n"
            "print('present:', missing_pool_error())\n"
            "Pool.delete_pool('site_simulations')\n"
            "print('missing:', missing_pool_error())\n"
            # a task's trigger (the alerts DAG) through the API server's middleware: refused, not queued
            "import asyncio, json\n"
            "from cmtflow.airflow.trigger_check import TriggerConfCheck\n"
            "sent, reached = [], []\n"
            "async def app(scope, receive, send): reached.append(scope['path'])\n"
            "async def receive(): return {'type': 'http.request', 'body': b'{}', 'more_body': False}\n"
            "async def send(message): sent.append(message)\n"
            "scope = {'type': 'http', 'method': 'POST', 'path': '/execution/dag-runs/cmt_inversion/alert__x', "
            "'headers': []}\n"
            "asyncio.run(TriggerConfCheck(app)(scope, receive, send))\n"
            "print('task trigger:', sent[0]['status'], json.loads(sent[1]['body'])['detail'][:40], reached)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(CMTFLOW_HOME=str(tmp_path / "home"), CMTFLOW_SIMULATION_POOL="site_simulations")
    done = subprocess.run([sys.executable, "-c", code], env=env, text=True, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines()
                 if line.startswith(("present", "missing", "task trigger")))
    assert lines["present"] == "None"
    assert lines["missing"].startswith("the Airflow pool 'site_simulations' named by CMTFLOW_SIMULATION_POOL does "
                                       "not exist") and "airflow pools set site_simulations" in lines["missing"]
    assert lines["task trigger"] == "400 the Airflow pool 'site_simulations' name []"  # not passed on
