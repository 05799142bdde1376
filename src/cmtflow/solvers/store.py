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
from pathlib import Path

import numpy as np

from cmtflow.config import data_root
from cmtflow.models import EarthModel, load_model
from cmtflow.solvers.base import GreensFunctions
from cmtflow.solvers.fk import SOLVER_NAME, SOLVER_VERSION, FKParameters, check_sampling, compute_greens
from cmtflow.workspace import staging_folder

log = logging.getLogger(__name__)

_ARRAYS = ("distances_km", "t0", "tp", "ts", "impulse", "step")


def greens_key(model: EarthModel, depth_km: float, distances_km, dt: float, npts: int,
               params: FKParameters) -> str:
    """Hex digest identifying one Green's function set."""
    return _digest({**_family_ident(model, depth_km, dt, npts, params),
                    "distances_km": [round(float(d), 6) for d in distances_km]})


def family_key(model: EarthModel, depth_km: float, dt: float, npts: int, params: FKParameters) -> str:
    """Hex digest of everything but the distances: the sets that differ only in their distances."""
    return _digest(_family_ident(model, depth_km, dt, npts, params))


def _family_ident(model, depth_km, dt, npts, params) -> dict:
    return {"solver": SOLVER_NAME, "version": SOLVER_VERSION, "model": model.fingerprint(),
            "depth_km": round(float(depth_km), 6), "dt": float(dt), "npts": int(npts), "params": params.as_dict()}


def _digest(ident: dict) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def subset(greens: GreensFunctions, distances_km: np.ndarray) -> GreensFunctions:
    """``greens`` at ``distances_km`` only (each one of its distances)."""
    from dataclasses import replace

    rows = [greens.index(d) for d in distances_km]
    return replace(greens, distances_km=greens.distances_km[rows], t0=greens.t0[rows], tp=greens.tp[rows],
                   ts=greens.ts[rows], impulse=greens.impulse[:, rows], step=greens.step[:, rows])


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
        with staging_folder(self.folder, key) as tmp:
            np.savez(tmp / "greens.npz", **{name: getattr(greens, name) for name in _ARRAYS})
            meta = {k: getattr(greens, k) for k in ("model", "model_fingerprint", "depth_km", "dt", "npts",
                                                     "solver", "solver_version", "parameters")}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=float))
            try:
                os.rename(tmp, self.path(key))
            except OSError:
                if not (self.path(key) / "meta.json").is_file():
                    raise
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
        family = family_key(model, depth_km, dt, npts, params)
        wider = self._covering(family, distances)
        if wider is not None:
            log.info("reusing Green's functions %s (%d of its %d distances)", wider[0], len(distances),
                     len(wider[1].distances_km))
            return subset(wider[1], distances), True
        greens = compute_greens(model, depth_km, distances, dt, npts, params)
        self.save(key, greens)
        self._index(family, key)
        log.info("stored Green's functions %s", key)
        return greens, False

    # A set whose distances include the asked ones serves them: FK's trace at one distance
    # depends on the others only through the wavenumber step, which a farther distance makes
    # finer (:func:`~cmtflow.solvers.fk.wavenumber_plan`), so the served traces are at least
    # as accurate as a set computed for the asked distances alone. A run with fewer stations
    # than an earlier one of the same event (an update, a thinned network, a depth scan over
    # the stations left after screening) computes nothing.

    def _family_file(self, family: str) -> Path:
        return self.folder / "families" / family

    def _index(self, family: str, key: str) -> None:
        """Add ``key`` to its family's list (one line per set, appended: concurrent writers
        each add whole lines)."""
        path = self._family_file(family)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as out:
            out.write(key + "\n")

    def _covering(self, family: str, distances: np.ndarray) -> tuple[str, GreensFunctions] | None:
        """A stored set of ``family`` that holds every one of ``distances`` (the fewest
        distances of those that do), or None."""
        path = self._family_file(family)
        if not path.is_file():
            return None
        best = None
        for key in dict.fromkeys(path.read_text().split()):
            npz = self.path(key) / "greens.npz"
            if not npz.is_file():
                continue
            with np.load(npz) as arrays:
                have = arrays["distances_km"]
            if all(np.min(np.abs(have - d)) <= 1e-6 for d in distances) and (best is None or len(have) < best[1]):
                best = (key, len(have))
        if best is None:
            return None
        found = self.load(best[0])
        return (best[0], found) if found is not None else None
