"""The quality grade: the measured odds that a solution is right.

The grade is computed from the numbers that predict the error of a solution
(:func:`cmtflow.inversion.quality.predictors`), by two logistic models fitted on the
calibration benchmark (``benchmarks/grade_calibration.py``: hundreds of earthquakes with a
known answer, recorded at real station geometries with real noise, made in one Earth model
and inverted in another, with the faults real networks have):

* ``p15``: the probability that the solution is within 15 degrees (Kagan angle) and 0.1 Mw of
  the truth;
* ``p25``: the probability that it is within 25 degrees and 0.2 Mw.

The letters are thresholds on them (A: ``p15`` at least the threshold of A; B: ``p25`` at
least that of B, both chosen on the fitted part of the benchmark so that their cases there reach
:data:`AIMS`, each case scored by the models fitted without it (:func:`out_of_fold`), B's
never below :data:`B_FLOOR`; C: ``p25`` at least 0.25; D: the rest, or
a magnitude flagged against the catalogue, which points at wrong units or a wrong model before
anything the calibration covers). What each letter means is measured on the
held-back part: ``grade_model.json`` keeps, per letter, the share of those cases within 15 and
25 degrees and within 0.1 and 0.2 Mw, and that share is what the report, the CLI, QuakeML and
the catalogue print beside the letter ("A: 83 % of 41 calibration cases within 15° and 0.1 Mw, ...").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

#: The fitted model, written by ``benchmarks/grade_calibration.py fit``.
MODEL_FILE = Path(__file__).with_name("grade_model.json")

#: The predictors the models use and how each enters them (the transform makes the effect
#: closer to linear in the log-odds: a gap of 30 or 60 degrees matters less than 200 or 300).
FEATURES = {
    "fit_all_windows": lambda x: x,
    "rejected_fraction": lambda x: x,
    "clvd_pct": lambda x: x / 100.0,
    "depth_range_km": lambda x: math.log1p(x),
    "kagan_p68_deg": lambda x: math.log1p(x),
    "mw_sd": lambda x: math.log1p(100.0 * x),
    "azimuthal_gap_deg": lambda x: (x / 360.0) ** 2,
    "stations": lambda x: math.log(max(x, 1)),
    "condition_number": lambda x: math.log(max(x, 1.0)),
    "magnitude_mismatch": lambda x: x,
    "model_fallback": lambda x: float(x),
}
#: Plain words for a predictor in a grade's reasons.
WORDS = {
    "fit_all_windows": "fit over all candidate windows {:.2f}".format,
    "rejected_fraction": "{:.0%} of the candidate windows rejected".format,
    "clvd_pct": "CLVD {:.0f} %".format,
    "depth_range_km": "depth curve flat over {:.1f} km".format,
    "kagan_p68_deg": "bootstrap Kagan spread {:.0f}°".format,
    "mw_sd": "bootstrap Mw spread {:.2f}".format,
    "azimuthal_gap_deg": "azimuthal gap {:.0f}°".format,
    "stations": "{:.0f} stations".format,
    "condition_number": "condition number {:.0f}".format,
    "magnitude_mismatch": "Mw {:.2f} from the set-up magnitude".format,
    "model_fallback": lambda value: "no regional model for the epicentre" if value else "a regional model",
}
TARGETS = {"p15": (15.0, 0.1), "p25": (25.0, 0.2)}
LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class GradeModel:
    """The fitted models (standardised features: ``(f(x) - mean) / scale``), the thresholds
    of the letters, the value taken for a predictor a run did not measure (the fitted cases'
    90th percentile where larger is worse, else their median) and the held-back table."""

    features: tuple[str, ...]
    mean: dict
    scale: dict
    coefficients: dict  # target -> {"intercept": b0, feature: b}
    thresholds: dict  # letter -> (target, minimum probability)
    missing: dict
    calibration: dict  # letter -> {"cases", "within_15deg", ...}
    source: dict  # cases, date, commit

    @classmethod
    def from_dict(cls, d: dict) -> GradeModel:
        return cls(tuple(d["features"]), d["mean"], d["scale"], d["coefficients"],
                   {k: tuple(v) for k, v in d["thresholds"].items()}, d["missing"], d["calibration"], d["source"])

    def as_dict(self) -> dict:
        return {"features": list(self.features), "mean": self.mean, "scale": self.scale,
                "coefficients": self.coefficients, "thresholds": {k: list(v) for k, v in self.thresholds.items()},
                "missing": self.missing, "calibration": self.calibration, "source": self.source}

    def standardised(self, predictors: dict) -> tuple[dict, list[str]]:
        """The standardised features of ``predictors`` and the ones not measured."""
        z, absent = {}, []
        for name in self.features:
            value = predictors.get(name)
            if value is None or not np.isfinite(value):
                absent.append(name)
                value = self.missing[name]
            z[name] = (FEATURES[name](value) - self.mean[name]) / self.scale[name]
        return z, absent

    def probability(self, target: str, z: dict) -> float:
        c = self.coefficients[target]
        return float(1.0 / (1.0 + math.exp(-(c["intercept"] + sum(c[f] * z[f] for f in self.features)))))


@lru_cache(maxsize=1)
def load_model(path: str = str(MODEL_FILE)) -> GradeModel:
    return GradeModel.from_dict(json.loads(Path(path).read_text()))


def meaning(letter: str, model: GradeModel | None = None) -> str:
    """What ``letter`` means in numbers, measured on the held-back calibration cases."""
    model = model or load_model()
    row = model.calibration.get(letter) or {}
    if not row.get("cases"):
        return f"{letter}: no held-back calibration case"
    return (f"{letter}: {100 * row['within_15deg_0.1mw']:.0f} % of {row['cases']} calibration cases within 15° and "
            f"0.1 Mw, {100 * row['within_25deg_0.2mw']:.0f} % within 25° and 0.2 Mw")


def grade(predictors: dict, magnitude_flagged: bool = False, model: GradeModel | None = None) -> dict:
    """The grade of a solution from its ``predictors``: the letter, the two probabilities,
    what the letter means (:func:`meaning`), and the predictors that lower the odds most."""
    model = model or load_model()
    z, absent = model.standardised(predictors)
    p = {target: model.probability(target, z) for target in TARGETS}
    letter = "D"
    for candidate in LETTERS[:-1]:
        target, minimum = model.thresholds[candidate]
        if p[target] >= minimum:
            letter = candidate
            break
    c = model.coefficients["p15"]
    pulls = sorted(((c[f] * z[f], f) for f in model.features if f not in absent), key=lambda t: t[0])
    reasons = [WORDS[f](predictors[f]) for effect, f in pulls[:3] if effect < -0.25]
    reasons += [f"{f} not measured: the calibration's {model.missing[f]:g} taken" for f in absent]
    if magnitude_flagged:
        letter = "D"
        reasons.insert(0, "the magnitude is flagged against the catalogue (units or model in doubt)")
    return {"grade": letter, "p15": round(p["p15"], 3), "p25": round(p["p25"], 3),
            "meaning": meaning(letter, model), "grade_reasons": reasons}


# ----------------------------------------------------------------------------- fitting
def design(rows: list[dict], features=tuple(FEATURES), missing: dict | None = None) -> np.ndarray:
    """The transformed features of ``rows`` (predictor dicts), a missing value replaced by
    ``missing``."""
    out = np.empty((len(rows), len(features)))
    for i, row in enumerate(rows):
        for j, name in enumerate(features):
            value = row.get(name)
            if value is None or not np.isfinite(value):
                value = (missing or {}).get(name, 0.0)
            out[i, j] = FEATURES[name](value)
    return out


def logistic_fit(x: np.ndarray, y: np.ndarray, ridge: float = 1.0, iterations: int = 50) -> np.ndarray:
    """Coefficients (intercept first) of an L2-penalised logistic regression of ``y`` (0/1) on
    the standardised ``x``, by Newton's method."""
    a = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(a.shape[1])
    penalty = ridge * np.eye(a.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(a @ beta)))
        gradient = a.T @ (y - p) - penalty @ beta
        hessian = (a * (p * (1 - p))[:, None]).T @ a + penalty
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def within(case: dict, target: str) -> bool:
    angle, dmw = TARGETS[target]
    return case["kagan_deg"] <= angle and abs(case["dmw"]) <= dmw


def calibration_table(cases: list[dict], letters: list[str]) -> dict:
    """Per letter: the number of ``cases`` and their shares within 15/25 degrees, 0.1/0.2 Mw."""
    out = {}
    for letter in LETTERS:
        rows = [c for c, g in zip(cases, letters) if g == letter]
        n = len(rows)

        def share(test):
            return round(sum(map(test, rows)) / n, 3) if n else None

        out[letter] = {"cases": n,
                       "within_15deg_0.1mw": share(lambda c: within(c, "p15")),
                       "within_25deg_0.2mw": share(lambda c: within(c, "p25")),
                       "within_15deg": share(lambda c: c["kagan_deg"] <= 15), "within_25deg": share(
                           lambda c: c["kagan_deg"] <= 25),
                       "within_0.1mw": share(lambda c: abs(c["dmw"]) <= 0.1),
                       "within_0.2mw": share(lambda c: abs(c["dmw"]) <= 0.2),
                       "median_kagan_deg": round(float(np.median([c["kagan_deg"] for c in rows])), 1) if n else None}
    return out


#: What the thresholds of A and B are chosen for, on the fitted cases (a margin above what the
#: letters promise on cases never seen): A, at least this share of its cases within 15 degrees
#: and 0.1 Mw; B, within 25 degrees and 0.2 Mw.
AIMS = {"A": ("p15", 0.95), "B": ("p25", 0.88)}
#: B is at least more likely than not within 25 degrees and 0.2 Mw, whatever its fitted threshold.
B_FLOOR = 0.5
#: C: at least one chance in four of being within 25 degrees and 0.2 Mw (its own probability).
C_THRESHOLD = ("p25", 0.25)
#: No letter is set on fewer fitted cases than this.
MIN_CASES = 8


def _threshold(cases: list[dict], probabilities: np.ndarray, target: str, aim: float) -> float:
    """The lowest probability threshold whose cases (those at or above it) reach ``aim``."""
    order = np.argsort(-probabilities)
    hits = np.cumsum([within(cases[i], target) for i in order])
    best = 1.0
    for k in range(len(order)):
        if k + 1 >= MIN_CASES and hits[k] / (k + 1) >= aim:
            best = float(probabilities[order[k]])
    return best


#: The fitted cases are split in this many folds; each fold's probabilities come from the
#: models fitted on the others, and the thresholds of A and B are chosen on those.
FOLDS = 5


def _models(train: list[dict], features: tuple, missing: dict, ridge: float) -> tuple:
    """The standardisation (mean, scale) and the coefficients of both targets, fitted on ``train``."""
    x = design([c["predictors"] for c in train], features, missing)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    coefficients = {}
    for target in TARGETS:
        y = np.array([within(c, target) for c in train], float)
        beta = logistic_fit(z, y, ridge)
        coefficients[target] = {"intercept": float(beta[0]), **{f: float(b) for f, b in zip(features, beta[1:])}}
    return mean, scale, coefficients


def _probabilities(rows: list[dict], features: tuple, missing: dict, mean, scale, coefficients: dict,
                   target: str) -> np.ndarray:
    z = (design([c["predictors"] for c in rows], features, missing) - mean) / scale
    c = coefficients[target]
    return 1.0 / (1.0 + np.exp(-(c["intercept"] + z @ np.array([c[f] for f in features]))))


def out_of_fold(train: list[dict], features: tuple, missing: dict, ridge: float, folds: int = FOLDS) -> dict:
    """Per target, each fitted case's probability from the models fitted without its fold
    (cases dealt to folds in turn): probabilities as a case never seen gets them, where the
    models' own cases are scored too well (measured: A's thresholds on the in-sample
    probabilities promised 95 % and gave 79 % on the held-back cases)."""
    fold = np.arange(len(train)) % folds
    out = {target: np.empty(len(train)) for target in TARGETS}
    for k in range(folds):
        rest = [c for c, f in zip(train, fold) if f != k]
        mean, scale, coefficients = _models(rest, features, missing, ridge)
        mine = [c for c, f in zip(train, fold) if f == k]
        for target in TARGETS:
            out[target][fold == k] = _probabilities(mine, features, missing, mean, scale, coefficients, target)
    return out


def fit(train: list[dict], held_back: list[dict], source: dict, ridge: float = 1.0) -> GradeModel:
    """Fit the grade on ``train`` (benchmark records with ``predictors``, ``kagan_deg`` and
    ``dmw``) and measure it on ``held_back``. The models are fitted on all of ``train``; the
    thresholds of A and B on its out-of-fold probabilities (:func:`out_of_fold`)."""
    features = tuple(FEATURES)
    missing = {}
    for name in features:
        values = [r[name] for r in (c["predictors"] for c in train) if r.get(name) is not None and np.isfinite(r[name])]
        worse_when_larger = name not in ("fit_all_windows", "stations")
        missing[name] = float(np.percentile(values, 90 if worse_when_larger else 50)) if values else 0.0
    mean, scale, coefficients = _models(train, features, missing, ridge)
    probs = out_of_fold(train, features, missing, ridge)
    thresholds, remaining = {}, list(range(len(train)))
    for letter in AIMS:
        target, aim = AIMS[letter]
        cases = [train[i] for i in remaining]
        t = _threshold(cases, probs[target][remaining], target, aim) if cases else 1.0
        if letter == "B":
            t = max(t, B_FLOOR)
        thresholds[letter] = (target, t)
        remaining = [i for i in remaining if probs[target][i] < t]
    thresholds["C"] = C_THRESHOLD
    model = GradeModel(features, dict(zip(features, map(float, mean))), dict(zip(features, map(float, scale))),
                       coefficients, thresholds, missing, {}, source)
    letters = [grade(c["predictors"], c.get("magnitude_flagged", False), model)["grade"] for c in held_back]
    return replace(model, calibration=calibration_table(held_back, letters))


def headline(quality: dict, uncertainties: dict | None = None) -> str:
    """The grade as one line wherever it is shown (CLI, report, catalogue listing): the letter,
    what it means in numbers, this solution's probability, the bootstrap Kagan spread and,
    for a D, that it is kept for review."""
    text = f"grade {quality.get('grade', '-')}"
    if quality.get("meaning"):
        text += f" ({quality['meaning'].split(': ', 1)[-1]}; this solution p15 {quality['p15']:.2f})"
    kagan = (uncertainties or {}).get("kagan_deg")
    if kagan:
        text += f", bootstrap Kagan spread {kagan['p68']:.0f}° (68 %)"
    if quality.get("status") == "preliminary":
        text += ", preliminary: kept for review"
    return text
