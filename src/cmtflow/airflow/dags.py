"""The ``cmt_inversion`` DAG: the ten stages of cmtflow.stages as tasks.

::

    resolve_event -> data.select_stations -> data.wait_for_data -> data.fetch_waveforms -> data.enough_stations
        -> data.plan_preprocessing -> data.preprocess_observed[]                       \\
    data.enough_stations -> simulations.plan_simulations -> simulations.simulate[] (pool)  -> inversion.measure_misfit
        -> simulations.plan_synthetics -> simulations.preprocess_synthetics[]          /   -> inversion.invert_source
                                                                                           -> publish_solution
    data.fetch_waveforms -> data.plan_update -> data.start_update[] (the next version's run, when
                                                                     stations were still pending)

``wait_for_data`` asks the data centre which stations' data are in (deferred between
questions); ``enough_stations`` ends a run that has too few by then as "no solution" (the
tasks after it skipped), while its update still waits for the pending ones.
    publish_solution -> plan_second_pass -> start_second_pass[] (a run set up again with the inverted
                                                                 Mw, when it is far from the set-up's)

``[]``: a mapped task over container steps (a local subprocess or a pod, one per step, the
same command line either way). Tasks exchange the run folder path and small JSON only.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import timedelta

from cmtflow import stages
from cmtflow.airflow.home import SIMULATION_POOL, SIMULATION_POOL_ENV, SIMULATION_POOL_SLOTS  # noqa: F401
from cmtflow.config import settings
from cmtflow.lineage import record_datasets, stage_datasets

DAG_ID = "cmt_inversion"


def simulation_limits() -> dict:
    """Task arguments capping concurrent simulations: the pool named by
    ``CMTFLOW_SIMULATION_POOL``, or, where none is named (the DAG files dropped into any
    Airflow), :data:`SIMULATION_POOL_SLOTS` simulations of this DAG at once: Airflow never
    schedules a task of a pool that does not exist, and says so only in a scheduler warning."""
    pool = settings.simulation_pool
    return {"pool": pool} if pool else {"max_active_tis_per_dag": SIMULATION_POOL_SLOTS}


def api_base_url() -> str:
    """The deployment's address (Airflow's ``[api] base_url``), or "" where it names none."""
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="") or ""


def max_active_runs() -> int:
    """Runs of ``cmt_inversion`` at once (``CMTFLOW_MAX_ACTIVE_RUNS``, default 32). A run waiting
    for its data is deferred and holds no worker slot, so the limit is set well above the
    compute: the work itself is bounded by the executor's slots and the simulation pool, whose
    queues go by run priority (:mod:`cmtflow.airflow.policy`); a low limit would queue a
    mainshock's run behind the waiting runs of its foreshocks."""
    return settings.max_active_runs


def compute_backend_name() -> str:
    """The backend the DAG is built for (``CMTFLOW_COMPUTE_BACKEND``, default ``local``)."""
    return settings.compute_backend


def _check_backend(params: dict) -> None:
    built_for = compute_backend_name()
    if params["compute_backend"] != built_for:
        from cmtflow.runconf import ConfError

        raise ConfError(f"compute_backend: this deployment runs the {built_for!r} backend; set "
                        f"CMTFLOW_COMPUTE_BACKEND={params['compute_backend']} where the DAGs are parsed")


def container_steps(task_id: str, steps, **task_kwargs):
    """A mapped task running each container step of ``steps`` (an XComArg of step dicts):
    a local subprocess, or a pod (``CMTFLOW_COMPUTE_BACKEND=kubernetes``). Same graph, same
    command lines."""
    if compute_backend_name() == "kubernetes":
        from cmtflow.airflow.kubernetes import mapped_pod_task

        return mapped_pod_task(task_id, steps, **task_kwargs)
    from airflow.sdk import task

    from cmtflow.steps import ContainerStep, LocalBackend

    @task(task_id=task_id, **task_kwargs)
    def run_step(step: dict) -> None:
        LocalBackend().run(ContainerStep.from_dict(step))
        record_datasets(step.get("inputs", ()), step.get("outputs", ()))

    return run_step.expand(step=steps)


def steps_or_skip(steps: list[dict], step_task: str) -> list[dict]:
    """``steps`` for the mapped task ``step_task`` (its id in this task's group, directly
    downstream). With no step, this task skips it now, as a short-circuit does: left to itself,
    Airflow skips an empty mapping only when it next schedules the run, one scheduling pass
    later (one more second of a ``dag.test()`` run, per empty mapping in a row)."""
    if steps:
        return steps
    from airflow.sdk import get_current_context
    from airflow.sdk.bases.skipmixin import SkipMixin

    context = get_current_context()
    step_tasks = [t for t in context["task"].downstream_list if t.task_id.rsplit(".", 1)[-1] == step_task]
    SkipMixin().skip(ti=context["ti"], tasks=step_tasks)  # raises DownstreamTasksSkipped: this task succeeds
    return steps


def retry_delay() -> timedelta:
    """First delay before a task's retry (``CMTFLOW_TASK_RETRY_DELAY_S``, default 20 s)."""
    return timedelta(seconds=settings.task_retry_delay_s)


@contextlib.contextmanager
def fail_fast():
    """An error that a retry cannot mend (a bad conf, a malformed file: ``retriable`` False)
    fails the task at once instead of after its retries; the others are retried. Data that
    determine no source (:class:`~cmtflow.errors.NoSolutionError`, recorded by the stage as
    "no solution") skip the task and so every task after it: the run ends there."""
    from cmtflow.errors import CmtflowError, NoSolutionError

    try:
        yield
    except NoSolutionError as exc:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"no solution: {exc}") from exc
    except CmtflowError as exc:
        if exc.retriable:
            raise
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def run_stage(name: str, run_dir: str, *args):
    """Stage ``name`` of :mod:`cmtflow.stages` on ``run_dir`` (failing fast on errors a retry
    cannot mend), then its lineage datasets; returns the stage's summary."""
    with fail_fast():
        result = getattr(stages, name)(run_dir, *args)
    record_datasets(*stage_datasets(name, run_dir))
    return result


def progress_callbacks() -> dict:
    """With ``CMTFLOW_PROGRESS=1`` (``cmtflow demo``/``run``), one line per finished task on the
    terminal, with the error of a failed or retried task: ``dag.test`` keeps no task log files,
    and the person at the terminal wants to see it move."""
    if not settings.progress:
        return {}

    def report(context, word):
        ti = context["task_instance"]
        index = f"[{ti.map_index}]" if getattr(ti, "map_index", -1) >= 0 else ""
        seconds = ""
        if getattr(ti, "start_date", None) and getattr(ti, "end_date", None):
            seconds = f" ({(ti.end_date - ti.start_date).total_seconds():.1f} s)"
        error = context.get("exception")
        reason = f": {' '.join(str(error).split())[:500]}" if error is not None and word != "done" else ""
        sys.__stderr__.write(f"  {word:7s} {ti.task_id}{index}{seconds}{reason}\n")
        sys.__stderr__.flush()

    return {"on_success_callback": lambda ctx: report(ctx, "done"),
            "on_failure_callback": lambda ctx: report(ctx, "FAILED"),
            "on_retry_callback": lambda ctx: report(ctx, "retry")}


def mark_run_failed(context) -> None:
    """DAG-level failure callback: the catalogue records the run as failed."""
    try:
        from cmtflow.catalogue import open_catalogue

        run_id = context["run_id"] if "run_id" in context else context["dag_run"].run_id
        if open_catalogue().run(run_id) is not None:
            open_catalogue().finish_run(run_id, "failed")
    except Exception as exc:  # a callback must not hide the failure it reports
        sys.__stderr__.write(f"cmtflow: could not mark the run failed in the catalogue: {exc}\n")


def cmt_inversion_dag():
    """Build the DAG (call from a file in the DAGs folder)."""
    import pendulum
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import dag, get_current_context, task, task_group

    from cmtflow.airflow.sensors import DataArrivalSensor
    from cmtflow.runconf import airflow_params

    def params() -> dict:
        return dict(get_current_context()["params"])

    @dag(dag_id=DAG_ID, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False,
         params=airflow_params(), max_active_runs=max_active_runs(), tags=["cmtflow", "seismology"], doc_md=__doc__,
         default_args={"retries": 1, "retry_delay": retry_delay(), **progress_callbacks()},
         description="Centroid moment tensor inversion (CMT3D) of one earthquake",
         on_failure_callback=mark_run_failed)
    def cmt_inversion():
        @task(retries=3, retry_exponential_backoff=True, execution_timeout=timedelta(minutes=5))
        def resolve_event() -> dict:
            ctx = get_current_context()
            with fail_fast():
                event = stages.resolve_event(params(), ctx["run_id"])
            record_datasets(*stage_datasets("resolve_event", event["run_dir"]))
            return event

        @task_group(group_id="data")
        def data(event: dict):
            @task(retries=3, retry_exponential_backoff=True, execution_timeout=timedelta(minutes=10))
            def select_stations(event: dict) -> dict:
                run_stage("select_stations", event["run_dir"])
                return event

            @task(retries=2, retry_exponential_backoff=True, execution_timeout=timedelta(minutes=30))
            def fetch_waveforms(event: dict) -> dict:
                return {**event, **run_stage("fetch_waveforms", event["run_dir"])}

            # too few stations: the run ends here as "no solution" (recorded by the fetch), and
            # every task after this one is skipped, whatever its trigger rule
            @task.short_circuit(ignore_downstream_trigger_rules=True, execution_timeout=timedelta(minutes=2))
            def enough_stations(event: dict) -> dict | None:
                return event if event["solvable"] else None

            @task(execution_timeout=timedelta(minutes=2))
            def plan_preprocessing(event: dict) -> list[dict]:
                return steps_or_skip(stages.observed_steps(event["run_dir"]), "preprocess_observed")

            @task(execution_timeout=timedelta(minutes=2))
            def plan_update(event: dict) -> list[dict]:
                return steps_or_skip(stages.update_runs(event["run_dir"], get_current_context()["run_id"], params()),
                                     "start_update")

            selected = select_stations(event)
            # deferred while the data centre has too few of the stations' data: no worker slot held
            wait = DataArrivalSensor(task_id="wait_for_data", run_dir="{{ ti.xcom_pull(task_ids='resolve_event')"
                                     "['run_dir'] }}", execution_timeout=timedelta(hours=25))
            fetched = fetch_waveforms(selected)
            selected >> wait >> fetched
            enough = enough_stations(fetched)
            observed = container_steps("preprocess_observed", plan_preprocessing(enough),
                                       execution_timeout=timedelta(minutes=30))
            # stations still pending (late, or their data centre down): the next version is a run of its
            # own, waiting (deferred) for them while this one goes on with the stations it has
            TriggerDagRunOperator.partial(task_id="start_update", trigger_dag_id=DAG_ID,
                                          skip_when_already_exists=True, logical_date=None,
                                          execution_timeout=timedelta(minutes=2)).expand_kwargs(
                plan_update(fetched))
            return enough, observed

        @task_group(group_id="simulations")
        def simulations(event: dict):
            @task(execution_timeout=timedelta(minutes=5))
            def plan_simulations(event: dict) -> list[dict]:
                with fail_fast():
                    _check_backend(params())
                return steps_or_skip(run_stage("plan_simulations", event["run_dir"]), "simulate")

            @task(execution_timeout=timedelta(minutes=2))
            def plan_solver(event: dict) -> list[dict]:
                return steps_or_skip(stages.solver_steps(event["run_dir"]), "prepare_solver")

            # none_failed: a mapped step task over no steps (all reused) is skipped, not failed
            @task(execution_timeout=timedelta(minutes=2), trigger_rule="none_failed")
            def plan_synthetics(event: dict) -> list[dict]:
                return steps_or_skip(stages.synthetic_steps(event["run_dir"]), "preprocess_synthetics")

            planned = plan_simulations(event)
            # once per model: SPECFEM3D's mesh and databases (no step for the embedded solver)
            solver_steps = plan_solver(event)
            planned >> solver_steps
            solver_ready = container_steps("prepare_solver", solver_steps, execution_timeout=timedelta(hours=4))
            # none_failed: an empty prepare_solver (the embedded solver) is skipped, not failed
            simulated = container_steps("simulate", planned, **simulation_limits(), retries=2,
                                        execution_timeout=timedelta(hours=2), trigger_rule="none_failed")
            solver_ready >> simulated
            steps = plan_synthetics(event)
            simulated >> steps
            return container_steps("preprocess_synthetics", steps, execution_timeout=timedelta(minutes=30))

        @task_group(group_id="inversion")
        def inversion(event: dict):
            @task(execution_timeout=timedelta(minutes=20), trigger_rule="none_failed")
            def measure_misfit(event: dict) -> dict:
                return run_stage("measure_misfit", event["run_dir"])

            @task(execution_timeout=timedelta(minutes=30))
            def invert_source(event: dict) -> dict:
                return {**event, **run_stage("invert_source", event["run_dir"])}

            measured = measure_misfit(event)
            inverted = invert_source(event)
            measured >> inverted
            return measured, inverted

        @task(retries=3, execution_timeout=timedelta(minutes=10))
        def publish_solution(event: dict) -> dict:
            ctx = get_current_context()
            return run_stage("publish_solution", event["run_dir"], {"dag_id": DAG_ID, "run_id": ctx["run_id"],
                                                                     "base_url": api_base_url()})

        @task(execution_timeout=timedelta(minutes=2))
        def plan_second_pass(event: dict) -> list[dict]:
            return steps_or_skip(stages.second_pass_runs(event["run_dir"], params()), "start_second_pass")

        event = resolve_event()
        fetched, observed = data(event)
        sims = simulations(fetched)
        measured, inverted = inversion(event)
        [observed, sims] >> measured
        published = publish_solution(event)
        inverted >> published
        # the inverted Mw far from the one that set the run up: a run of its own, set up with it
        second = plan_second_pass(event)
        published >> second
        TriggerDagRunOperator.partial(task_id="start_second_pass", trigger_dag_id=DAG_ID,
                                      skip_when_already_exists=True, logical_date=None,
                                      execution_timeout=timedelta(minutes=2)).expand_kwargs(second)

    return cmt_inversion()


ALERTS_DAG_ID = "earthquake_alerts"


def earthquake_alerts_dag():
    """Poll FDSN event services and start one ``cmt_inversion`` run per new qualifying
    earthquake (rules in :mod:`cmtflow.alerts`, configured by ``CMTFLOW_ALERT_*``)."""
    import pendulum
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import dag, get_current_context, task

    @dag(dag_id=ALERTS_DAG_ID, schedule=settings.alert_schedule,
         start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False, max_active_runs=1,
         # polling public services every minute is an operator's decision: unpause to start
         is_paused_upon_creation=True,
         tags=["cmtflow", "seismology"], description="Start cmt_inversion for new earthquakes",
         default_args={"retries": 0})
    def earthquake_alerts():
        @task(execution_timeout=timedelta(minutes=5))
        def poll_services() -> list[dict]:
            from obspy import UTCDateTime

            from cmtflow.alerts import (config_from_env, hold_back, known_earthquakes, poll, remember_started,
                                        run_conf)
            from cmtflow.catalogue import open_catalogue

            config, template = config_from_env()
            now = UTCDateTime()
            catalogue = open_catalogue()
            known, runs = known_earthquakes(catalogue, now, config)
            result = poll(config, now, known, runs)
            ti = get_current_context()["ti"]  # runs computing: queued or running, less those waiting for data
            computing = ti.get_dr_count(DAG_ID, states=["queued", "running"]) - ti.get_ti_count(
                DAG_ID, task_ids=["data.wait_for_data"], states=["deferred"])
            hold_back(result, computing, config)
            remember_started(catalogue, result)
            for event_id, reason in sorted(result.skipped.items()):
                print(f"not started: {event_id}: {reason}")
            return [{"trigger_run_id": run_id, "conf": run_conf(quake, template)}
                    for run_id, quake in result.by_magnitude()]

        # the deterministic run id makes a repeated trigger of the same earthquake a no-op
        TriggerDagRunOperator.partial(task_id="start_inversions", trigger_dag_id=DAG_ID,
                                      skip_when_already_exists=True, logical_date=None).expand_kwargs(
            poll_services())

    return earthquake_alerts()
