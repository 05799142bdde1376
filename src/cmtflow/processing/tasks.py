"""Station tasks for the preprocessing graph, from a run workspace or a synthetics folder."""

from __future__ import annotations

import json
from pathlib import Path

from obspy import UTCDateTime

from cmtflow.data.station_set import StationSet
from cmtflow.errors import CmtflowError
from cmtflow.workspace import INITIAL_SOURCE, RAW_INVENTORY, STATIONS_REPORT, SYNTHETICS_MANIFEST
from cmtflow.processing.preprocess import PreprocessConfig


def _read_manifest(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CmtflowError(f"{path} not found: {what}") from None
    except json.JSONDecodeError as exc:
        raise CmtflowError(f"{path} is not valid JSON: {exc}") from None


def _time_reference(run: Path, event_time: UTCDateTime) -> UTCDateTime:
    """The time the processing windows hang on: the initial source's, when the run has one.

    Synthetics are cut relative to their source's time, read back from a CMTSOLUTION, which
    keeps 10 ms; a catalogue time with milliseconds would put the data on another sample
    grid than the synthetics. 10 ms is nothing at the periods inverted, but the grids must
    be the same.
    """
    initial = run / INITIAL_SOURCE
    if not initial.is_file():
        return event_time
    from cmtflow.source import read_cmtsolution

    return read_cmtsolution(initial).time


def observed_tasks(run_dir: str | Path, config: PreprocessConfig, min_snr: float = 0.0) -> list[dict]:
    """One task per station used in ``<run_dir>/stations.json`` (raw files + StationXML),
    with the units of its records and, where the record has a noise window, the windows of
    the signal-to-noise test (``min_snr``; 0: none)."""
    from cmtflow.data.checks import earliest_p_s, signal_window

    run = Path(run_dir)
    report = StationSet.from_dict(_read_manifest(run / STATIONS_REPORT, "fetch the waveforms first (cmtflow fetch)"))
    origin = _time_reference(run, UTCDateTime(report.event["time"]))
    depth = float(report.event["depth_km"])
    inventory = run / RAW_INVENTORY
    tasks = []
    for s in report.used:
        distance = s.distance_km
        start, end = config.window(origin, distance)
        signal = signal_window(origin, distance, depth)
        # the noise window: the processed window before the signal, where the record has data,
        # ending a longest period before it: the zero-phase band-pass spreads a strong arrival
        # about that far back, and its precursor is not noise
        noise_start = max(start, signal[0] - s.noise_s)
        noise_end = signal[0] - config.tmax
        noise = (noise_start, noise_end) if s.noise_window and noise_end - noise_start > 2 * config.dt else None
        tasks.append({"station": s.code, "location": s.selected.location, "files": [str(run / "raw" / s.raw)],
                      "inventory": str(inventory), "start": str(start), "end": str(end),
                      "back_azimuth": s.back_azimuth, "units": s.units, "spans": s.spans,
                      "signal": [str(origin + earliest_p_s(distance, depth)), str(end)],
                      "noise": [str(t) for t in noise] if noise else None, "min_snr": min_snr})
    return tasks


def record_spans(stations_report: str | Path) -> dict[str, dict]:
    """``{"NET.STA": {"Z"|"H": [start, end]}}``: the spans of the records of a run's used
    stations (its ``stations.json``), to which its synthetics are cut."""
    report = StationSet.from_dict(_read_manifest(Path(stations_report), "a run's stations.json"))
    return {s.code: s.spans for s in report.used if s.spans}


def synthetic_tasks(folder: str | Path, config: PreprocessConfig, spans: dict[str, dict] | None = None) -> list[dict]:
    """One task per station of a ``cmtflow synth`` folder (``synthetics.json``), each cut to
    its station's record span where ``spans`` (:func:`record_spans`) has one."""
    folder = Path(folder)
    manifest = _read_manifest(folder / SYNTHETICS_MANIFEST, "not a 'cmtflow synth' output folder")
    if "centroid_time" not in manifest:
        raise CmtflowError(f"{folder / SYNTHETICS_MANIFEST} has no centroid_time: regenerate it with 'cmtflow synth'")
    origin = UTCDateTime(manifest["centroid_time"])
    tasks = []
    for s in manifest["stations"]:
        start, end = config.window(origin, float(s["distance_km"]))
        code = f"{s['network']}.{s['station']}"
        tasks.append({"station": code, "location": s["location"],
                      "files": [str(folder / s["file"])], "inventory": None, "start": str(start), "end": str(end),
                      "back_azimuth": float(s["back_azimuth"]), "spans": (spans or {}).get(code)})
    return tasks
