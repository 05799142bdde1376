"""Benchmark: the latency of a cmt_inversion run of the demo event, stage by stage.

Runs as a user makes them, each a ``cmtflow`` command in a new process (Airflow's
``dag.test()``, SQLite, local steps), timed from the outside and per task (the progress
lines ``done    <task> (<s> s)``):

* ``cold``: the first ``cmtflow demo`` on a fresh data root (what ``make demo`` does after
  the install): the scenario generated, the Airflow home migrated, every Green's function and
  simulation computed;
* ``warm``: ``cmtflow run`` of the same event, the Airflow home and the scenario kept, the
  Green's function, simulation and depth-scan stores emptied (all the science computed again);
* ``reused``: the same run again: every simulation and the depth scan reused.

The reference: the same stages called in order in one process (``cmtflow.pipeline.run_all``) on a fresh
data root, the imports of the modules they use timed apart from the work. A stage's Airflow
cost is its DAG time less its direct time.

Prints, and writes the section "Latency of a run" of ``docs/benchmarks.md`` (not with
``--no-docs``).

    python benchmarks/latency.py [--skip-cold] [--no-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import replace_section  # noqa: E402

HEADING = "## Latency of a run"

#: The stages (cmtflow.stages) and the tasks (with their planning tasks) that carry them out.
STAGES = {
    "resolve_event": ("resolve_event",),
    "select_stations": ("data.select_stations",),
    "fetch_waveforms": ("data.wait_for_data", "data.fetch_waveforms", "data.enough_stations", "data.plan_update",
                        "data.start_update"),
    "preprocess_observed": ("data.plan_preprocessing", "data.preprocess_observed"),
    "plan_simulations": ("simulations.plan_simulations", "simulations.plan_solver", "simulations.prepare_solver"),
    "simulate": ("simulations.simulate",),
    "preprocess_synthetics": ("simulations.plan_synthetics", "simulations.preprocess_synthetics"),
    "measure_misfit": ("inversion.measure_misfit",),
    "invert_source": ("inversion.invert_source",),
    "publish_solution": ("publish_solution", "plan_second_pass", "start_second_pass"),
}
#: What the stages import (the direct reference times them apart from the work).
MODULES = ("cmtflow.stages", "cmtflow.inversion", "cmtflow.inversion.depth", "cmtflow.processing.graphs",
           "cmtflow.solvers.fk", "cmtflow.solvers.synthetics", "cmtflow.report.html", "cmtflow.report.plots",
           "cmtflow.data.fetch", "cmtflow.catalogue.claims", "scipy.signal", "obspy.clients.filesystem.sds")
TASK_LINE = re.compile(r"^\s+done\s+(\S+?)(?:\[\d+\])? \(([\d.]+) s\)")


def _env(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["CMTFLOW_HOME"] = str(root)
    return env


def _command(root: Path, *args: str) -> dict:
    """One ``cmtflow`` command: wall time, and seconds per stage from its task lines."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cmtflow", "--data-root", str(root), *args], env=_env(root),
                          capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"cmtflow {' '.join(args)} failed: {done.stderr[-2000:]}")
    stages = dict.fromkeys(STAGES, 0.0)
    for line in done.stderr.splitlines():
        match = TASK_LINE.match(line)
        if match:
            stage = next(s for s, tasks in STAGES.items() if match[1] in tasks)
            stages[stage] += float(match[2])
    return {"wall_s": wall, "stages": stages, "tasks_s": sum(stages.values())}


def direct(root: Path, conf: dict) -> dict:
    """The stages called in order in this process (a fresh one): imports, then each stage."""
    os.environ["CMTFLOW_HOME"] = str(root)
    t = time.perf_counter()
    import importlib

    for name in MODULES:
        importlib.import_module(name)
    from cmtflow.solvers.fk import compute_greens

    compute_greens("scak", 10.0, [50.0], 1.0, 64)  # loads the compiled numba kernels
    imports = time.perf_counter() - t
    from cmtflow import stages as st

    times = {}

    def timed(name, call, *args):
        t = time.perf_counter()
        result = call(*args)
        times[name] = times.get(name, 0.0) + time.perf_counter() - t
        return result

    run_dir = timed("resolve_event", st.resolve_event, conf, "direct", root)["run_dir"]
    timed("select_stations", st.select_stations, run_dir)
    timed("fetch_waveforms", st.fetch_waveforms, run_dir)
    timed("preprocess_observed", st.preprocess_observed, run_dir)
    steps = timed("plan_simulations", st.plan_simulations, run_dir)
    timed("plan_simulations", lambda: st.run_steps(st.solver_steps(run_dir)))
    timed("simulate", st.run_steps, steps)
    timed("preprocess_synthetics", st.preprocess_synthetics, run_dir)
    timed("measure_misfit", st.measure_misfit, run_dir)
    timed("invert_source", st.invert_source, run_dir)
    timed("publish_solution", st.publish_solution, run_dir)
    return {"imports_s": imports, "stages": times, "work_s": sum(times.values())}


def _interpreter_start_s() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t


def run(skip_cold: bool = False) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    try:
        root = tmp / "home"
        results = {}
        if not skip_cold:
            results["cold"] = _command(root, "demo")
        conf = json.loads(subprocess.run([sys.executable, "-m", "cmtflow", "--data-root", str(root), "demo",
                                          "--prepare-only"], env=_env(root), capture_output=True, text=True,
                                         check=True).stdout)
        (tmp / "conf.json").write_text(json.dumps(conf))
        from cmtflow.inversion.scans import SCANS_FOLDER

        for store in ("greens", "simulations", SCANS_FOLDER):  # the science computed again, nothing else
            shutil.rmtree(root / store, ignore_errors=True)
        results["warm"] = _command(root, "run", "--conf", str(tmp / "conf.json"))
        results["reused"] = _command(root, "run", "--conf", str(tmp / "conf.json"))
        ref = subprocess.run([sys.executable, __file__, "--direct", str(tmp / "direct"), str(tmp / "conf.json")],
                             env={**_env(tmp / "direct"), "CMTFLOW_INPUT_ROOTS": str(root)}, capture_output=True,
                             text=True, timeout=1800)
        if ref.returncode != 0:
            raise RuntimeError(f"direct stages failed: {ref.stderr[-2000:]}")
        results["direct"] = json.loads(ref.stdout.strip().splitlines()[-1])
        results["interpreter_start_s"] = _interpreter_start_s()
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict) -> None:
    runs = [r for r in ("cold", "warm", "reused") if r in results]
    ref = results["direct"]
    print(f"{'stage':22s}" + "".join(f"{r + ' DAG':>12s}" for r in runs) + f"{'direct':>10s}{'warm-direct':>13s}")
    for stage in STAGES:
        cells = "".join(f"{results[r]['stages'][stage]:12.1f}" for r in runs)
        work = ref["stages"].get(stage, 0.0)
        print(f"{stage:22s}{cells}{work:10.1f}{results['warm']['stages'][stage] - work:13.1f}")
    print(f"{'tasks (sum)':22s}" + "".join(f"{results[r]['tasks_s']:12.1f}" for r in runs)
          + f"{ref['work_s']:10.1f}{results['warm']['tasks_s'] - ref['work_s']:13.1f}")
    print(f"{'command (wall)':22s}" + "".join(f"{results[r]['wall_s']:12.1f}" for r in runs)
          + f"{ref['work_s'] + ref['imports_s']:10.1f}")
    warm = results["warm"]["wall_s"]
    print(f"\ndirect: imports {ref['imports_s']:.1f} s + work {ref['work_s']:.1f} s; a new interpreter "
          f"{results['interpreter_start_s']:.2f} s")
    print(f"warm run through Airflow {warm:.1f} s = {warm / (ref['work_s'] + ref['imports_s']):.2f}x the direct "
          f"stages with their imports (targets: <= 30 s, <= 1.5x); reused {results['reused']['wall_s']:.1f} s "
          f"(target <= 10 s)" + (f"; cold first demo {results['cold']['wall_s']:.1f} s (target <= 60 s)"
                                 if "cold" in results else ""))


def markdown(results: dict) -> str:
    """The section of ``docs/benchmarks.md``: seconds per stage, each run, the direct reference."""
    runs = [r for r in ("cold", "warm", "reused") if r in results]
    ref = results["direct"]
    lines = [HEADING, "", f"`python benchmarks/latency.py` on a machine with {os.cpu_count()} CPUs "
             f"({time.strftime('%Y-%m-%d')}): the demo event as a user runs it, "
             "each run a `cmtflow` command in a new process; seconds per stage (the sum of its tasks). "
             "*cold*: the first `cmtflow demo` on a fresh data root (scenario generated, Airflow home "
             "migrated, warm runner started, everything computed); *warm*: `cmtflow run` of the same event "
             "with the Green's function, simulation and depth-scan stores emptied; *reused*: the same run "
             "again; *direct*: the stages called in order in one process (`cmtflow.pipeline.run_all`), imports timed "
             "apart. Timings on a shared machine vary by 10-25 % from run to run: read pairs, not digits.", "",
             "| stage | " + " | ".join(f"{r} DAG" for r in runs) + " | direct | warm - direct |",
             "|---|" + "---|" * (len(runs) + 2)]
    for stage in STAGES:
        work = ref["stages"].get(stage, 0.0)
        lines.append(f"| {stage} | " + " | ".join(f"{results[r]['stages'][stage]:.1f}" for r in runs)
                     + f" | {work:.1f} | {results['warm']['stages'][stage] - work:.1f} |")
    lines.append("| tasks (sum) | " + " | ".join(f"{results[r]['tasks_s']:.1f}" for r in runs)
                 + f" | {ref['work_s']:.1f} | {results['warm']['tasks_s'] - ref['work_s']:.1f} |")
    lines.append("| command (wall) | " + " | ".join(f"**{results[r]['wall_s']:.1f}**" for r in runs)
                 + f" | {ref['work_s'] + ref['imports_s']:.1f} (with {ref['imports_s']:.1f} s of imports) | |")
    warm = results["warm"]["wall_s"]
    lines += ["", f"Targets: cold first demo <= 60 s, warm run <= 30 s and <= 1.5x the direct stages with their "
              f"imports ({warm / (ref['work_s'] + ref['imports_s']):.2f}x), reused run <= 10 s. A new interpreter "
              f"starts in {results['interpreter_start_s']:.2f} s."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-cold", action="store_true", help="no cold run (it generates the scenario)")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--direct", nargs=2, metavar=("ROOT", "CONF"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct:
        print(json.dumps(direct(Path(args.direct[0]), json.loads(Path(args.direct[1]).read_text()))))
    else:
        results = run(args.skip_cold)
        report(results)
        if not args.no_docs:
            replace_section(HEADING, markdown(results))
