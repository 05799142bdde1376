"""Measurement windows.

A window is a time interval on one channel, in seconds after the centroid (origin) time.
Windows come from FLEXWIN-style selection (pyflex, optional GPL extra) or, by default and
as fallback, from predicted arrival times: a body-wave window around P (vertical and
radial) and a surface-wave window from S to the slowest surface wave (all components).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """One measurement window.

    :param channel: channel id ``NET.STA.LOC.CHA`` (component = last letter).
    :param start, end: seconds after the centroid time.
    :param kind: ``"body"`` or ``"surface"`` (selects the distance-weighting exponent).
    """

    channel: str
    start: float
    end: float
    kind: str = "surface"

    @property
    def component(self) -> str:
        return self.channel[-1]

    @property
    def station(self) -> str:
        return ".".join(self.channel.split(".")[:2])


def phase_windows(channel: str, tp: float, ts: float, distance_km: float, tmax: float,
                  surface_velocity: float = 2.8) -> list[Window]:
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
