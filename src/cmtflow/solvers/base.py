"""What every solver returns: Green's functions of the fundamental sources.

Downstream code (synthetics, misfit, inversion) only speaks :class:`GreensFunctions`;
it never asks which solver produced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The ten fundamental-source terms of FK/CAP/MTUQ and their FK file extensions.
#: DD = 45-degree dip-slip, DS = vertical dip-slip, SS = vertical strike-slip,
#: EP = explosion; Z up, R radial (away), T transverse (clockwise from R, seen from above).
FK_EXTENSIONS = {"ZDD": "0", "RDD": "1", "ZDS": "3", "RDS": "4", "TDS": "5",
                 "ZSS": "6", "RSS": "7", "TSS": "8", "ZEP": "a", "REP": "b"}
COMPONENTS = tuple(FK_EXTENSIONS)

#: FK units: 10^-20 cm per dyne-cm. Multiply by this to get metres per N-m.
FK_TO_M_PER_NM = 1e-15


def radiation_coefficients(mt_ned, azimuth_deg: float) -> dict[str, dict[str, float]]:
    """Weights of each fundamental term for a moment tensor seen at an azimuth.

    :param mt_ned: moment tensor (Mxx, Myy, Mzz, Mxy, Mxz, Myz) with x north, y east,
        z down, any consistent unit.
    :param azimuth_deg: source-to-station azimuth, degrees clockwise from north.
    :returns: ``{"Z": {"ZSS": w, ...}, "R": {...}, "T": {...}}`` such that the
        component is ``sum(w * G[term])``. This is the FK/CAP radiation pattern.
    """
    mxx, myy, mzz, mxy, mxz, myz = (float(v) for v in mt_ned)
    phi = np.deg2rad(azimuth_deg)
    c1, s1, c2, s2 = np.cos(phi), np.sin(phi), np.cos(2 * phi), np.sin(2 * phi)
    ss = -0.5 * (mxx - myy) * c2 - mxy * s2
    ds = -mxz * c1 - myz * s1
    dd = (2.0 * mzz - mxx - myy) / 6.0
    ep = (mxx + myy + mzz) / 3.0
    return {
        "Z": {"ZSS": ss, "ZDS": ds, "ZDD": dd, "ZEP": ep},
        "R": {"RSS": ss, "RDS": ds, "RDD": dd, "REP": ep},
        "T": {"TSS": -0.5 * (mxx - myy) * s2 + mxy * c2, "TDS": -mxz * s1 + myz * c1},
    }


@dataclass
class GreensFunctions:
    """Green's functions for one model, one source depth and a set of distances.

    :ivar impulse: array (10, n_distances, npts), the FK convention: displacement for an
        impulsive moment, 10^-20 cm per dyne-cm, component order :data:`COMPONENTS`.
    :ivar step: same shape, displacement for a step in moment (same units); synthetics
        for a source time function are this convolved with the unit-area moment rate.
    :ivar t0: start time of each trace in s after the origin (SAC ``b``).
    :ivar tp, ts: first P and S arrival times in s after the origin (SAC ``t1``, ``t2``).
    """

    model: str
    model_fingerprint: str
    depth_km: float
    distances_km: np.ndarray
    dt: float
    npts: int
    t0: np.ndarray
    tp: np.ndarray
    ts: np.ndarray
    impulse: np.ndarray
    step: np.ndarray
    solver: str
    solver_version: str
    parameters: dict = field(default_factory=dict)

    def index(self, distance_km: float, tolerance_km: float = 1e-6) -> int:
        """Index of a distance in this set (exact match within ``tolerance_km``)."""
        i = int(np.argmin(np.abs(self.distances_km - distance_km)))
        if abs(self.distances_km[i] - distance_km) > tolerance_km:
            raise KeyError(f"distance {distance_km} km not computed (nearest {self.distances_km[i]} km)")
        return i

    def trace(self, component: str, distance_km: float, kind: str = "impulse") -> np.ndarray:
        """One fundamental-source trace, e.g. ``trace("ZSS", 50.0)``."""
        data = self.impulse if kind == "impulse" else self.step
        return data[COMPONENTS.index(component), self.index(distance_km)]

    def term_displacement(self, distance_km: float, moment_rate: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each fundamental term's trace at one distance (``{"ZSS": array, ...}``), in metres
        per N·m of the weights of :func:`radiation_coefficients`, starting at ``t0``.

        :param moment_rate: as in :meth:`displacement`.
        """
        i = self.index(distance_km)
        out = {}
        for c, term in enumerate(COMPONENTS):
            trace = self.step[c, i]
            if moment_rate is not None:
                # discrete convolution integral: sum(...) * dt (the rate has unit area in time)
                trace = np.convolve(trace, moment_rate)[: self.npts] * self.dt
            out[term] = trace * FK_TO_M_PER_NM
        return out

    def displacement(self, mt_ned_nm, distance_km: float, azimuth_deg: float,
                     moment_rate: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Z, R, T displacement in metres for a moment tensor at one distance/azimuth.

        :param mt_ned_nm: (Mxx, Myy, Mzz, Mxy, Mxz, Myz) in N-m, x north, y east, z down.
        :param moment_rate: unit-area moment-rate function sampled at ``dt`` (None: a step
            in moment, i.e. an instantaneous source).
        :returns: ``{"Z": array, "R": array, "T": array}``, starting at ``t0`` of this distance.
        """
        terms = self.term_displacement(distance_km, moment_rate)
        return {comp: sum(w * terms[term] for term, w in weights.items())
                for comp, weights in radiation_coefficients(mt_ned_nm, azimuth_deg).items()}
