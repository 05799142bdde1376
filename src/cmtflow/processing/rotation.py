"""Sensor components to ground motion: Z/N/E from the channel orientations, then Z/R/T.

Each channel records the projection of ground motion on its sensor axis, given by its
azimuth (degrees clockwise from north) and dip (degrees down from horizontal, SEED
convention: a vertical pointing up has dip -90). :func:`to_zne` solves for Z (up), N and E
from whatever channels a station has: three (any orientation: a misoriented N, ``1``/``2``
horizontals, a Z pointing down), a vertical alone, or two horizontals. Orientations come
from the inventory; without one, ``Z``/``N``/``E`` channel names are taken at face value.
:func:`to_zrt` turns N/E into R (away from the source) and T (R turned 90 degrees clockwise
seen from above, the SAC/ObsPy convention of the solver's components).
"""

from __future__ import annotations

import math

import numpy as np
from obspy import Inventory, Stream

from cmtflow.errors import CmtflowError

#: Conventional orientations (azimuth, dip) of channel names, when no metadata give one.
NAMED = {"Z": (0.0, -90.0), "N": (0.0, 0.0), "E": (90.0, 0.0)}


class RotationError(CmtflowError):
    """The channels cannot be turned into ground motion (the message says why)."""


def axis(azimuth: float, dip: float) -> np.ndarray:
    """Unit vector of a sensor axis in (up, north, east)."""
    a, d = math.radians(azimuth), math.radians(dip)
    return np.array([-math.sin(d), math.cos(d) * math.cos(a), math.cos(d) * math.sin(a)])


def orientation(tr, inventory: Inventory | None) -> tuple[float, float]:
    """(azimuth, dip) of a trace's channel from the inventory, else from its name."""
    if inventory is not None:
        found = inventory.select(network=tr.stats.network, station=tr.stats.station, location=tr.stats.location,
                                 channel=tr.stats.channel, time=tr.stats.starttime)
        for cha in (c for n in found for s in n for c in s):
            if cha.azimuth is not None and cha.dip is not None:
                return float(cha.azimuth), float(cha.dip)
    named = NAMED.get(tr.stats.channel[-1:])
    if named is None:
        raise RotationError(f"{tr.id}: orientation unknown (no azimuth/dip in the metadata, not a Z/N/E name)")
    return named


def to_zne(st: Stream, inventory: Inventory | None = None) -> Stream:
    """Z (up), N, E of one station's channels (same time axis), as far as they determine them."""
    if len(st) == 0:
        return st
    if len({tr.stats.sampling_rate for tr in st}) > 1:
        raise RotationError(f"{st[0].stats.station}: channels at different sampling rates cannot be rotated together")
    start, end = max(tr.stats.starttime for tr in st), min(tr.stats.endtime for tr in st)
    st = st.slice(start, end) if any(tr.stats.starttime != start or tr.stats.endtime != end for tr in st) else st
    if len({tr.stats.npts for tr in st}) > 1:
        raise RotationError(f"{st[0].stats.station}: channels not on one time axis")
    vectors = np.array([axis(*orientation(tr, inventory)) for tr in st])
    data = np.array([np.asarray(tr.data, float) for tr in st])
    band = st[0].stats.channel[:2]
    vertical = np.abs(vectors[:, 0]) > math.cos(math.radians(30.0))
    horizontal = np.abs(vectors[:, 0]) < math.sin(math.radians(30.0))
    out = Stream()

    def emit(comp, values):
        tr = st[0].copy()
        tr.data, tr.stats.channel = values, band + comp
        out.append(tr)

    if len(st) == 3:
        if abs(np.linalg.det(vectors)) < 0.3:
            raise RotationError(f"{st[0].stats.station}: the three channel axes are nearly coplanar "
                                f"(orientations {_described(st, vectors)})")
        zne = np.linalg.solve(vectors, data)
        for comp, values in zip("ZNE", zne):
            emit(comp, values)
        return out
    if vertical.sum() == 1 and len(st) == 1:
        v = vectors[0]
        emit("Z", data[0] / v[0])  # a vertical pointing down records -Z
        return out
    if horizontal.sum() == 2 and len(st) == 2:
        h = vectors[:, 1:]
        if abs(np.linalg.det(h)) < math.sin(math.radians(45.0)):
            raise RotationError(f"{st[0].stats.station}: the two horizontals are less than 45 degrees apart")
        ne = np.linalg.solve(h, data)
        emit("N", ne[0])
        emit("E", ne[1])
        return out
    raise RotationError(f"{st[0].stats.station}: channels {_described(st, vectors)} give neither a vertical nor a "
                        "horizontal pair")


def _described(st: Stream, vectors) -> str:
    return ", ".join(f"{tr.stats.channel} (up {v[0]:+.2f})" for tr, v in zip(st, vectors))


def to_zrt(st: Stream, back_azimuth: float) -> Stream:
    """Z/N/E (or Z/R/T, returned as they are; or a subset) to Z/R/T, ordered Z, R, T."""
    comps = {tr.stats.channel[-1] for tr in st}
    if {"N", "E"} <= comps:
        st = st.copy()
        st.rotate("NE->RT", back_azimuth=back_azimuth)
    elif comps & {"N", "E", "1", "2"}:
        raise RotationError(f"components {''.join(sorted(comps))}: a horizontal pair is needed for R and T")
    order = {"Z": 0, "R": 1, "T": 2}
    st.traces.sort(key=lambda tr: order.get(tr.stats.channel[-1], 3))
    return st
