"""Is a record usable? Per channel and per component, with the reason when not.

A record is judged against the part of it the inversion could use, the **signal window**:
from shortly before the earliest possible P arrival to the end of the processing window after
the slowest surface wave (:func:`signal_window`). A record is used **as far as it reaches**:
CAP cuts its event folders to ~2 minutes after the origin, event archives end ~6-8 minutes
after it, and both hold complete body or surface waves at most of their stations. The record
is kept when its contiguous part covers at least ``min_signal_s`` of the signal window (one
longest period: a shorter piece holds no waveform of the band); which measurement windows it
holds is decided window by window when they are picked (:func:`cmtflow.misfit.windows.clip_to_record`),
and the synthetics are cut to the same span before they are filtered
(:func:`cmtflow.processing.preprocess.preprocess_station`), so that data and synthetics see the
same filter edges. Pre-event noise is welcome (it gives the signal-to-noise test its noise)
but not required: event-cut archives start ~10 s before the origin. Short gaps (up to
``max_gap_s``) are interpolated, overlaps merged, segments of another sampling rate resampled;
a longer gap splits the record, and the piece that covers the most of the signal window is
kept.

Clipping (records in counts) is found three ways: the digitiser's full scale (24-bit), the
sensor's output limit (a broadband seismometer's ±20 V through its stage-1 gain: the peak
ground velocity it can record), and flat tops in the data (a run of equal samples at the
extreme value entered and left with a jump, as a saturated record does and a smooth peak
never does).

Units are never guessed (:func:`channel_units`): an explicit quantity and scale (run conf,
``--quantity``/``--scale``), else the SAC ``idep`` header (nm, nm/s, nm/s² by the SAC
standard), else an instrument response (the record is counts), else the channel is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from obspy import Stream, Trace, UTCDateTime

#: The slowest wave the windows wait for (km/s): the end of the regional surface-wave train.
SLOWEST_WAVE_KM_S = 2.0
#: How long after the slowest wave the records are processed and must last (s).
SIGNAL_POST_S = 120.0
#: No regional P wave travels faster than this (km/s): the earliest P arrival.
FASTEST_P_KM_S = 8.5
#: SAC ``idep`` values (ObsPy keeps them as integers) and their ground-motion quantity;
#: the SAC standard's units are nanometres.
SAC_IDEP = {6: "displacement", 7: "velocity", 8: "acceleration"}
SAC_IDEP_SCALE = 1e-9


@dataclass(frozen=True)
class CheckConfig:
    """Rules for accepting a record (seconds, counts, volts).

    :param pre_signal_s: how long before the earliest P the signal window starts.
    :param signal_post_s: how long after the slowest wave it lasts (the processing window's).
    :param min_signal_s: the least of the signal window a record must cover (one longest
        period of the band: less holds no waveform of it).
    :param min_noise_s: the shortest pre-signal record that counts as a noise window.
    :param longest_period_s: the band's longest period (s): a sensor that does not reach it
        (:mod:`cmtflow.data.instrument`) and a horizontal tilted during the shaking
        (:mod:`cmtflow.data.disturbances`) are refused; None: not tested.
    :param max_gap_s: gaps up to this long inside the signal window are interpolated.
    :param clip_fraction, full_scale_counts: a peak at this fraction of the digitiser's full
        scale (2^23 counts, 24-bit) is clipped.
    :param sensor_full_scale_v: output limit of a seismometer (±20 V differential: STS-2,
        Trillium, CMG-3T); with the stage-1 gain it gives the largest recordable velocity.
    :param quantity, scale: explicit units of records without a response (run conf): the
        quantity and the factor to SI (cm: 0.01).
    """

    pre_signal_s: float = 10.0
    signal_post_s: float = SIGNAL_POST_S
    min_signal_s: float = 50.0
    min_noise_s: float = 60.0
    longest_period_s: float | None = None
    max_gap_s: float = 1.0
    clip_fraction: float = 0.98
    full_scale_counts: float = 2.0**23
    sensor_full_scale_v: float = 20.0
    quantity: str | None = None
    scale: float = 1.0


#: The least record asked for before the origin (s): the noise window of the smaller events.
PRE_EVENT_S = 120.0


def record_before_s(tmax: float) -> float:
    """Seconds of record wanted before the origin for a longest period ``tmax`` (s): enough
    for a noise window one and a half longest periods long that ends a longest period before
    the earliest P (the band-pass spreads P that far back) even at the epicentre, so that the
    records of large events are screened for their signal-to-noise ratio too; never less than
    :data:`PRE_EVENT_S`."""
    return max(PRE_EVENT_S, 2.5 * tmax + 10.0)


def record_after_s(tmax: float) -> float:
    """Seconds of record wanted after the slowest wave for a longest period ``tmax`` (s):
    the surface-wave window reaches one longest period past that wave and the filter's
    response needs more; never less than :data:`SIGNAL_POST_S`."""
    return max(SIGNAL_POST_S, 2.5 * tmax)


def earliest_p_s(distance_km: float, depth_km: float) -> float:
    """A lower bound of the P travel time (s) at any regional distance."""
    return math.hypot(distance_km, depth_km) / FASTEST_P_KM_S


def signal_window(origin: UTCDateTime, distance_km: float, depth_km: float,
                  config: CheckConfig = CheckConfig()) -> tuple[UTCDateTime, UTCDateTime]:
    """The part of a record the inversion needs (see module docstring)."""
    return (origin + earliest_p_s(distance_km, depth_km) - config.pre_signal_s,
            origin + distance_km / SLOWEST_WAVE_KM_S + config.signal_post_s)


@dataclass
class ChannelCheck:
    """The verdict on one channel: the usable trace (or None), why not, and notes."""

    channel: str
    trace: Trace | None = None
    reason: str = ""
    clipped: bool = False
    notes: list[str] = field(default_factory=list)
    noise_s: float = 0.0  # seconds of record before the signal window


def channel_units(traces: Stream, response, config: CheckConfig) -> tuple[dict | None, str]:
    """``{"source", "quantity", "scale"}`` of a channel's records, or None and why.

    ``quantity`` is ``counts`` when a response converts them; ``scale`` converts the
    records to SI (m, m/s, m/s²)."""
    if config.quantity:
        return {"source": "run conf", "quantity": config.quantity, "scale": config.scale}, ""
    ideps = {int(tr.stats.sac.idep) for tr in traces if "sac" in tr.stats and tr.stats.sac.get("idep") is not None}
    known = {SAC_IDEP[i] for i in ideps if i in SAC_IDEP}
    if len(known) == 1:
        return {"source": "SAC idep", "quantity": known.pop(), "scale": SAC_IDEP_SCALE}, ""
    if len(known) > 1:
        return None, f"SAC idep differs between the files ({', '.join(sorted(known))})"
    if response is not None:
        return {"source": "response", "quantity": "counts", "scale": 1.0}, ""
    return None, ("no units: no instrument response (StationXML, RESP, SACPZ...), no SAC idep, and no "
                  "data_quantity/data_scale (--quantity/--scale) given")


def _one_rate(traces: Stream, notes: list[str]) -> Stream:
    """Segments of a channel on one sampling rate (the one of most samples)."""
    rates: dict[float, int] = {}
    for tr in traces:
        rates[tr.stats.sampling_rate] = rates.get(tr.stats.sampling_rate, 0) + tr.stats.npts
    if len(rates) < 2:
        return traces
    rate = max(rates, key=rates.get)
    out = Stream()
    for tr in traces:
        if tr.stats.sampling_rate != rate:
            tr = tr.copy()
            tr.data = tr.data.astype(float)
            tr.interpolate(rate, method="lanczos", a=8)
        out.append(tr)
    notes.append(f"segments at {', '.join(f'{r:g}' for r in sorted(rates))} Hz resampled to {rate:g} Hz")
    return out


def _gaps(data: np.ndarray) -> list[tuple[int, int]]:
    """(first, last+1) sample indices of the masked runs of a merged trace."""
    mask = np.ma.getmaskarray(data)
    if not mask.any():
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _pieces(data: np.ndarray, max_gap_samples: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The contiguous pieces of a merged trace, gaps up to ``max_gap_samples`` bridged (to be
    interpolated), as (first, last+1) sample indices, and the longer gaps that separate them."""
    long_gaps = [g for g in _gaps(data) if g[1] - g[0] > max_gap_samples]
    edges = [0] + [i for g in long_gaps for i in g] + [len(data)]
    pieces = [(edges[k], edges[k + 1]) for k in range(0, len(edges), 2) if edges[k + 1] > edges[k]]
    return pieces, long_gaps


def _overlap(span: tuple[UTCDateTime, UTCDateTime], window: tuple[UTCDateTime, UTCDateTime]) -> float:
    """Seconds that ``span`` and ``window`` have in common."""
    return max(0.0, float(min(span[1], window[1]) - max(span[0], window[0])))


def check_channel(traces: Stream, channel: str, window: tuple[UTCDateTime, UTCDateTime], units: dict, response,
                  config: CheckConfig) -> ChannelCheck:
    """Judge one channel's records (module docstring): the usable trace, cut to the
    contiguous part holding the signal ``window``."""
    out = ChannelCheck(channel)
    traces = Stream([tr for tr in traces if tr.stats.npts])
    if not len(traces):
        out.reason = "no data"
        return out
    for tr in traces:
        if not np.all(np.isfinite(np.asarray(tr.data, float))):
            out.reason = "non-finite samples"
            return out
    traces = _one_rate(traces.copy(), out.notes)
    overlaps = [g for g in traces.get_gaps() if g[6] < 0]
    if overlaps:
        out.notes.append(f"{len(overlaps)} overlap(s) merged")
    counts = units["quantity"] == "counts"
    if len({tr.data.dtype for tr in traces}) > 1:  # ObsPy merges one data type only
        for tr in traces:
            tr.data = tr.data.astype(float)
    traces.merge(method=1, fill_value=None)
    if len(traces) != 1:
        out.reason = f"{len(traces)} traces of one channel that cannot be merged"
        return out
    tr = traces[0]
    t1, t2 = window
    dt = tr.stats.delta
    pieces, long_gaps = _pieces(tr.data, int(round(config.max_gap_s / dt)))
    spans = [(tr.stats.starttime + a * dt, tr.stats.starttime + (b - 1) * dt) for a, b in pieces]
    best = max(range(len(pieces)), key=lambda k: _overlap(spans[k], window))
    keep0, keep1 = pieces[best]
    for g0, g1 in long_gaps:
        gap_start, gap_end = tr.stats.starttime + g0 * dt, tr.stats.starttime + (g1 - 1) * dt
        if gap_end >= t1 and gap_start <= t2:
            side = "before" if g1 <= keep0 else "after"
            out.notes.append(f"gap of {(g1 - g0) * dt:.1f} s at {gap_start} inside the signal window: the record "
                             f"{side} it is left out")
    for g0, g1 in _gaps(tr.data[keep0:keep1]):
        out.notes.append(f"gap of {(g1 - g0) * dt:.2f} s at {tr.stats.starttime + (keep0 + g0) * dt} interpolated")
    tr = tr.copy()
    if keep0 or keep1 < tr.stats.npts:
        tr.data, tr.stats.starttime = tr.data[keep0:keep1], tr.stats.starttime + keep0 * dt
    if np.ma.isMaskedArray(tr.data):
        data = tr.data.astype(float)
        idx = np.arange(len(data))
        good = ~np.ma.getmaskarray(data)
        tr.data = np.interp(idx, idx[good], data.data[good])
    start, end = tr.stats.starttime, tr.stats.endtime
    inside = tr.slice(*window).data
    if len(inside) and np.ptp(np.asarray(inside, float)) == 0.0:
        out.reason = f"dead channel: the record is constant ({float(inside[0]):g}) over the signal window"
        return out
    covered = _overlap((start, end), window)
    if covered < config.min_signal_s:
        out.reason = (f"incomplete: record {_rel(start, window)}..{_rel(end, window)} covers {covered:.0f} s of the "
                      f"signal window (P - {config.pre_signal_s:g} s to the surface waves + "
                      f"{config.signal_post_s:g} s, {t2 - t1:.0f} s), less than {config.min_signal_s:g} s")
        return out
    if start > t1 + dt or end < t2 - dt:
        out.notes.append(f"record {_rel(start, window)}..{_rel(end, window)} of the signal window "
                         f"({t2 - t1:.0f} s): used as far as it reaches")
    out.noise_s = max(0.0, float(t1 - tr.stats.starttime))
    if counts:
        out.clipped, why = clipping(tr, response, config)
        if out.clipped:
            out.reason = f"clipped: {why}"
            return out
    out.trace = tr
    return out


def _rel(t: UTCDateTime, window) -> str:
    """A time as seconds relative to the signal window start, for messages."""
    return f"{t - window[0]:+.0f} s"


def clipping(tr: Trace, response, config: CheckConfig) -> tuple[bool, str]:
    """Whether a record in counts is clipped, and the evidence (module docstring)."""
    data = np.asarray(tr.data)
    if not len(data):
        return False, ""
    peak = float(np.max(np.abs(data)))
    if peak >= config.clip_fraction * config.full_scale_counts:
        return True, f"reaches {peak:.0f} counts, the digitiser's full scale (2^23)"
    limit = sensor_limit_counts(response, config)
    if limit is not None and peak >= 0.9 * limit:
        return True, f"reaches {peak:.0f} counts, 90 % of the sensor's output limit ({limit:.0f} counts)"
    flat = _flat_top(data, peak)
    if flat:
        return True, flat
    return False, ""


def sensor_limit_counts(response, config: CheckConfig) -> float | None:
    """Counts at the sensor's output limit: full-scale volts times the gain of the stages
    after the sensor, for a seismometer whose first stage goes from m/s to volts."""
    if response is None or not response.response_stages:
        return None
    first = response.response_stages[0]
    if str(first.input_units).upper() not in ("M/S", "M/SEC") or str(first.output_units).upper() not in ("V", "VOLTS"):
        return None
    after = float(np.prod([s.stage_gain for s in response.response_stages[1:] if s.stage_gain]))
    return config.sensor_full_scale_v * after if after > 0 else None


def _flat_top(data: np.ndarray, peak: float) -> str:
    """A run of 3+ equal samples at the extreme value, entered and left with a jump larger
    than 10 counts and 1e-4 of the peak: a saturated record, not a smooth peak."""
    if peak < 1000:
        return ""
    jump = max(10.0, 1e-4 * peak)
    x = data.astype(float)
    for extreme in (x.max(), x.min()):
        at = np.flatnonzero(x == extreme)
        if len(at) < 3:
            continue
        runs = np.split(at, np.flatnonzero(np.diff(at) > 1) + 1)
        for run in runs:
            i0, i1 = run[0], run[-1]
            if len(run) >= 3 and 0 < i0 and i1 < len(x) - 1 and abs(x[i0] - x[i0 - 1]) > jump \
                    and abs(x[i1 + 1] - x[i1]) > jump:
                return f"flat top: {len(run)} samples at {extreme:.0f} counts"
    return ""
