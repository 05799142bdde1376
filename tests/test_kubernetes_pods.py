"""The pod path executed: the real ``KubernetesPodOperator.execute`` against a Kubernetes API
double that runs each pod's command as a local process (``kube_double.KubeDouble``).

The operator finds its client from ``KUBECONFIG`` as in any cluster without a connection set;
everything between it and the API server is real (the kubernetes client, HTTP, the pod
manager's start, log and completion loops, its clean-up). Checked: a step pod that succeeds
(its log followed, the pod deleted after), one that fails (the exit code in the task's error,
the pod kept for inspection), one whose image cannot be pulled (failed
fast, not after the start timeout) and one deleted while it runs; then the Kubernetes
``cmt_inversion`` DAG end to end, every step a pod.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kube_double import MISSING_IMAGE, KubeDouble

pytest.importorskip("airflow.providers.cncf.kubernetes")

#: The DAG of the failure cases: a file in the DAGs folder (``dag.test()`` runs DAGs of a bundle).
FAULTS_DAG = """
import sys
import pendulum
from airflow.sdk import DAG
from cmtflow.steps import ContainerStep
from cmtflow.airflow.kubernetes import step_operator

py = sys.executable
steps = {
    "succeeds": (py, "-c", "print('hello from the pod')"),
    "fails": (py, "-c", "import sys; print('the step failed: no stations'); sys.exit(3)"),
    "cannot_start": (py, "-c", "print('never printed')"),
    "evicted": (py, "-c", "import time; print('evict-me', flush=True); time.sleep(120)"),
}
with DAG("pod_faults", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False) as dag:
    for task_id, command in steps.items():
        op = step_operator(ContainerStep(task_id, "cmtflow", command), task_id=task_id)
        op.startup_timeout_seconds = 60
        if task_id == "cannot_start":
            op.image = "registry.invalid/MISSING:1"
""".replace("MISSING", MISSING_IMAGE)

#: Runs :data:`FAULTS_DAG` with ``dag.test()`` in a process with its own Airflow home.
RUN_FAULTS = """
import importlib.util, json, os, sys
from pathlib import Path
from cmtflow.airflow.home import activate
activate()
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = sys.argv[2]  # the test's own folder, not the checkout's dags/
path = Path(sys.argv[2]) / "pod_faults.py"
path.write_text(sys.argv[1])
spec = importlib.util.spec_from_file_location("pod_faults", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
run = module.dag.test()
print("STATES " + json.dumps({ti.task_id: str(ti.state) for ti in run.get_task_instances()}))
"""


@pytest.fixture()
def double(tmp_path):
    api = KubeDouble().start()
    yield api
    api.stop()


def _env(tmp_path: Path, double: KubeDouble) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(CMTFLOW_HOME=str(tmp_path / "home"), KUBECONFIG=str(double.kubeconfig(tmp_path / "kubeconfig")),
               CMTFLOW_COMPUTE_BACKEND="kubernetes", CMTFLOW_RUNNER="subprocess",
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return env


def _evict_when_running(double: KubeDouble, marker: str, stop: threading.Event) -> None:
    while not stop.wait(0.2):
        for name, pod in list(double.pods.items()):
            if marker in " ".join(pod.container.get("args", [])) and any(marker in line for line in pod.lines):
                double.evict(name)
                return


def test_pods_that_succeed_fail_cannot_start_or_are_deleted(double, tmp_path):
    stop = threading.Event()
    watcher = threading.Thread(target=_evict_when_running, args=(double, "evict-me", stop), daemon=True)
    watcher.start()
    t = time.perf_counter()
    try:
        (tmp_path / "dags").mkdir()
        done = subprocess.run([sys.executable, "-c", RUN_FAULTS, FAULTS_DAG, str(tmp_path / "dags")],
                              env=_env(tmp_path, double), text=True, capture_output=True, timeout=600)
    finally:
        stop.set()
    seconds = time.perf_counter() - t
    output = done.stdout + done.stderr
    states = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("STATES "))[7:])
    assert states == {"succeeds": "success", "fails": "failed", "cannot_start": "failed", "evicted": "failed"}, \
        output[-5000:]
    by_task = {pod.manifest["metadata"]["labels"]["task_id"]: pod for pod in double.pods.values()}
    logs = {path.split("/")[-2] for method, path in double.requests if path.endswith("/log")}
    # the one that succeeded: created, its log followed, deleted after
    assert by_task["succeeds"].name in logs and by_task["succeeds"].name in double.deleted
    # the failing one: its exit code in the task's error, the pod kept for inspection and marked as seen
    assert by_task["fails"].name in logs and by_task["fails"].name not in double.deleted
    assert by_task["fails"].state["terminated"]["exitCode"] == 3 and "'exit_code': 3" in output
    assert by_task["fails"].manifest["metadata"]["labels"].get("already_checked") == "True"
    # the image that cannot be pulled fails fast with the registry's reason, not after the start timeout
    assert "Image cannot be pulled, unable to start: ErrImagePull" in output
    assert by_task["cannot_start"].process is None
    # the pod deleted under the operator: the task fails, the process is gone
    assert by_task["evicted"].name in double.deleted and by_task["evicted"].process.poll() is not None
    assert seconds < 300, seconds
    assert ("POST", "/api/v1/namespaces/cmtflow/pods") in double.requests


@pytest.mark.slow
def test_the_kubernetes_dag_runs_every_step_as_a_pod(double, tmp_path):
    """The demo event through ``cmt_inversion`` built for the Kubernetes backend: every
    container step (preprocessing, simulation, synthetics) a pod created, followed and deleted
    by the real operator; the solution is the local backend's."""
    env = _env(tmp_path, double)
    prepared = subprocess.run([sys.executable, "-m", "cmtflow", "demo", "--prepare-only"], env=env, text=True,
                              capture_output=True, timeout=600)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    conf = {**json.loads(prepared.stdout), "compute_backend": "kubernetes", "bootstrap": 0, "depth_search": False}
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    done = subprocess.run([sys.executable, "-m", "cmtflow", "run", "--conf", str(tmp_path / "conf.json")], env=env,
                          text=True, capture_output=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    roles = sorted(pod.manifest["metadata"]["labels"]["cmtflow/role"] for pod in double.pods.values())
    tasks = {pod.manifest["metadata"]["labels"]["task_id"] for pod in double.pods.values()}
    assert {"data.preprocess_observed", "simulations.simulate", "simulations.preprocess_synthetics"} <= tasks, tasks
    assert all(pod.phase == "Succeeded" and pod.name in double.deleted for pod in double.pods.values()), roles
    assert "Mw 4.5" in done.stdout or "Mw 4.4" in done.stdout or "Mw 4.6" in done.stdout, done.stdout
