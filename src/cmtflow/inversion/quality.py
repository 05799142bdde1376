"""How good a solution is: the numbers a reader checks, and a grade from them.

The numbers: the plain variance reduction (the final synthetics against the data on every
used window, shifted by the centroid time only, unweighted: see
:func:`cmtflow.inversion.cmt3d.plain_variance_reduction`), the number of stations and
components, the azimuthal gap of the stations used, the condition number of the normal
equations, the source type (ISO/CLVD/DC, Vavryčuk 2015), the magnitude check against the
catalogue, and the Kagan angle and dMw to the catalogue's own moment tensor when it
publishes one.

The grade follows the practice of the automatic moment-tensor services (INGV TDMT grades by
variance reduction, Gisola and Scognamiglio et al. 2009 by fit and station coverage): a
solution gets the best letter whose every condition holds. The condition number is that of the
scaled, weighted normal equations (moment tensor in units of the initial M0): measured here,
12 well-spread stations give about 60, the 26 Alaska stations 66, nine near stations on one
side of the Sargans event 190.

===== ================ ============ =============== ==================
grade plain VR at least stations min  azimuthal gap   condition number
===== ================ ============ =============== ==================
A     60 %             8            <= 150 degrees  <= 100
B     40 %             5            <= 210 degrees  <= 300
C     20 %             3            <= 300 degrees  any
D     anything else, or a flagged magnitude (units or model in doubt)
===== ================ ============ =============== ==================
"""

from __future__ import annotations

import numpy as np

from cmtflow.source import decomposition, kagan_angle, moment_magnitude, scalar_moment

#: (grade, min plain VR, min stations, max azimuthal gap deg, max condition number)
GRADES = (("A", 0.60, 8, 150.0, 100.0), ("B", 0.40, 5, 210.0, 300.0), ("C", 0.20, 3, 300.0, np.inf))


def azimuthal_gap(azimuths) -> float:
    """Largest gap (degrees) between station azimuths seen from the epicentre."""
    az = np.sort(np.mod(np.asarray(list(azimuths), float), 360.0))
    if not len(az):
        return 360.0
    return float(np.max(np.diff(np.concatenate([az, [az[0] + 360.0]]))))


def grade(vr: float, n_stations: int, gap: float, condition: float, magnitude_flagged: bool) -> tuple[str, list]:
    """The grade (module docstring) and, for each better grade, the conditions it misses."""
    missed = []
    if magnitude_flagged:
        return "D", ["the magnitude is flagged against the catalogue"]
    for letter, min_vr, min_sta, max_gap, max_cond in GRADES:
        fails = [text for ok, text in (
            (np.isfinite(vr) and vr >= min_vr, f"plain VR {100 * vr:.0f} % < {100 * min_vr:.0f} %"),
            (n_stations >= min_sta, f"{n_stations} stations < {min_sta}"),
            (gap <= max_gap, f"azimuthal gap {gap:.0f} > {max_gap:.0f} degrees"),
            (condition <= max_cond, f"condition number {condition:.0f} > {max_cond:.0f}")) if not ok]
        if not fails:
            return letter, missed
        missed.append(f"not {letter}: {', '.join(fails)}")
    return "D", missed


def assess(result, dataset, magnitude_check: dict | None = None, published_mt=None) -> dict:
    """The ``quality`` record of ``solution.json`` (module docstring)."""
    azimuths = {ch.station: ch.azimuth for ch in dataset.channels if ch.station in result.stations_used}
    gap = azimuthal_gap(azimuths.values())
    flagged = bool(magnitude_check and magnitude_check.get("flagged"))
    letter, missed = grade(result.plain_variance_reduction, len(result.stations_used), gap, result.condition_number,
                           flagged)
    out = {"grade": letter, "grade_reasons": missed, "variance_reduction_plain": result.plain_variance_reduction,
           "stations": len(result.stations_used), "components": result.components_used,
           "azimuthal_gap_deg": gap, "condition_number": result.condition_number,
           **decomposition(result.source.mt)}
    if published_mt is not None:
        out["published_moment_tensor"] = {
            "kagan_angle_deg": kagan_angle(result.source.mt, published_mt),
            "dmw": result.source.mw - moment_magnitude(scalar_moment(published_mt))}
    return out
