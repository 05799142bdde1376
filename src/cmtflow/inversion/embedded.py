"""Inversion datasets from the embedded solver (Green's functions, no SPECFEM run).

The six moment-tensor derivatives are exact (the synthetic of a unit component);
location derivatives are one-sided finite differences with explicit perturbations
(defaults 0.5 km in depth, 0.01 degree in latitude and longitude). Observed and synthetic
waveforms go through the same band-pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from obspy import Stream
from obspy.geodetics import gps2dist_azimuth

from cmtflow.data.stations import StationPoint
from cmtflow.errors import StationError
from cmtflow.inversion.dataset import PARAMETERS, ChannelData, InversionDataset
from cmtflow.inversion.simulations import DDEPTH_KM, DLATLON_DEG
from cmtflow.misfit.windows import Window, channel_windows, clip_to_record, use_flexwin
from cmtflow.processing import Band, bandpass
from cmtflow.processing.preprocess import EXTEND_RAMP_S, ORDER, extend
from cmtflow.models import load_model
from cmtflow.solvers.fk import FKParameters, off_interfaces
from cmtflow.solvers.store import GreensStore
from cmtflow.solvers.synthetics import DISTANCE_ROUNDING_KM
from cmtflow.source import Source, rtp_to_ned

log = logging.getLogger(__name__)

UNIT_MT = list(np.eye(6))  # unit Mrr, Mtt, Mpp, Mrt, Mrp, Mtp (N·m)


@dataclass(frozen=True)
class Perturbation:
    """Finite-difference steps of the location derivatives."""

    depth_km: float = DDEPTH_KM
    latitude_deg: float = DLATLON_DEG
    longitude_deg: float = DLATLON_DEG


def _geometry(lat, lon, sta: StationPoint):
    dist_m, az, _ = gps2dist_azimuth(lat, lon, sta.latitude, sta.longitude)
    d = round(dist_m / 1000.0 / DISTANCE_ROUNDING_KM) * DISTANCE_ROUNDING_KM
    return d, az


def embedded_dataset(observed: Stream, stations: list[StationPoint], source: Source, model, band: Band,
                     dt: float, npts: int, n_params: int = 6, quantity: str = "displacement",
                     store: GreensStore | None = None, perturbation: Perturbation = Perturbation(),
                     fk: FKParameters | None = None, picker: str = "auto") -> tuple[InversionDataset, list[Window]]:
    """Observed Z/R/T traces, synthetics and derivatives on one axis per station.

    :param observed: traces with channel codes ending in Z, R or T, in metres (of
        displacement, or metres per second for ``quantity="velocity"``).
    :param stations: coordinates of the stations (matched by network and station code).
    :param quantity: what the observed traces are; synthetics are made to match.
    :param picker: ``"flexwin"`` (pyflex, the optional ``flexwin`` extra), ``"phases"``
        (arrival-time windows) or ``"auto"`` (FLEXWIN when installed). With FLEXWIN, a
        channel where it finds no window gets the arrival-time windows.
    :returns: the dataset and the measurement windows of every channel.
    """
    flexwin = use_flexwin(picker)
    store = store or GreensStore()
    by_code = {(s.network, s.station): s for s in stations}
    codes = sorted({(tr.stats.network, tr.stats.station) for tr in observed})
    missing = [f"{n}.{s}" for n, s in codes if (n, s) not in by_code]
    if missing:
        raise StationError(f"no coordinates for station(s) {', '.join(missing)}")
    pts = [by_code[c] for c in codes]
    lat, lon, depth = source.latitude, source.longitude, source.depth_km
    base = [_geometry(lat, lon, s) for s in pts]
    moved_lat = [_geometry(lat + perturbation.latitude_deg, lon, s) for s in pts]
    moved_lon = [_geometry(lat, lon + perturbation.longitude_deg, s) for s in pts]
    too_close = [s.code for s, (d, _) in zip(pts, base) if d <= 0]
    if too_close:
        raise StationError(f"station(s) at the epicentre: {', '.join(too_close)}")
    grid = np.unique([g[0] for g in base + (moved_lat + moved_lon if n_params == 9 else [])])
    earth = load_model(model)
    notes: list[str] = []
    greens, _ = store.get(earth, _off_interface(earth, depth, notes), grid, dt, npts, fk)
    greens_dz = store.get(earth, _off_interface(earth, depth + perturbation.depth_km, notes),
                          np.unique([g[0] for g in base]), dt, npts, fk)[0] if n_params >= 7 else None
    rate = source.moment_rate_function(dt)
    lead = (len(rate) // 2) * dt

    def synth(g, mt_rtp, dist, az, axis):
        """Z/R/T of a moment tensor on ``axis`` (s after centroid), unfiltered."""
        disp = g.displacement(rtp_to_ned(mt_rtp), dist, az, moment_rate=rate)
        t = g.t0[g.index(dist)] - lead + dt * np.arange(g.npts)
        out = {}
        for comp, x in disp.items():
            for _ in range(ORDER[quantity]):  # velocity, acceleration: as the data
                x = np.gradient(x, dt)
            out[comp] = np.interp(axis, t, x, left=0.0, right=x[-1])
        return out

    channels, windows = [], []
    for sta, (dist, az), mlat, mlon in zip(pts, base, moved_lat, moved_lon):
        i = greens.index(dist)
        axis = greens.t0[i] - lead + dt * np.arange(npts)
        unit = [synth(greens, e, dist, az, axis) for e in UNIT_MT]
        syn = synth(greens, source.mt, dist, az, axis)
        deriv = {}
        if greens_dz is not None:
            deriv["depth"] = synth(greens_dz, source.mt, dist, az, axis)
        if n_params == 9:
            deriv["latitude"] = synth(greens, source.mt, *mlat, axis)
            deriv["longitude"] = synth(greens, source.mt, *mlon, axis)
        for tr in observed.select(network=sta.network, station=sta.station):
            comp = tr.stats.channel[-1]
            if comp not in "ZRT":
                continue
            # a record shorter than the synthetics (CAP folders, event archives) is used as far
            # as it reaches: it is extended as the processing graph extends it, and the
            # synthetics are cut to its span and extended the same way, so that both see the
            # same filter edges
            span = (float(tr.stats.starttime - source.time), float(tr.stats.endtime - source.time))
            edges = (source.time + axis[0] - 3 * band.tmax, source.time + axis[-1] + 3 * band.tmax)
            tr = tr.copy()
            extend(tr, *edges)
            t_obs = (tr.stats.starttime - source.time) + tr.stats.delta * np.arange(tr.stats.npts)
            obs_f = bandpass(tr.data.astype(float), tr.stats.delta, band)
            obs = np.interp(axis, t_obs, obs_f, left=np.nan, right=np.nan)

            def filtered(x):
                return _filtered_over_span(x, axis, dt, span, source.time, edges, band)

            s0 = filtered(syn[comp])
            dsyn = {PARAMETERS[k]: filtered(unit[k][comp]) for k in range(6)}
            if "depth" in deriv:
                dsyn["depth"] = (filtered(deriv["depth"][comp]) - s0) / perturbation.depth_km
            if "latitude" in deriv:
                dsyn["latitude"] = (filtered(deriv["latitude"][comp]) - s0) / perturbation.latitude_deg
                dsyn["longitude"] = (filtered(deriv["longitude"][comp]) - s0) / perturbation.longitude_deg
            cid = f"{sta.network}.{sta.station}.{tr.stats.location}.{tr.stats.channel}"
            channels.append(ChannelData(cid, float(axis[0]), dt, obs, s0, dsyn, dist, az, span))
            for w in channel_windows(cid, obs, s0, float(axis[0]), dt, source, (sta.latitude, sta.longitude),
                                     dist, float(greens.tp[i]), float(greens.ts[i]), band.tmin, band.tmax, flexwin):
                kept, note = clip_to_record(w, span, band.tmin, band.tmax, EXTEND_RAMP_S)
                if kept is None:
                    notes.append(f"{cid}: {note}")
                else:
                    windows.append(kept)
    unit_name = {"displacement": "m", "velocity": "m/s", "acceleration": "m/s²"}[quantity]
    return InversionDataset(source, channels, unit=unit_name, notes=notes), windows


def _filtered_over_span(x: np.ndarray, axis: np.ndarray, dt: float, span: tuple[float, float], time, edges,
                        band: Band) -> np.ndarray:
    """A synthetic on ``axis`` (s after ``time``) cut to the record's ``span``, extended to
    ``edges`` as the record is (:func:`~cmtflow.processing.preprocess.extend`), band-passed,
    back on ``axis``."""
    from obspy import Trace

    tr = Trace(np.asarray(x, float), header={"delta": dt, "starttime": time + float(axis[0])})
    tr.trim(time + span[0], time + span[1])
    if tr.stats.npts < 2:
        return np.zeros(len(axis))
    extend(tr, *edges)
    t = (tr.stats.starttime - time) + dt * np.arange(tr.stats.npts)
    return np.interp(axis, t, bandpass(tr.data, dt, band))


def _off_interface(model, depth_km: float, notes: list[str]) -> float:
    """``depth_km`` moved off an interface of the model it falls on
    (:func:`cmtflow.solvers.fk.off_interfaces`), with a note saying so.

    The solver refuses a source on an interface (the elastic moduli there are ambiguous);
    an inversion's depth update or derivative perturbation can land on one by chance.
    """
    moved = off_interfaces(model, depth_km)
    if moved != depth_km:
        notes.append(f"source depth {depth_km:.4f} km is on an interface of model {model.name!r}; "
                     f"Green's functions computed at {moved:.4f} km")
        log.info(notes[-1])
    return moved


def invert_embedded(observed: Stream, stations: list[StationPoint], initial: Source, model, band: Band,
                    dt: float, npts: int, config, relinearisations: int = 3, quantity: str = "displacement",
                    store: GreensStore | None = None, cap_weights: dict | None = None, picker: str = "auto",
                    perturbation: Perturbation = Perturbation()):
    """CMT3D with the embedded solver, re-linearised about each new location.

    Depth and epicentre enter the waveforms non-linearly: after each inversion the
    derivatives are recomputed at the updated source (cheap with stored Green's functions)
    and the inversion repeated, ``relinearisations`` times at most (once for 6 parameters).
    The result reports the variance reduction of the initial source and the Kagan angle to it.
    """
    from cmtflow.inversion.cmt3d import invert

    store = store or GreensStore()
    current, first_vr, result = initial, None, None
    passes = 1 if config.n_params == 6 else max(relinearisations, 1)
    for _ in range(passes):
        dataset, windows = embedded_dataset(observed, stations, current, model, band, dt, npts, config.n_params,
                                            quantity=quantity, store=store, picker=picker,
                                            perturbation=perturbation)
        result = invert(dataset, windows, config, cap_weights)
        first_vr = result.variance_reduction_before if first_vr is None else first_vr
        moved = abs(result.source.depth_km - current.depth_km) + 100 * (
            abs(result.source.latitude - current.latitude) + abs(result.source.longitude - current.longitude))
        current = result.source
        if moved < 0.05:  # km: below what the data resolve
            break
    result.initial = initial
    result.variance_reduction_before = first_vr
    return result, dataset
