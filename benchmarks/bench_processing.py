"""Benchmark: the preprocessing graph on 100 stations x 3 components.

Raw data: 100 broadband stations (20 Hz, 15 minutes, counts through an STS-2-like
response, StationXML with full responses), as a run workspace. Timed: the dispel4py graph
with the simple mapping, with the multi mapping (N processes), and the same chain as a
plain Python loop over stations (no dispel4py) - the overhead of dispel4py and the speed-up
of multi. Prints traces per second, and writes the section "Preprocessing" of
``docs/benchmarks.md`` (not with ``--no-docs``).

    python benchmarks/bench_processing.py [--processes N] [--stations 100] [--no-docs]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import obspy
from obspy import Inventory, Trace, UTCDateTime
from obspy.core.inventory import Channel, Network, Station

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fdsn_fixtures import RESPONSE, velocity_to_counts  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import replace_section  # noqa: E402

from cmtflow.processing.graphs import run_preprocess  # noqa: E402
from cmtflow.processing.preprocess import PreprocessConfig, preprocess_station  # noqa: E402

ORIGIN = UTCDateTime("2024-03-10T12:00:00")


def make_tasks(folder: Path, n_stations: int, config: PreprocessConfig) -> list[dict]:
    rng = np.random.default_rng(0)
    dt = 0.05
    t = np.arange(int(900 / dt)) * dt
    stations = []
    tasks = []
    inv_file = folder / "stations.xml"
    for k in range(n_stations):
        code = f"S{k:03d}"
        chans = [Channel(code=f"BH{c}", location_code="", latitude=0, longitude=0, elevation=0, depth=0,
                         azimuth={"Z": 0, "N": 0, "E": 90}[c], dip=-90 if c == "Z" else 0, sample_rate=20,
                         response=RESPONSE) for c in "ZNE"]
        stations.append(Station(code, 0, 0, 0, channels=chans))
        st = obspy.Stream()
        for c in "ZNE":
            v = 1e-6 * np.sin(2 * np.pi * t / rng.uniform(15, 40)) + 1e-8 * rng.standard_normal(len(t))
            tr = Trace(np.round(velocity_to_counts(v, dt)).astype(np.int32))
            tr.stats.update(dict(network="XB", station=code, channel=f"BH{c}", sampling_rate=20,
                                 starttime=ORIGIN - 120))
            st += tr
        path = folder / f"XB.{code}..mseed"
        st.write(str(path), format="MSEED")
        start, end = config.window(ORIGIN, 500.0)
        tasks.append({"station": f"XB.{code}", "location": "", "files": [str(path)], "inventory": str(inv_file),
                      "start": str(start), "end": str(end), "back_azimuth": float(rng.uniform(0, 360))})
    Inventory(networks=[Network("XB", stations=stations)], source="bench").write(str(inv_file), "STATIONXML")
    return tasks


def plain_loop(tasks, config, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    inv = obspy.read_inventory(tasks[0]["inventory"])
    for task in tasks:
        st = obspy.read(task["files"][0])
        res = preprocess_station(st, config, UTCDateTime(task["start"]), UTCDateTime(task["end"]),
                                 task["back_azimuth"], inv)
        res.write(str(out / f"{task['station']}.mseed"), format="MSEED", encoding="FLOAT64")


def run(n_stations: int = 100, processes: int | None = None) -> dict:
    processes = processes or (os.cpu_count() or 1) + 2  # a source, a writer, a worker per core
    config = PreprocessConfig(15.0, 50.0, 0.5)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "raw").mkdir()
        tasks = make_tasks(tmp / "raw", n_stations, config)
        traces = 3 * n_stations
        timings = {}
        t = time.perf_counter()
        plain_loop(tasks, config, tmp / "plain")
        timings["plain"] = time.perf_counter() - t
        t = time.perf_counter()
        run_preprocess(tasks, config, tmp / "simple", "simple")
        timings["simple"] = time.perf_counter() - t
        t = time.perf_counter()
        record = run_preprocess(tasks, config, tmp / "multi", "multi", processes)
        timings["multi"] = time.perf_counter() - t
        assert len(record["stations"]) == n_stations
    return {"traces": traces, "processes": processes, **{f"{k}_s": v for k, v in timings.items()},
            **{f"{k}_traces_per_s": traces / v for k, v in timings.items()}}


HEADING = "## Preprocessing"


def lines(r: dict) -> list[str]:
    labels = {"plain": "plain ObsPy loop", "simple": "dispel4py simple",
              "multi": f"dispel4py multi ({r['processes']} processes)"}
    return [f"{labels[k]}: {r[k + '_s']:.2f} s, {r[k + '_traces_per_s']:.1f} traces/s" for k in labels] + [
        f"dispel4py overhead (simple vs plain): {100 * (r['simple_s'] / r['plain_s'] - 1):+.1f} %; "
        f"multi speed-up over simple: {r['simple_s'] / r['multi_s']:.2f}x"]


def markdown(r: dict) -> str:
    """The section of ``docs/benchmarks.md``."""
    return "\n".join([HEADING, "", f"`python benchmarks/bench_processing.py` on a machine with {os.cpu_count()} "
                       f"CPUs ({datetime.date.today()}): the preprocessing graph on {r['traces']} traces (20 Hz, "
                       "15 min of counts: response removal, band-pass, resampling, rotation).", "",
                       *(f"- {line}" for line in lines(r)), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    r = run(args.stations, args.processes)
    print("\n".join(lines(r)))
    if not args.no_docs:
        replace_section(HEADING, markdown(r))


if __name__ == "__main__":
    main()
