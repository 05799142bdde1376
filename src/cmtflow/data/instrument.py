"""What a sensor records at the band's longest period: its long-period corner from the response.

A seismometer is flat to ground velocity (an accelerometer to acceleration) between its
corners; below the long-period corner its output falls, for a broadband feedback sensor as
the square of the period (two poles). Response removal divides that fall out, and with it
multiplies the sensor's self-noise: a 30 s sensor recovers 50-200 s waves only with 44 times
its noise at 200 s. A channel is refused where its response at the band's longest period is
below :data:`MIN_RELATIVE_GAIN` of its flat level (20 dB down: about 3.2 corner periods for a
two-pole sensor), which keeps a 120 s STS-2 or Trillium in a 50-200 s band (2.8 times down at
200 s, as W-phase practice uses them) and refuses a 30 s or a 1 Hz sensor there.
"""

from __future__ import annotations

import numpy as np

#: The least response at the band's longest period, as a fraction of the flat level.
MIN_RELATIVE_GAIN = 0.1
#: Frequencies (Hz) over which the response is evaluated: 10^-4 to 10 Hz, 20 per decade.
_FREQUENCIES = np.logspace(-4, 1, 101)


def relative_gain(response, period_s: float) -> tuple[float, float | None]:
    """The response at ``period_s`` (s) as a fraction of its flat level (the largest response
    in the sensor's own input quantity: velocity for a seismometer, acceleration for an
    accelerometer), and the long-period corner (s, the longest period where it is still
    within 3 dB of the flat level; None when it never falls)."""
    freqs = np.append(_FREQUENCIES, 1.0 / period_s)
    amplitude = np.abs(response.get_evalresp_response_for_frequencies(freqs, output="DEF"))
    curve, at_period = amplitude[:-1], amplitude[-1]
    flat = float(np.max(curve))
    if not np.isfinite(flat) or flat <= 0:
        return float("nan"), None
    within = np.flatnonzero(curve >= flat / np.sqrt(2.0))
    corner = 1.0 / float(freqs[within[0]]) if len(within) and within[0] > 0 else None
    return float(at_period / flat), corner


def long_period_problem(response, longest_period_s: float) -> str:
    """Why a channel cannot record the band down to ``longest_period_s`` (s), or ``""``."""
    if response is None or not longest_period_s:
        return ""
    try:
        ratio, corner = relative_gain(response, longest_period_s)
    except Exception:  # noqa: BLE001 - a response ObsPy cannot evaluate is judged by the removal itself
        return ""
    if not np.isfinite(ratio) or ratio >= MIN_RELATIVE_GAIN:
        return ""
    where = f"long-period corner at {corner:.0f} s" if corner else "no flat band"
    return (f"sensor too short-period for the band: {where}, its response at {longest_period_s:g} s is "
            f"{100 * ratio:.1f} % of its flat level (< {100 * MIN_RELATIVE_GAIN:.0f} %)")
