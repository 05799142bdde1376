"""The warm runner of ``cmtflow run`` (cmtflow.airflow.runner): runs forked from one process
that has Airflow and the science loaded, with the caller's terminal and environment."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from airflow_fixtures import run_cmtflow, start_run_until

from cmtflow.airflow.runner import runner_key

pytest.importorskip("airflow")

EMPTY_QUAKEML = ('<?xml version="1.0"?>\n<q:quakeml xmlns:q="http://quakeml.org/xmlns/quakeml/1.2" '
                 'xmlns="http://quakeml.org/xmlns/bed/1.2"><eventParameters publicID="smi:test/none"/></q:quakeml>\n')


def test_a_runner_serves_one_environment_and_one_version_of_the_code(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "cmt.py").write_text("dag = None\n")
    env = {"CMTFLOW_HOME": "/data/a", "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "PATH": "/usr/bin"}
    key = runner_key(env)
    assert runner_key(dict(env)) == key
    # per shell, per test: the same runner
    assert runner_key({**env, "TERM": "xterm", "PWD": "/x", "PYTEST_CURRENT_TEST": "t", "SSH_TTY": "/dev/pts/1"}) == key
    # what Airflow and cmtflow read when imported, or the code they loaded: another runner
    assert runner_key({**env, "CMTFLOW_HOME": "/data/b"}) != key
    assert runner_key({**env, "AIRFLOW__CORE__PARALLELISM": "3"}) != key
    assert runner_key({**env, "CMTFLOW_TASK_RETRY_DELAY_S": "5"}) != key
    os.utime(dags / "cmt.py", ns=(0, 10**9))
    assert runner_key(env) != key


def _failing_run(tmp_path: Path, root: Path, **env):
    """A run that fails in its first task (a QuakeML file without an event): the runner's
    fork, its task log on the caller's stderr, its exit status."""
    (tmp_path / "empty.xml").write_text(EMPTY_QUAKEML)
    (tmp_path / "conf.json").write_text(json.dumps({"quakeml": str(tmp_path / "empty.xml")}))
    done = run_cmtflow(root, "run", "--conf", str(tmp_path / "conf.json"),
                       extra_env={"CMTFLOW_INPUT_ROOTS": str(tmp_path), **env})
    assert done.returncode == 2, done.stderr[-3000:]
    assert "FAILED  resolve_event" in done.stderr and "no event in the file" in done.stderr
    return done


def test_runs_are_forks_of_one_warm_runner_which_stops_on_request(tmp_path):
    root = tmp_path / "home"
    first = _failing_run(tmp_path, root)
    # a variable of the shell only: the same runner, the variable in the run's environment
    second = _failing_run(tmp_path, root, TERM="cmtflow-test-terminal")
    assert "no warm runner" not in first.stderr + second.stderr
    # two at once: each fork with its own caller's terminal
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: _failing_run(tmp_path, root), range(2)))
    assert all(done.stderr.count("FAILED  resolve_event") == 1 for done in both)
    listed = run_cmtflow(root, "runner")
    assert listed.returncode == 0, listed.stderr
    lines = [ln for ln in listed.stdout.splitlines() if f"data root {root}," in ln]
    assert len(lines) == 1 and ", 4 runs, running none" in lines[0], listed.stdout
    pid = int(re.match(r"runner (\d+):", lines[0])[1])
    os.kill(pid, 0)
    stopped = run_cmtflow(root, "runner", "--stop")
    assert f"runner {pid}: stopping" in stopped.stdout
    assert f"data root {root}," not in run_cmtflow(root, "runner").stdout


def test_a_runner_that_cannot_start_leaves_the_run_to_a_new_interpreter(tmp_path):
    shared = Path(tempfile.mkdtemp(prefix="xdg"))  # short: a socket path holds 107 bytes
    try:
        folder = shared / f"cmtflow-runner-{os.getuid()}"
        folder.mkdir()
        folder.chmod(0o777)  # not this user's alone: no socket is trusted there
        done = _failing_run(tmp_path, tmp_path / "home", XDG_RUNTIME_DIR=str(shared))
    finally:
        shutil.rmtree(shared)
    assert "cmtflow: no warm runner (" in done.stderr and "is not this user's alone" in done.stderr
    assert "the run starts a new interpreter" in done.stderr


def test_an_unknown_runner_mode_is_refused(tmp_path):
    (tmp_path / "conf.json").write_text(json.dumps({"quakeml": str(tmp_path / "x.xml")}))
    (tmp_path / "x.xml").write_text(EMPTY_QUAKEML)
    refused = run_cmtflow(tmp_path / "home", "run", "--conf", str(tmp_path / "conf.json"),
                          extra_env={"CMTFLOW_RUNNER": "fast", "CMTFLOW_INPUT_ROOTS": str(tmp_path)})
    assert refused.returncode == 2
    assert "error: CMTFLOW_RUNNER='fast': must be one of warm, subprocess" in refused.stderr


def test_a_run_outlives_its_runner_killed_mid_run(tmp_path, scenario):
    """The runner killed (SIGKILL) while its fork runs: the fork, in a session of its own,
    finishes the run, and the command reports the run's outcome instead of waiting for ever."""
    import signal

    from fdsn_fixtures import free_port

    root = tmp_path / "home"
    refused = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "conf.json").write_text(json.dumps({"quakeml": str(scenario.quakeml), "station_service": refused,
                                                    "dataselect_service": refused}))
    proc = start_run_until(root, tmp_path / "conf.json", "retry   data.select_stations", tmp_path / "stderr",
                           {"CMTFLOW_INPUT_ROOTS": str(scenario.root), "CMTFLOW_FDSN_RETRIES": "0",
                            "CMTFLOW_TASK_RETRY_DELAY_S": "1"})
    try:
        listed = run_cmtflow(root, "runner", extra_env={"CMTFLOW_INPUT_ROOTS": str(scenario.root)})
        line = next(ln for ln in listed.stdout.splitlines() if f"data root {root}," in ln)
        assert ", running [" in line, line
        os.kill(int(re.match(r"runner (\d+):", line)[1]), signal.SIGKILL)
        status = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = (tmp_path / "stderr").read_text()
    assert status == 2, stderr[-2000:]
    assert "FAILED  data.select_stations" in stderr and "ended failed" in stderr
    # the dead runner's socket is cleared by the next look
    assert f"data root {root}," not in run_cmtflow(root, "runner").stdout
