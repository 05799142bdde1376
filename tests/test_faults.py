"""Fault injection: every fault ends in a clear state, with the reason on record, and leaves
no half-written product that looks complete.

- data centre down / slow / 5xx / transfer cut mid-record: a :class:`FaultProxy` in front of
  the real portable-fdsnws-dataselect server;
- corrupt miniSEED and StationXML without responses in the archive;
- a solver process killed mid-simulation, a worker killed during ``publish_solution``
  (real ``SIGKILL`` of a real process);
- the catalogue database (a real PostgreSQL server) stopped and restarted;
- the data root's disk full (a 1 MiB tmpfs in a private mount namespace).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fdsn_fixtures import EVENT_ID, ORIGIN, copy_scenario, corrupt_file, sds_path

from cmtflow.data.events import earthquake_from_origin
from cmtflow.data.fetch import MAX_SERVICE_FAILURES, FDSNArchive, FetchConfig, TooFewStationsError, fetch_waveforms
from cmtflow.data.selection import select_stations
from cmtflow.data.services import ServiceConfig
from cmtflow.workspace import PlannedVariant, RunWorkspace

ALL = ["XS.AAA", "XS.BBB", "XS.CCC", "XS.DDD", "XS.EEE", "XS.FFF"]


def _fetch(scenario, archive, run: str, min_stations: int = 3):
    quake = earthquake_from_origin(ORIGIN, 46.0, 8.0, 10.0, 4.3, event_id=EVENT_ID)
    ws = RunWorkspace.create(EVENT_ID, run)
    selection = select_stations(scenario.inventory, quake)
    try:
        report = fetch_waveforms(quake, selection, scenario.inventory, archive, ws,
                                 FetchConfig(min_stations=min_stations))
        error = None
    except TooFewStationsError as exc:
        report, error = None, exc
    record = json.loads(ws.stations_report.read_text())
    return ws, report, error, record


def _archive(proxy, timeout=10.0):
    return FDSNArchive(ServiceConfig(provider=proxy.url, retries=2, backoff=0.05, timeout=timeout))


def _no_partial_files(ws: RunWorkspace, used: set[str]) -> None:
    """Only complete products: one readable miniSEED per used station, no temporaries."""
    import obspy

    names = {p.name for p in ws.raw.iterdir()}
    assert not [n for n in names if n.startswith(".")], names  # no temporary left behind
    stations = {".".join(n.split(".")[:2]) for n in names if n.endswith(".mseed")}
    assert stations == used
    for name in names - {"stations.xml"}:
        obspy.read(str(ws.raw / name))


# ----------------------------------------------------------------------------- data centre
@pytest.mark.parametrize("mode, times", [("error", 2), ("down", 2), ("truncate", 1), ("truncate-close", 1),
                                         ("slow", 1)])
def test_passing_data_centre_faults_are_retried_and_lose_nothing(mode, times, proxy, scenario, caplog):
    proxy.mode, proxy.times, proxy.delay, proxy.keep = mode, times, 3.0, 0.5
    with caplog.at_level(logging.INFO, logger="cmtflow"):
        ws, report, error, record = _fetch(scenario, _archive(proxy, timeout=1.5), f"pass-{mode}")
    assert error is None and sorted(report.used) == ALL, record["dropped"]
    _no_partial_files(ws, set(ALL))
    if mode != "truncate-close":  # a cut on a record boundary is only seen as missing stations
        assert "retrying" in caplog.text or "station by station" in caplog.text


@pytest.mark.parametrize("mode, reason", [
    ("error", r"failed after 3 attempts: Service temporarily unavailable HTTP Status code: 503"),
    ("down", r"failed after 3 attempts: .*(RemoteDisconnected|Remote end closed)"),
    ("slow", r"failed after 3 attempts: Timed Out"),
    ("truncate", r"failed after 3 attempts: .*IncompleteRead"),
])
def test_a_data_centre_that_stays_broken_fails_the_fetch_with_the_reasons(mode, reason, proxy, scenario, caplog):
    import re

    proxy.mode, proxy.times, proxy.delay = mode, None, 3.0
    t = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="cmtflow"):
        ws, report, error, record = _fetch(scenario, _archive(proxy, timeout=1.0), f"down-{mode}")
    assert isinstance(error, TooFewStationsError) and "only 0 usable stations" in str(error)
    assert error.retriable  # a data centre may be back later: the task's retries try again
    dropped = {d["station"]: d["reason"] for d in record["dropped"]}
    assert set(ALL) <= set(dropped)
    asked = [code for code in ALL if not dropped[code].startswith("not requested")]
    assert len(asked) == MAX_SERVICE_FAILURES  # the rest are not asked of a service that keeps failing
    assert all(re.search(reason, dropped[code]) for code in asked), dropped
    assert all(dropped[c].startswith(f"not requested: dataselect service of {proxy.url} failed for the last 3")
               for c in ALL if c not in asked)
    assert "dropped XS." in caplog.text and re.search(reason, caplog.text)
    _no_partial_files(ws, set())
    print(f"{mode}: gave up after {time.perf_counter() - t:.1f} s, {len(proxy.requests)} requests")


def test_a_cut_on_a_record_boundary_is_not_taken_for_no_data(proxy, scenario):
    """Half a bulk answer, cut between records, reads without error: the stations missing
    from it are asked again on their own, and only then dropped, with what went wrong."""
    proxy.mode, proxy.times = "truncate-close", None
    ws, report, error, record = _fetch(scenario, _archive(proxy), "cut", min_stations=1)
    dropped = {d["station"]: d["reason"] for d in record["dropped"]}
    assert report is not None and 0 < len(report.used) < len(ALL)
    assert not any(dropped[c] == "no data" for c in ALL if c in dropped), dropped
    _no_partial_files(ws, set(report.used))


# ----------------------------------------------------------------------------- archive content
def test_corrupt_records_and_missing_responses_in_the_archive(scenario, tmp_path):
    """A corrupt miniSEED file and a StationXML channel without response: those stations are
    dropped with the reason, the run goes on with the others."""
    import copy

    from cmtflow.data.fetch import SDSArchive

    private = copy_scenario(scenario, tmp_path / "scenario")
    for tr in _traces(private, "XS", "AAA"):
        corrupt_file(sds_path(tr, private.sds))
    inventory = copy.deepcopy(private.inventory)
    for cha in inventory.select(station="BBB")[0][0].channels:
        cha.response = None
    quake = earthquake_from_origin(ORIGIN, 46.0, 8.0, 10.0, 4.3, event_id=EVENT_ID)
    selection = select_stations(inventory, quake)
    ws = RunWorkspace.create(EVENT_ID, "archive")
    report = fetch_waveforms(quake, selection, inventory, SDSArchive(private.sds), ws, FetchConfig(min_stations=3))
    record = {d["station"]: d["reason"] for d in json.loads(ws.stations_report.read_text())["dropped"]}
    assert record["XS.BBB"].startswith("no response for ")
    assert "corrupt miniSEED" in record["XS.AAA"] or "gaps" in record["XS.AAA"] or "incomplete" in record["XS.AAA"]
    assert "XS.AAA" not in report.used and "XS.BBB" not in report.used and len(report.used) >= 3
    _no_partial_files(ws, set(report.used))


def _traces(scenario, net, sta):
    import obspy

    return [tr for p in sorted(scenario.sds.rglob(f"{net}.{sta}.*")) for tr in obspy.read(str(p))]


# ----------------------------------------------------------------------------- killed processes
@pytest.fixture(scope="module")
def planned_run(tmp_path_factory):
    """A demo run planned up to its simulations (stages, no Airflow)."""
    from cmtflow import stages
    from cmtflow.demo import generate

    root = tmp_path_factory.mktemp("faults-home")
    old = os.environ.get("CMTFLOW_HOME")
    os.environ["CMTFLOW_HOME"] = str(root)
    try:
        scenario = generate(root / "scenario")
        event = stages.resolve_event(scenario.conf(bootstrap=0, n_params=6, depth_search=False), "planned", root)
        run_dir = Path(event["run_dir"])
        stages.select_stations(run_dir)
        stages.fetch_waveforms(run_dir)
        stages.preprocess_observed(run_dir)
        steps = stages.plan_simulations(run_dir)
    finally:
        if old is None:
            os.environ.pop("CMTFLOW_HOME", None)
        else:
            os.environ["CMTFLOW_HOME"] = old
    return root, run_dir, steps


def _step_argv(step: dict) -> list[str]:
    from cmtflow.steps import ContainerStep, LocalBackend

    return LocalBackend().argv(ContainerStep.from_dict(step))


def test_a_solver_killed_mid_simulation_leaves_nothing_reusable(planned_run, monkeypatch):
    from cmtflow.catalogue import open_catalogue

    root, run_dir, steps = planned_run
    monkeypatch.setenv("CMTFLOW_HOME", str(root))
    step = steps[0]
    key = json.loads((run_dir / "simulations" / "plan.json").read_text())["variants"][0]["key"]
    out = root / "simulations" / key
    catalogue = open_catalogue(root)
    proc = subprocess.Popen(_step_argv(step), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and (catalogue.simulation(key) or {}).get("state") != "computing":
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # the solver dies with its claim taken
    proc.wait(10)
    row = catalogue.simulation(key)
    assert row["state"] == "computing" and not (out / "synthetics.json").is_file()
    # planning again does not take the killed simulation for a complete one
    from cmtflow import stages

    assert not stages._reuse_planned(RunWorkspace.at(run_dir), PlannedVariant("initial", key, 0.0,
                                                                                "CMTSOLUTION.initial"))
    # the task's retry: the dead process's claim is taken over at once, not after 10 minutes
    t = time.perf_counter()
    again = subprocess.run(_step_argv(step), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert time.perf_counter() - t < 120
    assert "claim of" in again.stderr and "stale" in again.stderr
    assert catalogue.simulation(key)["state"] == "complete" and (out / "synthetics.json").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


KILL_AT_PUBLISH = """
import os, signal, sys
from cmtflow import stages, workspace
real = stages.write_json_atomic
def write_json_atomic(path, record):
    if path.name == "published.json":
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies between the catalogue and the mark
    return real(path, record)
stages.write_json_atomic = write_json_atomic
stages.publish_solution(sys.argv[1])
"""


def test_a_worker_killed_during_publish_solution(planned_run, monkeypatch):
    from cmtflow import stages
    from cmtflow.catalogue import open_catalogue

    root, run_dir, steps = planned_run
    monkeypatch.setenv("CMTFLOW_HOME", str(root))
    stages.run_steps(stages.plan_simulations(run_dir))
    stages.preprocess_synthetics(run_dir)
    stages.measure_misfit(run_dir)
    stages.invert_source(run_dir)
    killed = subprocess.run([sys.executable, "-c", KILL_AT_PUBLISH, str(run_dir)], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "CMTFLOW_HOME": str(root)})
    assert killed.returncode == -signal.SIGKILL
    # not presented as complete: no published.json; what the catalogue shows is all there
    assert not (run_dir / "published.json").exists()
    for shown in open_catalogue(root).solutions():
        assert Path(shown["path"], "solution.json").is_file()
    report = run_dir / "report"
    assert (report / "index.html").is_file() or not report.exists()
    assert not [p for p in run_dir.rglob(".*") if p.is_file()]
    # the task's retry completes it
    record = stages.publish_solution(run_dir)
    assert json.loads((run_dir / "published.json").read_text()) == record
    assert [s["run_id"] for s in open_catalogue(root).solutions()] == ["planned"]


# ----------------------------------------------------------------------------- catalogue
def test_the_catalogue_database_down_for_a_while_then_restarted(postgres_server, caplog):
    from cmtflow.catalogue.store import Catalogue

    catalogue = Catalogue(postgres_server.url, retry_s=60)
    quake = {"event_id": "pg-restart", "time": "2024-03-10T12:00:00", "latitude": 46.0, "longitude": 8.0,
             "depth_km": 10.0, "magnitude": 4.3, "magnitude_type": "Mw", "provider": "test"}
    catalogue.record_event(quake)
    postgres_server.stop()
    restart = threading.Timer(4.0, postgres_server.start)
    restart.start()
    t = time.perf_counter()
    try:
        with caplog.at_level(logging.WARNING, logger="cmtflow"):
            catalogue.start_run("pg-run", "pg-restart", {"n_params": 6}, "/nowhere")
    finally:
        restart.join()
    waited = time.perf_counter() - t
    assert 3.0 < waited < 60 and "unreachable" in caplog.text and "retrying" in caplog.text
    assert catalogue.run("pg-run")["state"] == "running"
    assert "postgres@" in caplog.text or "***" in caplog.text or "127.0.0.1" in caplog.text


def test_a_catalogue_down_too_long_fails_clearly(tmp_path):
    from cmtflow.catalogue.store import Catalogue, CatalogueError

    catalogue = Catalogue(f"sqlite:///{tmp_path / 'c.sqlite'}", retry_s=2)
    (tmp_path / "c.sqlite").unlink()
    (tmp_path / "c.sqlite").mkdir()  # the file is gone and cannot be created: unreachable
    catalogue.engine.dispose()
    with pytest.raises(CatalogueError, match=r"catalogue sqlite:///.* unreachable for 2 s \(runs\)"):
        catalogue.runs()


# ----------------------------------------------------------------------------- disk full
def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


def test_disk_full_in_the_data_root_is_a_clear_error_and_leaves_nothing(tmp_path):
    """A 1 MiB tmpfs as the data root (root and mount namespaces); where mounting is not
    allowed, a 200 kB file-size limit (RLIMIT_FSIZE) makes the same writes fail instead."""
    import resource

    from cmtflow.source import Source, write_cmtsolution

    data = tmp_path / "root"
    data.mkdir()
    source = Source.from_strike_dip_rake(10, 50, 90, 4.5, time="2024-01-01T00:00:00", latitude=46.0, longitude=8.0,
                                         depth_km=10.0, event_id="e1")
    write_cmtsolution(source, tmp_path / "CMTSOLUTION")
    lines = [f"S{i:03d} XS {46.3 + 0.05 * (i % 20):.3f} {8.2 + 0.05 * (i // 20):.3f} 0.0 0.0" for i in range(60)]
    (tmp_path / "STATIONS").write_text("\n".join(lines) + "\n")
    synth = (f"{sys.executable} -m cmtflow --data-root {data} synth --model scak --source {tmp_path}/CMTSOLUTION "
             f"--stations {tmp_path}/STATIONS --dt 0.25 --npts 2048 --out {data}/out")
    # Green's functions and 60 stations x 3 x 2048 float64 samples (~3 MiB) do not fit
    listing = f"({synth}; rc=$?; echo LEFT; find {data} -mindepth 1; exit $rc)"
    if _can_mount_tmpfs():
        command, expected, limit = ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {data} && {listing}"], \
            "error: no space left on device", None
    else:
        command, expected, limit = ["sh", "-c", listing], "error: file size limit exceeded", 200_000

    def limited():
        if limit:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=limited)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(expected) and str(data) in done.stderr
    assert "Traceback" not in done.stderr
    left = done.stdout.split("LEFT", 1)[1].split()
    assert not [p for p in left if Path(p).name.startswith(".") or p.endswith(("synthetics.json", ".mseed"))], left


def test_too_little_free_space_is_refused_before_a_run_starts(monkeypatch, data_root):
    from cmtflow import stages
    from cmtflow.errors import CmtflowError

    monkeypatch.setenv("CMTFLOW_MIN_FREE_MB", str(10**12))
    conf = {"origin_time": "2024-03-10T12:00:00", "latitude": 46.0, "longitude": 8.0, "depth_km": 10.0,
            "magnitude": 4.3}
    with pytest.raises(CmtflowError, match=r"data root .* has only \d+ MiB free; CMTFLOW_MIN_FREE_MB"):
        stages.resolve_event(conf, "full")
    assert not (data_root / "events").exists()


# ----------------------------------------------------------------------------- through Airflow
@pytest.mark.slow
def test_a_run_whose_data_centre_stays_down_fails_with_the_reasons_on_record(tmp_path, proxy, station_event_server,
                                                                              scenario):
    """cmt_inversion through Airflow (dag.test, in a subprocess) with the dataselect service
    answering 503: the fetch is retried by Airflow, then the run fails; the reason is in the
    task log, in stations.json and in the catalogue's run record."""
    import sqlite3

    root = tmp_path / "home"
    proxy.mode = "error"
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"quakeml": str(scenario.quakeml), "station_service": station_event_server.url,
                                "dataselect_service": proxy.url, "min_stations": 3, "max_distance_km": 500.0}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(CMTFLOW_HOME=str(root), CMTFLOW_INPUT_ROOTS=str(scenario.root), CMTFLOW_FDSN_RETRIES="1",
               CMTFLOW_FDSN_BACKOFF_S="0.05", CMTFLOW_TASK_RETRY_DELAY_S="1")
    done = subprocess.run([sys.executable, "-m", "cmtflow", "run", "--conf", str(conf)], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "ended failed" in done.stderr and "data.fetch_waveforms" in done.stderr
    run_dir = next((root / "events" / EVENT_ID / "runs").iterdir())
    dropped = json.loads((run_dir / "stations.json").read_text())["dropped"]
    assert any("503" in d["reason"] for d in dropped)
    with sqlite3.connect(root / "catalogue.sqlite") as db:
        assert db.execute("SELECT state FROM runs WHERE run_id = ?", (run_dir.name,)).fetchone() == ("failed",)
    # the task log (dag.test prints it on the terminal): two retries, then the failure, with the reason
    lines = [ln for ln in done.stderr.splitlines() if ln.split()[1:2] == ["data.fetch_waveforms"]]
    assert [ln.split()[0] for ln in lines] == ["retry", "retry", "FAILED"], lines
    assert all("only 0 usable stations" in ln for ln in lines) and str(run_dir / "stations.json") in lines[-1]
    fetches = [r for r in proxy.requests if "/dataselect/" in r]
    print(f"{len(fetches)} dataselect requests in 3 tries")
