"""The half duration of the moment-rate function, by grid search.

From Mw 6 the source lasts long enough to shape the waveforms at the periods used (a Mw 7
lasts ~16 s). The simulations are then made with an instantaneous source (half duration 0);
each trial half duration convolves the synthetics and derivatives with a unit-area
triangle, the moment tensor is inverted again, and the half duration whose final
synthetics fit best (:func:`~cmtflow.inversion.cmt3d.fit_of_windows`: all the windows, each
aligned by its own bounded shift; the centroid time searched and outlier stations screened
at each) wins, as in the W-phase and GCMT practice of a duration grid (Kanamori & Rivera
2008; Duputel et al. 2012). The triangle is zero phase: it is centred on the centroid time.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cmtflow.inversion.cmt3d import InversionConfig, InversionError, InversionResult, UndeterminedError, fit_of_windows
from cmtflow.inversion.dataset import InversionDataset
from cmtflow.inversion.screening import invert_screened
from cmtflow.misfit import Window
from cmtflow.source import triangle

#: Trial half durations as factors of the starting one: the GCMT scaling's scatter
#: (stress drop over two orders of magnitude is a factor ~4.6 in duration).
TRIAL_FACTORS = (0.35, 0.5, 0.7, 0.85, 1.0, 1.2, 1.4, 1.7, 2.0)


def with_half_duration(dataset: InversionDataset, half_duration_s: float) -> InversionDataset:
    """``dataset`` (simulated with an instantaneous source) with its synthetics and
    derivatives convolved with a triangle of ``half_duration_s`` (s)."""
    if dataset.source.half_duration > 0:
        raise InversionError(f"the simulations have a half duration of {dataset.source.half_duration:g} s: "
                             "the duration search needs them made with an instantaneous source")
    dt = dataset.channels[0].dt
    kernel = triangle(half_duration_s, dt) * dt

    def conv(x):
        return np.convolve(x, kernel, mode="same")

    channels = [replace(ch, syn=conv(ch.syn), dsyn={p: conv(d) for p, d in ch.dsyn.items()})
                for ch in dataset.channels]
    return replace(dataset, channels=channels, source=replace(dataset.source, half_duration=float(half_duration_s)))


def search_half_duration(dataset: InversionDataset, windows: list[Window], config: InversionConfig,
                         start_s: float, cap_weights: dict | None = None
                         ) -> tuple[InversionResult, list[dict]]:
    """The inversion at the best trial half duration (``start_s`` times :data:`TRIAL_FACTORS`)
    and the curve ``[{"half_duration_s", "variance_reduction"}]``
    (:func:`~cmtflow.inversion.cmt3d.fit_of_windows`)."""
    dt = dataset.channels[0].dt
    trials = sorted({max(round(start_s * f / dt), 0) * dt for f in TRIAL_FACTORS})
    curve, best = [], None
    quick = replace(config, bootstrap=0)
    for hd in trials:
        trial = with_half_duration(dataset, hd)
        try:
            result = invert_screened(trial, windows, quick, cap_weights)
        except InversionError as exc:
            curve.append({"half_duration_s": hd, "variance_reduction": None, "error": str(exc)})
            continue
        vr = fit_of_windows(trial, windows, result, config)
        curve.append({"half_duration_s": hd, "variance_reduction": vr})
        if np.isfinite(vr) and (best is None or vr > best[0]):
            best = (vr, hd)
    if best is None:
        raise UndeterminedError(f"no trial half duration gave a solution ({curve[-1].get('error', '')})")
    return invert_screened(with_half_duration(dataset, best[1]), windows, config, cap_weights), curve
