"""cmt_inversion through Airflow end to end (dag.test on an embedded SQLite home), as the
``cmtflow`` commands run it: in a separate process with its own data root and Airflow home."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cmtflow.source import kagan_angle, read_cmtsolution, read_quakeml

pytest.importorskip("airflow")


def _cmtflow(root, *args, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return subprocess.run([sys.executable, "-m", "cmtflow", "--data-root", str(root), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_cmt_inversion_through_airflow(tmp_path):
    root = tmp_path / "home"
    prepared = _cmtflow(root, "demo", "--prepare-only")
    assert prepared.returncode == 0, prepared.stderr
    conf = json.loads(prepared.stdout)  # stdout is the conf and nothing else
    assert conf["data_source"] == "sds"
    (tmp_path / "conf.json").write_text(json.dumps({**conf, "bootstrap": 20}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**conf, "n_params": 8}))
    refused = _cmtflow(root, "run", "--conf", str(bad))
    assert refused.returncode == 2 and refused.stderr.startswith("error: n_params: 8 is not one of [6, 7, 9]")

    done = _cmtflow(root, "run", "--conf", str(tmp_path / "conf.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done    simulations.simulate[6]" in done.stderr and "done    publish_solution" in done.stderr
    report = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("report: "))
    run_dir = os.path.dirname(os.path.dirname(report))
    solution = json.loads(open(os.path.join(run_dir, "solution", "solution.json")).read())
    quakeml = read_quakeml(os.path.join(run_dir, "solution", "solution.xml"))
    cmt = read_cmtsolution(os.path.join(run_dir, "solution", "CMTSOLUTION"))
    mt = np.array([solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")])
    assert np.allclose(quakeml.mt, mt, rtol=1e-6) and np.allclose(cmt.mt, mt, rtol=1e-5)
    assert quakeml.mw == pytest.approx(solution["mw"], abs=1e-3)
    html = open(report).read()
    assert f"{solution['mw']:.2f}" in html and "manual__" in html  # the Airflow run is in the provenance
    true = read_cmtsolution(root / "demo" / "scenario" / "CMTSOLUTION.true")
    assert kagan_angle(mt, true.mt) < 10.0 and abs(solution["mw"] - true.mw) < 0.1
    published = json.loads(open(os.path.join(run_dir, "published.json")).read())
    assert published["report"] == report
