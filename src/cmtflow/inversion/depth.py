"""Centroid depth by grid search, the practice of CAP, MTUQ and W phase.

At each trial depth the forward synthetics are recomputed (the embedded solver's Green's
functions, cached in the store per depth) and the moment tensor is inverted there; the
depth whose final synthetics fit the data best (variance reduction over all the windows,
used or not, each aligned by its own bounded shift: every depth is judged on the same data)
wins, and the
misfit-versus-depth curve goes into ``solution.json`` and the report. No derivative with
respect to depth is taken, so none can straddle a model interface; trial depths on an
interface are moved 20 m off it (:func:`cmtflow.solvers.fk.off_interfaces`).

The synthetics of each depth are processed by
:func:`~cmtflow.processing.preprocess.preprocess_station`, the function of the processing
graph's ``Preprocess`` step, with the settings of the run's synthetics. Processing is linear:
the ten fundamental-source traces of a station are processed once per depth (ten traces,
where the six unit moment tensors' would be eighteen), the unit tensors' synthetics are their
combinations with the radiation weights, and the source's synthetic is the unit tensors'
combination.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import lru_cache

import numpy as np

from cmtflow.errors import CmtflowError
from cmtflow.inversion.cmt3d import InversionResult, UndeterminedError, fit_of_windows
from cmtflow.inversion.dataset import PARAMETERS, InversionDataset

log = logging.getLogger(__name__)

#: The fundamental sources (strike-slip, dip-slip, 45-degree dip-slip, explosion) and the
#: components each radiates: processed once per station, they make every moment tensor's.
TERM_GROUPS = {"SS": "ZRT", "DS": "ZRT", "DD": "ZR", "EP": "ZR"}

#: Trial depths each side of the catalogue depth.
DEPTHS_EACH_SIDE = 6

#: The scan's Green's functions are computed up to this many times the band's highest
#: frequency (1/tmin): the processing keeps nothing above twice it, and the wavenumber
#: integration's work grows with the square of the frequency. On the demo geometry (scak,
#: 16-281 km, dt 0.5 s, 15-50 s) the processed traces are within 0.9e-3 of the full band's
#: (of their peak) and one depth's Green's functions take 0.30 s instead of 1.8 s (26
#: distances, 1024 samples). The best depth is computed again in the full band.
SCAN_BAND_FACTOR = 4.0


def scan_fmax(tmin: float, dt: float) -> float | None:
    """The highest frequency (Hz) of the scan's Green's functions for a band whose shortest
    period is ``tmin`` (s), sampled at ``dt`` (s); None: the full band (Nyquist)."""
    fmax = SCAN_BAND_FACTOR / tmin
    return fmax if fmax < 0.5 / dt else None


def depth_step_km(tmin: float) -> float:
    """Grid step (km): the shortest period resolves depth to about a tenth of its wavelength
    in the crust (~1 km per second of period, as CAP's 1-5 km steps); 2 km at least."""
    return float(max(2, round(tmin / 10.0)))


def depth_grid(model, depth_km: float, tmin: float) -> list[float]:
    """Trial depths (km) around ``depth_km``: :data:`DEPTHS_EACH_SIDE` steps each side, from
    1 km down (into the half-space too: a sub-Moho event), off the model's interfaces."""
    from cmtflow.solvers.fk import off_interfaces

    step = depth_step_km(tmin)
    depths = depth_km + step * np.arange(-DEPTHS_EACH_SIDE, DEPTHS_EACH_SIDE + 1)
    return sorted({round(off_interfaces(model, float(d)), 3) for d in depths if d >= 1.0} |
                  {round(off_interfaces(model, max(depth_km, 1.0)), 3)})


def station_spans(dataset: InversionDataset) -> dict[str, dict]:
    """``{"NET.STA": {"Z"|"H": (start, end)}}`` (UTCDateTime) of the dataset's record spans,
    to which new synthetics are cut as the run's were
    (:func:`cmtflow.processing.preprocess.preprocess_station`)."""
    from cmtflow.processing.preprocess import span_key

    out: dict[str, dict] = {}
    for ch in dataset.channels:
        if ch.span is not None:
            out.setdefault(ch.station, {})[span_key(ch.channel)] = tuple(dataset.source.time + t for t in ch.span)
    return out


def dataset_at_depth(dataset: InversionDataset, stations: dict, model, depth_km: float, preprocess, npts: int,
                     store=None, fmax: float | None = None) -> InversionDataset:
    """``dataset`` with its synthetics and moment-tensor derivatives recomputed for the
    source at ``depth_km`` (see module docstring).

    :param stations: ``{"NET.STA": StationPoint}`` of the dataset's channels.
    :param preprocess: the :class:`~cmtflow.processing.preprocess.PreprocessConfig` of the
        run's synthetics.
    :param fmax: the Green's functions' highest frequency (Hz, :func:`scan_fmax`); None: the
        full band, as the simulation steps compute them.
    """
    from obspy import Stream, Trace

    from cmtflow.inversion.embedded import UNIT_MT
    from cmtflow.processing.preprocess import preprocess_station
    from cmtflow.solvers.base import radiation_coefficients
    from cmtflow.solvers.fk import FKParameters
    from cmtflow.solvers.synthetics import band_code, checked_geometry, shared_greens, trace_start

    source = replace(dataset.source, depth_km=depth_km)
    codes = sorted({ch.station for ch in dataset.channels})
    spans = station_spans(dataset)
    points = [stations[c] for c in codes]
    dt = dataset.channels[0].dt
    params = FKParameters(fmax=fmax) if fmax is not None else None
    greens = shared_greens([source], points, model, dt, npts, params=params, store=store)[depth_km]
    rate = source.moment_rate_function(dt)
    channel = f"{band_code(1.0 / dt)}X"
    unit = [{} for _ in UNIT_MT]
    for code, g in zip(codes, checked_geometry(source, points)):
        net, sta = code.split(".")
        i = greens.index(g["grid_km"])
        start = trace_start(source, greens, i, rate)
        window = preprocess.window(source.time, g["distance_km"])
        terms = greens.term_displacement(g["grid_km"], moment_rate=rate)
        processed = {}
        for group, comps in TERM_GROUPS.items():
            st = Stream([Trace(terms[f"{c}{group}"], header={"network": net, "station": sta, "starttime": start,
                                                              "delta": dt, "channel": channel + c}) for c in comps])
            for tr in preprocess_station(st, preprocess, *window, g["back_azimuth"], spans=spans.get(code)):
                processed[tr.stats.channel[-1] + group] = (tr.stats.starttime, np.asarray(tr.data, float))
        window_start = processed["ZSS"][0]
        for k, mt in enumerate(UNIT_MT):
            weights = radiation_coefficients(replace(source, mt=mt).mt_ned, g["azimuth"])
            unit[k][code] = {comp: (window_start, sum(w * processed[term][1] for term, w in by_term.items()))
                             for comp, by_term in weights.items()}
    channels = []
    for ch in dataset.channels:
        comp, n = ch.channel[-1], len(ch.obs)
        parts = []
        for k in range(6):
            start, data = unit[k][ch.station][comp]
            if abs((start - source.time) - ch.t0) > 1e-3 * ch.dt:
                raise CmtflowError(f"{ch.channel}: the depth scan's synthetics are not on the data's time axis")
            parts.append(np.pad(data[:n], (0, max(n - len(data), 0))))
        dsyn = {PARAMETERS[k]: parts[k] for k in range(6)}
        syn = sum(source.mt[k] * parts[k] for k in range(6))
        channels.append(replace(ch, syn=syn, dsyn=dsyn))
    return replace(dataset, source=source, channels=channels)


def search_depth(depths: list[float], build, solve, windows_at, config, refine=None
                 ) -> tuple[InversionDataset, InversionResult, list[dict]]:
    """The dataset and inversion at the best of ``depths`` (and of the finer depths ``refine``
    adds around it), and the curve ``[{"depth_km", "variance_reduction", "mw", "windows_used"}]``
    sorted by depth, the variance reduction over all the windows of each depth
    (:func:`~cmtflow.inversion.cmt3d.fit_of_windows`).

    :param build: ``depth -> InversionDataset`` (:func:`dataset_at_depth`).
    :param solve: ``(dataset, windows) -> (dataset inverted, InversionResult)``: the run's
        inversion, outliers screened, on the dataset as it inverts it (convolved with the
        starting half duration where that is searched afterwards), on which the fit is judged.
    :param windows_at: ``depth -> windows``: the run's windows moved with the arrivals of that
        depth (:func:`windows_at_depth`).
    :param refine: ``(best depth, depths tried) -> more depths`` (:func:`refined_depths`).
    """
    curve, best = [], None

    def trial(depth):
        nonlocal best
        windows = windows_at(depth)
        try:
            ds = build(depth)
            inverted, result = solve(ds, windows)
        except CmtflowError as exc:  # a depth where too few windows pass: a point of the curve
            curve.append({"depth_km": depth, "variance_reduction": None, "error": str(exc)})
            return
        vr = fit_of_windows(inverted, windows, result, config)
        curve.append({"depth_km": depth, "variance_reduction": vr, "mw": result.source.mw,
                      "windows_used": sum(r.accepted for r in result.windows)})
        log.info("depth %.2f km: fit %.3f, Mw %.2f", depth, vr, result.source.mw)
        if np.isfinite(vr) and (best is None or vr > best[0]):
            best = (vr, ds, result, depth)

    for depth in depths:
        trial(depth)
    if best is not None and refine is not None:
        for depth in refine(best[3], [c["depth_km"] for c in curve]):
            trial(depth)
    if best is None:
        raise UndeterminedError(f"no trial depth gave a solution ({curve[-1].get('error', '')})")
    return best[1], best[2], sorted(curve, key=lambda c: c["depth_km"])


#: The finer depths tried around the best of the grid, as fractions of its step.
REFINEMENT = (-0.5, -0.25, 0.25, 0.5)


def refined_depths(model, best_km: float, tried: list[float], step_km: float) -> list[float]:
    """Depths around ``best_km`` at :data:`REFINEMENT` of the grid step, from 1 km down, off
    the model's interfaces, not ``tried`` already."""
    from cmtflow.solvers.fk import off_interfaces

    out = []
    for fraction in REFINEMENT:
        depth = best_km + fraction * step_km
        if depth >= 1.0:
            depth = round(off_interfaces(model, float(depth)), 3)
            if all(abs(depth - t) > 0.05 for t in tried + out):
                out.append(depth)
    return out


def windows_at_depth(windows: list, dataset: InversionDataset, model, depth_km: float, tmin: float, tmax: float,
                     margin_s: float = 0.0) -> list:
    """The run's ``windows`` (picked for the dataset's source depth) moved with the arrivals of a
    source at ``depth_km``: a body window by the change of the first P, a surface window by the
    change of the first S (predicted in ``model``); each kept inside its record
    (:func:`~cmtflow.misfit.windows.clip_to_record`). Every depth is judged on the same windows,
    following the phases as CAP's windows follow them."""
    from cmtflow.misfit.windows import clip_to_record

    channels = {ch.channel: ch for ch in dataset.channels}
    distances = sorted({ch.distance_km for ch in dataset.channels})
    start, trial = dataset.source.depth_km, depth_km

    def arrivals(velocity, depth):
        return dict(zip(distances, _first_arrivals(tuple(model.thickness), tuple(getattr(model, velocity)), depth,
                                                   tuple(distances))))

    moves = None
    if abs(trial - start) > 1e-6:
        moves = {}
        for kind, velocity in (("body", "vp"), ("surface", "vs")):
            there, here = arrivals(velocity, trial), arrivals(velocity, start)
            moves[kind] = {d: float(there[d] - here[d]) for d in distances}
    out = []
    for w in windows:
        ch = channels.get(w.channel)
        if ch is None:
            continue
        shift = moves[w.kind if w.kind in moves else "surface"][ch.distance_km] if moves else 0.0
        moved, _ = clip_to_record(replace(w, start=w.start + shift, end=w.end + shift), ch.span, tmin, tmax,
                                  margin_s)
        if moved is not None:
            out.append(moved)
    return out


@lru_cache(maxsize=4096)
def _first_arrivals(thickness: tuple, velocity: tuple, depth_km: float, distances_km: tuple) -> tuple:
    """:func:`~cmtflow.solvers.traveltimes.first_arrival`, kept: the scan, the bootstrap and the
    final windows ask for the same depths' arrivals again."""
    from cmtflow.solvers.traveltimes import first_arrival

    return tuple(first_arrival(thickness, velocity, depth_km, distances_km))


#: The depths (in grid steps each side of the best) through which the misfit parabola is fitted.
PARABOLA_STEPS = 2.0


def depth_uncertainty(curve: list[dict], windows: int, step_km: float) -> dict:
    """The depth and its standard deviation from the misfit curve (``m = 1 - variance_reduction``,
    the mean misfit of the windows), by the rule of CAP (Zhu & Helmberger 1996): a parabola
    ``a (z - z0)^2 + m0`` fitted (least squares) to the depths within :data:`PARABOLA_STEPS`
    grid steps of the best, and sigma where it rises by m0 / N, N the number of windows (each
    window one datum of the mean): ``sigma = sqrt(m0 / (N a))``, at least a quarter step (the
    finest depths tried). Where the best depth ends the curve, or the parabola does not curve up,
    sigma is half the spread of the depths within 0.02 of the best fit (:func:`depth_range`)."""
    points = sorted((c["depth_km"], 1.0 - c["variance_reduction"]) for c in curve
                    if c.get("variance_reduction") is not None and np.isfinite(c["variance_reduction"]))
    k = int(np.argmin([m for _, m in points]))
    low, high = depth_range(curve)
    floor = 0.25 * step_km
    fallback = {"depth_km": points[k][0], "sigma_km": max(0.5 * (high - low), floor),
                "rule": "half the range within 0.02 of the best fit"}
    best = points[k][0]
    near = [(z, m) for z, m in points if abs(z - best) <= PARABOLA_STEPS * step_km + 1e-6]
    if not 0 < k < len(points) - 1 or len({z for z, _ in near}) < 3:
        return fallback
    z, m = np.array(near).T
    a, b, c = np.polyfit(z - best, m, 2)
    if a <= 0:
        return fallback
    z0 = best - b / (2 * a)
    m0 = max(c - b * b / (4 * a), 1e-6)
    return {"depth_km": float(z0), "sigma_km": max(float(np.sqrt(m0 / (max(windows, 1) * a))), floor),
            "rule": "parabola within two steps of the best, misfit + misfit / windows"}


def depth_range(curve: list[dict], tolerance: float = 0.02) -> tuple[float, float]:
    """The depths (km) of ``curve`` whose fit is within ``tolerance`` of the best one: the
    depth resolution the data give."""
    points = [(c["depth_km"], c["variance_reduction"]) for c in curve if c.get("variance_reduction") is not None]
    best = max(vr for _, vr in points)
    ok = [depth for depth, vr in points if vr >= best - tolerance]
    return min(ok), max(ok)

