"""First-arrival travel times in a flat layered model (direct and head waves).

Used for the ``t1`` (P) and ``t2`` (S) headers of Green's functions and to start each
trace a fixed number of samples before the first P, as the FK code does.
Source at depth, receiver at the surface; distances and depths in km, times in s.
"""

from __future__ import annotations

import numpy as np


def _direct_ray(h: np.ndarray, v: np.ndarray, x: float) -> tuple[float, float]:
    """Direct (up-going) ray through layers of thickness h and velocity v to offset x: its
    time (s) and ray parameter (s/km)."""
    vmax = v.max()
    if x == 0:
        return float(np.sum(h / v)), 0.0
    # x(p) increases monotonically on [0, 1/vmax): bisection on the ray parameter.
    lo, hi = 0.0, (1.0 - 1e-12) / vmax
    for _ in range(200):
        p = 0.5 * (lo + hi)
        xp = np.sum(h * p * v / np.sqrt(1.0 - (p * v) ** 2))
        if xp < x:
            lo = p
        else:
            hi = p
    p = 0.5 * (lo + hi)
    return float(p * x + np.sum(h * np.sqrt(1.0 / v**2 - p**2))), float(p)


def first_arrival(thickness, velocity, src_depth_km: float, distances_km) -> np.ndarray:
    """First-arrival times (s) at the surface for the given wave velocities.

    :param thickness: layer thicknesses (km), last = half-space (0).
    :param velocity: P or S velocity of each layer (km/s).
    :param src_depth_km: source depth (km), in a layer or in the half-space.
    :param distances_km: epicentral distances (km).
    """
    return first_arrival_rays(thickness, velocity, src_depth_km, distances_km)[0]


def first_arrival_rays(thickness, velocity, src_depth_km: float, distances_km) -> tuple[np.ndarray, np.ndarray]:
    """First-arrival times (s) and the take-off angles (degrees from the downward vertical) of
    their rays at the source: below 90 for a ray that leaves downwards (a head wave), above 90
    for a direct wave leaving upwards. Arguments as :func:`first_arrival`."""
    thickness = np.asarray(thickness, float)
    velocity = np.asarray(velocity, float)
    tops = np.concatenate([[0.0], np.cumsum(thickness[:-1])])
    src_layer = int(np.searchsorted(tops, src_depth_km, side="right")) - 1
    # layers between the surface and the source (last one cut at the source)
    h_up = np.append(thickness[:src_layer], src_depth_km - tops[src_layer])
    v_up = velocity[: src_layer + 1]
    keep = h_up > 0
    h_up, v_up = h_up[keep], v_up[keep]
    v_src = velocity[src_layer]
    times, takeoffs = [], []
    for x in np.atleast_1d(distances_km).astype(float):
        best, p_direct = _direct_ray(h_up, v_up, x)
        takeoff = 180.0 - np.degrees(np.arcsin(min(1.0, p_direct * v_src)))
        # head waves along the top of each deeper layer faster than everything above it
        h_dn = [tops[src_layer + 1] - src_depth_km] if src_layer + 1 < len(tops) else []
        v_dn = [velocity[src_layer]]
        for j in range(src_layer + 1, len(velocity)):
            vref = velocity[j]
            v_all = np.concatenate([v_up, v_dn])
            if vref > v_all.max():
                p = 1.0 / vref
                eta_up = np.sqrt(1.0 / v_up**2 - p**2)
                eta_dn = np.sqrt(1.0 / np.asarray(v_dn) ** 2 - p**2)
                xcrit = np.sum(h_up * p / eta_up) + 2.0 * np.sum(np.asarray(h_dn) * p / eta_dn)
                if x >= xcrit:
                    t = float(p * x + np.sum(h_up * eta_up) + 2.0 * np.sum(np.asarray(h_dn) * eta_dn))
                    if t < best:
                        best, takeoff = t, float(np.degrees(np.arcsin(v_src / vref)))
            if j + 1 < len(velocity):
                h_dn.append(thickness[j])
                v_dn.append(velocity[j])
        times.append(best)
        takeoffs.append(takeoff)
    return np.array(times), np.array(takeoffs)
