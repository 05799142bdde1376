"""``cmtflow fetch``: event, stations and waveforms into a run workspace, processed to Z/R/T,
on this machine, without Airflow (the DAG's first stages, with the same set-up and checks)."""

from __future__ import annotations

import os
import time

from cmtflow.commands.common import setup_from_args
from cmtflow.config import Settings
from cmtflow.errors import CmtflowError
from cmtflow.runconf import RunConf
from cmtflow.steps.process import add_processing_options, preprocess_config
from cmtflow.workspace import RunWorkspace


def _earthquake(args):
    from cmtflow.data.events import earthquake_from_origin, fetch_earthquake, read_earthquake
    from cmtflow.data.services import ServiceConfig

    given = [x for x in (args.event_id, args.origin, args.quakeml) if x]
    if len(given) != 1:
        raise CmtflowError("give exactly one of --event-id, --origin or --quakeml")
    if args.event_id:
        return fetch_earthquake(args.event_id, ServiceConfig.from_env(args.event_service))
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


def _data_conf(args) -> RunConf:
    """The run conf of ``fetch``'s arguments (the rest at the run conf's defaults), as the DAG's
    stages would read it. Its inventory files are passed apart: ``--inventory`` repeats."""
    from cmtflow.processing import Band

    source = "files" if args.waveforms else "sds" if args.sds else "fdsn"
    band = Band.parse(args.band) if args.band else None
    return RunConf(data_source=source, sds_path=args.sds, waveforms=args.waveforms,
                   station_service=args.station_service, dataselect_service=args.dataselect_service,
                   channels=args.channels, data_quantity=args.quantity,
                   data_scale=args.scale if args.scale is not None else RunConf.data_scale,
                   min_stations=args.min_stations, min_snr=args.min_snr, min_distance_km=args.min_distance,
                   max_distance_km=args.max_distance, max_stations=args.max_stations,
                   **({"tmin": band.tmin, "tmax": band.tmax, "dt": args.dt} if band else {}))


def cmd_fetch(args) -> int:
    from dataclasses import replace

    from obspy import UTCDateTime

    from cmtflow.data.fetch import fetch_waveforms
    from cmtflow.data.run_data import fetch_config, selection_config, station_metadata, waveform_archive
    from cmtflow.data.selection import select_stations
    from cmtflow.processing.graphs import run_preprocess
    from cmtflow.processing.tasks import observed_tasks
    from cmtflow.workspace import write_json_atomic

    # the services read the deployment's patience from the settings, deep in the data layer
    for setting, given in ((Settings.fdsn_timeout_s, args.timeout), (Settings.fdsn_retries, args.retries)):
        if given is not None:
            os.environ[setting.name] = str(given)
    t = time.perf_counter()
    quake = _earthquake(args)
    if args.magnitude_type:
        quake = replace(quake, magnitude_type=args.magnitude_type)
    setup = setup_from_args(args, quake.latitude, quake.longitude, quake.magnitude, quake.magnitude_type)
    args.band, args.dt = f"{setup.tmin:g},{setup.tmax:g}", setup.dt
    args.min_distance, args.max_distance = setup.min_distance_km, setup.max_distance_km
    processing = preprocess_config(args, remove_response=True)
    conf = _data_conf(args)
    run_id = args.run_id or f"fetch_{UTCDateTime().strftime('%Y%m%dT%H%M%S')}"
    workspace = RunWorkspace.create(quake.event_id, run_id, args.data_root)
    write_json_atomic(workspace.event_file, quake.as_dict())
    print(f"event {quake.event_id}: {quake.time} {quake.latitude:.4f} {quake.longitude:.4f} "
          f"{quake.depth_km:.1f} km {quake.magnitude_type} {quake.magnitude:.1f} ({quake.provider})")
    selecting = replace(selection_config(conf), min_interstation_km=args.min_interstation)
    metadata = station_metadata(conf, quake, selecting, args.inventory)
    for note in metadata.notes:
        print(f"  metadata: {note}")
    selection = select_stations(metadata.inventory, quake, selecting)
    for code, reason in metadata.problems.items():
        selection.dropped.setdefault(code, reason)
    fetching = fetch_config(conf)
    report = fetch_waveforms(quake, selection, metadata.inventory, waveform_archive(conf), workspace, fetching)
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


def add_parser(sub) -> None:
    """``fetch`` on a ``cmtflow`` parser's subcommands."""
    def units_options(sp):
        sp.add_argument("--quantity", choices=("displacement", "velocity", "acceleration"),
                        help="what records without an instrument response are (SAC idep says it when set)")
        sp.add_argument("--scale", type=float, default=None,
                        help="factor from the records' units to SI (cm/s: 0.01; nm: 1e-9)")

    f = sub.add_parser("fetch", help="event, stations and waveforms into a run workspace, processed to Z/R/T")
    f.add_argument("--event-id", help="FDSN event id, looked up at --event-service")
    f.add_argument("--event-service", default=RunConf.event_service,
                   help=f"FDSN event provider or URL (default {RunConf.event_service})")
    f.add_argument("--origin", help="TIME,LAT,LON,DEPTH_KM,MAG (instead of --event-id)")
    f.add_argument("--quakeml", help="QuakeML file (instead of --event-id)")
    f.add_argument("--inventory", action="append",
                   help="station metadata instead of the station service: StationXML, dataless SEED, RESP, SACPZ, "
                        "ISOLA pole-zero files, station lists; files or folders, repeatable")
    f.add_argument("--station-service", default=RunConf.station_service,
                   help=f"FDSN station provider, routing service or URL (default {RunConf.station_service})")
    f.add_argument("--sds", help="local SDS archive (instead of the dataselect service)")
    f.add_argument("--waveforms", help="folder of event waveform files, any format ObsPy reads (instead of the "
                                       "dataselect service); SAC headers give coordinates and units where set")
    f.add_argument("--dataselect-service", help="FDSN dataselect provider or URL (default: the station service)")
    f.add_argument("--min-distance", type=float, help="km (default: by magnitude, as the DAG's set-up)")
    f.add_argument("--max-distance", type=float, help="km (default: by magnitude, as the DAG's set-up)")
    f.add_argument("--magnitude-type", help="the type of the origin's magnitude (ML, mb, Ms, Mw...), converted to Mw "
                                            "for the set-up as the DAG does")
    f.add_argument("--max-stations", type=int, default=RunConf.max_stations,
                   help=f"default {RunConf.max_stations} (azimuthal coverage preferred)")
    f.add_argument("--min-interstation", type=float, default=5.0, help="km (default 5)")
    f.add_argument("--channels", default=RunConf.channels,
                   help=f"band+instrument codes by priority (default {RunConf.channels}; add EH,SH for "
                        "short-period sensors); HN/HG replace clipped broadband records")
    f.add_argument("--min-stations", type=int, default=RunConf.min_stations,
                   help=f"fewer usable stations fail the fetch (default {RunConf.min_stations})")
    f.add_argument("--timeout", type=float, help="seconds per request (default: CMTFLOW_FDSN_TIMEOUT_S, "
                   f"{Settings.fdsn_timeout_s.default:g})")
    f.add_argument("--retries", type=int, help="retries after a timeout or server error (default: "
                   f"CMTFLOW_FDSN_RETRIES, {Settings.fdsn_retries.default})")
    f.add_argument("--run-id", help="run id (default fetch_<UTC time>)")
    units_options(f)
    add_processing_options(f, band=None, dt=None)
    f.set_defaults(func=cmd_fetch)
