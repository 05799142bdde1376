"""``cmtflow invert``: a CMT3D inversion of event waveforms on this machine, without Airflow.

The set-up (band, model, sampling, distances) is the DAG's where the arguments leave it open;
the records are read as ``cmtflow fetch`` or a CAP/SAC event folder leaves them; the
uncertainty is a bootstrap of re-inversions, and the grade is the DAG's.
"""

from __future__ import annotations

import json
import time

from cmtflow.commands.common import answer_line, quality_line, setup_from_args
from cmtflow.errors import CmtflowError
from cmtflow.runconf import KEYS, RunConf


def cmd_invert(args) -> int:
    from cmtflow.inversion import InversionConfig
    from cmtflow.report.publish import write_products
    from cmtflow.misfit import WeightConfig, read_cap_weights
    from cmtflow.processing import Band
    from cmtflow.inversion.setup import time_shift_search_s
    from cmtflow.source import read_source

    initial = read_source(args.initial)
    reference_mw = initial.mw  # the magnitude check's, whatever a second pass starts from
    cap = read_cap_weights(args.weights) if args.weights else None
    band = Band.parse(args.band) if args.band else None
    t = time.perf_counter()
    extra = {}
    magnitude = (args.magnitude or initial.mw, args.magnitude_type or ("Mw" if args.magnitude is None else "M"))
    time_shift = time_shift_search_s(initial.half_duration)
    if not args.synthetics:  # the embedded solver: the DAG's set-up where the arguments leave it open
        setup = setup_from_args(args, initial.latitude, initial.longitude, *magnitude)
        band, model, dt = Band(setup.tmin, setup.tmax), setup.model, setup.dt
        time_shift = setup.time_shift_search_s
        extra["setup"] = setup.as_dict()
    # the inversions repeat nothing: the uncertainty is the bootstrap of re-inversions below
    config = InversionConfig(n_params=args.params, double_couple=args.dc, bootstrap=0,
                             max_time_shift=args.max_time_shift if args.max_time_shift is not None else time_shift,
                             damping=args.damping, weights=WeightConfig(energy_normalisation=args.energy_normalisation))
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
        from cmtflow.inversion.specfem_derivatives import read_specfem_dataset

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
        again = second_pass(extra["setup"], RunConf(), initial.latitude, initial.longitude, result.source.mw)
        if again:  # the set-up corrected by the inverted Mw, as the DAG's second pass
            print(f"set up again: {again['reason']}")
            first = first_pass_record("first pass of this command", extra["setup"], again["inverted_mw"], "-",
                                      again["reason"])
            setup = setup_from_args(args, initial.latitude, initial.longitude, *magnitude, setup_mw=again["inverted_mw"])
            band = Band(setup.tmin, setup.tmax)
            initial = initial.with_mt(result.source.mt)
            result, dataset, found = _invert_records(args, initial, setup, config, cap)
            extra.update(found)
            extra["setup"] = {**setup.as_dict(), "first_pass": first}
    found = _uncertainty_and_predictors(result, dataset, config, args.bootstrap, extra)
    path = write_products(result, dataset, args.out, extra, reference_magnitude=(reference_mw, "Mw (initial source)"),
                          band=(band.tmin, band.tmax) if band else None, predictors=found)
    record = json.loads(path.read_text())
    print(f"{answer_line(record)}; Kagan to initial {result.kagan_to_initial:.1f} deg "
          f"({len(result.stations_used)} stations, {time.perf_counter() - t:.1f} s)")
    print(quality_line(record))
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
    from cmtflow.processing.event_records import read_event_waveforms, stations_to_zrt
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
    npts = _record_samples(stations, initial, band, setup.dt)
    result, dataset = invert_embedded(stream, stations, initial, setup.model, band, setup.dt, npts, config,
                                      quantity=data.units["quantity"], cap_weights=cap, picker=args.picker,
                                      perturbation=Perturbation(args.ddepth, args.dlatlon, args.dlatlon))
    return result, dataset, {"data_units": data.units, "data_notes": data.notes}


def _record_samples(stations, source, band, dt) -> int:
    """The synthetics' samples, sized as the DAG sizes them: the processing window of the
    farthest station and the filter's response after it, FK's wrap-around margin, a power of
    two (:func:`cmtflow.solvers.fk.record_samples`)."""
    from obspy.geodetics import gps2dist_azimuth

    from cmtflow.processing.preprocess import PreprocessConfig
    from cmtflow.solvers.fk import record_samples

    far = max(gps2dist_azimuth(source.latitude, source.longitude, s.latitude, s.longitude)[0] / 1000.0
              for s in stations)
    return record_samples(PreprocessConfig(band.tmin, band.tmax, dt).synthetic_seconds(far), band.tmax, dt)


def add_parser(sub) -> None:
    """``invert`` on a ``cmtflow`` parser's subcommands: the run conf's defaults where it has the
    setting (parameters, bootstrap, windows)."""
    from cmtflow.inversion.simulations import DDEPTH_KM, DLATLON_DEG

    inv = sub.add_parser("invert", help="CMT3D inversion of event waveforms (no Airflow)")
    inv.add_argument("--data", help="folder of waveforms: SAC with event/station headers, or miniSEED + StationXML; "
                                    "or a run folder of 'cmtflow fetch' (or its processed folder)")
    inv.add_argument("--initial", required=True, help="initial source: CMTSOLUTION or QuakeML")
    inv.add_argument("--model", help="1D model for the embedded solver (name or FK file; default: by region, as "
                                     "the DAG's set-up)")
    inv.add_argument("--synthetics", help="SPECFEM synthetics folder base (paths in --windows are relative to it)")
    inv.add_argument("--windows", help="FLEXWIN window file (with --synthetics)")
    inv.add_argument("--out", required=True, help="output folder for solution.json, CMTSOLUTION, QuakeML, figures")
    inv.add_argument("--params", type=int, choices=KEYS["n_params"].schema["enum"], default=RunConf.n_params,
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
    inv.add_argument("--bootstrap", type=int, default=RunConf.bootstrap,
                     help="re-inversions of resampled stations for the uncertainties and the grade (default "
                          f"{RunConf.bootstrap})")
    inv.add_argument("--max-time-shift", type=float,
                     help="centroid-time search half width, s (default: by the set-up, two half durations, at "
                          "least 5 s)")
    inv.add_argument("--dt", type=float, help="synthetic sampling interval, s (default: by magnitude)")
    inv.add_argument("--quantity", choices=("displacement", "velocity", "acceleration"),
                     help="what the data are, when no SAC idep header or instrument response says it (synthetics "
                          "are made to match); never guessed: without it such data are refused")
    inv.add_argument("--scale", type=float, default=None,
                     help="multiply the data by this to get SI units (cm/s: 0.01; overrides SAC idep's nm)")
    inv.add_argument("--channels",
                     help=f"band+instrument codes by priority (default {RunConf.channels}, then other bands "
                          "in the folder but short-period EH,SH: name them to use them); HN/HG replace clipped "
                          "broadband records")
    inv.add_argument("--synthetic-test", action="store_true",
                     help="recovery test: the initial source is the truth; start from a perturbed one, add noise")
    inv.add_argument("--seed", type=int, default=1, help="random seed of the synthetic test")
    inv.add_argument("--stations", help="synthetic test: station file (StationXML or SPECFEM STATIONS) giving the "
                                        "station positions (default: --data's stations, else 24 random ones)")
    inv.add_argument("--noise", type=float, default=0.1,
                     help="synthetic test: noise rms as a fraction of each trace's rms (default 0.1)")
    inv.add_argument("--picker", choices=KEYS["picker"].schema["enum"], default=RunConf.picker,
                     help="windows: FLEXWIN (pyflex, the 'flexwin' extra), arrival times, or auto (FLEXWIN if "
                          "installed, arrival times where it finds none)")
    inv.add_argument("--ddepth", type=float, default=DDEPTH_KM,
                     help=f"depth perturbation of the depth derivative, km (default {DDEPTH_KM:g})")
    inv.add_argument("--dlatlon", type=float, default=DLATLON_DEG,
                     help=f"latitude/longitude perturbation of the location derivatives, degrees (default "
                          f"{DLATLON_DEG:g})")
    inv.set_defaults(func=cmd_invert)
