"""The quality numbers and grade of a solution, and where they are published."""

from __future__ import annotations

import json

import numpy as np
import obspy
import pytest

from cmtflow.inversion.quality import azimuthal_gap
from cmtflow.source import decomposition, mt_from_strike_dip_rake


@pytest.mark.parametrize("mt, expected", [
    (mt_from_strike_dip_rake(30, 60, 80, 1e16), (0.0, 0.0, 100.0)),  # a double couple
    ([1, 1, 1, 0, 0, 0], (100.0, 0.0, 0.0)),  # an explosion
    ([-1, -1, -1, 0, 0, 0], (-100.0, 0.0, 0.0)),  # an implosion
    ([2, -1, -1, 0, 0, 0], (0.0, 100.0, 0.0)),  # a CLVD
    ([1 + 2, 1 - 1, 1 - 1, 0, 0, 0], (1 / (1 + 2) * 100, 2 / 3 * 100, 0.0)),  # ISO 1 + CLVD 2 (|M| = 1 + 2)
])
def test_decomposition_after_vavrycuk_2015(mt, expected):
    d = decomposition(mt)
    assert (d["iso_pct"], d["clvd_pct"], d["dc_pct"]) == pytest.approx(expected, abs=1e-9)


def test_azimuthal_gap():
    assert azimuthal_gap([10, 100, 190, 280]) == pytest.approx(90.0)
    assert azimuthal_gap([350, 10]) == pytest.approx(340.0)
    assert azimuthal_gap([]) == 360.0


def test_quality_in_solution_json_and_quakeml(tmp_path):
    """A recovery run of a well-recorded source: grade A, the numbers in solution.json and in
    the QuakeML's moment tensor and focal mechanism (read back with ObsPy)."""
    from cmtflow.cli import main

    from cmtflow.source import Source, write_cmtsolution

    cmt = tmp_path / "CMT"
    write_cmtsolution(Source.from_strike_dip_rake(30, 60, 80, 4.4, time="2020-01-01T00:00:00", latitude=45.0,
                                                  longitude=10.0, depth_km=12.0, event_id="q"), cmt)
    out = tmp_path / "out"
    assert main(["invert", "--synthetic-test", "--initial", str(cmt), "--model", "scak", "--bootstrap", "20",
                 "--noise", "0.05", "--picker", "phases", "--out", str(out)]) == 0
    q = json.loads((out / "solution.json").read_text())["quality"]
    assert q["grade"] == "A" and q["stations"] >= 20 and q["components"] >= 3 * 20 - 5
    assert q["dc_pct"] > 90 and q["azimuthal_gap_deg"] < 90 and q["variance_reduction_plain"] > 0.9
    event = obspy.read_events(str(out / "solution.xml"))[0]
    fm = event.focal_mechanisms[0]
    mt = fm.moment_tensor
    assert mt.variance_reduction == pytest.approx(100 * q["variance_reduction_plain"], abs=0.01)
    assert mt.double_couple == pytest.approx(q["dc_pct"] / 100, abs=1e-4)
    assert mt.clvd == pytest.approx(q["clvd_pct"] / 100, abs=1e-4)
    assert mt.data_used[0].station_count == q["stations"] and mt.data_used[0].component_count == q["components"]
    assert (mt.data_used[0].shortest_period, mt.data_used[0].longest_period) == (15.0, 50.0)
    assert str(mt.method_id) == "smi:cmtflow/method/cmt3d" and mt.inversion_type == "zero trace"
    assert fm.azimuthal_gap == pytest.approx(q["azimuthal_gap_deg"], abs=0.1) and fm.evaluation_mode == "automatic"
    assert np.isfinite(q["condition_number"])
    # the grade with its measured meaning, its status and the bootstrap's spread, everywhere it is shown
    from cmtflow.commands.common import quality_line as _quality_line
    from cmtflow.inversion import grade as grading

    solution = json.loads((out / "solution.json").read_text())
    unc = solution["uncertainties"]
    assert q["meaning"] == grading.meaning("A") and 0.5 < q["p15"] <= 1 and q["status"] == "final"
    assert unc["repeats"] == 20 and unc["solutions"] >= 15 and unc["kagan_deg"]["p68"] < 10
    assert set(q["predictors"]) == set(grading.FEATURES) and q["predictors"]["kagan_p68_deg"] == unc["kagan_deg"]["p68"]
    line = _quality_line(solution)
    assert line.startswith("grade A (") and "calibration cases within 15° and 0.1 Mw" in line
    assert "bootstrap Kagan spread" in line
    assert fm.evaluation_status == "final" and fm.comments[0].text == f"cmtflow {grading.headline(q, unc)}"
    assert event.magnitudes[0].mag_errors.uncertainty == pytest.approx(unc["mw"])
    assert fm.nodal_planes.nodal_plane_1.strike_errors.uncertainty == unc["nodal_planes"][0]["strike"]
