"""The waveform preprocessing chain, one station at a time, for observed data and synthetics.

detrend -> taper -> remove the instrument response (observed data only; output
displacement in m) -> zero-phase band-pass to the inversion band -> resample onto the
common time axis of the window -> rotate to Z/R/T -> cut to the window. Synthetics take the
same path without response removal, so both arrive at the inversion through identical
filters. The dispel4py graph (:mod:`cmtflow.processing.graphs`) runs this function per
station; nothing here knows about dispel4py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from obspy import Inventory, Stream, UTCDateTime

from cmtflow.errors import CmtflowError
from cmtflow.processing.signal import Band, bandpass

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
        origin (negative: before) to the arrival of the slowest wave of interest plus ``post_s``;
        it must lie inside the fetched window (see ``cmtflow.data.fetch.FetchConfig``) with
        room for the taper.
    """

    tmin: float
    tmax: float
    dt: float
    remove_response: bool = True
    output: str = "displacement"
    taper: float = 0.05
    start_s: float = -60.0
    min_velocity_km_s: float = 2.0
    post_s: float = 120.0

    def __post_init__(self):
        Band(self.tmin, self.tmax)  # validates 0 < tmin < tmax
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

    @property
    def band(self) -> Band:
        return Band(self.tmin, self.tmax)

    def as_dict(self) -> dict:
        return asdict(self)


def pre_filter(config: PreprocessConfig, sampling_rate: float) -> tuple[float, float, float, float]:
    """Cosine pre-filter of the spectral division (Hz): flat over the band, zero at half the
    lowest and twice the highest frequency (or near Nyquist), so that dividing by a tiny
    instrument response outside the band cannot blow up noise."""
    fmin, fmax = 1.0 / config.tmax, 1.0 / config.tmin
    nyq = 0.5 * sampling_rate
    return 0.5 * fmin, 0.8 * fmin, min(1.5 * fmax, 0.8 * nyq), min(2.0 * fmax, 0.9 * nyq)


def preprocess_station(stream: Stream, config: PreprocessConfig, start: UTCDateTime, end: UTCDateTime,
                       back_azimuth: float, inventory: Inventory | None = None) -> Stream:
    """One station's three components, processed (see module docstring).

    :param start, end: the window; the output samples are ``start + k * dt``.
    :param back_azimuth: station-to-source azimuth (degrees) for the N/E -> R/T rotation.
    :param inventory: responses and orientations (observed data).
    :returns: channels ``??Z ??R ??T`` (synthetics already in Z/R/T pass through the rotation).
    :raises ProcessingError: with the reason (no response, wrong components...).
    """
    st = stream.copy()
    if len(st) != 3:
        raise ProcessingError(f"expected 3 components, got {len(st)}: {', '.join(tr.id for tr in st)}")
    if not config.remove_response:
        # a synthetic is quiet before its first arrival and keeps its static offset after
        # the waves: extend it that way so that the taper and the filter edges fall outside
        # the window, as they do for the longer data records
        margin = 3.0 * config.tmax
        for tr in st:
            if tr.stats.starttime > start - margin:
                tr.trim(start - margin, tr.stats.endtime, pad=True, fill_value=0.0)
            if tr.stats.endtime < end + margin:
                tr.trim(tr.stats.starttime, end + margin, pad=True, fill_value=float(tr.data[-1]))
    st.detrend("linear")
    st.taper(max_percentage=config.taper, type="hann")
    if config.remove_response:
        if inventory is None:
            raise ProcessingError("response removal needs an inventory")
        for tr in st:
            try:
                tr.remove_response(inventory=inventory, output=OUTPUTS[config.output],
                                   pre_filt=pre_filter(config, tr.stats.sampling_rate), water_level=None,
                                   zero_mean=True, taper=False)
            except Exception as exc:  # ObsPy raises ValueError/Exception for missing responses
                raise ProcessingError(f"{tr.id}: no usable response ({' '.join(str(exc).split())[:160]})") from None
    for tr in st:
        tr.data = bandpass(tr.data, tr.stats.delta, config.band)
    npts = int(round((end - start) / config.dt)) + 1
    for tr in st:
        if tr.stats.starttime > start or tr.stats.endtime < end:
            tr.trim(start - config.dt, end + config.dt, pad=True, fill_value=0.0)
        # Lanczos interpolation onto the common axis: the data are band-limited far below
        # the new Nyquist (checked in PreprocessConfig), so no further anti-alias filter
        tr.interpolate(1.0 / config.dt, method="lanczos", a=20, starttime=start, npts=npts)
    return rotate_to_zrt(st, back_azimuth, inventory)


def rotate_to_zrt(st: Stream, back_azimuth: float, inventory: Inventory | None = None) -> Stream:
    """Z/N/E (or Z/1/2 with orientations from ``inventory``) to Z/R/T; Z/R/T is returned as is.

    R points away from the source, T is R turned 90 degrees clockwise seen from above
    (SAC/ObsPy convention), as the solver's components.
    """
    comps = "".join(sorted(tr.stats.channel[-1] for tr in st))
    if comps == "RTZ":
        return st
    if comps != "ENZ":
        if inventory is None:
            raise ProcessingError(f"components {comps} need orientations from an inventory to rotate")
        try:
            st.rotate("->ZNE", inventory=inventory)
        except Exception as exc:  # ObsPy raises ValueError when orientations are missing
            raise ProcessingError(f"cannot rotate {comps} to ZNE: {' '.join(str(exc).split())[:160]}") from None
    st.rotate("NE->RT", back_azimuth=back_azimuth)
    order = {"Z": 0, "R": 1, "T": 2}
    st.traces.sort(key=lambda tr: order[tr.stats.channel[-1]])
    return st

