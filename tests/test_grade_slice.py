"""A fixed slice of the grade calibration benchmark (slow group): one earthquake recorded ever
worse, run through every stage; its probability of being right must fall with the data, its
letter never rise, its bootstrap spread grow."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

pytestmark = pytest.mark.slow

#: A Mw 5.0 oblique thrust under the Alaska stations, then the same recorded ever worse: its
#: model further from the run's, noisier sites, fewer stations on one side, faulty stations.
BASE = {"geometry": "alaska", "mw": 5.0, "magnitude": 5.0, "magnitude_type": "Mw", "kind": "oblique",
        "strike": 40.0, "dip": 50.0, "rake": 120.0, "clvd_pct": 0.0, "depth_km": 13.3, "catalogue_depth_km": 10.0,
        "epicentre_error_km": [1.0, -1.0], "half_duration_factor": 1.0, "origin_lead_factor": 1.0,
        "crust_km": 35.0, "mantle_factor": 1.0, "sector_centre_deg": 90.0, "clipped": False,
        "missing_component": False, "seed": 11}
STEPS = [
    {"data_model": "scak", "noise_level": 0.5, "stations": 24, "sector_deg": 360.0, "reversed": False,
     "misoriented_deg": 0.0},
    {"data_model": "cus", "noise_level": 1.0, "stations": 18, "sector_deg": 300.0, "reversed": True,
     "misoriented_deg": 0.0},
    {"data_model": "socal", "noise_level": 6.0, "stations": 6, "sector_deg": 160.0, "reversed": True,
     "misoriented_deg": 40.0},
]


def test_the_grade_falls_as_the_data_get_worse(shared_data, data_root):
    import grade_calibration as bench

    from cmtflow import pipeline
    from cmtflow.source import kagan_angle

    bank = bench.noise_bank()
    found = []
    for k, step in enumerate(STEPS):
        case = {**BASE, **step, "number": 900 + k}
        conf, true = bench.write_case(case, data_root / "inputs" / f"step{k}", bank)
        record = pipeline.run_all(conf, f"step{k}", data_root)
        solution = json.loads((Path(record["solution"]) / "solution.json").read_text())
        mt = np.array([solution["moment_tensor_nm"][c] for c in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")])
        q = solution["quality"]
        found.append((q["grade"], q["p15"], kagan_angle(mt, true.mt), solution["uncertainties"]["kagan_deg"]["p68"]))
    grades, p15, kagan, spread = zip(*found)
    assert list(grades) == sorted(grades), found  # "A" < "B": the letter never rises as the data worsen
    assert p15[0] > p15[1] > p15[2], found
    assert spread[0] < spread[-1], found
    assert kagan[0] < 15.0, found
