"""Depth scans remembered by their inputs: a run on unchanged data skips its scan.

The depth scan (:mod:`cmtflow.inversion.depth`: a Green's function set, the processing and
an inversion per trial depth) is a function of the observed waveforms, the windows, the
initial source, the station coordinates, the model, the processing and inversion settings,
the trial depths and the code that computes them. Its curve is kept in the data root under
``scans/<key>.json``, the key a hash of all of these (the code as the hash of the source of the
packages that compute it, so that any change of the science is a new key, never a stale
curve), and a later run with the same key (a rerun, an update whose data did not change)
takes the curve instead of scanning again. A record that cannot be read is scanned again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, fields, is_dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cmtflow.config import data_root
from cmtflow.workspace import write_json_atomic

log = logging.getLogger(__name__)

#: Folder of the data root holding the scans.
SCANS_FOLDER = "scans"
#: The packages and modules whose source makes a scan's result (the key changes with them).
SCIENCE_SOURCES = ("inversion", "processing", "solvers", "misfit", "models", "source.py")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the source files of :data:`SCIENCE_SOURCES` (their paths and contents)."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for name in SCIENCE_SOURCES:
        path = package / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(package)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def scan_key(dataset, stations: dict, model, processing, npts: int, fmax: float | None, depths: list[float],
             windows: list, config, settings: dict) -> str:
    """The key of a scan: a hash of everything its curve depends on (see module docstring).

    :param settings: the run settings the scan's inversions use beyond ``config`` (the
        starting half duration).
    """
    h = hashlib.sha256()

    def put(value) -> None:
        h.update(json.dumps(value, sort_keys=True, default=_exact).encode())

    put({"code": code_fingerprint(), "model": model.fingerprint(), "processing": processing.as_dict(), "npts": npts,
         "fmax": fmax, "depths": list(depths), "windows": [asdict(w) for w in windows], "config": config,
         "settings": settings, "source": dataset.source, "unit": dataset.unit, "stations": stations})
    for ch in dataset.channels:
        put([ch.channel, ch.t0, ch.dt, ch.distance_km, ch.azimuth, ch.span])
        h.update(np.ascontiguousarray(ch.obs, dtype=np.float64).tobytes())
    return h.hexdigest()[:32]


def _exact(value):
    """A value for the key's JSON, every number at full precision (an array's ``repr`` keeps
    eight digits): a dataclass by its fields, an array as a list, the rest by ``repr``."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def scan_path(key: str, root: Path | None = None) -> Path:
    return (root or data_root()) / SCANS_FOLDER / f"{key}.json"


def load_scan(key: str, root: Path | None = None) -> dict | None:
    """The kept scan of ``key`` (``{"curve", "best_km", "run"}``), or None."""
    path = scan_path(key, root)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        float(record["best_km"]), list(record["curve"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("depth scan %s unreadable (%s): scanning again", path, exc)
        return None
    return record


def save_scan(key: str, curve: list[dict], best_km: float, run: str, root: Path | None = None) -> Path:
    """Keep a scan (atomically: a reader never sees half a record)."""
    path = scan_path(key, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(path, {"curve": curve, "best_km": best_km, "run": run})
