"""Benchmark: Green's functions for 30 distances (10-500 km), 1024 samples at 0.2 s.

Times cmtflow's embedded FK solver and, when installed (test extra), pygrt-kit on the
same job (same model, depth, distances, sampling; double-couple + explosion terms; both
on all cores of this machine). Prints one line per measurement and the speed ratio.

    python benchmarks/bench_greens.py [--depth KM] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from cmtflow.models import load_model
from cmtflow.solvers.fk import compute_greens

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


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="scak")
    ap.add_argument("--depth", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    run(a.model, a.depth, a.repeat)
