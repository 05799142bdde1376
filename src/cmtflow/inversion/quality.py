"""How good a solution is: the numbers a reader checks, and a grade from them.

The numbers: the plain variance reduction (the final synthetics against the data on every
used window, shifted by the centroid time only, unweighted: see
:func:`cmtflow.inversion.cmt3d.plain_variance_reduction`), the number of stations and
components, the azimuthal gap of the stations used, the condition number of the normal
equations, the source type (ISO/CLVD/DC, Vavryčuk 2015), the magnitude check against the
catalogue, and the Kagan angle and dMw to the catalogue's own moment tensor when it
publishes one.

The grade is the measured odds that the solution is right (:mod:`cmtflow.inversion.grade`):
two logistic models of the :func:`predictors`, fitted on the calibration benchmark, give the
probability that the solution is within 15 degrees and 0.1 Mw of the truth (``p15``) and within
25 degrees and 0.2 Mw (``p25``); the letter is a threshold on them and comes with what it
meant on calibration cases never used to fit it. The condition number is that of the scaled,
weighted normal equations (moment tensor in units of the initial M0): measured here, 12
well-spread stations give about 60, the 26 Alaska stations 66, nine near stations on one side
of the Sargans event 190.

A D solution is kept and marked (``status`` preliminary): it is never an event's published
answer on its own; the next version (an update with more stations) or a person decides.
"""

from __future__ import annotations

import numpy as np

from cmtflow.source import decomposition, kagan_angle, moment_magnitude, scalar_moment

#: The status of a solution by its grade: a D is kept for review, never published as final.
STATUS = {"A": "final", "B": "final", "C": "final", "D": "preliminary"}
#: Why a solution is preliminary, as the report and the catalogue say it.
PRELIMINARY = ("preliminary: grade D, kept for review; not the event's published solution until a later version "
               "or a person decides")


def azimuthal_gap(azimuths) -> float:
    """Largest gap (degrees) between station azimuths seen from the epicentre."""
    az = np.sort(np.mod(np.asarray(list(azimuths), float), 360.0))
    if not len(az):
        return 360.0
    return float(np.max(np.diff(np.concatenate([az, [az[0] + 360.0]]))))


def predictors(result, dataset, windows: list, config, depth_search: dict | None = None,
               uncertainties: dict | None = None, setup: dict | None = None) -> dict:
    """The numbers the grade is computed from (:mod:`cmtflow.inversion.grade`), each one that
    the calibration found to predict the error of a solution:

    * ``fit_all_windows``: 1 - mean min(misfit, 1) of the final synthetics over every candidate
      window, rejected ones and those of screened-out stations included
      (:func:`~cmtflow.inversion.cmt3d.fit_of_windows`): unlike the plain VR, which sees only
      the windows that passed, a record set that the solution does not explain scores low;
    * ``rejected_fraction``: the share of the candidate windows the inversion did not use;
    * ``clvd_pct``: |CLVD| (%, Vavryčuk 2015): a tectonic source is mostly double couple,
      a large CLVD is most often the trace of noise or a wrong model;
    * ``depth_range_km``: the depths whose fit is within 0.02 of the best (a flat depth curve:
      depth, and with it the mechanism, poorly resolved); None where depth is not searched;
    * ``kagan_p68_deg``, ``mw_sd``: the bootstrap of re-inversions
      (:mod:`cmtflow.inversion.bootstrap`); None without it;
    * ``azimuthal_gap_deg``, ``stations``, ``condition_number``;
    * ``magnitude_mismatch``: |inverted Mw - the Mw that set the run up|;
    * ``model_fallback``: 1 when no regional model covers the epicentre (ak135 under it).
    """
    from dataclasses import replace

    from cmtflow.inversion.cmt3d import fit_of_windows

    azimuths = {ch.station: ch.azimuth for ch in dataset.channels if ch.station in result.stations_used}
    used = sum(w.accepted for w in result.windows)
    spread = uncertainties or {}
    setup = setup or {}
    return {
        "fit_all_windows": fit_of_windows(dataset, windows, replace(result, screened={}), config),
        "rejected_fraction": 1.0 - used / max(len(windows), 1),
        "clvd_pct": abs(decomposition(result.source.mt)["clvd_pct"]),
        "depth_range_km": (depth_search["range_km"][1] - depth_search["range_km"][0]) if depth_search else None,
        "kagan_p68_deg": (spread.get("kagan_deg") or {}).get("p68"),
        "mw_sd": spread.get("mw"),
        "azimuthal_gap_deg": azimuthal_gap(azimuths.values()),
        "stations": len(result.stations_used),
        "condition_number": result.condition_number,
        "magnitude_mismatch": (abs(result.source.mw - setup["moment_magnitude"])
                               if setup.get("moment_magnitude") is not None else None),
        "model_fallback": int(str(setup.get("reasons", {}).get("model", "")).startswith("epicentre outside")),
    }


def assess(result, dataset, magnitude_check: dict | None = None, published_mt=None,
           found: dict | None = None) -> dict:
    """The ``quality`` record of ``solution.json`` (module docstring); ``found``: the
    :func:`predictors` of the run."""
    from cmtflow.inversion.grade import grade

    azimuths = {ch.station: ch.azimuth for ch in dataset.channels if ch.station in result.stations_used}
    gap = azimuthal_gap(azimuths.values())
    flagged = bool(magnitude_check and magnitude_check.get("flagged"))
    found = found or {"azimuthal_gap_deg": gap, "stations": len(result.stations_used),
                      "condition_number": result.condition_number,
                      "clvd_pct": abs(decomposition(result.source.mt)["clvd_pct"])}
    graded = grade(found, flagged)
    out = {**graded, "status": STATUS[graded["grade"]], "variance_reduction_plain": result.plain_variance_reduction,
           "stations": len(result.stations_used), "components": result.components_used,
           "azimuthal_gap_deg": gap, "condition_number": result.condition_number,
           **decomposition(result.source.mt), "predictors": found}
    if published_mt is not None:
        out["published_moment_tensor"] = {
            "kagan_angle_deg": kagan_angle(result.source.mt, published_mt),
            "dmw": result.source.mw - moment_magnitude(scalar_moment(published_mt))}
    return out
