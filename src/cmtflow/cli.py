"""The ``cmtflow`` command line: the user's commands registered on one parser.

The commands that run a DAG through Airflow (``demo``, ``run``) and look at its products
(``catalogue``, ``models``, ``runner``, ``airflow-home``) are here; ``fetch`` and ``invert``
(without Airflow) are in :mod:`cmtflow.commands`; the step commands a container runs
(``process``, ``synth``, ``greens``, ``specfem``) in :mod:`cmtflow.steps`. Every input problem is reported as one line ``error: ...`` with exit status 2; nothing
is left behind that looks like a complete product.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from cmtflow.commands import fetch, invert
from cmtflow.commands.common import answer_line, quality_line
from cmtflow.config import Settings
from cmtflow.errors import CmtflowError
from cmtflow.runconf import KEYS, RunConf
from cmtflow.steps.commands import add_step_commands, base_parser, execute, float_list
from cmtflow.workspace import RunWorkspace, SimulationPlan, VariantRecord

log = logging.getLogger("cmtflow")


def _start_run(conf: dict) -> dict:
    """Run ``cmt_inversion`` through Airflow with task-by-task progress on the terminal; its
    result, successful or not (:func:`cmtflow.airflow.home.run_dag`)."""
    from cmtflow.airflow.home import run_dag_stoppable

    _progress_on_terminal()
    return run_dag_stoppable(conf)


def _progress_on_terminal() -> None:
    """A line per finished task (unless ``CMTFLOW_PROGRESS`` says otherwise); set before the
    warm runner is asked, whose key covers it."""
    os.environ.setdefault(Settings.progress.name, "1")


def _run_through_airflow(conf: dict) -> dict:
    """:func:`_start_run`, raising :class:`CmtflowError` when the run failed or published nothing."""
    result = _start_run(conf)
    _check_run(result)
    return result


def _check_run(result: dict) -> None:
    if result["state"] != "success":
        failed = [f"{t}[{i}]" if i >= 0 else t for t, i, state, _ in result["tasks"] if state != "success"]
        raise CmtflowError(f"cmt_inversion run {result['run_id']} ended {result['state']} "
                           f"(not successful: {', '.join(failed) or 'none'}); the failed task's error is above")
    if not result["published"] and result.get("outcome"):
        raise CmtflowError(f"cmt_inversion run {result['run_id']}: {result['outcome']['reason']}")
    if not result["published"]:
        states = ", ".join(f"{t}: {state}" for t, _, state, _ in result["tasks"] if state != "success")
        raise CmtflowError(f"cmt_inversion run {result['run_id']} published no solution ({states})")


def cmd_demo(args) -> int:
    from cmtflow import demo
    from cmtflow.source import kagan_angle, read_cmtsolution

    t = time.perf_counter()
    if args.prepare_only:
        scenario = demo.generate(force=args.fresh)
        print(json.dumps(scenario.conf(n_params=args.params)))
        return 0
    print("cmtflow demo: CMT inversion of a generated regional earthquake through Airflow")
    from cmtflow.airflow.home import start_runner_early

    _progress_on_terminal()  # as the run will have it: the run finds this runner
    start_runner_early()  # Airflow set up and loaded while the scenario is made
    scenario = demo.generate(force=args.fresh)
    true = read_cmtsolution(scenario.truth)
    print(f"scenario: {len(demo.demo_stations())} real broadband stations of southern Alaska, known source Mw "
          f"{true.mw:.2f} at {true.depth_km:.1f} km, SDS + StationXML + QuakeML in {scenario.folder} "
          f"({time.perf_counter() - t:.1f} s)")
    print("running cmt_inversion (Airflow, embedded: SQLite, local processes)...")
    result = _run_through_airflow(scenario.conf(n_params=args.params))
    solution = json.loads((Path(result["published"]["solution"]) / "solution.json").read_text())
    mt = [solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]
    kagan = kagan_angle(mt, true.mt)
    planes_true = "  ".join("/".join(f"{x:.0f}" for x in p) for p in true.nodal_planes)
    planes = "  ".join(f"{p['strike']:.0f}/{p['dip']:.0f}/{p['rake']:.0f}" for p in solution["nodal_planes"])
    print(f"\n{'':12s}{'Mw':>6s}  {'depth km':>8s}  nodal planes (strike/dip/rake)")
    print(f"{'true':12s}{true.mw:6.2f}  {true.depth_km:8.1f}  {planes_true}")
    print(f"{'recovered':12s}{solution['mw']:6.2f}  {solution['centroid']['depth_km']:8.1f}  {planes}")
    print(f"Kagan angle {kagan:.1f} deg, |dMw| {abs(solution['mw'] - true.mw):.3f}, variance reduction "
          f"{100 * solution['variance_reduction']['plain']:.1f} %")
    print(quality_line(solution))
    ws = RunWorkspace.at(result["published"]["run_dir"])
    sims = [VariantRecord.read(ws.variant_record(v.variant)) for v in SimulationPlan.read(ws).variants]
    reused = [s for s in sims if s.reused]
    print(f"simulations: {len(sims) - len(reused)} computed, {len(reused)} reused"
          + (f" (from run {reused[0].reused_from_run})" if reused else ""))
    print(f"report: {result['published']['report']}")
    print(f"total {time.perf_counter() - t:.1f} s")
    return 0


def cmd_run(args) -> int:
    from cmtflow.runconf import check_conf

    try:
        conf = json.loads(Path(args.conf).read_text())
    except OSError as exc:
        raise CmtflowError(f"cannot read run conf {args.conf}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise CmtflowError(f"{args.conf} is not valid JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise CmtflowError(f"{args.conf}: the run conf must be a JSON object")
    check_conf(conf)
    t = time.perf_counter()
    while True:  # the run, then the updates it triggered, as a scheduler would start them
        result = _start_run(conf)
        try:
            _check_run(result)
        except CmtflowError as exc:
            if not result["updates"]:
                raise
            print(f"error: {exc}", file=sys.stderr)  # an update, with more stations, may still succeed
        else:
            _print_published(result["published"], time.perf_counter() - t)
        if not result["updates"]:
            return 0
        conf = result["updates"][-1]["conf"]  # a second pass, else the update
        following = RunConf.from_dict(conf)
        if following.first_pass_run:
            print(f"\nthe inverted Mw {following.setup_mw:.2f} is far from the one that set the run up: a second "
                  "pass set up with it")
        else:
            print(f"\nstations were still pending: the next version waits for "
                  f"{following.wait_for_stations or 'all'} stations")


def _print_published(published: dict, seconds: float) -> None:
    """A published solution on the terminal: version, magnitude, fit, grade, files."""
    solution = json.loads((Path(published["solution"]) / "solution.json").read_text())
    print(f"{published['event_id']} version {published['version']}: {answer_line(solution)}, "
          f"{published['stations']} stations ({seconds:.1f} s)")
    print(quality_line(solution))
    for warning in solution.get("warnings", []):
        print(f"warning: {warning}")
    print(f"solution: {published['solution']}\nreport: {published['report']}")


def cmd_airflow_home(args) -> int:
    from cmtflow.airflow.home import standalone_instructions

    print(standalone_instructions())
    return 0


def cmd_runner(args) -> int:
    """The warm runners of this user (:mod:`cmtflow.airflow.runner`): listed, or stopped."""
    from cmtflow.airflow.runner import ask, runner_folder

    answers = ask({"stop": True} if args.stop else {"status": True})
    for a in answers:
        if args.stop:
            print(f"runner {a['pid']}: stopping" + (f" after its runs {a['running']}" if a["running"] else ""))
        else:
            print(f"runner {a['pid']}: data root {a['home']}, {a['runs']} runs, running {a['running'] or 'none'}, "
                  f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(a['started']))}, exits after "
                  f"{a['idle_s']:.0f} s idle")
    if not answers:
        print(f"no runner ({runner_folder()})")
    return 0


def cmd_catalogue(args) -> int:
    from cmtflow.catalogue import open_catalogue

    catalogue = open_catalogue()
    if args.what == "events":
        region = tuple(float_list(args.region)) if args.region else None
        if region is not None and len(region) != 4:
            raise CmtflowError("--region must be LATMIN,LATMAX,LONMIN,LONMAX")
        rows = catalogue.events(args.event, args.since, args.until, args.min_magnitude, region)
    elif args.what == "runs":
        rows = catalogue.runs(args.event, args.state)
    elif args.what == "simulations":
        reused = {"yes": True, "no": False}.get(args.reused)
        rows = catalogue.simulations(args.event, args.model, args.solver, reused, args.run)
    else:
        rows = catalogue.solutions(args.event)
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    for row in rows:
        print(_catalogue_line(args.what, row))
    if args.what == "simulations":
        print(f"({len({r['key'] for r in rows})} simulations, {len(rows)} uses by runs)")
    else:
        print(f"({len(rows)} {args.what})")
    return 0


def _catalogue_line(what: str, r: dict) -> str:
    if what == "events":
        return f"{r['event_id']:24s} {r['time'][:19]} {r['latitude']:8.3f} {r['longitude']:9.3f} " \
               f"{r['depth_km']:6.1f} km {r['magnitude_type']} {r['magnitude']:.1f}  {r['provider']}"
    if what == "runs":
        return f"{r['run_id']:45s} {r['event_id']:20s} {r['state']:8s} {r['started_at'][:19]}"
    if what == "simulations":
        used = f"{'reused by' if r['reused'] else 'computed for'} {r['run_id']}" if r.get("run_id") else "unused"
        return f"{r['key']} {r['event_id']:16s} {r['variant']:9s} {r['solver']} {r['model']:8s} {r['state']:9s} " \
               f"created by {r['created_by_run']}; {used}"
    from cmtflow.inversion.grade import headline

    record = r.get("record") or {}
    return (f"{r['event_id']:20s} {r['run_id']:45s} Mw {r['mw']:.2f} VR {100 * r['variance_reduction']:.1f} % "
            f"{headline(record.get('quality') or {}, record.get('uncertainties'))}")


def cmd_models(args) -> int:
    from cmtflow.models import load_model, named_models

    for name in args.files:  # a model file: the layers exactly as cmtflow reads them
        print(f"{name}:\n{load_model(name).describe()}")
    for name in [] if args.files else named_models():
        m = load_model(name)
        print(f"{name:10s} {len(m.thickness) - 1:3d} layers over a half-space at {m.halfspace_depth:.1f} km")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p, sub = base_parser("Rapid earthquake source inversion (CMT3D).")
    d = sub.add_parser("demo", help="generate the demo scenario and run cmt_inversion on it through Airflow")
    d.add_argument("--prepare-only", action="store_true",
                   help="only generate the scenario and print its run conf as JSON on stdout")
    d.add_argument("--fresh", action="store_true", help="regenerate the scenario even if it exists")
    d.add_argument("--params", type=int, choices=KEYS["n_params"].schema["enum"], default=RunConf.n_params,
                   help=f"inversion parameters (default {RunConf.n_params})")
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser("run", help="run cmt_inversion through Airflow with a run conf (JSON file)")
    r.add_argument("--conf", required=True, help="run conf JSON (keys: see the README's run-conf reference)")
    r.set_defaults(func=cmd_run)

    fetch.add_parser(sub)
    invert.add_parser(sub)
    add_step_commands(sub)

    a = sub.add_parser("airflow-home", help="print how to start airflow standalone with the cmtflow DAGs")
    a.set_defaults(func=cmd_airflow_home)

    c = sub.add_parser("catalogue", help="search the catalogue of events, runs, simulations and solutions")
    c.add_argument("what", choices=("events", "runs", "simulations", "solutions"))
    c.add_argument("--event", help="event id")
    c.add_argument("--since", help="events from this time (ISO 8601)")
    c.add_argument("--until", help="events up to this time (ISO 8601)")
    c.add_argument("--min-magnitude", type=float, help="events of at least this magnitude")
    c.add_argument("--region", help="events in LATMIN,LATMAX,LONMIN,LONMAX (degrees)")
    c.add_argument("--state", choices=("running", "success", "failed"), help="runs in this state")
    c.add_argument("--model", help="simulations with this model")
    c.add_argument("--solver", help="simulations of this solver (cmtflow-fk, specfem3d)")
    c.add_argument("--reused", choices=("yes", "no"), help="simulation uses that were (not) reuses")
    c.add_argument("--run", help="simulations used by this run")
    c.add_argument("--json", action="store_true", help="JSON output")
    c.set_defaults(func=cmd_catalogue)

    r = sub.add_parser("runner", help="the warm runners of 'cmtflow run' and 'cmtflow demo' (CMTFLOW_RUNNER): list "
                                      "them, or stop them")
    r.add_argument("--stop", action="store_true", help="stop them (a run in progress finishes first)")
    r.set_defaults(func=cmd_runner)

    m = sub.add_parser("models", help="list the shipped 1D models, or show a model file as read")
    m.add_argument("files", nargs="*", help="model files (FK, CPS model96, ISOLA crustal.dat, a table with a header "
                                            "row) or shipped names: print their layers as read, with the notes")
    m.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return execute(args)


if __name__ == "__main__":
    sys.exit(main())
