"""Benchmark: the full CMT3D inversion for 30 stations (90 channels).

Observed data are embedded-solver synthetics of a Mw 4.5 normal fault with 10 % noise at 30
stations 60-300 km away; Green's functions are computed once beforehand (they are stored
and reused in production, so they are not part of the inversion's cost). Timed, best of
``--repeat``:

* ``dataset``: synthetics, derivatives and band-pass of every channel, plus the windows
  (arrival-time windows, or FLEXWIN through pyflex when ``--picker flexwin``);
* ``invert``: measurements, weights, Gauss-Newton iterations with the zero-trace
  constraint, the time-shift / moment-scale grid search and 200 bootstrap repeats.

Prints, and writes the section "Inversion" of ``docs/benchmarks.md`` (not with ``--no-docs``).

    python benchmarks/bench_inversion.py [--params 6|7] [--picker phases|flexwin] [--repeat N] [--no-docs]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import replace_section  # noqa: E402

from cmtflow.inversion import InversionConfig, invert  # noqa: E402
from cmtflow.inversion.embedded import embedded_dataset  # noqa: E402
from cmtflow.inversion.synthetic_test import perturbed_start, ring_stations  # noqa: E402
from cmtflow.processing import Band, bandpass  # noqa: E402
from cmtflow.solvers.store import GreensStore  # noqa: E402
from cmtflow.solvers.synthetics import synthetics  # noqa: E402
from cmtflow.source import Source, kagan_angle  # noqa: E402

HEADING = "## Inversion"

N_STATIONS, DT, NPTS = 30, 0.5, 1024
BAND = Band(15.0, 50.0)


def run(n_params: int = 6, picker: str = "phases", repeat: int = 3, bootstrap: int = 200) -> dict:
    true = Source.from_strike_dip_rake(191.0, 47.0, -107.0, 4.5, time="2009-04-07T20:12:55", latitude=61.45,
                                       longitude=-149.74, depth_km=33.03, half_duration=0.5, event_id="bench")
    rng = np.random.default_rng(5)
    stations = ring_stations(true, N_STATIONS, rng)
    with tempfile.TemporaryDirectory() as root:
        store = GreensStore(root)
        observed, _ = synthetics(true, stations, "scak", DT, NPTS, store=store)
        for tr in observed:
            noise = bandpass(rng.standard_normal(tr.stats.npts), DT, Band(5.0, 100.0))
            tr.data = tr.data + 0.1 * np.std(tr.data) * noise / np.std(noise)
        start = perturbed_start(true, n_params)
        config = InversionConfig(n_params=n_params, bootstrap=bootstrap)
        embedded_dataset(observed, stations, start, "scak", BAND, DT, NPTS, n_params, store=store,
                         picker=picker)  # warm-up: Green's functions computed and stored
        t_data = t_inv = np.inf
        for _ in range(repeat):
            t = time.perf_counter()
            dataset, windows = embedded_dataset(observed, stations, start, "scak", BAND, DT, NPTS, n_params,
                                                store=store, picker=picker)
            t_data = min(t_data, time.perf_counter() - t)
            t = time.perf_counter()
            result = invert(dataset, windows, config)
            t_inv = min(t_inv, time.perf_counter() - t)
    return {"stations": N_STATIONS, "channels": len(dataset.channels), "windows": len(windows),
            "windows_used": sum(w.accepted for w in result.windows), "params": n_params, "picker": picker,
            "bootstrap": bootstrap, "dataset_s": t_data, "invert_s": t_inv, "total_s": t_data + t_inv,
            "kagan_to_true_deg": kagan_angle(result.source.mt, true.mt)}


def lines(r: dict) -> list[str]:
    return [f"{r['stations']} stations, {r['channels']} channels, {r['windows_used']}/{r['windows']} windows used, "
            f"{r['params']} parameters, {r['bootstrap']} bootstraps, picker {r['picker']}",
            f"dataset (synthetics, derivatives, band-pass, windows): {r['dataset_s']:.2f} s",
            f"inversion (measure, weights, Gauss-Newton, grid search, bootstrap): {r['invert_s']:.2f} s",
            f"total: {r['total_s']:.2f} s (Kagan angle to the true source {r['kagan_to_true_deg']:.2f} deg)"]


def markdown(r: dict) -> str:
    """The section of ``docs/benchmarks.md``."""
    return "\n".join([HEADING, "", f"`python benchmarks/bench_inversion.py` on a machine with {os.cpu_count()} CPUs "
                       f"({datetime.date.today()}): CMT3D on a noisy Mw 4.5 at {r['stations']} stations, Green's "
                       "functions stored beforehand (as in production), best of the repeats.", "",
                       *(f"- {line}" for line in lines(r)), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, choices=(6, 7), default=6)
    parser.add_argument("--picker", choices=("phases", "flexwin"), default="phases")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    r = run(args.params, args.picker, args.repeat)
    print("\n".join(lines(r)))
    if not args.no_docs:
        replace_section(HEADING, markdown(r))


if __name__ == "__main__":
    main()
