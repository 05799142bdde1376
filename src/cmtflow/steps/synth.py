"""``cmtflow greens`` and ``cmtflow synth``: the embedded FK solver's commands.

``synth`` is both a user command (synthetics for a source and stations) and the simulation
step of a run (:func:`variants_command`: every source variant in one process, each claimed,
reused or computed through the catalogue).
"""

from __future__ import annotations

import time
from pathlib import Path

from cmtflow.errors import CmtflowError
from cmtflow.steps.commands import float_list
from cmtflow.workspace import SYNTHETICS_MANIFEST


def variants_command(data_root: Path, model: str, stations: Path, dt: float, npts: int,
                     variants: list[tuple[str, Path, Path, Path]]) -> tuple[str, ...]:
    """The simulation step of a run's ``variants`` (label, CMTSOLUTION, output folder, record)."""
    return ("cmtflow", "--data-root", str(data_root), "synth", "--model", model, "--stations", str(stations),
            "--dt", str(dt), "--npts", str(npts),
            *(arg for label, source, out, record in variants
              for arg in ("--variant", label, str(source), str(out), str(record))))


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
        print(f"{label}: {'reused' if result.reused else 'computed'} simulation {result.key} "
              f"({time.perf_counter() - t:.2f} s) -> {out}")
    return 0


def _solver_options(sp) -> None:
    sp.add_argument("--model", required=True, help="shipped model name (see 'cmtflow models') or FK model file")
    sp.add_argument("--dt", type=float, default=0.2, help="sampling interval in s (default 0.2)")
    sp.add_argument("--npts", type=int, default=1024, help="samples per trace, a power of two (default 1024)")
    sp.add_argument("--fmax", type=float, default=None,
                    help="highest frequency computed, Hz (default: Nyquist); output is band-limited to it")


def add_parsers(sub) -> None:
    """``greens`` and ``synth`` on a ``cmtflow`` parser's subcommands."""
    g = sub.add_parser("greens", help="Green's functions of the fundamental sources as FK-convention SAC files")
    _solver_options(g)
    g.add_argument("--depth", type=float, required=True, help="source depth in km")
    g.add_argument("--distances", type=float_list, required=True, help="comma-separated epicentral distances in km")
    g.add_argument("--out", required=True, help="output folder; files go to OUT/<model>_<depth>/<dist>.grn.<ext>")
    g.set_defaults(func=cmd_greens)

    s = sub.add_parser("synth", help="3-component displacement synthetics (miniSEED, m) for a source and stations")
    _solver_options(s)
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
