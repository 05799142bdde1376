"""Three-component synthetics for a source and a station set from Green's functions.

Any moment tensor is a linear combination of the stored fundamental-source Green's
functions (no new solve); distances are rounded to 10 m to share Green's functions
between nearby stations and between runs.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from obspy import Inventory, Stream, Trace
from obspy.geodetics import gps2dist_azimuth

from cmtflow.data.stations import StationPoint, station_list
from cmtflow.errors import StationError
from cmtflow.solvers.base import GreensFunctions
from cmtflow.solvers.fk import FKParameters
from cmtflow.solvers.store import GreensStore
from cmtflow.source import Source
from cmtflow.workspace import SYNTHETICS_MANIFEST, staging_folder

log = logging.getLogger(__name__)

DISTANCE_ROUNDING_KM = 0.01
#: The embedded solver's Earth is flat: beyond regional distances (about 18 degrees) its
#: travel times and geometrical spreading are wrong, so farther stations are refused.
MAX_DISTANCE_KM = 2000.0


def band_code(sampling_rate: float) -> str:
    """SEED band code for a broadband channel at this sampling rate (Hz)."""
    for limit, code in ((80.0, "H"), (10.0, "B"), (1.0 + 1e-9, "M"), (0.5, "L"), (0.05, "V")):
        if sampling_rate >= limit:
            return code
    return "U"


def station_geometry(source: Source, stations: list[StationPoint]) -> list[dict]:
    """Epicentral distance (km, WGS84), azimuth and back-azimuth (deg) of each station."""
    out = []
    for sta in stations:
        dist_m, az, baz = gps2dist_azimuth(source.latitude, source.longitude, sta.latitude, sta.longitude)
        out.append({"station": sta, "distance_km": dist_m / 1000.0, "azimuth": az, "back_azimuth": baz})
    return out


def checked_geometry(source: Source, points: list[StationPoint]) -> list[dict]:
    """:func:`station_geometry` with each station's distance on the Green's function grid
    (``grid_km``); a station at the epicentre or beyond the solver's reach refused."""
    geometry = station_geometry(source, points)
    too_close = [g["station"].code for g in geometry if g["distance_km"] < DISTANCE_ROUNDING_KM]
    if too_close:
        raise StationError(f"station(s) {', '.join(too_close)} at the epicentre: distance must be > 0")
    too_far = [f"{g['station'].code} ({g['distance_km']:.0f} km)" for g in geometry
               if g["distance_km"] > MAX_DISTANCE_KM]
    if too_far:
        raise StationError(f"station(s) {', '.join(too_far)} beyond {MAX_DISTANCE_KM:.0f} km: the embedded 1D "
                           "solver (flat Earth) is for regional distances; use SPECFEM3D for farther stations")
    for g in geometry:
        g["grid_km"] = round(g["distance_km"] / DISTANCE_ROUNDING_KM) * DISTANCE_ROUNDING_KM
    return geometry


def _points(stations: Inventory | list[StationPoint]) -> list[StationPoint]:
    return station_list(stations) if isinstance(stations, Inventory) else list(stations)


def shared_greens(sources: list[Source], stations: Inventory | list[StationPoint], model, dt: float, npts: int,
                  params: FKParameters | None = None,
                  store: GreensStore | None = None) -> dict[float, GreensFunctions]:
    """One Green's function set per source depth (km) covering every source's station
    distances: a run's source variants (moment tensor terms, centroid shifts of a few
    hundred metres) share one wavenumber integration instead of one each."""
    points = _points(stations)
    grids: dict[float, set[float]] = {}
    for source in sources:
        grids.setdefault(source.depth_km, set()).update(g["grid_km"] for g in checked_geometry(source, points))
    store = store or GreensStore()
    return {depth: store.get(model, depth, sorted(grid), dt, npts, params)[0] for depth, grid in grids.items()}


def synthetics(source: Source, stations: Inventory | list[StationPoint], model, dt: float, npts: int,
               components: str = "ZRT", params: FKParameters | None = None,
               store: GreensStore | None = None, greens: GreensFunctions | None = None) -> tuple[Stream, list[dict]]:
    """Displacement synthetics in metres.

    :param source: the point source (moment tensor in N·m, centroid time, half duration).
    :param stations: an ObsPy Inventory or a list of :class:`StationPoint`.
    :param model: model name, file or :class:`~cmtflow.models.EarthModel`.
    :param dt, npts: sampling (s) and length (a power of two) of each trace.
    :param components: ``"ZRT"`` (vertical up, radial, transverse) or ``"ZNE"``.
    :param greens: Green's functions at the source depth for (at least) these stations'
        distances, from :func:`shared_greens`; taken from ``store`` when omitted.
    :returns: the stream (channels ``?XZ ?XR ?XT`` or ``?XZ ?XN ?XE``) and one geometry
        record per station (distance, azimuth, back-azimuth, trace start).
    """
    if components not in ("ZRT", "ZNE"):
        raise ValueError(f"components must be 'ZRT' or 'ZNE', got {components!r}")
    points = _points(stations)
    geometry = checked_geometry(source, points)
    if greens is not None:
        if abs(greens.depth_km - source.depth_km) > 1e-9 or (greens.dt, greens.npts) != (dt, npts):
            raise ValueError(f"Green's functions at {greens.depth_km} km, dt {greens.dt}, npts {greens.npts} given for "
                             f"a source at {source.depth_km} km, dt {dt}, npts {npts}")
        reused = True
    else:
        store = store or GreensStore()
        grid = np.unique([g["grid_km"] for g in geometry])
        greens, reused = store.get(model, source.depth_km, grid, dt, npts, params)
    rate = source.moment_rate_function(dt)
    band = band_code(1.0 / dt)
    stream = Stream()
    for g in geometry:
        sta = g["station"]
        i = greens.index(g["grid_km"], tolerance_km=1e-6)
        disp = greens.displacement(source.mt_ned, g["grid_km"], g["azimuth"], moment_rate=rate)
        if components == "ZNE":
            az = np.deg2rad(g["azimuth"])
            r, t = disp.pop("R"), disp.pop("T")
            disp["N"] = r * np.cos(az) - t * np.sin(az)
            disp["E"] = r * np.sin(az) + t * np.cos(az)
        start = trace_start(source, greens, i, rate)
        g["starttime"] = str(start)
        for comp in components:
            tr = Trace(np.asarray(disp[comp], np.float64))
            tr.stats.update(dict(network=sta.network, station=sta.station, location=sta.location,
                                 channel=f"{band}X{comp}", starttime=start, delta=dt))
            stream.append(tr)
    log.info("synthetics for %d stations from %s Green's functions", len(points), "stored" if reused else "new")
    return stream, geometry


def trace_start(source: Source, greens: GreensFunctions, i: int, rate: np.ndarray):
    """Start time of the synthetics at distance ``i`` of ``greens`` for ``source`` with its
    moment-rate function ``rate``: the triangle is centred on the centroid time (its peak
    sample is time zero)."""
    return source.time + float(greens.t0[i]) - (len(rate) // 2) * greens.dt


def write_synthetics_folder(stream: Stream, geometry: list[dict], source: Source, out: Path, meta: dict) -> dict:
    """One ``NET.STA.LOC.mseed`` per station and ``synthetics.json``, the format every solver's
    synthetics take (``cmtflow synth``, SPECFEM3D outputs). Written through a temporary
    folder; the manifest is moved in last and marks the set complete.

    :param geometry: per station ``{"station": StationPoint, "distance_km", "azimuth",
        "back_azimuth", "starttime"}``.
    :param meta: solver, model, components, dt, npts... (copied into the manifest).
    """
    out = Path(out)
    with staging_folder(out, "synth") as tmp:
        files = []
        for g in geometry:
            sta = g["station"]
            st = stream.select(network=sta.network, station=sta.station, location=sta.location)
            name = f"{sta.code}.mseed"
            st.write(str(tmp / name), format="MSEED", encoding="FLOAT64")
            files.append({"file": name, "network": sta.network, "station": sta.station, "location": sta.location,
                          "distance_km": round(g["distance_km"], 4), "azimuth": round(g["azimuth"], 4),
                          "back_azimuth": round(g["back_azimuth"], 4), "starttime": str(g["starttime"])})
        manifest = {**meta, "event_id": source.event_id, "centroid_time": str(source.time), "units": "m",
                    "quantity": "displacement", "stations": files}
        (tmp / SYNTHETICS_MANIFEST).write_text(json.dumps(manifest, indent=1))
        for f in files:
            os.replace(tmp / f["file"], out / f["file"])
        os.replace(tmp / SYNTHETICS_MANIFEST, out / SYNTHETICS_MANIFEST)
    return manifest
