"""Waveform retrieval into the run workspace, with a reason for every station left out.

Three archives behind one call shape (:class:`FDSNArchive`, :class:`SDSArchive` and
:class:`~cmtflow.data.waveforms.FileArchive`, a folder of event files), so the pipeline does
not branch on where data come from. :func:`fetch_waveforms` asks the archive for the
preferred channel sets of all stations at once (a bulk request), falls back to one request
per station when the bulk answer fails or cannot be read (a truncated transfer, a corrupt
record), and decides per station and per component (:func:`decide_station`): every channel
is checked (:mod:`cmtflow.data.checks`: signal window covered, gaps, overlaps, sampling
rates, clipping, units); the vertical and the horizontal pair are used where they pass; a
set that fails is replaced by the station's next one (another location or band), a clipped
broadband set by the strong-motion one. One raw miniSEED file per station plus the
StationXML of the channels used are written atomically; stations already fetched by an
earlier attempt are reused. ``stations.json`` lists every station considered: used (its
components, units and every decision with its reason), or dropped with the reason.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import obspy
from obspy import Inventory, Stream, UTCDateTime

from cmtflow.data.arrivals import records_reach, window_end
from cmtflow.data.checks import (SLOWEST_WAVE_KM_S, CheckConfig, ChannelCheck, channel_units, check_channel,
                                 earliest_p_s, signal_window)
from cmtflow.data.disturbances import tilt_problem
from cmtflow.data.events import Earthquake
from cmtflow.data.instrument import long_period_problem
from cmtflow.data.metadata import usable_response
from cmtflow.data.selection import Selection, SelectedStation, component_set, is_vertical
from cmtflow.data.services import NoDataError, ServiceConfig, ServiceError, call_with_retries, make_client
from cmtflow.data.station_set import StationSet, UsedStation
from cmtflow.errors import CmtflowError
from cmtflow.workspace import RunWorkspace, write_atomic

log = logging.getLogger(__name__)


#: A data centre whose requests for this many stations in a row failed (after retries) is
#: not asked for the rest: a service that is down fails the fetch in minutes, not hours,
#: and the task's own retries try again later.
MAX_SERVICE_FAILURES = 3


#: Seconds after a window's end within which a local archive (an SDS archive that SeedLink
#: or a data centre's mirror fills in real time) may still receive its records.
LOCAL_ARCHIVE_LATENCY_S = 600.0


class TooFewStationsError(CmtflowError):
    """Fewer usable stations than the configured minimum.

    :param retriable: whether a later attempt can find more: a data centre can (its data
        arrive late, or it is back up), a local archive only while its windows are recent.
    :param report: what the fetch did (``stations.json`` holds the same).
    """

    def __init__(self, message: str, retriable: bool = True, report: "FetchReport | None" = None):
        super().__init__(message)
        self.retriable = retriable
        self.report = report


def latest_window_end(quake: Earthquake, stations: list[SelectedStation], config: FetchConfig) -> UTCDateTime:
    """The end of the latest request window of ``stations``: the farthest station's."""
    return max(time_window(quake, s.distance_km, config)[1] for s in stations)


def due_times(quake: Earthquake, stations: list[SelectedStation], config: FetchConfig) -> dict[str, UTCDateTime]:
    """When each station's data should be at the data centre: the end of the window its
    records must cover (:func:`~cmtflow.data.checks.signal_window`) plus ``config.latency_s``."""
    return {s.code: window_end(quake, s, config.checks) + config.latency_s for s in stations}


def more_data_may_come(archive, window_ends: list[UTCDateTime], now: UTCDateTime | None = None) -> bool:
    """Whether a later attempt could find records this one did not: always from a data centre
    (``archive.remote``), from a local archive (SDS, a folder of files) only within
    :data:`LOCAL_ARCHIVE_LATENCY_S` of the latest window's end: after that, no data stays no
    data, and retrying it only delays the failure."""
    if getattr(archive, "remote", False):
        return True
    now = now or UTCDateTime()
    return bool(window_ends) and max(window_ends) + LOCAL_ARCHIVE_LATENCY_S > now


@dataclass(frozen=True)
class FetchConfig:
    """What to ask for, and the rules a record must pass (:mod:`cmtflow.data.checks`).

    The request runs from ``pre_origin_s`` before the origin (pre-event noise, when the
    archive has it) to the arrival of the slowest wave (``distance / SLOWEST_WAVE_KM_S``)
    plus ``post_s``; the record must cover the signal window only.

    :param min_stations: fewer usable stations than this fails the fetch.
    :param latency_s: seconds after a window's end until its records are usually at the data
        centre: the first look for them (:mod:`cmtflow.data.arrivals`), and, where nobody
        looked, the prediction of which stations may still come (:attr:`FetchReport.pending`).
    :param deadline_s: seconds after the origin until which a station whose data are not at
        the archive yet is pending (a later run may have it); after it, dropped.
    :param checks: the acceptance rules (signal window, gaps, clipping, units).
    """

    pre_origin_s: float = 120.0
    post_s: float = 180.0
    min_stations: int = 3
    latency_s: float = 10.0
    deadline_s: float = 1800.0
    checks: CheckConfig = CheckConfig()


def time_window(quake: Earthquake, distance_km: float, config: FetchConfig = FetchConfig()
                ) -> tuple[UTCDateTime, UTCDateTime]:
    """The request window of a station at ``distance_km``."""
    return (quake.time - config.pre_origin_s, quake.time + distance_km / SLOWEST_WAVE_KM_S + config.post_s)


# ----------------------------------------------------------------------------- archives
class FDSNArchive:
    """An FDSN dataselect service (or the EIDA routing client), retried."""

    remote = True

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

    remote = False

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
        # unmerged: segments at another sampling rate are resampled by the checks, not refused
        st = self.client.get_waveforms(net, sta, loc, cha, t1, t2, merge=False)
        if not len(st):
            raise NoDataError(f"{self.label}: no data for {net}.{sta}.{loc}.{cha}")
        return st


# ----------------------------------------------------------------------------- decisions
@dataclass
class StationData:
    """A station's usable records: the channel set used, its components and why.

    :param components: ``"ZRT"``, ``"Z"`` (no usable horizontal pair) or ``"RT"`` (no vertical).
    :param units: ``{"source", "quantity", "scale"}`` of the records (see ``channel_units``).
    :param noise: seconds of record before the signal window (the noise window; 0: none).
    :param spans: the time each record covers (ISO start and end), ``"Z"`` for the vertical and
        ``"H"`` for the horizontal pair (the part both horizontals cover): measurement windows
        are kept inside it and the synthetics are cut to it before they are filtered.
    :param decisions: one line per channel set tried and per channel left out, with the reason.
    """

    station: SelectedStation
    stream: Stream
    components: str
    units: dict
    noise_s: float
    decisions: list[str] = field(default_factory=list)
    spans: dict[str, list[str]] = field(default_factory=dict)

    def used(self, raw: str, reused: bool, replaces: str | None, config: CheckConfig) -> UsedStation:
        """Its row of the station set: a noise window where the record has enough before the
        signal window (``config.min_noise_s``)."""
        noise = self.noise_s >= config.min_noise_s
        return UsedStation(self.station, raw, self.components, self.units, self.spans, noise, round(self.noise_s, 1),
                           tuple(self.decisions), reused,
                           None if noise else f"no noise window (record starts {self.noise_s:.0f} s before the "
                                              "signal window): signal-to-noise test skipped", replaces)


def _set_label(ids) -> str:
    net, sta, loc, cha = ids[0].split(".")
    return f"{loc or '--'}.{cha[:2]}?"


def _inventory_channel(inventory: Inventory, cid: str, time: UTCDateTime):
    net, sta, loc, cha = cid.split(".")
    found = inventory.select(network=net, station=sta, location=loc, channel=cha, time=time)
    return next((c for n in found for s in n for c in s), None)


def judge_set(st: Stream, ids: tuple[str, ...], quake: Earthquake, station: SelectedStation, inventory: Inventory,
              config: CheckConfig, request: tuple | None = None) -> tuple[dict[str, ChannelCheck], str, dict | None]:
    """Every channel of one set checked (and trimmed to the ``request`` window [t1, t2):
    services differ on whether the sample at t2 is included); the components they give
    (``"ZRT"``, ``"Z"``, ``"RT"`` or ``""``) and their common units."""
    window = signal_window(quake.time, station.distance_km, quake.depth_km, config)
    checks, units, metas = {}, {}, {}
    for cid in ids:
        cha = cid.split(".")[3]
        traces = st.select(id=cid)
        meta = metas[cid] = _inventory_channel(inventory, cid, quake.time)
        response = meta.response if meta is not None and usable_response(meta.response) else None
        unit, why = channel_units(traces, response, config)
        if unit is None:
            checks[cid] = ChannelCheck(cha, reason=why)
            continue
        units[cid] = unit
        checks[cid] = check_channel(traces, cha, window, unit, response, config)
        trace = checks[cid].trace
        if trace is not None and request is not None:
            trace.trim(request[0], request[1] - 0.5 * trace.stats.delta, nearest_sample=False)
        if trace is not None and unit["quantity"] == "counts":
            _check_sensor(checks[cid], response, config)
    _check_tilt(checks, metas, units, quake, station, config)
    good = {cid: metas[cid] for cid, c in checks.items() if c.trace is not None and metas[cid] is not None}
    chosen, _ = component_set({cid.split(".")[3][2]: meta for cid, meta in good.items()})
    comps = ("Z" if any(is_vertical(c) for c in chosen) else "") + (
        "RT" if sum(not is_vertical(c) for c in chosen) == 2 else "")
    used_units = {units[f"{station.network}.{station.station}.{c.location_code}.{c.code}"]["source"] for c in chosen}
    if len(used_units) > 1:  # one station, one kind of record: a mix says the files are not what they seem
        for check in checks.values():
            check.reason = check.reason or f"the channels' units come from different sources ({', '.join(used_units)})"
        return checks, "", None
    unit = next((units[cid] for cid in units if cid.split(".")[3] in {c.code for c in chosen}), None)
    for cid, check in checks.items():
        if check.trace is not None and cid.split(".")[3] not in {c.code for c in chosen}:
            check.reason = "not part of a vertical or a horizontal pair"
    return checks, comps, unit


def record_spans(stream: Stream, inventory: Inventory, time: UTCDateTime) -> dict[str, list[str]]:
    """``{"Z": [start, end], "H": [start, end]}`` (ISO) of a station's records: the vertical's,
    and the part both horizontals cover (see :class:`StationData`)."""
    groups: dict[str, list] = {}
    for tr in stream:
        meta = _inventory_channel(inventory, tr.id, time)
        vertical = is_vertical(meta) if meta is not None else tr.stats.channel[-1] == "Z"
        groups.setdefault("Z" if vertical else "H", []).append(tr)
    return {key: [str(max(tr.stats.starttime for tr in trs)), str(min(tr.stats.endtime for tr in trs))]
            for key, trs in sorted(groups.items())}


def _check_sensor(check: ChannelCheck, response, config: CheckConfig) -> None:
    """Refuse a channel whose sensor does not reach the band's longest period
    (:mod:`cmtflow.data.instrument`)."""
    problem = long_period_problem(response, config.longest_period_s)
    if problem:
        check.trace, check.reason = None, problem


def _check_tilt(checks: dict[str, ChannelCheck], metas: dict, units: dict, quake: Earthquake,
                station: SelectedStation, config: CheckConfig) -> None:
    """Refuse the horizontal records (counts) that carry a tilt step (:mod:`cmtflow.data.disturbances`)."""
    if not config.longest_period_s:
        return
    counts = {cid: c for cid, c in checks.items() if c.trace is not None and metas[cid] is not None
              and units[cid]["quantity"] == "counts" and usable_response(metas[cid].response)}
    vertical = next(((c.trace, metas[cid].response) for cid, c in counts.items() if is_vertical(metas[cid])), None)
    onset = quake.time + earliest_p_s(station.distance_km, quake.depth_km)
    for cid, check in counts.items():
        if is_vertical(metas[cid]):
            continue
        problem = tilt_problem(check.trace, metas[cid].response, vertical, onset, config.longest_period_s)
        if problem:
            check.trace, check.reason = None, problem


def decide_station(get_set, station: SelectedStation, quake: Earthquake, inventory: Inventory,
                   config: CheckConfig, request: tuple | None = None) -> tuple[StationData | None, str]:
    """The best channel set of a station: the preferred one, else its fallbacks (other
    locations and bands), and strong-motion sets where a broadband one was clipped.

    :param get_set: ``ids -> (Stream | None, reason)``, the records of a channel set.
    :returns: the station's data, or None and the reasons of every set tried.
    """
    queue = [station.channels, *station.fallbacks]
    decisions: list[str] = []
    best, strong_added, first, tried = None, False, True, []
    while queue:
        ids = queue.pop(0)
        label = _set_label(ids)
        tried.append(label)
        st, reason = get_set(ids)
        if st is None:
            decisions.append(f"{label}: {reason}")
            if first and reason.startswith("not requested"):
                break
            first = False
            continue
        first = False
        if reason:
            decisions.append(f"{label}: {reason}")
        checks, comps, unit = judge_set(st, ids, quake, station, inventory, config, request)
        for cid, check in checks.items():
            if check.reason:
                decisions.append(f"{cid.split('.')[3]}: {check.reason}")
            for note in check.notes:
                decisions.append(f"{cid.split('.')[3]}: {note}")
        if any(c.clipped for c in checks.values()) and not strong_added:
            queue += list(station.strong_motion)
            strong_added = True
        if comps and (best is None or len(comps) > len(best.components)):
            used = [cid for cid, c in checks.items() if c.trace is not None and not c.reason]
            best = StationData(station.with_channels(tuple(used)), Stream([checks[c].trace for c in used]), comps,
                               unit, min(checks[c].noise_s for c in used))
            best.spans = record_spans(best.stream, inventory, quake.time)
            decisions.append(f"{label}: components {comps}" + (" (strong motion: the broadband records are clipped)"
                                                                if tuple(ids) in station.strong_motion else ""))
        elif not comps:
            decisions.append(f"{label}: no usable component")
        if best is not None and len(best.components) == 3:
            break
    if best is None:
        if len(tried) == 1:  # one set: its label says nothing the station's code does not
            decisions = [d[len(tried[0]) + 2:] if d.startswith(tried[0] + ": ") else d for d in decisions]
        return None, "; ".join(decisions)
    if station.note and best.station.channels == station.channels:
        decisions.append(station.note)
    best.decisions = decisions
    return best, ""


# ----------------------------------------------------------------------------- fetch
@dataclass
class FetchReport:
    """What the fetch did: stations used (``NET.STA`` -> file), reused, dropped with reasons,
    near-duplicates used in place of a failed station (``alternate -> failed``), per used
    station its :class:`StationData`, and the stations not used whose data were not at the
    archive yet, or that it failed to serve (``NET.STA`` -> the deadline until which a later
    run may find them, ISO)."""

    used: dict[str, str] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    replaced: dict[str, str] = field(default_factory=dict)
    data: dict[str, StationData] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    unserved: set[str] = field(default_factory=set)  # stations the archive failed to serve (down, timing out)


def _raw_name(station: SelectedStation) -> str:
    return f"{station.network}.{station.station}.{station.location}.mseed"


def _read_raw(path: Path) -> Stream | None:
    try:
        return obspy.read(str(path), format="MSEED")
    except Exception:  # an unreadable earlier file is fetched again
        return None


def _bulk(archive, todo: list[SelectedStation], windows: dict[str, tuple]) -> Stream | None:
    """One request for the preferred sets of all stations; None when the archive has no bulk
    call or it failed."""
    requests = [(s.network, s.station, s.location, c.split(".")[-1], *windows[s.code])
                for s in todo for c in s.channels]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # ObsPy warns on records it cannot read
            return archive.get_bulk(requests)
    except NotImplementedError:
        return None
    except NoDataError:
        return Stream()
    except Exception as exc:  # a failed service or an unreadable answer: go station by station
        log.warning("bulk request to %s failed (%s); asking station by station", archive.label, exc)
        return None


def _request_set(archive, ids, t1, t2) -> tuple[Stream | None, str]:
    """The records of a channel set, asked channel by channel; a channel whose records
    cannot be read is left out with the reason (the others may still serve), a failing
    service fails the set."""
    st, problems = Stream(), []
    for channel in ids:
        net, sta, loc, cha = channel.split(".")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                st += archive.get(net, sta, loc, cha, t1, t2)
        except NoDataError:
            continue  # judged per channel: "no data"
        except ServiceError as exc:
            return None, str(exc)
        except Exception as exc:  # a corrupt or truncated miniSEED record: ObsPy's reader fails or warns
            problems.append(f"corrupt miniSEED for {channel}: {' '.join(str(exc).split())[:200]}")
    if not len(st):
        return None, "; ".join(problems) or "no data"
    return st, "; ".join(problems)


def fetch_waveforms(quake: Earthquake, selection: Selection, inventory: Inventory, archive,
                    workspace: RunWorkspace, config: FetchConfig = FetchConfig(),
                    now: UTCDateTime | None = None, not_arrived: set[str] | None = None) -> FetchReport:
    """Fetch, check and store the selected stations (see module docstring).

    A station that fails is replaced by its near-duplicates (``selection.alternates``),
    nearest first, when they have good data.

    :param inventory: StationXML with the responses of the selected channels.
    :param now: the time of the request (default: now).
    :param not_arrived: the stations whose data the archive did not have complete when last
        asked (:func:`cmtflow.data.arrivals.probe`); None: those whose data were not due yet
        by the clock (window end plus ``config.latency_s``). Before the deadline those not used
        are pending (:attr:`FetchReport.pending`), after it dropped: no data by the deadline.
    :raises TooFewStationsError: fewer usable stations than ``config.min_stations``;
        ``stations.json`` is written all the same, so the reasons are on record.
    """
    asked_at = now or UTCDateTime()
    report = FetchReport(dropped=dict(selection.dropped))
    if not_arrived is None:
        not_arrived = {code for code, time in due_times(quake, selection.stations, config).items() if time > asked_at}
    _fetch_group(selection.stations, quake, archive, workspace, config, report, inventory, not_arrived)
    backups = [alt for s in selection.stations if s.code not in report.used
               for alt in selection.alternates.get(s.code, [])[:1]]
    if backups:
        log.info("trying %d near-duplicate stations in place of failed ones", len(backups))
        _fetch_group(backups, quake, archive, workspace, config, report, inventory, not_arrived)
        for alt in backups:
            if alt.code in report.used:
                report.replaced[alt.code] = next(code for code, alts in selection.alternates.items() if alt in alts)
    _mark_pending(report, [s.code for s in selection.stations], not_arrived, asked_at,
                  quake.time + config.deadline_s)
    used = [report.data[s.code].station for s in selection.stations + backups if s.code in report.used]
    _write_inventory(inventory, used, workspace.raw_inventory)
    write_stations_report(workspace, quake, used, report, config)
    if len(report.used) < config.min_stations:
        # nothing selected (all out of the distance range, say): no window that data could fill
        ends = [latest_window_end(quake, selection.stations, config)] if selection.stations else []
        retriable = bool(report.unserved) or more_data_may_come(archive, ends)
        raise TooFewStationsError(
            f"only {len(report.used)} usable stations, at least {config.min_stations} needed (reasons in "
            f"{workspace.stations_report})" + ("" if retriable else f"; {archive.label} is local and its windows "
                                               "ended long ago: trying again cannot find more"), retriable, report)
    return report


def _mark_pending(report: FetchReport, selected: list[str], not_arrived: set[str], asked_at: UTCDateTime,
                  deadline: UTCDateTime) -> None:
    """The selected stations not used (nor replaced) whose data were not at the archive, or
    that it failed to serve: pending until ``deadline``; after it, those waited for are dropped
    for the deadline (the ones it failed to serve keep the service's reason)."""
    for code in sorted(set(selected) & (not_arrived | report.unserved)):
        if code in report.used or code in report.replaced.values():
            continue
        reason = report.dropped.get(code, "no data")
        if asked_at < deadline:
            report.pending[code] = str(deadline)
            report.dropped[code] = f"{reason} (pending: not at the data centre yet; looked for until {deadline})"
        elif code in not_arrived:
            report.dropped[code] = f"no data by the deadline {deadline}: {reason}"


def _fetch_group(stations: list[SelectedStation], quake: Earthquake, archive, workspace: RunWorkspace,
                 config: FetchConfig, report: FetchReport, inventory: Inventory,
                 not_arrived: set[str] = frozenset()) -> None:
    """Fetch ``stations`` into ``workspace.raw`` (reusing good earlier files); update ``report``.

    A station of ``not_arrived`` (its data were not at the data centre yet) whose record stops
    short of its signal window is left for a later run: its record is still arriving, not cut
    (a record cut by its archive is used as far as it reaches)."""
    raw = workspace.raw
    windows = {s.code: time_window(quake, s.distance_km, config) for s in stations}
    todo = []
    for s in stations:
        path = raw / _raw_name(s)
        existing = _read_raw(path) if path.is_file() else None
        if existing is not None:
            data, _ = decide_station(lambda ids, st=existing: (st, "") if st.select(id=ids[0]) else (None, "no data"),
                                     s, quake, inventory, config.checks)
            if data is not None:
                report.used[s.code], report.data[s.code] = _raw_name(data.station), data
                data.decisions.append("reused the records of an earlier attempt")
                report.reused.append(s.code)
                report.dropped.pop(s.code, None)
                continue
        todo.append(s)
    if not todo:
        return
    log.info("fetching %d stations from %s (%d reused)", len(todo), archive.label, len(report.reused))
    bulk = _bulk(archive, todo, windows)
    failing: list[str] = []  # the reasons of consecutive service failures, station by station
    for s in todo:
        t1, t2 = windows[s.code]
        unserved: list[str] = []  # this station's sets the archive failed to serve

        def get_set(ids, s=s, t1=t1, t2=t2, unserved=unserved):
            if tuple(ids) == s.channels and bulk is not None:
                st = bulk.select(network=s.network, station=s.station, location=s.location)
                # complete in the bulk answer: judged as is; else asked on its own (a transfer
                # cut on a record boundary looks complete but misses stations or their ends)
                if len(st) and not (isinstance(archive, FDSNArchive)
                                    and not records_reach(st, ids, window_end(quake, s, config.checks), slack_s=1.0)):
                    return st, ""
            if len(failing) >= MAX_SERVICE_FAILURES:
                unserved.append(ids)
                return None, f"not requested: {archive.label} failed for the last {len(failing)} stations ({failing[-1]})"
            st, reason = _request_set(archive, ids, t1, t2)
            service_failed = st is None and reason.startswith(archive.label)
            failing[:] = failing + [reason] if service_failed else []
            if service_failed:
                unserved.append(ids)
            return st, reason

        data, reason = decide_station(get_set, s, quake, inventory, config.checks, (t1, t2))
        if data is not None and s.code in not_arrived and _ends_early(data, quake, s, config):
            data, reason = None, "record still arriving: it ends before the signal window does"
        if data is None:
            report.dropped[s.code] = reason
            if unserved:
                report.unserved.add(s.code)
            log.info("dropped %s: %s", s.code, reason)
            continue
        name = _raw_name(data.station)
        mixed = len({tr.data.dtype for tr in data.stream}) > 1
        for tr in data.stream:  # one encoding, following the data (counts, or floats once a gap is filled)
            tr.stats.pop("mseed", None)
            tr.data = tr.data.astype(np.float64) if mixed else tr.data
        write_atomic(raw / name, lambda tmp, st=data.stream: st.write(tmp, format="MSEED"))
        report.used[s.code], report.data[s.code] = name, data
        report.dropped.pop(s.code, None)


def _ends_early(data: StationData, quake: Earthquake, station: SelectedStation, config: FetchConfig) -> bool:
    """Whether any of a station's records ends before its signal window does."""
    end = window_end(quake, station, config.checks)
    return any(tr.stats.endtime < end - tr.stats.delta for tr in data.stream)


def _write_inventory(inventory: Inventory, used: list[SelectedStation], path: Path) -> None:
    """StationXML of the channels used, with their responses."""
    parts = Inventory(networks=[], source="cmtflow")
    for s in used:
        for channel in s.channels:
            net, sta, loc, cha = channel.split(".")
            parts += inventory.select(network=net, station=sta, location=loc, channel=cha)
    write_atomic(path, lambda tmp: parts.write(tmp, format="STATIONXML"))


def write_stations_report(workspace: RunWorkspace, quake: Earthquake, used: list[SelectedStation],
                          report: FetchReport, config: FetchConfig = FetchConfig()) -> Path:
    """``stations.json``: every station considered, used (with geometry, the components and
    units of its records and every decision with its reason) or dropped (the reason)."""
    rows = tuple(report.data[s.code].used(report.used[s.code], s.code in report.reused, report.replaced.get(s.code),
                                          config.checks) for s in used)
    return StationSet(quake.as_dict(), rows,
                      tuple({"station": code, "reason": reason} for code, reason in sorted(report.dropped.items())),
                      tuple({"station": code, "until": until} for code, until in sorted(report.pending.items()))
                      ).write(workspace.stations_report)
