"""``cmtflow specfem``: the SPECFEM3D steps (run in the specfem3d image).

``databases`` meshes a model and generates its databases once; ``simulate`` runs the solver
for one source variant and collects its seismograms (through the catalogue within a run).
:func:`databases_command` and :func:`simulate_command` write a run's command lines.
"""

from __future__ import annotations

from pathlib import Path

from cmtflow.errors import CmtflowError


def databases_command(workdir: Path, shortest_period_s: float | None = None) -> tuple[str, ...]:
    """The mesh and databases step; with ``shortest_period_s`` (the run's tmin), checked to
    resolve it."""
    return ("cmtflow", "specfem", "databases", "--workdir", str(workdir),
            *(("--shortest-period", f"{shortest_period_s:g}") if shortest_period_s else ()))


def simulate_command(workdir: Path, out: Path, record: Path | None, label: str) -> tuple[str, ...]:
    """The solver step of one variant; with ``record`` (a run's), through the catalogue."""
    return ("cmtflow", "specfem", "simulate", "--workdir", str(workdir), "--out", str(out),
            *(("--record", str(record)) if record else ()), "--label", label)


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
    print(f"{'reused' if result.reused else 'computed'} SPECFEM3D simulation {result.key} -> {out}")
    return 0


def add_parser(sub) -> None:
    """``specfem`` on a ``cmtflow`` parser's subcommands."""
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
