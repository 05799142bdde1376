
import sys
import pendulum
from airflow.sdk import DAG
from cmtflow.airflow.backends import ContainerStep
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
            op.image = "registry.invalid/no-such-image:1"
