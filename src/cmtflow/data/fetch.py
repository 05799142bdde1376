"""Waveform retrieval into the run workspace, with a reason for every station left out.

Two archives behind one call shape (:class:`FDSNArchive`, :class:`SDSArchive`), so the
pipeline does not branch on where data come from. :func:`fetch_waveforms` asks the archive
for all selected stations at once (a bulk request), falls back to one request per station
when the bulk answer fails or cannot be read (a truncated transfer, a corrupt record),
checks every station (data present, complete, no gaps, not clipped), and writes one raw
miniSEED file per station plus the StationXML of the channels used, atomically. Stations
already fetched by an earlier attempt are reused. ``stations.json`` lists every station
considered: used, or dropped with the reason.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import obspy
from obspy import Inventory, Stream, UTCDateTime

from cmtflow.data.events import Earthquake
from cmtflow.data.selection import Selection, SelectedStation
from cmtflow.data.services import NoDataError, ServiceConfig, ServiceError, call_with_retries, make_client
from cmtflow.errors import CmtflowError
from cmtflow.workspace import RunWorkspace, write_atomic, write_json_atomic

log = logging.getLogger(__name__)


#: A data centre whose requests for this many stations in a row failed (after retries) is
#: not asked for the rest: a service that is down fails the fetch in minutes, not hours,
#: and the task's own retries try again later.
MAX_SERVICE_FAILURES = 3


class TooFewStationsError(CmtflowError):
    """Fewer usable stations than the configured minimum."""

    retriable = True  # later, more data may have arrived at the data centres


@dataclass(frozen=True)
class FetchConfig:
    """Time window and acceptance rules.

    The window runs from ``pre_origin_s`` before the origin to the arrival of the slowest
    wave of interest (``distance / min_velocity_km_s``) plus ``post_s``.

    :param min_stations: fewer usable stations than this fails the fetch.
    :param min_coverage: fraction of the window each channel must cover.
    :param clip_fraction: a channel whose peak reaches this fraction of the digitiser's full
        scale (2^23 counts, 24-bit) is considered clipped.
    """

    pre_origin_s: float = 120.0
    min_velocity_km_s: float = 2.0
    post_s: float = 180.0
    min_stations: int = 3
    min_coverage: float = 0.95
    clip_fraction: float = 0.98
    full_scale_counts: float = 2.0**23


def time_window(quake: Earthquake, distance_km: float, config: FetchConfig) -> tuple[UTCDateTime, UTCDateTime]:
    return (quake.time - config.pre_origin_s,
            quake.time + distance_km / config.min_velocity_km_s + config.post_s)


# ----------------------------------------------------------------------------- archives
class FDSNArchive:
    """An FDSN dataselect service (or the EIDA routing client), retried."""

    def __init__(self, service: ServiceConfig):
        self.service = service
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = make_client(self.service)
        return self._client

    @property
    def label(self) -> str:
        return f"dataselect service of {self.service.label}"

    def get_bulk(self, requests: list[tuple]) -> Stream:
        return call_with_retries(lambda: self.client.get_waveforms_bulk(requests), self.label, self.service)

    def get(self, net, sta, loc, cha, t1, t2) -> Stream:
        return call_with_retries(lambda: self.client.get_waveforms(net, sta, loc, cha, t1, t2),
                                 f"{self.label} ({net}.{sta})", self.service)


class SDSArchive:
    """A local SeisComP Data Structure archive (ObsPy's SDS client)."""

    def __init__(self, root: str | Path):
        from obspy.clients.filesystem.sds import Client

        self.root = Path(root)
        if not self.root.is_dir():
            raise CmtflowError(f"SDS archive {self.root} does not exist")
        self.client = Client(str(self.root))
        self.label = f"SDS archive {self.root}"

    def get_bulk(self, requests: list[tuple]) -> Stream:
        raise NotImplementedError  # files are read per station: a corrupt one must not hide the others

    def get(self, net, sta, loc, cha, t1, t2) -> Stream:
        st = self.client.get_waveforms(net, sta, loc, cha, t1, t2)
        if not len(st):
            raise NoDataError(f"{self.label}: no data for {net}.{sta}.{loc}.{cha}")
        return st


# ----------------------------------------------------------------------------- checks
def check_station(st: Stream, station: SelectedStation, t1: UTCDateTime, t2: UTCDateTime,
                  config: FetchConfig) -> tuple[Stream | None, str]:
    """The station's three channels, merged and trimmed, or None and the reason."""
    st = st.copy()
    ids = {c.split(".")[-1] for c in station.channels}
    st = Stream([tr for tr in st if tr.stats.channel in ids and tr.stats.location == station.location])
    missing = sorted(ids - {tr.stats.channel for tr in st})
    if missing:
        return None, f"no data for {','.join(missing)}"
    for tr in st:
        if not np.all(np.isfinite(tr.data)):
            return None, f"{tr.id}: non-finite samples"
    gaps = st.get_gaps()
    if gaps:
        g = gaps[0]
        return None, f"gaps: {len(gaps)} in the window (first {g[6]:.1f} s at {g[4]} on {'.'.join(g[:4])})"
    st.merge(method=1)
    for tr in st:
        # the window is [t1, t2): services differ on whether the sample at t2 is included
        tr.trim(t1, t2 - 0.5 * tr.stats.delta, nearest_sample=False)
    span = t2 - t1
    for tr in st:
        covered = tr.stats.endtime - tr.stats.starttime
        if covered < config.min_coverage * span:
            return None, f"incomplete: {tr.id} covers {covered:.0f} s of the {span:.0f} s window"
        peak = float(np.max(np.abs(tr.data))) if tr.stats.npts else 0.0
        if np.issubdtype(tr.data.dtype, np.integer) and peak >= config.clip_fraction * config.full_scale_counts:
            return None, f"clipped: {tr.id} reaches {peak:.0f} counts"
    return st, ""


# ----------------------------------------------------------------------------- fetch
@dataclass
class FetchReport:
    """What the fetch did: stations used (``NET.STA`` -> file), reused, dropped with reasons,
    and near-duplicates used in place of a failed station (``alternate -> failed``)."""

    used: dict[str, str] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    replaced: dict[str, str] = field(default_factory=dict)


def _raw_name(station: SelectedStation) -> str:
    return f"{station.network}.{station.station}.{station.location}.mseed"



def _read_raw(path: Path) -> Stream | None:
    try:
        return obspy.read(str(path), format="MSEED")
    except Exception:  # an unreadable earlier file is fetched again
        return None


def _bulk(archive, todo: list[SelectedStation], windows: dict[str, tuple]) -> dict[str, Stream] | None:
    """One request for all stations; None when the archive has no bulk call or it failed."""
    requests = [(s.network, s.station, s.location, c.split(".")[-1], *windows[s.code])
                for s in todo for c in s.channels]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # ObsPy warns on records it cannot read
            st = archive.get_bulk(requests)
    except NotImplementedError:
        return None
    except NoDataError:
        return {}
    except Exception as exc:  # a failed service or an unreadable answer: go station by station
        log.warning("bulk request to %s failed (%s); asking station by station", archive.label, exc)
        return None
    return {s.code: st.select(network=s.network, station=s.station) for s in todo}


def _from_bulk(bulk: dict | None, station: SelectedStation, t1, t2, config: FetchConfig) -> tuple[Stream | None, str]:
    """The station's checked data from the bulk answer, or None and why."""
    if bulk is None:
        return None, ""
    if not len(bulk.get(station.code) or Stream()):
        return None, "no data"
    return check_station(bulk[station.code], station, t1, t2, config)


def _per_station(archive, station: SelectedStation, t1, t2) -> tuple[Stream | None, str]:
    st = Stream()
    for channel in station.channels:
        net, sta, loc, cha = channel.split(".")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                st += archive.get(net, sta, loc, cha, t1, t2)
        except NoDataError:
            return None, f"no data for {cha}"
        except ServiceError as exc:
            return None, str(exc)
        except Exception as exc:  # a corrupt or truncated miniSEED record: ObsPy's reader fails or warns
            return None, f"corrupt miniSEED for {channel}: {' '.join(str(exc).split())[:200]}"
    return st, ""


def fetch_waveforms(quake: Earthquake, selection: Selection, inventory: Inventory, archive,
                    workspace: RunWorkspace, config: FetchConfig = FetchConfig()) -> FetchReport:
    """Fetch, check and store the selected stations (see module docstring).

    A station that fails is replaced by its near-duplicates (``selection.alternates``),
    nearest first, when they have good data.

    :param inventory: StationXML with the responses of the selected channels.
    :raises TooFewStationsError: fewer usable stations than ``config.min_stations``;
        ``stations.json`` is written all the same, so the reasons are on record.
    """
    report = FetchReport(dropped=dict(selection.dropped))
    _fetch_group(selection.stations, quake, archive, workspace, config, report)
    backups = [alt for s in selection.stations if s.code not in report.used
               for alt in selection.alternates.get(s.code, [])[:1]]
    if backups:
        log.info("trying %d near-duplicate stations in place of failed ones", len(backups))
        _fetch_group(backups, quake, archive, workspace, config, report)
        for alt in backups:
            if alt.code in report.used:
                report.replaced[alt.code] = next(code for code, alts in selection.alternates.items() if alt in alts)
    used = [s for s in selection.stations + backups if s.code in report.used]
    _write_inventory(inventory, used, workspace.raw / "stations.xml")
    write_stations_report(workspace, quake, used, report)
    if len(report.used) < config.min_stations:
        raise TooFewStationsError(f"only {len(report.used)} usable stations, at least {config.min_stations} needed "
                                  f"(reasons in {workspace.stations_report})")
    return report


def _fetch_group(stations: list[SelectedStation], quake: Earthquake, archive, workspace: RunWorkspace,
                 config: FetchConfig, report: FetchReport) -> None:
    """Fetch ``stations`` into ``workspace.raw`` (reusing good earlier files); update ``report``."""
    raw = workspace.raw
    windows = {s.code: time_window(quake, s.distance_km, config) for s in stations}
    todo = []
    for s in stations:
        existing = _read_raw(raw / _raw_name(s)) if (raw / _raw_name(s)).is_file() else None
        if existing is not None and check_station(existing, s, *windows[s.code], config)[0] is not None:
            report.used[s.code] = _raw_name(s)
            report.reused.append(s.code)
            report.dropped.pop(s.code, None)
        else:
            todo.append(s)
    if not todo:
        return
    log.info("fetching %d stations from %s (%d reused)", len(todo), archive.label, len(report.reused))
    bulk = _bulk(archive, todo, windows)
    failing: list[str] = []  # the reasons of consecutive service failures, station by station
    for s in todo:
        t1, t2 = windows[s.code]
        st, reason = _from_bulk(bulk, s, t1, t2, config)
        # asked on its own: no bulk call, or missing/incomplete in the bulk answer (a transfer
        # cut on a record boundary looks complete; gaps or clipping would come back the same)
        cut = isinstance(archive, FDSNArchive) and reason.startswith(("no data", "incomplete"))
        if st is None and (bulk is None or cut):
            if len(failing) >= MAX_SERVICE_FAILURES:
                reason = f"not requested: {archive.label} failed for the last {len(failing)} stations ({failing[-1]})"
            else:
                st, reason = _per_station(archive, s, t1, t2)
                if st is not None:
                    st, reason = check_station(st, s, t1, t2, config)
                failing = failing + [reason] if st is None and reason.startswith(archive.label) else []
        if st is None:
            report.dropped[s.code] = reason
            log.info("dropped %s: %s", s.code, reason)
            continue
        write_atomic(raw / _raw_name(s), lambda tmp, st=st: st.write(tmp, format="MSEED"))
        report.used[s.code] = _raw_name(s)
        report.dropped.pop(s.code, None)


def _write_inventory(inventory: Inventory, used: list[SelectedStation], path: Path) -> None:
    """StationXML of the channels used, with their responses."""
    parts = Inventory(networks=[], source="cmtflow")
    for s in used:
        for channel in s.channels:
            net, sta, loc, cha = channel.split(".")
            parts += inventory.select(network=net, station=sta, location=loc, channel=cha)
    write_atomic(path, lambda tmp: parts.write(tmp, format="STATIONXML"))


def write_stations_report(workspace: RunWorkspace, quake: Earthquake, used: list[SelectedStation],
                          report: FetchReport) -> Path:
    """``stations.json``: every station considered, used (with geometry) or dropped (reason)."""
    used = [{**s.as_dict(), "raw": report.used[s.code], "reused": s.code in report.reused,
             **({"replaces": report.replaced[s.code]} if s.code in report.replaced else {})} for s in used]
    return write_json_atomic(workspace.stations_report, {
        "event": quake.as_dict(), "used": used,
        "dropped": [{"station": code, "reason": reason} for code, reason in sorted(report.dropped.items())],
    })
