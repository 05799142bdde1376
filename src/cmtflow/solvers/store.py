"""Content-addressed store of Green's functions in the data root.

A set is keyed by everything that determines it: solver and version, the model's
numbers, source depth, distances, dt, npts and the numerical parameters. It is written
to a temporary folder and renamed into place, so a crashed or concurrent computation
never leaves a half-written set that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cmtflow.config import data_root
from cmtflow.models import EarthModel, load_model
from cmtflow.solvers.base import GreensFunctions
from cmtflow.solvers.fk import SOLVER_NAME, SOLVER_VERSION, FKParameters, check_sampling, compute_greens

log = logging.getLogger(__name__)

_ARRAYS = ("distances_km", "t0", "tp", "ts", "impulse", "step")


def greens_key(model: EarthModel, depth_km: float, distances_km, dt: float, npts: int,
               params: FKParameters) -> str:
    """Hex digest identifying one Green's function set."""
    ident = {
        "solver": SOLVER_NAME, "version": SOLVER_VERSION, "model": model.fingerprint(),
        "depth_km": round(float(depth_km), 6), "distances_km": [round(float(d), 6) for d in distances_km],
        "dt": float(dt), "npts": int(npts), "params": params.as_dict(),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


class GreensStore:
    """Green's functions on disk under ``<root>/greens/<key>/`` (root: the data root)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else data_root()
        self.folder = self.root / "greens"

    def path(self, key: str) -> Path:
        return self.folder / key

    def load(self, key: str) -> GreensFunctions | None:
        """The stored set, or None when absent."""
        folder = self.path(key)
        meta_file = folder / "meta.json"
        if not meta_file.is_file():
            return None
        meta = json.loads(meta_file.read_text())
        with np.load(folder / "greens.npz") as arrays:
            data = {name: arrays[name] for name in _ARRAYS}
        return GreensFunctions(**meta, **data)

    def save(self, key: str, greens: GreensFunctions) -> Path:
        """Write atomically; if another process stored the same key first, keep theirs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.folder))
        try:
            np.savez(tmp / "greens.npz", **{name: getattr(greens, name) for name in _ARRAYS})
            meta = {k: getattr(greens, k) for k in ("model", "model_fingerprint", "depth_km", "dt", "npts",
                                                     "solver", "solver_version", "parameters")}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=float))
            try:
                os.rename(tmp, self.path(key))
            except OSError:
                if not (self.path(key) / "meta.json").is_file():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return self.path(key)

    def get(self, model, depth_km: float, distances_km, dt: float, npts: int,
            params: FKParameters | None = None) -> tuple[GreensFunctions, bool]:
        """Stored Green's functions, computed and stored first when missing.

        :returns: ``(greens, reused)``; ``reused`` is True when nothing was computed.
        """
        params = params or FKParameters()
        model = load_model(model)
        distances = check_sampling(distances_km, dt, npts)
        key = greens_key(model, depth_km, distances, dt, npts, params)
        found = self.load(key)
        if found is not None:
            log.info("reusing Green's functions %s", key)
            return found, True
        greens = compute_greens(model, depth_km, distances, dt, npts, params)
        self.save(key, greens)
        log.info("stored Green's functions %s", key)
        return greens, False
