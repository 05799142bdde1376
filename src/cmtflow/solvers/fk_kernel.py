"""Frequency-wavenumber kernels of a point source in a layered half-space (numba).

Formulation (derived for cmtflow; notation close to Kennett's reflectivity method):

* Cylindrical vector harmonics ``Y = J_m(kr) e^{im phi}``, ``S = grad_h(Y)/k``,
  ``T = e_z x S``; z points down, time dependence ``e^{i omega t}``.
* P-SV motion-stress vector ``b = (U_r, U_z, T_r, T_z)`` (coefficients of S, Y, S, Y),
  SH vector ``(W, T_phi)`` (coefficients of T).
* In each layer ``b = E [d; u]`` with eigenvector blocks (columns P, S)::

      X  = [[k, -nb], [-na, k]]        displacement of down-going waves
      Xt = [[k,  nb], [ na, k]]        displacement of up-going waves
      Y  = mu [[-2k na, chi], [chi, -2k nb]]   traction, down-going
      Yt = mu [[ 2k na, chi], [chi,  2k nb]]   traction, up-going

  with ``na = sqrt(k^2 - ka^2)``, ``nb = sqrt(k^2 - kb^2)`` (Re >= 0),
  ``chi = 2k^2 - kb^2``. The system is Hamiltonian, so ``E^T J E = [[0, D], [-D, 0]]``
  with ``D = diag(2 mu kb^2 na, 2 mu kb^2 nb)`` (an identity for any mu) and ``E^-1`` is
  known in closed form (no numerical inversion of 4x4 matrices).
* Amplitudes are referred to the top (down-going) or bottom (up-going) of each layer, so
  only decaying exponentials ``exp(-nu h)`` appear: the recursion is stable for
  evanescent waves at any depth and wavenumber (no Haskell growth terms).
* Below the source a generalized reflection matrix ``Rb`` (u = Rb d) is built upward
  from the half-space; above it ``Ra`` (d = Ra u) and the surface-displacement operator
  ``Wd`` are built downward from the free surface. The source jump ``Delta b`` gives
  ``[Sd; Su] = E^-1 Delta b`` and the up-going field just above the source is
  ``(I - Rb Ra)^-1 (Rb Sd - Su)``.

The kernels returned are the surface displacement coefficients of the ten FK
fundamental-source terms, already multiplied by ``k dk / (2 pi)`` and by the source
factors, so that a Bessel sum over k gives displacement spectra (see ``fk.py``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from numba import njit, prange

from cmtflow.config import settings

#: A folder of kernels compiled when the image was built (``warm_up``), copied into an empty
#: ``NUMBA_CACHE_DIR``: in a pod whose root filesystem is read-only, numba caches only in a
#: writable folder, a fresh ``/tmp`` each time, and would compile on every step
#: (``CMTFLOW_NUMBA_CACHE_SEED``).


def _seed_cache() -> None:
    seed, target = settings.numba_cache_seed, os.environ.get("NUMBA_CACHE_DIR")
    if seed and target and Path(seed).is_dir() and not Path(target).exists():
        shutil.copytree(seed, target)


_seed_cache()  # before the first call looks for a cached compilation

# Order of the kernel series produced by :func:`fk_kernels`.
SERIES = ("UZ_DD", "UR_DD", "UZ_EP", "UR_EP", "UZ_DS", "UR_DS", "W_DS", "UZ_SS", "UR_SS", "W_SS")


@njit(cache=True)
def _mm(a0, a1, a2, a3, b0, b1, b2, b3):
    return (a0 * b0 + a1 * b2, a0 * b1 + a1 * b3, a2 * b0 + a3 * b2, a2 * b1 + a3 * b3)


@njit(cache=True)
def _inv(a0, a1, a2, a3):
    det = a0 * a3 - a1 * a2
    return (a3 / det, -a1 / det, -a2 / det, a0 / det)


@njit(cache=True)
def _blocks(k, k2, ka2, kb2, mu):
    """Eigenvector blocks X, Xt, Y, Yt (each a 4-tuple) and D (2-tuple) of one layer."""
    na = np.sqrt(k2 - ka2)
    nb = np.sqrt(k2 - kb2)
    chi = 2.0 * k2 - kb2
    X = (k + 0j, -nb, -na, k + 0j)
    Xt = (k + 0j, nb, na, k + 0j)
    Y = (-2.0 * k * mu * na, mu * chi, mu * chi, -2.0 * k * mu * nb)
    Yt = (2.0 * k * mu * na, mu * chi, mu * chi, 2.0 * k * mu * nb)
    D = (2.0 * mu * kb2 * na, 2.0 * mu * kb2 * nb)
    return na, nb, X, Xt, Y, Yt, D


@njit(cache=True)
def _scaled_difference(a, b, D):
    """D^-1 (a - b) for 2x2 matrices a, b and diagonal D."""
    return ((a[0] - b[0]) / D[0], (a[1] - b[1]) / D[0], (a[2] - b[2]) / D[1], (a[3] - b[3]) / D[1])


@njit(cache=True)
def _interface(X1, Xt1, Y1, Yt1, X2, Xt2, Y2, Yt2, D2):
    """Q = E2^-1 E1: amplitudes below an interface from those above (2x2 blocks)."""
    # E^-1 = [[D^-1 Yt^T, -D^-1 Xt^T], [-D^-1 Y^T, D^-1 X^T]]; Y, Yt are symmetric.
    X2t = (X2[0], X2[2], X2[1], X2[3])
    Xt2t = (Xt2[0], Xt2[2], Xt2[1], Xt2[3])
    Q11 = _scaled_difference(_mm(*Yt2, *X1), _mm(*Xt2t, *Y1), D2)
    Q12 = _scaled_difference(_mm(*Yt2, *Xt1), _mm(*Xt2t, *Yt1), D2)
    Q21 = _scaled_difference(_mm(*X2t, *Y1), _mm(*Y2, *X1), D2)
    Q22 = _scaled_difference(_mm(*X2t, *Yt1), _mm(*Y2, *Xt1), D2)
    return Q11, Q12, Q21, Q22


@njit(cache=True)
def _scale(R, la, lb):
    """Lambda R Lambda with Lambda = diag(la, lb) (propagation through a layer)."""
    return (R[0] * la * la, R[1] * la * lb, R[2] * lb * la, R[3] * lb * lb)


@njit(cache=True, parallel=True)
def fk_kernels(ka2, kb2, mu, thick, same, src, nks, order, dk,
               src_rho_a2, src_mu, src_xi, out):
    """Fill ``out[series, j, i]`` with the kernels at frequency j and k = (i + 1/2) dk.

    :param ka2, kb2: complex (nw, L) squared P and S wavenumbers (attenuation included).
    :param mu: complex (nw, L) shear modulus of the traction rows (FK: the elastic one).
    :param thick: (L,) layer thickness in km (last: half-space, unused).
    :param same: (L,) bool, layer l has the same material as layer l-1 (no interface).
    :param src: index of the layer whose top is the source depth (layer src-1 above it
        has the same material).
    :param nks: (nw,) number of wavenumbers to sum at each frequency.
    :param order: (nw,) frequency visiting order, interleaved for load balance.
    :param src_rho_a2, src_mu, src_xi: elastic rho*alpha^2, mu and (beta/alpha)^2 at the
        source (real: the moment tensor is defined with elastic moduli, as in FK).
    :param out: complex (10, nw, nk_max) output, see :data:`SERIES`.
    """
    nw = ka2.shape[0]
    for jj in prange(nw):
        j = order[jj]
        for i in range(nks[j]):
            _point(ka2[j], kb2[j], mu[j], thick, same, src, (i + 0.5) * dk, dk,
                   src_rho_a2, src_mu, src_xi, out, j, i)


@njit(cache=True)
def _point(ka2, kb2, mu, thick, same, src, k, dk, src_rho_a2, src_mu, src_xi, out, j, i):
    """All ten kernels at one (frequency, wavenumber); ka2, kb2, mu are per layer."""
    L = ka2.shape[0]
    twopi = 2.0 * np.pi
    k2 = k * k
    # ---------------- below the source: Rb from the half-space up (P-SV and SH)
    nab, nbb, Xb, Xtb, Yb, Ytb, Db = _blocks(k, k2, ka2[L - 1], kb2[L - 1], mu[L - 1])
    mub = mu[L - 1]
    R = (0j, 0j, 0j, 0j)
    Rs = 0j
    for l in range(L - 2, src - 1, -1):
        na, nb, X, Xt, Y, Yt, D = _blocks(k, k2, ka2[l], kb2[l], mu[l])
        if not same[l + 1]:
            Q11, Q12, Q21, Q22 = _interface(X, Xt, Y, Yt, Xb, Xtb, Yb, Ytb, Db)
            A = _mm(R[0], R[1], R[2], R[3], Q12[0], Q12[1], Q12[2], Q12[3])
            A = _inv(A[0] - Q22[0], A[1] - Q22[1], A[2] - Q22[2], A[3] - Q22[3])
            B = _mm(R[0], R[1], R[2], R[3], Q11[0], Q11[1], Q11[2], Q11[3])
            R = _mm(A[0], A[1], A[2], A[3], Q21[0] - B[0], Q21[1] - B[1], Q21[2] - B[2], Q21[3] - B[3])
            # SH: Q11 = Q22 = (m2 + m1) / 2 m2, Q12 = Q21 = (m2 - m1) / 2 m2, m = mu nu
            m1 = mu[l] * nb
            m2 = mub * nbb
            q = (m2 + m1) / (2.0 * m2)
            p = (m2 - m1) / (2.0 * m2)
            Rs = (p - Rs * q) / (Rs * p - q)
        la = np.exp(-na * thick[l])
        lb = np.exp(-nb * thick[l])
        R = _scale(R, la, lb)
        Rs = Rs * lb * lb
        nab, nbb, Xb, Xtb, Yb, Ytb, Db = na, nb, X, Xt, Y, Yt, D
        mub = mu[l]
    Rb = R
    Rsb = Rs
    # ---------------- above the source: Ra and Wd from the free surface down
    na, nb, X, Xt, Y, Yt, D = _blocks(k, k2, ka2[0], kb2[0], mu[0])
    chi = 2.0 * k2 - kb2[0]
    det = 4.0 * k2 * na * nb - chi * chi
    c4 = 4.0 * k2 * na * nb + chi * chi
    Ra = (c4 / det, 4.0 * k * nb * chi / det, 4.0 * k * na * chi / det, c4 / det)
    Wd = _mm(X[0], X[1], X[2], X[3], Ra[0], Ra[1], Ra[2], Ra[3])
    Wd = (Wd[0] + Xt[0], Wd[1] + Xt[1], Wd[2] + Xt[2], Wd[3] + Xt[3])
    Ras = 1.0 + 0j
    Wds = 2.0 + 0j
    for l in range(0, src):
        la = np.exp(-na * thick[l])
        lb = np.exp(-nb * thick[l])
        Ra = _scale(Ra, la, lb)
        Wd = (Wd[0] * la, Wd[1] * lb, Wd[2] * la, Wd[3] * lb)
        Ras = Ras * lb * lb
        Wds = Wds * lb
        if l + 1 < src:
            na2, nb2, X2, Xt2, Y2, Yt2, D2 = _blocks(k, k2, ka2[l + 1], kb2[l + 1], mu[l + 1])
            if not same[l + 1]:
                Q11, Q12, Q21, Q22 = _interface(X, Xt, Y, Yt, X2, Xt2, Y2, Yt2, D2)
                G = _mm(Q21[0], Q21[1], Q21[2], Q21[3], Ra[0], Ra[1], Ra[2], Ra[3])
                G = _inv(G[0] + Q22[0], G[1] + Q22[1], G[2] + Q22[2], G[3] + Q22[3])
                A = _mm(Q11[0], Q11[1], Q11[2], Q11[3], Ra[0], Ra[1], Ra[2], Ra[3])
                Ra = _mm(A[0] + Q12[0], A[1] + Q12[1], A[2] + Q12[2], A[3] + Q12[3], G[0], G[1], G[2], G[3])
                Wd = _mm(Wd[0], Wd[1], Wd[2], Wd[3], G[0], G[1], G[2], G[3])
                m1 = mu[l] * nb
                m2 = mu[l + 1] * nb2
                q = (m2 + m1) / (2.0 * m2)
                p = (m2 - m1) / (2.0 * m2)
                gs = 1.0 / (p * Ras + q)
                Ras = (q * Ras + p) * gs
                Wds = Wds * gs
            na, nb, X, Xt, Y, Yt, D = na2, nb2, X2, Xt2, Y2, Yt2, D2
    # ---------------- source layer (material of layer src)
    na, nb, X, Xt, Y, Yt, D = _blocks(k, k2, ka2[src], kb2[src], mu[src])
    kb2s = kb2[src]
    mus = mu[src]
    # M = Wd (I - Rb Ra)^-1
    A = _mm(Rb[0], Rb[1], Rb[2], Rb[3], Ra[0], Ra[1], Ra[2], Ra[3])
    A = _inv(1.0 - A[0], -A[1], -A[2], 1.0 - A[3])
    M = _mm(Wd[0], Wd[1], Wd[2], Wd[3], A[0], A[1], A[2], A[3])
    # up-going source vectors Rb Sd - Su for unit jumps in U_z, T_r, U_r
    chi_s = 2.0 * k2 - kb2s
    # dU_z = 1
    sd0 = chi_s / (2.0 * kb2s * na); sd1 = k / kb2s
    su0 = -sd0; su1 = sd1
    v0 = Rb[0] * sd0 + Rb[1] * sd1 - su0
    v1 = Rb[2] * sd0 + Rb[3] * sd1 - su1
    ur_uz = M[0] * v0 + M[1] * v1
    uz_uz = M[2] * v0 + M[3] * v1
    # dT_r = 1
    sd0 = -k / (2.0 * mus * kb2s * na); sd1 = -1.0 / (2.0 * mus * kb2s)
    su0 = -sd0; su1 = sd1
    v0 = Rb[0] * sd0 + Rb[1] * sd1 - su0
    v1 = Rb[2] * sd0 + Rb[3] * sd1 - su1
    ur_tr = M[0] * v0 + M[1] * v1
    uz_tr = M[2] * v0 + M[3] * v1
    # dU_r = 1
    sd0 = k / kb2s; sd1 = chi_s / (2.0 * kb2s * nb)
    su0 = sd0; su1 = -sd1
    v0 = Rb[0] * sd0 + Rb[1] * sd1 - su0
    v1 = Rb[2] * sd0 + Rb[3] * sd1 - su1
    ur_ur = M[0] * v0 + M[1] * v1
    uz_ur = M[2] * v0 + M[3] * v1
    # SH: dW = 1 -> Sd = Su = 1/2 ; dT_phi = 1 -> Sd = -Su = -1/(2 mu nb)
    gsh = Wds / (1.0 - Rsb * Ras)
    w_w = gsh * (Rsb * 0.5 - 0.5)
    e = 1.0 / (2.0 * mus * nb)
    w_t = gsh * (-Rsb * e - e)
    # fundamental sources (FK convention), times k dk / (2 pi): the 1/(2 pi) of the
    # Hankel transform of the horizontal delta function
    f = k * dk / twopi
    # EP: M = I -> dU_z = 1/(rho a^2), dT_r = 2 k xi
    eu = 1.0 / src_rho_a2
    et = 2.0 * k * src_xi
    out[2, j, i] = f * (uz_uz * eu + uz_tr * et)
    out[3, j, i] = f * (ur_uz * eu + ur_tr * et)
    # DD: M = diag(-1, -1, 2) -> dU_z = 2/(rho a^2), dT_r = -k (3 - 4 xi)
    du = 2.0 / src_rho_a2
    dtr = -k * (3.0 - 4.0 * src_xi)
    out[0, j, i] = f * (uz_uz * du + uz_tr * dtr)
    out[1, j, i] = f * (ur_uz * du + ur_tr * dtr)
    # DS: M_xz = -1 -> cos harmonic dU_r = -1/mu ; sin harmonic dW = +1/mu
    out[4, j, i] = -f * uz_ur / src_mu
    out[5, j, i] = -f * ur_ur / src_mu
    out[6, j, i] = f * w_w / src_mu
    # SS: M_xx = -1, M_yy = 1 -> cos 2phi: dT_r = k ; sin 2phi: dT_phi = -k
    out[7, j, i] = f * k * uz_tr
    out[8, j, i] = f * k * ur_tr
    out[9, j, i] = -f * k * w_t
