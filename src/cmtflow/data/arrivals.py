"""Which stations' data are at the archive yet: asked of the archive, not predicted by the clock.

During an earthquake a data centre receives each station's records with that network's own
latency (seconds for a SeedLink feed, minutes for a dial-up or a mirror, never for a network
that is down). The wait before the first fetch, and the updates after it, follow what is
there: :func:`probe` asks the archive for the last :data:`TAIL_S` seconds of each station's
signal window (:func:`~cmtflow.data.checks.signal_window`): the data centre's FDSN
availability service where it has one (:func:`availability`, one request for all stations),
else the last :data:`TAIL_S` seconds asked of the dataselect service, the SDS archive or the
folder of files; a station is *in* when one of its channel sets reaches the window's end on
every channel. :func:`first_solution_ready` says when the stations in are enough for a first
solution, by count and by azimuth. Until the run's deadline (``data_deadline_s`` after the
origin) a station not in is *pending*, after it *dropped: no data by the deadline*.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field

from obspy import Stream, UTCDateTime

from cmtflow.data.checks import CheckConfig, signal_window
from cmtflow.data.events import Earthquake
from cmtflow.data.selection import SelectedStation, azimuthal_gap
from cmtflow.data.services import NoDataError

log = logging.getLogger(__name__)

#: Seconds at the end of a station's signal window asked for by a probe: the window is
#: complete at the archive when this last part is (records arrive in time order).
TAIL_S = 30.0

#: The first solution goes out from ``wait_for_stations`` stations only when they leave no
#: azimuthal gap wider than this (degrees), or than the whole selection's where that is wider:
#: a mechanism from stations on one side is poorly constrained however many they are.
FIRST_SOLUTION_GAP_DEG = 180.0


@dataclass
class Arrivals:
    """What the archive had when asked.

    :param arrived: ``NET.STA`` -> when it was first seen complete (ISO).
    :param checked_at: when the archive was last asked (ISO).
    :param deadline: after this (ISO) a station not in is dropped, not waited for.
    """

    arrived: dict[str, str] = field(default_factory=dict)
    checked_at: str = ""
    deadline: str = ""

    def as_dict(self) -> dict:
        return {"arrived": dict(sorted(self.arrived.items())), "checked_at": self.checked_at,
                "deadline": self.deadline}

    @classmethod
    def from_dict(cls, record: dict) -> "Arrivals":
        return cls(dict(record.get("arrived", {})), record.get("checked_at", ""), record.get("deadline", ""))


def window_end(quake: Earthquake, station: SelectedStation, checks: CheckConfig) -> UTCDateTime:
    """The end of the signal window a station's records must reach (UTC)."""
    return signal_window(quake.time, station.distance_km, quake.depth_km, checks)[1]


def records_reach(st: Stream, ids, end: UTCDateTime, slack_s: float | None = None) -> bool:
    """Whether ``st`` has records of every channel of ``ids`` up to ``end``, within ``slack_s``
    seconds (default: one sample)."""
    for cid in ids:
        traces = st.select(id=cid)
        if not len(traces) or max(tr.stats.endtime + (tr.stats.delta if slack_s is None else slack_s)
                                  for tr in traces) < end:
            return False
    return True


def _tail(archive, station: SelectedStation, end: UTCDateTime, bulk: Stream | None) -> Stream:
    """The last :data:`TAIL_S` seconds of every channel set of ``station``."""
    if bulk is not None:
        return bulk.select(network=station.network, station=station.station)
    st = Stream()
    for ids in (station.channels, *station.fallbacks):
        for cid in ids:
            net, sta, loc, cha = cid.split(".")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a corrupt record is the fetch's to judge
                    st += archive.get(net, sta, loc, cha, end - TAIL_S, end)
            except NoDataError:
                continue
    return st


def availability(archive, requests: list[tuple]) -> dict[str, list[tuple[UTCDateTime, UTCDateTime]]] | None:
    """The time spans the data centre of ``archive`` holds for ``requests`` (``(net, sta, loc,
    cha, t1, t2)``), from its FDSN availability service (``/fdsnws/availability/1/query``,
    text format, one POST), by channel id; None where there is none to ask (a local archive,
    a routing service, a data centre without the service or refusing the request): the caller
    then asks the dataselect service itself."""
    if not getattr(archive, "remote", False) or not requests:
        return None
    try:
        base = archive.client.base_url
    except Exception:  # a routing client has no single base URL
        return None
    if not isinstance(base, str) or not base.startswith("http"):
        return None
    body = "format=text\nmergegaps=1.0\n" + "".join(
        f"{n} {s} {loc or '--'} {c} {t1.strftime('%Y-%m-%dT%H:%M:%S')} {t2.strftime('%Y-%m-%dT%H:%M:%S')}\n"
        for n, s, loc, c, t1, t2 in requests)
    request = urllib.request.Request(f"{base.rstrip('/')}/fdsnws/availability/1/query", data=body.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=getattr(archive.service, "timeout", 30.0)) as answer:
            if answer.status == 204:
                return {}
            text = answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        if exc.code == 204:
            return {}
        log.info("no availability service at %s (HTTP %s): asking the dataselect service", base, exc.code)
        return None
    except (OSError, ValueError) as exc:
        log.info("availability service at %s failed (%s): asking the dataselect service", base, exc)
        return None
    spans: dict[str, list[tuple[UTCDateTime, UTCDateTime]]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or line.startswith("#") or len(parts) < 6:
            continue
        try:  # Network Station Location Channel [Quality SampleRate] Earliest Latest
            span = (UTCDateTime(parts[-2]), UTCDateTime(parts[-1]))
        except Exception:
            continue
        loc = "" if parts[2] == "--" else parts[2]
        spans.setdefault(f"{parts[0]}.{parts[1]}.{loc}.{parts[3]}", []).append(span)
    return spans


def _covered(spans: dict, ids: tuple[str, ...], end: UTCDateTime) -> bool:
    return all(any(t1 <= end - TAIL_S and t2 >= end - 1.0 for t1, t2 in spans.get(cid, ())) for cid in ids)


def probe(archive, quake: Earthquake, stations: list[SelectedStation], checks: CheckConfig,
          now: UTCDateTime) -> set[str]:
    """The stations of ``stations`` whose signal windows are complete at ``archive`` now.

    Stations whose windows have not ended by ``now`` are not asked. A data centre that does
    not answer has nothing in (logged): the stations stay pending, and a later probe asks again.
    """
    ends = {s.code: window_end(quake, s, checks) for s in stations}
    due = [s for s in stations if ends[s.code] <= now]
    if not due:
        return set()
    bulk = None
    if getattr(archive, "remote", False):
        requests = [(*cid.split("."), ends[s.code] - TAIL_S, ends[s.code])
                    for s in due for ids in (s.channels, *s.fallbacks) for cid in ids]
        spans = availability(archive, requests)
        if spans is not None:
            return {s.code for s in due if any(_covered(spans, ids, ends[s.code])
                                               for ids in (s.channels, *s.fallbacks))}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bulk = archive.get_bulk(requests)
        except NoDataError:
            bulk = Stream()
        except Exception as exc:  # a data centre down or slow: nothing known to be in
            log.warning("probe of %d stations at %s failed: %s", len(due), archive.label, exc)
            return set()
    arrived = set()
    for s in due:
        end = ends[s.code]
        try:
            tail = _tail(archive, s, end, bulk)
        except Exception as exc:  # one station's files or service failing: that station is not in
            log.info("probe of %s failed: %s", s.code, exc)
            continue
        if any(records_reach(tail, ids, end) for ids in (s.channels, *s.fallbacks)):
            arrived.add(s.code)
    return arrived


def first_solution_ready(arrived: set[str], stations: list[SelectedStation], wait_for: int) -> tuple[bool, str]:
    """Whether the stations in are enough for a solution, and why (or why not).

    Enough: every selected station; or ``wait_for`` of them (0: all) whose azimuthal gap is
    at most :data:`FIRST_SOLUTION_GAP_DEG` (or the whole selection's gap, where that is wider).
    """
    have = [s for s in stations if s.code in arrived]
    if len(have) >= len(stations):
        return True, f"all {len(stations)} stations in"
    if wait_for <= 0 or len(have) < wait_for:
        return False, f"{len(have)} of {len(stations)} stations in, waiting for {wait_for or 'all'}"
    gap, limit = azimuthal_gap(have), max(FIRST_SOLUTION_GAP_DEG, azimuthal_gap(stations))
    if gap > limit + 1e-6:
        return False, (f"{len(have)} of {len(stations)} stations in, but their azimuthal gap is {gap:.0f} deg "
                       f"(at most {limit:.0f} for a first solution)")
    return True, f"{len(have)} of {len(stations)} stations in, azimuthal gap {gap:.0f} deg"


def next_look(quake: Earthquake, stations: list[SelectedStation], arrived: set[str], checks: CheckConfig,
              now: UTCDateTime, latency_s: float, poll_s: float, deadline: UTCDateTime) -> UTCDateTime:
    """When to ask again: ``poll_s`` from now, or later where no station still out has a window
    ended by then (its first look is ``latency_s`` after its window's end); never past ``deadline``."""
    firsts = [window_end(quake, s, checks) + latency_s for s in stations if s.code not in arrived]
    earliest = min(firsts, default=deadline)
    return min(max(now + poll_s, earliest), deadline)
