"""Per-window measurements: cross-correlation time shift and coefficient, dlnA, misfit.

Conventions: the time shift ``dt`` is positive when the observed waveform arrives later
than the synthetic; ``dlnA = 0.5 ln(E_obs / E_syn)`` with E the window energy; the
normalised waveform misfit is ``sum((d - s)^2) / sum(d^2)`` after the time shift.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class MeasureConfig:
    """Rejection thresholds.

    :param min_cc: smallest accepted normalised cross-correlation coefficient.
    :param max_shift: largest accepted |time shift| in s (see :meth:`for_window`).
    :param max_dlna: largest accepted |dlnA|.
    :param shift_base_s, shift_per_100km_s, shift_period_fraction: the distance- and
        period-dependent bound of :meth:`for_window`.
    """

    min_cc: float = 0.7
    max_shift: float = 10.0
    max_dlna: float = 1.0
    shift_base_s: float = 3.0
    shift_per_100km_s: float = 2.0
    shift_period_fraction: float = 0.4

    def for_window(self, distance_km: float, shortest_period_s: float | None) -> "MeasureConfig":
        """The thresholds of a window at ``distance_km`` in a band from ``shortest_period_s``:
        the allowed shift grows with distance (unmodelled structure accumulates along the
        path), ``shift_base_s + shift_per_100km_s`` per 100 km, and stays below
        ``shift_period_fraction`` of the shortest period, so that a record turned upside
        down (its best match half a period away) cannot pass as a shifted one; never more
        than ``max_shift``."""
        if shortest_period_s is None:
            return self
        allowed = min(self.max_shift, self.shift_base_s + self.shift_per_100km_s * distance_km / 100.0,
                      self.shift_period_fraction * shortest_period_s)
        return replace(self, max_shift=allowed)


@dataclass(frozen=True)
class Measurement:
    """Measurements of one window (indices are samples into the channel arrays)."""

    shift_s: float
    shift_samples: int
    cc: float
    dlna: float
    misfit: float
    i0: int
    i1: int
    accepted: bool
    reason: str = ""


def cross_correlation_shift(d: np.ndarray, s: np.ndarray, max_lag: int) -> tuple[int, float]:
    """Lag (samples, d later than s is positive) maximising the normalised correlation."""
    n = len(d)
    full = np.correlate(d, s, mode="full")  # index n-1 is zero lag
    lags = np.arange(-(n - 1), n)
    keep = np.abs(lags) <= max_lag
    full, lags = full[keep], lags[keep]
    i = int(np.argmax(full))
    norm = np.sqrt(np.dot(d, d) * np.dot(s, s))
    return int(lags[i]), float(full[i] / norm) if norm > 0 else 0.0


def measure_window(obs: np.ndarray, syn: np.ndarray, t0: float, dt: float, start: float, end: float,
                   config: MeasureConfig = MeasureConfig()) -> Measurement:
    """Measure one window on arrays starting at ``t0`` (s after centroid) sampled at ``dt``."""
    n = min(len(obs), len(syn))
    i0 = max(int(round((start - t0) / dt)), 0)
    i1 = min(int(round((end - t0) / dt)), n)
    if i1 - i0 < 8:
        return Measurement(0.0, 0, 0.0, 0.0, np.inf, i0, i1, False, "window outside the trace")
    d, s = obs[i0:i1], syn[i0:i1]
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(s))):
        return Measurement(0.0, 0, 0.0, 0.0, np.inf, i0, i1, False, "non-finite samples")
    if not np.any(d) or not np.any(s):
        return Measurement(0.0, 0, 0.0, 0.0, np.inf, i0, i1, False, "zero trace in window")
    lag, _ = cross_correlation_shift(d, s, int(np.floor(config.max_shift / dt + 1e-9)))
    # compare the synthetic window with the data window moved by the measured lag
    j0, j1 = i0 + lag, i1 + lag
    if j0 < 0 or j1 > len(obs):
        return Measurement(lag * dt, lag, 0.0, 0.0, np.inf, i0, i1, False, "shifted window outside the trace")
    d = obs[j0:j1]
    if not np.all(np.isfinite(d)):
        return Measurement(lag * dt, lag, 0.0, 0.0, np.inf, i0, i1, False, "data gap in the shifted window")
    cc = float(np.dot(d, s) / np.sqrt(np.dot(d, d) * np.dot(s, s)))
    dlna = 0.5 * float(np.log(np.dot(d, d) / np.dot(s, s)))
    misfit = float(np.sum((d - s) ** 2) / np.sum(d**2))
    reason = ""
    if cc < config.min_cc:
        reason = f"cc {cc:.2f} < {config.min_cc}"
    elif abs(lag * dt) > config.max_shift:
        reason = f"|shift| {abs(lag * dt):.1f} s > {config.max_shift} s"
    elif abs(dlna) > config.max_dlna:
        reason = f"|dlnA| {abs(dlna):.2f} > {config.max_dlna}"
    return Measurement(lag * dt, lag, cc, dlna, misfit, i0, i1, not reason, reason)
