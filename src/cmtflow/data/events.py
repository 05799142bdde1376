"""Event resolution: which earthquake, where and when, and an initial source for it.

Three ways in, one result (:class:`Earthquake`): an FDSN event id looked up at a
provider's event service (EMSC by default; INGV, USGS, GFZ... or any URL), an origin given
directly, or a QuakeML file. :func:`initial_source` turns it into the starting
:class:`~cmtflow.source.Source` of the inversion: the published moment tensor when there
is one, else a default double couple scaled to the magnitude.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from obspy import UTCDateTime

from cmtflow.data.magnitudes import to_moment_magnitude
from cmtflow.data.services import NoDataError, ServiceConfig, call_with_retries, make_client
from cmtflow.errors import CmtflowError, SourceError
from cmtflow.source import (DYNE_CM_PER_NM, Source, magnitude_to_moment, moment_magnitude, mt_from_strike_dip_rake,
                            scalar_moment)
from cmtflow.workspace import sanitised_name

log = logging.getLogger(__name__)

#: Starting mechanism when the catalogue publishes none (strike, dip, rake in degrees).
#: CMT3D's first pass does not depend on it (see ``InversionConfig.robust_start``).
DEFAULT_MECHANISM = (0.0, 45.0, -90.0)


@dataclass(frozen=True)
class Earthquake:
    """A catalogue earthquake.

    :param time: origin time (UTC); latitude, longitude in degrees; depth in km.
    :param magnitude: the preferred magnitude and its type (``Mw``, ``ML``...).
    :param moment_tensor: published (Mrr, Mtt, Mpp, Mrt, Mrp, Mtp) in N·m, or None.
    :param provider: where it came from (a provider name, ``origin`` or a file name).
    """

    event_id: str
    time: UTCDateTime
    latitude: float
    longitude: float
    depth_km: float
    magnitude: float
    magnitude_type: str = "M"
    moment_tensor: tuple | None = None
    provider: str = "origin"

    @classmethod
    def from_dict(cls, d: dict) -> "Earthquake":
        """Inverse of :meth:`as_dict` (also reads catalogue rows, which have no moment tensor)."""
        mt = d.get("moment_tensor_nm")
        return cls(d["event_id"], UTCDateTime(d["time"]), d["latitude"], d["longitude"], d["depth_km"],
                   d["magnitude"], d["magnitude_type"], tuple(mt) if mt else None, d["provider"])

    def as_dict(self) -> dict:
        return {"event_id": self.event_id, "time": str(self.time), "latitude": self.latitude,
                "longitude": self.longitude, "depth_km": self.depth_km, "magnitude": self.magnitude,
                "magnitude_type": self.magnitude_type, "provider": self.provider,
                "moment_tensor_nm": list(self.moment_tensor) if self.moment_tensor is not None else None}

    @property
    def moment_magnitude(self) -> float:
        """Mw from the catalogue magnitude (:mod:`cmtflow.data.magnitudes`: ML, mb, Ms converted)."""
        return to_moment_magnitude(self.magnitude, self.magnitude_type)[0]


def earthquake_from_origin(time, latitude: float, longitude: float, depth_km: float, magnitude: float,
                           event_id: str | None = None, moment_tensor=None, magnitude_type: str = "M") -> Earthquake:
    """An :class:`Earthquake` from origin values, checked (time ISO 8601, degrees, km)."""
    try:
        t = UTCDateTime(time)
    except Exception:  # ObsPy raises TypeError/ValueError/its own for unparseable times
        raise SourceError(f"origin time {time!r} is not a valid ISO 8601 time") from None
    check_origin(latitude, longitude, depth_km, magnitude)
    if moment_tensor is not None:
        moment_tensor = tuple(float(v) for v in moment_tensor)
        if len(moment_tensor) != 6:
            raise SourceError("moment tensor must have 6 components (Mrr, Mtt, Mpp, Mrt, Mrp, Mtp) in N·m")
    return Earthquake(event_id or t.strftime("%Y%m%dT%H%M%S"), t, float(latitude), float(longitude),
                      float(depth_km), float(magnitude), magnitude_type, moment_tensor)


def check_origin(latitude: float, longitude: float, depth_km: float, magnitude: float, where: str = "") -> None:
    """Refuse impossible origin values (degrees, km) with a message naming the value."""
    checks = [(math.isfinite(latitude) and -90 <= latitude <= 90, f"latitude {latitude} is outside [-90, 90]"),
              (math.isfinite(longitude) and -180 <= longitude <= 360, f"longitude {longitude} is outside [-180, 360]"),
              (math.isfinite(depth_km) and 0 <= depth_km <= 800, f"depth {depth_km} km is outside [0, 800]"),
              (math.isfinite(magnitude) and -2 < magnitude < 10.5, f"magnitude {magnitude} is outside (-2, 10.5)")]
    for ok, message in checks:
        if not ok:
            raise SourceError(f"{where}{message}")


#: Catalogues give depths below sea level; an event up to this far above it is put at the
#: surface (the 1D models start there), anything higher is refused.
MAX_ABOVE_SEA_LEVEL_KM = 5.0


def earthquake_from_obspy(event, provider: str, event_id: str | None = None) -> Earthquake:
    """The preferred origin, magnitude and (when published) moment tensor of an ObsPy Event,
    checked like :func:`earthquake_from_origin`."""
    origin = event.preferred_origin() or (event.origins[0] if event.origins else None)
    if origin is None or origin.latitude is None or origin.longitude is None:
        raise SourceError(f"event {event_id or event.resource_id} has no origin")
    if origin.time is None:
        raise SourceError(f"event {event_id or event.resource_id}: the origin has no (valid ISO 8601) time")
    mag = event.preferred_magnitude() or (event.magnitudes[0] if event.magnitudes else None)
    mt = None
    fm = event.preferred_focal_mechanism() or (event.focal_mechanisms[0] if event.focal_mechanisms else None)
    if fm is not None and fm.moment_tensor is not None and fm.moment_tensor.tensor is not None:
        t = fm.moment_tensor.tensor
        values = [t.m_rr, t.m_tt, t.m_pp, t.m_rt, t.m_rp, t.m_tp]
        if all(v is not None for v in values):
            mt = tuple(float(v) for v in values)
    if mag is None and mt is None:
        raise SourceError(f"event {event_id or event.resource_id} has no magnitude")
    if mag is not None:
        magnitude, mtype = float(mag.mag), mag.magnitude_type or "M"
    else:
        magnitude, mtype = moment_magnitude(scalar_moment(mt)), "Mw"
    ident = event_id or str(event.resource_id.id).rstrip("/").split("/")[-1].split("=")[-1]
    # the id names the run's folder: only letters, digits and _.:+- survive
    ident = sanitised_name(ident).strip("._")[:64] or origin.time.strftime("%Y%m%dT%H%M%S")
    depth = (origin.depth or 0.0) / 1000.0
    if -MAX_ABOVE_SEA_LEVEL_KM <= depth < 0:
        log.warning("event %s: depth %.2f km (above sea level) taken as 0 km", ident, depth)
        depth = 0.0
    check_origin(float(origin.latitude), float(origin.longitude), depth, magnitude, f"event {ident}: ")
    return Earthquake(ident, origin.time, float(origin.latitude), float(origin.longitude), depth, magnitude, mtype,
                      mt, provider)


def fetch_earthquake(event_id: str, service: ServiceConfig = ServiceConfig(provider="EMSC")) -> Earthquake:
    """Look an event id up at an FDSN event service (retried; see :mod:`cmtflow.data.services`).

    :raises SourceError: the service does not know the id.
    :raises ServiceError: the service cannot be reached.
    """
    client = make_client(service)
    what = f"event service of {service.label} (eventid={event_id})"
    try:
        catalog = call_with_retries(lambda: client.get_events(eventid=event_id, includeallorigins=False), what,
                                    service)
    except NoDataError:
        raise SourceError(f"unknown event id {event_id!r} at {service.label}") from None
    if not len(catalog):
        raise SourceError(f"unknown event id {event_id!r} at {service.label}")
    return earthquake_from_obspy(catalog[0], service.label, event_id)


def read_earthquake(path: str | Path) -> Earthquake:
    """The first event of an event file: QuakeML, a CMTSOLUTION (GCMT/SPECFEM; its moment
    tensor becomes the published one) or an ISOLA ``event.isl``."""
    from obspy import read_events

    path = Path(path)
    head = path.read_text(errors="replace")[:2000] if path.is_file() else ""
    if re.search(r"^\s*(event name|time shift|Mrr)\s*:", head, re.M | re.I):
        return _from_cmtsolution(path)
    if not head.lstrip().startswith("<") and len(head.split("\n")) >= 7 and _isola_event(head) is not None:
        return _from_isola(path, head)
    try:
        with warnings.catch_warnings():  # ObsPy warns and drops values it cannot convert: we say why below
            warnings.simplefilter("ignore", UserWarning)
            catalog = read_events(str(path), format="QUAKEML")
    except Exception as exc:  # ObsPy raises many types for malformed XML
        raise SourceError(f"cannot read QuakeML {path}: {' '.join(str(exc).split())[:200]}") from None
    if not len(catalog):
        raise SourceError(f"{path}: no event in the file")
    try:
        return earthquake_from_obspy(catalog[0], path.name)
    except SourceError as exc:
        raise SourceError(f"{path}: {exc}") from None


def _from_cmtsolution(path: Path) -> Earthquake:
    from cmtflow.source import read_cmtsolution

    source = read_cmtsolution(path)
    ident = sanitised_name(source.event_id or path.stem).strip("._")[:64] or source.time.strftime("%Y%m%dT%H%M%S")
    return Earthquake(ident, source.time, source.latitude, source.longitude, source.depth_km,
                      moment_magnitude(source.m0), "Mw", tuple(float(v) for v in source.mt), path.name)


def _isola_event(text: str):
    """The values of an ISOLA ``event.isl`` (lon lat / depth km / magnitude / YYYYMMDD / hour /
    minute / second / agency), or None when the text is not one."""
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    try:
        lon, lat = (float(x) for x in lines[0].split()[:2])
        depth, mag = float(lines[1]), float(lines[2])
        date = lines[3]
        hour, minute, second = int(lines[4]), int(lines[5]), float(lines[6])
    except (ValueError, IndexError):
        return None
    if not re.match(r"^\d{8}$", date):
        return None
    agency = lines[7] if len(lines) > 7 else "ISOLA"
    return lon, lat, depth, mag, date, hour, minute, second, agency


def _from_isola(path: Path, text: str) -> Earthquake:
    lon, lat, depth, mag, date, hour, minute, second, agency = _isola_event(text)
    try:
        time = UTCDateTime(f"{date[:4]}-{date[4:6]}-{date[6:]}T00:00:00") + hour * 3600 + minute * 60 + second
    except Exception:  # an impossible date in the file
        raise SourceError(f"{path}: ISOLA event date {date!r} is not a valid date") from None
    check_origin(lat, lon, depth, mag, f"{path}: ")
    return Earthquake(time.strftime("%Y%m%dT%H%M%S"), time, lat, lon, depth, mag, "M", None,
                      f"{path.name} ({sanitised_name(agency)})")


def half_duration_s(m0_nm: float) -> float:
    """Empirical half duration (s) from the scalar moment (N·m), as in the GCMT catalogue:
    1.05e-8 * M0^(1/3) with M0 in dyne·cm (Ekström et al. 2012)."""
    return 1.05e-8 * (m0_nm * DYNE_CM_PER_NM) ** (1.0 / 3.0)


def initial_source(quake: Earthquake, mechanism: tuple[float, float, float] = DEFAULT_MECHANISM) -> Source:
    """The starting source: the published moment tensor at the hypocentre, else
    ``mechanism`` (strike, dip, rake) with the moment of the magnitude."""
    if quake.moment_tensor is not None:
        mt = np.array(quake.moment_tensor)
    else:
        mt = mt_from_strike_dip_rake(*mechanism, magnitude_to_moment(quake.moment_magnitude))
    m0 = scalar_moment(mt)
    if not m0 > 0:
        raise CmtflowError(f"event {quake.event_id}: the moment tensor is zero")
    # a source exactly at the surface has no solver depth; 1 km is below any resolution here
    depth = max(quake.depth_km, 1.0)
    return Source(time=quake.time, latitude=quake.latitude, longitude=quake.longitude, depth_km=depth, mt=mt,
                  half_duration=half_duration_s(m0), event_id=quake.event_id)
