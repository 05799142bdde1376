"""The scheduler's task-instance policy for ``cmt_inversion``: a run's priority.

Airflow gives a task its priority weight when the scheduler creates the task instance, from
the DAG alone, so every run of a DAG has the same weights and busy workers and simulation
slots go first come, first served: in an aftershock burst the mainshock waits behind the
small events triggered before it. This policy (registered as an ``airflow.policy`` entry point,
so every Airflow with cmtflow installed loads it) adds the run's priority
(:func:`cmtflow.runconf.run_priority`: the conf's ``priority``, or 100 times its magnitude)
to each of the run's task instances, keeping the DAG's own order within a run.
"""

from __future__ import annotations

from airflow.policies import hookimpl

#: The DAG whose runs are prioritised (``cmtflow.airflow.dags.DAG_ID``, not imported: the
#: scheduler loads this module at start-up, before any DAG).
DAG_ID = "cmt_inversion"


@hookimpl
def task_instance_mutation_hook(task_instance, dag_run) -> None:
    if dag_run is None or task_instance.dag_id != DAG_ID:
        return
    task = getattr(task_instance, "task", None)
    if task is None:  # an instance read back before its task is attached: left as it is
        return
    from airflow.task.priority_strategy import validate_and_load_priority_weight_strategy

    from cmtflow.runconf import run_priority

    rule = task.weight_rule
    if not hasattr(rule, "get_weight"):
        rule = validate_and_load_priority_weight_strategy(rule)
    # from the task's own weight each time: the hook also sees instances it has seen before
    task_instance.priority_weight = int(rule.get_weight(task_instance)) + run_priority(dag_run.conf or {})


def _mark_active() -> None:
    """Airflow calls the hook on new task instances only when it is marked active, and marks
    it so only when an ``airflow_local_settings`` module is found; a policy that comes from an
    entry point (this one, loaded just before that module is looked for) marks it itself."""
    import airflow.settings

    airflow.settings.task_instance_mutation_hook.is_noop = False


_mark_active()

# the scheduler forks the LocalExecutor's workers, and they the tasks: what it has loaded, each task has
from cmtflow.airflow import preload  # noqa: E402

preload.in_scheduler()
