"""Validation: real and synthetic earthquakes through the whole method, one table.

Every event runs through all the stages of ``cmt_inversion`` (``cmtflow.pipeline.run_all``: the
DAG's stages in order, the container steps as local processes, a second pass where the
inverted Mw corrects the set-up) with the default set-up (by magnitude and region), as a user
would run it:

* ``alaska-2009-04-07`` (``../shared/data``): the 26 processed SAC files (velocity in cm/s, the
  conf says so), the README origin and Mw 4.5; references: CAP (206/52/-90, Mw 4.50, 39 km) and
  MTUQ (Mw 4.5 at 33.03 km). Then the same real records as a user receives them elsewhere:
  cut as CAP cuts its event folders (-12..+101 s after the origin), as an event archive of
  counts ending 140 s after the origin (SDS + StationXML, an STS-2-like response), and with
  the origin's magnitude given as an ML 3.0 (the set-up corrected by a second pass).
* ``sargans-2013-12-12``: raw counts, ISOLA pole-zero files, station list, ``event.isl`` (ML 4.2, which
  the file does not say: ``magnitude_type: ML``);
  reference: SLU Mw 3.64, 180/85/25, 10 km.
* Synthetic normal-faulting Mw 5.5, 6.5 and 7.3 (:func:`cmtflow.demo.generate_large_event`):
  records made in a perturbed ak135 (40 km crust, upper mantle 3 % slower) while the run
  inverts in the model ``auto`` chooses (ak135), a moment-rate function 1.3 times the GCMT half
  duration with the centroid that late, the catalogue magnitude 0.1 high and its depth 5 km
  shallow, noise, 24 LH stations at 50-800 km, one wired upside down, the nearest clipped where
  the ground moves enough.

    python benchmarks/real_events.py [--only NAME ...] [--keep FOLDER] [--no-docs]

Prints, and writes into ``docs/benchmarks.md`` (section "Real and synthetic events", the
previous measurements beside): event, reference, Kagan angle (degrees), dMw, depth and its
error (km), centroid-time and half-duration errors (s, synthetic events), grade, band, model,
stations used of those fetched, passes, wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import DOCS, replace_section  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MT_KEYS = ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")
#: The same table measured with cmtflow at commit 0d77787 (before records were used as far as
#: they reach, the second pass, the regional models and the depth refinement): Kagan angle
#: (degrees) and depth error (km) against the first reference, stations used; "refused" where
#: the run found no usable record.
BEFORE = {
    "alaska-2009-04-07": "10.8 deg, +6.0 km, 23 stations",
    "alaska, CAP cut -12..+101 s": "refused: every record 'incomplete'",
    "alaska, archive of counts to +140 s": "refused: every record 'incomplete' beyond ~40 km",
    "alaska, magnitude given as ML 3.0": "one pass, set up as Mw 2.8 (10-50 s, 10-300 km)",
    "sargans-2013-12-12": "23.8 deg, -6.4 km, 9 stations",
}


def _mt(solution: dict) -> np.ndarray:
    return np.array([solution["moment_tensor_nm"][k] for k in MT_KEYS])


def _references():
    from cmtflow.source import magnitude_to_moment, mt_from_strike_dip_rake

    mtuq = np.array([-6.731618e15, 8.398708e14, 5.891747e15, -1.318056e15, 7.911756e14, 2.718294e15])
    alaska = [("CAP 206/52/-90", mt_from_strike_dip_rake(206, 52, -90, magnitude_to_moment(4.50)), 39.0),
              ("MTUQ", mtuq, 33.03)]
    return {"alaska": alaska,
            "sargans": [("SLU 180/85/25", mt_from_strike_dip_rake(180, 85, 25, magnitude_to_moment(3.64)), 10.0)]}


def _confs(root: Path) -> dict:
    """The run conf of each event (inputs copied under the data root, the input root)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from realworld import alaska_conf, cap_cut_folder, event_archive_from_real_records

    from cmtflow import demo

    confs = {}
    alaska = root / "inputs" / "alaska"
    shutil.copytree(SHARED / "alaska-2009-04-07", alaska, dirs_exist_ok=True)
    velocity = {"data_source": "files", "data_quantity": "velocity", "data_scale": 0.01}
    confs["alaska-2009-04-07"] = (alaska_conf(waveforms=str(alaska), **velocity), None)
    cut = cap_cut_folder(SHARED, root / "inputs" / "alaska-cap-cut", -12.0, 101.0)
    confs["alaska, CAP cut -12..+101 s"] = (alaska_conf(waveforms=str(cut), **velocity), None)
    sds, inventory = event_archive_from_real_records(SHARED, root / "inputs" / "alaska-archive", -10.0, 140.0)
    confs["alaska, archive of counts to +140 s"] = (alaska_conf(data_source="sds", sds_path=str(sds),
                                                                inventory=str(inventory)), None)
    confs["alaska, magnitude given as ML 3.0"] = (alaska_conf(waveforms=str(alaska), magnitude=3.0,
                                                              magnitude_type="ML", **velocity), None)
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

    from cmtflow import pipeline
    from cmtflow.source import kagan_angle, moment_magnitude, read_cmtsolution, scalar_moment

    t = time.perf_counter()
    run_id = f"{name.split(',')[0].replace(' ', '_').replace('.', '_')}_{time.strftime('%Y%m%dT%H%M%S')}"
    record = pipeline.run_all(conf, run_id, root)
    seconds = time.perf_counter() - t
    solution = json.loads((Path(record["solution"]) / "solution.json").read_text())
    stations = json.loads((Path(record["run_dir"]) / "stations.json").read_text())
    mt, depth = _mt(solution), solution["centroid"]["depth_km"]
    rows = []
    if truth is not None:
        true = read_cmtsolution(truth)
        rows.append({"reference": "truth", "kagan": kagan_angle(mt, true.mt), "dmw": solution["mw"] - true.mw,
                     "ddepth": depth - true.depth_km,
                     "dtime": float(UTCDateTime(solution["centroid"]["time"]) - true.time),
                     "dhd": solution["centroid"]["half_duration_s"] - true.half_duration})
    for label, ref_mt, ref_depth in _references().get(name.split("-")[0].split(",")[0], []):
        rows.append({"reference": label, "kagan": kagan_angle(mt, ref_mt),
                     "dmw": solution["mw"] - moment_magnitude(scalar_moment(ref_mt)),
                     "ddepth": None if ref_depth is None else depth - ref_depth})
    spread = (solution.get("uncertainties") or {}).get("kagan_deg") or {}
    return {"event": name, "rows": rows, "grade": solution["quality"]["grade"], "seconds": seconds,
            "p15": solution["quality"].get("p15"), "kagan_p68": spread.get("p68"),
            "used": len(solution["stations_used"]), "fetched": len(stations["used"]),
            "dropped": {**{d["station"]: d["reason"] for d in stations["dropped"]},
                        **solution.get("stations_dropped", {})},
            "band": [solution["run_conf"]["tmin"], solution["run_conf"]["tmax"]],
            "model": solution["run_conf"]["model"], "depth_km": depth,
            "sigma_km": solution.get("uncertainties", {}).get("depth_km"), "passes": len(record["passes"])}


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table(results: list[dict]) -> str:
    """The results as a Markdown table (one row per event and reference)."""
    lines = ["| event | reference | Kagan (deg) | dMw | depth (km) | depth error (km) | dt0 (s) | dhd (s) | grade "
             "(p15) | bootstrap Kagan 68 % (deg) | band (s) | model | stations used / fetched | passes | time (s) | "
             "before |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for k, row in enumerate(r["rows"]):
            first = k == 0
            depth = f"{r['depth_km']:.1f}" + (f" ± {r['sigma_km']:.1f}" if r.get("sigma_km") else "")
            lines.append(
                f"| {r['event'] if first else ''} | {row['reference']} | {row['kagan']:.1f} | {row['dmw']:+.2f} | "
                f"{depth if first else ''} | {_fmt(row.get('ddepth'), '+.1f')} | {_fmt(row.get('dtime'), '+.1f')} | "
                f"{_fmt(row.get('dhd'), '+.1f')} | " + (
                    f"{r['grade']} ({_fmt(r.get('p15'), '.2f')}) | {_fmt(r.get('kagan_p68'), '.0f')} | "
                    f"{r['band'][0]:g}-{r['band'][1]:g} | {r['model']} | {r['used']} / {r['fetched']} | "
                    f"{r['passes']} | {r['seconds']:.0f} | {BEFORE.get(r['event'], '-')} |" if first else
                    "| | | | | | | |"))
    return "\n".join(lines)


def write_docs(results: list[dict], path: Path = DOCS) -> None:
    """Replace the section "Real and synthetic events" of ``docs/benchmarks.md`` (the other
    sections, written by the other benchmarks, stay)."""
    import platform

    heading = "## Real and synthetic events"
    dropped = "\n".join(f"- {r['event']}: {code}: {why}" for r in results for code, why in r["dropped"].items())
    section = (f"{heading}\n\nWritten by `benchmarks/real_events.py` on {time.strftime('%Y-%m-%d')} "
               f"({platform.node()}, {os.cpu_count()} CPUs): every event through all the stages with the default "
               "set-up (20 bootstrap re-inversions). Depth error and Kagan angle against each reference; grade: the "
               "calibrated grade (docs/quality.md) with p15, the probability it gives of being within 15 degrees and "
               "0.1 Mw; *before*: the same event with cmtflow at commit 0d77787.\n\n" + table(results)
               + f"\n\nStations left out, with the reason:\n\n{dropped or '- none'}\n")
    replace_section(heading, section, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="event names (substrings) to run")
    parser.add_argument("--keep", help="data root to keep (default: a temporary folder, removed)")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-events-"))
    os.environ["CMTFLOW_HOME"] = str(root)
    try:
        results = []
        for name, (conf, truth) in _confs(root).items():
            if args.only and not any(o in name for o in args.only):
                continue
            results.append(run_event(name, conf, truth, root))
            print(f"{name}: done in {results[-1]['seconds']:.0f} s", flush=True)
        print(table(results))
        if not args.no_docs and not args.only:
            write_docs(results)
            print(f"-> {DOCS}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
