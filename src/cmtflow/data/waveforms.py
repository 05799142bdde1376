"""Event waveform folders: SAC files with headers, or miniSEED + StationXML."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import obspy
from obspy import Stream

from cmtflow.data.stations import StationPoint, read_stations, station_list
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


def read_event_waveforms(folder: str | Path) -> tuple[Stream, list[StationPoint]]:
    """All traces of a folder and the station coordinates.

    * SAC files: coordinates from ``stla``/``stlo``; the component is the last letter of
      ``kcmpnm`` or, failing that, of the file name (``...BH.z`` style, as CAP/MTUQ).
    * miniSEED files: coordinates from the StationXML file(s) in the same folder.

    Traces with gaps or non-finite samples are refused with the trace named.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CmtflowError(f"data folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    xml = [p for p in files if p.suffix.lower() == ".xml"]
    stream, stations = Stream(), {}
    for path in files:
        if path in xml or path.suffix in (".json", ".dat", ".out", ".fkmodel", ".txt"):
            continue
        try:
            st = obspy.read(str(path))
        except Exception:
            continue  # not a waveform file
        for tr in st:
            fmt = tr.stats.get("_format")
            if fmt == "SAC":
                sac = tr.stats.sac
                sac_channel(tr, path)
                if "stla" not in sac or "stlo" not in sac:
                    raise StationError(f"{path.name}: SAC file without station coordinates (stla/stlo)")
                stations[(tr.stats.network, tr.stats.station)] = StationPoint(
                    tr.stats.network, tr.stats.station, tr.stats.location, float(sac.stla), float(sac.stlo),
                    float(sac.get("stel", 0.0) or 0.0))
            if not np.all(np.isfinite(tr.data)):
                raise CmtflowError(f"{path.name}: trace {tr.id} has non-finite samples (NaN/inf)")
            stream.append(tr)
    if not len(stream):
        raise CmtflowError(f"{folder}: no waveform files found (SAC, or miniSEED + StationXML)")
    gaps = stream.get_gaps()
    if gaps:
        g = gaps[0]
        raise CmtflowError(f"trace {'.'.join(g[:4])} has a gap of {g[6]:.2f} s at {g[4]}: fill or drop it first")
    for path in xml:
        for sta in station_list(read_stations(path)):
            stations.setdefault((sta.network, sta.station), sta)
    missing = sorted({f"{tr.stats.network}.{tr.stats.station}" for tr in stream}
                     - {f"{n}.{s}" for n, s in stations})
    if missing:
        raise StationError(f"no coordinates for station(s) {', '.join(missing)} (no SAC headers, no StationXML)")
    return stream, list(stations.values())


def rotate_to_zrt(stream: Stream, stations: list[StationPoint], latitude: float, longitude: float) -> Stream:
    """Rotate N/E pairs to R/T with the back-azimuth from the source (Z/R/T left as they are)."""
    from obspy.geodetics import gps2dist_azimuth

    out = Stream()
    coords = {(s.network, s.station): s for s in stations}
    for key in sorted({(tr.stats.network, tr.stats.station, tr.stats.location) for tr in stream}):
        st = stream.select(network=key[0], station=key[1], location=key[2]).copy()
        if st.select(component="N") and st.select(component="E"):
            sta = coords[key[:2]]
            baz = gps2dist_azimuth(latitude, longitude, sta.latitude, sta.longitude)[2]
            st.rotate("NE->RT", back_azimuth=baz)
        out += st
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
