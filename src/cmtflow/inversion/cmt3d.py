"""CMT3D source inversion (Liu, Tromp et al. 2004), as plain functions.

Linearised least squares on windowed waveforms::

    min_dm  sum_w W_w || T_w [ d_w(t + dT_w) - s_w(t) - sum_i ds_w,i(t) dm_i ] ||^2

with ``dT_w`` the cross-correlation time shift of window w (so that mis-timing from
unmodelled structure does not bias the mechanism), ``T_w`` a Tukey taper and ``W_w`` the
data weight. Parameters are scaled (moment tensor by the initial M0, depth by 1 km,
latitude/longitude by 0.01 degree) before forming the normal equations ``A x = b``.
Options: damping ``A + lambda mean(diag A) I``; zero trace (Lagrange multiplier); double
couple (det M = 0, sequential quadratic programming with the zero-trace constraint).
Afterwards a grid search over a common time shift (the centroid time) and a moment scale
refines the solution on un-shifted windows, and a bootstrap over stations (all windows of a
station together: its components are not independent data) gives uncertainties.

Two variance reductions are reported: the one the inversion minimises (windows re-aligned
by their own cross-correlation shifts, weighted) and the plain one a reader expects,
``1 - sum |d - s|^2 / sum |d|^2`` over all used windows with the final synthetics shifted by
the centroid time shift only, unweighted (:func:`plain_variance_reduction`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.signal.windows import tukey

from cmtflow.errors import CmtflowError, NoSolutionError
from cmtflow.inversion.dataset import PARAMETERS, InversionDataset
from cmtflow.misfit import Measurement, MeasureConfig, WeightConfig, Window, measure_window, window_weights
from cmtflow.source import Source, kagan_angle, mt_to_matrix

log = logging.getLogger(__name__)

#: Largest difference of the Z and R surface-wave time shifts of one station, as a fraction
#: of the shortest period (the two record one Rayleigh wave).
RAYLEIGH_SHIFT_FRACTION = 0.25
#: Scale of each parameter in the normal equations (N·m scale = initial M0 at run time).
PARAMETER_SCALE = {"depth": 1.0, "latitude": 0.01, "longitude": 0.01}


class InversionError(CmtflowError):
    """The inversion cannot be done (missing derivatives, an unstable update)."""


class UndeterminedError(InversionError, NoSolutionError):
    """The data do not determine the source: fewer accepted windows than parameters, or a
    singular system."""


@dataclass(frozen=True)
class InversionConfig:
    """Options of :func:`invert`.

    :param n_params: 6 (moment tensor), 7 (+ depth) or 9 (+ depth, latitude, longitude).
    :param zero_trace: constrain the moment tensor to be deviatoric.
    :param double_couple: constrain it further to a double couple (det M = 0).
    :param damping: lambda of the damping term (relative to the mean diagonal of A).
    :param bootstrap: number of bootstrap repeats (0: none).
    :param seed: random seed of the bootstrap (reproducible uncertainties).
    :param max_time_shift: half width (s) of the centroid-time grid search (0: none).
    :param moment_scales: (min, max, step) of the moment-scale grid search.
    :param taper_alpha: Tukey taper fraction applied inside each window.
    :param iterations: Gauss-Newton iterations; each re-measures windows and time shifts
        against the updated (linearised) synthetics ``s0 + sum(ds_i dm_i)``.
    :param shortest_period_s: the band's shortest period (s): bounds each window's time
        shift (:meth:`~cmtflow.misfit.MeasureConfig.for_window`); None: ``measure.max_shift``.
    :param robust_start: make the first iteration independent of the initial moment tensor:
        all windows with data, one common time shift for all (the best within
        ``max_time_shift``, which absorbs an error of the initial centroid time), each window
        normalised by its observed energy. The moment tensor enters the waveforms linearly, so this pass
        gives the same estimate from any start, and no single station (a wrong gain, a
        clipped record) can dominate it; later iterations apply the thresholds and time
        shifts to synthetics that already resemble the data. Without it, windows are
        selected and aligned against the initial synthetics, which only works from a
        start close to the answer (cycle skips and polarity flips otherwise).
    """

    n_params: int = 6
    zero_trace: bool = True
    double_couple: bool = False
    damping: float = 0.0
    bootstrap: int = 200
    seed: int = 12345
    max_time_shift: float = 5.0
    moment_scales: tuple[float, float, float] = (0.5, 1.5, 0.01)
    taper_alpha: float = 0.1
    iterations: int = 20
    robust_start: bool = True
    shortest_period_s: float | None = None
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    weights: WeightConfig = field(default_factory=WeightConfig)

    def __post_init__(self):
        if self.n_params not in (6, 7, 9):
            raise CmtflowError(f"n_params must be 6, 7 or 9, got {self.n_params}")
        if self.bootstrap < 0:
            raise CmtflowError(f"bootstrap must be >= 0, got {self.bootstrap}")


@dataclass
class WindowRecord:
    """A window with its weight and measurements.

    For a used window, ``shift_s``, ``cc`` and ``dlna`` are measured against the initial
    synthetics and the ``*_after`` fields against the final ones; for a rejected window they
    are the measurements that rejected it (``reason``). Time shifts in s, positive when the
    data arrive later than the synthetic; dlnA = ln(A_obs / A_syn).
    """

    window: Window
    weight: float
    shift_s: float
    cc: float
    dlna: float
    accepted: bool
    reason: str = ""
    shift_after_s: float = 0.0
    cc_after: float = 0.0
    dlna_after: float = 0.0


@dataclass
class InversionResult:
    """Outcome of :func:`invert` (see :meth:`to_json_dict` for the published fields)."""

    initial: Source
    source: Source
    parameters: tuple[str, ...]
    dm: np.ndarray
    sigma: np.ndarray
    variance_reduction_before: float
    variance_reduction_after: float
    time_shift_s: float
    moment_scale: float
    windows: list[WindowRecord]
    stations_used: list[str]
    bootstrap_samples: np.ndarray | None = None
    condition_number: float = 0.0
    plain_variance_reduction: float = float("nan")
    components_used: int = 0
    inversion_type: str = "zero trace"  # QuakeML's: general, zero trace or double couple
    screened: dict[str, str] = field(default_factory=dict)  # stations dropped as outliers, and why

    @property
    def kagan_to_initial(self) -> float:
        return kagan_angle(self.initial.mt, self.source.mt)

    def to_json_dict(self) -> dict:
        """``solution.json`` fields (moment tensor in N·m, angles in degrees)."""
        s = self.source
        p1, p2 = s.nodal_planes
        sig = dict(zip(self.parameters, self.sigma))
        return {
            "event_id": s.event_id,
            "centroid": {"time": str(s.time), "latitude": s.latitude, "longitude": s.longitude,
                         "depth_km": s.depth_km, "half_duration_s": s.half_duration,
                         "time_shift_from_initial_s": float(s.time - self.initial.time)},
            "moment_tensor_nm": {name: float(v) for name, v in zip(("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp"), s.mt)},
            "m0_nm": s.m0,
            "mw": s.mw,
            "nodal_planes": [{"strike": p1[0], "dip": p1[1], "rake": p1[2]},
                             {"strike": p2[0], "dip": p2[1], "rake": p2[2]}],
            "uncertainties": {
                "method": f"bootstrap over stations ({0 if self.bootstrap_samples is None else len(self.bootstrap_samples)} repeats)",
                "moment_tensor_nm": {k: float(v) for k, v in sig.items() if k.startswith("M")},
                **({"depth_km": float(sig["depth"])} if "depth" in sig else {}),
                **({"latitude_deg": float(sig["latitude"]), "longitude_deg": float(sig["longitude"])}
                   if "latitude" in sig else {}),
            },
            "variance_reduction": {
                "before": self.variance_reduction_before, "after": self.variance_reduction_after,
                "plain": self.plain_variance_reduction,
                "definitions": {
                    "after": "1 - sum W |d - s|^2 / sum W |d|^2, each window re-aligned by its own cross-correlation "
                             "shift, with the inversion's weights W (what the inversion minimises)",
                    "plain": "1 - sum |d - s|^2 / sum |d|^2 over all used windows, the final synthetics shifted by "
                             "the centroid time shift only, unweighted"}},
            "condition_number": self.condition_number,
            "components_used": self.components_used,
            "kagan_angle_to_initial_deg": self.kagan_to_initial,
            "moment_scale": self.moment_scale,
            "stations_used": self.stations_used,
            "stations_dropped": dict(self.screened),
            "windows": {"total": len(self.windows), "used": sum(w.accepted for w in self.windows)},
            "parameters_inverted": list(self.parameters),
        }


# ----------------------------------------------------------------------------- windows
@dataclass
class _Prepared:
    """Per accepted window: weighted arrays ready for the normal equations."""

    rows: list[tuple[int, Window, np.ndarray, np.ndarray, np.ndarray]]  # (channel idx, window, d, s, G)
    weights: np.ndarray
    records: list[WindowRecord]


def _prepare(dataset: InversionDataset, windows: list[Window], params: tuple[str, ...], scale: np.ndarray,
             config: InversionConfig, cap_weights: dict | None, syn: dict[int, np.ndarray],
             common_lag: int | None = None) -> _Prepared:
    """Measure every window against ``syn``, keep the accepted ones, weight them and cut the
    tapered, aligned arrays.

    ``common_lag`` (samples) selects the start-independent first pass (see
    :class:`InversionConfig`): every window with finite data is used, all shifted by this
    one lag, and weighted by its observed energy.
    """
    weighting = config.weights
    if common_lag is not None:
        weighting = replace(weighting, energy_normalisation=True)
    index = {ch.channel: i for i, ch in enumerate(dataset.channels)}
    candidates = []
    for win in windows:
        if win.channel not in index:
            continue
        i = index[win.channel]
        ch = dataset.channels[i]
        if common_lag is None:
            m = measure_channel(ch, syn[i], win, config)
        else:
            m = _unmeasured(ch, win, common_lag)
        candidates.append((i, win, m))
    if common_lag is None and config.shortest_period_s:
        candidates = _tie_rayleigh_shifts(dataset, candidates, RAYLEIGH_SHIFT_FRACTION * config.shortest_period_s)
    candidates = _without_silent_windows(dataset, candidates)
    accepted = [(i, w, m) for i, w, m in candidates if m.accepted]
    energies = [_window_energy(dataset.channels[i], m) for i, w, m in accepted]
    weights = window_weights([w for _, w, _ in accepted],
                             [dataset.channels[i].distance_km for i, _, _ in accepted],
                             [dataset.channels[i].azimuth for i, _, _ in accepted],
                             energies, weighting, cap_weights) if accepted else np.array([])
    rows, records, wi = [], [], 0
    for i, w, m in candidates:
        if not m.accepted:
            records.append(WindowRecord(w, 0.0, m.shift_s, m.cc, m.dlna, False, m.reason))
            continue
        ch = dataset.channels[i]
        taper = tukey(m.i1 - m.i0, config.taper_alpha)
        d = ch.obs[m.i0 + m.shift_samples:m.i1 + m.shift_samples] * taper
        s = syn[i][m.i0:m.i1] * taper
        g = np.stack([ch.dsyn[p][m.i0:m.i1] * taper * scale[k] for k, p in enumerate(params)])
        rows.append((i, w, d, s, g))
        records.append(WindowRecord(w, float(weights[wi]), m.shift_s, m.cc, m.dlna, True))
        wi += 1
    return _Prepared(rows, weights, records)


#: A window whose data energy is below this fraction of the median window's holds no signal
#: (a dead channel's numerical noise): energy normalisation would give it an unbounded weight.
SILENT_ENERGY_FRACTION = 1e-8


def _window_energy(ch, m: Measurement) -> float:
    return float(np.sum(ch.obs[m.i0 + m.shift_samples:m.i1 + m.shift_samples] ** 2))


def _without_silent_windows(dataset, candidates):
    """The candidates, those whose data hold no signal (:data:`SILENT_ENERGY_FRACTION`) rejected."""
    energy = [_window_energy(dataset.channels[i], m) if m.accepted else np.nan for i, _, m in candidates]
    finite = [e for e in energy if np.isfinite(e)]
    if not finite:
        return candidates
    floor = SILENT_ENERGY_FRACTION * float(np.median(finite))
    return [(i, w, m) if not m.accepted or e > floor else
            (i, w, replace(m, accepted=False, reason="no signal in the window (a dead channel?)"))
            for (i, w, m), e in zip(candidates, energy)]


def _tie_rayleigh_shifts(dataset, candidates, tolerance_s: float):
    """Reject the Z and R surface-wave windows of a station whose time shifts differ by more
    than ``tolerance_s``: they record one Rayleigh wave, so they arrive together, and a
    disagreement means one component is reversed, misoriented or cycle-skipped."""
    surface: dict[str, dict[str, int]] = {}
    for k, (i, win, m) in enumerate(candidates):
        comp = win.channel[-1]
        if win.kind == "surface" and comp in "ZR" and m.accepted:
            surface.setdefault(dataset.channels[i].station, {})[comp] = k
    out = list(candidates)
    for pair in surface.values():
        if len(pair) < 2:
            continue
        kz, kr = pair["Z"], pair["R"]
        gap = abs(out[kz][2].shift_s - out[kr][2].shift_s)
        if gap > tolerance_s:
            why = f"Z and R shifts differ by {gap:.1f} s > {tolerance_s:.1f} s (one Rayleigh wave)"
            for k in (kz, kr):
                i, win, m = out[k]
                out[k] = (i, win, replace(m, accepted=False, reason=why))
    return out


def measure_channel(ch, syn: np.ndarray, win: Window, config: InversionConfig) -> Measurement:
    """One window of channel ``ch`` measured against ``syn`` with the thresholds of its
    distance and the band (:meth:`~cmtflow.misfit.MeasureConfig.for_window`)."""
    return measure_window(ch.obs, syn, ch.t0, ch.dt, win.start, win.end,
                          config.measure.for_window(ch.distance_km, config.shortest_period_s))


def _unmeasured(ch, win: Window, lag: int) -> Measurement:
    """A window taken as it is, with the data moved by ``lag`` samples (first pass)."""
    i0 = max(int(round((win.start - ch.t0) / ch.dt)), 0)
    i1 = min(int(round((win.end - ch.t0) / ch.dt)), len(ch.obs))
    d = ch.obs[i0 + lag:i1 + lag] if i0 + lag >= 0 and i1 + lag <= len(ch.obs) else np.array([])
    ok = i1 - i0 >= 8 and len(d) == i1 - i0 and np.all(np.isfinite(d)) and np.any(d)
    return Measurement(lag * ch.dt, lag, 0.0, 0.0, 0.0, i0, i1, bool(ok), "" if ok else "no usable data in window")


def _first_pass(dataset, windows, params, scale, config, cap_weights, syn, m_scaled):
    """The start-independent first pass: the common lag (samples, within the centroid-time
    search range) whose linear solution fits the energy-normalised windows best, and its
    prepared windows.

    Only the data move with the lag: each window's tapered synthetic and derivatives, and the
    derivatives' products, are computed once; per lag the windows are taken and tested as
    :func:`_prepare` takes them (:func:`_unmeasured`, :func:`_without_silent_windows`), weighted
    by their energy and the normal equations formed; :func:`_prepare` then prepares the best."""
    dt = dataset.channels[0].dt
    max_lag = int(round(config.max_time_shift / dt))
    weighting = replace(config.weights, energy_normalisation=True)
    index = {ch.channel: i for i, ch in enumerate(dataset.channels)}
    fixed = []  # per window: its channel's index, the window, its taper, tapered synthetic, derivatives, their products
    for win in windows:
        if win.channel not in index:
            continue
        i = index[win.channel]
        m = _unmeasured(dataset.channels[i], win, 0)
        if m.i1 - m.i0 < 8:  # too short at every lag
            continue
        taper = tukey(m.i1 - m.i0, config.taper_alpha)
        g = np.stack([dataset.channels[i].dsyn[p][m.i0:m.i1] * taper * scale[k] for k, p in enumerate(params)])
        fixed.append((i, win, taper, syn[i][m.i0:m.i1] * taper, g, g @ g.T))
    best = None
    for lag in range(-max_lag, max_lag + 1):
        candidates = _without_silent_windows(dataset, [(i, win, _unmeasured(dataset.channels[i], win, lag))
                                                       for i, win, *_ in fixed])
        accepted = [(entry, m) for entry, (_, _, m) in zip(fixed, candidates) if m.accepted]
        if len(accepted) < config.n_params:
            continue
        channels = [dataset.channels[entry[0]] for entry, _ in accepted]
        weights = window_weights([entry[1] for entry, _ in accepted], [ch.distance_km for ch in channels],
                                 [ch.azimuth for ch in channels],
                                 [_window_energy(ch, m) for ch, (_, m) in zip(channels, accepted)], weighting,
                                 cap_weights)
        rows = [(ch.obs[m.i0 + lag:m.i1 + lag] * taper - s_t, g, gg)
                for ch, ((_, _, taper, s_t, g, gg), m) in zip(channels, accepted)]
        a = sum(wt * gg for wt, (_, _, gg) in zip(weights, rows))
        b = sum(wt * (g @ r) for wt, (r, g, _) in zip(weights, rows))
        try:
            x = _solve(a, b, m_scaled, config)
        except np.linalg.LinAlgError:
            continue
        misfit = sum(wt * np.sum((r - x @ g) ** 2) for wt, (r, g, _) in zip(weights, rows))
        if best is None or misfit < best[0]:
            best = (misfit, lag)
    lag = 0 if best is None else best[1]
    return _prepare(dataset, windows, params, scale, config, cap_weights, syn, common_lag=lag), lag


def _normal_equations(prep: _Prepared):
    """Per-window A_w and b_w (weighted), stacked: (n_win, npar, npar), (n_win, npar)."""
    a = np.stack([wt * g @ g.T for wt, (_, _, d, s, g) in zip(prep.weights, prep.rows)])
    b = np.stack([wt * g @ (d - s) for wt, (_, _, d, s, g) in zip(prep.weights, prep.rows)])
    return a, b


# ----------------------------------------------------------------------------- solve
def _solve(a: np.ndarray, b: np.ndarray, m0_scaled: np.ndarray, config: InversionConfig) -> np.ndarray:
    """Scaled parameter update x for the system A x = b with the configured constraints."""
    npar = len(b)
    a = a.copy()
    if config.damping > 0:
        a += config.damping * np.mean(np.diag(a)) * np.eye(npar)
    if not (config.zero_trace or config.double_couple):
        return np.linalg.solve(a, b)
    trace_row = np.zeros(npar)
    trace_row[:3] = 1.0
    trace_rhs = -float(np.sum(m0_scaled[:3]))

    def kkt(rows, rhs):
        c = np.atleast_2d(rows)
        k = np.block([[a, c.T], [c, np.zeros((len(c), len(c)))]])
        return np.linalg.solve(k, np.concatenate([b, rhs]))[:npar]

    x = kkt(trace_row, [trace_rhs])
    if not config.double_couple:
        return x
    # det(M) = 0 linearised around the current x: det(M) + grad . (x' - x) = 0 (SQP)
    for _ in range(30):
        m = mt_to_matrix(m0_scaled[:6] + x[:6])
        det = np.linalg.det(m)
        cof = det * np.linalg.inv(m).T if abs(det) > 0 else _cofactor(m)
        grad = np.zeros(npar)
        # d det / d(Mrr, Mtt, Mpp, Mrt, Mrp, Mtp) with symmetric off-diagonal entries
        grad[:6] = [cof[0, 0], cof[1, 1], cof[2, 2], 2 * cof[0, 1], 2 * cof[0, 2], 2 * cof[1, 2]]
        x_new = kkt(np.vstack([trace_row, grad]), [trace_rhs, grad @ x - det])
        if np.max(np.abs(x_new - x)) < 1e-10 * max(1.0, np.max(np.abs(x))):
            x = x_new
            break
        x = x_new
    return x


def _cofactor(m: np.ndarray) -> np.ndarray:
    c = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            minor = np.delete(np.delete(m, i, 0), j, 1)
            c[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return c


# ----------------------------------------------------------------------------- main
def invert(dataset: InversionDataset, windows: list[Window], config: InversionConfig = InversionConfig(),
           cap_weights: dict | None = None) -> InversionResult:
    """Invert ``dataset`` on ``windows`` (see module docstring).

    :raises UndeterminedError: fewer accepted windows than parameters, or a singular system;
        the message says which (a "no solution" of the run, :class:`~cmtflow.errors.NoSolutionError`).
    :raises InversionError: no derivative synthetics for a parameter, or a depth update that
        would put the centroid above the surface.
    """
    params = PARAMETERS[:config.n_params]
    missing = [p for p in params if p not in dataset.available_parameters()]
    if missing:
        raise InversionError(f"no derivative synthetics for {', '.join(missing)}: cannot invert "
                             f"{config.n_params} parameters")
    src = dataset.source
    m0 = src.m0
    scale = np.array([m0 if p.startswith("M") else PARAMETER_SCALE[p] for p in params])
    location = np.array([src.depth_km, src.latitude, src.longitude])
    initial_syn = {i: ch.syn for i, ch in enumerate(dataset.channels)}
    initial_dataset, base_lag = dataset, 0
    dm = np.zeros(config.n_params)  # accumulated update, natural units
    for iteration in range(max(config.iterations, 1)):
        current = linear_synthetics(dataset, params, dm)
        m_scaled = np.concatenate([(src.mt + dm[:6]) / m0, dm[6:] / scale[6:]])
        if config.robust_start and iteration == 0:
            prep, base_lag = _first_pass(dataset, windows, params, scale, config, cap_weights, current, m_scaled)
            # later iterations measure each window's own shift around the common one, so
            # that a centroid-time error larger than the allowed window shift is not a misfit
            dataset = shifted_dataset(dataset, base_lag)
        else:
            prep = _prepare(dataset, windows, params, scale, config, cap_weights, current)
        n_win = len(prep.rows)
        if n_win < config.n_params:
            reasons = sorted({r.reason for r in prep.records if not r.accepted})
            raise UndeterminedError(f"only {n_win} usable windows for {config.n_params} parameters; not determined "
                                    f"(rejected: {'; '.join(reasons) or 'none'})")
        a_w, b_w = _normal_equations(prep)
        a, b = a_w.sum(axis=0), b_w.sum(axis=0)
        cond = float(np.linalg.cond(a))
        if not np.isfinite(cond) or cond > 1e12:
            raise UndeterminedError(f"the normal equations are singular (condition number {cond:.2e}): the windows "
                                    "do not constrain all parameters; use fewer parameters or more stations")
        x = _solve(a, b, m_scaled, config)
        dm = dm + x * scale
        log.info("iteration %d: %d windows, max scaled update %.2e", iteration + 1, n_win, np.max(np.abs(x)))
        if np.max(np.abs(x)) < 1e-4:
            break
    new_syn = linear_synthetics(dataset, params, dm)
    tau, alpha = _grid_search(dataset, prep, new_syn, config)
    mt_new = (src.mt + dm[:6]) * alpha
    loc = location.copy()
    for k, p in enumerate(params[6:], start=6):
        loc[["depth", "latitude", "longitude"].index(p)] += dm[k]
    if loc[0] <= 0:
        raise InversionError(f"the depth update would put the centroid above the surface ({loc[0]:.2f} km)")
    tau += base_lag * dataset.channels[0].dt
    new_syn = {i: delayed(new_syn[i], -base_lag) for i in new_syn}  # on the initial time axis again
    dataset = initial_dataset
    new_source = Source(time=src.time + tau, latitude=float(loc[1]), longitude=float(loc[2]), depth_km=float(loc[0]),
                        mt=mt_new, half_duration=src.half_duration, event_id=src.event_id, hypocenter=src.hypocenter)
    _measure_before_after(dataset, prep, initial_syn, new_syn, tau, alpha, config)
    # before and after on the same (final) windows and weights, so the two compare
    vr0 = _variance_reduction(dataset, prep, initial_syn, 0.0, 1.0, config)
    vr1 = _variance_reduction(dataset, prep, new_syn, tau, alpha, config)

    samples = None
    sigma = np.zeros(config.n_params)
    station_of = np.array([dataset.channels[i].station for i, *_ in prep.rows])
    names = sorted(set(station_of))
    by_station = [np.flatnonzero(station_of == name) for name in names]
    if config.bootstrap:
        rng = np.random.default_rng(config.seed)
        samples = np.empty((config.bootstrap, config.n_params))
        for r in range(config.bootstrap):
            pick = np.concatenate([by_station[k] for k in rng.integers(0, len(names), len(names))])
            try:
                # spread of the last Gauss-Newton step, resampling its windows
                samples[r] = dm - x * scale + _solve(a_w[pick].sum(axis=0), b_w[pick].sum(axis=0), m_scaled,
                                                     config) * scale
            except np.linalg.LinAlgError:
                samples[r] = np.nan
        samples = samples[np.all(np.isfinite(samples), axis=1)]
        sigma = np.std(samples, axis=0, ddof=1) if len(samples) > 1 else sigma
    plain = plain_variance_reduction(dataset, prep.rows, new_syn, tau, alpha)
    kind = "double couple" if config.double_couple else "zero trace" if config.zero_trace else "general"
    return InversionResult(src, new_source, params, dm, sigma, vr0, vr1, tau, alpha, prep.records,
                           names, samples, cond, plain, len({i for i, *_ in prep.rows}), kind)


def _measure_before_after(dataset, prep, initial_syn, syn, tau, alpha, config) -> None:
    """Measurements of the used windows against the initial synthetics and against the
    final ones (with the grid-search time shift and moment scale)."""
    lag = int(round(tau / dataset.channels[0].dt))
    used = iter(r for r in prep.records if r.accepted)
    for i, win, *_ in prep.rows:
        ch, rec = dataset.channels[i], next(used)
        before = measure_channel(ch, initial_syn[i], win, config)
        after = measure_channel(ch, alpha * delayed(syn[i], lag), win, config)
        rec.shift_s, rec.cc, rec.dlna = before.shift_s, before.cc, before.dlna
        rec.shift_after_s, rec.cc_after, rec.dlna_after = after.shift_s, after.cc, after.dlna


def shifted_dataset(dataset: InversionDataset, lag: int) -> InversionDataset:
    """A copy whose synthetics and derivatives are ``lag`` samples later (a source ``lag dt``
    later); the data are untouched."""
    if lag == 0:
        return dataset
    channels = [replace(ch, syn=delayed(ch.syn, lag), dsyn={p: delayed(d, lag) for p, d in ch.dsyn.items()})
                for ch in dataset.channels]
    return replace(dataset, channels=channels)


def linear_synthetics(dataset: InversionDataset, params, dm) -> dict[int, np.ndarray]:
    """s0 + sum_i ds_i dm_i for every channel (exact for the moment tensor)."""
    out = {}
    for i, ch in enumerate(dataset.channels):
        s = ch.syn.copy()
        for k, p in enumerate(params):
            if dm[k]:
                s += ch.dsyn[p] * dm[k]
        out[i] = s
    return out


def delayed(data: np.ndarray, lag: int) -> np.ndarray:
    """data(t - lag dt) on the same axis (zeros shifted in)."""
    out = np.zeros_like(data)
    if lag >= 0:
        out[lag:] = data[:len(data) - lag]
    else:
        out[:lag] = data[-lag:]
    return out


def _grid_search(dataset, prep, new_syn, config):
    """Centroid time shift (s) and moment scale.

    The time shift minimises the weighted misfit of the un-shifted windows (the data's
    own timing decides the centroid time, each trial at its best scale). The moment scale
    is then searched on the windows re-aligned by their own cross-correlation shifts, the
    misfit the Gauss-Newton step minimises: on mis-aligned windows a least-squares scale
    shrinks with the correlation coefficient and would bias the moment low.
    """
    dt = dataset.channels[0].dt
    max_lag = int(round(config.max_time_shift / dt))
    lo, hi, step = config.moment_scales
    scales = np.arange(lo, hi + 0.5 * step, step)
    best = (np.inf, 0)
    for lag in range(-max_lag, max_lag + 1):
        sd = ss = dd = 0.0
        for wt, (i, win, _, _, _) in zip(prep.weights, prep.rows):
            ch = dataset.channels[i]
            i0 = max(int(round((win.start - ch.t0) / dt)), 0)
            i1 = min(int(round((win.end - ch.t0) / dt)), len(ch.obs))
            s = delayed(new_syn[i], lag)[i0:i1]
            d = ch.obs[i0:i1]
            sd += wt * d @ s
            ss += wt * s @ s
            dd += wt * d @ d
        misfit = float(np.min(dd - 2 * scales * sd + scales**2 * ss))
        if misfit < best[0]:
            best = (misfit, lag)
    lag = best[1]
    sd = ss = 0.0
    for wt, (i, win, _, _, _) in zip(prep.weights, prep.rows):
        d, s = _aligned_window(dataset.channels[i], delayed(new_syn[i], lag), win, config)
        if d is not None:
            sd += wt * d @ s
            ss += wt * s @ s
    misfit = -2 * scales * sd + scales**2 * ss
    return lag * dt, float(scales[int(np.argmin(misfit))])


def _aligned_window(ch, syn, win, config):
    """Tapered data and synthetic of one window, the data moved by their CC time shift
    (None, None when the window cannot be measured)."""
    m = measure_channel(ch, syn, win, config)
    if not np.isfinite(m.misfit):
        return None, None
    taper = tukey(m.i1 - m.i0, config.taper_alpha)
    return ch.obs[m.i0 + m.shift_samples:m.i1 + m.shift_samples] * taper, syn[m.i0:m.i1] * taper


def plain_variance_reduction(dataset, rows, syn, tau, alpha) -> float:
    """1 - sum |d - s|^2 / sum |d|^2 over the windows ``rows`` (``(channel index, window,
    ...)``) as they are: the synthetics moved by the centroid time shift (and scaled) only, no
    window re-aligned, no weights."""
    lag = int(round(tau / dataset.channels[0].dt))
    num = den = 0.0
    for i, win, *_ in rows:
        ch = dataset.channels[i]
        i0 = max(int(round((win.start - ch.t0) / ch.dt)), 0)
        i1 = min(int(round((win.end - ch.t0) / ch.dt)), len(ch.obs))
        d, s = ch.obs[i0:i1], alpha * delayed(syn[i], lag)[i0:i1]
        if not (np.all(np.isfinite(d)) and np.all(np.isfinite(s))):
            continue
        num += float(np.sum((d - s) ** 2))
        den += float(np.sum(d**2))
    return float(1.0 - num / den) if den > 0 else float("nan")


def fit_of_windows(dataset: InversionDataset, windows: list[Window], result: InversionResult,
                   config: InversionConfig) -> float:
    """``1 - mean_w min(|d - s|^2 / |d|^2, 1)`` of ``result``'s final synthetics over every one
    of ``windows`` with data, used or rejected (the stations screened out excepted), each
    window's data moved by its own cross-correlation shift within its bound (CAP's misfit: a 1D
    model's travel-time errors are not the source's). Each window counts once whatever its
    amplitude, and one that no synthetic fits counts as no fit (1), so that the large windows
    a model cannot explain do not decide. The figure that compares inversions of the same data
    on the same windows (trial depths, durations), where the windows each inversion accepts
    would differ."""
    syn = linear_synthetics(dataset, result.parameters, result.dm)
    lag = int(round(result.time_shift_s / dataset.channels[0].dt))
    index = {ch.channel: i for i, ch in enumerate(dataset.channels)}
    misfits = []
    for win in windows:
        i = index.get(win.channel)
        if i is None or dataset.channels[i].station in result.screened:
            continue
        ch = dataset.channels[i]
        s_all = result.moment_scale * delayed(syn[i], lag)
        m = measure_channel(ch, s_all, win, config)
        if not np.isfinite(m.misfit):
            continue
        misfits.append(min(m.misfit, 1.0))
    return float(1.0 - np.mean(misfits)) if misfits else float("nan")


def _variance_reduction(dataset, prep, syn, tau, alpha, config) -> float:
    """1 - sum W |d - s|^2 / sum W |d|^2 over the windows, each re-aligned by its own
    cross-correlation shift (as the inversion sees them)."""
    lag = int(round(tau / dataset.channels[0].dt))
    num = den = 0.0
    for wt, (i, win, _, _, _) in zip(prep.weights, prep.rows):
        d, s = _aligned_window(dataset.channels[i], alpha * delayed(syn[i], lag), win, config)
        if d is None:
            continue
        num += wt * np.sum((d - s) ** 2)
        den += wt * np.sum(d**2)
    return float(1.0 - num / den) if den > 0 else float("nan")
