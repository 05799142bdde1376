"""``cmtflow process``: a dispel4py processing graph over a folder of records.

The observed records of a run (response removed) and the synthetics of its source variants
(cut to the span each station's records cover, then processed the same way) go through the
same graph; :func:`observed_command` and :func:`synthetics_command` write a run's command lines.
"""

from __future__ import annotations

import os
from pathlib import Path

from cmtflow.errors import CmtflowError


def observed_command(run_dir: Path, band: tuple[float, float], dt: float, processes: int,
                     min_snr: float) -> tuple[str, ...]:
    """The step preprocessing a run's observed records, in the band ``(tmin, tmax)`` (s).

    It processes every station it can: too few is a "no solution" that the misfit stage
    records, not a failed step (``--min-stations 0``)."""
    return ("cmtflow", "process", "--graph", "preprocess", "--run", str(run_dir), "--band", f"{band[0]},{band[1]}",
            "--dt", str(dt), "--mapping", "multi", "-n", str(processes), "--min-stations", "0",
            "--min-snr", str(min_snr))


def synthetics_command(folders: list[tuple[Path, Path, Path]], band: tuple[float, float], dt: float,
                       min_stations: int, spans: Path) -> tuple[str, ...]:
    """The step preprocessing synthetics ``folders`` (synthetics, output, kept copy), cut to the
    spans of the run's records (``spans``: its stations.json), in one process."""
    if len(folders) == 1:
        sim, out, kept = folders[0]
        selection = ("--synthetics", str(sim), "--out", str(out), "--keep-in", str(kept))
    else:
        selection = tuple(arg for sim, out, kept in folders for arg in ("--variant", str(sim), str(out), str(kept)))
    return ("cmtflow", "process", "--graph", "preprocess", *selection, "--band", f"{band[0]},{band[1]}",
            "--dt", str(dt), "--mapping", "simple", "--min-stations", str(min_stations), "--spans", str(spans))


def preprocess_config(args, remove_response: bool):
    """The processing of ``--band`` and ``--dt``."""
    from cmtflow.processing import Band
    from cmtflow.processing.preprocess import PreprocessConfig

    band = Band.parse(args.band)
    return PreprocessConfig(band.tmin, band.tmax, args.dt, remove_response=remove_response)


def cmd_process(args) -> int:
    from cmtflow.processing.tasks import observed_tasks, record_spans, synthetic_tasks

    if sum(map(bool, (args.run, args.synthetics, args.variant))) != 1:
        raise CmtflowError("give one of --run (a run workspace), --synthetics (a 'cmtflow synth' folder) or "
                           "--variant (repeated)")
    if args.variant and (args.out or args.keep_in):
        raise CmtflowError("--variant names its own output folders: no --out or --keep-in with it")
    if args.run:
        config = preprocess_config(args, remove_response=True)
        return _process(observed_tasks(args.run, config, args.min_snr), config,
                        Path(args.out or Path(args.run) / "processed"), args)
    config = preprocess_config(args, remove_response=False)
    spans = record_spans(args.spans) if args.spans else None
    if args.synthetics:
        return _process(synthetic_tasks(args.synthetics, config, spans), config,
                        Path(args.out or Path(args.synthetics) / "processed"), args, args.keep_in)
    for folder, out, keep_in in args.variant:  # one process for all: one start-up
        _process(synthetic_tasks(folder, config, spans), config, Path(out), args, keep_in)
    return 0


def _process(tasks: list[dict], config, out: Path, args, keep_in: str | None = None) -> int:
    """One folder's stations through the processing graph into ``out`` (and a copy into
    ``keep_in``); too few stations processed is an error."""
    from cmtflow.processing.graphs import run_preprocess

    record = run_preprocess(tasks, config, out, args.mapping, args.processes)
    print(f"{len(record['stations'])} stations processed, {len(record['failed'])} failed, mapping {record['mapping']} "
          f"({record['processes']} processes), {record['seconds']:.2f} s -> {out}")
    for failure in record["failed"]:
        print(f"  {failure['station']}: {failure['reason']}")
    if len(record["stations"]) < args.min_stations:
        raise CmtflowError(f"only {len(record['stations'])} stations processed, at least {args.min_stations} needed")
    if keep_in:
        from cmtflow.workspace import copy_folder

        copy_folder(out, Path(keep_in), keep_existing=True)
    return 0


def add_processing_options(sp, band: str | None = "15,50", dt: float | None = 0.5) -> None:
    """Band, sampling, dispel4py mapping and SNR options (``process``, and ``fetch``)."""
    from cmtflow.runconf import RunConf

    sp.add_argument("--band", default=band, help=f"period band TMIN,TMAX in s (default {band or 'by magnitude, as the DAG'})")
    sp.add_argument("--dt", type=float, default=dt, help=f"output sampling interval in s (default {dt or 'by magnitude'})")
    sp.add_argument("--mapping", choices=("simple", "multi"), default="simple",
                    help="dispel4py mapping (default simple)")
    sp.add_argument("-n", "--processes", type=int, default=(os.cpu_count() or 1) + 2,
                    help="processes of the multi mapping: a task source, a writer and N-2 workers "
                         "(default: CPU count + 2)")
    sp.add_argument("--min-snr", type=float, default=RunConf.min_snr,
                    help="components below this signal-to-noise ratio are not used, where the record has "
                         f"pre-event noise (default {RunConf.min_snr:g}; 0: no test)")


def add_parser(sub) -> None:
    """``process`` on a ``cmtflow`` parser's subcommands."""
    pr = sub.add_parser("process", help="run a dispel4py processing graph (the command a pod runs)")
    pr.add_argument("--graph", choices=("preprocess",), default="preprocess", help="the graph (default preprocess)")
    pr.add_argument("--run", help="run workspace (observed data: raw/ + stations.json)")
    pr.add_argument("--synthetics", help="'cmtflow synth' output folder (no response removal)")
    pr.add_argument("--out", help="output folder (default: processed/ in the input)")
    pr.add_argument("--min-stations", type=int, default=1, help="fail if fewer stations are processed (default 1)")
    pr.add_argument("--keep-in", help="also keep a copy of the complete output here (a simulation's processed cache)")
    pr.add_argument("--variant", nargs=3, action="append", metavar=("SYNTHETICS", "OUT", "KEEP_IN"),
                    help="a 'cmtflow synth' folder, its output folder and its kept copy (repeat for each of a run's "
                         "variants): all processed in one process")
    pr.add_argument("--spans", help="synthetics: a run's stations.json; each station's synthetics are cut to the span "
                                    "its records cover before they are filtered, as the data are")
    add_processing_options(pr)
    pr.set_defaults(func=cmd_process)
