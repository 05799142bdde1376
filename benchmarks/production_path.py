"""Benchmark: the demo event on the production path, a real ``airflow standalone``.

A fresh data root set up as ``cmtflow airflow-home`` sets one up (SQLite, LocalExecutor, the
triggerer, the API server, cmtflow's plugin and policy), then:

* ``rest``: the demo event triggered through the REST API (``POST .../dagRuns``), polled every
  0.5 s; a first run computes the Green's functions, the measured one computes the science
  again (the stores emptied), as the command line's ``warm`` run does;
* ``alert``: an earthquake of 20 minutes ago at the demo's hypocentre and stations (the demo's
  own is in the catalogue by then, and a poll would rightly skip it as processed), published
  by an FDSN event service that the ``earthquake_alerts`` DAG polls (every minute, as
  deployed): from the moment the service lists it to the solution;
* ``cli``: the same as ``rest`` with ``cmtflow run`` (``dag.test()`` in the warm runner), the
  reference of the target (trigger-to-published <= 1.3x of it and <= 25 s).

Per task: the scheduling gap (its start minus the end of the last of its upstream tasks), its
duration under the standalone and under ``dag.test()``; the difference is what starting a task
costs there. Prints, and writes the section "Production path" of ``docs/benchmarks.md``.

    python benchmarks/production_path.py [--postgres] [--no-docs] [--json FILE | --from-json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the standalone starter and the event service the tests use
from _docs import replace_section  # noqa: E402

TASK_LINE = re.compile(r"^\s+done\s+(\S+?)(?:\[(\d+)\])? \(([\d.]+) s\)")
HEADING = "## Production path"


def _when(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def _env(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["CMTFLOW_HOME"] = str(root)
    return env


def _empty_stores(root: Path) -> None:
    from cmtflow.inversion.scans import SCANS_FOLDER

    for store in ("greens", "simulations", SCANS_FOLDER):  # the science computed again, nothing else
        shutil.rmtree(root / store, ignore_errors=True)


def _wait_run(airflow, run_id: str, timeout_s: float = 900.0, poll_s: float = 0.5) -> dict:
    import httpx

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        answer = httpx.get(f"{airflow.base}/api/v2/dags/cmt_inversion/dagRuns/{run_id}", headers=airflow.auth,
                           timeout=60)
        if answer.status_code == 200 and answer.json()["state"] in ("success", "failed"):
            return answer.json()
        time.sleep(poll_s)
    raise RuntimeError(f"run {run_id} did not end in {timeout_s:.0f} s")


def _tasks(airflow, run_id: str) -> list[dict]:
    import httpx

    return httpx.get(f"{airflow.base}/api/v2/dags/cmt_inversion/dagRuns/{run_id}/taskInstances",
                     params={"limit": 200}, headers=airflow.auth, timeout=60).json()["task_instances"]


def _timeline(airflow, run: dict) -> dict:
    """Trigger-to-published, and per task (mapped instances merged) its gap and duration."""
    from cmtflow.airflow.dags import cmt_inversion_dag

    dag = cmt_inversion_dag()
    tis = [t for t in _tasks(airflow, run["dag_run_id"]) if t["start_date"] and t["end_date"]]
    ends = {}
    for t in tis:
        ends[t["task_id"]] = max(ends.get(t["task_id"], 0.0), _when(t["end_date"]))
    queued = _when(run["queued_at"]) or _when(run["start_date"])
    tasks = {}
    for t in sorted(tis, key=lambda t: _when(t["start_date"])):
        start, end = _when(t["start_date"]), _when(t["end_date"])
        upstream = [ends[u] for u in dag.task_dict[t["task_id"]].upstream_task_ids if u in ends]
        entry = tasks.setdefault(t["task_id"], {"gap_s": start - max(upstream, default=queued), "duration_s": 0.0})
        entry["duration_s"] = max(entry["duration_s"], end - start)
    published = ends.get("publish_solution")
    return {"trigger_to_published_s": published - queued if published else None, "tasks": tasks,
            "gaps_s": sum(t["gap_s"] for t in tasks.values()), "run_s": _when(run["end_date"]) - queued}


def _cli(root: Path, conf_file: Path) -> dict:
    """``cmtflow run`` twice (the runner warmed by the first), the second with the stores emptied."""
    def once():
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "cmtflow", "run", "--conf", str(conf_file)], env=_env(root),
                              capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"cmtflow run failed: {done.stderr[-2000:]}")
        tasks = {}
        for line in done.stderr.splitlines():
            match = TASK_LINE.match(line)
            if match:
                tasks[match[1]] = max(tasks.get(match[1], 0.0), float(match[3]))
        return {"wall_s": time.perf_counter() - t, "tasks": tasks}

    once()
    _empty_stores(root)
    return once()


def run(postgres: str | None = None) -> dict:
    """The measurements; ``postgres``: a PostgreSQL URL for Airflow's metadata database and the
    catalogue (the Helm chart's set-up) instead of SQLite."""
    import httpx
    from airflow_fixtures import standalone_airflow
    from fdsn_fixtures import EventService
    from obspy import UTCDateTime, read_events

    from cmtflow.demo import generate_sequence

    tmp = Path(tempfile.mkdtemp(prefix="bench-production-"))
    results = {}
    try:
        root = tmp / "home"
        conf = json.loads(subprocess.run([sys.executable, "-m", "cmtflow", "demo", "--prepare-only"], env=_env(root),
                                         capture_output=True, text=True, check=True).stdout)
        recent = generate_sequence(root / "recent", [UTCDateTime() - 1200.0])
        events = list(read_events(str(recent.quakeml)))
        service = EventService([])
        # the demo's set-up (band, model, options), the recent event's records
        template = {**{k: v for k, v in conf.items() if k not in ("quakeml", "event_id", "origin_time")},
                    "sds_path": str(recent.sds), "inventory": str(recent.inventory)}
        env = {"CMTFLOW_ALERT_SERVICES": service.url, "CMTFLOW_ALERT_MIN_MAGNITUDE": "3.0",
               "CMTFLOW_ALERT_CONF": json.dumps(template)}
        if postgres:  # the chart's databases; its pool job is not here: the DAG's own cap instead
            env.update(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres, CMTFLOW_CATALOGUE_URL=postgres,
                       CMTFLOW_SIMULATION_POOL="")
        try:
            with standalone_airflow(tmp, env) as airflow:
                def trigger(run_id):
                    answer = httpx.post(f"{airflow.base}/api/v2/dags/cmt_inversion/dagRuns", headers=airflow.auth,
                                        timeout=60, json={"logical_date": None, "dag_run_id": run_id, "conf": conf})
                    if answer.status_code != 200:
                        raise RuntimeError(answer.text)
                    return _wait_run(airflow, run_id)

                trigger("warmup")  # the Green's functions, the first parse of every module
                _empty_stores(root)
                t = time.time()
                run = trigger("rest")
                results["rest"] = {**_timeline(airflow, run), "state": run["state"],
                                   "trigger_to_end_polled_s": time.time() - t}
                # an alert: the alerts DAG unpaused and polling; the event listed, timed from then
                _empty_stores(root)
                httpx.patch(f"{airflow.base}/api/v2/dags/earthquake_alerts", json={"is_paused": False},
                            headers=airflow.auth, timeout=60).raise_for_status()
                time.sleep(5)
                service.events.extend(events)
                listed = time.time()
                deadline = time.time() + 900
                run_id = None
                while time.time() < deadline and run_id is None:
                    runs = httpx.get(f"{airflow.base}/api/v2/dags/cmt_inversion/dagRuns", params={"limit": 100},
                                     headers=airflow.auth, timeout=60).json()["dag_runs"]
                    run_id = next((r["dag_run_id"] for r in runs if r["dag_run_id"].startswith("alert__")), None)
                    time.sleep(0.5)
                if run_id is None:
                    raise RuntimeError("the alert started no run")
                run = _wait_run(airflow, run_id)
                timeline = _timeline(airflow, run)
                published = (_when(run["queued_at"]) or 0.0) + (timeline["trigger_to_published_s"] or 0.0)
                results["alert"] = {**timeline, "state": run["state"], "listed_to_trigger_s":
                                    (_when(run["queued_at"]) or listed) - listed,
                                    "alert_to_first_solution_s": published - listed}
        finally:
            service.stop()
        (tmp / "conf.json").write_text(json.dumps(conf))
        results["cli"] = _cli(root, tmp / "conf.json")
        results["database"] = "PostgreSQL" if postgres else "SQLite"
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict) -> str:
    rest, alert, cli = results["rest"], results["alert"], results["cli"]
    lines = ["| task | gap (s) | standalone (s) | `dag.test()` (s) | start cost (s) |", "|---|---|---|---|---|"]
    for task_id, t in rest["tasks"].items():
        inline = cli["tasks"].get(task_id)
        cells = ("-", "-") if inline is None else (f"{inline:.1f}", f"{t['duration_s'] - inline:.1f}")
        lines.append(f"| {task_id} | {t['gap_s']:.1f} | {t['duration_s']:.1f} | {cells[0]} | {cells[1]} |")
    ratio = rest["trigger_to_published_s"] / cli["wall_s"]
    summary = (f"- REST trigger to published solution: **{rest['trigger_to_published_s']:.1f} s** (target <= 25 s); "
               f"the run ends {rest['run_s']:.1f} s after its trigger; scheduling gaps {rest['gaps_s']:.1f} s in all\n"
               f"- `cmtflow run` (warm runner, the same science): {cli['wall_s']:.1f} s; the standalone takes "
               f"{ratio:.2f}x it (target <= 1.3x)\n"
               f"- alert to first solution: **{alert['alert_to_first_solution_s']:.1f} s** "
               f"({alert['listed_to_trigger_s']:.1f} s until a poll of the alerts DAG, which runs every minute, "
               f"triggered the run; {alert['trigger_to_published_s']:.1f} s from trigger to solution)")
    return summary + "\n\nThe REST run, task by task (mapped tasks: their longest instance):\n\n" + "\n".join(lines)


def write_docs(results: dict, postgres: dict | None = None) -> None:
    section = (f"{HEADING}\n\nWritten by `benchmarks/production_path.py` on {time.strftime('%Y-%m-%d')} "
               f"({platform.node()}, {os.cpu_count()} CPUs): the demo event through a real `airflow standalone` "
               "(SQLite, LocalExecutor) on a fresh data root, the science computed again as in the command "
               "line's warm run. *Gap*: a task's start less the end of the last of its upstream tasks (scheduling); "
               "*start cost*: its duration there less under `dag.test()`.\n\n" + report(results))
    if postgres:
        section += ("\n\nThe same with PostgreSQL for Airflow's metadata and the catalogue (the Helm chart's "
                    "databases; a throwaway server on this machine):\n\n" + report(postgres).split("\n\n")[0])
    replace_section(HEADING, section)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--from-json", help="report results written by --json instead of measuring")
    parser.add_argument("--postgres", action="store_true",
                        help="also measure with PostgreSQL (a throwaway server from the installed binaries)")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        results, on_postgres = saved.get("sqlite", saved), saved.get("postgres")
    else:
        results, on_postgres = run(), None
        if args.postgres:
            from pg_fixtures import postgres_instance

            with postgres_instance("airflow") as server:
                on_postgres = run(server.url)
    print(report(results))
    if on_postgres:
        print("\nPostgreSQL:\n" + report(on_postgres))
    if args.json:
        Path(args.json).write_text(json.dumps({"sqlite": results, "postgres": on_postgres}, indent=1))
    if not args.no_docs:
        write_docs(results, on_postgres)
