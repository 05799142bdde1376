"""Calibration of the quality grade: hundreds of earthquakes with a known answer and the errors
real ones have, each run through every stage of ``cmt_inversion`` with the default set-up.

A case (:func:`draw_case`, reproducible from its number) is:

* **a real station geometry**: the 26 stations of the Alaska 2009 event (16-500 km) or the 9
  of the Sargans 2013 event (26-44 km, Mw below 5 only) around their real epicentres, thinned
  to 4-40 stations inside an azimuth sector of 100-360 degrees (gaps up to ~300 degrees);
* **records made in one model and inverted in another**: the run chooses its model as it
  would (``auto``: scak in Alaska, ak135 at Sargans, flattened ak135 for bands from 50 s)
  while the records come from socal, gil7, cus, scak, aegean or ak135 with a 30-45 km crust and
  a mantle 3 % slower or faster (15 % of the Alaska cases use scak itself: a region whose
  model is right);
* **a random source**: strike-slip, thrust, normal or oblique, a quarter of them with a
  20-40 % CLVD, Mw 3.5-7.5, depth 3-30 km (8-35 km from Mw 7) off the depth grid, a half
  duration 0.7-1.5 times the GCMT scaling, the catalogue epicentre ~3 km off, its depth
  rounded to 5 km (10 km for a third), its origin time one half duration early (x0.6-1.4),
  its magnitude off by up to 0.5 and of another type (ML, mb, Ms) for 60 %;
* **real noise**: pre-event records of the real Alaska (response removed, 95 s) and
  Sargans (raw counts deconvolved, 330 s) stations (dead channels and segments more than 5
  times the median level left out), chained with crossfades and scaled by
  0.5-10 (log-uniform): the level of a quiet to a noisy site;
* **faults of real networks**: a station wired upside down (25 %), a clipped one (15 %),
  one whose horizontals are turned by 15-60 degrees against its metadata (20 %), a missing
  component (25 %).

The error of a case is the Kagan angle and dMw of the published solution (the last pass)
against the true moment tensor. Results are appended to ``benchmarks/results/
grade_calibration.jsonl`` (one line per case; a rerun goes on where it stopped)::

    python benchmarks/grade_calibration.py run [--cases 320] [--workers 2] [--work DIR]
    python benchmarks/grade_calibration.py fit [--no-docs]

``fit`` fits the grade (:mod:`cmtflow.inversion.grade`) on two thirds of the cases, writes
``src/cmtflow/inversion/grade_model.json`` and the table of the held-back third into
``docs/benchmarks.md`` (section "Quality grade calibration").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import DOCS, replace_section  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "grade_calibration.jsonl"
#: Real epicentres of the two geometries (latitude, longitude).
EPICENTRES = {"alaska": (61.4542, -149.7428), "sargans": (47.057, 9.486)}
#: The models records are made in, per geometry (the run inverts in the region's own).
DATA_MODELS = {"alaska": ["socal", "gil7", "cus", "ak135", "perturbed"],
               "sargans": ["socal", "gil7", "cus", "scak", "aegean", "perturbed"]}
MAGNITUDE_TYPES = (("Mw", 0.4), ("ML", 0.25), ("mb", 0.2), ("Ms", 0.15))
#: A noise segment this many times the median level at 5-50 s is left out of the bank.
NOISE_OUTLIER = 5.0


# ----------------------------------------------------------------------------- cases
def draw_case(number: int) -> dict:
    """The case ``number`` (module docstring), as plain values."""
    rng = np.random.default_rng(20261207 + number)
    geometry = "sargans" if rng.random() < 0.3 else "alaska"
    mw = float(rng.uniform(3.5, 5.0) if geometry == "sargans" else rng.uniform(3.5, 7.5))
    kind = str(rng.choice(["strike-slip", "thrust", "normal", "oblique"]))
    dip, rake = {"strike-slip": (rng.uniform(65, 90), rng.choice([0.0, 180.0]) + rng.uniform(-20, 20)),
                 "thrust": (rng.uniform(20, 50), 90 + rng.uniform(-20, 20)),
                 "normal": (rng.uniform(40, 70), -90 + rng.uniform(-20, 20)),
                 "oblique": (rng.uniform(30, 80), rng.choice([45.0, 135.0, -45.0, -135.0]) + rng.uniform(-15, 15))
                 }[kind]
    clvd = float(rng.uniform(20, 40) * rng.choice([-1, 1])) if rng.random() < 0.25 else 0.0
    depth = float(rng.uniform(8, 35) if mw >= 7 else rng.uniform(3, 30))
    catalogue_depth = 10.0 if rng.random() < 1 / 3 else float(max(5, 5 * round((depth + rng.normal(0, 5)) / 5)))
    mag_type = str(rng.choice([t for t, _ in MAGNITUDE_TYPES], p=[p for _, p in MAGNITUDE_TYPES]))
    models = DATA_MODELS[geometry] + (["scak"] * 1 if geometry == "alaska" else [])
    data_model = "scak" if geometry == "alaska" and rng.random() < 0.15 else str(rng.choice(models))
    if mw >= 6.5:  # periods from 50 s see the mantle: the records come from a global model
        data_model = "perturbed"
    return {
        "number": number, "geometry": geometry, "mw": round(mw, 3), "kind": kind,
        "strike": round(float(rng.uniform(0, 360)), 1), "dip": round(float(dip), 1), "rake": round(float(rake), 1),
        "clvd_pct": round(clvd, 1), "depth_km": round(depth, 2), "catalogue_depth_km": catalogue_depth,
        "magnitude": round(mw + float(rng.uniform(-0.5, 0.5)), 1), "magnitude_type": mag_type,
        "epicentre_error_km": [round(float(v), 2) for v in rng.normal(0, 3, 2)],
        "half_duration_factor": round(float(rng.uniform(0.7, 1.5)), 2),
        "origin_lead_factor": round(float(rng.uniform(0.6, 1.4)), 2),
        "data_model": data_model, "crust_km": round(float(rng.uniform(30, 45)), 1),
        "mantle_factor": round(float(rng.uniform(0.97, 1.03)), 3),
        "stations": int(math.exp(rng.uniform(math.log(4), math.log(40)))),
        "sector_deg": round(float(rng.uniform(100, 360)), 0), "sector_centre_deg": round(float(rng.uniform(0, 360)), 0),
        "noise_level": round(float(math.exp(rng.uniform(math.log(0.5), math.log(10)))), 2),
        "reversed": bool(rng.random() < 0.25), "clipped": bool(rng.random() < 0.15),
        "misoriented_deg": round(float(rng.uniform(15, 60)), 0) if rng.random() < 0.2 else 0.0,
        "missing_component": bool(rng.random() < 0.25), "seed": int(rng.integers(1 << 30)),
    }


def true_moment_tensor(case: dict) -> np.ndarray:
    """The case's moment tensor (N·m): its double couple with the CLVD share added along the
    null axis's orthogonal pair (eigenvalues ``(1 + a, -2a, -1 + a)``, scaled to its Mw)."""
    from cmtflow.source import decomposition, magnitude_to_moment, mt_from_strike_dip_rake, mt_to_matrix, \
        scalar_moment

    dc = mt_from_strike_dip_rake(case["strike"], case["dip"], case["rake"], 1.0)
    values, vectors = np.linalg.eigh(mt_to_matrix(dc))  # ascending: P, null, T

    def tensor(a):
        m = vectors @ np.diag([-1 + a, -2 * a, 1 + a]) @ vectors.T
        return np.array([m[0, 0], m[1, 1], m[2, 2], m[0, 1], m[0, 2], m[1, 2]])

    mt = dc
    if case["clvd_pct"]:
        grid = np.linspace(-0.5, 0.5, 2001)
        shares = np.array([decomposition(tensor(a))["clvd_pct"] for a in grid])
        mt = tensor(grid[int(np.argmin(np.abs(shares - case["clvd_pct"])))])
    return mt * magnitude_to_moment(case["mw"]) / scalar_moment(mt)


def geometry_stations(name: str):
    """The real stations of a geometry as StationPoints."""
    from obspy import read

    from cmtflow.data.stations import StationPoint

    if name == "alaska":
        seen = {}
        for path in sorted((SHARED / "alaska-2009-04-07").glob("*.z")):
            h = read(str(path), headonly=True)[0].stats
            seen[(h.network, h.station)] = StationPoint(h.network, h.station, "", float(h.sac.stla),
                                                        float(h.sac.stlo), 0.0)
        return list(seen.values())
    out = []
    for line in (SHARED / "sargans-2013-12-12" / "network.stn").read_text().split("\n"):
        if line.strip():
            code, lat, lon = line.split()
            net, sta = code.split(":")[:2]
            out.append(StationPoint(net, sta, "", float(lat), float(lon), 0.0))
    return out


def noise_bank() -> list[np.ndarray]:
    """Pre-event ground velocity (m/s) of the real records, one array per channel, at 10 Hz."""
    from obspy import read

    from cmtflow.data.metadata import read_metadata
    from cmtflow.processing import Band, bandpass

    out = []
    for path in sorted((SHARED / "alaska-2009-04-07").glob("*.[rtz]")):
        tr = read(str(path))[0]  # from 100 s before the origin: the first 95 s are noise
        tr.trim(tr.stats.starttime, tr.stats.starttime + 95.0)
        tr.data = tr.data.astype(float) * 0.01  # cm/s -> m/s
        out.append(tr)
    sargans = SHARED / "sargans-2013-12-12"
    inventory = read_metadata([sargans / "pzfiles", sargans / "network.stn"]).inventory
    for path in sorted((sargans / "sac").glob("*.sac")):
        tr = read(str(path))[0]
        tr.trim(tr.stats.starttime, tr.stats.starttime + 330.0)
        tr.detrend("demean")
        tr.remove_response(inventory=inventory, output="VEL", pre_filt=(0.002, 0.004, 8.0, 16.0))
        out.append(tr)
    bank = []
    for tr in out:
        tr.detrend("demean")
        tr.taper(0.05)
        tr.filter("lowpass", freq=4.0, zerophase=True)
        tr.interpolate(10.0, method="lanczos", a=8)
        bank.append(np.asarray(tr.data, float))
    # dead channels (all zeros) and segments far above the others (a glitch, an earlier
    # event's coda: up to 100 times the median at 5-50 s) are not a site's ambient noise
    level = np.array([np.std(bandpass(x, 0.1, Band(5.0, 50.0))[100:-100]) for x in bank])
    typical = np.median(level[level > 0])
    return [x for x, rms in zip(bank, level) if 0 < rms <= NOISE_OUTLIER * typical]


def chained_noise(bank: list[np.ndarray], n: int, rate: float, rng) -> np.ndarray:
    """``n`` samples at ``rate`` (Hz) of real noise: segments of one channel group chained with
    10 s cosine crossfades (periods longer than a segment are not represented)."""
    fade = int(10 * 10.0)
    need = int(n * 10.0 / rate) + 2 * fade
    out = np.zeros(0)
    while len(out) < need:
        seg = bank[rng.integers(len(bank))]
        seg = seg - seg.mean()
        if not len(out):
            out = seg.copy()
            continue
        w = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
        out = np.concatenate([out[:-fade], out[-fade:] * (1 - w) + seg[:fade] * w, seg[fade:]])
    x = out[:need]
    t10 = np.arange(need) / 10.0
    return np.interp(np.arange(n) / rate, t10, x)


def _regime(mw: float):
    from cmtflow.inversion.setup import REGIMES

    return next(r for r in reversed(REGIMES) if mw >= r.min_magnitude)


def write_case(case: dict, folder: Path, bank: list[np.ndarray]):
    """The records (SDS, counts), StationXML and QuakeML of ``case`` in ``folder``; returns
    the run conf and the true source."""
    from obspy import Inventory, Stream, Trace, UTCDateTime
    from obspy.core.event import Catalog, Event, Magnitude, Origin, ResourceIdentifier
    from obspy.core.inventory import Channel, Network, Station
    from obspy.geodetics import gps2dist_azimuth, kilometers2degrees

    from cmtflow import demo
    from cmtflow.data.events import half_duration_s
    from cmtflow.models import load_model
    from cmtflow.source import Source, magnitude_to_moment

    rng = np.random.default_rng(case["seed"])
    lat0, lon0 = EPICENTRES[case["geometry"]]
    points = geometry_stations(case["geometry"])
    centre, width = case["sector_centre_deg"], case["sector_deg"]
    inside = [p for p in points
              if abs((gps2dist_azimuth(lat0, lon0, p.latitude, p.longitude)[1] - centre + 180) % 360 - 180) <= width / 2]
    if len(inside) < 3:
        inside = points
    chosen = [inside[k] for k in sorted(rng.choice(len(inside), min(case["stations"], len(inside)), replace=False))]
    hd = case["half_duration_factor"] * half_duration_s(magnitude_to_moment(case["mw"]))
    origin = UTCDateTime("2024-03-01T12:00:00") + 3600 * case["number"]
    centroid = origin + case["origin_lead_factor"] * hd
    true = Source(time=centroid, latitude=lat0, longitude=lon0, depth_km=case["depth_km"],
                  mt=true_moment_tensor(case), half_duration=round(hd, 2), event_id=f"cal{case['number']:04d}")
    if case["data_model"] == "perturbed":
        model = demo.perturbed_ak135(case["crust_km"], case["mantle_factor"])
        if case["mw"] >= 6.5:
            model = model.flattened()
    else:
        model = load_model(case["data_model"])
    low, high = _regime(case["mw"] - 0.6), _regime(case["mw"] + 0.6)
    rate = 1.0 if low.tmin >= 10 else 10.0
    dmax = max(gps2dist_azimuth(lat0, lon0, p.latitude, p.longitude)[0] for p in chosen) / 1000.0
    before, after = -(2.5 * high.tmax + 120.0), dmax / 2.0 + 2.5 * high.tmax + 250.0
    recording = demo.Recording(tuple(chosen), model, "LH" if rate == 1.0 else "BH", rate, (before, after),
                               fmax_hz=2.5 / low.tmin)
    velocity = demo._event_velocity(true, recording)
    response = demo.seismometer_response()
    start = true.time + before
    n = int((after - before) * rate)
    nearest = min(chosen, key=lambda p: gps2dist_azimuth(lat0, lon0, p.latitude, p.longitude)[0]).code
    reversed_ = chosen[rng.integers(len(chosen))].code if case["reversed"] else None
    turned = chosen[rng.integers(len(chosen))].code if case["misoriented_deg"] else None
    missing = (chosen[rng.integers(len(chosen))].code, "ZNE"[rng.integers(3)]) if case["missing_component"] else None
    stream, networks = Stream(), {}
    for p in chosen:
        ground = {c: velocity[(p.code, c)][1] + case["noise_level"] * chained_noise(bank, n, rate, rng) for c in "ZNE"}
        if p.code == turned:  # the sensor turned by theta clockwise: it records rotated horizontals
            th = np.radians(case["misoriented_deg"])
            ground["N"], ground["E"] = (ground["N"] * np.cos(th) + ground["E"] * np.sin(th),
                                        -ground["N"] * np.sin(th) + ground["E"] * np.cos(th))
        sign = -1.0 if p.code == reversed_ else 1.0
        counts = {c: demo._counts(sign * ground[c], 1.0 / rate, response) for c in "ZNE"}
        full = demo.DIGITISER_FULL_SCALE
        if case["clipped"] and p.code == nearest:  # a digitiser set to clip at 30 % of this record's peak
            full = min(full, 0.3 * max(np.abs(x).max() for x in counts.values()))
        chans = []
        for c in "ZNE":
            channel = f"{recording.band_code}{c}"
            if missing != (p.code, c):
                data = np.clip(np.round(counts[c]), -full, full - 1).astype(np.int32)
                stream.append(Trace(data, header={"network": p.network, "station": p.station, "location": "",
                                                  "channel": channel, "sampling_rate": rate, "starttime": start}))
            chans.append(Channel(code=channel, location_code="", latitude=p.latitude, longitude=p.longitude,
                                 elevation=0.0, depth=0.0, azimuth={"Z": 0.0, "N": 0.0, "E": 90.0}[c],
                                 dip=-90.0 if c == "Z" else 0.0, sample_rate=rate,
                                 start_date=origin - 86400 * 365, response=response))
        networks.setdefault(p.network, Network(code=p.network)).stations.append(
            Station(code=p.station, latitude=p.latitude, longitude=p.longitude, elevation=0.0, channels=chans,
                    start_date=origin - 86400 * 365))
    if folder.exists():
        shutil.rmtree(folder)
    for tr in stream:
        demo._write_sds(tr, folder / "sds")
    Inventory(networks=list(networks.values()), source="grade calibration").write(
        str(folder / "stations.xml"), format="STATIONXML")
    north, east = case["epicentre_error_km"]
    event = Event(resource_id=ResourceIdentifier(f"smi:cmtflow/calibration/cal{case['number']:04d}"))
    event.origins.append(Origin(time=origin, latitude=lat0 + kilometers2degrees(north),
                                longitude=lon0 + kilometers2degrees(east) / math.cos(math.radians(lat0)),
                                depth=1000.0 * case["catalogue_depth_km"]))
    event.magnitudes.append(Magnitude(mag=case["magnitude"], magnitude_type=case["magnitude_type"],
                                      origin_id=event.origins[0].resource_id))
    event.preferred_origin_id, event.preferred_magnitude_id = event.origins[0].resource_id, \
        event.magnitudes[0].resource_id
    Catalog([event]).write(str(folder / "event.xml"), format="QUAKEML")
    return {"quakeml": str(folder / "event.xml"), "data_source": "sds", "sds_path": str(folder / "sds"),
            "inventory": str(folder / "stations.xml")}, true


# ----------------------------------------------------------------------------- running
_BANK: list | None = None


def _init_worker(work: str) -> None:
    import logging

    global _BANK
    os.environ["CMTFLOW_HOME"] = str(Path(work) / "root")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("cmtflow").setLevel(logging.WARNING)
    _BANK = noise_bank()


def run_case(number: int, work: str) -> dict:
    """Run case ``number`` through every stage; its record (module docstring)."""
    from cmtflow import pipeline, stages
    from cmtflow.source import kagan_angle

    case = draw_case(number)
    t = time.perf_counter()
    folder = Path(work) / "root" / "inputs" / f"cal{number:04d}"  # inside the data root: an input root
    root = Path(work) / "root"
    out = {"case": number, "spec": case}
    try:
        conf, true = write_case(case, folder, _BANK)
        out["data_seconds"] = round(time.perf_counter() - t, 1)
        record = pipeline.run_all(conf, f"cal{number:04d}", root)
        if record.get("state") == stages.NO_SOLUTION:
            out.update(outcome="no solution", reason=record.get("reason"))
        else:
            sol = json.loads((Path(record["solution"]) / "solution.json").read_text())
            mt = np.array([sol["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")])
            q = sol["quality"]
            out.update(outcome="solution", kagan_deg=round(kagan_angle(mt, true.mt), 2),
                       dmw=round(sol["mw"] - true.mw, 3),
                       ddepth_km=round(sol["centroid"]["depth_km"] - true.depth_km, 2),
                       predictors=q.get("predictors", {}), grade=q["grade"],
                       # all of the bootstrap, for predictors a later fit may try (depth spread...)
                       uncertainties=sol.get("uncertainties", {}),
                       magnitude_flagged=bool(sol.get("magnitude_check", {}).get("flagged")),
                       band=[sol["run_conf"]["tmin"], sol["run_conf"]["tmax"]], model=sol["run_conf"]["model"],
                       passes=len(record.get("passes", [])) or 1, stations_used=len(sol["stations_used"]),
                       stations_dropped=sol.get("stations_dropped", {}))
    except Exception as exc:  # noqa: BLE001 - a case that fails is a result too (counted, shown)
        out.update(outcome="error", reason=f"{type(exc).__name__}: {exc}",
                   trace=traceback.format_exc(limit=3)[-800:])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(root / "events" / f"cal{number:04d}", ignore_errors=True)
    out["seconds"] = round(time.perf_counter() - t, 1)
    return out


def done_cases(path: Path = RESULTS) -> dict[int, dict]:
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().split("\n") if line.strip()]
    return {r["case"]: r for r in rows}


def run(cases: int, workers: int, work: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    pending = [k for k in range(cases) if k not in done_cases()]
    print(f"{len(pending)} of {cases} cases to run ({workers} workers, work folder {work})", flush=True)
    t = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(str(work),)) as pool:
        futures = {pool.submit(run_case, k, str(work)): k for k in pending}
        for k, future in enumerate(as_completed(futures), 1):
            row = future.result()
            with open(RESULTS, "a") as out:  # one writer: whole lines
                out.write(json.dumps(row, default=float) + "\n")
            print(f"[{k}/{len(pending)} {time.perf_counter() - t:.0f} s] case {row['case']}: {row['outcome']} "
                  f"{row.get('kagan_deg', row.get('reason', ''))} ({row['seconds']} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the cases not yet in the results file")
    r.add_argument("--cases", type=int, default=320)
    r.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    r.add_argument("--work", default="/tmp/cmtflow-grade-calibration", help="data root and inputs (kept: the "
                                                                             "Green's functions are reused)")
    f = sub.add_parser("fit", help="fit the grade and write the docs table")
    f.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    if args.command == "run":
        run(args.cases, args.workers, Path(args.work))
    else:
        fit_and_write(no_docs=args.no_docs)


#: Every third case (by number) is held back: never used to fit the grade, only to say what
#: each letter means.
HELD_BACK = 3


def split(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """The solved cases, as (fitted, held back)."""
    solved = [r for r in rows if r["outcome"] == "solution" and r.get("predictors", {}).get("fit_all_windows")
              is not None]
    return ([r for r in solved if r["case"] % HELD_BACK != HELD_BACK - 1],
            [r for r in solved if r["case"] % HELD_BACK == HELD_BACK - 1])


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def grade_table(table: dict) -> str:
    lines = ["| grade | cases | within 15° and 0.1 Mw | within 25° and 0.2 Mw | within 15° | within 25° | "
             "within 0.1 Mw | within 0.2 Mw | median Kagan (°) |", "|---|---|---|---|---|---|---|---|---|"]
    for letter, row in table.items():
        lines.append(f"| {letter} | {row['cases']} | {_pct(row['within_15deg_0.1mw'])} | "
                     f"{_pct(row['within_25deg_0.2mw'])} | {_pct(row['within_15deg'])} | {_pct(row['within_25deg'])} | "
                     f"{_pct(row['within_0.1mw'])} | {_pct(row['within_0.2mw'])} | "
                     f"{'-' if row['median_kagan_deg'] is None else row['median_kagan_deg']} |")
    return "\n".join(lines)


def fit_and_write(no_docs: bool = False) -> None:
    """Fit the grade on the fitted part, measure it on the held-back part, write the model
    and the docs section."""
    import platform
    import subprocess

    from cmtflow.inversion import grade as grading

    rows = list(done_cases().values())
    train, held = split(rows)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    source = {"benchmark": "benchmarks/grade_calibration.py", "cases": len(rows), "fitted": len(train),
              "held_back": len(held), "date": time.strftime("%Y-%m-%d"), "commit": commit}
    model = grading.fit(train, held, source)
    grading.MODEL_FILE.write_text(json.dumps(model.as_dict(), indent=1) + "\n")
    grading.load_model.cache_clear()
    fitted_table = grading.calibration_table(train, [grading.grade(c["predictors"], c.get("magnitude_flagged", False),
                                                                   model)["grade"] for c in train])
    outcomes = {k: sum(r["outcome"] == k for r in rows) for k in ("solution", "no solution", "error")}
    c = model.coefficients["p15"]
    weights = ", ".join(f"{name} {c[name]:+.2f}" for name in sorted(model.features, key=lambda f: -abs(c[f])))
    thresholds = ", ".join(f"{letter}: {target} >= {t:.2f}" for letter, (target, t) in model.thresholds.items())
    seconds = [r["seconds"] for r in rows]
    print(grade_table(model.calibration))
    heading = "## Quality grade calibration"
    section = (
        f"{heading}\n\nWritten by `benchmarks/grade_calibration.py fit` on {time.strftime('%Y-%m-%d')} "
        f"({platform.node()}, {os.cpu_count()} CPUs, fitted at commit {commit}) from the {len(rows)} cases of "
        f"the results file ({outcomes['solution']} solved, {outcomes['no solution']} with no solution: too few "
        f"stations or windows, {outcomes['error']} failed runs; median {np.median(seconds):.0f} s a case, "
        f"{sum(seconds) / 3600:.1f} CPU hours). Every case goes through every stage with the default set-up; its "
        "error is the Kagan angle and dMw of the published solution against the truth (the benchmark's docstring "
        "lists the cases). The grade is fitted on "
        f"{len(train)} solved cases and measured on the {len(held)} held back (every third case):\n\n"
        "**Held-back cases, by grade** (what each letter means):\n\n" + grade_table(model.calibration) +
        "\n\nThe fitted cases, by grade (for comparison):\n\n" + grade_table(fitted_table) +
        f"\n\nThresholds: {thresholds}. Standardised weights of the p15 model (log-odds per standard deviation, "
        f"largest first): {weights}.\n")
    if not no_docs:
        replace_section(heading, section, DOCS)
        print(f"-> {DOCS}")
    print(f"-> {grading.MODEL_FILE}")


if __name__ == "__main__":
    main()
