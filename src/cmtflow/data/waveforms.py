"""Event waveform folders: SAC files with headers, miniSEED or any format ObsPy reads, with
the station metadata next to them; and :class:`FileArchive`, such a folder as an archive."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import obspy
from obspy import Stream

from cmtflow.data.stations import StationPoint
from cmtflow.errors import CmtflowError, StationError

_SAC_COMPONENT = {"r": "R", "t": "T", "z": "Z", "n": "N", "e": "E"}


def sac_channel(tr, path: Path) -> None:
    """Complete the channel code of a SAC trace: the component is the last letter of
    ``kcmpnm`` or, failing that, of the file name (``...BH.z`` style, as CAP/MTUQ write them)."""
    comp = (str(tr.stats.sac.get("kcmpnm", "")).strip() or path.name)[-1]
    comp = _SAC_COMPONENT.get(comp.lower(), comp.upper())
    tr.stats.channel = (tr.stats.channel or "BH")[:2].ljust(2, "H") + comp


def _read(path: Path, headonly: bool = False) -> Stream:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ObsPy's note on SAC sample-spacing rounding
        st = obspy.read(str(path), headonly=headonly)
    for tr in st:
        if tr.stats.get("_format") == "SAC":
            sac_channel(tr, path)
    return st


@dataclass
class EventWaveforms:
    """An event's records in SI units, rotated to Z/R/T, with the station positions.

    :param units: ``{"quantity", "scale", "source"}``: what the traces now are (m, m/s or
        m/s²) and what said so (``--quantity``, SAC idep, the responses).
    :param notes: how the metadata were read and the units decided.
    """

    stream: Stream
    stations: list[StationPoint]
    units: dict
    inventory: object = None  # the merged station metadata (orientations for the rotation)
    notes: list[str] = field(default_factory=list)


def read_event_waveforms(folder: str | Path, quantity: str | None = None, scale: float | None = None,
                         band=None) -> EventWaveforms:
    """All traces of a folder, in SI units, with the station coordinates.

    * Waveforms: SAC (the component is the last letter of ``kcmpnm`` or, failing that, of the
      file name, ``...BH.z`` style, as CAP/MTUQ write them), miniSEED or any format ObsPy reads.
    * Station metadata in the same folder (StationXML, RESP, SACPZ, ISOLA pole-zero files,
      station lists) and the SAC headers give coordinates, orientations and responses
      (:mod:`cmtflow.data.metadata`).
    * Units are never guessed (:func:`cmtflow.data.checks.channel_units`): ``quantity`` (and
      ``scale`` to SI), else the SAC ``idep`` header (nm by the SAC standard, unless ``scale``
      says otherwise), else the instrument response (the records are counts and are turned
      into displacement in m under the ``band``'s pre-filter). Records of mixed quantities are
      all turned into displacement.

    Traces with gaps or non-finite samples are refused with the trace named.

    :raises CmtflowError: no waveforms, a gap, or records whose units nothing states (the
        message names the options).
    """
    from cmtflow.data.metadata import pieces_from_waveforms, read_metadata, sniff

    folder = Path(folder)
    if not folder.is_dir():
        raise CmtflowError(f"data folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    meta_files = [p for p in files if sniff(p) is not None]
    stream = Stream()
    for path in files:
        if path in meta_files:
            continue
        try:
            st = _read(path)
        except Exception:
            continue  # not a waveform file
        for tr in st:
            if not np.all(np.isfinite(tr.data)):
                raise CmtflowError(f"{path.name}: trace {tr.id} has non-finite samples (NaN/inf)")
        stream += st
    if not len(stream):
        raise CmtflowError(f"{folder}: no waveform files found (SAC, or miniSEED + station metadata)")
    gaps = stream.get_gaps()
    if gaps:
        g = gaps[0]
        raise CmtflowError(f"trace {'.'.join(g[:4])} has a gap of {g[6]:.2f} s at {g[4]}: fill or drop it first")
    metadata = read_metadata(meta_files, pieces_from_waveforms(stream))
    inventory = metadata.inventory
    positions = {(n.code, s.code): StationPoint(n.code, s.code, s.channels[0].location_code if s.channels else "",
                                                 float(s.latitude), float(s.longitude), float(s.elevation or 0.0))
                 for n in inventory for s in n}
    missing = sorted({f"{tr.stats.network}.{tr.stats.station}" for tr in stream}
                     - {f"{n}.{s}" for n, s in positions})
    if missing:
        raise StationError(f"no coordinates for station(s) {', '.join(missing)} (no SAC headers stla/stlo, no "
                           "StationXML, SACPZ or station list in the folder)")
    stream, units = _to_si(stream, inventory, quantity, scale, band, folder)
    return EventWaveforms(stream, [positions[k] for k in sorted(positions)], units, inventory, metadata.notes)


def _to_si(stream: Stream, inventory, quantity, scale, band, folder: Path) -> tuple[Stream, dict]:
    """The records in SI units of one quantity, and what it is."""
    from cmtflow.data.checks import CheckConfig, channel_units
    from cmtflow.processing.preprocess import pre_filter, remove_response, to_ground_motion
    from cmtflow.processing.signal import Band

    band = band or Band(15.0, 50.0)
    config = CheckConfig(quantity=quantity, scale=scale if scale is not None else 1.0)
    units, unknown = {}, []
    for tr in stream:
        found = inventory.select(network=tr.stats.network, station=tr.stats.station, location=tr.stats.location,
                                 channel=tr.stats.channel)
        cha = next((c for n in found for s in n for c in s if c.response is not None and c.response.response_stages),
                   None)
        unit, _ = channel_units(Stream([tr]), cha.response if cha is not None else None, config)
        if unit is None:
            unknown.append(tr.id)
            continue
        if scale is not None and unit["source"] == "SAC idep":
            unit = {**unit, "scale": scale, "source": "SAC idep, --scale"}
        units[tr.id] = unit
    if unknown:
        raise CmtflowError(
            f"{folder}: the units of {len(unknown)} record(s) are not stated ({', '.join(unknown[:3])}"
            f"{', ...' if len(unknown) > 3 else ''}: no SAC idep, no instrument response): give --quantity "
            "displacement|velocity|acceleration and --scale to SI (SAC files of CAP/MTUQ in cm/s: --quantity "
            "velocity --scale 0.01), or the response metadata (StationXML, RESP, SACPZ) of records in counts")
    quantities = {u["quantity"] for u in units.values()}
    target = quantities.pop() if len(quantities) == 1 and "counts" not in quantities else "displacement"
    out = Stream()
    for tr in stream:
        tr = tr.copy()
        unit = units[tr.id]
        tr.data = np.asarray(tr.data, float)
        if unit["quantity"] == "counts":
            tr.detrend("linear")
            tr.taper(0.05, type="hann")
            remove_response(tr, inventory, band, "displacement")
        elif unit["quantity"] != target:
            tr.detrend("linear")
            tr.taper(0.05, type="hann")
            tr.data = to_ground_motion(tr.data * float(unit["scale"]), tr.stats.delta, unit["quantity"], target,
                                       pre_filter(band, tr.stats.sampling_rate))
        else:
            tr.data = tr.data * float(unit["scale"])
        out.append(tr)
    sources = sorted({u["source"] for u in units.values()})
    return out, {"quantity": target, "source": ", ".join(sources),
                 "scale": next(iter(units.values()))["scale"] if len(units) and len(sources) == 1 else None}


def rotate_to_zrt(stream: Stream, stations: list[StationPoint], latitude: float, longitude: float,
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


class FileArchive:
    """A folder of event waveform files as they come: SAC, miniSEED, GSE2... anything ObsPy
    reads, in any layout (searched recursively), with the call shape of the other archives.

    The folder is indexed once (headers only); a request reads the files holding the channel
    and returns the traces with their format headers (SAC ``idep``, coordinates...).
    """

    def __init__(self, root: str | Path):
        from cmtflow.data.metadata import sniff

        self.root = Path(root)
        if not self.root.is_dir():
            raise CmtflowError(f"waveform folder {self.root} does not exist")
        self.label = f"waveform files in {self.root}"
        self._files: dict[str, list[Path]] = {}
        self.headers = Stream()
        for path in sorted(p for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".")):
            if sniff(path) is not None:
                continue  # station metadata next to the waveforms
            try:
                st = _read(path, headonly=True)
            except Exception:  # not a waveform file
                continue
            for tr in st:
                self._files.setdefault(tr.id, []).append(path)
            self.headers += st
        if not self._files:
            raise CmtflowError(f"{self.root}: no waveform files ObsPy can read")

    def get_bulk(self, requests: list[tuple]) -> Stream:
        raise NotImplementedError  # read per station: one bad file must not hide the others

    def get(self, net, sta, loc, cha, t1, t2) -> Stream:
        from cmtflow.data.services import NoDataError

        cid = f"{net}.{sta}.{loc}.{cha}"
        st = Stream()
        for path in self._files.get(cid, []):
            st += _read(path).select(id=cid)
        st = st.slice(t1, t2)
        if not len(st):
            raise NoDataError(f"{self.label}: no data for {cid}")
        return st
