"""Data weights: component, distance, azimuthal coverage, energy, and CAP on/off flags.

The weight of window w is ``W = w_win * c(component) * (r / r_ref)^p(kind) * a(azimuth bin)
* e`` where w_win is the window's own weight (1 unless a window file gives one), p is
``distance_exponent`` of the wave type (geometrical spreading makes far stations weak; the
exponent compensates), ``a = n_windows / (n_bins_used * n_in_bin)``
balances the azimuthal coverage, and ``e = 1 / E_obs`` (optional) gives each window the same
say regardless of its amplitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmtflow.errors import CmtflowError

#: CAP weights.dat columns after the name and distance, as (kind, component)
CAP_COLUMNS = (("body", "Z"), ("body", "R"), ("surface", "Z"), ("surface", "R"), ("surface", "T"))


@dataclass(frozen=True)
class WeightConfig:
    """Weighting options (see module docstring)."""

    component: dict = field(default_factory=lambda: {"Z": 1.0, "R": 1.0, "T": 1.0})
    distance_exponent: dict = field(default_factory=lambda: {"body": 1.0, "surface": 0.5})
    reference_distance_km: float = 100.0
    azimuth_bins: int = 12
    energy_normalisation: bool = False


def read_cap_weights(path: str | Path) -> dict[tuple[str, str, str], float]:
    """Read a CAP ``weights.dat``: ``{(NET.STA, kind, component): weight}``.

    Lines: ``EVENT.NET.STA.LOC.CHA DIST wPV wPR wSV wSR wST ...``; a weight of 0 switches
    that window off.
    """
    out = {}
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise CmtflowError(f"cannot read weights file {path}: {exc.strerror}") from None
    for lineno, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 7:
            raise CmtflowError(f"{path}:{lineno}: expected 'NAME DIST wPV wPR wSV wSR wST', got {line.strip()!r}")
        codes = parts[0].split(".")
        if len(codes) < 3:
            raise CmtflowError(f"{path}:{lineno}: station name {parts[0]!r} is not EVENT.NET.STA.LOC.CHA")
        station = f"{codes[1]}.{codes[2]}"
        try:
            values = [float(v) for v in parts[2:7]]
        except ValueError:
            raise CmtflowError(f"{path}:{lineno}: weights must be numbers: {line.strip()!r}") from None
        for (kind, comp), value in zip(CAP_COLUMNS, values):
            out[(station, kind, comp)] = value
    return out


def window_weights(windows, distances_km, azimuths, obs_energy, config: WeightConfig = WeightConfig(),
                   cap: dict | None = None) -> np.ndarray:
    """Weights of a list of windows.

    :param windows: :class:`~cmtflow.misfit.windows.Window` list.
    :param distances_km, azimuths: per window, station distance (km) and azimuth (deg).
    :param obs_energy: per window, sum of squared observed samples (for normalisation).
    :param cap: optional CAP weights (``read_cap_weights``); missing stations get 1.
    """
    n = len(windows)
    w = np.ones(n)
    for i, win in enumerate(windows):
        w[i] *= win.weight * config.component.get(win.component, 1.0)
        p = config.distance_exponent.get(win.kind, 0.0)
        w[i] *= (distances_km[i] / config.reference_distance_km) ** p
        if cap is not None:
            w[i] *= cap.get((win.station, win.kind, win.component), 1.0)
        if config.energy_normalisation and obs_energy[i] > 0:
            w[i] /= obs_energy[i]
    if config.azimuth_bins > 1 and n:
        bins = (np.asarray(azimuths) % 360.0 // (360.0 / config.azimuth_bins)).astype(int)
        counts = np.bincount(bins, minlength=config.azimuth_bins)
        used = np.count_nonzero(counts)
        w *= n / (used * counts[bins])
    return w
