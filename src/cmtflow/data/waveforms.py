"""Event waveform folders: SAC files with headers, miniSEED or any format ObsPy reads, with
the station metadata next to them; and :class:`FileArchive`, such a folder as an archive."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import obspy
from obspy import Stream

from cmtflow.data.stations import StationPoint, station_list
from cmtflow.errors import CmtflowError
from cmtflow.workspace import RAW_INVENTORY, STATIONS_REPORT

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
class EventRecords:
    """An event's records as read, each trace's units with it.

    :param units: by trace id, ``{"quantity", "scale", "source", ...}`` (what the records are,
        the factor to SI, and what said it: ``--quantity``, SAC idep, the responses).
    :param notes: how the metadata were read, and every station or component left out with
        the reason.
    """

    stream: Stream
    stations: list[StationPoint]
    units: dict[str, dict]
    inventory: object = None  # the merged station metadata (responses, orientations)
    notes: list[str] = field(default_factory=list)


def folder_metadata(folder: Path, archive: "FileArchive"):
    """The station metadata of an event folder: its metadata files and waveform headers."""
    from cmtflow.data.metadata import pieces_from_waveforms, read_metadata, sniff

    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return read_metadata([p for p in files if sniff(p) is not None], pieces_from_waveforms(archive.headers))


def records_folder(folder: str | Path) -> tuple[Path, str | None]:
    """The folder holding the records that ``folder`` names, and a note when it is another.

    A cmtflow run folder (``cmtflow fetch``, a DAG run), or its ``processed`` folder, stands
    for the raw records the run fetched and their station metadata (``raw/``, with
    ``raw/stations.xml``): a reader processes them in its own band, where the processed
    records are filtered in the run's and carry neither coordinates nor units."""
    folder = Path(folder)
    for run in (folder, folder.parent):
        if (run / STATIONS_REPORT).is_file() and (run / RAW_INVENTORY).is_file():
            raw = (run / RAW_INVENTORY).parent
            return raw, None if raw == folder else f"the records of cmtflow run {run.name}: {raw}"
    return folder, None


def event_stations(folder: str | Path) -> list[StationPoint]:
    """The positions of the stations of an event folder (waveform headers and metadata)."""
    folder, _ = records_folder(folder)
    return station_list(folder_metadata(folder, FileArchive(folder)).inventory)


#: Band+instrument codes of short-period sensors: used only when asked for.
SHORT_PERIOD = ("EH", "SH")


def read_event_records(folder: str | Path, quake, quantity: str | None = None, scale: float | None = None,
                       band=None, channels: tuple[str, ...] | None = None,
                       distances_km: tuple[float, float] = (0.0, 20000.0)) -> EventRecords:
    """The records of an event folder, decided station by station and component by component
    with the rules of the fetch (:func:`cmtflow.data.fetch.decide_station`), in their own units
    with what states them (:func:`cmtflow.processing.event_records.read_event_waveforms` turns
    them into SI units).

    * Waveforms: SAC (the component is the last letter of ``kcmpnm`` or, failing that, of the
      file name, ``...BH.z`` style, as CAP/MTUQ write them), miniSEED or any format ObsPy reads.
    * Station metadata in the same folder (StationXML, RESP, SACPZ, ISOLA pole-zero files,
      station lists) and the SAC headers give coordinates, orientations and responses
      (:mod:`cmtflow.data.metadata`).
    * Units are never guessed (:func:`cmtflow.data.checks.channel_units`): ``quantity`` (and
      ``scale`` to SI), else the SAC ``idep`` header (nm by the SAC standard, unless ``scale``
      says otherwise), else the instrument response (the records are counts).

    :param quake: the event (:class:`~cmtflow.data.events.Earthquake`): the signal windows.
    :param channels: band+instrument codes by preference; default the run conf's (broadband and
        long period), then any other band in the folder (synthetic ``MX``, ``BX``...) except
        short-period and strong-motion ones.
    :param distances_km: the stations used (the others are noted with their distance).
    :raises CmtflowError: no usable record (with the reasons), or records whose units nothing
        states (the message names the options).
    """
    from cmtflow.data.checks import CheckConfig, record_after_s, record_before_s
    from cmtflow.data.fetch import FetchConfig, _request_set, decide_station, time_window
    from cmtflow.data.selection import SelectionConfig, select_stations

    folder = Path(folder)
    if not folder.is_dir():
        raise CmtflowError(f"data folder {folder} does not exist")
    folder, moved = records_folder(folder)
    from cmtflow.runconf import RunConf

    archive = FileArchive(folder)
    metadata = folder_metadata(folder, archive)
    if channels is None:
        preferred = tuple(RunConf.channels.split(","))
        others = sorted({c.code[:2] for n in metadata.inventory for s in n for c in s}
                        - set(preferred) - set(SHORT_PERIOD) - set(SelectionConfig.strong_motion))
        channels = preferred + tuple(others)
    config = SelectionConfig(min_distance_km=distances_km[0], max_distance_km=distances_km[1],
                             channel_priorities=tuple(channels),
                             min_interstation_km=0.0, max_stations=10000, require_response=False)
    selection = select_stations(metadata.inventory, quake, config)
    request = FetchConfig(pre_origin_s=record_before_s(band.tmax), post_s=record_after_s(band.tmax) + 60.0) \
        if band else FetchConfig()
    checks = CheckConfig(quantity=quantity, scale=scale if scale is not None else 1.0,
                         **({"min_signal_s": band.tmax, "signal_post_s": record_after_s(band.tmax),
                             "longest_period_s": band.tmax} if band else {}))
    notes = [moved] * bool(moved) + list(metadata.notes) + [f"{code}: {reason}"
                                                           for code, reason in sorted(selection.dropped.items())]
    stream, units, stations = Stream(), {}, []
    for s in selection.stations:
        t1, t2 = time_window(quake, s.distance_km, request)
        data, reason = decide_station(lambda ids, t1=t1, t2=t2: _request_set(archive, ids, t1, t2), s, quake,
                                      metadata.inventory, checks)
        if data is None:
            notes.append(f"{s.code}: {reason}")
            continue
        if scale is not None and data.units["source"] == "SAC idep":
            data.units = {**data.units, "scale": scale, "source": "SAC idep, --scale"}
        notes += [f"{s.code}: {d}" for d in data.decisions if not d.endswith(f"components {data.components}")]
        stream += data.stream
        units.update({tr.id: data.units for tr in data.stream})
        stations.append(StationPoint(s.network, s.station, data.station.location, s.latitude, s.longitude,
                                     s.elevation_m))
    if not stations:
        if any("no units" in n for n in notes):
            raise CmtflowError(
                f"{folder}: the units of the records are not stated (no SAC idep, no instrument response): give "
                "--quantity displacement|velocity|acceleration and --scale to SI (SAC files of CAP/MTUQ in cm/s: "
                "--quantity velocity --scale 0.01), or the response metadata (StationXML, RESP, SACPZ) of records "
                "in counts")
        raise CmtflowError(f"{folder}: no usable records ({'; '.join(notes[-5:]) or 'no station found'})")
    return EventRecords(stream, stations, units, metadata.inventory, notes)


class FileArchive:
    """A folder of event waveform files as they come: SAC, miniSEED, GSE2... anything ObsPy
    reads, in any layout (searched recursively), with the call shape of the other archives.

    The folder is indexed once (headers only); a request reads the files holding the channel
    and returns the traces with their format headers (SAC ``idep``, coordinates...).
    """

    remote = False

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
                if path not in self._files.setdefault(tr.id, []):
                    self._files[tr.id].append(path)
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
