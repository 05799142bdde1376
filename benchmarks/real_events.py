"""Validation: real and synthetic earthquakes through the whole method, one table.

Every event runs through all the stages of ``cmt_inversion`` (``cmtflow.stages.run_all``: the
DAG's stages in order, the container steps as local processes) with the default set-up (by
magnitude and region), as a user would run it:

* ``alaska-2009-04-07`` (``../shared/data``): the 26 processed SAC files (velocity in cm/s, the
  conf says so), the README origin and Mw 4.5; references: CAP (206/52/-90, Mw 4.50, 39 km) and
  MTUQ (Mw 4.5 at 33.03 km).
* ``sargans-2013-12-12``: raw counts, ISOLA pole-zero files, station list, ``event.isl`` (ML 4.2, which
  the file does not say: ``magnitude_type: ML``);
  reference: SLU Mw 3.64, 180/85/25.
* Synthetic normal-faulting Mw 5.5, 6.5 and 7.3 (:func:`cmtflow.demo.generate_large_event`):
  records made in a perturbed ak135 (40 km crust, upper mantle 3 % slower) while the run
  inverts in the model ``auto`` chooses (ak135), a moment-rate function 1.3 times the GCMT half
  duration with the centroid that late, the catalogue magnitude 0.1 high and its depth 5 km
  shallow, noise, 24 LH stations at 50-800 km, one wired upside down, the nearest clipped where
  the ground moves enough.

    python benchmarks/real_events.py [--only NAME ...] [--keep FOLDER]

Prints: event, reference, Kagan angle (degrees), dMw, depth error (km), centroid-time and
half-duration errors (s, synthetic events), grade, stations used/dropped, wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MT_KEYS = ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")


def _mt(solution: dict) -> np.ndarray:
    return np.array([solution["moment_tensor_nm"][k] for k in MT_KEYS])


def _references():
    from cmtflow.source import magnitude_to_moment, mt_from_strike_dip_rake

    mtuq = np.array([-6.731618e15, 8.398708e14, 5.891747e15, -1.318056e15, 7.911756e14, 2.718294e15])
    return {
        "alaska-2009-04-07": [("CAP 206/52/-90", mt_from_strike_dip_rake(206, 52, -90, magnitude_to_moment(4.50)),
                               39.0), ("MTUQ", mtuq, 33.03)],
        "sargans-2013-12-12": [("SLU 180/85/25", mt_from_strike_dip_rake(180, 85, 25, magnitude_to_moment(3.64)),
                                10.0)],
    }


def _confs(root: Path) -> dict:
    """The run conf of each event (inputs copied under the data root, the input root)."""
    from cmtflow import demo

    confs = {}
    alaska = root / "inputs" / "alaska"
    shutil.copytree(SHARED / "alaska-2009-04-07", alaska, dirs_exist_ok=True)
    confs["alaska-2009-04-07"] = ({
        "origin_time": "2009-04-07T20:12:55.351", "latitude": 61.4542, "longitude": -149.7428, "depth_km": 33.03,
        "magnitude": 4.5, "data_source": "files", "waveforms": str(alaska), "data_quantity": "velocity",
        "data_scale": 0.01}, None)
    sargans = root / "inputs" / "sargans"
    shutil.copytree(SHARED / "sargans-2013-12-12", sargans, dirs_exist_ok=True)
    confs["sargans-2013-12-12"] = ({"quakeml": str(sargans / "event.isl"), "data_source": "files",
                                    "waveforms": str(sargans / "sac"), "inventory": str(sargans),
                                    "magnitude_type": "ML"}, None)  # event.isl states no type; SED's is ML
    for mw in (5.5, 6.5, 7.3):
        sc = demo.generate_large_event(root / "inputs" / f"large{mw}", mw)
        confs[f"synthetic Mw {mw}"] = ({"quakeml": str(sc.quakeml), "data_source": "sds", "sds_path": str(sc.sds),
                                        "inventory": str(sc.inventory)}, sc.truth)
    return confs


def run_event(name: str, conf: dict, truth: Path | None, root: Path) -> dict:
    from obspy import UTCDateTime

    from cmtflow import stages
    from cmtflow.source import kagan_angle, read_cmtsolution

    t = time.perf_counter()
    run_id = f"{name.replace(' ', '_').replace('.', '_')}_{time.strftime('%Y%m%dT%H%M%S')}"
    record = stages.run_all({**conf, "bootstrap": 50}, run_id, root)
    seconds = time.perf_counter() - t
    solution = json.loads((Path(record["solution"]) / "solution.json").read_text())
    mt, depth = _mt(solution), solution["centroid"]["depth_km"]
    rows = []
    if truth is not None:
        true = read_cmtsolution(truth)
        rows.append({"reference": "truth", "kagan": kagan_angle(mt, true.mt), "dmw": solution["mw"] - true.mw,
                     "ddepth": depth - true.depth_km,
                     "dtime": float(UTCDateTime(solution["centroid"]["time"]) - true.time),
                     "dhd": solution["centroid"]["half_duration_s"] - true.half_duration})
    for label, ref_mt, ref_depth in _references().get(name, []):
        from cmtflow.source import moment_magnitude, scalar_moment

        rows.append({"reference": label, "kagan": kagan_angle(mt, ref_mt),
                     "dmw": solution["mw"] - moment_magnitude(scalar_moment(ref_mt)),
                     "ddepth": None if ref_depth is None else depth - ref_depth})
    return {"event": name, "rows": rows, "grade": solution["quality"]["grade"], "seconds": seconds,
            "used": len(solution["stations_used"]), "dropped": solution.get("stations_dropped", {}),
            "band": [solution["run_conf"]["tmin"], solution["run_conf"]["tmax"]],
            "model": solution["run_conf"]["model"], "depth_km": depth}


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="event names (substrings) to run")
    parser.add_argument("--keep", help="data root to keep (default: a temporary folder, removed)")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-events-"))
    os.environ["CMTFLOW_HOME"] = str(root)
    try:
        results = []
        for name, (conf, truth) in _confs(root).items():
            if args.only and not any(o in name for o in args.only):
                continue
            results.append(run_event(name, conf, truth, root))
        print(f"{'event':22s} {'reference':15s} {'Kagan':>6s} {'dMw':>6s} {'ddepth':>7s} {'dt0':>6s} {'dhd':>6s} "
              f"grade  band      model  used  time")
        for r in results:
            for k, row in enumerate(r["rows"]):
                head = (f"{r['event']:22s}" if k == 0 else " " * 22)
                tail = (f"{r['grade']:5s}  {r['band'][0]:g}-{r['band'][1]:g} s  {Path(r['model']).name:6s} "
                        f"{r['used']:4d}  {r['seconds']:4.0f} s" if k == 0 else "")
                print(f"{head} {row['reference']:15s} {row['kagan']:6.1f} {row['dmw']:+6.2f} "
                      f"{_fmt(row.get('ddepth'), '+7.1f')} {_fmt(row.get('dtime'), '+6.1f')} "
                      f"{_fmt(row.get('dhd'), '+6.1f')} {tail}")
            for code, why in r["dropped"].items():
                print(f"{'':22s}   dropped {code}: {why}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
