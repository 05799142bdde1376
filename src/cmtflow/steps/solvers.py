"""The solvers a run can use, as steps, behind one interface, as MTUQ puts each Green's-function backend
behind one base: the stages ask a :class:`Solver` what they need and never branch on its name.

A solver checks the starting source, chooses the depth derivative's step, plans the run's
simulations (writes what its steps read, says what identifies and samples them: the solver
part of the content key), and names the container steps: once per model before the
simulations (SPECFEM3D's mesh and databases; none for the embedded solver) and the simulation
steps (one per source variant for SPECFEM3D; one for all variants for the embedded solver,
which shares its Green's functions between them). Whatever a solver computes, its steps
write the common synthetics folder (:func:`cmtflow.solvers.synthetics.write_synthetics_folder`),
which the rest reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from cmtflow.inversion.simulations import DDEPTH_KM
from cmtflow.runconf import RunConf
from cmtflow.steps import specfem, synth
from cmtflow.steps.container import ContainerStep
from cmtflow.source import Source
from cmtflow.workspace import RunWorkspace, SimulationPlan

#: Requests/limits of the embedded solver's step (Kubernetes); the local backend ignores them.
SIMULATE_RESOURCES = {"cpu": "2", "memory": "4Gi"}


@dataclass(frozen=True)
class SimulationSetup:
    """What identifies a run's simulations besides source and stations, and how they are
    sampled (s, samples): recorded in ``simulations/plan.json``."""

    solver: str
    version: str
    model_id: str
    model_label: str
    dt: float
    npts: int


@dataclass(frozen=True)
class VariantJob:
    """One simulation a step performs: the source variant's CMTSOLUTION, the content-addressed
    folder its synthetics go to, and the run's record of it (``simulations/<variant>.json``)."""

    variant: str
    cmtsolution: Path
    out: Path
    record: Path


class Solver(Protocol):
    name: str
    #: True where one step simulates every variant: their synthetics are then processed in one step too
    one_step: bool

    def solvable(self, source: Source, conf: RunConf) -> Source:
        """The starting source as the solver can simulate it, or a clear refusal now."""

    def depth_step_km(self, conf: RunConf, depth_km: float) -> float:
        """The depth derivative's step (km)."""

    def left_out(self, conf: RunConf, stations: list[dict]) -> dict[str, str]:
        """``{"NET.STA": reason}`` for the stations the solver cannot simulate."""

    def plan(self, run_dir: Path, conf: RunConf, variants: dict[str, Source], stations: list[dict],
             seconds: float) -> SimulationSetup:
        """Write what the simulation steps read; ``seconds`` of synthetics after the origin wanted."""

    def prepare_steps(self, run_dir: Path, conf: RunConf) -> list[ContainerStep]:
        """Steps once per model, before the simulations."""

    def simulate_steps(self, run_dir: Path, conf: RunConf, plan: SimulationPlan, jobs: list[VariantJob],
                       data_root: Path) -> list[ContainerStep]:
        """The steps that perform ``jobs`` (``plan``: the run's simulation plan)."""


class EmbeddedFK:
    """The embedded 1D frequency-wavenumber solver (``cmtflow synth``, one step for all variants)."""

    name = "fk"
    #: the variants come from one step, so their processing is one step too (one start-up)
    one_step = True

    def solvable(self, source: Source, conf: RunConf) -> Source:
        """Moved off the model's interfaces (a source on one has no layer to sit in)."""
        from cmtflow.models import load_model
        from cmtflow.solvers.fk import check_source_depth, off_interfaces

        model = load_model(conf.model)
        depth = off_interfaces(model, source.depth_km)
        for d in (depth, depth + self.depth_step_km(conf, depth)):  # the depth derivative's source too
            check_source_depth(model, d)
        return replace(source, depth_km=depth)

    def depth_step_km(self, conf: RunConf, depth_km: float) -> float:
        """``DDEPTH_KM``, lengthened so that the perturbed source is off the interfaces too."""
        from cmtflow.models import load_model
        from cmtflow.solvers.fk import off_interfaces

        return off_interfaces(load_model(conf.model), depth_km + DDEPTH_KM) - depth_km

    def left_out(self, conf, stations) -> dict[str, str]:
        return {}  # the distance range is the selection's

    def plan(self, run_dir, conf, variants, stations, seconds) -> SimulationSetup:
        from cmtflow.models import load_model
        from cmtflow.solvers.fk import SOLVER_NAME, SOLVER_VERSION, record_samples

        npts = record_samples(seconds, conf.tmax, conf.dt)
        return SimulationSetup(SOLVER_NAME, SOLVER_VERSION, load_model(conf.model).fingerprint(), conf.model,
                               conf.dt, npts)

    def prepare_steps(self, run_dir, conf) -> list[ContainerStep]:
        return []

    def simulate_steps(self, run_dir, conf, plan, jobs, data_root) -> list[ContainerStep]:
        """One step for all variants: they share their Green's functions (one wavenumber
        integration per source depth), and one process costs one start-up."""
        if not jobs:
            return []
        ws = RunWorkspace.at(run_dir)
        command = synth.variants_command(data_root, conf.model, ws.stations_file, plan.dt, plan.npts,
                                         [(j.variant, j.cmtsolution, j.out, j.record) for j in jobs])
        return [ContainerStep("simulate-fk", "cmtflow", command, inputs=(str(ws.simulations),),
                              outputs=tuple(str(j.out) for j in jobs), resources=SIMULATE_RESOURCES)]


class Specfem3D:
    """SPECFEM3D_Cartesian: the model's mesh and databases once, ``xspecfem3D`` per variant."""

    name = "specfem3d"
    #: each variant is a simulation (a pod) of its own, and so is its processing
    one_step = False

    def solvable(self, source: Source, conf: RunConf) -> Source:
        return source  # checked against the mesh when the simulations are planned

    def depth_step_km(self, conf: RunConf, depth_km: float) -> float:
        return DDEPTH_KM

    def left_out(self, conf, stations) -> dict[str, str]:
        from cmtflow.solvers.specfem.inputs import stations_outside_mesh

        return stations_outside_mesh(Path(conf.specfem_par_file), stations)

    def plan(self, run_dir, conf, variants, stations, seconds) -> SimulationSetup:
        from cmtflow.solvers.specfem import plan as specfem_plan
        from cmtflow.solvers.specfem.inputs import model_fingerprint, resolve_run_settings

        par_file = Path(conf.specfem_par_file)
        nproc, dt = resolve_run_settings(par_file, conf.specfem_nproc, conf.specfem_dt)
        nstep = int(math.ceil(seconds / dt))  # no power of two: every step costs the whole mesh
        specfem_plan.prepare(RunWorkspace.at(run_dir).specfem, variants, stations, par_file, nstep, dt, nproc, conf.specfem_gpu)
        model_id = model_fingerprint(par_file)
        return SimulationSetup(specfem_plan.SOLVER_NAME, specfem_plan.SOLVER_VERSION, model_id,
                               f"{par_file} (sha256 {model_id[:12]})", dt, nstep)

    def prepare_steps(self, run_dir, conf) -> list[ContainerStep]:
        from cmtflow.solvers.specfem.plan import RESOURCES

        workdir = RunWorkspace.at(run_dir).specfem / "databases"
        return [ContainerStep("specfem-databases", "specfem3d", specfem.databases_command(workdir, conf.tmin),
                              inputs=(str(workdir / "DATA"),), outputs=(str(workdir / "DATABASES_MPI"),),
                              resources=RESOURCES["databases"])]

    def simulate_steps(self, run_dir, conf, plan, jobs, data_root) -> list[ContainerStep]:
        """One step per variant: each is a simulation of the whole mesh."""
        from cmtflow.solvers.specfem.plan import RESOURCES

        specfem_dir, steps = RunWorkspace.at(run_dir).specfem, []
        for job in jobs:
            workdir = specfem_dir / job.variant
            steps.append(ContainerStep(f"simulate-{job.variant}", "specfem3d",
                                       specfem.simulate_command(workdir, job.out, job.record, job.variant),
                                       inputs=(str(workdir / "DATA"),), outputs=(str(job.out),),
                                       resources=RESOURCES["solve"], gpu=conf.specfem_gpu))
        return steps


SOLVERS: dict[str, Solver] = {"fk": EmbeddedFK(), "specfem3d": Specfem3D()}


def solver_for(conf: RunConf) -> Solver:
    """The solver of a run conf (``solver``: ``fk`` or ``specfem3d``)."""
    return SOLVERS[conf.solver]
