"""Security: what a run conf may name, strict identifiers, no shell, trigger-time refusal.

Run confs come from anyone allowed to trigger a run (or from an alert feed), so: files must
resolve under the input roots after symbolic links, identifiers and services match strict
patterns, conf values reach step processes as argv entries (never through a shell), and
the API server refuses a bad conf with HTTP 400 before a run exists. Anonymous access to the
REST API and the plugin is refused in test_rest_api (a real ``airflow standalone``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cmtflow.runconf import ConfError, check_conf

ORIGIN = {"origin_time": "2024-03-10T12:00:00", "latitude": 46.0, "longitude": 8.0, "depth_km": 10.0,
          "magnitude": 4.3}


def _refused(conf: dict, roots=None) -> str:
    with pytest.raises(ConfError) as err:
        check_conf(conf, roots)
    return str(err.value)


# ----------------------------------------------------------------------------- files
def test_conf_files_must_resolve_under_the_input_roots(sds_inputs, data_root, tmp_path):
    conf = {**ORIGIN, **sds_inputs}
    assert check_conf(conf)["inventory"] == sds_inputs["inventory"]  # under the data root: accepted
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "stations.xml").write_text("<x/>")
    message = _refused({**conf, "inventory": str(outside / "stations.xml")})
    assert message.startswith("inventory: ") and "outside the input roots" in message and str(data_root) in message
    assert _refused({**conf, "inventory": "/etc/passwd"}).startswith("inventory: /etc/passwd is outside")
    # a symbolic link inside the root pointing out of it, and a .. walk out of it
    (data_root / "inputs" / "link.xml").symlink_to("/etc/passwd")
    assert "outside the input roots" in _refused({**conf, "inventory": str(data_root / "inputs" / "link.xml")})
    (data_root / "inputs" / "sds-link").symlink_to(outside)
    assert _refused({**conf, "sds_path": str(data_root / "inputs" / "sds-link")}).startswith("sds_path: ")
    walk = f"{data_root}/inputs/../../elsewhere/stations.xml"
    assert "outside the input roots" in _refused({**conf, "inventory": walk})
    assert _refused({**conf, "inventory": "inputs/stations.xml"}).startswith(
        "inventory: 'inputs/stations.xml' must be an absolute path")
    assert _refused({**conf, "inventory": str(data_root / "inputs" / "none.xml")}).endswith(
        "is not an existing file or folder")
    assert _refused({**conf, "model": "/etc/hostname"}).startswith("model: /etc/hostname is outside")
    assert _refused({**conf, "quakeml": "/root/.ssh/id_rsa", "origin_time": None}).startswith("quakeml: ")
    # an operator adds a root
    os.environ["CMTFLOW_INPUT_ROOTS"] = f"{data_root}{os.pathsep}{outside}"
    try:
        assert check_conf({**conf, "inventory": str(outside / "stations.xml")})
    finally:
        del os.environ["CMTFLOW_INPUT_ROOTS"]


def test_the_cli_refuses_a_conf_path_outside_the_roots(sds_inputs, tmp_path, capsys):
    from cmtflow.cli import main

    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({**ORIGIN, **sds_inputs, "sds_path": "/etc"}))
    assert main(["run", "--conf", str(conf)]) == 2
    assert capsys.readouterr().err.startswith("error: sds_path: /etc is outside the input roots")


@pytest.mark.parametrize("change, key", [
    ({"event_id": "x; rm -rf /", "origin_time": None}, "event_id"),
    ({"event_id": "../../etc", "origin_time": None}, "event_id"),
    ({"station_service": "file:///etc/passwd"}, "station_service"),
    ({"station_service": "http://host/$(id)"}, "station_service"),
    ({"event_service": "EMSC && curl evil"}, "event_service"),
    ({"dataselect_service": "gopher://internal:70/"}, "dataselect_service"),
    ({"origin_time": "2024-03-10T12:00:00; date"}, "origin_time"),
    ({"origin_time": "2024-13-45T12:00:00"}, "origin_time"),
    ({"inventory": "/data/x\n/etc/passwd"}, "inventory"),
])
def test_identifiers_and_services_follow_strict_patterns(change, key, sds_inputs):
    assert _refused({**ORIGIN, **sds_inputs, **change}).startswith(f"{key}: ")


def test_station_codes_are_validated_where_they_enter(scenario):
    import copy

    from cmtflow.data.events import earthquake_from_origin
    from cmtflow.data.selection import select_stations

    inventory = copy.deepcopy(scenario.inventory)
    inventory[0].stations[0].code = "A$(x)"
    inventory[0].stations[1].channels[0].location_code = "../"
    quake = earthquake_from_origin("2024-03-10T12:00:00", 46.0, 8.0, 10.0, 4.3, event_id="e1")
    selection = select_stations(inventory, quake)
    bad = f"{inventory[0].code}.A$(x)"
    assert selection.dropped[bad].startswith("invalid station code 'A$(x)'")
    assert all("$" not in s.code for s in selection.stations)


# ----------------------------------------------------------------------------- no shell
WEIRD = "we'ird \"$(touch PWNED1)\" `touch PWNED2`; touch PWNED3 | & <x> #"


def test_conf_values_reach_a_step_as_one_argument_each(tmp_path):
    """A step's argv is executed directly: metacharacters in a path are bytes of a file name."""
    from cmtflow.steps import ContainerStep, LocalBackend

    from cmtflow.source import Source, write_cmtsolution

    folder = tmp_path / WEIRD
    folder.mkdir()
    source = Source.from_strike_dip_rake(10, 50, 90, 4.5, time="2024-01-01T00:00:00", latitude=46.0, longitude=8.0,
                                         depth_km=10.0, event_id="e1")
    write_cmtsolution(source, folder / "CMTSOLUTION")
    (folder / "STATIONS").write_text("AAA XS 46.5 8.2 0.0 0.0\n")
    LocalBackend().run(ContainerStep("simulate", "cmtflow", (
        "cmtflow", "synth", "--model", "scak", "--source", str(folder / "CMTSOLUTION"), "--stations",
        str(folder / "STATIONS"), "--dt", "0.5", "--npts", "256", "--out", str(folder / "out"))))
    assert (folder / "out" / "synthetics.json").is_file()
    assert not list(Path.cwd().glob("PWNED*")) and not list(tmp_path.rglob("PWNED*"))


def test_pod_commands_are_argv_lists_not_shell_strings():
    pytest.importorskip("airflow.providers.cncf.kubernetes")
    from cmtflow.airflow.kubernetes import pod_kwargs

    step = {"name": "simulate-initial", "role": "cmtflow", "command": ["cmtflow", "synth", "--out", f"/data/{WEIRD}"],
            "inputs": [], "outputs": [], "resources": {}, "gpu": False}
    kwargs = pod_kwargs(step)
    assert kwargs["cmds"] == ["cmtflow"] and kwargs["arguments"][-1] == f"/data/{WEIRD}"
    assert not any(c in ("sh", "bash", "-c") for c in kwargs["cmds"] + kwargs["arguments"][:1])


@pytest.mark.slow
def test_a_whole_run_in_a_data_root_full_of_shell_metacharacters(tmp_path):
    from cmtflow import pipeline
    from cmtflow.demo import generate

    root = tmp_path / WEIRD / "home"
    scenario = generate(root / "scenario")
    record = pipeline.run_all(scenario.conf(bootstrap=0, n_params=6, depth_search=False), "weird", root)
    assert Path(record["report"]).is_file() and WEIRD in record["run_dir"]
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))


# ----------------------------------------------------------------------------- trigger time
def _middleware_client(monkeypatch, authenticated: bool, seen: list):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from cmtflow.airflow import trigger_check

    async def airflow_trigger(request):  # stands in for Airflow's own route behind the middleware
        seen.append(await request.body())
        return JSONResponse({"state": "queued"} if authenticated else {"detail": "Not authenticated"},
                            status_code=200 if authenticated else 401)

    async def auth(scope):
        return authenticated

    monkeypatch.setattr(trigger_check, "_authenticated", auth)
    app = Starlette(routes=[Route("/api/v2/dags/{dag_id}/dagRuns", airflow_trigger, methods=["POST"])])
    return TestClient(trigger_check.TriggerConfCheck(app))


def test_the_api_server_refuses_a_bad_conf_with_400_naming_the_key(monkeypatch, sds_inputs):
    seen: list = []
    client = _middleware_client(monkeypatch, True, seen)
    bad = client.post("/api/v2/dags/cmt_inversion/dagRuns", json={"logical_date": None,
                                                                    "conf": {**ORIGIN, **sds_inputs, "sds_path": "/"}})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("sds_path: / is outside the input roots")
    assert seen == []  # no run was created
    body = json.dumps({"logical_date": None, "conf": {**ORIGIN, **sds_inputs}}).encode()
    good = client.post("/api/v2/dags/cmt_inversion/dagRuns", content=body, headers={"content-type": "application/json"})
    assert good.status_code == 200 and seen == [body]  # passed on unchanged
    other = client.post("/api/v2/dags/earthquake_alerts/dagRuns", json={"conf": {"sds_path": "/"}})
    assert other.status_code == 200  # another DAG's conf is not ours to judge


def test_anonymous_triggers_go_to_airflow_unjudged(monkeypatch):
    seen: list = []
    client = _middleware_client(monkeypatch, False, seen)
    answer = client.post("/api/v2/dags/cmt_inversion/dagRuns", json={"conf": {"sds_path": "/etc"}})
    assert answer.status_code == 401 and "input roots" not in answer.text


# ----------------------------------------------------------------------------- secrets
SECRET = "s3cr3t-Pa55-never-logged"
TOKEN = "-----BEGIN PGP MESSAGE-----\nhQEMA-secret-token-never-logged\n-----END PGP MESSAGE-----"


def _everything_written(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def _restricted_run(monkeypatch, proxy, station_event_server, scenario, connection: dict, run: str):
    from cmtflow import stages

    monkeypatch.setenv("AIRFLOW_CONN_EIDA_RESTRICTED", json.dumps({"conn_type": "http", **connection}))
    monkeypatch.setenv("CMTFLOW_INPUT_ROOTS", str(scenario.root))
    conf = {"quakeml": str(scenario.quakeml), "station_service": station_event_server.url,
            "dataselect_service": proxy.url, "data_connection": "eida_restricted", "min_stations": 3}
    run_dir = Path(stages.resolve_event(conf, run)["run_dir"])
    stages.select_stations(run_dir)
    try:
        stages.fetch_waveforms(run_dir)
    except Exception as exc:
        return run_dir, exc
    return run_dir, None


def test_restricted_data_with_a_connection_login_and_no_secret_anywhere(monkeypatch, proxy, station_event_server,
                                                                         scenario, caplog, capfd, data_root):
    import logging

    proxy.digest = ("alice", SECRET)
    with caplog.at_level(logging.DEBUG):
        run_dir, error = _restricted_run(monkeypatch, proxy, station_event_server, scenario,
                                         {"login": "alice", "password": SECRET}, "restricted")
    assert error is None
    used = json.loads((run_dir / "stations.json").read_text())["used"]
    assert len(used) == 6 and any("/queryauth" in r for r in proxy.requests)  # digest-authenticated
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, _everything_written(data_root)):
        assert SECRET not in text
    # a wrong password: refused by the data centre, the reason on record, still no secret
    proxy.digest = ("alice", "another")
    run_dir, error = _restricted_run(monkeypatch, proxy, station_event_server, scenario,
                                     {"login": "alice", "password": SECRET}, "refused")
    reasons = [d["reason"] for d in json.loads((run_dir / "stations.json").read_text())["dropped"]]
    assert error is not None and any("401" in r or "nauthori" in r for r in reasons), reasons
    assert SECRET not in _everything_written(data_root) + caplog.text


def test_an_eida_token_never_reaches_a_log_or_a_file(monkeypatch, proxy, station_event_server, scenario, caplog,
                                                     capfd, data_root):
    import logging

    with caplog.at_level(logging.DEBUG):
        run_dir, error = _restricted_run(monkeypatch, proxy, station_event_server, scenario,
                                         {"extra": {"eida_token": TOKEN}}, "token")
    # this local service has no EIDA /auth route: refused clearly (ObsPy sends tokens over https only)
    assert error is not None
    reasons = [d["reason"] for d in json.loads((run_dir / "stations.json").read_text())["dropped"]]
    assert any("EIDA token" in r or "auth" in r for r in reasons), reasons
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, _everything_written(data_root), repr(error)):
        assert "secret-token-never-logged" not in text


def test_a_missing_connection_is_named(monkeypatch, proxy, station_event_server, scenario):
    from cmtflow import stages
    from cmtflow.data.credentials import CredentialsError

    monkeypatch.setenv("CMTFLOW_INPUT_ROOTS", str(scenario.root))
    conf = {"quakeml": str(scenario.quakeml), "station_service": station_event_server.url,
            "dataselect_service": proxy.url, "data_connection": "nobody"}
    run_dir = Path(stages.resolve_event(conf, "noconn")["run_dir"])
    stages.select_stations(run_dir)
    with pytest.raises(CredentialsError, match="data_connection: no Airflow connection 'nobody'"):
        stages.fetch_waveforms(run_dir)


def test_no_secrets_in_code_dag_files_or_the_chart():
    """Nothing that looks like a credential is written into the repository's files."""
    import re

    repo = Path(__file__).parents[1]
    files = [p for d in ("src", "dags", "plugins", "helm", "images") for p in (repo / d).rglob("*") if p.is_file()
             and p.suffix not in (".png", ".pyc", ".fkmodel")]
    pattern = re.compile(r"(password|passwd|secret|token|api_key)\s*[:=]\s*['\"][^'\"$<{]{6,}['\"]", re.I)
    found = [f"{p}: {m.group(0)}" for p in files for m in pattern.finditer(p.read_text(errors="replace"))]
    assert not found, found
    tokens = re.compile(r"BEGIN PGP MESSAGE-----\s*\n\s*\S")  # a token's body, not its mention
    assert not [p for p in files if tokens.search(p.read_text(errors="replace"))]


def test_the_docs_document_every_run_conf_key():
    """docs/runconf.md is what docs/make_reference.py makes of the schema today."""
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    done = subprocess.run([sys.executable, str(root / "docs" / "make_reference.py"), "--check"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    from cmtflow.runconf import KEYS

    page = (root / "docs" / "runconf.md").read_text()
    assert all(f"| `{name}` |" in page for name in KEYS)
