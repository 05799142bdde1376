"""The waveform preprocessing chain, one station at a time, for observed data and synthetics.

extend a short record with its edge values -> detrend -> taper -> to ground displacement in
m (observed data only: remove the instrument response from counts, or integrate records whose
units are known, under the same pre-filter) -> zero-phase band-pass to the inversion band ->
resample onto the common time axis of the window -> orient to Z/N/E with the channel
orientations and rotate to Z/R/T -> cut to the window. Synthetics take the same path without
the conversion, so both arrive at the inversion through identical filters. The dispel4py graph (:mod:`cmtflow.processing.graphs`) runs this function per
station; nothing here knows about dispel4py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from obspy import Inventory, Stream, UTCDateTime
from obspy.signal.interpolation import lanczos_interpolation

from cmtflow.data.checks import SLOWEST_WAVE_KM_S, record_after_s, record_before_s
from cmtflow.errors import CmtflowError
from cmtflow.processing.signal import Band, bandpass, detrend_linear, hann_taper

#: Instrument output units for ObsPy's response removal.
OUTPUTS = {"displacement": "DISP", "velocity": "VEL"}


class ProcessingError(CmtflowError):
    """A station cannot be processed (the message says why); other stations go on."""


@dataclass(frozen=True)
class PreprocessConfig:
    """Preprocessing options.

    :param tmin, tmax: the period band in s (zero-phase Butterworth, 4 corners).
    :param dt: output sampling interval in s (the band must lie below its Nyquist).
    :param remove_response: True for observed data (needs the inventory), False for synthetics.
    :param output: ``"displacement"`` (m) or ``"velocity"`` (m/s) after response removal.
    :param taper: fraction of the trace tapered at each end before filtering.
    :param start_s, min_velocity_km_s, post_s: the output window, from ``start_s`` after the
        origin (negative: before; default minus :func:`~cmtflow.data.checks.record_before_s` of
        ``tmax``, so that it holds the noise window) to the arrival of the slowest wave of
        interest plus ``post_s`` (default :func:`~cmtflow.data.checks.record_after_s` of ``tmax``);
        it must lie inside the fetched window (see ``cmtflow.data.fetch.FetchConfig``) with
        room for the taper.
    """

    tmin: float
    tmax: float
    dt: float
    remove_response: bool = True
    output: str = "displacement"
    taper: float = 0.05
    start_s: float | None = None
    min_velocity_km_s: float = SLOWEST_WAVE_KM_S
    post_s: float | None = None

    def __post_init__(self):
        Band(self.tmin, self.tmax)  # validates 0 < tmin < tmax
        if self.post_s is None:
            object.__setattr__(self, "post_s", record_after_s(self.tmax))
        if self.start_s is None:
            object.__setattr__(self, "start_s", -record_before_s(self.tmax))
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise CmtflowError(f"dt must be a positive number of seconds, got {self.dt}")
        if 1.0 / self.tmin >= 0.5 / self.dt:
            raise CmtflowError(f"band {self.tmin}-{self.tmax} s reaches the Nyquist period of dt={self.dt} s "
                               f"({2 * self.dt} s): use a larger TMIN or a smaller dt")
        if self.output not in OUTPUTS:
            raise CmtflowError(f"output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")

    def window(self, origin: UTCDateTime, distance_km: float) -> tuple[UTCDateTime, UTCDateTime]:
        """Start and end of the output window of a station at ``distance_km``."""
        return origin + self.start_s, origin + distance_km / self.min_velocity_km_s + self.post_s

    def synthetic_seconds(self, max_distance_km: float) -> float:
        """Seconds of synthetics after the origin that cover the output window of the farthest
        station (``max_distance_km``), with two longest periods for the band-pass filter's
        response at its end (a SPECFEM3D record cut there changes the processed window by
        < 0.1 % of its peak)."""
        return max_distance_km / self.min_velocity_km_s + self.post_s + 2 * self.tmax

    @property
    def band(self) -> Band:
        return Band(self.tmin, self.tmax)

    def as_dict(self) -> dict:
        return asdict(self)


def pre_filter(band: Band, sampling_rate: float) -> tuple[float, float, float, float]:
    """Cosine pre-filter of the spectral division (Hz): flat over the band, zero at half the
    lowest and twice the highest frequency (or near Nyquist), so that dividing by a tiny
    instrument response outside the band cannot blow up noise."""
    fmin, fmax = 1.0 / band.tmax, 1.0 / band.tmin
    nyq = 0.5 * sampling_rate
    return 0.5 * fmin, 0.8 * fmin, min(1.5 * fmax, 0.8 * nyq), min(2.0 * fmax, 0.9 * nyq)


def span_key(channel: str) -> str:
    """The key of a channel's record span (:func:`cmtflow.data.fetch.record_spans`): ``"Z"``
    for a vertical, ``"H"`` for the horizontals (N/E, 1/2, R/T)."""
    return "Z" if channel[-1] == "Z" else "H"


def cut_to_spans(st: Stream, spans: dict) -> None:
    """Each trace cut to the span of its component (in place): ``{"Z"|"H": (start, end)}``,
    UTCDateTimes or ISO strings; a component without a span is left as it is."""
    for tr in st:
        span = spans.get(span_key(tr.stats.channel))
        if span is None:
            continue
        t0, t1 = (UTCDateTime(t) for t in span)
        tr.trim(t0, t1)
        if tr.stats.npts < 2:
            raise ProcessingError(f"{tr.id}: nothing left inside the record span {t0}..{t1}")


def preprocess_station(stream: Stream, config: PreprocessConfig, start: UTCDateTime, end: UTCDateTime,
                       back_azimuth: float, inventory: Inventory | None = None, units: dict | None = None,
                       spans: dict | None = None) -> Stream:
    """One station's components, processed (see module docstring).

    :param stream: the records of a vertical and/or a horizontal pair (any orientation the
        inventory gives), or synthetics in Z/R/T.
    :param start, end: the window; the output samples are ``start + k * dt``.
    :param back_azimuth: station-to-source azimuth (degrees) for the N/E -> R/T rotation.
    :param inventory: responses and orientations (observed data).
    :param units: what the records are (``cmtflow.data.checks.channel_units``): ``counts``
        (the inventory's response is removed) or a quantity with its scale to SI; default counts.
    :param spans: the spans the observed records cover (``{"Z"|"H": (start, end)}``,
        :func:`cmtflow.data.fetch.record_spans`): every trace is cut to its component's span
        first. Synthetics cut to the data's spans meet the same filter edges as the data, so that
        a record that ends inside the surface waves (CAP folders, event archives) is compared
        with synthetics that end there too.
    :returns: channels ``??Z ??R ??T`` (or the subset the records give).
    :raises ProcessingError: with the reason (no response, unknown orientation...).
    """
    st = stream.copy()
    if not 1 <= len(st) <= 3:
        raise ProcessingError(f"expected 1 to 3 components, got {len(st)}: {', '.join(tr.id for tr in st)}")
    if spans:
        cut_to_spans(st, spans)
    # Records shorter than the window and its margins (synthetics, event-cut archives) are
    # extended with their first and last values (a synthetic is quiet before its first
    # arrival and keeps its static offset after the waves; a record starts before P), so that
    # the taper and the filter edges fall outside the window, the same for data and synthetics.
    margin = 3.0 * config.tmax
    for tr in st:
        extend(tr, start - margin, end + margin)
    for tr in st:
        tr.data = hann_taper(detrend_linear(tr.data), config.taper)
    if config.remove_response:
        units = units or {"quantity": "counts", "scale": 1.0}
        for tr in st:
            to_output(tr, units, inventory, config.band, config.output)
    for tr in st:
        tr.data = bandpass(tr.data, tr.stats.delta, config.band)
    npts = int(round((end - start) / config.dt)) + 1
    for tr in st:
        if tr.stats.starttime > start or tr.stats.endtime < end:
            tr.trim(start - config.dt, end + config.dt, pad=True, fill_value=0.0)
        # Lanczos interpolation onto the common axis: the data are band-limited far below
        # the new Nyquist (checked in PreprocessConfig), so no further anti-alias filter
        resample(tr, start, config.dt, npts)
    return rotate_to_zrt(st, back_azimuth, inventory)


#: Half width of the Lanczos kernel in samples.
LANCZOS_A = 20


def resample(tr, start: UTCDateTime, dt: float, npts: int) -> None:
    """``tr`` onto ``npts`` samples from ``start`` every ``dt`` s by Lanczos interpolation
    (a = :data:`LANCZOS_A`), in place: ObsPy's ``interpolate(method="lanczos")`` without its
    per-call plugin lookup, or :func:`shift_same_rate` where the rate stays the same."""
    data = np.require(tr.data, dtype=np.float64)
    old_start, old_dt = tr.stats.starttime.timestamp, tr.stats.delta
    offset = (start.timestamp - old_start) / old_dt
    inside = offset >= 0 and start.timestamp + dt * (npts - 1) <= old_start + old_dt * (len(data) - 1)
    if abs(dt - old_dt) <= 1e-9 * old_dt and inside:
        tr.data = shift_same_rate(data, offset, npts)
    else:  # ObsPy's, which also refuses a window outside the data
        tr.data = lanczos_interpolation(data, old_start, old_dt, start.timestamp, dt, npts, a=LANCZOS_A)
    tr.stats.starttime = start
    tr.stats.delta = dt


def shift_same_rate(data: np.ndarray, offset: float, npts: int, a: int = LANCZOS_A) -> np.ndarray:
    """``npts`` samples of ``data`` from ``offset`` (in samples, >= 0) on, at the same rate, by
    ObsPy's Lanczos interpolation: every new sample lies the same fraction of a sample past an
    old one, so the kernel is the same 2a + 1 weights for all of them (ObsPy's own kernel
    values) and the interpolation one convolution: 0.07 ms instead of ObsPy's 0.8 ms for 641
    samples, equal to 6e-13 (the synthetics, and the depth scan's 3000-odd traces, are at the
    output rate). Samples outside ``data`` count as zero, as in ObsPy."""
    from obspy.signal.interpolation import calculate_lanczos_kernel

    base = math.floor(offset)
    weights = calculate_lanczos_kernel(offset - base + np.arange(-a, a + 1), a, "lanczos")["full_kernel"]
    # new sample j = sum over m of data[j + base - m] * weights[m + a]
    segment = np.zeros(npts + 2 * a)
    first, last = base - a, base + npts + a  # the data indices the new samples reach
    lo, hi = max(first, 0), min(last, len(data))
    segment[lo - first:hi - first] = data[lo:hi]
    return np.convolve(segment, weights, mode="valid")


#: Seconds over which a record extended at an end is tapered to its local mean there.
EXTEND_RAMP_S = 5.0


def extend(tr, start: UTCDateTime, end: UTCDateTime, ramp_s: float = EXTEND_RAMP_S) -> None:
    """Extend a trace to ``start``..``end`` (in place) with the mean of its first and last
    ``ramp_s`` seconds, the record tapered to that mean over them: no step at the joints,
    whatever the record's own high-frequency content (an accelerometer's jump of one sample
    would become a long-period ramp after integration)."""
    if tr.stats.starttime <= start and tr.stats.endtime >= end:
        return
    data = np.asarray(tr.data, float).copy()
    n = max(1, min(int(round(ramp_s / tr.stats.delta)), len(data) // 4))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)  # 0 -> 1
    first, last = float(np.mean(data[:n])), float(np.mean(data[-n:]))
    if tr.stats.starttime > start:
        data[:n] = first + (data[:n] - first) * ramp
    if tr.stats.endtime < end:
        data[-n:] = last + (data[-n:] - last) * ramp[::-1]
    tr.data = data
    if tr.stats.starttime > start:
        tr.trim(start, tr.stats.endtime, pad=True, fill_value=first)
    if tr.stats.endtime < end:
        tr.trim(tr.stats.starttime, end, pad=True, fill_value=last)


def remove_response(tr, inventory: Inventory | None, band: Band, output: str = "displacement") -> None:
    """Counts to ``output`` (m or m/s) with the inventory's response, under the band's
    pre-filter (in place)."""
    if inventory is None:
        raise ProcessingError("response removal needs an inventory")
    try:
        tr.remove_response(inventory=inventory, output=OUTPUTS[output],
                           pre_filt=pre_filter(band, tr.stats.sampling_rate), water_level=None,
                           zero_mean=True, taper=False)
    except Exception as exc:  # ObsPy raises ValueError/Exception for missing responses
        raise ProcessingError(f"{tr.id}: no usable response ({' '.join(str(exc).split())[:160]})") from None


def to_output(tr, units: dict, inventory: Inventory | None, band: Band, output: str = "displacement") -> None:
    """A detrended, tapered record turned into ``output`` (m or m/s) from what ``units`` say
    it is (in place): counts through the inventory's response, a known quantity through
    :func:`to_ground_motion`, both under the band's pre-filter."""
    if units["quantity"] == "counts":
        remove_response(tr, inventory, band, output)
    else:
        tr.data = to_ground_motion(tr.data * float(units["scale"]), tr.stats.delta, units["quantity"], output,
                                   pre_filter(band, tr.stats.sampling_rate))


#: Order of time derivative of displacement of each ground-motion quantity.
ORDER = {"displacement": 0, "velocity": 1, "acceleration": 2}


def to_ground_motion(data: np.ndarray, dt: float, quantity: str, output: str,
                     pre_filt: tuple[float, float, float, float]) -> np.ndarray:
    """Records of ``quantity`` (SI) as ``output`` (displacement or velocity), integrated or
    differentiated in the frequency domain under the same cosine pre-filter as response
    removal, so that records with known units and records with a response take one path."""
    from obspy.signal.invsim import cosine_sac_taper

    n = len(data)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(np.asarray(data, float), nfft)
    freqs = np.fft.rfftfreq(nfft, dt)
    taper = cosine_sac_taper(freqs, flimit=pre_filt)
    power = ORDER[quantity] - ORDER[output]  # > 0: integrate
    iw = 2j * np.pi * freqs
    iw[0] = 1.0
    spectrum = spectrum * taper / iw**power
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, nfft)[:n]


def rotate_to_zrt(st: Stream, back_azimuth: float, inventory: Inventory | None = None) -> Stream:
    """Channels of any orientation (from ``inventory``, else Z/N/E names) to Z/R/T, or the
    subset they give (:mod:`cmtflow.processing.rotation`); Z/R/T is returned as is.

    R points away from the source, T is R turned 90 degrees clockwise seen from above
    (SAC/ObsPy convention), as the solver's components.
    """
    from cmtflow.processing.rotation import RotationError, to_zne, to_zrt

    comps = {tr.stats.channel[-1] for tr in st}
    try:
        if not comps <= set("ZRT"):
            st = to_zne(st, inventory)
        return to_zrt(st, back_azimuth)
    except RotationError as exc:
        raise ProcessingError(str(exc)) from None


def snr_screen(st: Stream, noise: tuple[UTCDateTime, UTCDateTime] | None,
               signal: tuple[UTCDateTime, UTCDateTime], min_snr: float, longest_period: float = 0.0
               ) -> tuple[Stream, list[str]]:
    """Drop processed components whose signal-to-noise ratio is below ``min_snr``: the peak
    amplitude in the signal window over the peak of a sinusoid with the rms of the noise
    window (sqrt 2 rms), both band-passed; a ratio that depends neither on how long the signal
    window waits for the slowest waves nor on how long the noise window is.
    Without a noise window, or one shorter than the longest period of the band (its peak
    would be a fraction of one cycle), nothing is tested. Returns the kept traces and one note
    per component tested."""
    if noise is None or min_snr <= 0:
        return st, []
    if noise[1] - noise[0] < longest_period:
        return st, [f"noise window {noise[1] - noise[0]:.0f} s, shorter than the longest period "
                    f"{longest_period:g} s: signal-to-noise test skipped"]
    notes, low = [], set()
    for tr in st:
        n = tr.slice(*noise).data
        s = tr.slice(*signal).data
        if len(n) < 2 or len(s) < 2:
            continue
        noise_peak = float(np.sqrt(2.0 * np.mean(np.square(n))))
        snr = float(np.max(np.abs(s))) / noise_peak if noise_peak > 0 else np.inf
        comp = tr.stats.channel[-1]
        notes.append(f"{comp}: signal-to-noise {snr:.1f}" + (f" < {min_snr:g}: not used" if snr < min_snr else ""))
        if snr < min_snr:
            low.add(comp)
    return Stream([tr for tr in st if tr.stats.channel[-1] not in low]), notes
