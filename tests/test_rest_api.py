"""cmt_inversion through Airflow's REST API v2 on a real `airflow standalone` (integration).

A temporary Airflow home on a free port; JWT from POST /auth/token; a run triggered with
the demo's conf (from `cmtflow demo --prepare-only`), polled until it finishes; the solution
read through the API (XCom of publish_solution) and through the plugin's endpoint; a bad
conf refused with HTTP 400 naming the key; anonymous calls refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("airflow")
httpx = pytest.importorskip("httpx")


@pytest.fixture()
def standalone(tmp_path):
    """The demo's conf (``cmtflow demo --prepare-only``) and a real ``airflow standalone``."""
    from airflow_fixtures import standalone_airflow

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(CMTFLOW_HOME=str(tmp_path / "home"))
    prepared = subprocess.run([sys.executable, "-m", "cmtflow", "demo", "--prepare-only"], env=env, text=True,
                              capture_output=True, timeout=300)
    assert prepared.returncode == 0, prepared.stderr
    # DAG files as dropped into any Airflow: no simulation pool there (its runs used to wait for
    # ever); the load test runs the pool cmtflow airflow-home creates
    with standalone_airflow(tmp_path, without_pool=True) as airflow:
        yield airflow.base, airflow.auth, json.loads(prepared.stdout)


@pytest.mark.slow
def test_trigger_and_read_the_solution_over_rest(standalone, tmp_path):
    base, auth, conf = standalone
    assert httpx.get(f"{base}/api/v2/dags", timeout=30).status_code == 401  # no token, no access
    assert httpx.get(f"{base}/cmtflow/catalogue/events", timeout=30).status_code == 401
    dags = httpx.get(f"{base}/api/v2/dags", headers=auth, timeout=30).json()
    assert {"cmt_inversion", "earthquake_alerts"} <= {d["dag_id"] for d in dags["dags"]}

    bad = httpx.post(f"{base}/api/v2/dags/cmt_inversion/dagRuns", headers=auth, timeout=30,
                     json={"logical_date": None, "conf": {**conf, "n_params": 8}})
    assert bad.status_code == 400 and "n_params" in bad.json()["detail"]
    # the cmtflow plugin's checks: files only under the input roots, refused before a run exists
    outside = httpx.post(f"{base}/api/v2/dags/cmt_inversion/dagRuns", headers=auth, timeout=30,
                         json={"logical_date": None, "dag_run_id": "outside",
                               "conf": {**conf, "inventory": "/etc/passwd"}})
    assert outside.status_code == 400, outside.text
    assert outside.json()["detail"].startswith("inventory: /etc/passwd is outside the input roots")
    anonymous = httpx.post(f"{base}/api/v2/dags/cmt_inversion/dagRuns", timeout=30,
                           json={"logical_date": None, "conf": {**conf, "inventory": "/etc/passwd"}})
    assert anonymous.status_code == 401 and "input roots" not in anonymous.text
    forged = httpx.post(f"{base}/api/v2/dags/cmt_inversion/dagRuns", headers={"Authorization": "Bearer x.y.z"},
                        timeout=30, json={"logical_date": None, "conf": conf})
    assert forged.status_code in (401, 403)
    assert httpx.get(f"{base}/cmtflow/solutions", headers={"Authorization": "Bearer x.y.z"},
                     timeout=30).status_code in (401, 403)
    runs = httpx.get(f"{base}/api/v2/dags/cmt_inversion/dagRuns", headers=auth, timeout=30).json()
    assert "outside" not in {r["dag_run_id"] for r in runs["dag_runs"]}

    started = httpx.post(f"{base}/api/v2/dags/cmt_inversion/dagRuns", headers=auth, timeout=30,
                         json={"logical_date": None, "dag_run_id": "rest_demo", "conf": {**conf, "bootstrap": 20, "depth_search": False}})
    assert started.status_code == 200, started.text
    deadline, state = time.time() + 480, None
    while time.time() < deadline:
        state = httpx.get(f"{base}/api/v2/dags/cmt_inversion/dagRuns/rest_demo", headers=auth,
                          timeout=30).json()["state"]
        if state in ("success", "failed"):
            break
        time.sleep(5)
    assert state == "success"
    xcom = httpx.get(f"{base}/api/v2/dags/cmt_inversion/dagRuns/rest_demo/taskInstances/publish_solution/"
                     "xcomEntries/return_value", headers=auth, timeout=30)
    published = xcom.json()["value"]
    published = json.loads(published) if isinstance(published, str) else published
    assert abs(published["mw"] - 4.5) < 0.1
    solutions = httpx.get(f"{base}/cmtflow/solutions", params={"event_id": "alaska2009"}, headers=auth,
                          timeout=30).json()
    assert [s["run_id"] for s in solutions] == ["rest_demo"] and abs(solutions[0]["mw"] - published["mw"]) < 1e-9
    # the result pages: the events list links the run's report, which renders with its figures
    events = httpx.get(f"{base}/cmtflow/events", headers=auth, timeout=30)
    assert events.status_code == 200 and 'href="runs/rest_demo/report/"' in events.text
    report = httpx.get(f"{base}/cmtflow/runs/rest_demo/report/", headers=auth, timeout=30)
    assert report.status_code == 200 and "Centroid moment tensor: alaska2009" in report.text
    image = httpx.get(f"{base}/cmtflow/runs/rest_demo/report/beachball.png", headers=auth, timeout=30)
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    _browser_checks(base, auth, tmp_path)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_checks(base, auth, folder):
    """Headless Chromium (Debian's, driven by Playwright): logged out, a plugin page leads to the
    login; the report opened on its own shows inside Airflow's frame with its table and
    beachball, and its way back leads to the list; the trigger form of cmt_inversion shows the
    run-conf sections and keys, the tri-state ones as a choice."""
    if CHROMIUM is None:
        pytest.skip("browser checks need Debian's chromium (apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            # logged out, a page of the plugin leads to Airflow's login page, which comes back to it
            anonymous = browser.new_context().new_page()
            anonymous.goto(f"{base}/cmtflow/events", wait_until="networkidle")
            assert "/auth/login" in anonymous.url and "next=" in anonymous.url, anonymous.url

            token = auth["Authorization"].split(" ", 1)[1]
            ui = browser.new_context(viewport={"width": 1300, "height": 1400})
            ui.add_cookies([{"name": "_token", "value": token, "url": base}])
            page = ui.new_page()
            # the report opened on its own shows inside Airflow's frame, with its table and beachball
            page.goto(f"{base}/cmtflow/runs/rest_demo/report/", wait_until="networkidle")
            page.frame_locator("iframe").locator("th", has_text="Mw / M0").first.wait_for(timeout=20000)
            assert page.url.endswith("/plugin/cmtflow-earthquakes/cmtflow/runs/rest_demo/report/"), page.url
            report = next(f for f in page.frames if f is not page.main_frame)  # the plugin's frame
            assert report.locator("th", has_text="Mw / M0").count() == 1
            assert report.eval_on_selector("img[alt=beachball]", "img => img.naturalWidth") > 100  # decoded
            page.screenshot(path=str(folder / "solution_page.png"), full_page=True)
            report.get_by_text("Earthquakes").first.click()  # the way back to the list stays on the list
            page.frame_locator("iframe").get_by_text("rest_demo").first.wait_for(timeout=20000)
            page.screenshot(path=str(folder / "earthquakes_in_airflow.png"), full_page=True)

            page.goto(f"{base}/dags/cmt_inversion", wait_until="networkidle")
            page.get_by_role("button", name="Trigger").first.click()
            for section in ("Event", "Data", "Model and band", "Inversion", "Execution"):
                page.get_by_text(section, exact=True).first.wait_for(timeout=20000)
            page.get_by_text("Inversion", exact=True).first.click()
            page.get_by_text("Bootstrap repeats").first.wait_for(timeout=20000)
            # the tri-state switches are a choice with their default shown, not a switch set to off
            page.get_by_text("auto (where it applies)").first.wait_for(timeout=20000)
            page.screenshot(path=str(folder / "trigger_form.png"), full_page=True)
        finally:
            browser.close()
