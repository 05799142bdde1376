"""Measurement windows.

A window is a time interval on one channel, in seconds after the centroid (origin) time.
Windows come from FLEXWIN selection (Maggi et al. 2009) through pyflex, when the optional
``flexwin`` extra is installed (pyflex is GPL-3, so cmtflow does not depend on it), or from
predicted arrival times: a body-wave window around P (vertical and radial) and a
surface-wave window from S to the slowest surface wave (all components). The arrival-time
windows are also the fallback on a channel where FLEXWIN finds nothing.
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass, replace

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """One measurement window.

    :param channel: channel id ``NET.STA.LOC.CHA`` (component = last letter).
    :param start, end: seconds after the centroid time.
    :param kind: ``"body"`` or ``"surface"`` (selects the distance-weighting exponent).
    :param weight: a weight given with the window (e.g. by a window file), multiplied into
        the data weight.
    """

    channel: str
    start: float
    end: float
    kind: str = "surface"
    weight: float = 1.0

    @property
    def component(self) -> str:
        return self.channel[-1]

    @property
    def station(self) -> str:
        return ".".join(self.channel.split(".")[:2])


#: The group speed where a surface-wave window ends, one longest period later (km/s): the end
#: of the fundamental-mode Rayleigh and Love trains of crustal paths at 10-100 s. Slower
#: arrivals (short-period Airy phases, basin waves) are not measured; the records still reach
#: the slowest wave (:data:`cmtflow.data.checks.SLOWEST_WAVE_KM_S`), so that filtering does not
#: eat into the window.
SURFACE_WINDOW_END_KM_S = 2.8


def phase_windows(channel: str, tp: float, ts: float, distance_km: float, tmax: float,
                  surface_velocity: float = SURFACE_WINDOW_END_KM_S) -> list[Window]:
    """Windows from arrival times (s after centroid) for one channel.

    * body: from ``tp - tmax/2`` to just before S (vertical and radial only), if at least
      one longest period long;
    * surface: from ``ts - tmax/2`` to ``distance / surface_velocity + tmax`` (the slowest
      surface wave plus one longest period).
    """
    comp = channel[-1]
    out = []
    body_end = ts - 0.25 * tmax
    if comp in "ZR" and body_end - (tp - 0.5 * tmax) >= tmax:
        out.append(Window(channel, tp - 0.5 * tmax, body_end, "body"))
    start = ts - 0.5 * tmax
    end = max(distance_km / surface_velocity + tmax, start + 2 * tmax)
    out.append(Window(channel, start, end, "surface"))
    return out


def min_clipped_length_s(tmin: float, tmax: float) -> float:
    """The shortest window (s) left by a record's edge that is still measured: two shortest
    periods and half a longest one (a cross-correlation over less fits noise as well)."""
    return max(2.0 * tmin, 0.5 * tmax)


def clip_to_record(window: Window, span: tuple[float, float] | None, tmin: float, tmax: float,
                   margin_s: float = 0.0) -> tuple[Window | None, str]:
    """``window`` inside the record's ``span`` (s after the centroid, ``margin_s`` in from each
    end), as far as it reaches, and a note when it was cut; None and the reason when less than
    :func:`min_clipped_length_s` of it is left. A record is used as far as it reaches: the
    synthetics are cut to the same span before they are filtered, so that both see the same
    edges (:func:`cmtflow.processing.preprocess.preprocess_station`)."""
    if span is None:
        return window, ""
    first, last = span[0] + margin_s, span[1] - margin_s
    start, end = max(window.start, first), min(window.end, last)
    if start <= window.start and end >= window.end:
        return window, ""
    need = min(min_clipped_length_s(tmin, tmax), window.end - window.start)
    where = (f"record {span[0]:.0f}..{span[1]:.0f} s, {window.kind} window {window.start:.0f}..{window.end:.0f} s "
             "after the centroid")
    if end - start < need:
        return None, f"outside the record: {where}, {max(end - start, 0.0):.0f} s of it inside (< {need:.0f} s)"
    return replace(window, start=float(start), end=float(end)), f"cut to the record: {where}"


class _PeakToPeakArray(np.ndarray):
    """An array with the ``ptp`` method NumPy 2 removed; pyflex 0.2.0 (the latest release)
    still calls ``trace.data.ptp()`` in its data-quality check."""

    def ptp(self, *args, **kwargs):
        return np.ptp(np.asarray(self), *args, **kwargs)


def pyflex_available() -> bool:
    """True when pyflex (the ``flexwin`` extra) can be imported."""
    try:
        import pyflex  # noqa: F401
    except ImportError:
        return False
    return True


def flexwin_config(tmin: float, tmax: float):
    """pyflex configuration for a period band (s), tuned for regional CMT inversion.

    FLEXWIN's criteria, with thresholds that follow the band: windows must correlate at
    0.7 or better, be shifted by at most half the shortest period (more risks a cycle skip)
    and have |dlnA| below 1; the STA/LTA water level 0.08 and the c-parameters are those of
    the FLEXWIN paper's regional examples.
    """
    import pyflex

    return pyflex.Config(min_period=tmin, max_period=tmax, stalta_waterlevel=0.08,
                         tshift_acceptance_level=0.5 * tmin, dlna_acceptance_level=1.0,
                         cc_acceptance_level=0.7, c_0=0.7, c_1=2.0, c_3a=1.0, c_3b=2.0, c_4a=3.0, c_4b=10.0,
                         min_surface_wave_velocity=2.5, max_time_before_first_arrival=tmin)


@functools.lru_cache(maxsize=None)
def _taup_model(model: str = "iasp91", **kwargs):
    from obspy.taup import TauPyModel

    return TauPyModel(model=model, **kwargs)


def _load_taup_model_once() -> None:
    """pyflex's ``WindowSelector.__init__`` loads its TauP model from file for every channel
    (15 ms each, half of the misfit stage), although our selector never asks it for a time:
    the model is loaded once per process instead."""
    import pyflex.window_selector

    pyflex.window_selector.TauPyModel = _taup_model


def flexwin_windows(channel: str, obs: np.ndarray, syn: np.ndarray, t0: float, dt: float, origin_time,
                    event_latlon_depth: tuple[float, float, float], station_latlon: tuple[float, float],
                    tmin: float, tmax: float, tp: float, ts: float) -> list[Window]:
    """FLEXWIN windows of one channel (pyflex), as :class:`Window` in s after the centroid.

    :param obs, syn: band-passed observed and synthetic samples on one axis starting ``t0``
        s after ``origin_time``, sampled at ``dt``.
    :param tp, ts: first P and S arrival times (s after the centroid) in the model of the
        synthetics. FLEXWIN's travel-time checks use them instead of pyflex's global ak135
        TauP times: consistent with the regional model, and TauP was 90 % of pyflex's time.
        Windows ending before S are body-wave windows.
    """
    import pyflex
    from obspy import Trace

    _load_taup_model_once()

    class RegionalSelector(pyflex.WindowSelector):
        def calculate_ttimes(self):
            self.ttimes = [{"time": tp, "name": "P"}, {"time": ts, "name": "S"}]

    lat, lon, depth_km = event_latlon_depth
    traces = []
    for data in (obs, syn):
        tr = Trace(np.nan_to_num(np.asarray(data, float)).view(_PeakToPeakArray))
        tr.stats.update(dict(delta=dt, starttime=origin_time + t0, channel=channel.split(".")[-1]))
        traces.append(tr)
    event = pyflex.Event(latitude=lat, longitude=lon, depth_in_m=depth_km * 1000.0, origin_time=origin_time)
    station = pyflex.Station(latitude=station_latlon[0], longitude=station_latlon[1])
    # pyflex logs a warning per channel when the trace starts too close to P for a noise
    # estimate (our traces start shortly before P by design) and divides by zero on flat
    # traces; its verdicts are what matters here
    logging.getLogger("pyflex").setLevel(logging.ERROR)
    try:
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            found = RegionalSelector(traces[0], traces[1], flexwin_config(tmin, tmax), event=event,
                                     station=station).select_windows()
    except Exception as exc:  # pyflex raises bare exceptions on degenerate traces
        log.info("%s: FLEXWIN failed (%s)", channel, exc)
        return []
    out = []
    for w in found:
        start = float(w.relative_starttime) + t0
        end = float(w.relative_endtime) + t0
        out.append(Window(channel, start, end, "body" if end <= ts else "surface"))
    return out


def use_flexwin(picker: str) -> bool:
    """Whether ``picker`` (``auto``, ``flexwin``, ``phases``) selects FLEXWIN here."""
    if picker not in ("auto", "flexwin", "phases"):
        raise ValueError(f"picker must be 'auto', 'flexwin' or 'phases', got {picker!r}")
    if picker == "flexwin" and not pyflex_available():
        from cmtflow.errors import CmtflowError

        raise CmtflowError("FLEXWIN windows need pyflex: pip install 'cmtflow[flexwin]' (GPL-3)")
    return picker == "flexwin" or (picker == "auto" and pyflex_available())


def channel_windows(channel: str, obs: np.ndarray, syn: np.ndarray, t0: float, dt: float, source,
                    station_latlon: tuple[float, float], distance_km: float, tp: float, ts: float, tmin: float,
                    tmax: float, flexwin: bool) -> list[Window]:
    """The windows of one channel: FLEXWIN's when ``flexwin`` and it finds any, else the
    arrival-time windows. ``source`` gives the event position and time (s after it: t0, tp, ts)."""
    picked = flexwin_windows(channel, obs, syn, t0, dt, source.time,
                             (source.latitude, source.longitude, source.depth_km), station_latlon, tmin, tmax,
                             tp, ts) if flexwin else []
    return picked or phase_windows(channel, tp, ts, distance_km, tmax)
