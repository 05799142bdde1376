"""SPECFEM3D seismograms (``OUTPUT_FILES``) into the common synthetics folder format.

ASCII ``NET.STA.CHA.semd`` files hold two columns, time (s, relative to the centroid time
of the CMTSOLUTION, starting before it) and displacement (m). ASDF files (HDF5) hold one
dataset per trace under ``/Waveforms/NET.STA/`` with ``starttime`` (ns since 1970) and
``sampling_rate`` attributes. SPECFEM3D_Cartesian's X/Y/Z components are east, north and up;
they become E/N/Z channels ``?XE ?XN ?XZ`` like the embedded solver's output, so the same
processing graph rotates both to Z/R/T.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from obspy import Stream, Trace, UTCDateTime

from cmtflow.data.stations import StationPoint
from cmtflow.errors import CmtflowError
from cmtflow.solvers.synthetics import band_code, station_geometry, write_synthetics_folder
from cmtflow.source import Source

log = logging.getLogger(__name__)

#: SPECFEM component letter -> cmtflow component letter (Cartesian X east, Y north, Z up).
COMPONENT = {"X": "E", "Y": "N", "Z": "Z", "E": "E", "N": "N"}


def _trace(network: str, station: str, component: str, start: UTCDateTime, dt: float, data: np.ndarray) -> Trace:
    comp = COMPONENT.get(component.upper())
    if comp is None:
        raise CmtflowError(f"{network}.{station}: unknown SPECFEM component {component!r}")
    tr = Trace(np.ascontiguousarray(data, np.float64))
    tr.stats.update(dict(network=network, station=station, location="", channel=f"{band_code(1.0 / dt)}X{comp}",
                         starttime=start, delta=dt))
    return tr


def read_semd(folder: str | Path, centroid_time: UTCDateTime) -> Stream:
    """All ``*.semd`` (displacement) seismograms of an ``OUTPUT_FILES`` folder."""
    stream = Stream()
    paths = sorted(Path(folder).glob("*.semd"))
    if not paths:
        raise CmtflowError(f"{folder}: no .semd seismograms (was SAVE_SEISMOGRAMS_DISPLACEMENT set?)")
    for path in paths:
        parts = path.name.split(".")
        if len(parts) != 4:
            raise CmtflowError(f"{path.name}: expected NET.STA.CHA.semd")
        net, sta, cha = parts[:3]
        try:
            table = np.loadtxt(path, ndmin=2)
        except ValueError as exc:
            raise CmtflowError(f"{path.name}: not a two-column ASCII seismogram ({exc})") from None
        if table.shape[1] != 2 or len(table) < 2:
            raise CmtflowError(f"{path.name}: expected two columns (time, displacement) and at least 2 rows")
        steps = np.diff(table[:, 0])
        dt = float(np.mean(steps))
        if np.max(np.abs(steps - dt)) > 1e-3 * dt:
            raise CmtflowError(f"{path.name}: time column is not evenly sampled")
        stream.append(_trace(net, sta, cha[-1], centroid_time + float(table[0, 0]), dt, table[:, 1]))
    return stream


def read_asdf(path: str | Path) -> Stream:
    """The waveforms of a SPECFEM ASDF file (h5py; no ASDF library needed)."""
    try:
        import h5py
    except ImportError:
        raise CmtflowError("reading ASDF needs h5py (pip install h5py)") from None
    stream = Stream()
    with h5py.File(str(path), "r") as f:
        if "Waveforms" not in f:
            raise CmtflowError(f"{path}: not an ASDF file (no /Waveforms group)")
        for station_group in f["Waveforms"].values():
            for name, dataset in station_group.items():
                if name == "StationXML":
                    continue
                net, sta, _loc, cha = name.split("__")[0].split(".")
                start = UTCDateTime(ns=int(dataset.attrs["starttime"]))
                dt = 1.0 / float(dataset.attrs["sampling_rate"])
                stream.append(_trace(net, sta, cha[-1], start, dt, dataset[()]))
    if not len(stream):
        raise CmtflowError(f"{path}: no waveforms")
    return stream


def inside_mesh(workdir: str | Path) -> set[tuple[str, str]] | None:
    """(network, station) that SPECFEM3D kept (``DATA/STATIONS_FILTERED``, written by the solver
    without the stations outside the mesh), or None before it ran."""
    path = Path(workdir) / "DATA" / "STATIONS_FILTERED"
    if not path.is_file():
        return None
    return {(parts[1], parts[0]) for parts in (ln.split() for ln in path.read_text().splitlines()) if len(parts) >= 2}


def collect(stream: Stream, source: Source, stations: list[StationPoint], out: str | Path, meta: dict,
            kept: set[tuple[str, str]] | None = None) -> dict:
    """Write SPECFEM seismograms of ``stations`` as a synthetics folder; returns its manifest.

    :param kept: the stations SPECFEM3D located in its mesh (:func:`inside_mesh`); the others
        are left out with that reason (``left_out`` in the manifest). Any other station
        without seismograms is an error.
    """
    have = {(tr.stats.network, tr.stats.station) for tr in stream}
    outside = {s.code: "outside the SPECFEM3D mesh (not in its DATA/STATIONS_FILTERED)" for s in stations
               if kept is not None and (s.network, s.station) not in kept}
    missing = [s.code for s in stations if (s.network, s.station) not in have and s.code not in outside]
    if missing:
        raise CmtflowError(f"no SPECFEM seismograms for {', '.join(missing)}")
    for code, why in outside.items():
        log.warning("%s left out: %s", code, why)
    stations = [s for s in stations if s.code not in outside]
    if not stations:
        raise CmtflowError("every station lies outside the SPECFEM3D mesh")
    meta = {**meta, "left_out": outside} if outside else meta
    geometry = station_geometry(source, stations)
    for g in geometry:
        st = stream.select(network=g["station"].network, station=g["station"].station)
        if sorted(tr.stats.channel[-1] for tr in st) != ["E", "N", "Z"]:
            raise CmtflowError(f"{g['station'].code}: expected 3 components, got {', '.join(tr.id for tr in st)}")
        g["starttime"] = st[0].stats.starttime
    return write_synthetics_folder(stream, geometry, source, out, {"solver": "specfem3d", "components": "ZNE",
                                                                    **meta})
