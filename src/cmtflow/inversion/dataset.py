"""The one format the inversion consumes: observed, synthetic and derivative waveforms.

Every solver ends here: for each channel, the processed observed trace, the synthetic of
the initial source, and one derivative synthetic per inversion parameter, all on one time
axis and in one unit. Derivatives are per unit of the parameter: per N·m for the moment
tensor components, per km for depth, per degree for latitude and longitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cmtflow.source import Source

#: Inversion parameters, in order; the first 6, 7 or 9 are used.
PARAMETERS = ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp", "depth", "latitude", "longitude")


@dataclass
class ChannelData:
    """Waveforms of one channel.

    :param channel: ``NET.STA.LOC.CHA`` (component = last letter: Z, R, T, N or E).
    :param t0: time of the first sample in s after the initial centroid time.
    :param dt: sampling interval in s.
    :param obs, syn: observed and synthetic waveforms (same unit, same length).
    :param dsyn: derivative synthetics per parameter name (see module docstring).
    :param distance_km, azimuth: source-station distance (km) and azimuth (deg).
    :param span: the part the observed record covers, s after the initial centroid time (None:
        all of it); outside it ``obs`` is the record's edge value, filtered. The synthetics
        were cut to the same span before they were filtered.
    """

    channel: str
    t0: float
    dt: float
    obs: np.ndarray
    syn: np.ndarray
    dsyn: dict[str, np.ndarray]
    distance_km: float
    azimuth: float
    span: tuple[float, float] | None = None

    @property
    def station(self) -> str:
        return ".".join(self.channel.split(".")[:2])

    @property
    def times(self) -> np.ndarray:
        return self.t0 + self.dt * np.arange(len(self.syn))


@dataclass
class InversionDataset:
    """All channels of one event plus the initial source and the units of the waveforms."""

    source: Source
    channels: list[ChannelData]
    unit: str = "m"
    notes: list[str] = field(default_factory=list)

    def channel(self, channel_id: str) -> ChannelData:
        for ch in self.channels:
            if ch.channel == channel_id:
                return ch
        raise KeyError(channel_id)

    def available_parameters(self) -> tuple[str, ...]:
        """Parameters for which every channel has a derivative."""
        return tuple(p for p in PARAMETERS if all(p in ch.dsyn for ch in self.channels))
