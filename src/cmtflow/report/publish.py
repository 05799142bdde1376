"""Write an inversion's products: solution.json, CMTSOLUTION, QuakeML and figures.

Everything is written to a temporary folder first and moved into place with
``solution.json`` last, so a folder with a ``solution.json`` is always complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cmtflow.inversion.cmt3d import InversionResult
from cmtflow.inversion.dataset import InversionDataset
from cmtflow.source import write_cmtsolution, write_quakeml
from cmtflow.workspace import staging_folder

PRODUCTS = ("CMTSOLUTION", "solution.xml", "beachball.png", "waveforms.png", "misfit.png")
#: An inverted Mw this far from the catalogue magnitude points at wrong data units or a
#: wrong model (density, velocities) before it points at the catalogue: flagged.
MAGNITUDE_FLAG = 0.8


def magnitude_check(mw: float, reference: float | None, reference_type: str = "M") -> dict | None:
    """The inverted Mw against a catalogue magnitude: the difference and whether it is
    flagged (``|difference| > MAGNITUDE_FLAG``), with the warning to show."""
    if reference is None:
        return None
    diff = mw - float(reference)
    check = {"catalogue": float(reference), "catalogue_type": reference_type, "mw": round(mw, 3),
             "difference": round(diff, 3), "flagged": abs(diff) > MAGNITUDE_FLAG}
    if check["flagged"]:
        check["warning"] = (f"Mw {mw:.2f} differs from the catalogue {reference_type} {reference:.2f} by {diff:+.2f} "
                            f"(more than {MAGNITUDE_FLAG}): check the units of the data (--quantity/--scale, "
                            "data_quantity/data_scale, SAC idep, responses) and the model's density and velocities")
    return check


def _takeoffs(result: InversionResult, dataset: InversionDataset, extra: dict | None) -> dict[str, float] | None:
    """The used stations' P take-off angles in the set-up's 1D model, or None where the run
    has none that loads (the beachball then shows the stations' azimuths only)."""
    from cmtflow.errors import CmtflowError
    from cmtflow.models import load_model
    from cmtflow.report.plots import takeoff_angles

    name = ((extra or {}).get("setup") or {}).get("model")
    try:
        model = load_model(name) if name else None
    except (CmtflowError, OSError):
        model = None
    if model is None:
        return None
    distances = {ch.station: ch.distance_km for ch in dataset.channels if ch.station in set(result.stations_used)}
    return takeoff_angles(model, result.source.depth_km, distances)


def write_products(result: InversionResult, dataset: InversionDataset, out_dir: str | Path,
                   extra: dict | None = None, reference_magnitude: tuple[float, str] | None = None,
                   published_mt=None, band: tuple[float, float] | None = None,
                   predictors: dict | None = None) -> Path:
    """Write all products into ``out_dir``; returns the path of ``solution.json``.

    :param reference_magnitude: the catalogue magnitude and its type, for the magnitude
        check (``solution.json`` key ``magnitude_check``, and a warning when flagged).
    :param published_mt: the catalogue's own moment tensor (N·m), to compare with.
    :param band: the period band (s), for the QuakeML ``dataUsed``.
    :param predictors: what the grade is computed from
        (:func:`cmtflow.inversion.quality.predictors`); None: those the result alone gives.
    """
    from cmtflow.inversion.grade import headline
    from cmtflow.inversion.quality import assess
    from cmtflow.report.plots import plot_beachball, plot_misfit, plot_waveforms

    out = Path(out_dir)
    check = magnitude_check(result.source.mw, *(reference_magnitude or (None,)))
    quality = assess(result, dataset, check, published_mt, predictors)
    with staging_folder(out, "solution") as tmp:
        write_cmtsolution(result.source, tmp / "CMTSOLUTION")
        uncertainties = (extra or {}).get("uncertainties")
        write_quakeml(result.source, tmp / "solution.xml", {
            **quality, "band_s": band, "inversion_type": result.inversion_type, "uncertainties": uncertainties,
            "headline": headline(quality, uncertainties)})
        plot_beachball(result, dataset, tmp / "beachball.png", _takeoffs(result, dataset, extra))
        plot_waveforms(result, dataset, tmp / "waveforms.png")
        plot_misfit(result, tmp / "misfit.png")
        record = {**result.to_json_dict(), "quality": quality, "waveform_unit": dataset.unit, "notes": dataset.notes,
                  **(extra or {})}
        if check is not None:
            record["magnitude_check"] = check
            record["warnings"] = record.get("warnings", []) + ([check["warning"]] if check["flagged"] else [])
        (tmp / "solution.json").write_text(json.dumps(record, indent=1, default=float))
        for name in PRODUCTS:
            os.replace(tmp / name, out / name)
        os.replace(tmp / "solution.json", out / "solution.json")
    return out / "solution.json"
