"""Earthquake alerts: which new earthquakes deserve a ``cmt_inversion`` run.

Each poll asks one or more FDSN event services for the events of an overlapping look-back
window, keeps those that qualify (magnitude, depth, regions with their own thresholds),
merges the same earthquake reported by several agencies (origin times within
``same_time_s`` and epicentres within ``same_distance_km``; the first service listed wins),
and compares them with what earlier polls started (the catalogue's events). A new
earthquake gets a run with a deterministic run id (``alert__<event id>``), so a repeated
poll cannot start it twice; an update (a magnitude that changed by at least
``magnitude_change``) is ignored or re-run, as configured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from obspy import UTCDateTime
from obspy.geodetics import gps2dist_azimuth

from cmtflow.data.events import Earthquake, earthquake_from_obspy
from cmtflow.data.services import NoDataError, ServiceConfig, call_with_retries, make_client
from cmtflow.workspace import sanitised_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Region:
    """A lat/lon box (degrees) with its own magnitude threshold."""

    name: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    min_magnitude: float

    def contains(self, latitude: float, longitude: float) -> bool:
        return self.lat_min <= latitude <= self.lat_max and self.lon_min <= longitude <= self.lon_max


@dataclass(frozen=True)
class AlertConfig:
    """Alert rules.

    :param services: FDSN event providers or URLs, in order of preference.
    :param lookback_minutes: each poll covers this window (overlapping polls miss nothing).
    :param regions: when given, only earthquakes inside one of them qualify, each region with
        its own magnitude threshold; else ``min_magnitude`` applies everywhere.
    :param update_policy: ``ignore`` or ``rerun`` an already-processed earthquake whose
        magnitude changed by at least ``magnitude_change``.
    :param max_computing: runs of ``cmt_inversion`` computing at once (not those waiting for
        their data) above which a poll holds its smaller earthquakes back for a later poll,
        largest first (:func:`hold_back`).
    :param urgent_magnitude: an earthquake this large is started at once, however many runs
        compute: a mainshock never queues behind its aftershocks.
    """

    services: tuple[str, ...] = ("EMSC",)
    lookback_minutes: float = 60.0
    min_magnitude: float = 4.0
    max_depth_km: float = 300.0
    regions: tuple[Region, ...] = ()
    same_time_s: float = 20.0
    same_distance_km: float = 100.0
    update_policy: str = "ignore"
    magnitude_change: float = 0.3
    timeout: float = 30.0
    max_computing: int = 8
    urgent_magnitude: float = 6.0


@dataclass
class PollResult:
    """What a poll found: runs to start (run id -> earthquake), and why others were not."""

    start: dict[str, Earthquake] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def by_magnitude(self) -> list[tuple[str, Earthquake]]:
        """The runs to start, the largest earthquake first: in an aftershock burst the mainshock
        is triggered (and so queued) before the small events of the same poll."""
        return sorted(self.start.items(), key=lambda item: (-item[1].magnitude, item[0]))


def hold_back(result: PollResult, computing: int, config: AlertConfig) -> PollResult:
    """Start only as many of a poll's earthquakes as leave at most ``config.max_computing``
    runs computing, the largest first; the others wait for a later poll (they are not
    remembered as started, so the next poll finds them again), except those of
    ``config.urgent_magnitude`` or more, started at once. Runs waiting for their data hold
    no slot here: they wait in the triggerer, and computing runs are what delay a new one."""
    free = max(0, config.max_computing - computing)
    kept: dict[str, Earthquake] = {}
    for run_id, quake in result.by_magnitude():
        if quake.magnitude >= config.urgent_magnitude or len(kept) < free:
            kept[run_id] = quake
        else:
            result.skipped[quake.event_id] = (f"held back: {computing} runs computing (at most "
                                              f"{config.max_computing}); a later poll starts it, largest first")
    result.start = kept
    return result


def remember_started(catalogue, result: PollResult) -> None:
    """Put the earthquakes whose runs this poll starts into the catalogue at once: the next
    poll then knows them (:func:`known_earthquakes`) while their runs are still queued, before
    their ``resolve_event`` has recorded them, and another agency's report of the same
    earthquake starts nothing."""
    for quake in result.start.values():
        catalogue.record_event(quake.as_dict())


def run_id_for(quake: Earthquake, revision: int = 0) -> str:
    """``alert__<event id>`` (``__r<n>`` for a re-run): the same earthquake, the same run id."""
    safe = sanitised_name(quake.event_id)[:100]
    return f"alert__{safe}" + (f"__r{revision}" if revision else "")


def fetch_recent(service: str, now: UTCDateTime, config: AlertConfig) -> list[Earthquake]:
    """Events of the look-back window at one service (retried; see data.services)."""
    cfg = ServiceConfig(provider=service, timeout=config.timeout, retries=2, backoff=1.0)
    client = make_client(cfg)
    minimum = min([config.min_magnitude] + [r.min_magnitude for r in config.regions])
    try:
        catalog = call_with_retries(
            lambda: client.get_events(starttime=now - 60.0 * config.lookback_minutes, endtime=now,
                                      minmagnitude=minimum), f"event service of {cfg.label}", cfg)
    except NoDataError:
        return []
    quakes = []
    for event in catalog:
        try:
            quakes.append(earthquake_from_obspy(event, cfg.label))
        except Exception as exc:  # one unusable event must not hide the others
            log.error("event service of %s: unusable event %s: %s", cfg.label, event.resource_id, exc)
    return quakes


def qualifies(quake: Earthquake, config: AlertConfig) -> str:
    """Empty if ``quake`` qualifies, else the reason."""
    if quake.depth_km > config.max_depth_km:
        return f"depth {quake.depth_km:.0f} km > {config.max_depth_km:g} km"
    if config.regions:
        region = next((r for r in config.regions if r.contains(quake.latitude, quake.longitude)), None)
        if region is None:
            return "outside the alert regions"
        if quake.magnitude < region.min_magnitude:
            return f"magnitude {quake.magnitude:.1f} < {region.min_magnitude:g} in {region.name}"
        return ""
    if quake.magnitude < config.min_magnitude:
        return f"magnitude {quake.magnitude:.1f} < {config.min_magnitude:g}"
    return ""


def same_earthquake(a: Earthquake, b: Earthquake, config: AlertConfig) -> bool:
    if abs(a.time - b.time) > config.same_time_s:
        return False
    return gps2dist_azimuth(a.latitude, a.longitude, b.latitude, b.longitude)[0] / 1000.0 <= config.same_distance_km


def select_runs(reports: list[list[Earthquake]], known: list[Earthquake], known_runs: set[str],
                config: AlertConfig) -> PollResult:
    """The runs to start from the services' reports (one list per service, in preference
    order), given the earthquakes already processed (``known``) and the run ids that exist."""
    result = PollResult()
    chosen: list[Earthquake] = []
    for quakes in reports:
        for quake in quakes:
            reason = qualifies(quake, config)
            if reason:
                result.skipped[quake.event_id] = reason
                continue
            twin = next((c for c in chosen if same_earthquake(c, quake, config)), None)
            if twin is not None:
                result.skipped[quake.event_id] = f"same earthquake as {twin.event_id} ({twin.provider})"
                continue
            chosen.append(quake)
    for quake in chosen:
        earlier = next((k for k in known if k.event_id == quake.event_id or same_earthquake(k, quake, config)), None)
        if earlier is None:
            run_id = run_id_for(quake)
            if run_id in known_runs:
                result.skipped[quake.event_id] = f"run {run_id} exists"
            else:
                result.start[run_id] = quake
            continue
        changed = abs(quake.magnitude - earlier.magnitude) >= config.magnitude_change
        if not changed or config.update_policy == "ignore":
            result.skipped[quake.event_id] = (f"already processed as {earlier.event_id}"
                                              + (" (update ignored)" if changed else ""))
            continue
        revision = 1
        while run_id_for(earlier, revision) in known_runs:
            revision += 1
        result.start[run_id_for(earlier, revision)] = Earthquake(
            earlier.event_id, quake.time, quake.latitude, quake.longitude, quake.depth_km, quake.magnitude,
            quake.magnitude_type, quake.moment_tensor, quake.provider)
    return result


def poll(config: AlertConfig, now: UTCDateTime | None = None, known: list[Earthquake] | None = None,
         known_runs: set[str] | None = None) -> PollResult:
    """One poll of every service (a service that fails is logged and skipped)."""
    now = now or UTCDateTime()
    reports, errors = [], []
    for service in config.services:
        try:
            reports.append(fetch_recent(service, now, config))
        except Exception as exc:  # a service down or a malformed answer: the others still count
            message = f"event service {service}: {' '.join(str(exc).split())[:300]}"
            log.error(message)
            errors.append(message)
            reports.append([])
    result = select_runs(reports, known or [], known_runs or set(), config)
    result.errors = errors
    return result


def run_conf(quake: Earthquake, template: dict) -> dict:
    """The ``cmt_inversion`` conf of an alert: the agency's event id at its service, over the
    deployment's template (model, band, data source...), with the run's priority from the
    alert's magnitude (:func:`~cmtflow.runconf.run_priority`)."""
    from cmtflow.runconf import run_priority

    return {**template, "event_id": quake.event_id, "event_service": quake.provider, "quakeml": None,
            "origin_time": None, "priority": run_priority({"magnitude": quake.magnitude})}


def config_from_env(env=None) -> tuple[AlertConfig, dict]:
    """The alert rules and the ``cmt_inversion`` conf template of a deployment, from the
    ``CMTFLOW_ALERT_*`` variables (:mod:`cmtflow.config`) of ``env`` (default: this process's)."""
    import os

    from cmtflow.config import Settings
    from cmtflow.errors import CmtflowError

    env = os.environ if env is None else env
    regions = Settings.alert_regions.read(env)
    try:
        regions = tuple(Region(**r) for r in regions)
    except TypeError as exc:
        raise CmtflowError(f"{Settings.alert_regions.name}: {exc}") from None
    config = AlertConfig(
        services=Settings.alert_services.read(env), min_magnitude=Settings.alert_min_magnitude.read(env),
        max_depth_km=Settings.alert_max_depth_km.read(env), lookback_minutes=Settings.alert_lookback_minutes.read(env),
        regions=regions, update_policy=Settings.alert_update_policy.read(env),
        max_computing=Settings.alert_max_computing.read(env),
        urgent_magnitude=Settings.alert_urgent_magnitude.read(env))
    return config, Settings.alert_conf.read(env)


def known_earthquakes(catalogue, now: UTCDateTime, config: AlertConfig) -> tuple[list[Earthquake], set[str]]:
    """What earlier polls started: the catalogue's recent events and its run ids."""
    since = str(now - 60.0 * config.lookback_minutes - 86400.0)
    known = [Earthquake.from_dict(e) for e in catalogue.events(since=since)]
    return known, {r["run_id"] for r in catalogue.runs()}
