"""Inputs as seismologists receive them (tests/realworld.py; ObsPy's own real SACPZ/RESP files;
the Sargans ISOLA set and the Alaska SAC set of ../shared/data): read right, or refused
with a message naming the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import obspy
import pytest
from airflow_fixtures import run_cmtflow
from realworld import (ALASKA_CAP, MISORIENTED, STATIONS, alaska_conf, build_archive, build_cap_sac, cap_cut_folder,
                       event_archive_from_real_records, ground_motion)

from cmtflow.cli import main
from cmtflow.data.metadata import read_metadata
from cmtflow.errors import CmtflowError
from cmtflow.source import kagan_angle, read_cmtsolution

OBSPY_DATA = Path(obspy.__file__).parent / "io" / "sac" / "tests" / "data"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("realworld")
    motion = ground_motion()
    archive = build_archive(root, motion)
    return {"archive": archive, "cap": build_cap_sac(root, motion), "motion": motion, "root": root}


def _mt(solution: dict) -> list[float]:
    return [solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]


# --------------------------------------------------------------------------- metadata
def test_metadata_in_mixed_formats_is_merged_per_channel(corpus):
    folder = corpus["archive"].metadata
    seiscomp = obspy.read_inventory(str(folder / "seiscomp.xml"))
    assert len(seiscomp.networks) == sum(len(s) for n in seiscomp for s in n)  # one element per channel
    meta = read_metadata(folder)
    assert meta.problems == {}
    stations = {f"{n.code}.{s.code}": s for n in meta.inventory for s in n}
    assert len(stations) == len(STATIONS)
    assert [c.code for c in stations["AK.TRF"].channels] == ["BHZ", "BHN", "BHE"]  # 3 elements, one station
    eyak = meta.sources["AK.EYAK..BHZ"]
    assert eyak["response"].endswith("RESP.AK.EYAK") and eyak["coordinates"].endswith("network.stn")
    assert meta.sources["YV.LSKI..BHN"]["response"].endswith("LSKI.sacpz")
    kash_n = stations["YV.KASH"].select(channel="BHN")[0]
    assert (kash_n.azimuth, kash_n.dip) == (MISORIENTED[0], 0.0)
    # the responses agree whatever file they came from (the same seismometer everywhere)
    sens = {c: stations[c].channels[0].response.instrument_sensitivity.value for c in ("AK.TRF", "AK.EYAK", "YV.LSKI")}
    assert max(sens.values()) / min(sens.values()) == pytest.approx(1.0, abs=1e-4)


def _amplitude(response, freqs, output="DISP"):
    h, f = response.get_evalresp_response(0.01, 2**15, output=output)
    return np.abs(h[np.searchsorted(f, freqs)])


def test_real_sacpz_and_resp_of_one_channel_agree():
    """NZ.CRLZ.10.HHZ (ObsPy's test data: real files of the New Zealand network) in three
    layouts: rdseed's headerless SACPZ (metres), NEIC's SACPZ (nanometres, CONSTANT first)
    and RESP (velocity, with FIR stages): the same amplitude response within 1 %."""
    from cmtflow.data.metadata import pieces_from_file

    pieces = {name: pieces_from_file(OBSPY_DATA / name, [])[0]
              for name in ("SAC_PZs_NZ_CRLZ_HHZ", "NZCRLZ_HHZ10.pz", "RESP.NZ.CRLZ.10.HHZ")}
    freqs = [0.05, 0.2, 1.0, 5.0]
    ref = _amplitude(pieces["RESP.NZ.CRLZ.10.HHZ"].response, freqs)
    for name in ("SAC_PZs_NZ_CRLZ_HHZ", "NZCRLZ_HHZ10.pz"):
        assert _amplitude(pieces[name].response, freqs) / ref == pytest.approx(np.ones(4), rel=0.01), name
    neic = pieces["NZCRLZ_HHZ10.pz"]
    assert (neic.network, neic.station, neic.location, neic.channel) == ("NZ", "CRLZ", "10", "HHZ")
    assert (neic.latitude, neic.dip) == (-43.57641, -90.0)


def test_iris_sacpz_with_epochs_and_orientations():
    meta = read_metadata(OBSPY_DATA / "IU_ANMO_BH.sacpz")
    chans = {(c.location_code, c.code, str(c.start_date)[:10]): c for n in meta.inventory for s in n for c in s}
    assert len(chans) == 9  # 00 and two epochs of 10
    bh1 = chans[("00", "BH1", "2012-03-12")]
    assert (bh1.azimuth, bh1.dip) == (328.0, 0.0)
    assert chans[("00", "BHZ", "2012-03-12")].dip == -90.0  # "DIP (SEED)"
    # a seismometer's SACPZ (in metres) is held in velocity, as StationXML would
    assert bh1.response.instrument_sensitivity.input_units == "M/S"


def test_isola_pole_zero_files_units_line_checked_against_the_zeros(shared_data):
    folder = shared_data / "sargans-2013-12-12"
    meta = read_metadata([folder / "pzfiles", folder / "network.stn"])
    assert len(meta.inventory.get_contents()["channels"]) == 27 and meta.problems == {}
    note = next(n for n in meta.notes if "units line says" in n)
    assert "'m/sec2'" in note and "read as velocity" in note and "and 21 more" in note
    dava = meta.inventory.select(station="DAVA", channel="HHZ")[0][0][0]
    assert dava.response.instrument_sensitivity.input_units == "M/S"
    # A0 * |H(2 pi i)| / constant: the counts per m/s at 1 Hz of the STS-2 of OE.DAVA
    assert dava.response.instrument_sensitivity.value == pytest.approx(6.2687e8, rel=1e-4)
    assert (dava.latitude, dava.longitude) == (47.2870, 9.8800)
    # without the station list the files name no network: said, not guessed
    alone = read_metadata(folder / "pzfiles")
    assert any("without a network" in n for n in alone.notes)


def test_specfem_stations_file_gives_coordinates_to_pole_zero_files(shared_data, tmp_path):
    stations = tmp_path / "STATIONS"
    stations.write_text("DAVA  OE  47.2870  9.8800  1615.0  0.0\nBAD XX 91 0 0 0\n")
    with pytest.raises(CmtflowError, match="STATIONS"):
        read_metadata([shared_data / "sargans-2013-12-12" / "pzfiles", stations])
    stations.write_text("DAVA  OE  47.2870  9.8800  1615.0  0.0\n")
    meta = read_metadata([shared_data / "sargans-2013-12-12" / "pzfiles", stations])
    dava = meta.inventory.select(network="OE", station="DAVA", channel="HHZ")[0][0]
    assert (dava.latitude, dava.longitude, dava.elevation) == (47.2870, 9.8800, 1615.0)
    assert dava[0].response.instrument_sensitivity.input_units == "M/S"


def test_metadata_that_is_not_metadata_is_refused(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("nothing to see\n")
    with pytest.raises(CmtflowError, match="notes.txt: not station metadata cmtflow reads"):
        read_metadata(bad)
    pz = tmp_path / "XYZHHZ.pz"
    pz.write_text("A0\n1.0\ncount-->m/sec\n1.0\nzeros\n2\n0 0\n")
    with pytest.raises(CmtflowError, match="XYZHHZ.pz: expected 2 'real imag' lines after line 6"):
        read_metadata(pz)


# --------------------------------------------------------------------------- fetch
def test_fetch_decides_per_station_and_component(corpus, tmp_path, capsys):
    archive = corpus["archive"]
    assert main(["--data-root", str(tmp_path / "home"), "fetch", "--quakeml", str(archive.quakeml), "--sds",
                 str(archive.sds), "--inventory", str(archive.metadata), "--run-id", "f1"]) == 0
    out = capsys.readouterr().out
    assert "12 stations fetched (0 reused), 0 dropped" in out and "12 stations processed" in out
    run = tmp_path / "home" / "events" / "realworld" / "runs" / "f1"
    used = {u["station"]: u for u in json.loads((run / "stations.json").read_text())["used"]}
    assert set(used) == {f"{p.network}.{p.station}" for p in corpus["motion"]["points"].values()}
    pmr, swd, saw, spbg = used["AT.PMR"], used["AK.SWD"], used["AK.SAW"], used["AV.SPBG"]
    assert pmr["channels"] == ["AT.PMR..HNZ", "AT.PMR..HNN", "AT.PMR..HNE"] and pmr["components"] == "ZRT"
    assert any(d.startswith("BHZ: clipped: flat top") for d in pmr["decisions"])
    assert "--.HN?: components ZRT (strong motion: the broadband records are clipped)" in pmr["decisions"]
    assert swd["location"] == "10" and "BHZ: no data" in swd["decisions"] and "00.BH?: components RT" in swd["decisions"]
    assert saw["components"] == "ZRT" and any(d.startswith("BHZ: gap of 0.30 s") for d in saw["decisions"])
    assert "BHE: segments at 20, 40 Hz resampled to 20 Hz" in saw["decisions"]
    assert "BHN: 1 overlap(s) merged" in saw["decisions"]
    assert spbg["components"] == "Z"
    # the archive is cut 10 s before the origin: no noise window, said per station
    assert all(not u["noise_window"] for u in used.values())
    assert "signal-to-noise test skipped" in used["AK.TRF"]["snr"]
    assert all(u["units"] == {"source": "response", "quantity": "counts", "scale": 1.0} for u in used.values())


def _processed_truth(corpus, station: str, run: Path) -> dict:
    """The true ground motion of a station through the same processing as the data."""
    from cmtflow.processing.preprocess import PreprocessConfig, preprocess_station

    record = json.loads((run / "stations.json").read_text())
    use = next(u for u in record["used"] if u["station"].endswith("." + station))
    processed = obspy.read(str(run / "processed" / f"{use['station']}.{use['location']}.mseed"))
    motion = corpus["motion"]
    p = motion["points"][station]
    start = motion["source"].time - 300.0
    st = obspy.Stream([obspy.Trace(motion["velocity"][station][c], header={
        "network": p.network, "station": station, "channel": f"BH{c}", "sampling_rate": 20.0, "starttime": start})
        for c in "ZNE"])
    st = st.slice(motion["source"].time - 10.0, motion["source"].time + 420.0)  # as the archive was cut
    config = PreprocessConfig(15.0, 50.0, 0.5)
    truth = preprocess_station(st, config, processed[0].stats.starttime, processed[0].stats.endtime,
                               float(use["back_azimuth"]), units={"quantity": "velocity", "scale": 1.0})
    return {tr.stats.channel[-1]: (tr.data, processed.select(component=tr.stats.channel[-1])[0].data) for tr in truth}


@pytest.mark.parametrize("station", ["KASH", "BMR", "PERI", "PMR", "EYAK", "SAW"])
def test_processed_records_match_the_true_ground_motion(corpus, tmp_path, station):
    """Misoriented N/E (KASH), 1/2 horizontals (BMR), a vertical pointing down (PERI),
    accelerometers in place of clipped broadband (PMR), a RESP response (EYAK), a gap, an
    overlap and a change of sampling rate (SAW): after processing, each component is the
    true ground displacement (correlation > 0.99, amplitude within 3 %)."""
    archive = corpus["archive"]
    run_id = f"truth-{station}"
    assert main(["--data-root", str(tmp_path / "home"), "fetch", "--quakeml", str(archive.quakeml), "--sds",
                 str(archive.sds), "--inventory", str(archive.metadata), "--run-id", run_id]) == 0
    run = tmp_path / "home" / "events" / "realworld" / "runs" / run_id
    for comp, (truth, data) in _processed_truth(corpus, station, run).items():
        n = min(len(truth), len(data))
        truth, data = truth[:n], data[:n]
        cc = float(np.dot(truth, data) / np.sqrt(np.dot(truth, truth) * np.dot(data, data)))
        assert cc > 0.99, (station, comp, cc)
        assert np.std(data) / np.std(truth) == pytest.approx(1.0, abs=0.03), (station, comp)


def test_cap_sac_set_units_are_stated_or_refused(corpus, tmp_path, capsys):
    """SAC files in cm/s without idep: refused with the options, read right with them."""
    cap, truth = corpus["cap"], read_cmtsolution(corpus["archive"].truth)
    home = str(tmp_path / "home")
    args = ["--data-root", home, "fetch", "--quakeml", str(corpus["archive"].quakeml), "--waveforms", str(cap)]
    assert main([*args, "--run-id", "nounits"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: only 0 usable stations")
    dropped = json.loads((tmp_path / "home" / "events" / "realworld" / "runs" / "nounits" / "stations.json")
                         .read_text())["dropped"]
    assert len(dropped) == 12 and all("no units" in d["reason"] and "data_quantity" in d["reason"] for d in dropped)
    assert main([*args, "--run-id", "cms", "--quantity", "velocity", "--scale", "0.01"]) == 0
    used = json.loads((tmp_path / "home" / "events" / "realworld" / "runs" / "cms" / "stations.json")
                      .read_text())["used"]
    assert len(used) == 12 and all(u["components"] == "ZRT" for u in used)
    # cmtflow invert on the same folder
    initial = tmp_path / "CMTSOLUTION"
    from cmtflow.source import Source, write_cmtsolution

    write_cmtsolution(Source.from_strike_dip_rake(0.0, 90.0, 0.0, 4.5, time=truth.time, latitude=truth.latitude,
                                                  longitude=truth.longitude, depth_km=truth.depth_km,
                                                  event_id="cap"), initial)
    common = ["invert", "--data", str(cap), "--initial", str(initial), "--model", "scak", "--bootstrap", "0",
              "--picker", "phases"]
    assert main([*common, "--out", str(tmp_path / "none")]) == 2
    assert "--quantity velocity --scale 0.01" in capsys.readouterr().err
    assert not (tmp_path / "none" / "solution.json").exists()
    assert main([*common, "--out", str(tmp_path / "cap"), "--quantity", "velocity", "--scale", "0.01"]) == 0
    solution = json.loads((tmp_path / "cap" / "solution.json").read_text())
    assert kagan_angle(_mt(solution), truth.mt) < 5.0 and abs(solution["mw"] - truth.mw) < 0.05
    # and read as metres, the magnitude is flagged
    assert main([*common, "--out", str(tmp_path / "m"), "--quantity", "velocity"]) == 0
    flagged = json.loads((tmp_path / "m" / "solution.json").read_text())
    assert flagged["magnitude_check"]["flagged"] and flagged["mw"] > truth.mw + 1.0
    assert "warning: Mw" in capsys.readouterr().out


def test_alaska_sac_set_with_and_without_its_units(shared_data, tmp_path, capsys):
    """The issue's acceptance case: the README of ../shared/data says cm/s."""
    folder = shared_data / "alaska-2009-04-07"
    initial = Path(__file__).parents[1] / "src" / "cmtflow" / "scenarios" / "CMTSOLUTION_alaska_2009"
    common = ["invert", "--data", str(folder), "--initial", str(initial), "--model", "scak", "--bootstrap", "0",
              "--picker", "phases"]
    assert main([*common, "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert "the units of the records are not stated" in err and "--quantity velocity --scale 0.01" in err
    assert main([*common, "--out", str(tmp_path / "ok"), "--quantity", "velocity", "--scale", "0.01"]) == 0
    solution = json.loads((tmp_path / "ok" / "solution.json").read_text())
    assert abs(solution["mw"] - 4.5) < 0.1 and not solution["magnitude_check"]["flagged"]
    assert solution["data_units"] == {"quantity": "velocity", "source": "run conf"}


# --------------------------------------------------------------------------- records cut short
@pytest.mark.parametrize("cut", ["CAP folder -12..+101 s", "event archive of counts -10..+140 s"])
def test_real_records_cut_short_are_used_as_far_as_they_reach(shared_data, data_root, cut):
    """The real Alaska records (16-281 km) cut as CAP cuts its event folders (velocity in cm/s,
    2 minutes after the origin: the far stations end inside their surface waves) and as an
    event archive of counts ending 140 s after the origin: every station is fetched, windows
    past a record's end are cut to it or left out with the reason, the synthetics are cut to
    the same spans, and the solution is CAP's."""
    from cmtflow import pipeline
    from cmtflow.source import magnitude_to_moment, mt_from_strike_dip_rake

    inputs = data_root / "inputs"
    if cut.startswith("CAP"):
        folder = cap_cut_folder(shared_data, inputs / "cap", -12.0, 101.0)
        conf = alaska_conf(data_source="files", waveforms=str(folder), data_quantity="velocity", data_scale=0.01)
    else:
        sds, inventory = event_archive_from_real_records(shared_data, inputs, -10.0, 140.0)
        conf = alaska_conf(data_source="sds", sds_path=str(sds), inventory=str(inventory))
    record = pipeline.run_all({**conf, "bootstrap": 10}, "cut", data_root)
    run = Path(record["run_dir"])
    stations = json.loads((run / "stations.json").read_text())
    # no station dropped for its length; MPEN's and SOLD's verticals are dead (all zeros in
    # the files), and so is SOLD's north component, hidden in the CAP set's R and T
    dropped = {d["station"]: d["reason"] for d in stations["dropped"]}
    assert len(stations["used"]) == 26 - len(dropped) and set(dropped) <= {"YV.SOLD"}
    assert all("dead channel" in reason for reason in dropped.values())
    mpen = next(u for u in stations["used"] if u["station"] == "YV.MPEN")
    assert mpen["components"] == "RT" and any("dead channel" in d for d in mpen["decisions"])
    far = max(stations["used"], key=lambda u: u["distance_km"])
    assert any("used as far as it reaches" in d for d in far["decisions"])
    end = obspy.UTCDateTime(far["spans"]["Z"][1]) - obspy.UTCDateTime(stations["event"]["time"])
    assert end == pytest.approx(101.0 if cut.startswith("CAP") else 140.0, abs=0.1)
    windows = json.loads((run / "windows" / "windows.json").read_text())
    cut_windows = [w for w in windows["windows"] if w.get("note", "").startswith("cut to the record")]
    assert cut_windows and all(w["end"] <= end for w in cut_windows)
    solution = json.loads((run / "solution" / "solution.json").read_text())
    strike, dip, rake, mw = ALASKA_CAP
    assert kagan_angle(_mt(solution), mt_from_strike_dip_rake(strike, dip, rake, magnitude_to_moment(mw))) < 20.0
    assert abs(solution["mw"] - mw) < 0.15 and len(solution["stations_used"]) >= 20


def test_invert_takes_the_dag_s_set_up_when_band_and_model_are_not_given(shared_data, tmp_path, capsys):
    """cmtflow invert on the CAP-cut folder with no --model, --band or --dt: the set-up of the
    DAG for a Mw 4.5 in southern Alaska (scak, 15-50 s, dt 0.5 s, 10-500 km), printed and kept
    in solution.json; the solution is CAP's."""
    from cmtflow.source import magnitude_to_moment, mt_from_strike_dip_rake

    folder = cap_cut_folder(shared_data, tmp_path / "cap")
    initial = Path(__file__).parents[1] / "src" / "cmtflow" / "scenarios" / "CMTSOLUTION_alaska_2009"
    assert main(["invert", "--data", str(folder), "--initial", str(initial), "--quantity", "velocity", "--scale",
                 "0.01", "--bootstrap", "0", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "band 15-50 s" in out and "model scak (epicentre in southern Alaska" in out
    solution = json.loads((tmp_path / "out" / "solution.json").read_text())
    setup = solution["setup"]
    assert (setup["tmin"], setup["tmax"], setup["dt"], setup["model"]) == (15.0, 50.0, 0.5, "scak")
    assert setup["reasons"]["model"].startswith("epicentre in southern Alaska")
    strike, dip, rake, mw = ALASKA_CAP
    assert kagan_angle(_mt(solution), mt_from_strike_dip_rake(strike, dip, rake, magnitude_to_moment(mw))) < 15.0


# --------------------------------------------------------------------------- the DAG
def _run(root: Path, conf: dict, tmp_path: Path, name: str) -> dict:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(conf))
    done = run_cmtflow(root, "run", "--conf", str(path), extra_env={"CMTFLOW_INPUT_ROOTS": str(tmp_path.parent)})
    assert done.returncode == 0, done.stderr[-3000:]
    solution = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("solution: "))
    return json.loads((Path(solution) / "solution.json").read_text())


@pytest.mark.slow
def test_real_world_inputs_through_the_dag(corpus, tmp_path):
    """The event-cut SDS archive with its mixed metadata folder and a 4-column FK model file
    ``thickness vs vp Qs`` (density by FK's rule); then the CAP SAC set in cm/s as a folder
    of files with its units in the run conf: both through cmt_inversion."""
    archive, truth = corpus["archive"], read_cmtsolution(corpus["archive"].truth)
    model = corpus["root"] / "scak4.fk"
    scak = np.loadtxt(Path(__file__).parents[1] / "src" / "cmtflow" / "models" / "named" / "scak.fkmodel")
    model.write_text("".join(f"{h:g} {vs:g} {vp:g} {qs:g}\n" for h, vs, vp, _, qs, _ in scak))
    conf = {"quakeml": str(archive.quakeml), "data_source": "sds", "sds_path": str(archive.sds),
            "inventory": str(archive.metadata), "model": str(model), "bootstrap": 20, "max_distance_km": 400.0,
            "depth_search": False}  # the inputs are the point here; the depth search has its own tests
    solution = _run(tmp_path / "home", conf, corpus["root"], "sds")
    assert kagan_angle(_mt(solution), truth.mt) < 5.0 and abs(solution["mw"] - truth.mw) < 0.1
    assert len(solution["stations_used"]) == 12 and not solution["magnitude_check"]["flagged"]
    cap = {"quakeml": str(archive.quakeml), "data_source": "files", "waveforms": str(corpus["cap"]),
           "data_quantity": "velocity", "data_scale": 0.01, "model": "scak", "bootstrap": 20, "depth_search": False}
    solution = _run(tmp_path / "home", cap, corpus["root"], "cap")
    assert kagan_angle(_mt(solution), truth.mt) < 5.0 and abs(solution["mw"] - truth.mw) < 0.1
    assert len(solution["stations_used"]) == 12


@pytest.mark.slow
def test_sargans_isola_set_through_the_dag(shared_data, tmp_path):
    """Exactly what an ISOLA user has: raw SAC counts without coordinates, ISOLA pole-zero
    files (units line wrong), network.stn, event.isl (ML 4.2) and crustal.dat, read as they
    are. Reference: USGS/SLU Mw 3.64, double couple 180/85/25."""
    from cmtflow.source import magnitude_to_moment, mt_from_strike_dip_rake

    folder = shared_data / "sargans-2013-12-12"
    conf = {"quakeml": str(folder / "event.isl"), "data_source": "files", "waveforms": str(folder / "sac"),
            "inventory": str(folder), "model": str(folder / "crustal.dat"), "tmin": 10.0, "tmax": 50.0,
            "bootstrap": 20}
    path = tmp_path / "sargans.json"
    path.write_text(json.dumps(conf))
    done = run_cmtflow(tmp_path / "home", "run", "--conf", str(path),
                       extra_env={"CMTFLOW_INPUT_ROOTS": f"{shared_data}:{tmp_path}"})
    assert done.returncode == 0, done.stderr[-3000:]
    solution_dir = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("solution: "))
    solution = json.loads((Path(solution_dir) / "solution.json").read_text())
    slu = mt_from_strike_dip_rake(180, 85, 25, magnitude_to_moment(3.64))
    assert kagan_angle(_mt(solution), slu) < 25.0 and abs(solution["mw"] - 3.64) < 0.15
    # SGT01's east record is tilted (tests/test_record_screening.py), so its north one has no
    # pair, and its vertical alone is below the signal-to-noise limit: eight stations
    assert len(solution["stations_used"]) == 8 and "CH.SGT01" not in solution["stations_used"]
    assert solution["quality"]["grade"] in ("A", "B")
    # the ML 4.2 of the ISOLA event file is 0.6 above the inverted Mw: reported, not flagged
    check = solution["magnitude_check"]
    assert check["catalogue"] == 4.2 and -0.8 < check["difference"] < -0.4 and not check["flagged"]
    run = Path(solution_dir).parent
    metadata = json.loads((run / "stations" / "metadata.json").read_text())
    assert any("units line says 'm/sec2'" in n for n in metadata["notes"])
    stations = json.loads((run / "stations.json").read_text())
    assert all(u["noise_window"] and u["units"]["source"] == "response" for u in stations["used"])
    sgt01 = next(u for u in stations["used"] if u["station"] == "CH.SGT01")
    assert sgt01["components"] == "Z" and any("long-period disturbance" in d for d in sgt01["decisions"])


def test_invert_reads_the_raw_corpus_as_it_comes(corpus, tmp_path):
    """cmtflow invert on a folder of the raw miniSEED counts of every station and the
    metadata files beside them: the same per-station decisions as the fetch."""
    import shutil

    archive, truth = corpus["archive"], read_cmtsolution(corpus["archive"].truth)
    folder = tmp_path / "event"
    folder.mkdir()
    for path in list(archive.sds.rglob("*.D.*")) + list(archive.metadata.iterdir()):
        shutil.copy(path, folder / path.name)
    out = tmp_path / "out"
    assert main(["invert", "--data", str(folder), "--initial", str(archive.truth), "--model", "scak",
                 "--bootstrap", "0", "--picker", "phases", "--out", str(out)]) == 0
    solution = json.loads((out / "solution.json").read_text())
    assert solution["data_units"] == {"quantity": "displacement", "source": "response"}
    assert kagan_angle(_mt(solution), truth.mt) < 5.0 and abs(solution["mw"] - truth.mw) < 0.1
    assert len(solution["stations_used"]) == 12
    notes = solution["data_notes"]
    assert "AT.PMR: --.HN?: components ZRT (strong motion: the broadband records are clipped)" in notes
    assert any(n.startswith("AK.SAW: BHZ: gap of 0.30 s") for n in notes)


# --------------------------------------------------------------------------- clipping
def _two_stage_response(counts_per_volt: float):
    """An STS-2 (1500 V/(m/s)) on a digitiser of ``counts_per_volt``: stages as StationXML has them."""
    from obspy.core.inventory.response import CoefficientsTypeResponseStage, InstrumentSensitivity, Response
    from cmtflow import demo

    sensor = demo.seismometer_response().response_stages[0]
    sensor.stage_gain, sensor.output_units = 1500.0, "V"
    digitiser = CoefficientsTypeResponseStage(2, counts_per_volt, 1.0, "V", "COUNTS", "DIGITAL", numerator=[],
                                              denominator=[])
    return Response(instrument_sensitivity=InstrumentSensitivity(1500.0 * counts_per_volt, 1.0, "M/S", "COUNTS"),
                    response_stages=[sensor, digitiser])


@pytest.mark.parametrize("rate, amplitude", [(200.0, 1e3), (200.0, 1e5), (100.0, 1e6), (20.0, 7e6)])
def test_smooth_peaks_are_not_clipping(rate, amplitude):
    from cmtflow.data.checks import CheckConfig, clipping

    t = np.arange(0, 300, 1.0 / rate)
    data = np.round(amplitude * np.sin(2 * np.pi * t / 20.0) * np.exp(-((t - 150) / 60) ** 2)).astype(np.int32)
    clipped, why = clipping(obspy.Trace(data, header={"sampling_rate": rate}), None, CheckConfig())
    assert not clipped, why


def test_clipping_from_flat_tops_the_digitiser_and_the_sensor_limit():
    from cmtflow.data.checks import CheckConfig, clipping

    rate = 100.0
    t = np.arange(0, 300, 1.0 / rate)
    wave = np.sin(2 * np.pi * t / 8.0) * np.exp(-((t - 150) / 40) ** 2)
    config = CheckConfig()
    flat = np.round(np.clip(3e5 * wave, -2e5, 2e5)).astype(np.int32)  # saturated below every limit
    clipped, why = clipping(obspy.Trace(flat, header={"sampling_rate": rate}), None, config)
    assert clipped and why.startswith("flat top: ") and why.endswith(" samples at 200000 counts")
    full = np.round(8.3e6 * wave).astype(np.int32)
    assert clipping(obspy.Trace(full, header={"sampling_rate": rate}), None, config)[1].endswith(
        "the digitiser's full scale (2^23)")
    # a 1e5 counts/V digitiser: the sensor's 20 V are 2e6 counts, far below 2^23
    response = _two_stage_response(1e5)
    near = np.round(1.9e6 * wave).astype(np.int32)
    assert clipping(obspy.Trace(near, header={"sampling_rate": rate}), response, config)[1] == \
        "reaches 1900000 counts, 90 % of the sensor's output limit (2000000 counts)"
    assert not clipping(obspy.Trace(near // 2, header={"sampling_rate": rate}), response, config)[0]
