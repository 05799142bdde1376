"""Write an inversion's products: solution.json, CMTSOLUTION, QuakeML and figures.

Everything is written to a temporary folder first and moved into place with
``solution.json`` last, so a folder with a ``solution.json`` is always complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from cmtflow.inversion.cmt3d import InversionResult
from cmtflow.inversion.dataset import InversionDataset
from cmtflow.source import write_cmtsolution, write_quakeml

PRODUCTS = ("CMTSOLUTION", "solution.xml", "beachball.png", "waveforms.png", "misfit.png")


def write_products(result: InversionResult, dataset: InversionDataset, out_dir: str | Path,
                   extra: dict | None = None) -> Path:
    """Write all products into ``out_dir``; returns the path of ``solution.json``."""
    from cmtflow.report.plots import plot_beachball, plot_misfit, plot_waveforms

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".solution.", dir=out))
    try:
        write_cmtsolution(result.source, tmp / "CMTSOLUTION")
        write_quakeml(result.source, tmp / "solution.xml")
        plot_beachball(result, dataset, tmp / "beachball.png")
        plot_waveforms(result, dataset, tmp / "waveforms.png")
        plot_misfit(result, tmp / "misfit.png")
        record = {**result.to_json_dict(), "waveform_unit": dataset.unit, "notes": dataset.notes, **(extra or {})}
        (tmp / "solution.json").write_text(json.dumps(record, indent=1, default=float))
        for name in PRODUCTS:
            os.replace(tmp / name, out / name)
        os.replace(tmp / "solution.json", out / "solution.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / "solution.json"
