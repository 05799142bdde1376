"""Embedded 1D solver: frequency-wavenumber integration (Zhu & Rivera 2002 style).

Computes, for one source depth and any set of epicentral distances, the Green's
functions of the ten fundamental-source terms used by FK, CAP and MTUQ
(``ZDD RDD ZDS RDS TDS ZSS RSS TSS ZEP REP``) for a receiver at the free surface.

Conventions, identical to the original FK code so that files compare one to one:

* Z is positive up, R away from the source, T = R rotated 90 degrees clockwise seen
  from above (the SAC/ObsPy rotation convention).
* Source time function: Dirac delta of moment, so each trace is the displacement for an
  impulsive moment (equivalently, the velocity for a step in moment), in units of
  10^-20 cm per dyne-cm (= 10^-15 m per N-m). :attr:`GreensFunctions.step` holds the
  displacement for a step in moment, computed exactly in the frequency domain.
* Trace ``d`` starts ``pre_samples`` samples before the first P arrival (SAC ``b``).
* Numerical parameters follow FK's meaning: complex frequency ``w - i sigma/T``,
  wavenumber step ``dk * pi / xmax`` (tightened automatically to Bouchon's condition so
  that no periodic image source arrives inside the time window), wavenumber limit
  ``sqrt(kc^2 + (pmax w)^2)`` with ``kc`` in 1/(source depth) and ``pmax`` in
  1/(source S velocity), and a cosine taper on the top ``taper`` fraction of frequencies.

The expensive part, the layer recursion, depends on (frequency, wavenumber) only; it is
done once and all distances are evaluated together by matrix products with Bessel
function tables.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.fft import irfft
from scipy.special import j0, j1

from cmtflow.errors import SolverError
from cmtflow.models import EarthModel, load_model
from cmtflow.solvers.base import COMPONENTS, GreensFunctions
from cmtflow.solvers.fk_kernel import SERIES, fk_kernels
from cmtflow.solvers.traveltimes import first_arrival

SOLVER_NAME = "cmtflow-fk"
#: Bumped whenever a change alters computed Green's functions (part of the cache key).
SOLVER_VERSION = "1.1"
#: A source closer than this to an interface (km) is refused: moduli there are ambiguous.
INTERFACE_TOLERANCE_KM = 1e-3
#: Pre-roll, in periods of fmax, added internally when the band is limited by fmax.
PREROLL_PERIODS = 4.0


@dataclass(frozen=True)
class FKParameters:
    """Numerical parameters (defaults are those of the FK code, ``fk.pl``).

    :param dk: wavenumber step in units of pi / max(distance, depth); reduced automatically
        to satisfy Bouchon's condition for the time window.
    :param kc: wavenumber limit at zero frequency, in units of 1 / source depth.
    :param pmin: smallest slowness, in units of 1 / (S velocity at the source).
    :param pmax: largest slowness, in units of 1 / (S velocity at the source).
    :param sigma: imaginary part of the frequency in units of 1 / (npts * dt); damps
        the wrap-around of late energy by exp(-sigma) over one window.
    :param taper: fraction of the highest computed frequencies tapered with a cosine.
    :param pre_samples: samples kept before the first P arrival.
    :param fmax: highest frequency computed in Hz (None: Nyquist). The output is
        band-limited to fmax; use it to make long, finely sampled windows affordable.
    """

    dk: float = 0.3
    kc: float = 15.0
    pmin: float = 0.0
    pmax: float = 1.0
    sigma: float = 2.0
    taper: float = 0.3
    pre_samples: int = 50
    fmax: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def check_source_depth(model: EarthModel, depth_km: float) -> None:
    """Refuse depths the solver cannot handle, with a message naming the problem."""
    if not math.isfinite(depth_km) or depth_km <= 0:
        raise SolverError(f"source depth must be a positive number of km, got {depth_km}")
    if model.water_layers:
        raise SolverError(f"model {model.name!r} has a water layer on top (vs = 0): the embedded solver computes "
                          "receivers on a solid free surface; for stations on land give the model without its "
                          "water layer")
    hs_top = model.halfspace_depth
    if abs(depth_km - hs_top) <= INTERFACE_TOLERANCE_KM:
        raise SolverError(f"source depth {depth_km} km is on the half-space boundary of model "
                          f"{model.name!r} ({hs_top} km); move it off the interface")
    near = np.abs(model.interfaces - depth_km) <= INTERFACE_TOLERANCE_KM
    if np.any(near):
        z = model.interfaces[near][0]
        raise SolverError(f"source depth {depth_km} km is on an interface of model {model.name!r} "
                          f"(at {z} km); move it off the interface by more than 1 m")


#: How far a source depth on a model interface is moved down for the solver (km): far below
#: what periods of seconds resolve, far above the solver's 1 m interface tolerance.
INTERFACE_NUDGE_KM = 0.02


def off_interfaces(model: EarthModel, depth_km: float) -> float:
    """``depth_km``, or ``depth_km + INTERFACE_NUDGE_KM`` when it lies on an interface of
    ``model``: catalogue depths (10, 33 km...) often coincide with model interfaces, where the
    solver has no source layer."""
    if np.any(np.abs(model.interfaces - depth_km) <= INTERFACE_TOLERANCE_KM):
        return depth_km + INTERFACE_NUDGE_KM
    return depth_km


#: A source in the half-space gets a transparent interface this far below it (same material
#: both sides: the waves do not see it), so that it sits in a layer as the kernels expect.
BELOW_SOURCE_KM = 1.0


def split_at_source(model: EarthModel, depth_km: float) -> tuple[EarthModel, int]:
    """The model with an interface at the source depth, and the index of the layer below it.
    A source below the top of the half-space (a sub-Moho event in a crustal model) is in a
    layer of the half-space's material cut out of it (:data:`BELOW_SOURCE_KM`)."""
    check_source_depth(model, depth_km)
    if depth_km > model.halfspace_depth:
        model, _ = model.split_at(depth_km + BELOW_SOURCE_KM)
    return model.split_at(depth_km)


#: Seconds added after a longest period to a record's length, against wrap-around.
WRAP_MARGIN_S = 60.0


def record_samples(seconds: float, tmax: float, dt: float) -> int:
    """Samples of the records that hold ``seconds`` of signal at a longest period ``tmax``:
    FK's records are periodic in their length, so a longest period and a minute more keep the
    late arrivals from wrapping into the window; then a power of two for the FFTs (256 at
    least)."""
    return 1 << max(int(math.ceil(math.log2((seconds + tmax + WRAP_MARGIN_S) / dt))), 8)


def check_sampling(distances_km, dt: float, npts: int) -> np.ndarray:
    """Validate distances (> 0 km), dt (> 0 s) and npts (a power of two >= 8)."""
    d = np.atleast_1d(np.asarray(distances_km, dtype=float))
    if d.size == 0:
        raise SolverError("no distances given")
    if not np.all(np.isfinite(d)) or np.any(d <= 0):
        bad = d[~(np.isfinite(d) & (d > 0))][0]
        raise SolverError(f"distances must be positive km, got {bad}")
    if not (math.isfinite(dt) and dt > 0):
        raise SolverError(f"dt must be a positive number of seconds, got {dt}")
    if npts < 8 or npts & (npts - 1):
        raise SolverError(f"npts must be a power of two >= 8 (FFT length), got {npts}")
    return d


def wavenumber_plan(lay: EarthModel, src: int, depth_km: float, distances: np.ndarray, t0: np.ndarray,
                    dt: float, npts: int, params: FKParameters):
    """Frequencies, damping and wavenumber sampling (see :class:`FKParameters`)."""
    T = npts * dt
    nfft2 = npts // 2
    dw = 2.0 * np.pi / T
    nfreq = nfft2
    if params.fmax is not None:
        if params.fmax <= 0:
            raise SolverError(f"fmax must be positive, got {params.fmax}")
        nfreq = min(nfft2, int(params.fmax / (dw / (2 * np.pi))) + 1)
    omega = np.arange(nfreq) * dw
    sigma = params.sigma / T
    hs = depth_km
    vs_src = lay.vs[src]
    xmax = max(hs, float(distances.max()))
    vmax = float(lay.vp.max())
    # Bouchon: periodic image sources (spacing 2 pi / dk) must not arrive in the window.
    reach = vmax * (max(float(t0.max()), 0.0) + T)
    bouchon = min(0.5, 1.0 / (1.0 + math.sqrt(max(reach**2 - hs**2, 0.0)) / xmax))
    dk = min(params.dk, bouchon) * np.pi / xmax
    kc = params.kc / hs
    pmax = params.pmax / vs_src
    kmax = np.sqrt(kc**2 + (pmax * omega) ** 2)
    nks = np.maximum(((kmax - (omega * params.pmin / vs_src + 0.5 * dk)) / dk).astype(np.int64), 1)
    return omega, sigma, dk, nks


def _complex_wavenumbers(lay: EarthModel, omega: np.ndarray, sigma: float):
    """Squared complex wavenumbers (constant Q, dispersion referred to 1 Hz) and shear moduli.

    As in FK, the attenuation enters through the wavenumbers only and the tractions use
    the elastic shear modulus. A fully anelastic modulus would raise low-frequency
    amplitudes by about -ln(f)/(pi Q) (1 % at 0.01 Hz for Q = 300); the FK reference files
    are reproduced to 0.1 % only with FK's choice.
    """
    w = omega - 1j * sigma
    att = np.log(w / (2 * np.pi))[:, None] / np.pi + 0.5j  # Aki & Richards p. 182, as FK
    ka = w[:, None] / (lay.vp[None, :] * (1.0 + att / lay.qp[None, :]))
    kb = w[:, None] / (lay.vs[None, :] * (1.0 + att / lay.qs[None, :]))
    ka2 = np.ascontiguousarray(ka**2)
    kb2 = np.ascontiguousarray(kb**2)
    mu = np.ascontiguousarray(np.broadcast_to((lay.rho * lay.vs**2)[None, :] + 0j, kb2.shape))
    return ka2, kb2, mu, w


def _bessel_tables(k: np.ndarray, r: np.ndarray) -> dict[str, np.ndarray]:
    x = k[:, None] * r[None, :]
    b0 = j0(x)
    b1 = j1(x)
    b1x = b1 / x
    b2 = 2.0 * b1x - b0
    b2x = b2 / x
    return {"J0": b0, "J1": b1, "J1p": b0 - b1x, "J1x": b1x, "J2": b2, "J2p": b1 - 2.0 * b2x, "J2x": b2x}


# component = sum of coefficient * (series @ bessel table)
_COMBINATIONS = {
    "ZDD": [(-1.0, "UZ_DD", "J0")],
    "RDD": [(-1.0, "UR_DD", "J1")],
    "ZDS": [(-1.0, "UZ_DS", "J1")],
    "RDS": [(1.0, "UR_DS", "J1p"), (-1.0, "W_DS", "J1x")],
    "TDS": [(-1.0, "UR_DS", "J1x"), (1.0, "W_DS", "J1p")],
    "ZSS": [(-1.0, "UZ_SS", "J2")],
    "RSS": [(1.0, "UR_SS", "J2p"), (-2.0, "W_SS", "J2x")],
    "TSS": [(-2.0, "UR_SS", "J2x"), (1.0, "W_SS", "J2p")],
    "ZEP": [(-1.0, "UZ_EP", "J0")],
    "REP": [(-1.0, "UR_EP", "J1")],
}


def _interleaved_order(n: int) -> np.ndarray:
    """0, n-1, 1, n-2, ...: equal work per thread under numba's static scheduling."""
    order = np.empty(n, np.int64)
    order[0::2] = np.arange((n + 1) // 2)
    order[1::2] = np.arange(n - 1, (n + 1) // 2 - 1, -1)
    return order


def warm_up() -> None:
    """Compile the solver's numba kernels into their cache (``make install``, the image build):
    a user's first run loads them instead of compiling them (about 3 s)."""
    compute_greens("scak", 12.0, [50.0], 1.0, 64)


def compute_greens(model: EarthModel | str, depth_km: float, distances_km, dt: float, npts: int,
                   params: FKParameters | None = None) -> GreensFunctions:
    """Green's functions of the fundamental sources at the surface.

    :param model: an :class:`EarthModel`, a shipped model name or an FK model file.
    :param depth_km: source depth in km (not on an interface; in the half-space too).
    :param distances_km: epicentral distances in km (> 0), any number, any order.
    :param dt: sampling interval in s.
    :param npts: samples per trace, a power of two (the FFT length).
    :param params: numerical parameters; FK defaults when omitted.
    :returns: :class:`GreensFunctions` in the FK convention (see module docstring).
    """
    params = params or FKParameters()
    model = load_model(model)
    distances = check_sampling(distances_km, dt, npts)
    lay, src = split_at_source(model, depth_km)
    tp = first_arrival(model.thickness, model.vp, depth_km, distances)
    ts = first_arrival(model.thickness, model.vs, depth_km, distances)
    t0 = tp - params.pre_samples * dt

    # Band-limiting (fmax) spreads a sharp onset over ~1/fmax before it; compute with a
    # longer pre-roll so that this acausal part stays inside the window instead of
    # wrapping around to its end, then cut back to the requested window. The samples kept
    # before P already hold part of it (all of it for a long-period band): a pre-roll that
    # the window holds would double the FFT length for nothing.
    preroll = 0
    if params.fmax is not None and params.fmax < 0.5 / dt:
        preroll = max(0, int(math.ceil(PREROLL_PERIODS / (params.fmax * dt))) - params.pre_samples)
    n_int = 1 << int(math.ceil(math.log2(npts + preroll)))
    t0_int = t0 - preroll * dt
    impulse, step, info = _wavefield(lay, src, depth_km, distances, t0_int, dt, n_int, params)
    impulse = impulse[:, :, preroll:preroll + npts]
    step = step[:, :, preroll:preroll + npts]

    return GreensFunctions(
        model=model.name, model_fingerprint=model.fingerprint(), depth_km=float(depth_km),
        distances_km=distances, dt=float(dt), npts=int(npts), t0=t0, tp=tp, ts=ts,
        impulse=np.ascontiguousarray(impulse), step=np.ascontiguousarray(step),
        solver=SOLVER_NAME, solver_version=SOLVER_VERSION,
        parameters={**params.as_dict(), **info, "preroll_samples": preroll},
    )


#: Bytes per (frequency, wavenumber) of a kernel block: ten complex series, and the real and
#: imaginary parts of one series copied for the matrix products.
_KERNEL_BYTES = len(SERIES) * 16 + 2 * 8
#: Bytes per (wavenumber, distance) of the Bessel tables: seven tables and their temporaries.
_TABLE_BYTES = 10 * 8


def integration_blocks(nw: int, nkmax: int, n_distances: int, memory_bytes: float) -> tuple[int, int]:
    """Frequencies and distances per block of the wavenumber integration: half of
    ``memory_bytes`` for the kernels of a frequency block, a quarter for the Bessel tables
    of a distance block (at least one of each)."""
    per_block_w = max(1, min(nw, int(0.5 * memory_bytes // (_KERNEL_BYTES * nkmax))))
    per_block_d = max(1, min(n_distances, int(0.25 * memory_bytes // (_TABLE_BYTES * nkmax))))
    return per_block_w, per_block_d


def _combine(kern: np.ndarray, tables: dict[str, np.ndarray]) -> np.ndarray:
    """The ten components' spectra (10, frequencies, distances) of a kernel block."""
    series_index = {name: i for i, name in enumerate(SERIES)}
    spectra = np.zeros((len(COMPONENTS), kern.shape[1], next(iter(tables.values())).shape[1]), np.complex128)
    products: dict[tuple[str, str], np.ndarray] = {}
    for c, comp in enumerate(COMPONENTS):
        for coef, ser, tab in _COMBINATIONS[comp]:
            key = (ser, tab)
            if key not in products:
                kk = kern[series_index[ser]]
                products[key] = (np.ascontiguousarray(kk.real) @ tables[tab]
                                 + 1j * (np.ascontiguousarray(kk.imag) @ tables[tab]))
            spectra[c] += coef * products[key]
    return spectra


def _wavefield(lay: EarthModel, src: int, depth_km: float, distances: np.ndarray, t0: np.ndarray,
               dt: float, npts: int, params: FKParameters):
    """Impulse and step responses (10, n_dist, npts) for traces starting at ``t0``.

    The kernels of all (frequency, wavenumber) pairs would take 176 bytes each (17 GB for a
    broadband set, 8192 samples at 0.02 s): they are computed a block of frequencies at a
    time and reduced to spectra at once, in blocks of distances, within
    ``CMTFLOW_GREENS_MEMORY_GB`` (:data:`cmtflow.config.settings`).
    """
    from cmtflow.config import settings

    omega, sigma, dk, nks = wavenumber_plan(lay, src, depth_km, distances, t0, dt, npts, params)
    ka2, kb2, mu, w = _complex_wavenumbers(lay, omega, sigma)
    nkmax = int(nks.max())
    nw, nd = len(omega), len(distances)
    rho_a2 = lay.rho[src] * lay.vp[src] ** 2
    mu_s = lay.rho[src] * lay.vs[src] ** 2
    xi = (lay.vs[src] / lay.vp[src]) ** 2
    same = lay.same_as_above()
    per_w, per_d = integration_blocks(nw, nkmax, nd, settings.greens_memory_gb * 1e9)
    k = (np.arange(nkmax) + 0.5) * dk
    tables = _bessel_tables(k, distances) if per_d == nd else None  # all at once when they fit
    spectra = np.zeros((len(COMPONENTS), nw, nd), np.complex128)
    for i0 in range(0, nw, per_w):
        i1 = min(i0 + per_w, nw)
        nkb = int(nks[i0:i1].max())  # low frequencies need fewer wavenumbers
        kern = np.zeros((len(SERIES), i1 - i0, nkb), np.complex128)
        fk_kernels(ka2[i0:i1], kb2[i0:i1], mu[i0:i1], lay.thickness, same, src, nks[i0:i1],
                   _interleaved_order(i1 - i0), dk, rho_a2, mu_s, xi, kern)
        for d0 in range(0, nd, per_d):
            d1 = min(d0 + per_d, nd)
            block = ({name: t[:nkb] for name, t in tables.items()} if tables is not None
                     else _bessel_tables(k[:nkb], distances[d0:d1]))
            spectra[:, i0:i1, d0:d1] = _combine(kern, block)
        del kern
    if not np.any(spectra):  # numba's threads did not run (e.g. in a process forked after they had)
        raise SolverError("the wavenumber integration computed nothing: the solver's parallel kernels did not run "
                          "in this process (was it forked from one that had used them?)")

    # frequency taper (FK's low-pass), time shift to t0, inverse FFT, undo the damping
    wc = max(int(nw * (1.0 - params.taper)), 1)
    j = np.arange(1, nw + 1)
    filt = np.where(j > wc, 0.5 * (1.0 + np.cos((j - wc) * np.pi / (nw - wc + 1))), 1.0)
    shift = filt[:, None] * np.exp(1j * omega[:, None] * t0[None, :])
    damp = np.exp(sigma * (t0[None, :] + dt * np.arange(npts)[:, None])) / dt
    full = np.zeros((len(COMPONENTS), npts // 2 + 1, len(distances)), np.complex128)
    full[:, :nw] = spectra * shift[None]
    impulse = irfft(full, n=npts, axis=1) * damp[None]
    full[:, :nw] /= 1j * w[None, :, None]
    step = irfft(full, n=npts, axis=1) * damp[None]
    # A step response keeps its static offset S after the window; the periodic copies
    # of that tail add S q / (1 - q) (q = exp(-sigma T)) to every sample, before P too.
    # With g the computed trace, S = g_end (1 - q), so subtracting q g_end removes it.
    q = math.exp(-sigma * npts * dt)
    tail = max(npts // 50, 1)
    step -= q * step[:, -tail:, :].mean(axis=1, keepdims=True)
    info = {"dk_per_km": dk, "sigma_per_s": sigma, "nk_max": nkmax, "n_frequencies": nw}
    return impulse.transpose(0, 2, 1), step.transpose(0, 2, 1), info
