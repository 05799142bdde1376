"""Benchmark: the Airflow overhead of cmt_inversion on the demo scenario.

The same stages on the same scenario, each from a fresh data root (so both compute their
Green's functions and simulations): once called directly in order (``cmtflow.stages.run_all``),
once as the ``cmt_inversion`` DAG through Airflow (``dag.test()``, SQLite, local processes).
The one-time Airflow home set-up (``airflow db migrate``) is timed separately.

    python benchmarks/bench_dag.py
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def run() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-dag-"))
    try:
        os.environ["CMTFLOW_HOME"] = str(tmp / "scenario-home")
        from cmtflow import demo, stages

        scenario = demo.generate(tmp / "scenario")
        conf = scenario.conf()
        direct_root = tmp / "direct"
        os.environ["CMTFLOW_HOME"] = str(direct_root)
        t = time.perf_counter()
        stages.run_all(conf, "direct", direct_root)
        direct = time.perf_counter() - t

        dag_root = tmp / "dag"
        os.environ["CMTFLOW_HOME"] = str(dag_root)
        from cmtflow.airflow.home import ensure_home, run_dag

        t = time.perf_counter()
        ensure_home()
        setup = time.perf_counter() - t
        t = time.perf_counter()
        result = run_dag(conf)
        dag = time.perf_counter() - t
        assert result["state"] == "success", result
        return {"direct_s": direct, "dag_s": dag, "airflow_setup_s": setup, "ratio": dag / direct,
                "overhead_s": dag - direct}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    r = run()
    print(f"stages called directly : {r['direct_s']:6.1f} s")
    print(f"cmt_inversion DAG      : {r['dag_s']:6.1f} s  (Airflow home set-up once: {r['airflow_setup_s']:.1f} s)")
    print(f"Airflow overhead       : {r['overhead_s']:6.1f} s  ({r['ratio']:.2f}x)")


if __name__ == "__main__":
    main()
