"""Station selection: which stations and channels an inversion uses, and why others not.

From a StationXML inventory (an FDSN station query through the EIDA routing client by
default, or a local file), keep stations within a distance range that have a complete
three-component set with an instrument response, choosing the channel set by band/
instrument priority (``HH``, ``BH``, then others) and location-code priority; thin out
stations closer than a minimum inter-station distance; and cap the number of stations,
preferring azimuthal coverage. Every station left out gets its reason.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
from obspy import Inventory, UTCDateTime
from obspy.geodetics import gps2dist_azimuth, kilometers2degrees

from cmtflow.data.events import Earthquake
from cmtflow.data.services import ServiceConfig, call_with_retries, make_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectionConfig:
    """Station selection options (distances in km).

    :param channel_priorities: band+instrument codes in order of preference.
    :param location_priorities: location codes in order of preference (others after them).
    :param min_interstation_km: of two stations closer than this, the nearer to the
        epicentre is kept (the other is a near-duplicate of its record).
    :param max_stations: cap; stations are then taken round-robin over ``azimuth_bins``
        sectors, nearest first in each, so that coverage is as even as the network allows.
    """

    min_distance_km: float = 10.0
    max_distance_km: float = 500.0
    channel_priorities: tuple[str, ...] = ("HH", "BH", "EH", "SH", "HN")
    location_priorities: tuple[str, ...] = ("", "00", "10", "01", "20")
    min_interstation_km: float = 5.0
    max_stations: int = 60
    azimuth_bins: int = 8


@dataclass(frozen=True)
class SelectedStation:
    """One station with the channel set chosen for it (codes ``NET.STA.LOC.CHA``)."""

    network: str
    station: str
    location: str
    channels: tuple[str, ...]
    latitude: float
    longitude: float
    elevation_m: float
    distance_km: float
    azimuth: float
    back_azimuth: float

    @property
    def code(self) -> str:
        return f"{self.network}.{self.station}"

    def as_dict(self) -> dict:
        return {"station": self.code, "location": self.location, "channels": list(self.channels),
                "latitude": self.latitude, "longitude": self.longitude, "elevation_m": self.elevation_m,
                "distance_km": round(self.distance_km, 3), "azimuth": round(self.azimuth, 3),
                "back_azimuth": round(self.back_azimuth, 3)}


@dataclass
class Selection:
    """The stations kept and, for every other one, why not (``{"NET.STA": reason}``).

    ``alternates`` maps a kept station to its near-duplicates (nearest first): stand-ins
    when the kept one turns out to have no usable data.
    """

    stations: list[SelectedStation] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    alternates: dict[str, list[SelectedStation]] = field(default_factory=dict)


def query_inventory(quake: Earthquake, config: SelectionConfig, service: ServiceConfig,
                    channel: str = "?H?,?N?") -> Inventory:
    """FDSN station query (level=response) around the epicentre, at the origin time."""
    client = make_client(service)
    t = quake.time
    kwargs = dict(latitude=quake.latitude, longitude=quake.longitude,
                  minradius=kilometers2degrees(config.min_distance_km),
                  maxradius=kilometers2degrees(config.max_distance_km), starttime=t - 60, endtime=t + 3600,
                  channel=channel, level="response")
    return call_with_retries(lambda: client.get_stations(**kwargs), f"station service of {service.label}", service)


#: FDSN code rules (StationXML 1.2 / SEED): codes become file names and command-line
#: arguments, so anything else is dropped with a reason, never passed on.
CODE_PATTERNS = {"network": re.compile(r"^[A-Za-z0-9]{1,8}$"), "station": re.compile(r"^[A-Za-z0-9]{1,8}$"),
                 "location": re.compile(r"^([A-Za-z0-9]{1,2}|--)?$"), "channel": re.compile(r"^[A-Za-z0-9]{3}$")}


def code_problem(**codes: str) -> str:
    """Why these codes (``network=``, ``station=``, ``location=``, ``channel=``) are invalid,
    or ``""``."""
    bad = [f"{kind} code {value!r}" for kind, value in codes.items() if not CODE_PATTERNS[kind].match(value or "")]
    return f"invalid {', '.join(bad)} (FDSN codes are letters and digits)" if bad else ""


def _has_response(channel) -> bool:
    """A full response (stages and overall sensitivity): what response removal needs."""
    resp = channel.response
    sensitivity = resp.instrument_sensitivity if resp is not None else None
    return sensitivity is not None and bool(sensitivity.value) and bool(resp.response_stages)


def _channel_set(station, time: UTCDateTime, config: SelectionConfig) -> tuple[str, list[str], str]:
    """(location, [channel codes], reason if none): the preferred complete 3-component set."""
    groups: dict[tuple[str, str], dict[str, object]] = {}
    invalid = []
    for cha in station.channels:
        problem = code_problem(location=cha.location_code, channel=cha.code)
        if problem:
            invalid.append(problem)
            continue
        if cha.start_date is not None and cha.start_date > time:
            continue
        if cha.end_date is not None and cha.end_date < time:
            continue
        groups.setdefault((cha.location_code, cha.code[:2]), {})[cha.code[2]] = cha
    if not groups:
        return "", [], invalid[0] if invalid else "no channel open at the origin time"

    def rank(key):
        loc, band = key
        b = config.channel_priorities.index(band) if band in config.channel_priorities else len(
            config.channel_priorities)
        loc_rank = config.location_priorities.index(loc) if loc in config.location_priorities else len(
            config.location_priorities)
        return b, loc_rank, loc, band

    reasons = []
    for key in sorted(groups, key=rank):
        comps = groups[key]
        if key[1] not in config.channel_priorities:
            reasons.append(f"{key[0]}.{key[1]}? not in the channel priorities")
            continue
        triplet = next((t for t in ("ZNE", "Z12", "ZRT") if all(c in comps for c in t)), None)
        if triplet is None:
            reasons.append(f"{key[0]}.{key[1]}? has components {''.join(sorted(comps))}, not 3")
            continue
        missing = [comps[c].code for c in triplet if not _has_response(comps[c])]
        if missing:
            reasons.append(f"no response for {key[0]}.{','.join(missing)}")
            continue
        return key[0], [comps[c].code for c in triplet], ""
    return "", [], "; ".join(reasons)


def select_stations(inventory: Inventory, quake: Earthquake, config: SelectionConfig = SelectionConfig()) -> Selection:
    """Apply the selection rules of the module docstring to ``inventory``."""
    result = Selection()
    candidates = []
    for net in inventory:
        for sta in net:
            code = f"{net.code}.{sta.code}"
            if code in result.dropped or any(c.code == code for c in candidates):
                continue
            problem = code_problem(network=net.code, station=sta.code)
            if problem:
                result.dropped[code] = problem
                continue
            dist_m, az, baz = gps2dist_azimuth(quake.latitude, quake.longitude, sta.latitude, sta.longitude)
            dist = dist_m / 1000.0
            if not config.min_distance_km <= dist <= config.max_distance_km:
                result.dropped[code] = (f"distance {dist:.1f} km outside {config.min_distance_km:g}-"
                                        f"{config.max_distance_km:g} km")
                continue
            loc, channels, reason = _channel_set(sta, quake.time, config)
            if not channels:
                result.dropped[code] = reason
                continue
            candidates.append(SelectedStation(
                net.code, sta.code, loc, tuple(f"{net.code}.{sta.code}.{loc}.{c}" for c in channels),
                float(sta.latitude), float(sta.longitude), float(sta.elevation or 0.0), dist, az, baz))
    candidates.sort(key=lambda s: s.distance_km)
    kept: list[SelectedStation] = []
    for s in candidates:
        near = next((k for k in kept if gps2dist_azimuth(s.latitude, s.longitude, k.latitude, k.longitude)[0]
                     / 1000.0 < config.min_interstation_km), None)
        if near is not None:
            result.dropped[s.code] = f"duplicate: within {config.min_interstation_km:g} km of {near.code}"
            result.alternates.setdefault(near.code, []).append(s)
        else:
            kept.append(s)
    result.stations = _cap_with_coverage(kept, config, result.dropped)
    log.info("selected %d stations, dropped %d", len(result.stations), len(result.dropped))
    return result


def _cap_with_coverage(stations: list[SelectedStation], config: SelectionConfig,
                       dropped: dict[str, str]) -> list[SelectedStation]:
    if len(stations) <= config.max_stations:
        return stations
    width = 360.0 / max(config.azimuth_bins, 1)
    bins: dict[int, list[SelectedStation]] = {}
    for s in stations:  # already nearest first
        bins.setdefault(int(s.azimuth // width), []).append(s)
    chosen: list[SelectedStation] = []
    while len(chosen) < config.max_stations:
        for b in sorted(bins):
            if bins[b] and len(chosen) < config.max_stations:
                chosen.append(bins[b].pop(0))
    for rest in bins.values():
        for s in rest:
            dropped[s.code] = f"maximum of {config.max_stations} stations reached (azimuthal coverage preferred)"
    return sorted(chosen, key=lambda s: s.distance_km)


def azimuthal_gap(stations: list[SelectedStation]) -> float:
    """Largest azimuthal gap (degrees) between the stations, seen from the epicentre."""
    if not stations:
        return 360.0
    az = np.sort([s.azimuth % 360.0 for s in stations])
    gaps = np.diff(np.concatenate([az, [az[0] + 360.0]]))
    return float(gaps.max())
