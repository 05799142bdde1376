"""Long-period disturbances on horizontal records: tilt steps ("mice").

A tilt of the ground, or of the sensor's pier, by an angle theta during the shaking adds a
step of g theta to the horizontal acceleration the sensor feels (a vertical sensor feels
only 1 - cos theta of it). Through a broadband velocity sensor the step becomes a one-sided
pulse about as long as the sensor's corner period, after response removal a growing
parabola in displacement: no point source models it, and it spoils the long periods of the
band (Zahradník & Plešinger 2005, BSSA 95; 2010, BSSA 100; Vackář et al. 2015, SRL 86).

Detection, after Zahradník & Plešinger: the sensor's own response to a unit step of ground
acceleration (:func:`step_response`, from the channel's response) is fitted to the record,
both low-passed to periods longer than the band's longest, at every trial onset from the
P wave on; a step whose best fit explains more than :data:`EXPLAINED` of the horizontal
record's long-period signal, clearly more than the same fit explains on the vertical
(:data:`OVER_VERTICAL`), and stands above the pre-event long-period noise
(:data:`OVER_NOISE`), marks the component as disturbed. Records too short to tell a step
from a long wave (:data:`MIN_AFTER` longest periods after P, :data:`MIN_NOISE` of noise
before it) are not tested.
"""

from __future__ import annotations

import numpy as np
from obspy import Trace, UTCDateTime

#: Fraction of a horizontal's long-period signal that a step's fit must explain.
EXPLAINED = 0.8
#: ... and by how much more than on the vertical (a tilt barely moves a vertical sensor).
OVER_VERTICAL = 0.3
#: ... and how many times the step's peak must exceed the pre-event long-period noise.
OVER_NOISE = 5.0
#: Record needed after the onset and before it (pre-event noise, ending a longest period before
#: the onset), in longest periods: on less, one long wave fits a step as well as a tilt does.
MIN_AFTER = 3.0
MIN_NOISE = 1.0
#: Sampling interval (s) of the test: the long periods it looks at need no more.
TEST_DT = 1.0


def _long_periods(tr: Trace, longest_period_s: float, until: UTCDateTime | None = None) -> Trace:
    """``tr`` (counts) less its mean before ``until`` (its first seconds when none), decimated
    to :data:`TEST_DT` and low-passed (zero phase) to periods longer than ``longest_period_s``.
    No linear trend is taken out: a step's pulse would be part of it."""
    tr = tr.copy()
    data = np.asarray(tr.data, float)
    n = int((until - tr.stats.starttime) / tr.stats.delta) if until is not None else 0
    tr.data = data - np.mean(data[:n] if n > 8 else data[:max(8, int(5.0 / tr.stats.delta))])
    if tr.stats.delta < TEST_DT:
        tr.filter("lowpass", freq=0.4 / TEST_DT, corners=8, zerophase=True)
        tr.interpolate(1.0 / TEST_DT, method="linear")
    tr.filter("lowpass", freq=1.0 / longest_period_s, corners=4, zerophase=True)
    return tr


def step_response(response, dt: float, npts: int) -> np.ndarray:
    """``npts`` samples (every ``dt`` s) of the channel's output (counts) to a unit step of
    ground acceleration (m/s²) at the first sample."""
    pad = 1 << int(np.ceil(np.log2(8 * npts)))
    freqs = np.fft.rfftfreq(pad, dt)
    h = response.get_evalresp_response_for_frequencies(freqs, output="ACC")
    h[0] = 0.0
    step = np.zeros(pad)
    start = pad // 2  # the step's own wrap-around (its fall at the end) has died out by then
    step[start:] = 1.0
    return np.fft.irfft(np.fft.rfft(step) * h, pad)[start:start + npts]


def step_fit(tr: Trace, response, onset: UTCDateTime, longest_period_s: float) -> tuple[float, float, float]:
    """The best step of ground acceleration on a record (counts) from ``onset`` on: the
    fraction of the record's long-period signal after ``onset`` it explains, its size (m/s²)
    and the peak of its fit over the peak of the long-period record before ``onset`` (inf
    without a pre-event record)."""
    lp = _long_periods(tr, longest_period_s, onset)
    x = lp.data
    i0 = max(int(round((onset - lp.stats.starttime) / lp.stats.delta)), 0)
    n = len(x) - i0
    quiet = i0 - int(round(longest_period_s / lp.stats.delta))  # the low-pass spreads a step that far back
    if n < MIN_AFTER * longest_period_s / lp.stats.delta or quiet < MIN_NOISE * longest_period_s / lp.stats.delta:
        return 0.0, 0.0, 0.0  # too short to tell a step from a long wave, or no noise to compare with
    template = step_response(response, lp.stats.delta, n)
    template_tr = Trace(np.concatenate([np.zeros(i0), template]), header={"delta": lp.stats.delta})
    template_tr.filter("lowpass", freq=1.0 / longest_period_s, corners=4, zerophase=True)
    template = template_tr.data[i0:]
    signal = x[i0:]
    energy = float(np.dot(signal, signal))
    if energy <= 0:
        return 0.0, 0.0, 0.0
    best = (0.0, 0.0, 0.0)
    last = n - int(round(longest_period_s / lp.stats.delta))
    for k in range(0, max(last, 1), max(1, int(round(2.0 / lp.stats.delta)))):
        m = np.zeros(n)
        m[k:] = template[:n - k]
        norm = float(np.dot(m, m))
        if norm <= 0:
            continue
        size = float(np.dot(signal, m)) / norm
        explained = size * size * norm / energy
        if explained > best[0]:
            best = (explained, size, float(np.max(np.abs(size * m))))
    noise = float(np.max(np.abs(x[:quiet])))
    return best[0], best[1], best[2] / noise if noise > 0 else float("inf")


def tilt_problem(horizontal: Trace, response, vertical: tuple[Trace, object] | None, onset: UTCDateTime,
                 longest_period_s: float) -> str:
    """Why a horizontal record (counts, with its ``response``) carries a tilt step (module
    docstring), or ``""``. ``vertical``: the station's vertical record and response, for the
    comparison."""
    try:
        explained, size, over_noise = step_fit(horizontal, response, onset, longest_period_s)
        if explained < EXPLAINED or over_noise < OVER_NOISE:
            return ""
        on_vertical = step_fit(vertical[0], vertical[1], onset, longest_period_s)[0] if vertical else 0.0
    except Exception:  # noqa: BLE001 - a response ObsPy cannot evaluate: the removal judges it
        return ""
    if explained - on_vertical < OVER_VERTICAL:
        return ""
    return (f"long-period disturbance: a step of ground acceleration ({size:.1e} m/s², a tilt of "
            f"{abs(size) / 9.81 * 1e6:.1f} microradians) explains {100 * explained:.0f} % of the record beyond "
            f"{longest_period_s:g} s ({100 * on_vertical:.0f} % on the vertical): tilt, not ground motion")
