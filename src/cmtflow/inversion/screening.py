"""Outlier stations: found after an inversion, dropped with the reason, the inversion repeated.

The windows' own tests (cross-correlation, a time shift bounded by distance and period,
Z and R shifts tied, amplitude ratio; :mod:`cmtflow.misfit.measure`) reject single windows.
A station can pass them all and still be wrong as a whole: a wrong gain or units, a site
that amplifies, a sensor turned upside down. Against the final synthetics, each station's
amplitude ratio (median dlnA of its windows) is compared with the other stations': one
further than ``max(ln 2, 3 sigma)`` from their median (sigma from the median absolute
deviation, robust to the outliers themselves) is dropped and the inversion repeated.
Stations whose windows were all rejected are tested with their data negated: when the
record matches the final synthetic upside down, the reason says "reversed polarity".
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from cmtflow.inversion.cmt3d import (InversionConfig, InversionResult, delayed, invert, linear_synthetics,
                                     measure_channel)
from cmtflow.inversion.dataset import InversionDataset
from cmtflow.misfit import Window

log = logging.getLogger(__name__)

#: Fewer stations than this and no statistics of the others can judge one.
MIN_STATIONS = 5
#: Smallest amplitude misfit (factor) that makes a station an outlier.
AMPLITUDE_FACTOR = 2.0
#: Sigma multiples of the robust amplitude spread beyond which a station is an outlier.
SIGMAS = 3.0
MAX_ROUNDS = 3


def amplitude_outliers(result: InversionResult, keep: int) -> dict[str, str]:
    """Stations whose median dlnA against the final synthetics is an outlier (see module
    docstring), the worst first, never leaving fewer than ``keep`` stations."""
    per_station: dict[str, list[float]] = {}
    for rec in result.windows:
        if rec.accepted:
            per_station.setdefault(".".join(rec.window.channel.split(".")[:2]), []).append(rec.dlna_after)
    if len(per_station) < MIN_STATIONS:
        return {}
    codes = sorted(per_station)
    dlna = np.array([np.median(per_station[c]) for c in codes])
    centre = float(np.median(dlna))
    sigma = 1.4826 * float(np.median(np.abs(dlna - centre)))
    limit = max(np.log(AMPLITUDE_FACTOR), SIGMAS * sigma)
    out = {}
    for k in np.argsort(-np.abs(dlna - centre)):
        if abs(dlna[k] - centre) <= limit or len(codes) - len(out) <= keep:
            break
        ratio = np.exp(dlna[k] - centre)
        out[codes[k]] = (f"amplitude outlier: {ratio:.2g} times the data/synthetic amplitude ratio of the other "
                         f"stations (limit {np.exp(limit):.2g}); wrong gain, units or site")
    return out


def reversed_polarity(dataset: InversionDataset, result: InversionResult, windows: list[Window],
                      config: InversionConfig) -> dict[str, str]:
    """Stations with no used window whose data, negated, match the final synthetics."""
    used = set(result.stations_used)
    syn = linear_synthetics(dataset, result.parameters, result.dm)
    lag = int(round(result.time_shift_s / dataset.channels[0].dt))
    index = {ch.channel: i for i, ch in enumerate(dataset.channels)}
    votes: dict[str, list[float]] = {}
    for win in windows:
        i = index.get(win.channel)
        if i is None or dataset.channels[i].station in used:
            continue
        ch = dataset.channels[i]
        m = measure_channel(replace(ch, obs=-ch.obs), result.moment_scale * delayed(syn[i], lag), win, config)
        votes.setdefault(ch.station, []).append(m.cc if m.accepted else 0.0)
    return {code: f"reversed polarity: the record matches the final synthetic upside down (cc {max(cc):.2f}); "
                  "check the response's sign and the channel's dip"
            for code, cc in votes.items() if sum(c > 0 for c in cc) * 2 > len(cc)}


def invert_screened(dataset: InversionDataset, windows: list[Window], config: InversionConfig,
                    cap_weights: dict | None = None, keep: int = 3) -> InversionResult:
    """:func:`~cmtflow.inversion.cmt3d.invert`, repeated without the amplitude outliers;
    ``result.screened`` maps each dropped (or reversed) station to the reason."""
    dropped: dict[str, str] = {}
    current = list(windows)
    for _ in range(MAX_ROUNDS):
        result = invert(dataset, current, config, cap_weights)
        outliers = amplitude_outliers(result, keep)
        if not outliers:
            break
        log.info("dropping %d outlier station(s): %s", len(outliers), ", ".join(outliers))
        dropped.update(outliers)
        current = [w for w in current if ".".join(w.channel.split(".")[:2]) not in outliers]
    reversed_ = reversed_polarity(dataset, result, [w for w in windows if w in current], config)
    result.screened = {**dropped, **reversed_}
    return result
