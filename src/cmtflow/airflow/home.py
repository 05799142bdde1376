"""The embedded Airflow home: SQLite metadata, the cmtflow DAGs, the simulation pool.

``<data root>/airflow`` is the Airflow home of the embedded default. Airflow reads its
configuration when it is first imported, so :func:`airflow_env` is applied to
``os.environ`` before any Airflow import (:func:`activate`). The DAGs folder is the
repository's ``dags/`` when cmtflow runs from a checkout, else a folder in the home with
the same thin DAG file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from cmtflow.config import Settings, data_root, settings
from cmtflow.errors import CmtflowError, RunStopped
from cmtflow.lineage import default_transport

log = logging.getLogger(__name__)

DAG_FILE = '''"""cmt_inversion: centroid moment tensor inversion of one earthquake (built in cmtflow.airflow.dags)."""

from cmtflow.airflow.dags import cmt_inversion_dag

dag = cmt_inversion_dag()
'''


#: The variable naming the pool of the ``simulate`` task, and the pool that ``cmtflow
#: airflow-home`` and the Helm chart create and name there (a GPU deployment names
#: cmtflow_gpu_simulations). Here, not in cmtflow.airflow.dags: the command's own process
#: need not import the DAG and the stages.
SIMULATION_POOL_ENV = Settings.simulation_pool.name
SIMULATION_POOL = "cmtflow_simulations"
#: Concurrent simulations: the slots of the pool cmtflow creates, or the cap without a pool.
SIMULATION_POOL_SLOTS = 4


def home_path(root: str | Path | None = None) -> Path:
    return Path(root) if root is not None else data_root() / "airflow"


PLUGIN_FILE = '''"""cmtflow's Airflow plugin: catalogue REST endpoints under /cmtflow (built in cmtflow.airflow.api)
and the trigger-time run conf checks (cmtflow.airflow.trigger_check)."""

from airflow.plugins_manager import AirflowPlugin

from cmtflow.airflow.api import LIST_PAGE, PREFIX, VIEW_ROUTE, create_app
from cmtflow.airflow.trigger_check import TriggerConfCheck


class CmtflowPlugin(AirflowPlugin):
    name = "cmtflow"
    fastapi_apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "cmtflow catalogue"}]
    fastapi_root_middlewares = [{"middleware": TriggerConfCheck, "name": "cmtflow run conf checks"}]
    external_views = [{"name": "Earthquakes", "href": LIST_PAGE, "destination": "nav", "url_route": VIEW_ROUTE}]
'''


def _thin_folder(home: Path, name: str, filename: str, content: str) -> Path:
    """The repository's ``<name>/`` in a checkout, else ``<home>/<name>`` with the thin file."""
    repo = Path(__file__).resolve().parents[3] / name
    if (repo / filename).is_file():
        return repo
    folder = home / name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    if not target.is_file() or target.read_text() != content:
        target.write_text(content)
    return folder


ALERTS_DAG_FILE = '''"""earthquake_alerts: start cmt_inversion for new earthquakes (built in cmtflow.airflow.dags)."""

from cmtflow.airflow.dags import earthquake_alerts_dag

dag = earthquake_alerts_dag()
'''


def dags_folder(home: Path) -> Path:
    folder = _thin_folder(home, "dags", "cmt_inversion.py", DAG_FILE)
    if folder == home / "dags":
        target = folder / "earthquake_alerts.py"
        if not target.is_file() or target.read_text() != ALERTS_DAG_FILE:
            target.write_text(ALERTS_DAG_FILE)
    return folder


def plugins_folder(home: Path) -> Path:
    return _thin_folder(home, "plugins", "cmtflow_plugin.py", PLUGIN_FILE)


#: Seconds the embedded scheduler sleeps when a loop found nothing to do (Airflow's default: 1).
SCHEDULER_IDLE_SLEEP_S = 0.25

def airflow_env(home: Path) -> dict[str, str]:
    """Environment of the embedded Airflow (SQLite in the home, no examples, quiet logs: the
    terminal shows one line per task instead, and dag.test() would warn "No tasks to run"
    whenever a mapped task had nothing to map, i.e. every simulation was reused)."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder(home)),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder(home)),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR"),
        Settings.home.name: str(data_root()),
        # OpenLineage: to a file in the data root unless a transport is configured already
        "AIRFLOW__OPENLINEAGE__TRANSPORT": os.environ.get("AIRFLOW__OPENLINEAGE__TRANSPORT")
        or json.dumps(default_transport(data_root())),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": os.environ.get("AIRFLOW__OPENLINEAGE__NAMESPACE", "cmtflow"),
        "AIRFLOW__OPENLINEAGE__CUSTOM_RUN_FACETS": "cmtflow.lineage.run_facets",
        # events emitted from a thread of the task process, not a fork of it: a fork per event
        # and its wait cost each task about 0.2 s (5 s of a run)
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": os.environ.get("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True"),
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", str(default_parallelism())),
        # each task of a run waits for the scheduler's next loop, about 20 times a run: Airflow's
        # 1 s idle sleep put 13 s of a 26 s demo run into these waits
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": os.environ.get(
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", str(SCHEDULER_IDLE_SLEEP_S)),
        SIMULATION_POOL_ENV: settings.simulation_pool or SIMULATION_POOL,
    }


#: Memory one running task takes (its supervisor and task processes, each with Airflow,
#: ObsPy and NumPy loaded; measured by the load test), for the embedded task concurrency.
TASK_MEMORY_GIB = 0.75


def default_parallelism() -> int:
    """Tasks the embedded Airflow runs at once: two per CPU, no more than the memory holds
    (``TASK_MEMORY_GIB`` each, half the machine's memory in all), between 2 and 32. Airflow's
    own default (32) on a small machine runs out of memory under a burst of alerts."""
    cpus = os.cpu_count() or 2
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory_gib = 8.0
    return int(max(2, min(2 * cpus, memory_gib / 2 / TASK_MEMORY_GIB, 32)))


def _airflow(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "airflow", *args], env={**os.environ, **env}, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        last = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), "")
        raise CmtflowError(f"airflow {' '.join(args)} failed: {last.strip()[:300]}")


def ensure_home(root: str | Path | None = None) -> Path:
    """Create and migrate the embedded Airflow home once (SQLite), with the simulation pool."""
    home = home_path(root)
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(home)
    marker = home / ".cmtflow-initialised"
    if marker.is_file():
        return home
    # one process migrates (the warm runner may be at it, started early by `cmtflow demo`)
    with open(home / ".cmtflow-initialising.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.is_file():
            log.info("initialising the Airflow home %s", home)
            _airflow(["db", "migrate"], env)
            _airflow(["pools", "set", env[SIMULATION_POOL_ENV], str(SIMULATION_POOL_SLOTS),
                      "concurrent cmtflow simulations"], env)
            marker.write_text("airflow db migrated; pool created\n")
    return home


def ensure_pool() -> str | None:
    """The pool the DAG's ``simulate`` task names, created (with
    :data:`SIMULATION_POOL_SLOTS` slots) when it is missing from the
    metadata database this process uses: a run would otherwise wait for it for ever."""
    from cmtflow.airflow.dags import simulation_limits

    name = simulation_limits().get("pool")
    if name is None:
        return None
    from airflow.models.pool import Pool

    if Pool.get_pool(name) is None:
        sys.__stderr__.write(f"cmtflow: the Airflow pool {name} did not exist: created with {SIMULATION_POOL_SLOTS} "
                             "slots\n")
        Pool.create_or_update_pool(name, SIMULATION_POOL_SLOTS, "concurrent cmtflow simulations (created by cmtflow)",
                                   include_deferred=False)
    return name


def activate(root: str | Path | None = None) -> Path:
    """:func:`ensure_home`, then point this process's (not yet imported) Airflow at it."""
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(home_path(root)):
        log.warning("Airflow was imported before its home was set; it may use another configuration")
    home = ensure_home(root)
    os.environ.update(airflow_env(home))
    return home


def start_runner_early(root: str | Path | None = None) -> None:
    """Start this environment's warm runner now, without waiting for it: it migrates the
    Airflow home and loads Airflow while the caller does something else (``cmtflow demo``
    generates its scenario). The environment is set as :func:`activate` sets it, so the run
    finds the same runner; a runner that cannot start is reported when the run asks for it."""
    if settings.runner != "warm":
        return
    from cmtflow.airflow.runner import RunnerUnavailable, connect_runner

    home = home_path(root)
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_env(home))
    with contextlib.suppress(RunnerUnavailable, OSError):
        listening = connect_runner(wait=False)
        if listening is not None:
            listening.close()


def standalone_instructions(root: str | Path | None = None) -> str:
    """How to start ``airflow standalone`` (UI + scheduler) with the cmtflow DAGs."""
    home = ensure_home(root)
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in airflow_env(home).items()
                        if k != "AIRFLOW__LOGGING__LOGGING_LEVEL")
    return (f"{exports}\nairflow standalone\n\n# then open http://localhost:8080 (the admin password is printed by "
            f"'airflow standalone' and kept in {home}/simple_auth_manager_passwords.json.generated),\n"
            f"# trigger 'cmt_inversion' with the form, or through the REST API (POST /auth/token, then\n"
            f"# POST /api/v2/dags/cmt_inversion/dagRuns with {{\"logical_date\": null, \"conf\": {{...}}}}).")


def run_dag(conf: dict, root: str | Path | None = None, run_after: datetime | None = None) -> dict:
    """Run ``cmt_inversion`` with ``conf`` through Airflow (``dag.test()``, in this process).

    :param run_after: the run's ``run_after`` (it makes its run id); now when omitted.
    :returns: ``{"state", "run_id", "tasks": [(task id, map index, state, seconds)], "published",
        "outcome", "updates"}``: ``outcome`` says why a run ended without a solution (too few
        stations, data that determine no source: :func:`cmtflow.stages.record_no_solution`); ``updates``: the runs of the next versions (:func:`cmtflow.stages.update_runs`, a second
        pass of :func:`cmtflow.stages.second_pass_runs`), for the caller to run, ``dag.test()``
        having no scheduler for the runs its tasks trigger.
    """
    activate(root)
    from cmtflow.airflow.dags import cmt_inversion_dag
    from cmtflow.runconf import check_conf

    check_conf(conf)  # the trigger-time validation, before Airflow starts
    ensure_pool()
    dag = cmt_inversion_dag()
    dag_run = dag.test(run_conf=conf, run_after=run_after)
    _stop_listeners()
    tasks, updates = [], []
    published = outcome = None
    never = datetime.max.replace(tzinfo=timezone.utc)  # tasks that did not run (an empty mapping) sort last
    for ti in sorted(dag_run.get_task_instances(), key=lambda t: (t.start_date or t.end_date or never, t.map_index)):
        seconds = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
        tasks.append((ti.task_id, ti.map_index, str(ti.state), seconds))
        if ti.task_id == "publish_solution" and str(ti.state) == "success":
            published = ti.xcom_pull(task_ids="publish_solution")
        if ti.task_id in ("data.plan_update", "plan_second_pass") and str(ti.state) == "success":
            updates += ti.xcom_pull(task_ids=ti.task_id) or []
        if ti.task_id == "resolve_event" and str(ti.state) == "success":
            # too few stations by the fetch, or data that determine no source: the run says why
            from cmtflow.workspace import RunWorkspace, read_json

            ws = RunWorkspace.at((ti.xcom_pull(task_ids=ti.task_id) or {})["run_dir"])
            outcome = read_json(ws.outcome_file) if ws.outcome_file.is_file() else None
    take_queued_runs([u["trigger_run_id"] for u in updates])
    return {"state": str(dag_run.state), "run_id": dag_run.run_id, "tasks": tasks, "published": published,
            "updates": updates, "outcome": outcome}


class EmbeddedRun:
    """The component that stops, for Airflow's listeners (``before_stopping``)."""


def _stop_listeners() -> None:
    """Tell Airflow's listeners that this process's run is over, as its scheduler and task
    runner do when they stop: OpenLineage sends the DAG run's last event from a process pool,
    which this waits for and ends (else the event could be lost with the process, or the pool
    outlive it, holding the caller's wait)."""
    from airflow.sdk.listener import get_listener_manager

    try:
        get_listener_manager().hook.before_stopping(component=EmbeddedRun())
    except Exception:  # noqa: BLE001 - lineage never fails a run; Airflow's own callers log and go on
        log.exception("error calling Airflow's listeners at the end of the run")


def take_queued_runs(run_ids: list[str]) -> None:
    """Delete the queued ``cmt_inversion`` runs ``run_ids`` (the updates a ``dag.test()`` run
    triggered; its caller runs them): a scheduler started later on this Airflow home would
    otherwise run them again, long after their data were due."""
    if not run_ids:
        return
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    from cmtflow.airflow.dags import DAG_ID

    with create_session() as session:
        for dag_run in session.query(DagRun).filter(DagRun.dag_id == DAG_ID, DagRun.run_id.in_(run_ids),
                                                    DagRun.state == DagRunState.QUEUED):
            session.delete(dag_run)


#: Seconds a stopped run's processes get to end after SIGTERM before they are killed.
STOP_GRACE_S = 3.0


def run_dag_stoppable(conf: dict, root: str | Path | None = None) -> dict:
    """:func:`run_dag` in a child interpreter with a process group of its own, so that SIGTERM
    and SIGINT (Ctrl-C) stop the run promptly, also while a task waits for its retry.

    Airflow's task runner replaces the SIGTERM handler of the process that runs a task with one
    that only calls the task's ``on_kill``, and never restores it: a ``dag.test()`` in this
    process would ignore TERM. Here, the child's group (with any solver it started) is sent
    SIGTERM, killed after :data:`STOP_GRACE_S`, the DAG run and its unfinished tasks marked
    failed in the metadata database and the run failed in the catalogue. The child is a fork
    of the warm runner or a new interpreter (:func:`_start_child`), never a fork of this
    process: it may have run numba's OpenMP kernels (``cmtflow demo`` makes its scenario),
    which a forked child cannot run.

    :raises RunStopped: after a signal.
    """
    activate(root)  # migrations before the child starts, the environment for both processes
    run_after = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="cmtflow-run-") as tmp:
        request, answer = Path(tmp) / "request.json", Path(tmp) / "answer.json"
        request.write_text(json.dumps({"conf": conf, "root": str(root) if root is not None else None,
                                       "run_after": run_after.isoformat()}))
        child = _start_child(request, answer)
        received: list[tuple[int, float]] = []  # (signal, monotonic time)

        def stop(signum, frame):
            received.append((signum, time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while child.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(0.5)
                if received and time.monotonic() - received[0][1] > STOP_GRACE_S:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.pid, signal.SIGKILL)
            _end_group(child.pid)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if received:
            run_id = mark_stopped(run_after)
            signum = received[0][0]
            raise RunStopped(f"{signal.Signals(signum).name}: cmt_inversion run {run_id or '(not started)'} stopped "
                             "and marked failed", signum)
        if not answer.is_file():
            raise CmtflowError(f"the Airflow run ended without a result (its process exited with {child.returncode})")
        payload = json.loads(answer.read_text())
    if "error" in payload:
        raise CmtflowError(payload["error"])
    return payload["result"]


def _start_child(request: Path, answer: Path):
    """The process that runs ``request``, in a process group of its own: a fork of the warm
    runner (:mod:`cmtflow.airflow.runner`), or a new interpreter (``CMTFLOW_RUNNER=subprocess``,
    or when no runner can start, with the reason on the terminal)."""
    if settings.runner == "warm":
        from cmtflow.airflow.runner import RunnerUnavailable, start_run

        try:
            return start_run(request, answer)
        except RunnerUnavailable as exc:
            sys.__stderr__.write(f"cmtflow: no warm runner ({exc}); the run starts a new interpreter\n")
    return subprocess.Popen([sys.executable, "-m", "cmtflow.airflow.home", str(request), str(answer)],
                            start_new_session=True)


def _run_requested(request: Path, answer: Path) -> int:
    """The child of :func:`run_dag_stoppable`: the run of ``request``, its result (or error)
    written to ``answer``."""
    asked = json.loads(request.read_text())
    try:
        payload = {"result": run_dag(asked["conf"], asked["root"], datetime.fromisoformat(asked["run_after"]))}
    except CmtflowError as exc:
        payload = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported by the parent, whatever it was
        payload = {"error": f"{type(exc).__name__}: {exc}"}
    answer.write_text(json.dumps(payload, default=str))  # read once this process has ended
    return 0


def _end_group(pgid: int, grace_s: float = 2.0) -> None:
    """What the run's process left in its group (forks of Airflow's lineage listener, a
    solver) gets ``grace_s`` to finish, then is killed: it would hold the terminal's pipes."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def mark_stopped(run_after: datetime) -> str | None:
    """The ``cmt_inversion`` run of ``run_after`` and its unfinished tasks failed (metadata
    database), the run failed in the catalogue; returns its run id (None: not created yet)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    from cmtflow.airflow.dags import DAG_ID
    from cmtflow.catalogue import open_catalogue

    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == DAG_ID, DagRun.run_after == run_after).one_or_none()
        if dag_run is None:
            return None
        dag_run.state = DagRunState.FAILED
        unfinished = session.query(TaskInstance).filter(
            TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == dag_run.run_id,
            TaskInstance.state.notin_([TaskInstanceState.SUCCESS, TaskInstanceState.FAILED,
                                       TaskInstanceState.SKIPPED, TaskInstanceState.UPSTREAM_FAILED]))
        for ti in unfinished:
            ti.state = TaskInstanceState.FAILED
        run_id = dag_run.run_id
    catalogue = open_catalogue()
    if catalogue.run(run_id) is not None:
        catalogue.finish_run(run_id, "failed")
    return run_id


if __name__ == "__main__":
    status = _run_requested(Path(sys.argv[1]), Path(sys.argv[2]))
    # The answer is written and every session committed: skip the interpreter's finalisation,
    # which spends 3-4 s tearing down what Airflow, the task runner and the science loaded
    # (measured after the last exit handler) while the terminal waits for the result.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
