"""The centroid's depth, half duration and time found together: the depth grid search
(:mod:`cmtflow.inversion.depth`) with the half duration searched at its best depths
(:mod:`cmtflow.inversion.duration`), the centroid time searched in every inversion."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from cmtflow.errors import CmtflowError, NoSolutionError
from cmtflow.runconf import RunConf

log = logging.getLogger(__name__)


def search_centroid(conf: RunConf, dataset, windows, config, stations: dict, npts: int, processing, root: Path,
                    run_name: str):
    """The depth grid search (:mod:`cmtflow.inversion.depth`): the dataset at the best depth
    (full band), the windows moved to its arrivals, the record of the search (the curve with
    its finer depths around the best, the best depth, its uncertainty by CAP's rule, the range
    within 0.02 of the best fit) and, where the half duration is searched, the duration curve
    of the best depth of the pairs tried (``[]`` otherwise): the duration is searched at the
    best depths of the scan (:data:`JOINT_DEPTHS`), so that depth, duration and centroid time
    (searched in every inversion) are found together; and the scan's best depths as the
    bootstrap's candidates (:func:`cmtflow.inversion.bootstrap.candidates_of`), their datasets
    kept from the scan where it ran.

    :param stations: ``{"NET.STA": StationPoint}`` of the stations used.
    :param npts: samples of the run's synthetics; ``processing`` their processing.
    :param root: the data root, whose scan store may hold this scan (:mod:`cmtflow.inversion.scans`);
        ``run_name`` is recorded with a scan saved there.
    """
    from cmtflow.inversion.bootstrap import candidates_of
    from cmtflow.inversion.depth import (dataset_at_depth, depth_grid, depth_range, depth_step_km, depth_uncertainty,
                                         refined_depths, scan_fmax, search_depth, windows_at_depth)
    from cmtflow.inversion.duration import with_half_duration
    from cmtflow.inversion.scans import load_scan, save_scan, scan_key
    from cmtflow.inversion.screening import invert_screened
    from cmtflow.models import load_model
    from cmtflow.processing.preprocess import EXTEND_RAMP_S

    model = load_model(conf.model)
    quick = replace(config, bootstrap=0)
    step = depth_step_km(conf.tmin)

    def solve(ds, trial_windows):
        if conf.half_duration_search:  # the starting duration during the scan, searched after
            ds = with_half_duration(ds, conf.half_duration_s)
        return ds, invert_screened(ds, trial_windows, quick)

    def windows_at(depth):
        return windows_at_depth(windows, dataset, model, depth, conf.tmin, conf.tmax, EXTEND_RAMP_S)

    depths = depth_grid(model, dataset.source.depth_km, conf.tmin)
    fmax = scan_fmax(conf.tmin, conf.dt)
    built = {}

    def build(depth):  # kept: the bootstrap re-inverts at the best depths
        if depth not in built:
            built[depth] = dataset_at_depth(dataset, stations, model, depth, processing, npts, fmax=fmax)
        return built[depth]

    settings = {key: getattr(conf, key) for key in ("half_duration_search", "half_duration_s", "tmax")}
    key = scan_key(dataset, stations, model, processing, npts, fmax, depths, windows, quick, settings)
    kept = load_scan(key, root)
    if kept is not None:  # the same inputs scanned by an earlier run: its curve, its best depth
        log.info("depth scan %s reused from run %s", key, kept["run"])
        curve, best_km = kept["curve"], kept["best_km"]
    else:
        scanned, _, curve = search_depth(depths, build, solve, windows_at, config,
                                         lambda best, tried: refined_depths(model, best, tried, step))
        best_km = scanned.source.depth_km
        save_scan(key, curve, best_km, run_name, root)
    durations, best = [], None
    if conf.half_duration_search:  # the full band's synthetics of the best pair's depth come with it
        best, durations = joint_duration(curve, dataset, stations, model, processing, npts, windows_at, conf,
                                          config)
        best_km = best.source.depth_km
    elif kept is None and fmax is None:
        best = scanned  # the scan's synthetics are the full band's
    if best is None:  # the solution's synthetics in the full band, as the simulations' are
        best = dataset_at_depth(dataset, stations, model, best_km, processing, npts)
    best_windows = windows_at(best_km)
    candidates = candidates_of(curve, build, windows_at)
    built.clear()
    spread = depth_uncertainty(curve, len(best_windows), step)
    low, high = depth_range(curve)
    return best, best_windows, {
        "curve": curve, "best_km": best.source.depth_km, "range_km": [low, high], "step_km": step,
        "uncertainty_km": round(spread["sigma_km"], 2), "parabola_km": round(spread["depth_km"], 2),
        "uncertainty_rule": spread["rule"],
        "definition": "1 - mean over all windows of min(normalised misfit, 1), each window aligned by its own "
                      "bounded shift, for the moment tensor inverted at each depth, the windows moved with the "
                      "arrivals of each depth; finer depths (a half and a quarter step) around the best; the "
                      "uncertainty where a parabola fitted within two steps of the best rises by its minimum "
                      "misfit over the number of windows, as CAP estimates it (a quarter step at least); the range "
                      "holds the depths within 0.02 of the best",
        "scan_fmax_hz": fmax, "scan_key": key, "reused_from_run": kept["run"] if kept else None}, durations, \
        candidates


#: The best depths of the scan at which the half duration is searched (depth and duration together).
JOINT_DEPTHS = 3


def joint_duration(curve, dataset, stations, model, processing, npts, windows_at, conf, config):
    """The best (depth, half duration) of the :data:`JOINT_DEPTHS` best depths of ``curve``,
    each with its duration curve searched (:func:`cmtflow.inversion.duration.search_half_duration`,
    the centroid time searched in every inversion): the dataset at the best depth (full band)
    and the duration curve there."""
    from cmtflow.inversion.depth import dataset_at_depth
    from cmtflow.inversion.duration import search_half_duration

    quick = replace(config, bootstrap=0)
    ranked = sorted((c for c in curve if c.get("variance_reduction") is not None),
                    key=lambda c: -c["variance_reduction"])[:JOINT_DEPTHS]
    best = None
    for point in ranked:
        depth = point["depth_km"]
        ds = dataset_at_depth(dataset, stations, model, depth, processing, npts)
        try:
            _, durations = search_half_duration(ds, windows_at(depth), quick, conf.half_duration_s)
        except CmtflowError as exc:
            log.info("depth %.2f km: no duration fits (%s)", depth, exc)
            continue
        top = max((c["variance_reduction"] for c in durations if c.get("variance_reduction") is not None),
                  default=-np.inf)
        log.info("depth %.2f km: best duration fit %.3f", depth, top)
        if best is None or top > best[0]:
            best = (top, ds, [{**c, "depth_km": depth} for c in durations])
    if best is None:
        raise NoSolutionError("no depth of the scan gave a half duration")
    return best[1], best[2]
