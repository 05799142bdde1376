"""Point sources: moment tensors, magnitudes, fault planes, CMTSOLUTION and QuakeML.

Conventions:

* Moment tensor components are stored in **N·m** in the (r, theta, phi) = (up, south,
  east) basis of the GCMT catalogue: ``Mrr, Mtt, Mpp, Mrt, Mrp, Mtp``.
  CMTSOLUTION files use dyne·cm (1 dyne·cm = 1e-7 N·m); the conversion happens on
  reading and writing only.
* The north-east-down basis used by the solvers: ``Mxx = Mtt, Myy = Mpp, Mzz = Mrr,
  Mxy = -Mtp, Mxz = Mrt, Myz = -Mrp``.
* Scalar moment ``M0 = sqrt(sum(M_ij^2) / 2)`` (Silver & Jordan 1982), moment magnitude
  ``Mw = 2/3 (log10 M0 - 9.1)`` with M0 in N·m (IASPEI 2013 standard).
* Strike, dip, rake in degrees, Aki & Richards (1980) convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from obspy import UTCDateTime

from cmtflow.errors import SourceError
from cmtflow.workspace import write_atomic, write_text_atomic

DYNE_CM_PER_NM = 1e7
MT_NAMES = ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")


# ----------------------------------------------------------------------------- tensors
def mt_to_matrix(mt_rtp) -> np.ndarray:
    """3x3 symmetric matrix in the (r, theta, phi) basis from the 6 components."""
    rr, tt, pp, rt, rp, tp = (float(v) for v in mt_rtp)
    return np.array([[rr, rt, rp], [rt, tt, tp], [rp, tp, pp]])


def rtp_to_ned(mt_rtp) -> np.ndarray:
    """(Mrr, Mtt, Mpp, Mrt, Mrp, Mtp) -> (Mxx, Myy, Mzz, Mxy, Mxz, Myz), x N, y E, z down."""
    rr, tt, pp, rt, rp, tp = (float(v) for v in mt_rtp)
    return np.array([tt, pp, rr, -tp, rt, -rp])


def ned_to_rtp(mt_ned) -> np.ndarray:
    """Inverse of :func:`rtp_to_ned`."""
    xx, yy, zz, xy, xz, yz = (float(v) for v in mt_ned)
    return np.array([zz, xx, yy, xz, -yz, -xy])


def scalar_moment(mt_rtp) -> float:
    """Scalar moment M0 = sqrt(sum M_ij^2 / 2), same unit as the components."""
    m = mt_to_matrix(mt_rtp)
    return float(np.sqrt(np.sum(m * m) / 2.0))


def moment_magnitude(m0_nm: float) -> float:
    """Mw from M0 in N·m: Mw = 2/3 (log10 M0 - 9.1)."""
    if not m0_nm > 0:
        raise SourceError(f"scalar moment must be positive to define Mw, got {m0_nm}")
    return 2.0 / 3.0 * (math.log10(m0_nm) - 9.1)


def magnitude_to_moment(mw: float) -> float:
    """M0 in N·m from Mw (inverse of :func:`moment_magnitude`)."""
    return 10.0 ** (1.5 * mw + 9.1)


def mt_from_strike_dip_rake(strike: float, dip: float, rake: float, m0_nm: float = 1.0) -> np.ndarray:
    """Double-couple moment tensor (Mrr..Mtp, N·m) of a fault plane (Aki & Richards 4.88)."""
    s, d, r = np.deg2rad([strike, dip, rake])
    mxx = -(np.sin(d) * np.cos(r) * np.sin(2 * s) + np.sin(2 * d) * np.sin(r) * np.sin(s) ** 2)
    mxy = np.sin(d) * np.cos(r) * np.cos(2 * s) + 0.5 * np.sin(2 * d) * np.sin(r) * np.sin(2 * s)
    mxz = -(np.cos(d) * np.cos(r) * np.cos(s) + np.cos(2 * d) * np.sin(r) * np.sin(s))
    myy = np.sin(d) * np.cos(r) * np.sin(2 * s) - np.sin(2 * d) * np.sin(r) * np.cos(s) ** 2
    myz = -(np.cos(d) * np.cos(r) * np.sin(s) - np.cos(2 * d) * np.sin(r) * np.cos(s))
    mzz = np.sin(2 * d) * np.sin(r)
    return m0_nm * ned_to_rtp([mxx, myy, mzz, mxy, mxz, myz])


def _plane_from_vectors(normal: np.ndarray, slip: np.ndarray) -> tuple[float, float, float]:
    """Strike, dip, rake (deg) of the plane with unit normal ``normal`` and slip ``slip`` (NED)."""
    n, u = normal.copy(), slip.copy()
    if n[2] > 0:  # normal must point up (z down): flip both, the couple is unchanged
        n, u = -n, -u
    dip = math.degrees(math.acos(min(1.0, max(-1.0, -n[2]))))
    strike = math.degrees(math.atan2(-n[0], n[1])) % 360.0
    if dip < 1e-6:  # horizontal plane: strike is arbitrary, take it from the slip
        strike = math.degrees(math.atan2(u[1], u[0])) % 360.0
    s = np.deg2rad(strike)
    along = np.array([math.cos(s), math.sin(s), 0.0])
    rake = math.degrees(math.atan2(-u[2] / max(math.sin(math.radians(dip)), 1e-12), float(u @ along)))
    return strike, dip, rake


def nodal_planes(mt_rtp) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Both nodal planes (strike, dip, rake in degrees) of the best double couple."""
    _, vecs = np.linalg.eigh(ned_matrix(mt_rtp))
    p_axis, t_axis = vecs[:, 0], vecs[:, 2]
    n1 = (t_axis + p_axis) / math.sqrt(2.0)
    u1 = (t_axis - p_axis) / math.sqrt(2.0)
    return _plane_from_vectors(n1, u1), _plane_from_vectors(u1, n1)


def ned_matrix(mt_rtp) -> np.ndarray:
    """3x3 symmetric matrix in the north-east-down basis."""
    xx, yy, zz, xy, xz, yz = rtp_to_ned(mt_rtp)
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def _axes(mt_rtp) -> np.ndarray:
    """Right-handed matrix of principal axes (columns P, B, T) of the deviatoric tensor."""
    m = mt_to_matrix(mt_rtp)
    m = m - np.trace(m) / 3.0 * np.eye(3)
    _, vecs = np.linalg.eigh(m)
    if np.linalg.det(vecs) < 0:
        vecs[:, 1] *= -1.0
    return vecs


def principal_axes(mt_rtp) -> dict[str, tuple[float, float]]:
    """The P, B and T axes of a moment tensor (N·m, r/theta/phi) as ``{"P": (trend, plunge)}``
    in degrees: trend clockwise from north, plunge down from the horizontal (0-90)."""
    m = ned_matrix(mt_rtp)
    _, vecs = np.linalg.eigh(m - np.trace(m) / 3.0 * np.eye(3))
    axes = {}
    for name, v in zip(("P", "B", "T"), vecs.T):
        n, e, d = v if v[2] >= 0 else -v  # the lower end of the axis
        axes[name] = (float(np.degrees(np.arctan2(e, n)) % 360.0), float(np.degrees(np.arcsin(min(1.0, d)))))
    return axes


def kagan_angle(mt1_rtp, mt2_rtp) -> float:
    """Kagan (1991) angle in degrees: the smallest rotation taking the principal axes of one
    (deviatoric) moment tensor onto those of the other; 0 to 120 degrees."""
    a, b = _axes(mt1_rtp), _axes(mt2_rtp)
    best = 180.0
    for flip in (np.diag([1, 1, 1]), np.diag([1, -1, -1]), np.diag([-1, 1, -1]), np.diag([-1, -1, 1])):
        r = b @ flip @ a.T
        cosang = (np.trace(r) - 1.0) / 2.0
        best = min(best, math.degrees(math.acos(min(1.0, max(-1.0, cosang)))))
    return best


# ----------------------------------------------------------------------------- source type
def decomposition(mt_rtp) -> dict[str, float]:
    """The isotropic, CLVD and double-couple shares of a moment tensor, in percent (ISO and
    CLVD signed), after Vavryčuk (2015, J. Seismol. 19, 231-252, eq. 8): with the eigenvalues
    M1 >= M2 >= M3, M_ISO = (M1 + M2 + M3) / 3, M_CLVD = 2/3 (M1 + M3 - 2 M2),
    M_DC = 1/2 (M1 - M3 - |M1 + M3 - 2 M2|), each over M = |M_ISO| + |M_CLVD| + M_DC."""
    m1, m2, m3 = np.sort(np.linalg.eigvalsh(mt_to_matrix(mt_rtp)))[::-1]
    iso = (m1 + m2 + m3) / 3.0
    clvd = 2.0 / 3.0 * (m1 + m3 - 2.0 * m2)
    dc = 0.5 * (m1 - m3 - abs(m1 + m3 - 2.0 * m2))
    total = abs(iso) + abs(clvd) + dc
    if not total > 0:
        raise SourceError("the moment tensor is zero: no decomposition")
    return {"iso_pct": float(100 * iso / total), "clvd_pct": float(100 * clvd / total), "dc_pct": float(100 * dc / total)}


@dataclass(frozen=True)
class Hypocenter:
    """Catalogue hypocentre written on the first (PDE) line of a CMTSOLUTION."""

    time: UTCDateTime
    latitude: float
    longitude: float
    depth_km: float
    mb: float = 0.0
    ms: float = 0.0
    region: str = ""
    catalog: str = "PDE"


def triangle(half_duration_s: float, dt: float) -> np.ndarray:
    """Unit-area triangle of half width ``half_duration_s`` (s) sampled at ``dt`` (1/s), an odd
    number of samples centred on its peak; ``[1/dt]`` (an impulse) below one sample."""
    n = int(round(half_duration_s / dt))
    if n < 1:
        return np.array([1.0 / dt])
    tri = np.concatenate([np.arange(1, n + 1), np.arange(n - 1, 0, -1)]).astype(float)
    return tri / (tri.sum() * dt)


@dataclass(frozen=True, eq=False)
class Source:
    """A point source at the centroid.

    :param time: centroid time (UTC).
    :param latitude, longitude: centroid position in degrees.
    :param depth_km: centroid depth in km below sea level.
    :param mt: moment tensor (Mrr, Mtt, Mpp, Mrt, Mrp, Mtp) in N·m.
    :param half_duration: half duration of the triangular source time function in s
        (0: an instantaneous step in moment).
    :param event_id: event identifier (used in file names and the catalogue).
    :param hypocenter: catalogue hypocentre, when known (CMTSOLUTION first line).
    """

    time: UTCDateTime
    latitude: float
    longitude: float
    depth_km: float
    mt: np.ndarray
    half_duration: float = 0.0
    event_id: str = "event"
    hypocenter: Hypocenter | None = field(default=None, compare=False)

    def __post_init__(self):
        mt = np.asarray(self.mt, dtype=float)
        if mt.shape != (6,) or not np.all(np.isfinite(mt)):
            raise SourceError(f"moment tensor must be 6 finite numbers (Mrr..Mtp), got {self.mt!r}")
        object.__setattr__(self, "mt", mt)
        object.__setattr__(self, "time", UTCDateTime(self.time))
        if not -90.0 <= self.latitude <= 90.0:
            raise SourceError(f"latitude {self.latitude} is outside [-90, 90]")
        if not -180.0 <= self.longitude <= 360.0:
            raise SourceError(f"longitude {self.longitude} is outside [-180, 360]")
        if not (math.isfinite(self.depth_km) and self.depth_km >= 0):
            raise SourceError(f"depth must be >= 0 km, got {self.depth_km}")
        if not (math.isfinite(self.half_duration) and self.half_duration >= 0):
            raise SourceError(f"half duration must be >= 0 s, got {self.half_duration}")

    # -- derived quantities -------------------------------------------------------------
    @property
    def m0(self) -> float:
        """Scalar moment in N·m."""
        return scalar_moment(self.mt)

    @property
    def mw(self) -> float:
        """Moment magnitude."""
        return moment_magnitude(self.m0)

    @property
    def mt_ned(self) -> np.ndarray:
        """(Mxx, Myy, Mzz, Mxy, Mxz, Myz) in N·m, x north, y east, z down."""
        return rtp_to_ned(self.mt)

    @property
    def nodal_planes(self):
        """Both nodal planes (strike, dip, rake), degrees."""
        return nodal_planes(self.mt)

    def moment_rate_function(self, dt: float) -> np.ndarray:
        """Unit-area triangle of half width ``half_duration`` sampled at ``dt`` (1/s).

        A half duration shorter than one sample returns ``[1/dt]`` (a discrete impulse).
        """
        return triangle(self.half_duration, dt)

    def with_mt(self, mt) -> "Source":
        """A copy with another moment tensor."""
        return replace(self, mt=np.asarray(mt, float))

    @classmethod
    def from_strike_dip_rake(cls, strike, dip, rake, mw, **kwargs) -> "Source":
        """A double-couple source from a fault plane and a moment magnitude."""
        return cls(mt=mt_from_strike_dip_rake(strike, dip, rake, magnitude_to_moment(mw)), **kwargs)


# ----------------------------------------------------------------------------- CMTSOLUTION
#: SPECFEM3D_Cartesian's labels (its examples' CMTSOLUTIONs): degrees unless the mesh suppresses UTM.
_SPECFEM_LABELS = {"latorutm": "latitude", "longorutm": "longitude"}
_CMT_KEYS = ("event name", "time shift", "half duration", "latitude", "longitude", "depth", *MT_NAMES)


def read_cmtsolution(path: str | Path) -> Source:
    """Read a CMTSOLUTION file (GCMT / SPECFEM format, moment tensor in dyne·cm)."""
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except OSError as exc:
        raise SourceError(f"cannot read CMTSOLUTION {path}: {exc.strerror}") from None
    if len(lines) < 13:
        raise SourceError(f"{path}: a CMTSOLUTION has 13 lines (PDE line + 12 'key: value' lines), "
                          f"found {len(lines)}")
    values: dict[str, str] = {}
    specfem_labels = False
    for lineno, line in enumerate(lines[1:13], start=2):
        if ":" not in line:
            raise SourceError(f"{path}:{lineno}: expected 'key: value', got {line.strip()!r}")
        key, value = line.split(":", 1)
        key = key.strip().lower()
        specfem_labels |= key in _SPECFEM_LABELS
        values[_SPECFEM_LABELS.get(key, key)] = value.strip()
    for key in _CMT_KEYS:
        if key.lower() not in values:
            raise SourceError(f"{path}: missing field {key!r}")

    def number(key):
        try:
            v = float(values[key.lower()].split()[0])
        except (ValueError, IndexError):
            raise SourceError(f"{path}: field {key!r} is not a number: {values[key.lower()]!r}") from None
        if not math.isfinite(v):
            raise SourceError(f"{path}: field {key!r} is not finite")
        return v

    if specfem_labels and not (abs(number("latitude")) <= 90 and abs(number("longitude")) <= 360):
        raise SourceError(f"{path}: latorUTM/longorUTM hold UTM or mesh coordinates (SUPPRESS_UTM_PROJECTION), "
                          "not degrees; cmtflow needs the source's latitude and longitude")
    hypo = _parse_pde_line(lines[0], path)
    mt = np.array([number(k) for k in MT_NAMES]) / DYNE_CM_PER_NM
    if not np.any(mt):
        raise SourceError(f"{path}: the moment tensor is zero (no source to simulate)")
    try:
        return Source(time=hypo.time + number("time shift"), latitude=number("latitude"),
                      longitude=number("longitude"), depth_km=number("depth"), mt=mt,
                      half_duration=number("half duration"), event_id=values["event name"] or path.stem,
                      hypocenter=hypo)
    except SourceError as exc:  # the values' own checks: say which file
        raise SourceError(f"{path}: {exc}") from None


def _parse_pde_line(line: str, path: Path) -> Hypocenter:
    catalog = line[:4].strip() or "PDE"
    parts = line[4:].split()
    try:
        year, month, day, hour, minute = (int(p) for p in parts[:5])
        second = float(parts[5])
        lat, lon, depth = (float(p) for p in parts[6:9])
        mb, ms = (float(p) for p in parts[9:11])
    except (ValueError, IndexError):
        raise SourceError(f"{path}:1: cannot parse the hypocentre line {line.strip()!r} "
                          "(expected 'PDE yyyy mm dd hh mm ss.ss lat lon depth mb Ms region')") from None
    try:
        time = UTCDateTime(year, month, day, hour, minute, 0) + second
    except (ValueError, TypeError) as exc:
        raise SourceError(f"{path}:1: invalid hypocentre time: {exc}") from None
    return Hypocenter(time, lat, lon, depth, mb, ms, " ".join(parts[11:]), catalog)


def write_cmtsolution(source: Source, path: str | Path) -> Path:
    """Write ``source`` as a CMTSOLUTION (dyne·cm); atomic (temporary file + rename)."""
    hypo = source.hypocenter or Hypocenter(source.time, source.latitude, source.longitude, source.depth_km,
                                           round(source.mw, 1), round(source.mw, 1), "")
    t = hypo.time
    sec = t.second + t.microsecond / 1e6
    lines = [
        f"{hypo.catalog:>4s} {t.year:4d} {t.month:2d} {t.day:2d} {t.hour:2d} {t.minute:2d} {sec:5.2f} "
        f"{hypo.latitude:8.4f} {hypo.longitude:9.4f} {hypo.depth_km:5.1f} {hypo.mb:3.1f} {hypo.ms:3.1f} {hypo.region}".rstrip(),
        f"event name:     {source.event_id}",
        f"time shift:  {source.time - hypo.time:10.4f}",
        f"half duration:{source.half_duration:9.4f}",
        f"latitude:  {source.latitude:12.4f}",
        f"longitude: {source.longitude:12.4f}",
        f"depth:     {source.depth_km:12.4f}",
    ]
    for name, value in zip(MT_NAMES, source.mt * DYNE_CM_PER_NM):
        lines.append(f"{name}:     {value:15.6e}")
    return write_text_atomic(Path(path), "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- QuakeML
def read_quakeml(path: str | Path, event_index: int = 0) -> Source:
    """Read the preferred (else first) moment tensor of one event in a QuakeML file.

    The centroid origin is used when the focal mechanism names one (``derived_origin_id``),
    else the preferred origin.
    """
    from obspy import read_events

    try:
        catalog = read_events(str(path), format="QUAKEML")
    except Exception as exc:  # ObsPy raises many types for malformed XML
        raise SourceError(f"cannot read QuakeML {path}: {exc}") from None
    if len(catalog) <= event_index:
        raise SourceError(f"{path}: no event number {event_index + 1} in the file ({len(catalog)} events)")
    event = catalog[event_index]
    fm = event.preferred_focal_mechanism() or (event.focal_mechanisms[0] if event.focal_mechanisms else None)
    if fm is None or fm.moment_tensor is None or fm.moment_tensor.tensor is None:
        raise SourceError(f"{path}: the event has no moment tensor")
    mtensor = fm.moment_tensor
    t = mtensor.tensor
    origin = None
    if mtensor.derived_origin_id is not None:
        origin = mtensor.derived_origin_id.get_referred_object()
        if origin is None:
            origin = next((o for o in event.origins if o.resource_id == mtensor.derived_origin_id), None)
    origin = origin or event.preferred_origin() or (event.origins[0] if event.origins else None)
    if origin is None or origin.depth is None:
        raise SourceError(f"{path}: the event has no origin with a depth")
    stf = mtensor.source_time_function
    half = float(stf.duration) / 2.0 if stf is not None and stf.duration else 0.0
    event_id = str(event.resource_id.id).rstrip("/").split("/")[-1].split("=")[-1]
    return Source(time=origin.time, latitude=origin.latitude, longitude=origin.longitude,
                  depth_km=origin.depth / 1000.0,
                  mt=np.array([t.m_rr, t.m_tt, t.m_pp, t.m_rt, t.m_rp, t.m_tp], float),
                  half_duration=half, event_id=event_id)


def source_to_event(source: Source, quality: dict | None = None):
    """An ObsPy Event with the centroid origin, Mw and the focal mechanism of ``source``; with
    ``quality`` (:func:`cmtflow.inversion.quality.assess`, plus ``band_s``, ``inversion_type``
    and ``headline``, the grade's line of :func:`cmtflow.inversion.grade.headline`) also the moment tensor's variance reduction (percent), double-couple,
    CLVD and isotropic fractions, data used, method and inversion type, and the focal
    mechanism's azimuthal gap and evaluation mode (automatic)."""
    from obspy.core.event import (DataUsed, Event, FocalMechanism, Magnitude, MomentTensor, NodalPlane,
                                  NodalPlanes, Origin, ResourceIdentifier, SourceTimeFunction, Tensor)

    prefix = f"smi:cmtflow/{source.event_id}"
    origin = Origin(resource_id=ResourceIdentifier(f"{prefix}/origin/centroid"), time=source.time,
                    latitude=source.latitude, longitude=source.longitude, depth=source.depth_km * 1000.0,
                    origin_type="centroid")
    mag = Magnitude(resource_id=ResourceIdentifier(f"{prefix}/magnitude/mw"), mag=round(source.mw, 3),
                    magnitude_type="Mw", origin_id=origin.resource_id)
    p1, p2 = source.nodal_planes
    tensor = Tensor(m_rr=source.mt[0], m_tt=source.mt[1], m_pp=source.mt[2],
                    m_rt=source.mt[3], m_rp=source.mt[4], m_tp=source.mt[5])
    mt = MomentTensor(resource_id=ResourceIdentifier(f"{prefix}/momenttensor"), derived_origin_id=origin.resource_id,
                      scalar_moment=source.m0, tensor=tensor, moment_magnitude_id=mag.resource_id,
                      source_time_function=SourceTimeFunction(type="triangle", duration=2 * source.half_duration))
    fm = FocalMechanism(resource_id=ResourceIdentifier(f"{prefix}/focalmechanism"), triggering_origin_id=origin.resource_id,
                        nodal_planes=NodalPlanes(nodal_plane_1=NodalPlane(*p1), nodal_plane_2=NodalPlane(*p2)),
                        moment_tensor=mt)
    if quality is not None:
        band = quality.get("band_s") or (None, None)
        mt.variance_reduction = round(100.0 * quality["variance_reduction_plain"], 2)
        mt.double_couple = round(quality["dc_pct"] / 100.0, 4)
        mt.clvd = round(quality["clvd_pct"] / 100.0, 4)
        mt.iso = round(quality["iso_pct"] / 100.0, 4)
        mt.method_id = ResourceIdentifier("smi:cmtflow/method/cmt3d")
        mt.category = "regional"
        mt.inversion_type = quality.get("inversion_type", "zero trace")
        mt.data_used = [DataUsed(wave_type="combined", station_count=quality["stations"],
                                 component_count=quality["components"], shortest_period=band[0],
                                 longest_period=band[1])]
        fm.azimuthal_gap = round(quality["azimuthal_gap_deg"], 1)
        fm.evaluation_mode = "automatic"
        if quality.get("grade"):
            _quality_comment(fm, quality)
        _uncertainties(origin, mag, fm, quality.get("uncertainties") or {})
    return Event(resource_id=ResourceIdentifier(prefix), origins=[origin], magnitudes=[mag], focal_mechanisms=[fm],
                 preferred_origin_id=origin.resource_id, preferred_magnitude_id=mag.resource_id,
                 preferred_focal_mechanism_id=fm.resource_id)


def _quality_comment(fm, quality: dict) -> None:
    """The grade with its measured meaning as a comment of the focal mechanism, and its
    evaluation status: a D solution is ``preliminary`` (kept for review), the others ``final``."""
    from obspy.core.event import Comment, ResourceIdentifier

    fm.evaluation_status = "preliminary" if quality.get("status") == "preliminary" else "final"
    fm.comments.append(Comment(text=f"cmtflow {quality.get('headline') or 'grade ' + quality['grade']}",
                               resource_id=ResourceIdentifier(f"{fm.resource_id}/comment/grade")))


def _uncertainties(origin, mag, fm, unc: dict) -> None:
    """The bootstrap's standard deviations in QuakeML's uncertainty fields (depth in m)."""
    if unc.get("mw") is not None:
        mag.mag_errors.uncertainty = unc["mw"]
    if unc.get("depth_km") is not None:
        origin.depth_errors.uncertainty = 1000.0 * unc["depth_km"]
    if unc.get("centroid_time_s") is not None:
        origin.time_errors.uncertainty = unc["centroid_time_s"]
    for plane, spread in zip((fm.nodal_planes.nodal_plane_1, fm.nodal_planes.nodal_plane_2),
                             unc.get("nodal_planes") or []):
        plane.strike_errors.uncertainty = spread["strike"]
        plane.dip_errors.uncertainty = spread["dip"]
        plane.rake_errors.uncertainty = spread["rake"]


def write_quakeml(source: Source, path: str | Path, quality: dict | None = None) -> Path:
    """Write ``source`` as QuakeML 1.2 (origin, Mw, focal mechanism, moment tensor, and the
    quality fields of :func:`source_to_event`); atomic."""
    from obspy.core.event import Catalog

    catalog = Catalog(events=[source_to_event(source, quality)])
    return write_atomic(Path(path), lambda tmp: catalog.write(str(tmp), format="QUAKEML"))


def read_source(path: str | Path) -> Source:
    """Read a CMTSOLUTION or a QuakeML file (recognised by content)."""
    path = Path(path)
    try:
        head = path.read_text(errors="replace")[:512].lstrip()
    except OSError as exc:
        raise SourceError(f"cannot read source file {path}: {exc.strerror}") from None
    if head.startswith("<"):
        return read_quakeml(path)
    return read_cmtsolution(path)
