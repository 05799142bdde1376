"""Records screened for every size of earthquake, on the real raw Sargans records (ISOLA set,
9 broadband stations at 26-44 km, 6 minutes of pre-event record): the noise window of a long
band, a sensor that does not reach the band's longest period, a horizontal tilted during the
shaking."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy import UTCDateTime

from cmtflow.data.events import read_earthquake
from cmtflow.processing.event_records import read_event_waveforms
from cmtflow.processing import Band

ORIGIN = UTCDateTime("2013-12-12T00:59:18.84")
#: the poles of a 30 s sensor (a CMG-40T's), for the 120 s pair of an STS-2
POLES_30S = ("     -0.1481      -0.1481", "     -0.1481       0.1481")


@pytest.fixture()
def sargans(shared_data, tmp_path) -> Path:
    """The Sargans set in one folder, as ``cmtflow invert --data`` reads it."""
    source = shared_data / "sargans-2013-12-12"
    folder = tmp_path / "sargans"
    shutil.copytree(source / "sac", folder)
    for path in (source / "pzfiles").glob("*.pz"):
        shutil.copy(path, folder)
    shutil.copy(source / "network.stn", folder)
    shutil.copy(source / "event.isl", tmp_path)
    return folder


def _quake(folder: Path):
    return read_earthquake(folder.parent / "event.isl")


def test_a_sensor_that_does_not_reach_the_band_is_refused(sargans):
    """DAVOX given a 30 s sensor (its pole-zero files edited) in a 50-200 s band: refused with
    its corner; the STS-2s and Trilliums (120 s) of the others reach 200 s well enough."""
    for comp in "ZNE":
        path = sargans / f"DAVOXHH{comp}.pz"
        lines = path.read_text().splitlines()
        first = lines.index("poles") + 2
        path.write_text("\n".join(lines[:first] + list(POLES_30S) + lines[first + 2:]) + "\n")
    data = read_event_waveforms(sargans, _quake(sargans), band=Band(50.0, 200.0))
    assert "DAVOX" not in {s.station for s in data.stations} and len(data.stations) == 8
    note = next(n for n in data.notes if n.startswith("CH.DAVOX"))
    assert "sensor too short-period for the band: long-period corner at" in note and "200 s is" in note


def test_a_tilted_horizontal_is_refused_and_real_records_are_not(sargans):
    """A step of ground acceleration of 1e-7 m/s² (a tilt of 10 nanoradians) through DAVOX's
    own response, added to its real east record 30 s after the origin: that component is
    refused as tilted. Of the real records, only SGT01's east one is: its horizontals swing by
    400 counts beyond 50 s from 70 s after the origin on, 30 times the event's long-period
    signal at the other stations, while its vertical stays flat."""
    from cmtflow.data.disturbances import step_response
    from cmtflow.data.metadata import pieces_from_waveforms, read_metadata
    from cmtflow.data.waveforms import FileArchive

    clean = read_event_waveforms(sargans, _quake(sargans), band=Band(10.0, 50.0))
    disturbed = [n for n in clean.notes if "disturbance" in n]
    assert len(clean.stations) == 9 and len(disturbed) == 1 and disturbed[0].startswith("CH.SGT01: HHE: ")
    inventory = read_metadata([sargans], pieces_from_waveforms(FileArchive(sargans).headers)).inventory
    response = inventory.select(station="DAVOX", channel="HHE")[0][0][0].response
    path = next(sargans.glob("DAVOX*HHE*.sac"))
    tr = obspy.read(str(path))[0]
    onset = int((ORIGIN + 30.0 - tr.stats.starttime) / tr.stats.delta)
    tr.data = tr.data.astype(np.float64)
    tr.data[onset:] += 1e-7 * step_response(response, tr.stats.delta, tr.stats.npts - onset)
    tr.write(str(path), format="SAC")
    tilted = read_event_waveforms(sargans, _quake(sargans), band=Band(10.0, 50.0))
    davox = next(n for n in tilted.notes if n.startswith("CH.DAVOX: HHE: long-period disturbance"))
    assert "a tilt of 0.0 microradians" in davox or "a tilt of 0.01" in davox
    assert next(s for s in tilted.stations if s.station == "DAVOX")  # its vertical is still used
    assert [n for n in tilted.notes if "disturbance" in n and not n.startswith("CH.DAVOX")] == disturbed


def test_a_long_band_has_its_noise_window(sargans, data_root):
    """A 25-100 s band (the set-up of a Mw 6-7): the records are processed from 260 s before the
    origin, so that every component of the nine stations gets its signal-to-noise test (with a
    processing window from 120 s before the origin the noise window was skipped)."""
    from cmtflow import stages

    conf = {"quakeml": str(sargans.parent / "event.isl"), "data_source": "files", "waveforms": str(sargans),
            "inventory": str(sargans), "magnitude_type": "ML", "tmin": 25.0, "tmax": 100.0, "dt": 1.0,
            "model": "ak135"}
    first = stages.resolve_event(conf, "long", sargans.parent)
    run = first["run_dir"]
    stages.select_stations(run)
    stages.fetch_waveforms(run)
    stages.preprocess_observed(run)
    processed = json.loads((Path(run) / "processed" / "processed.json").read_text())
    assert processed["config"]["start_s"] == -260.0
    assert len(processed["stations"]) + len(processed["failed"]) == 9
    for station in processed["stations"]:
        tested = [n for n in station.get("notes", []) if "signal-to-noise" in n]
        assert tested and not any("skipped" in n for n in tested)
        assert set(station["components"]) <= {n[0] for n in tested}
