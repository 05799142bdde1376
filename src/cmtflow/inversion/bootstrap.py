"""Uncertainties by re-inverting resampled data: the whole inversion, not its last step.

Each repeat draws the stations with replacement (a station's windows go together: its
components are not independent data) and re-does with them what the run did: at each
candidate depth (the best :data:`CANDIDATE_DEPTHS` of the depth scan, or the one depth when
depth is not searched) the windows are screened again (cross-correlation, shift and amplitude
tests, outlier stations) and the moment tensor and centroid time inverted; the depth whose
inversion fits that repeat's windows best (:func:`~cmtflow.inversion.cmt3d.fit_of_windows`,
the depth scan's figure) is the repeat's. The spread of the repeats about the solution is its
uncertainty (:func:`spread`): the Kagan angle (median, 68th and 90th percentiles), and the
standard deviations of Mw, depth, centroid time, the six moment-tensor components (N·m) and
the strike, dip and rake of both nodal planes (degrees, each repeat's plane matched to the
nearer of the solution's two).

This is the bootstrap of CAP and MTUQ users (re-running the search on resampled stations)
rather than the linearised one of CMT3D, whose repeats share the windows, shifts, depth and
duration of the final step and so leave out what most often moves a regional solution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from cmtflow.errors import CmtflowError
from cmtflow.source import Source, kagan_angle, nodal_planes

log = logging.getLogger(__name__)

#: The depths of the scan (the best by fit) at which every repeat is re-inverted.
CANDIDATE_DEPTHS = 3
#: Fewer successful repeats than this and no spread is reported.
MIN_REPEATS = 5
#: The suffix that marks the k-th copy of a station drawn more than once.
COPY_MARK = "~"


@dataclass(frozen=True)
class Candidate:
    """One depth a repeat may choose: its dataset (synthetics at that depth, as the run
    inverts them) and its windows (moved to that depth's arrivals)."""

    depth_km: float
    dataset: object
    windows: list


def resampled(dataset, windows: list, draw: list[str]):
    """``dataset`` and ``windows`` with the stations of ``draw`` (codes ``NET.STA``, repeated
    as drawn): the k-th copy of a station gets channel ids ``NET.STA~k.LOC.CHA``, so that each
    copy is a station of its own for the screening and the weights."""
    by_station: dict[str, list] = {}
    for ch in dataset.channels:
        by_station.setdefault(ch.station, []).append(ch)
    wins: dict[str, list] = {}
    for w in windows:
        wins.setdefault(w.channel, []).append(w)
    seen: dict[str, int] = {}
    channels, out_windows = [], []
    for code in draw:
        k = seen[code] = seen.get(code, 0) + 1
        for ch in by_station.get(code, []):
            ident = ch.channel if k == 1 else ch.channel.replace(code, f"{code}{COPY_MARK}{k}", 1)
            channels.append(replace(ch, channel=ident))
            out_windows += [replace(w, channel=ident) for w in wins.get(ch.channel, [])]
    return replace(dataset, channels=channels), out_windows


def candidates_of(curve: list[dict], build, windows_at, count: int = CANDIDATE_DEPTHS) -> list[Candidate]:
    """The ``count`` best depths of a depth-scan ``curve`` as :class:`Candidate` (``build``:
    depth -> dataset; ``windows_at``: depth -> windows)."""
    ranked = sorted((c for c in curve if c.get("variance_reduction") is not None),
                    key=lambda c: -c["variance_reduction"])[:count]
    return [Candidate(c["depth_km"], build(c["depth_km"]), windows_at(c["depth_km"])) for c in ranked]


def bootstrap(candidates: list[Candidate], solve, fit, repeats: int, seed: int = 12345) -> list[Source]:
    """The sources of ``repeats`` re-inversions of resampled stations (module docstring).

    :param solve: ``(dataset, windows) -> (dataset as inverted, InversionResult)``, the run's
        inversion with its screening.
    :param fit: ``(dataset as inverted, windows, result) -> fit`` (higher is better).
    """
    if not candidates or repeats <= 0:
        return []
    stations = sorted({ch.station for ch in candidates[0].dataset.channels})
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        draw = [stations[k] for k in rng.integers(0, len(stations), len(stations))]
        best = None
        for cand in candidates:
            ds, wins = resampled(cand.dataset, cand.windows, draw)
            try:
                inverted, result = solve(ds, wins)
            except CmtflowError:  # too few windows pass in this draw at this depth
                continue
            value = fit(inverted, wins, result)
            if np.isfinite(value) and (best is None or value > best[0]):
                best = (value, result.source)
        if best is not None:
            out.append(best[1])
    log.info("bootstrap: %d of %d repeats gave a solution", len(out), repeats)
    return out


def _circular_sd(angles_deg: np.ndarray, period: float = 360.0) -> float:
    """Standard deviation (degrees) of angles on a circle of ``period`` degrees."""
    phase = np.exp(2j * np.pi * np.asarray(angles_deg) / period)
    r = min(abs(np.mean(phase)), 1.0)
    return float(period / (2 * np.pi) * np.sqrt(-2.0 * np.log(max(r, 1e-12))))


def _plane_spread(final_planes, samples: list[Source]) -> list[dict]:
    """Per nodal plane of the solution: the strike, dip and rake standard deviations of the
    repeats' nearer plane (by the angle between the planes' normals and slip vectors)."""
    def vectors(plane):
        s, d, r = np.radians(plane)
        normal = np.array([-np.sin(d) * np.sin(s), np.sin(d) * np.cos(s), -np.cos(d)])
        slip = np.array([np.cos(r) * np.cos(s) + np.cos(d) * np.sin(r) * np.sin(s),
                         np.cos(r) * np.sin(s) - np.cos(d) * np.sin(r) * np.cos(s), -np.sin(r) * np.sin(d)])
        return normal, slip

    out = []
    for plane in final_planes:
        n0, u0 = vectors(plane)
        matched = []
        for src in samples:
            p = max(src.nodal_planes, key=lambda q: abs(vectors(q)[0] @ n0) + vectors(q)[1] @ u0)
            matched.append(p)
        m = np.array(matched)
        out.append({"strike": round(_circular_sd(m[:, 0]), 1), "dip": round(float(np.std(m[:, 1], ddof=1)), 1),
                    "rake": round(_circular_sd(m[:, 2]), 1)})
    return out


def spread(final: Source, samples: list[Source], repeats: int) -> dict:
    """The uncertainty of ``final`` from the bootstrap ``samples`` (module docstring); with fewer
    than :data:`MIN_REPEATS` samples, only the counts and why no spread is given."""
    record = {"method": f"bootstrap: {repeats} re-inversions of resampled stations (windows screened, depth "
                        "chosen and centroid time searched again in each)",
              "repeats": repeats, "solutions": len(samples)}
    if len(samples) < MIN_REPEATS:
        return {**record, "note": f"only {len(samples)} repeats gave a solution: no spread"}
    kagan = np.array([kagan_angle(final.mt, s.mt) for s in samples])
    mts = np.array([s.mt for s in samples])
    return {**record,
            "kagan_deg": {"median": round(float(np.median(kagan)), 1),
                          "p68": round(float(np.percentile(kagan, 68)), 1),
                          "p90": round(float(np.percentile(kagan, 90)), 1)},
            "mw": round(float(np.std([s.mw for s in samples], ddof=1)), 3),
            "depth_km": round(float(np.std([s.depth_km for s in samples], ddof=1)), 2),
            "centroid_time_s": round(float(np.std([float(s.time - final.time) for s in samples], ddof=1)), 2),
            "moment_tensor_nm": dict(zip(("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp"),
                                         (float(v) for v in np.std(mts, axis=0, ddof=1)))),
            "nodal_planes": _plane_spread(nodal_planes(final.mt), samples)}


def uncertainties(result, dataset, windows: list, config, repeats: int, candidates: list[Candidate] | None = None,
                  convolve: bool = False, depth_search: dict | None = None, solve=None) -> dict:
    """The ``uncertainties`` record of a solution: :func:`spread` of ``repeats`` re-inversions
    (:func:`bootstrap`) at the ``candidates`` depths of a depth scan or, without them, at the
    solution's (``dataset``, ``windows``). Where depth is searched (``depth_search``, its
    record), the depth's own uncertainty is the misfit curve's (CAP's rule) and the bootstrap's
    spread of depths goes beside it.

    :param convolve: the candidates' synthetics are of an instantaneous source (a depth scan
        before the duration search): convolved with the solution's half duration first.
    :param solve: ``(dataset, windows) -> InversionResult``; default the run's screened
        inversion (:func:`~cmtflow.inversion.screening.invert_screened`).
    """
    from cmtflow.inversion.cmt3d import fit_of_windows
    from cmtflow.inversion.duration import with_half_duration
    from cmtflow.inversion.screening import invert_screened

    inversion = solve or invert_screened
    candidates = candidates or [Candidate(result.source.depth_km, dataset, windows)]

    def solved(ds, wins):
        if convolve:
            ds = with_half_duration(ds, result.source.half_duration)
        return ds, inversion(ds, wins, config)

    samples = bootstrap(candidates, solved, lambda ds, wins, res: fit_of_windows(ds, wins, res, config), repeats,
                        config.seed)
    out = spread(result.source, samples, repeats)
    if depth_search:
        out = {**out, "depth_km_bootstrap": out.get("depth_km"), "depth_km": depth_search["uncertainty_km"],
               "depth_method": "misfit curve of the depth search (CAP's rule)"}
    return out
