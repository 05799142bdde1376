"""An event folder's records in SI units (the records of
:func:`cmtflow.data.waveforms.read_event_records` with their units turned into one SI quantity),
and their rotation to Z/R/T: ``cmtflow invert``'s input."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from obspy import Stream

from cmtflow.data.stations import StationPoint
from cmtflow.data.waveforms import read_event_records


@dataclass
class EventWaveforms:
    """An event's records in SI units, with the station positions.

    :param units: ``{"quantity", "source"}`` of the traces now (m, m/s or m/s²) and what said
        what the records were (``--quantity``, SAC idep, the responses).
    :param notes: how the metadata were read, and every station or component left out with
        the reason.
    """

    stream: Stream
    stations: list[StationPoint]
    units: dict
    inventory: object = None  # the merged station metadata (orientations for the rotation)
    notes: list[str] = field(default_factory=list)


def read_event_waveforms(folder: str | Path, quake, quantity: str | None = None, scale: float | None = None,
                         band=None, channels: tuple[str, ...] | None = None,
                         distances_km: tuple[float, float] = (0.0, 20000.0)) -> EventWaveforms:
    """The records of an event folder (:func:`cmtflow.data.waveforms.read_event_records`, same
    arguments) in SI units: records of counts are turned into displacement in m under the
    ``band``'s pre-filter; records of mixed quantities are all turned into displacement."""
    records = read_event_records(folder, quake, quantity, scale, band, channels, distances_km)
    stream, target = _to_si(records.stream, records.units, records.inventory, band)
    sources = sorted({u["source"] for u in records.units.values()})
    return EventWaveforms(stream, records.stations, {"quantity": target, "source": ", ".join(sources)},
                          records.inventory, records.notes)


def _to_si(stream: Stream, units: dict[str, dict], inventory, band) -> tuple[Stream, str]:
    """The records in SI units of one quantity (displacement when they differ), and it."""
    from cmtflow.processing.preprocess import to_output
    from cmtflow.processing.signal import Band, detrend_linear, hann_taper

    band = band or Band(15.0, 50.0)
    quantities = {u["quantity"] for u in units.values()}
    target = quantities.pop() if len(quantities) == 1 and "counts" not in quantities else "displacement"
    out = Stream()
    for tr in stream:
        tr = tr.copy()
        unit = units[tr.id]
        tr.data = np.asarray(tr.data, float)
        if unit["quantity"] == target:
            tr.data = tr.data * float(unit["scale"])
        else:  # counts, or another quantity: to displacement
            tr.data = hann_taper(detrend_linear(tr.data), 0.05)
            to_output(tr, unit, inventory, band, target)
        out.append(tr)
    return out, target


def stations_to_zrt(stream: Stream, stations: list[StationPoint], latitude: float, longitude: float,
                  inventory=None) -> Stream:
    """Every station's channels to Z/R/T with the back-azimuth from the source and the channel
    orientations (:func:`cmtflow.processing.preprocess.rotate_to_zrt`); Z/R/T as they are."""
    from obspy.geodetics import gps2dist_azimuth

    from cmtflow.processing.preprocess import rotate_to_zrt as to_zrt

    out = Stream()
    coords = {(s.network, s.station): s for s in stations}
    for key in sorted({(tr.stats.network, tr.stats.station, tr.stats.location) for tr in stream}):
        st = stream.select(network=key[0], station=key[1], location=key[2]).copy()
        sta = coords[key[:2]]
        baz = gps2dist_azimuth(latitude, longitude, sta.latitude, sta.longitude)[2]
        out += to_zrt(st, baz, inventory)
    return out
