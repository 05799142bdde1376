"""A real ``airflow standalone`` (API server, scheduler, DAG processor, LocalExecutor) in a
temporary cmtflow home on a free port, for the integration tests that talk to it over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fdsn_fixtures import free_port


def run_cmtflow(root: Path, *args, timeout: float = 600, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """The ``cmtflow`` command as a user runs it: its own process, data root and Airflow home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "cmtflow", "--data-root", str(root), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def start_run_until(root: Path, conf: Path, line: str, stderr: Path, extra_env: dict | None = None,
                    timeout: float = 300) -> subprocess.Popen:
    """``cmtflow run --conf CONF`` started in the background (its stderr to the file ``stderr``),
    returned once that shows ``line`` (a task's progress line, e.g. ``retry   data.fetch_waveforms``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(extra_env or {})
    with open(stderr, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cmtflow", "--data-root", str(root), "run", "--conf", str(conf)],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    deadline = time.time() + timeout
    while line not in stderr.read_text():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise AssertionError(f"no {line!r} from cmtflow run: {stderr.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc


@dataclass
class Standalone:
    base: str  # http://127.0.0.1:<port>
    auth: dict  # the Authorization header of the admin user (JWT)
    root: Path  # CMTFLOW_HOME
    env: dict
    process: subprocess.Popen


@contextlib.contextmanager
def standalone_airflow(folder: Path, extra_env: dict | None = None, start_timeout_s: float = 180.0,
                       without_pool: bool = False):
    """Start ``airflow standalone`` with cmtflow's DAGs and plugin; yield a :class:`Standalone`.

    :param without_pool: as an Airflow that ``cmtflow airflow-home`` did not set up: no
        ``cmtflow_simulations`` pool, and no ``CMTFLOW_SIMULATION_POOL`` naming one.
    """
    import httpx

    root = folder / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(CMTFLOW_HOME=str(root), PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
               **(extra_env or {}))
    exports = subprocess.run([sys.executable, "-m", "cmtflow", "airflow-home"], env=env, text=True,
                             capture_output=True, timeout=300).stdout
    for line in exports.splitlines():
        if line.startswith("export "):
            key, value = line[len("export "):].split("=", 1)
            env[key] = value.strip("'")
    env.update(extra_env or {})  # the caller's settings win over the home's (a PostgreSQL metadata database)
    if without_pool:
        pool = env.pop("CMTFLOW_SIMULATION_POOL")
        subprocess.run([sys.executable, "-m", "airflow", "pools", "delete", pool], env=env, check=True,
                       capture_output=True, timeout=120)
    # own ports for the log servers too: two instances (or a developer's) must not collide
    env.update(AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
               AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()))
    env.update(AIRFLOW__API__PORT=str(port), AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
               AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/")
    log = open(folder / "standalone.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + start_timeout_s
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            raise RuntimeError("airflow standalone did not start: " + (folder / "standalone.log").read_text()[-2000:])
        passwords = json.loads((root / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
        token = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": passwords["admin"]},
                           timeout=30).json()["access_token"]
        yield Standalone(base, {"Authorization": f"Bearer {token}"}, root, env, proc)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()
