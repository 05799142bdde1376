"""Station selection: which stations and channels an inversion uses, and why others not.

From a StationXML inventory (an FDSN station query through the EIDA routing client by
default, or local metadata merged by :mod:`cmtflow.data.metadata`), keep stations within a
distance range that have a usable channel set with instrument responses, rank their channel
sets by band/instrument priority (broadband ``HH``, ``BH`` and long-period ``LH`` by default;
short-period ``EH``/``SH`` only when asked for) and location-code priority, with the
strong-motion sets (``HN``, ``HG``) kept as the fallback for clipped broadband records;
thin out stations closer than a minimum inter-station distance; and cap the number of
stations, preferring azimuthal coverage. Every station left out gets its reason.

A channel set is the vertical and/or a horizontal pair (``N``/``E``, ``1``/``2`` or any two
horizontals with known azimuths): a station whose horizontals are missing still gives its
vertical component, one without a vertical its radial and transverse.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace

import numpy as np
from obspy import Inventory, UTCDateTime
from obspy.geodetics import gps2dist_azimuth, kilometers2degrees

from cmtflow.data.events import Earthquake
from cmtflow.data.metadata import usable_response
from cmtflow.data.services import ServiceConfig, call_with_retries, make_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectionConfig:
    """Station selection options (distances in km).

    :param channel_priorities: band+instrument codes in order of preference.
    :param strong_motion: accelerometer band+instrument codes, tried (in this order) only
        where the preferred channels turn out clipped.
    :param location_priorities: location codes in order of preference (others after them).
    :param min_interstation_km: of two stations closer than this, the nearer to the
        epicentre is kept (the other is a near-duplicate of its record).
    :param max_stations: cap; stations are then taken round-robin over ``azimuth_bins``
        sectors and, in each, over ``distance_rings`` rings (nearest first in a ring), so that
        coverage in azimuth and distance is as even as the network allows.
    :param require_response: channels without a response are left out (records in counts);
        False where records may carry their units (SAC files, a declared quantity).
    """

    min_distance_km: float = 10.0
    max_distance_km: float = 500.0
    channel_priorities: tuple[str, ...] = ("HH", "BH", "LH")
    strong_motion: tuple[str, ...] = ("HN", "HG")
    location_priorities: tuple[str, ...] = ("", "00", "10", "01", "20")
    min_interstation_km: float = 5.0
    max_stations: int = 60
    azimuth_bins: int = 8
    distance_rings: int = 3
    require_response: bool = True


@dataclass(frozen=True)
class SelectedStation:
    """One station with its channel sets (codes ``NET.STA.LOC.CHA``), the preferred first.

    :param channels: the preferred set.
    :param fallbacks: the other usable sets, in order of preference (other locations,
        bands); ``strong_motion`` ones are tried only where a set before them was clipped.
    """

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
    fallbacks: tuple[tuple[str, ...], ...] = ()
    strong_motion: tuple[tuple[str, ...], ...] = ()
    note: str = ""  # why the preferred set lacks a component (no vertical, no horizontal pair)

    @property
    def code(self) -> str:
        return f"{self.network}.{self.station}"

    def as_dict(self) -> dict:
        return {"station": self.code, "location": self.location, "channels": list(self.channels),
                "fallbacks": [list(c) for c in self.fallbacks], "strong_motion": [list(c) for c in self.strong_motion],
                **({"note": self.note} if self.note else {}), "latitude": self.latitude, "longitude": self.longitude, "elevation_m": self.elevation_m,
                "distance_km": round(self.distance_km, 3), "azimuth": round(self.azimuth, 3),
                "back_azimuth": round(self.back_azimuth, 3)}

    @classmethod
    def from_dict(cls, d: dict) -> "SelectedStation":
        net, sta = d["station"].split(".")
        return cls(net, sta, d["location"], tuple(d["channels"]), d["latitude"], d["longitude"], d["elevation_m"],
                   d["distance_km"], d["azimuth"], d["back_azimuth"], tuple(tuple(c) for c in d.get("fallbacks", ())),
                   tuple(tuple(c) for c in d.get("strong_motion", ())), d.get("note", ""))

    def with_channels(self, channels: tuple[str, ...]) -> "SelectedStation":
        return replace(self, location=channels[0].split(".")[2], channels=tuple(channels))


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
                    channel: str = "?H?,?N?,HG?") -> Inventory:
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


def is_vertical(cha) -> bool:
    """A vertical sensor: dip within 30 degrees of +-90 (or, without a dip, a Z name)."""
    if cha.dip is not None:
        return abs(abs(float(cha.dip)) - 90.0) < 30.0
    return cha.code[2] == "Z"


def is_horizontal(cha) -> bool:
    """A horizontal sensor: R/T by name, dip within 30 degrees of 0, or an N/E name."""
    if cha.code[2] in "RT":  # already rotated (CAP/MTUQ SAC sets)
        return True
    if cha.dip is not None and cha.azimuth is not None:
        return abs(float(cha.dip)) < 30.0
    return cha.code[2] in "NE"


def component_set(comps: dict[str, object]) -> tuple[list, str]:
    """The channels of one location and band that make Z and/or a horizontal pair, and why
    the others cannot be used (``""`` when all can): a vertical, and two horizontals at least
    45 degrees apart (their azimuths from the metadata; ``N``/``E`` by name when none is given)."""
    chans = list(comps.values())
    vertical = next((c for c in sorted(chans, key=lambda c: c.code[2] != "Z") if is_vertical(c)), None)
    horizontals = [c for c in chans if is_horizontal(c)]
    pair = (comps["R"], comps["T"]) if "R" in comps and "T" in comps else None
    for i, a in enumerate(horizontals):
        for b in horizontals[i + 1:]:
            az_a = float(a.azimuth) if a.azimuth is not None else (0.0 if a.code[2] == "N" else 90.0)
            az_b = float(b.azimuth) if b.azimuth is not None else (0.0 if b.code[2] == "N" else 90.0)
            if pair is None and a.code[2] not in "RT" and b.code[2] not in "RT" and \
                    45.0 <= abs((az_a - az_b + 180.0) % 360.0 - 180.0) <= 135.0:
                pair = (a, b)
    chosen = ([vertical] if vertical is not None else []) + (list(pair) if pair else [])
    problems = []
    if vertical is None:
        problems.append("no vertical")
    if pair is None:
        unknown = [c.code for c in chans if not is_vertical(c) and not is_horizontal(c)]
        problems.append(f"no horizontal pair{' (orientation unknown for ' + ','.join(unknown) + ')' if unknown else ''}")
    return chosen, "; ".join(problems)


def _channel_sets(station, time: UTCDateTime, config: SelectionConfig) -> tuple[list[tuple[str, list]], str]:
    """Every usable (location, [channels]) of ``station`` at ``time``, best first, and the
    reasons of the unusable ones (the first is the preferred set); strong-motion sets last."""
    groups: dict[tuple[str, str], dict[str, object]] = {}
    invalid = []
    for cha in station.channels:
        problem = code_problem(location=cha.location_code, channel=cha.code)
        if problem:
            invalid.append(problem)
            continue
        if not _open(cha, time):
            continue
        groups.setdefault((cha.location_code, cha.code[:2]), {})[cha.code[2]] = cha
    if not groups:
        return [], invalid[0] if invalid else "no channel open at the origin time"
    bands = config.channel_priorities + config.strong_motion

    def rank(key):
        loc, band = key
        b = bands.index(band) if band in bands else len(bands)
        loc_rank = config.location_priorities.index(loc) if loc in config.location_priorities else len(
            config.location_priorities)
        return b, loc_rank, loc, band

    sets, reasons = [], []
    for key in sorted(groups, key=rank):
        comps = groups[key]
        if key[1] not in bands:
            reasons.append(f"{key[0]}.{key[1]}? not in the channel priorities ({','.join(config.channel_priorities)})")
            continue
        chosen, problem = component_set(comps)
        if not chosen:
            reasons.append(f"{key[0]}.{key[1]}? has components {''.join(sorted(comps))}: {problem}")
            continue
        missing = [c.code for c in chosen if not usable_response(c.response)] if config.require_response else []
        if missing:
            reasons.append(f"no response for {key[0]}.{','.join(missing)}")
            continue
        sets.append((key[0], [c.code for c in chosen], key[1] in config.strong_motion, problem))
    return sets, "; ".join(reasons)


def select_stations(inventory: Inventory, quake: Earthquake, config: SelectionConfig = SelectionConfig()) -> Selection:
    """Apply the selection rules of the module docstring to ``inventory``."""
    result = Selection()
    candidates = []
    for net in inventory:
        for sta in net:
            code = f"{net.code}.{sta.code}"
            if code in result.dropped or any(c.code == code for c in candidates):
                continue
            if not _open(sta, quake.time) and any(_open(other, quake.time) for other in net if other.code == sta.code):
                continue  # another epoch of the station is the one open at the origin time
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
            sets, reason = _channel_sets(sta, quake.time, config)
            broadband = [s for s in sets if not s[2]]
            if not broadband:
                result.dropped[code] = reason or "only strong-motion channels (used where broadband is clipped)"
                continue

            def ids(s):
                return tuple(f"{net.code}.{sta.code}.{s[0]}.{c}" for c in s[1])

            candidates.append(SelectedStation(
                net.code, sta.code, broadband[0][0], ids(broadband[0]), float(sta.latitude), float(sta.longitude),
                float(sta.elevation or 0.0), dist, az, baz, tuple(ids(s) for s in broadband[1:]),
                tuple(ids(s) for s in sets if s[2]), broadband[0][3]))
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


def _open(element, time: UTCDateTime) -> bool:
    return (element.start_date is None or element.start_date <= time) and (
        element.end_date is None or element.end_date >= time)


def _cap_with_coverage(stations: list[SelectedStation], config: SelectionConfig,
                       dropped: dict[str, str]) -> list[SelectedStation]:
    """At most ``max_stations``, spread over azimuth and distance: round-robin over
    ``azimuth_bins`` sectors, and within a sector over ``distance_rings`` rings (equal in
    log distance), nearest first in a ring. Nearest-first alone would take only the closest
    stations of a dense network, the ones most often clipped and nearest the finite fault."""
    if len(stations) <= config.max_stations:
        return stations
    width = 360.0 / max(config.azimuth_bins, 1)
    near, far = min(s.distance_km for s in stations), max(s.distance_km for s in stations)
    rings = max(config.distance_rings, 1)
    span = np.log(far / near) if far > near else 1.0

    def ring(s):
        return min(int(rings * np.log(s.distance_km / near) / span), rings - 1) if far > near else 0

    cells: dict[int, dict[int, list[SelectedStation]]] = {}
    for s in stations:  # already nearest first
        cells.setdefault(int(s.azimuth // width), {}).setdefault(ring(s), []).append(s)
    chosen: list[SelectedStation] = []
    turn = dict.fromkeys(cells, 0)
    while len(chosen) < config.max_stations:
        for b in sorted(cells):
            if len(chosen) == config.max_stations:
                break
            order = [(turn[b] + k) % rings for k in range(rings)]
            r = next((r for r in order if cells[b].get(r)), None)
            if r is not None:
                chosen.append(cells[b][r].pop(0))
                turn[b] = r + 1
    for by_ring in cells.values():
        for rest in by_ring.values():
            for s in rest:
                dropped[s.code] = (f"maximum of {config.max_stations} stations reached (coverage in azimuth and "
                                   "distance preferred)")
    return sorted(chosen, key=lambda s: s.distance_km)


def azimuthal_gap(stations: list[SelectedStation]) -> float:
    """Largest azimuthal gap (degrees) between the stations, seen from the epicentre."""
    if not stations:
        return 360.0
    az = np.sort([s.azimuth % 360.0 for s in stations])
    gaps = np.diff(np.concatenate([az, [az[0] + 360.0]]))
    return float(gaps.max())
