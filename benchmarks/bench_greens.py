"""Benchmark: Green's functions for 30 distances (10-500 km), 1024 samples at 0.2 s.

Times cmtflow's embedded FK solver and, when installed (test extra), pygrt-kit on the
same job (same model, depth, distances, sampling; double-couple + explosion terms; both
on all cores of this machine). Prints one line per measurement and the speed ratio; the
default run (both large jobs too) writes the section "Green's functions" of
``docs/benchmarks.md`` (not with ``--no-docs``).

    python benchmarks/bench_greens.py [--depth KM] [--repeat N] [--no-docs]
    python benchmarks/bench_greens.py --large broadband|many   # time and peak memory of a large job
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import datetime
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import replace_section  # noqa: E402

from cmtflow.config import settings  # noqa: E402
from cmtflow.models import load_model  # noqa: E402
from cmtflow.solvers.fk import compute_greens  # noqa: E402

HEADING = "## Green's functions"

DISTANCES = np.linspace(10.0, 500.0, 30)
DT, NPTS = 0.2, 1024


def time_cmtflow(model: str, depth: float, repeat: int) -> float:
    compute_greens(model, depth, DISTANCES[:2], DT, NPTS)  # loads (or compiles) the numba kernels
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        compute_greens(model, depth, DISTANCES, DT, NPTS)
        best = min(best, time.perf_counter() - t)
    return best


def time_pygrt(model: str, depth: float, repeat: int) -> float | None:
    try:
        import pygrt
    except ImportError:
        return None
    m = load_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.txt")  # pygrt order: thickness vp vs rho qp qs
        with open(path, "w") as f:
            for h, vs, vp, rho, qs, qp in zip(m.thickness, m.vs, m.vp, m.rho, m.qs, m.qp):
                f.write(f"{h} {vp} {vs} {rho} {qp} {qs}\n")
        best = np.inf
        for i in range(repeat):
            grt = pygrt.PyModel1D(grn=os.path.join(tmp, f"grn{i}"), modelpath=path)
            t = time.perf_counter()
            grt.greenfn(depsrc=depth, deprcv=0.0, dists=DISTANCES, nt=NPTS, dt=DT, gf_source=["EX", "DC"],
                        keepAllFreq=True, nthreads=os.cpu_count(), print_log=False)
            best = min(best, time.perf_counter() - t)
    return best


def run(model: str = "scak", depth: float = 10.0, repeat: int = 3) -> dict:
    ours = time_cmtflow(model, depth, repeat)
    print(f"cmtflow FK      : {ours:6.2f} s  (30 distances 10-500 km, {NPTS} samples at {DT} s, "
          f"model {model}, depth {depth} km, {os.cpu_count()} cores)")
    theirs = time_pygrt(model, depth, max(1, repeat - 1))
    result = {"cmtflow_s": ours, "pygrt_s": theirs}
    if theirs is not None:
        result["ratio"] = theirs / ours
        print(f"pygrt-kit 0.18  : {theirs:6.2f} s  -> cmtflow is {theirs / ours:.1f}x faster")
    else:
        print("pygrt-kit       : not installed (pip install '.[test]'), no ratio")
    return result


#: Large jobs for the memory ceiling: (label, distances km, dt s, npts).
LARGE_JOBS = {
    "broadband": ("5 distances, 8192 samples at 0.02 s", "10,50,100,200,300", 0.02, 8192),
    "many": ("100 distances 5-500 km, 2048 samples at 0.1 s",
             ",".join(f"{d:.1f}" for d in np.linspace(5.0, 500.0, 100)), 0.1, 2048),
}


def run_large(job: str, model: str = "scak", depth: float = 10.0) -> dict:
    """``cmtflow greens`` for a large job in its own process: wall time and peak resident
    memory (the process's ``ru_maxrss``), under ``CMTFLOW_GREENS_MEMORY_GB`` (default 2)."""
    import subprocess

    label, distances, dt, npts = LARGE_JOBS[job]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "cmtflow", "--data-root", tmp, "greens", "--model", model,
                                 "--depth", str(depth), "--distances", distances, "--dt", str(dt), "--npts", str(npts),
                                 "--out", os.path.join(tmp, "out")], stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak (RUSAGE_CHILDREN is the max of all)
        wall = time.perf_counter() - t
        if status != 0:
            raise RuntimeError(f"cmtflow greens failed (status {status})")
    peak_gb = usage.ru_maxrss * 1024 / 1e9  # Linux: kB
    print(f"cmtflow greens  : {wall:6.1f} s, peak RSS {peak_gb:.2f} GB  ({label}, model {model}, depth {depth} km, "
          f"{os.cpu_count()} cores, CMTFLOW_GREENS_MEMORY_GB={settings.greens_memory_gb:g})")
    return {"label": label, "wall_s": wall, "peak_rss_gb": peak_gb}


def markdown(model: str, depth: float, result: dict, large: dict) -> str:
    """The section of ``docs/benchmarks.md``."""
    pygrt = (f"pygrt-kit on the same job {result['pygrt_s']:.2f} s: cmtflow {result['ratio']:.1f}x faster"
             if result.get("pygrt_s") is not None else "pygrt-kit not installed: no ratio")
    rows = [f"| {job['label']} | {job['wall_s']:.1f} | {job['peak_rss_gb']:.2f} |" for job in large.values()]
    return "\n".join([
        HEADING, "",
        f"`python benchmarks/bench_greens.py` on a machine with {os.cpu_count()} CPUs ({datetime.date.today()}): "
        f"the embedded FK solver's Green's functions (model {model}, source at {depth:g} km), best of the repeats.",
        "",
        f"- 30 distances 10-500 km, {NPTS} samples at {DT} s: {result['cmtflow_s']:.2f} s; {pygrt}.",
        f"- Large jobs, each a `cmtflow greens` process under `CMTFLOW_GREENS_MEMORY_GB` "
        f"{settings.greens_memory_gb:g}:", "",
        "| job | wall (s) | peak resident memory (GB) |", "|---|---|---|", *rows, ""])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="scak")
    ap.add_argument("--depth", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--large", choices=sorted(LARGE_JOBS), help="a large job instead: time and peak memory")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    a = ap.parse_args()
    if a.large:
        run_large(a.large, a.model, a.depth)
    else:
        measured = run(a.model, a.depth, a.repeat)
        large = {job: run_large(job, a.model, a.depth) for job in LARGE_JOBS}
        if not a.no_docs:
            replace_section(HEADING, markdown(a.model, a.depth, measured, large))
