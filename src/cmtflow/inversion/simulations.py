"""The CMT3D source set and the inversion dataset built from processed simulation folders.

:func:`plan_source_set` lists the simulations CMT3D needs (Liu et al. 2004): the initial
source, six sources each with one moment-tensor component of size dM (the initial scalar
moment) and nothing else, and the initial source moved in depth / latitude / longitude.
Whatever solver computed them (the embedded solver, SPECFEM3D in a pod), once processed by
the same graph as the data they become derivatives: ``s_Mij / dM`` and ``(s_moved - s) / step``.
:func:`dataset_from_folders` reads processed data and synthetics (one miniSEED file per
station, Z/R/T, on the same time axis) into an :class:`InversionDataset`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import obspy

from cmtflow.data.station_set import UsedStation
from cmtflow.errors import CmtflowError
from cmtflow.inversion.dataset import PARAMETERS, ChannelData, InversionDataset
from cmtflow.source import Source


#: Source perturbations of the derivative simulations: depth (km), latitude/longitude (degrees).
DDEPTH_KM, DLATLON_DEG = 0.5, 0.01


@dataclass(frozen=True)
class Variant:
    """One simulation of the source set: its name, source, and the parameter step it encodes."""

    name: str
    source: Source
    step: float = 0.0  # dM (N·m) for Mij, km for depth, degrees for latitude/longitude


def plan_source_set(initial: Source, n_params: int, ddepth_km: float = DDEPTH_KM, dlatlon_deg: float = DLATLON_DEG,
                    ) -> list[Variant]:
    """The initial source and the perturbed sources for ``n_params`` (6, 7 or 9)."""
    if n_params not in (6, 7, 9):
        raise CmtflowError(f"n_params must be 6, 7 or 9, got {n_params}")
    dm = initial.m0
    out = [Variant("initial", initial)]
    for k, name in enumerate(PARAMETERS[:6]):
        mt = np.zeros(6)
        mt[k] = dm
        out.append(Variant(name, initial.with_mt(mt), dm))
    if n_params >= 7:
        out.append(Variant("depth", replace(initial, depth_km=initial.depth_km + ddepth_km), ddepth_km))
    if n_params == 9:
        out.append(Variant("latitude", replace(initial, latitude=initial.latitude + dlatlon_deg), dlatlon_deg))
        out.append(Variant("longitude", replace(initial, longitude=initial.longitude + dlatlon_deg), dlatlon_deg))
    return out


def _by_station(folder: Path) -> dict[str, obspy.Stream]:
    out = {}
    for path in sorted(folder.glob("*.mseed")):
        st = obspy.read(str(path), format="MSEED")  # ours: no format detection (half of ObsPy's time per file)
        out[f"{st[0].stats.network}.{st[0].stats.station}"] = st
    return out


def relative_span(spans: dict | None, component: str, time) -> tuple[float, float] | None:
    """A component's record span (:func:`cmtflow.data.fetch.record_spans`) in s after ``time``."""
    from obspy import UTCDateTime

    from cmtflow.processing.preprocess import span_key

    span = (spans or {}).get(span_key(component))
    return None if span is None else (float(UTCDateTime(span[0]) - time), float(UTCDateTime(span[1]) - time))


def dataset_from_folders(observed: Path, synthetics: dict[str, Path], variants: list[Variant],
                         geometry: dict[str, UsedStation], unit: str = "m", left_out: dict[str, str] | None = None
                         ) -> InversionDataset:
    """Observed and synthetic Z/R/T traces and derivatives, channel by channel.

    :param observed: processed observed data (one ``NET.STA.LOC.mseed`` per station).
    :param synthetics: processed synthetics folder per variant name.
    :param variants: the source set (its steps turn synthetics into derivatives).
    :param geometry: ``{"NET.STA": UsedStation}``, the rows of the run's station set (their
        distance, azimuth and record spans, :func:`relative_span`).
    :param left_out: ``{"NET.STA": reason}`` of the stations the solver was not asked for.
    """
    steps = {v.name: v.step for v in variants}
    initial = next(v.source for v in variants if v.name == "initial")
    obs = _by_station(observed)
    syn = {name: _by_station(folder) for name, folder in synthetics.items()}
    missing = sorted(set(steps) - set(syn))
    if missing:
        raise CmtflowError(f"no processed synthetics for {', '.join(missing)}")
    channels = []
    notes = []
    for code, st in sorted(obs.items()):
        if code in (left_out or {}):
            notes.append(f"{code}: not simulated ({left_out[code]}); not used")
            continue
        if any(code not in syn[name] for name in steps) or code not in geometry:
            notes.append(f"{code}: no synthetics for every simulation; not used")
            continue
        for tr in st:
            comp = tr.stats.channel[-1]

            def pick(name):
                match = syn[name][code].select(component=comp)
                if not match:
                    raise CmtflowError(f"{code}: simulation {name} has no {comp} component")
                s = match[0]
                if abs(s.stats.starttime - tr.stats.starttime) > 1e-3 * tr.stats.delta or \
                        abs(s.stats.delta - tr.stats.delta) > 1e-9:
                    raise CmtflowError(f"{code}.{comp}: simulation {name} is not on the time axis of the data "
                                       "(process both with the same window and dt)")
                return np.asarray(s.data[:n], float)

            # windows end with the station distance; data and synthetics may differ by a sample
            n = min([tr.stats.npts] + [len(syn[name][code].select(component=comp)[0]) for name in steps
                                       if syn[name][code].select(component=comp)])
            s0 = pick("initial")
            dsyn = {}
            for name in steps:
                if name in PARAMETERS[:6]:
                    dsyn[name] = pick(name) / steps[name]
                elif name != "initial":
                    dsyn[name] = (pick(name) - s0) / steps[name]
            channels.append(ChannelData(tr.id, float(tr.stats.starttime - initial.time), tr.stats.delta,
                                        np.asarray(tr.data[:n], float), s0, dsyn, geometry[code].distance_km,
                                        geometry[code].azimuth, relative_span(geometry[code].spans, comp, initial.time)))
    if not channels:
        raise CmtflowError(f"{observed}: no station has both data and synthetics")
    return InversionDataset(initial, channels, unit=unit, notes=notes)
