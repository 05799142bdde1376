"""The ``cmtflow`` command line.

Every input problem is reported as one line ``error: ...`` with exit status 2; nothing
is left behind that looks like a complete product.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from cmtflow.errors import CmtflowError, RunStopped
from cmtflow.workspace import SYNTHETICS_MANIFEST, RunWorkspace, SimulationPlan

log = logging.getLogger("cmtflow")


def _float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _fk_params(args):
    from cmtflow.solvers.fk import FKParameters

    return FKParameters(fmax=args.fmax)


def cmd_greens(args) -> int:
    from cmtflow.models import load_model
    from cmtflow.solvers.sac_io import write_fk_sac
    from cmtflow.solvers.store import GreensStore

    model = load_model(args.model)
    t = time.perf_counter()
    greens, reused = GreensStore(args.data_root).get(model, args.depth, args.distances, args.dt, args.npts,
                                                     _fk_params(args))
    folder = write_fk_sac(greens, args.out)
    print(f"{'reused' if reused else 'computed'} Green's functions for {len(greens.distances_km)} distances "
          f"in {time.perf_counter() - t:.2f} s -> {folder}")
    return 0


def _synth_meta(args, source_path) -> dict:
    return {"source": str(source_path), "model": str(args.model), "solver": "cmtflow-fk",
            "components": args.components, "dt": args.dt, "npts": args.npts}


def cmd_synth(args) -> int:
    from cmtflow.data.stations import read_stations
    from cmtflow.solvers.store import GreensStore
    from cmtflow.solvers.synthetics import synthetics, write_synthetics_folder
    from cmtflow.source import read_source

    if args.variant:
        if args.source or args.out or args.record:
            raise CmtflowError("synth: give either --variant (repeated) or --source/--out/--record, not both")
        return _synth_variants(args)
    if not (args.source and args.out):
        raise CmtflowError("synth: --source and --out are required (or --variant LABEL SOURCE OUT RECORD)")
    out = Path(args.out)
    if args.record:  # a run's simulation step: claimed, reused or computed through the catalogue
        args.variant = [(args.label or out.name, args.source, args.out, args.record)]
        return _synth_variants(args)
    t = time.perf_counter()
    if args.skip_existing and (out / SYNTHETICS_MANIFEST).is_file():  # written last: the set is complete
        print(f"reused the synthetics in {out}")
        return 0
    source = read_source(args.source)
    stream, geometry = synthetics(source, read_stations(args.stations), args.model, args.dt, args.npts,
                                  args.components, _fk_params(args), GreensStore(args.data_root))
    manifest = write_synthetics_folder(stream, geometry, source, out, _synth_meta(args, args.source))
    print(f"wrote {len(manifest['stations'])} stations x {len(args.components)} components of displacement (m) "
          f"in {time.perf_counter() - t:.2f} s -> {out}")
    return 0


def _synth_variants(args) -> int:
    """A run's source variants in one step, each claimed, reused or computed through the
    catalogue; the computed ones share their Green's functions (one set per depth)."""
    from cmtflow.catalogue.claims import simulate_with_catalogue
    from cmtflow.data.stations import read_stations
    from cmtflow.solvers.store import GreensStore
    from cmtflow.solvers.synthetics import shared_greens, synthetics, write_synthetics_folder
    from cmtflow.source import read_source

    inventory = read_stations(args.stations)
    sources = {label: read_source(path) for label, path, _, _ in args.variant}
    store = GreensStore(args.data_root)
    greens: dict = {}  # computed once, when the first variant is not reused

    def compute(label: str, path: str, out: Path):
        def run():
            if not greens:
                greens.update(shared_greens(list(sources.values()), inventory, args.model, args.dt, args.npts,
                                            _fk_params(args), store))
            source = sources[label]
            stream, geometry = synthetics(source, inventory, args.model, args.dt, args.npts, args.components,
                                          _fk_params(args), store, greens[source.depth_km])
            return write_synthetics_folder(stream, geometry, source, out, _synth_meta(args, path))
        return run

    for label, path, out, record in args.variant:
        t = time.perf_counter()
        result = simulate_with_catalogue(Path(out), Path(record), label, compute(label, path, Path(out)))
        print(f"{label}: {'reused' if result['reused'] else 'computed'} simulation {result['key']} "
              f"({time.perf_counter() - t:.2f} s) -> {out}")
    return 0


def cmd_invert(args) -> int:
    from cmtflow.inversion import InversionConfig
    from cmtflow.inversion.publish import write_products
    from cmtflow.misfit import WeightConfig, read_cap_weights
    from cmtflow.processing import Band
    from cmtflow.source import read_source

    initial = read_source(args.initial)
    reference_mw = initial.mw  # the magnitude check's, whatever a second pass starts from
    # the inversions repeat nothing: the uncertainty is the bootstrap of re-inversions below
    config = InversionConfig(n_params=args.params, double_couple=args.dc, bootstrap=0,
                             max_time_shift=args.max_time_shift, damping=args.damping,
                             weights=WeightConfig(energy_normalisation=args.energy_normalisation))
    cap = read_cap_weights(args.weights) if args.weights else None
    band = Band.parse(args.band) if args.band else None
    t = time.perf_counter()
    extra = {}
    magnitude = (args.magnitude or initial.mw, args.magnitude_type or ("Mw" if args.magnitude is None else "M"))
    if not args.synthetics:  # the embedded solver: the DAG's set-up where the arguments leave it open
        setup = _cli_setup(args, initial.latitude, initial.longitude, *magnitude)
        band, model, dt = Band(setup.tmin, setup.tmax), setup.model, setup.dt
        extra["setup"] = setup.as_dict()
    if args.synthetic_test:
        from cmtflow.inversion.synthetic_test import run_synthetic_test

        points = None
        if args.stations:
            from cmtflow.data.stations import read_stations, station_list

            points = station_list(read_stations(args.stations))
        elif args.data:
            from cmtflow.data.waveforms import event_stations

            points = event_stations(args.data)
        result, dataset, test_extra = run_synthetic_test(initial, model, band, config,
                                                         points, dt, seed=args.seed, noise=args.noise,
                                                         picker=args.picker)
        extra.update(test_extra)
    elif args.synthetics:
        from cmtflow.inversion import invert
        from cmtflow.solvers.specfem import read_specfem_dataset

        if not args.windows:
            raise CmtflowError("--synthetics needs --windows (a FLEXWIN window file)")
        dataset, windows = read_specfem_dataset(args.synthetics, initial, args.windows, args.params, band,
                                                args.ddepth, args.dlatlon, args.dlatlon)
        result = invert(dataset, windows, config, cap)
    else:
        from cmtflow.inversion.setup import first_pass_record, second_pass

        if not args.data:
            raise CmtflowError("--data is required (or --synthetic-test)")
        result, dataset, found = _invert_records(args, initial, setup, config, cap)
        extra.update(found)
        again = second_pass(extra["setup"], {}, initial.latitude, initial.longitude, result.source.mw)
        if again:  # the set-up corrected by the inverted Mw, as the DAG's second pass
            print(f"set up again: {again['reason']}")
            first = first_pass_record("first pass of this command", extra["setup"], again["inverted_mw"], "-",
                                      again["reason"])
            setup = _cli_setup(args, initial.latitude, initial.longitude, *magnitude, setup_mw=again["inverted_mw"])
            band = Band(setup.tmin, setup.tmax)
            initial = initial.with_mt(result.source.mt)
            result, dataset, found = _invert_records(args, initial, setup, config, cap)
            extra.update(found)
            extra["setup"] = {**setup.as_dict(), "first_pass": first}
    found = _uncertainty_and_predictors(result, dataset, config, args.bootstrap, extra)
    path = write_products(result, dataset, args.out, extra, reference_magnitude=(reference_mw, "Mw (initial source)"),
                          band=(band.tmin, band.tmax) if band else None, predictors=found)
    s = result.source
    p1, p2 = s.nodal_planes
    record = json.loads(path.read_text())
    print(f"Mw {s.mw:.2f}  depth {s.depth_km:.1f} km  planes {p1[0]:.0f}/{p1[1]:.0f}/{p1[2]:.0f} "
          f"{p2[0]:.0f}/{p2[1]:.0f}/{p2[2]:.0f}  VR {100 * result.variance_reduction_before:.1f}% -> "
          f"{100 * result.variance_reduction_after:.1f}%  Kagan to initial {result.kagan_to_initial:.1f} deg  "
          f"({len(result.stations_used)} stations, {time.perf_counter() - t:.1f} s)")
    print(_quality_line(record))
    for key, value in extra.get("synthetic_test", {}).items():
        print(f"  {key}: {value}")
    for warning in record.get("warnings", []):
        print(f"warning: {warning}")
    print(f"-> {path}")
    return 0


def _uncertainty_and_predictors(result, dataset, config, repeats: int, extra: dict) -> dict:
    """``extra["uncertainties"]``: the bootstrap of re-inversions at the solution's depth (the
    command searches no depth); returns the grade's predictors."""
    from cmtflow.inversion import invert
    from cmtflow.inversion.bootstrap import uncertainties
    from cmtflow.inversion.quality import predictors

    windows = [record.window for record in result.windows]
    extra["uncertainties"] = uncertainties(result, dataset, windows, config, repeats, solve=invert)
    return predictors(result, dataset, windows, config, None, extra["uncertainties"], extra.get("setup"))


def _invert_records(args, initial, setup, config, cap):
    """The embedded solver's inversion of the records of ``args.data`` with ``setup``: the
    result, its dataset and what ``solution.json`` keeps of the records."""
    from cmtflow.data.events import Earthquake
    from cmtflow.data.waveforms import read_event_waveforms, stations_to_zrt
    from cmtflow.inversion.embedded import Perturbation, invert_embedded
    from cmtflow.processing import Band

    band = Band(setup.tmin, setup.tmax)
    quake = Earthquake(initial.event_id or "event", initial.time, initial.latitude, initial.longitude,
                       initial.depth_km, initial.mw, "Mw")
    data = read_event_waveforms(args.data, quake, args.quantity, args.scale, band,
                                tuple(args.channels.split(",")) if args.channels else None,
                                distances_km=(setup.min_distance_km, setup.max_distance_km))
    stations = data.stations
    stream = stations_to_zrt(data.stream, stations, initial.latitude, initial.longitude, data.inventory)
    npts = _window_samples(stream, stations, initial, band, setup.dt)
    result, dataset = invert_embedded(stream, stations, initial, setup.model, band, setup.dt, npts, config,
                                      quantity=data.units["quantity"], cap_weights=cap, picker=args.picker,
                                      perturbation=Perturbation(args.ddepth, args.dlatlon, args.dlatlon))
    return result, dataset, {"data_units": data.units, "data_notes": data.notes}


def _cli_setup(args, latitude: float, longitude: float, magnitude: float, magnitude_type: str,
               setup_mw: float | None = None):
    """The set-up of ``fetch`` and ``invert`` (:func:`cmtflow.inversion.setup.event_setup`, the
    DAG's): the arguments given (band, dt, model, distances) kept, the rest chosen by magnitude
    (or ``setup_mw``, a second pass's) and region, printed with the reasons."""
    from cmtflow.inversion.setup import event_setup
    from cmtflow.processing import Band

    band = Band.parse(args.band) if getattr(args, "band", None) else None
    given = {"tmin": band and band.tmin, "tmax": band and band.tmax, "dt": getattr(args, "dt", None),
             "model": getattr(args, "model", None) or "auto", "min_distance_km": getattr(args, "min_distance", None),
             "max_distance_km": getattr(args, "max_distance", None), "setup_mw": setup_mw}
    setup = event_setup(given, latitude, longitude, magnitude, magnitude_type)
    chosen = [k for k in ("tmin", "dt", "model", "min_distance_km") if setup.reasons.get(k) != "given"]
    if chosen:
        print(f"set-up for {setup.reasons['moment_magnitude']} (Mw {setup.moment_magnitude:.1f}): band "
              f"{setup.tmin:g}-{setup.tmax:g} s ({setup.reasons['tmin']}), dt {setup.dt:g} s, model {setup.model} "
              f"({setup.reasons['model']}), distances {setup.min_distance_km:g}-{setup.max_distance_km:g} km")
    return setup


def _quality_line(solution: dict) -> str:
    """One line for the terminal: the grade with its measured meaning and the numbers behind it."""
    from cmtflow.inversion.grade import headline

    q = solution["quality"]
    return (f"{headline(q, solution.get('uncertainties'))}: plain VR {100 * q['variance_reduction_plain']:.0f} %, "
            f"{q['stations']} stations, {q['components']} components, azimuthal gap {q['azimuthal_gap_deg']:.0f} deg, "
            f"condition number {q['condition_number']:.0f}, DC {q['dc_pct']:.0f} % CLVD {q['clvd_pct']:.0f} %"
            + (f" (lowering it: {'; '.join(q['grade_reasons'])})" if q.get("grade_reasons") else ""))


def _window_samples(stream, stations, source, band, dt) -> int:
    """A power of two long enough for the slowest surface wave at the farthest station."""
    from obspy.geodetics import gps2dist_azimuth

    far = max(gps2dist_azimuth(source.latitude, source.longitude, s.latitude, s.longitude)[0] / 1000.0
              for s in stations)
    seconds = far / 2.5 + 3 * band.tmax + 60.0
    return 1 << max(int(np.ceil(np.log2(seconds / dt))), 8)


def _earthquake(args):
    from cmtflow.data.events import earthquake_from_origin, fetch_earthquake, read_earthquake
    from cmtflow.data.services import ServiceConfig

    given = [x for x in (args.event_id, args.origin, args.quakeml) if x]
    if len(given) != 1:
        raise CmtflowError("give exactly one of --event-id, --origin or --quakeml")
    if args.event_id:
        return fetch_earthquake(args.event_id, ServiceConfig(provider=args.event_service, timeout=args.timeout))
    if args.quakeml:
        return read_earthquake(args.quakeml)
    parts = args.origin.split(",")
    if len(parts) != 5:
        raise CmtflowError(f"--origin must be TIME,LAT,LON,DEPTH_KM,MAG, got {args.origin!r}")
    try:
        lat, lon, depth, mag = (float(x) for x in parts[1:])
    except ValueError:
        raise CmtflowError(f"--origin: latitude, longitude, depth and magnitude must be numbers: {args.origin!r}") \
            from None
    return earthquake_from_origin(parts[0], lat, lon, depth, mag)


def _preprocess_config(args, remove_response: bool):
    from cmtflow.processing import Band
    from cmtflow.processing.preprocess import PreprocessConfig

    band = Band.parse(args.band)
    return PreprocessConfig(band.tmin, band.tmax, args.dt, remove_response=remove_response)


def _data_conf(args) -> dict:
    """The run-conf data settings of ``fetch``/``invert`` arguments (one meaning for both)."""
    from cmtflow.processing import Band
    from cmtflow.runconf import defaults

    source = "files" if getattr(args, "waveforms", None) else "sds" if getattr(args, "sds", None) else "fdsn"
    band = Band.parse(args.band) if getattr(args, "band", None) else None
    return {**defaults(), "data_source": source, "sds_path": getattr(args, "sds", None),
            "waveforms": getattr(args, "waveforms", None), "inventory": getattr(args, "inventory", None),
            "station_service": getattr(args, "station_service", "eida-routing"),
            "dataselect_service": getattr(args, "dataselect_service", None),
            "channels": getattr(args, "channels", defaults()["channels"]),
            "data_quantity": args.quantity, "data_scale": args.scale if args.scale is not None else 1.0,
            "min_stations": getattr(args, "min_stations", 1), "min_snr": getattr(args, "min_snr", 0.0),
            "min_distance_km": getattr(args, "min_distance", None), "max_distance_km": getattr(args, "max_distance", None),
            "max_stations": getattr(args, "max_stations", 60),
            **({"tmin": band.tmin, "tmax": band.tmax, "dt": args.dt} if band else {})}


def cmd_fetch(args) -> int:
    from dataclasses import replace

    from obspy import UTCDateTime

    from cmtflow import stages
    from cmtflow.data.fetch import fetch_waveforms
    from cmtflow.data.selection import select_stations
    from cmtflow.processing.graphs import run_preprocess
    from cmtflow.processing.tasks import observed_tasks
    from cmtflow.workspace import write_json_atomic

    os.environ["CMTFLOW_FDSN_TIMEOUT_S"], os.environ["CMTFLOW_FDSN_RETRIES"] = str(args.timeout), str(args.retries)
    t = time.perf_counter()
    quake = _earthquake(args)
    if args.magnitude_type:
        quake = replace(quake, magnitude_type=args.magnitude_type)
    setup = _cli_setup(args, quake.latitude, quake.longitude, quake.magnitude, quake.magnitude_type)
    args.band, args.dt = f"{setup.tmin:g},{setup.tmax:g}", setup.dt
    args.min_distance, args.max_distance = setup.min_distance_km, setup.max_distance_km
    processing = _preprocess_config(args, remove_response=True)
    conf = _data_conf(args)
    run_id = args.run_id or f"fetch_{UTCDateTime().strftime('%Y%m%dT%H%M%S')}"
    workspace = RunWorkspace.create(quake.event_id, run_id, args.data_root)
    write_json_atomic(workspace.event_file, quake.as_dict())
    print(f"event {quake.event_id}: {quake.time} {quake.latitude:.4f} {quake.longitude:.4f} "
          f"{quake.depth_km:.1f} km {quake.magnitude_type} {quake.magnitude:.1f} ({quake.provider})")
    selecting = replace(stages.selection_config(conf), min_interstation_km=args.min_interstation)
    metadata = stages.station_metadata(conf, quake, selecting)
    for note in metadata.notes:
        print(f"  metadata: {note}")
    selection = select_stations(metadata.inventory, quake, selecting)
    for code, reason in metadata.problems.items():
        selection.dropped.setdefault(code, reason)
    fetching = stages.fetch_config(conf)
    report = fetch_waveforms(quake, selection, metadata.inventory, stages.waveform_archive(conf), workspace, fetching)
    print(f"{len(report.used)} stations fetched ({len(report.reused)} reused), {len(report.dropped)} dropped "
          f"-> {workspace.stations_report}")
    for code, data in sorted(report.data.items()):
        print(f"  {code}: {data.components} ({data.units['source']}: {data.units['quantity']}"
              f"{'' if data.noise_s >= fetching.checks.min_noise_s else ', no noise window'})")
    record = run_preprocess(observed_tasks(workspace.path, processing, args.min_snr), processing, workspace.processed,
                            args.mapping, args.processes)
    print(f"{len(record['stations'])} stations processed to Z/R/T displacement (m), {len(record['failed'])} failed, "
          f"in {time.perf_counter() - t:.1f} s -> {workspace.processed}")
    for failure in record["failed"]:
        print(f"  {failure['station']}: {failure['reason']}")
    print(f"invert them: cmtflow invert --data {workspace.path} --initial CMTSOLUTION "
          "(the raw records and their StationXML, processed in the inversion's band)")
    return 0


def cmd_process(args) -> int:
    from cmtflow.processing.tasks import observed_tasks, record_spans, synthetic_tasks

    if sum(map(bool, (args.run, args.synthetics, args.variant))) != 1:
        raise CmtflowError("give one of --run (a run workspace), --synthetics (a 'cmtflow synth' folder) or "
                           "--variant (repeated)")
    if args.variant and (args.out or args.keep_in):
        raise CmtflowError("--variant names its own output folders: no --out or --keep-in with it")
    if args.run:
        config = _preprocess_config(args, remove_response=True)
        return _process(observed_tasks(args.run, config, args.min_snr), config,
                        Path(args.out or Path(args.run) / "processed"), args)
    config = _preprocess_config(args, remove_response=False)
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


def _start_run(conf: dict) -> dict:
    """Run ``cmt_inversion`` through Airflow with task-by-task progress on the terminal; its
    result, successful or not (:func:`cmtflow.airflow.home.run_dag`)."""
    from cmtflow.airflow.home import run_dag_stoppable

    _progress_on_terminal()
    return run_dag_stoppable(conf)


def _progress_on_terminal() -> None:
    """A line per finished task (unless ``CMTFLOW_PROGRESS`` says otherwise); set before the
    warm runner is asked, whose key covers it."""
    os.environ.setdefault("CMTFLOW_PROGRESS", "1")


def _run_through_airflow(conf: dict) -> dict:
    """:func:`_start_run`, raising :class:`CmtflowError` when the run failed or published nothing."""
    result = _start_run(conf)
    _check_run(result)
    return result


def _check_run(result: dict) -> None:
    if result["state"] != "success":
        failed = [f"{t}[{i}]" if i >= 0 else t for t, i, state, _ in result["tasks"] if state != "success"]
        raise CmtflowError(f"cmt_inversion run {result['run_id']} ended {result['state']} "
                           f"(not successful: {', '.join(failed) or 'none'}); the failed task's error is above")
    if not result["published"] and result.get("outcome"):
        raise CmtflowError(f"cmt_inversion run {result['run_id']}: {result['outcome']['reason']}")
    if not result["published"]:
        states = ", ".join(f"{t}: {state}" for t, _, state, _ in result["tasks"] if state != "success")
        raise CmtflowError(f"cmt_inversion run {result['run_id']} published no solution ({states})")


def cmd_demo(args) -> int:
    from cmtflow import demo
    from cmtflow.source import kagan_angle, read_cmtsolution

    t = time.perf_counter()
    if args.prepare_only:
        scenario = demo.generate(force=args.fresh)
        print(json.dumps(scenario.conf(n_params=args.params)))
        return 0
    print("cmtflow demo: CMT inversion of a generated regional earthquake through Airflow")
    from cmtflow.airflow.home import start_runner_early

    _progress_on_terminal()  # as the run will have it: the run finds this runner
    start_runner_early()  # Airflow set up and loaded while the scenario is made
    scenario = demo.generate(force=args.fresh)
    true = read_cmtsolution(scenario.truth)
    print(f"scenario: {len(demo.demo_stations())} real broadband stations of southern Alaska, known source Mw "
          f"{true.mw:.2f} at {true.depth_km:.1f} km, SDS + StationXML + QuakeML in {scenario.folder} "
          f"({time.perf_counter() - t:.1f} s)")
    print("running cmt_inversion (Airflow, embedded: SQLite, local processes)...")
    result = _run_through_airflow(scenario.conf(n_params=args.params))
    solution = json.loads((Path(result["published"]["solution"]) / "solution.json").read_text())
    mt = [solution["moment_tensor_nm"][k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]
    kagan = kagan_angle(mt, true.mt)
    planes_true = "  ".join("/".join(f"{x:.0f}" for x in p) for p in true.nodal_planes)
    planes = "  ".join(f"{p['strike']:.0f}/{p['dip']:.0f}/{p['rake']:.0f}" for p in solution["nodal_planes"])
    print(f"\n{'':12s}{'Mw':>6s}  {'depth km':>8s}  nodal planes (strike/dip/rake)")
    print(f"{'true':12s}{true.mw:6.2f}  {true.depth_km:8.1f}  {planes_true}")
    print(f"{'recovered':12s}{solution['mw']:6.2f}  {solution['centroid']['depth_km']:8.1f}  {planes}")
    print(f"Kagan angle {kagan:.1f} deg, |dMw| {abs(solution['mw'] - true.mw):.3f}, variance reduction "
          f"{100 * solution['variance_reduction']['after']:.1f} %")
    print(_quality_line(solution))
    ws = RunWorkspace.at(result["published"]["run_dir"])
    sims = [json.loads(ws.variant_record(v.variant).read_text()) for v in SimulationPlan.read(ws).variants]
    reused = [s for s in sims if s["reused"]]
    print(f"simulations: {len(sims) - len(reused)} computed, {len(reused)} reused"
          + (f" (from run {reused[0]['reused_from_run']})" if reused else ""))
    print(f"report: {result['published']['report']}")
    print(f"total {time.perf_counter() - t:.1f} s")
    return 0


def cmd_run(args) -> int:
    from cmtflow.runconf import check_conf

    try:
        conf = json.loads(Path(args.conf).read_text())
    except OSError as exc:
        raise CmtflowError(f"cannot read run conf {args.conf}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise CmtflowError(f"{args.conf} is not valid JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise CmtflowError(f"{args.conf}: the run conf must be a JSON object")
    check_conf(conf)
    t = time.perf_counter()
    while True:  # the run, then the updates it triggered, as a scheduler would start them
        result = _start_run(conf)
        try:
            _check_run(result)
        except CmtflowError as exc:
            if not result["updates"]:
                raise
            print(f"error: {exc}", file=sys.stderr)  # an update, with more stations, may still succeed
        else:
            _print_published(result["published"], time.perf_counter() - t)
        if not result["updates"]:
            return 0
        conf = result["updates"][-1]["conf"]  # a second pass, else the update
        if conf.get("first_pass_run"):
            print(f"\nthe inverted Mw {conf['setup_mw']:.2f} is far from the one that set the run up: a second pass "
                  "set up with it")
        else:
            print(f"\nstations were still pending: the next version waits for "
                  f"{conf['wait_for_stations'] or 'all'} stations")


def _print_published(published: dict, seconds: float) -> None:
    """A published solution on the terminal: version, magnitude, fit, grade, files."""
    print(f"{published['event_id']} version {published['version']}: Mw {published['mw']:.2f}, variance reduction "
          f"{100 * published['variance_reduction']:.1f} %, {published['stations']} stations ({seconds:.1f} s)")
    solution = json.loads((Path(published["solution"]) / "solution.json").read_text())
    print(_quality_line(solution))
    for warning in solution.get("warnings", []):
        print(f"warning: {warning}")
    print(f"solution: {published['solution']}\nreport: {published['report']}")


def cmd_airflow_home(args) -> int:
    from cmtflow.airflow.home import standalone_instructions

    print(standalone_instructions())
    return 0


def cmd_runner(args) -> int:
    """The warm runners of this user (:mod:`cmtflow.airflow.runner`): listed, or stopped."""
    from cmtflow.airflow.runner import ask, runner_folder

    answers = ask({"stop": True} if args.stop else {"status": True})
    for a in answers:
        if args.stop:
            print(f"runner {a['pid']}: stopping" + (f" after its runs {a['running']}" if a["running"] else ""))
        else:
            print(f"runner {a['pid']}: data root {a['home']}, {a['runs']} runs, running {a['running'] or 'none'}, "
                  f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(a['started']))}, exits after "
                  f"{a['idle_s']:.0f} s idle")
    if not answers:
        print(f"no runner ({runner_folder()})")
    return 0


def cmd_specfem(args) -> int:
    from cmtflow.solvers.specfem import plan

    workdir = Path(args.workdir)
    if not (workdir / "DATA" / "Par_file").is_file():
        raise CmtflowError(f"{workdir}: no DATA/Par_file (prepared by the plan_simulations stage)")
    if args.action == "databases":
        np_ = plan.nproc_of(workdir)
        plan.mpirun("xmeshfem3D", workdir, np_)
        plan.mpirun("xgenerate_databases", workdir, np_)
        if args.shortest_period:
            plan.check_resolution(workdir, args.shortest_period)
        print(f"SPECFEM3D mesh and databases ready in {workdir}")
        return 0
    from cmtflow.data.stations import read_stations, station_list
    from cmtflow.solvers.specfem.outputs import collect, inside_mesh, read_asdf, read_semd
    from cmtflow.source import read_cmtsolution

    if not args.out:
        raise CmtflowError("specfem simulate needs --out (the synthetics folder to write)")
    out = Path(args.out)

    def compute():
        plan.attach_databases(workdir)
        plan.check_time_step(workdir)
        plan.mpirun("xspecfem3D", workdir, plan.nproc_of(workdir))
        source = read_cmtsolution(workdir / "DATA" / "CMTSOLUTION")
        asdf = workdir / "OUTPUT_FILES" / "synthetic.h5"
        stream = read_asdf(asdf) if asdf.is_file() else read_semd(workdir / "OUTPUT_FILES", source.time)
        return collect(stream, source, station_list(read_stations(workdir / "DATA" / "STATIONS")), out,
                       {"workdir": str(workdir), "solver_version": plan.SOLVER_VERSION}, inside_mesh(workdir))

    if not args.record:  # by hand, outside a run: no catalogue, no reuse
        manifest = compute()
        print(f"computed SPECFEM3D simulation of {len(manifest['stations'])} stations -> {out}")
        return 0
    from cmtflow.catalogue.claims import simulate_with_catalogue

    result = simulate_with_catalogue(out, Path(args.record), args.label or out.name, compute)
    print(f"{'reused' if result['reused'] else 'computed'} SPECFEM3D simulation {result['key']} -> {out}")
    return 0


def cmd_catalogue(args) -> int:
    from cmtflow.catalogue import open_catalogue

    catalogue = open_catalogue()
    if args.what == "events":
        region = tuple(_float_list(args.region)) if args.region else None
        if region is not None and len(region) != 4:
            raise CmtflowError("--region must be LATMIN,LATMAX,LONMIN,LONMAX")
        rows = catalogue.events(args.event, args.since, args.until, args.min_magnitude, region)
    elif args.what == "runs":
        rows = catalogue.runs(args.event, args.state)
    elif args.what == "simulations":
        reused = {"yes": True, "no": False}.get(args.reused)
        rows = catalogue.simulations(args.event, args.model, args.solver, reused, args.run)
    else:
        rows = catalogue.solutions(args.event)
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    for row in rows:
        print(_catalogue_line(args.what, row))
    if args.what == "simulations":
        print(f"({len({r['key'] for r in rows})} simulations, {len(rows)} uses by runs)")
    else:
        print(f"({len(rows)} {args.what})")
    return 0


def _catalogue_line(what: str, r: dict) -> str:
    if what == "events":
        return f"{r['event_id']:24s} {r['time'][:19]} {r['latitude']:8.3f} {r['longitude']:9.3f} " \
               f"{r['depth_km']:6.1f} km {r['magnitude_type']} {r['magnitude']:.1f}  {r['provider']}"
    if what == "runs":
        return f"{r['run_id']:45s} {r['event_id']:20s} {r['state']:8s} {r['started_at'][:19]}"
    if what == "simulations":
        used = f"{'reused by' if r['reused'] else 'computed for'} {r['run_id']}" if r.get("run_id") else "unused"
        return f"{r['key']} {r['event_id']:16s} {r['variant']:9s} {r['solver']} {r['model']:8s} {r['state']:9s} " \
               f"created by {r['created_by_run']}; {used}"
    from cmtflow.inversion.grade import headline

    record = r.get("record") or {}
    return (f"{r['event_id']:20s} {r['run_id']:45s} Mw {r['mw']:.2f} VR {100 * r['variance_reduction']:.1f} % "
            f"{headline(record.get('quality') or {}, record.get('uncertainties'))}")


def cmd_models(args) -> int:
    from cmtflow.models import load_model, named_models

    for name in args.files:  # a model file: the layers exactly as cmtflow reads them
        print(f"{name}:\n{load_model(name).describe()}")
    for name in [] if args.files else named_models():
        m = load_model(name)
        print(f"{name:10s} {len(m.thickness) - 1:3d} layers over a half-space at {m.halfspace_depth:.1f} km")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from cmtflow.runconf import KEYS

    p = argparse.ArgumentParser(prog="cmtflow", description="Rapid earthquake source inversion (CMT3D).")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.add_argument("--data-root", default=None, help="data root (default: $CMTFLOW_HOME or ~/cmtflow)")
    sub = p.add_subparsers(dest="command", required=True)

    def solver_options(sp):
        sp.add_argument("--model", required=True, help="shipped model name (see 'cmtflow models') or FK model file")
        sp.add_argument("--dt", type=float, default=0.2, help="sampling interval in s (default 0.2)")
        sp.add_argument("--npts", type=int, default=1024, help="samples per trace, a power of two (default 1024)")
        sp.add_argument("--fmax", type=float, default=None,
                        help="highest frequency computed, Hz (default: Nyquist); output is band-limited to it")

    g = sub.add_parser("greens", help="Green's functions of the fundamental sources as FK-convention SAC files")
    solver_options(g)
    g.add_argument("--depth", type=float, required=True, help="source depth in km")
    g.add_argument("--distances", type=_float_list, required=True, help="comma-separated epicentral distances in km")
    g.add_argument("--out", required=True, help="output folder; files go to OUT/<model>_<depth>/<dist>.grn.<ext>")
    g.set_defaults(func=cmd_greens)

    s = sub.add_parser("synth", help="3-component displacement synthetics (miniSEED, m) for a source and stations")
    solver_options(s)
    s.add_argument("--source", help="CMTSOLUTION or QuakeML file")
    s.add_argument("--stations", required=True, help="StationXML or SPECFEM STATIONS file")
    s.add_argument("--components", choices=("ZRT", "ZNE"), default="ZRT", help="output components (default ZRT)")
    s.add_argument("--out", help="output folder (one NET.STA.LOC.mseed per station + synthetics.json)")
    s.add_argument("--skip-existing", action="store_true",
                   help="do nothing if OUT already holds a complete set (content-addressed simulation folders)")
    s.add_argument("--record", help="a run's simulation step: claim/reuse through the catalogue and write "
                                    "{label, key, path, reused, reused_from_run} to this file (in the run folder)")
    s.add_argument("--label", help="a name for the record (e.g. the source variant)")
    s.add_argument("--variant", nargs=4, action="append", metavar=("LABEL", "SOURCE", "OUT", "RECORD"),
                   help="a run's source variant (repeat for each): like --label/--source/--out/--record, all in one "
                        "process sharing their Green's functions")
    s.set_defaults(func=cmd_synth)

    inv = sub.add_parser("invert", help="CMT3D inversion of event waveforms (no Airflow)")
    inv.add_argument("--data", help="folder of waveforms: SAC with event/station headers, or miniSEED + StationXML; "
                                    "or a run folder of 'cmtflow fetch' (or its processed folder)")
    inv.add_argument("--initial", required=True, help="initial source: CMTSOLUTION or QuakeML")
    inv.add_argument("--model", help="1D model for the embedded solver (name or FK file; default: by region, as "
                                     "the DAG's set-up)")
    inv.add_argument("--synthetics", help="SPECFEM synthetics folder base (paths in --windows are relative to it)")
    inv.add_argument("--windows", help="FLEXWIN window file (with --synthetics)")
    inv.add_argument("--out", required=True, help="output folder for solution.json, CMTSOLUTION, QuakeML, figures")
    inv.add_argument("--params", type=int, choices=(6, 7, 9), default=6,
                     help="6: moment tensor, 7: + depth, 9: + depth, latitude, longitude")
    inv.add_argument("--band", help="period band TMIN,TMAX in s (default: by magnitude, as the DAG's set-up)")
    inv.add_argument("--magnitude", type=float, help="the magnitude that scales the set-up (default: the initial "
                                                     "source's Mw)")
    inv.add_argument("--magnitude-type", help="its type (ML, mb, Ms, Mw...: converted to Mw as the DAG does)")
    inv.add_argument("--min-distance", type=float, help="km (default: by magnitude, as the DAG's set-up)")
    inv.add_argument("--max-distance", type=float, help="km (default: by magnitude, as the DAG's set-up)")
    inv.add_argument("--weights", help="CAP weights.dat (station/component on-off)")
    inv.add_argument("--dc", action="store_true", help="constrain to a double couple")
    inv.add_argument("--damping", type=float, default=0.0,
                     help="damping, relative to the mean diagonal of the normal equations (default 0)")
    inv.add_argument("--energy-normalisation", action="store_true",
                     help="weight each window by 1 / its observed energy (equal say for every window)")
    inv.add_argument("--bootstrap", type=int, default=20,
                     help="re-inversions of resampled stations for the uncertainties and the grade (default 20)")
    inv.add_argument("--max-time-shift", type=float, default=5.0, help="centroid-time grid half width, s (default 5)")
    inv.add_argument("--dt", type=float, help="synthetic sampling interval, s (default: by magnitude)")
    inv.add_argument("--quantity", choices=("displacement", "velocity", "acceleration"),
                     help="what the data are, when no SAC idep header or instrument response says it (synthetics "
                          "are made to match); never guessed: without it such data are refused")
    inv.add_argument("--scale", type=float, default=None,
                     help="multiply the data by this to get SI units (cm/s: 0.01; overrides SAC idep's nm)")
    inv.add_argument("--channels",
                     help=f"band+instrument codes by priority (default {KEYS['channels'].default}, then other bands "
                          "in the folder but short-period EH,SH: name them to use them); HN/HG replace clipped "
                          "broadband records")
    inv.add_argument("--synthetic-test", action="store_true",
                     help="recovery test: the initial source is the truth; start from a perturbed one, add noise")
    inv.add_argument("--seed", type=int, default=1, help="random seed of the synthetic test")
    inv.add_argument("--stations", help="synthetic test: station file (StationXML or SPECFEM STATIONS) giving the "
                                        "station positions (default: --data's stations, else 24 random ones)")
    inv.add_argument("--noise", type=float, default=0.1,
                     help="synthetic test: noise rms as a fraction of each trace's rms (default 0.1)")
    inv.add_argument("--picker", choices=("auto", "flexwin", "phases"), default="auto",
                     help="windows: FLEXWIN (pyflex, the 'flexwin' extra), arrival times, or auto (FLEXWIN if "
                          "installed, arrival times where it finds none)")
    inv.add_argument("--ddepth", type=float, default=0.5,
                     help="depth perturbation of the depth derivative, km (default 0.5)")
    inv.add_argument("--dlatlon", type=float, default=0.01,
                     help="latitude/longitude perturbation of the location derivatives, degrees (default 0.01)")
    inv.set_defaults(func=cmd_invert)

    def units_options(sp):
        sp.add_argument("--quantity", choices=("displacement", "velocity", "acceleration"),
                        help="what records without an instrument response are (SAC idep says it when set)")
        sp.add_argument("--scale", type=float, default=None,
                        help="factor from the records' units to SI (cm/s: 0.01; nm: 1e-9)")

    def processing_options(sp, band="15,50", dt=0.5):
        sp.add_argument("--band", default=band, help=f"period band TMIN,TMAX in s (default {band or 'by magnitude, as the DAG'})")
        sp.add_argument("--dt", type=float, default=dt, help=f"output sampling interval in s (default {dt or 'by magnitude'})")
        sp.add_argument("--mapping", choices=("simple", "multi"), default="simple",
                        help="dispel4py mapping (default simple)")
        sp.add_argument("-n", "--processes", type=int, default=(os.cpu_count() or 1) + 2,
                        help="processes of the multi mapping: a task source, a writer and N-2 workers "
                             "(default: CPU count + 2)")
        sp.add_argument("--min-snr", type=float, default=KEYS["min_snr"].default,
                        help="components below this signal-to-noise ratio are not used, where the record has "
                             f"pre-event noise (default {KEYS['min_snr'].default:g}; 0: no test)")

    f = sub.add_parser("fetch", help="event, stations and waveforms into a run workspace, processed to Z/R/T")
    f.add_argument("--event-id", help="FDSN event id, looked up at --event-service")
    f.add_argument("--event-service", default="EMSC", help="FDSN event provider or URL (default EMSC)")
    f.add_argument("--origin", help="TIME,LAT,LON,DEPTH_KM,MAG (instead of --event-id)")
    f.add_argument("--quakeml", help="QuakeML file (instead of --event-id)")
    f.add_argument("--inventory", action="append",
                   help="station metadata instead of the station service: StationXML, dataless SEED, RESP, SACPZ, "
                        "ISOLA pole-zero files, station lists; files or folders, repeatable")
    f.add_argument("--station-service", default="eida-routing",
                   help="FDSN station provider, routing service or URL (default eida-routing)")
    f.add_argument("--sds", help="local SDS archive (instead of the dataselect service)")
    f.add_argument("--waveforms", help="folder of event waveform files, any format ObsPy reads (instead of the "
                                       "dataselect service); SAC headers give coordinates and units where set")
    f.add_argument("--dataselect-service", help="FDSN dataselect provider or URL (default: the station service)")
    f.add_argument("--min-distance", type=float, help="km (default: by magnitude, as the DAG's set-up)")
    f.add_argument("--max-distance", type=float, help="km (default: by magnitude, as the DAG's set-up)")
    f.add_argument("--magnitude-type", help="the type of the origin's magnitude (ML, mb, Ms, Mw...), converted to Mw "
                                            "for the set-up as the DAG does")
    f.add_argument("--max-stations", type=int, default=60, help="default 60 (azimuthal coverage preferred)")
    f.add_argument("--min-interstation", type=float, default=5.0, help="km (default 5)")
    f.add_argument("--channels", default=KEYS["channels"].default,
                   help=f"band+instrument codes by priority (default {KEYS['channels'].default}; add EH,SH for "
                        "short-period sensors); HN/HG replace clipped broadband records")
    f.add_argument("--min-stations", type=int, default=3, help="fewer usable stations fail the fetch (default 3)")
    f.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    f.add_argument("--retries", type=int, default=3, help="retries after a timeout or server error (default 3)")
    f.add_argument("--run-id", help="run id (default fetch_<UTC time>)")
    units_options(f)
    processing_options(f, band=None, dt=None)
    f.set_defaults(func=cmd_fetch)

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
    processing_options(pr)
    pr.set_defaults(func=cmd_process)

    sp = sub.add_parser("specfem", help="SPECFEM3D steps (run in the specfem3d image)")
    sp.add_argument("action", choices=("databases", "simulate"),
                    help="databases: mesher + databases once per model; simulate: solver + collection per variant")
    sp.add_argument("--workdir", required=True, help="run folder with DATA/ (Par_file, STATIONS, CMTSOLUTION)")
    sp.add_argument("--out", help="simulate: the synthetics folder to write")
    sp.add_argument("--record", help="simulate, in a run: the run's record of this variant ({label, key, path, "
                                     "reused}); the catalogue decides whether to compute. Without it: compute")
    sp.add_argument("--label", help="simulate: the source variant")
    sp.add_argument("--shortest-period", type=float, help="databases: the band's shortest period (s), refused when "
                                                          "the mesh does not resolve it")
    sp.set_defaults(func=cmd_specfem)

    d = sub.add_parser("demo", help="generate the demo scenario and run cmt_inversion on it through Airflow")
    d.add_argument("--prepare-only", action="store_true",
                   help="only generate the scenario and print its run conf as JSON on stdout")
    d.add_argument("--fresh", action="store_true", help="regenerate the scenario even if it exists")
    d.add_argument("--params", type=int, choices=(6, 7, 9), default=6, help="inversion parameters (default 6)")
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser("run", help="run cmt_inversion through Airflow with a run conf (JSON file)")
    r.add_argument("--conf", required=True, help="run conf JSON (keys: see the README's run-conf reference)")
    r.set_defaults(func=cmd_run)

    a = sub.add_parser("airflow-home", help="print how to start airflow standalone with the cmtflow DAGs")
    a.set_defaults(func=cmd_airflow_home)

    c = sub.add_parser("catalogue", help="search the catalogue of events, runs, simulations and solutions")
    c.add_argument("what", choices=("events", "runs", "simulations", "solutions"))
    c.add_argument("--event", help="event id")
    c.add_argument("--since", help="events from this time (ISO 8601)")
    c.add_argument("--until", help="events up to this time (ISO 8601)")
    c.add_argument("--min-magnitude", type=float, help="events of at least this magnitude")
    c.add_argument("--region", help="events in LATMIN,LATMAX,LONMIN,LONMAX (degrees)")
    c.add_argument("--state", choices=("running", "success", "failed"), help="runs in this state")
    c.add_argument("--model", help="simulations with this model")
    c.add_argument("--solver", help="simulations of this solver (cmtflow-fk, specfem3d)")
    c.add_argument("--reused", choices=("yes", "no"), help="simulation uses that were (not) reuses")
    c.add_argument("--run", help="simulations used by this run")
    c.add_argument("--json", action="store_true", help="JSON output")
    c.set_defaults(func=cmd_catalogue)

    r = sub.add_parser("runner", help="the warm runners of 'cmtflow run' and 'cmtflow demo' (CMTFLOW_RUNNER): list "
                                      "them, or stop them")
    r.add_argument("--stop", action="store_true", help="stop them (a run in progress finishes first)")
    r.set_defaults(func=cmd_runner)

    m = sub.add_parser("models", help="list the shipped 1D models, or show a model file as read")
    m.add_argument("files", nargs="*", help="model files (FK, CPS model96, ISOLA crustal.dat, a table with a header "
                                            "row) or shipped names: print their layers as read, with the notes")
    m.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return execute(args)


def execute(args: argparse.Namespace) -> int:
    """Run parsed command line ``args``: the exit status, with CmtflowError and a full disk
    reported on stderr (status 2). The process's logging is left as it is: a step run inside
    an Airflow task logs through the task's handlers."""
    if args.data_root:  # one data root for this process and every step it starts
        os.environ["CMTFLOW_HOME"] = str(Path(args.data_root).expanduser().resolve())
    try:
        return args.func(args)
    except CmtflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 128 + exc.signum if isinstance(exc, RunStopped) else 2  # a stopped run: as the signal would
    except OSError as exc:
        what = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                errno.EROFS: "read-only file system", errno.EFBIG: "file size limit exceeded"}.get(exc.errno)
        if what is None:
            raise
        from cmtflow.config import data_root

        root = data_root()
        free = shutil.disk_usage(root).free / 2**20 if root.exists() else 0.0
        print(f"error: {what}{' writing ' + str(exc.filename) if exc.filename else ''} (data root {root}: "
              f"{free:.1f} MiB free); nothing incomplete was kept", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
