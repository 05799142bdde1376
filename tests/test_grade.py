"""The calibrated grade: the bootstrap of re-inversions, the fit of the grade, the shipped
model's promises, and where the grade is shown."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmtflow.inversion import grade as grading
from cmtflow.inversion.bootstrap import resampled, spread
from cmtflow.inversion.dataset import ChannelData, InversionDataset
from cmtflow.misfit import Window
from cmtflow.source import Source, magnitude_to_moment, mt_from_strike_dip_rake


def _source(strike=30.0, dip=60.0, rake=80.0, mw=5.0, seconds=0.0, depth=10.0):
    return Source(time=f"2020-01-01T00:00:{seconds:06.3f}", latitude=0.0, longitude=0.0, depth_km=depth,
                  mt=mt_from_strike_dip_rake(strike, dip, rake, magnitude_to_moment(mw)), event_id="g")


def test_a_station_drawn_twice_is_two_stations_with_their_windows():
    channels = [ChannelData(f"XX.{sta}..BH{c}", 0.0, 1.0, np.zeros(4), np.zeros(4), {}, 50.0, 0.0)
                for sta in ("A", "B") for c in "ZR"]
    dataset = InversionDataset(_source(), channels)
    windows = [Window(ch.channel, 1.0, 3.0) for ch in channels]
    ds, wins = resampled(dataset, windows, ["XX.A", "XX.A", "XX.B"])
    assert [ch.channel for ch in ds.channels] == ["XX.A..BHZ", "XX.A..BHR", "XX.A~2..BHZ", "XX.A~2..BHR",
                                                  "XX.B..BHZ", "XX.B..BHR"]
    assert sorted({ch.station for ch in ds.channels}) == ["XX.A", "XX.A~2", "XX.B"]
    assert [w.channel for w in wins] == [ch.channel for ch in ds.channels]


def test_spread_of_known_repeats():
    """Repeats turned by +-4 degrees of strike and with Mw +-0.05, times +-1 s: the Kagan
    angles, the plane's strike spread, the Mw and time spreads are those put in."""
    final = _source()
    samples = [_source(30.0 + s * 4.0, 60.0, 80.0, 5.0 + s * 0.05, 1.0 + s) for s in (-1, 1) * 5]
    out = spread(final, samples, 10)
    assert out["solutions"] == 10 and out["kagan_deg"]["median"] == pytest.approx(4.0, abs=0.2)
    assert out["mw"] == pytest.approx(np.std([5.0 + s * 0.05 for s in (-1, 1) * 5], ddof=1), abs=2e-3)
    assert out["centroid_time_s"] == pytest.approx(np.std([s for s in (-1, 1) * 5], ddof=1), abs=0.01)
    plane = min(out["nodal_planes"], key=lambda p: p["dip"])  # strike 30: the other plane moves in all three
    assert out["nodal_planes"][0]["strike"] == pytest.approx(4.0 * np.sqrt(10 / 9), abs=0.3)
    assert plane["dip"] < 0.5
    assert spread(final, samples[:3], 10)["note"].startswith("only 3 repeats")


def _records(n, rng):
    """Benchmark-like records whose error grows with the gap and falls with the fit."""
    rows = []
    for k in range(n):
        fit = rng.uniform(0.2, 1.0)
        gap = rng.uniform(40, 320)
        kagan = abs(rng.normal(0, 4 + 40 * (1 - fit) + 0.08 * max(gap - 150, 0)))
        predictors = {name: float(rng.uniform(0, 1)) for name in grading.FEATURES}
        predictors.update(fit_all_windows=fit, azimuthal_gap_deg=gap, stations=int(rng.integers(3, 40)),
                          condition_number=float(rng.uniform(20, 400)), depth_range_km=float(rng.uniform(0, 10)),
                          kagan_p68_deg=float(rng.uniform(1, 20)), clvd_pct=float(rng.uniform(0, 50)))
        rows.append({"case": k, "predictors": predictors, "kagan_deg": kagan, "dmw": float(rng.normal(0, 0.04))})
    return rows


def test_the_fit_finds_what_predicts_the_error_and_its_letters_keep_their_order():
    rng = np.random.default_rng(3)
    rows = _records(900, rng)
    model = grading.fit(rows[:600], rows[600:], {"cases": 900})
    c = model.coefficients["p15"]
    assert c["fit_all_windows"] > 0.5 and c["azimuthal_gap_deg"] < -0.3  # the two that matter, right sign
    assert max(abs(c[f]) for f in ("model_fallback", "magnitude_mismatch", "mw_sd")) < 0.3  # noise: small
    table = model.calibration
    shares = [table[letter]["within_25deg_0.2mw"] for letter in "ABCD" if table[letter]["cases"]]
    assert shares == sorted(shares, reverse=True) and table["A"]["within_15deg_0.1mw"] >= 0.85
    best = {**rows[0]["predictors"], "fit_all_windows": 0.99, "azimuthal_gap_deg": 40.0}
    worst = {**rows[0]["predictors"], "fit_all_windows": 0.2, "azimuthal_gap_deg": 320.0}
    assert grading.grade(best, model=model)["grade"] == "A"
    low = grading.grade(worst, model=model)
    assert low["grade"] == "D" and any("azimuthal gap 320" in r for r in low["grade_reasons"])
    flagged = grading.grade(best, magnitude_flagged=True, model=model)
    assert flagged["grade"] == "D" and flagged["grade_reasons"][0].startswith("the magnitude is flagged")
    assert "not measured" in grading.grade({**best, "kagan_p68_deg": None}, model=model)["grade_reasons"][-1]


def test_thresholds_are_chosen_on_probabilities_of_cases_the_models_did_not_see():
    """Errors that no predictor explains (the truth a coin): fitted on 60 cases, the models
    score their own cases better than chance, while each case's out-of-fold probability, from
    the models fitted without it, is no better than the coin. The letters' thresholds are
    chosen on those, so A cannot promise what only the fitted cases showed."""
    rng = np.random.default_rng(11)
    rows = []
    for k in range(60):
        predictors = {name: float(rng.uniform(0, 1)) for name in grading.FEATURES}
        predictors.update(stations=int(rng.integers(3, 40)), azimuthal_gap_deg=float(rng.uniform(40, 320)))
        rows.append({"case": k, "predictors": predictors, "kagan_deg": float(rng.choice([5.0, 40.0])), "dmw": 0.0})
    features = tuple(grading.FEATURES)
    missing = {name: 0.0 for name in features}
    hit = np.array([grading.within(r, "p15") for r in rows], float)
    mean, scale, coefficients = grading._models(rows, features, missing, 1.0)
    own = grading._probabilities(rows, features, missing, mean, scale, coefficients, "p15")
    unseen = grading.out_of_fold(rows, features, missing, 1.0)["p15"]

    def brier(p):
        return float(np.mean((p - hit) ** 2))

    coin = hit.mean() * (1 - hit.mean())  # the Brier score of the base rate itself
    assert brier(own) < coin - 0.02 and brier(unseen) >= coin


def test_the_shipped_grade_says_what_it_measured():
    """The model in the package: fitted on the benchmark's cases, its letters' meaning measured on
    the cases held back from the fit. On those, A is within 15 degrees in at least 90 % and within
    25 degrees in all but a few, B within 25 degrees in at least 80 %, no share rises from A to C,
    and the share within 25 degrees never rises from A to D (letters with at least 5 cases). The joint promise of A (15
    degrees *and* 0.1 Mw in 90 %) is not met yet: its Mw is the weaker part (docs/quality.md);
    A is still better than B on it."""
    model = grading.load_model()
    assert model.source["cases"] >= 300 and model.source["held_back"] >= 80
    table = model.calibration
    assert table["A"]["cases"] >= 20 and table["A"]["within_15deg"] >= 0.9 and table["A"]["within_25deg"] >= 0.95
    assert table["B"]["cases"] >= 5 and table["B"]["within_25deg"] >= 0.8
    shares = [table[letter]["within_25deg"] for letter in "ABCD" if table[letter]["cases"] >= 5]
    assert shares == sorted(shares, reverse=True)
    for key in ("within_15deg_0.1mw", "within_25deg_0.2mw", "within_15deg", "within_25deg"):
        shares = [table[letter][key] for letter in "ABC" if table[letter]["cases"]]
        assert shares == sorted(shares, reverse=True), key  # no share rises from A to C
    assert table["D"]["within_25deg"] is None or table["D"]["within_25deg"] < table["A"]["within_25deg"]
    assert table["A"]["within_15deg_0.1mw"] > table["B"]["within_15deg_0.1mw"]  # A is better than B
    assert grading.meaning("A") == (f"A: {100 * table['A']['within_15deg_0.1mw']:.0f} % of {table['A']['cases']} "
                                    f"calibration cases within 15° and 0.1 Mw, "
                                    f"{100 * table['A']['within_25deg_0.2mw']:.0f} % within 25° and 0.2 Mw")


def test_a_grade_d_solution_is_kept_for_review_not_published_as_the_answer():
    from cmtflow.errors import CmtflowError
    from cmtflow.inversion.versions import LATEST, published_solution

    class Catalogue:
        def __init__(self, rows):
            self.rows = rows

        def solutions(self, event_id):
            return self.rows

    def row(run, status):
        return {"run_id": run, "record": {"quality": {"grade": "D" if status == "preliminary" else "B",
                                                      "status": status}}}

    newest_d = Catalogue([row("v2", "preliminary"), row("v1", "final")])
    assert published_solution(newest_d, "e", LATEST)["run_id"] == "v1"
    assert published_solution(newest_d, "e", "v2")["run_id"] == "v2"  # a person names it: used
    with pytest.raises(CmtflowError, match="only preliminary .grade D. solutions .v2."):
        published_solution(Catalogue([row("v2", "preliminary")]), "e", LATEST)


def test_the_fit_over_all_candidate_windows_counts_the_rejected_ones():
    """Half the stations with records that no source explains (another event's noise): the
    plain VR, over the windows that passed, stays high; the fit over every candidate window
    and the rejected share say what happened."""
    from cmtflow.inversion import InversionConfig
    from cmtflow.inversion.embedded import embedded_dataset
    from cmtflow.inversion.quality import predictors
    from cmtflow.inversion.screening import invert_screened
    from cmtflow.inversion.synthetic_test import ring_stations
    from cmtflow.models import load_model
    from cmtflow.processing import Band
    from cmtflow.solvers.synthetics import synthetics

    true = Source.from_strike_dip_rake(120.0, 60.0, 30.0, 4.6, time="2020-01-01T00:00:00", latitude=61.0,
                                       longitude=-150.0, depth_km=12.0, half_duration=0.5)
    stations = ring_stations(true, 12, np.random.default_rng(5))
    observed, _ = synthetics(true, stations, load_model("scak"), 0.5, 1024)
    rng = np.random.default_rng(2)
    for tr in observed:
        if int(tr.stats.station[1:]) % 2:  # every other station: noise as large as the signal, nothing else
            tr.data = np.abs(tr.data).max() * np.convolve(rng.standard_normal(tr.stats.npts), np.ones(30) / 5, "same")
    dataset, windows = embedded_dataset(observed, stations, true, load_model("scak"), Band(15.0, 50.0), 0.5, 1024,
                                        picker="phases")
    config = InversionConfig(bootstrap=0, shortest_period_s=15.0)
    result = invert_screened(dataset, windows, config)
    found = predictors(result, dataset, windows, config)
    assert result.plain_variance_reduction > 0.8
    assert found["fit_all_windows"] < 0.7 and found["rejected_fraction"] > 0.3
    assert found["depth_range_km"] is None and found["kagan_p68_deg"] is None  # not measured here
