"""The SPECFEM3D run order of a cmt_inversion run, as folders and container steps.

Once per model: the mesher (``xmeshfem3D``, which also partitions the mesh for NPROC
ranks) and ``xgenerate_databases`` in ``specfem/databases``; then, per source variant,
``xspecfem3D`` in ``specfem/<variant>`` reading the shared databases (``LOCAL_PATH``) and
its own ``DATA/CMTSOLUTION``, and the collection of its seismograms into the
content-addressed simulation folder. Each step is a ``cmtflow specfem ...`` command line,
so the local and Kubernetes backends run the same thing; the solver steps ask for a GPU when
the run says so.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from cmtflow.config import settings
from cmtflow.errors import CmtflowError
from cmtflow.solvers.specfem.inputs import (check_sources_inside_mesh, copy_model, fortran_float, read_par_file,
                                            run_parameters, write_data_folder, write_par_file)
from cmtflow.source import Source

SOLVER_NAME = "specfem3d"
SOLVER_VERSION = "4.1.1"
RESOURCES = {"databases": {"cpu": "4", "memory": "8Gi"}, "solve": {"cpu": "4", "memory": "16Gi"}}


def prepare(specfem_dir: Path, variants: dict[str, Source], stations: list[dict], par_file: Path, nstep: int,
            dt: float, nproc: int, gpu: bool) -> dict[str, Path]:
    """Write ``databases/DATA`` (Par_file, the model's folders) and ``<variant>/DATA`` for every
    variant; returns the folders."""
    check_sources_inside_mesh(par_file, variants)
    databases = specfem_dir / "databases"
    local_path = str((databases / "DATABASES_MPI").resolve())
    par = write_par_file(par_file.read_text(), run_parameters(nstep, dt, nproc, gpu, local_path))
    initial = variants.get("initial") or next(iter(variants.values()))
    folders = {"databases": databases}
    copy_model(par_file, write_data_folder(databases, initial, stations, par), local_path)
    (databases / "DATABASES_MPI").mkdir(exist_ok=True)
    (databases / "OUTPUT_FILES").mkdir(exist_ok=True)
    for name, source in variants.items():
        folder = specfem_dir / name
        write_data_folder(folder, source, stations, par)
        (folder / "OUTPUT_FILES").mkdir(exist_ok=True)
        folders[name] = folder
    return folders


#: Headers xgenerate_databases writes into its OUTPUT_FILES that xspecfem3D reads from its own.
MESHER_HEADERS = ("values_from_mesher.h", "surface_from_mesher.h")


def _databases_output(workdir: Path) -> Path:
    """The databases step's ``OUTPUT_FILES`` (beside the Par_file's ``LOCAL_PATH``)."""
    local_path = read_par_file((workdir / "DATA" / "Par_file").read_text()).get("LOCAL_PATH", "")
    return Path(local_path).parent / "OUTPUT_FILES"


def _reported(workdir: Path, label: str) -> float | None:
    """A number xgenerate_databases reports as ``*** <label> = <value>``, or None."""
    report = _databases_output(workdir) / "output_generate_databases.txt"
    if not report.is_file():
        return None
    m = re.search(rf"{label}\s*=\s*([0-9.Ee+-]+)", report.read_text(errors="replace"))
    return float(m.group(1)) if m else None


def largest_stable_dt(workdir: Path) -> float | None:
    """The mesh's largest stable time step (s), as xgenerate_databases reports it
    (``*** Maximum suggested time step``), or None when it did not."""
    return _reported(workdir, "Maximum suggested time step")


def check_resolution(workdir: Path, shortest_period_s: float) -> None:
    """Refuse a band the mesh does not resolve: below xgenerate_databases' ``Minimum period
    resolved`` (about 5 points per wavelength) the synthetics carry numerical dispersion,
    and the inversion would fit it."""
    resolved = _reported(workdir, "Minimum period resolved")
    if resolved is not None and shortest_period_s < resolved * (1 - 1e-6):
        raise CmtflowError(f"tmin: {shortest_period_s:g} s is shorter than the shortest period the SPECFEM3D mesh "
                           f"resolves, {resolved:.3g} s (xgenerate_databases: 'Minimum period resolved'): raise tmin "
                           "or use a finer mesh")


def check_time_step(workdir: Path) -> None:
    """Refuse a run whose DT exceeds the mesh's largest stable one: it would blow up
    (a floating-point exception or NaNs after minutes of computing)."""
    dt = fortran_float(read_par_file((workdir / "DATA" / "Par_file").read_text())["DT"])
    limit = largest_stable_dt(workdir)
    if limit is not None and dt > limit * (1 + 1e-6):
        raise CmtflowError(f"specfem_dt: DT {dt:g} s exceeds the mesh's largest stable time step {limit:.4g} s "
                           "(CFL; xgenerate_databases: 'Maximum suggested time step'): the simulation would blow up")


def attach_databases(workdir: Path) -> None:
    """Give a variant's run the shared databases' headers (the databases step's
    ``OUTPUT_FILES``)."""
    made = _databases_output(workdir)
    if not (made / MESHER_HEADERS[0]).is_file():
        raise CmtflowError(f"{made}/{MESHER_HEADERS[0]} not found: run the databases step (cmtflow specfem "
                           "databases) before the solver")
    (workdir / "OUTPUT_FILES").mkdir(exist_ok=True)
    for name in MESHER_HEADERS:
        if (made / name).is_file():
            shutil.copyfile(made / name, workdir / "OUTPUT_FILES" / name)


def nproc_of(workdir: Path) -> int:
    values = read_par_file((workdir / "DATA" / "Par_file").read_text())
    try:
        return int(values["NPROC"])
    except (KeyError, ValueError):
        raise CmtflowError(f"{workdir}/DATA/Par_file: no valid NPROC") from None


def mpirun(program: str, workdir: Path, np_: int) -> None:
    """Run a SPECFEM program with ``np_`` MPI ranks in ``workdir`` (SPECFEM reads ./DATA);
    the executable from ``CMTFLOW_SPECFEM_BIN``, else ``PATH``. A failure raises
    with SPECFEM3D's own line that says why (:func:`failure_reason`)."""
    folder = settings.specfem_bin
    executable = str(folder / program) if folder else program
    if folder and not os.access(executable, os.X_OK):
        raise CmtflowError(f"{executable} not found: CMTFLOW_SPECFEM_BIN={folder} has no {program} "
                           "(scripts/build-specfem3d builds it)")
    argv = [executable]
    if np_ > 1 or os.geteuid() == 0:  # OpenMPI refuses root unless told, even for one rank
        argv = ["mpirun", *(["--allow-run-as-root"] if os.geteuid() == 0 else []), "-np", str(np_), executable]
    try:
        done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise CmtflowError(f"{argv[0]} not found: set CMTFLOW_SPECFEM_BIN (scripts/build-specfem3d) or run SPECFEM "
                           "steps in the specfem3d image") from None
    log = workdir / "OUTPUT_FILES" / f"{program}.log"
    if log.parent.is_dir():
        log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        output = done.stdout + "\n" + done.stderr
        if done.returncode < 0:  # mpirun itself (or the one rank run without it) killed
            output += f"\n{argv[0]} exited on signal {-done.returncode} ({signal.Signals(-done.returncode).name})"
        raise CmtflowError(f"{program} failed in {workdir} (status {done.returncode}): "
                           f"{failure_reason(workdir, output)}")


#: Lines of SPECFEM3D/OpenMPI output that say why a run stopped, and what to do about it.
_CAUSES = (
    (re.compile(r"unstable|blew up|signal 8|floating point exception", re.I),
     "the simulation became unstable: the time step is too large for the mesh (CFL); lower specfem_dt "
     "(output_generate_databases.txt gives the mesh's largest stable DT)"),
    (re.compile(r"receiver.*(outside|not located|no receivers)|station.*outside", re.I),
     "a station lies outside the mesh: give only stations inside it"),
    (re.compile(r"source.*(outside|not located|below)|error locating source", re.I),
     "the source lies outside the mesh (too deep or off its edges)"),
    (re.compile(r"exited on signal|killed|terminated", re.I),
     "an MPI rank was killed (out of memory, a time or memory limit, or by hand)"),
)


def failure_reason(workdir: Path, output: str) -> str:
    """SPECFEM3D's reason for a failed run: its ``error_message*.txt`` (written by
    ``exit_MPI``), else the first line of its output that names an error, with a hint."""
    lines = []
    for path in sorted((workdir / "OUTPUT_FILES").glob("error_message*.txt")):
        lines += [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    lines += [ln.strip() for ln in output.splitlines()
              if re.search(r"error|unstable|blew up|outside|exited on signal|killed", ln, re.I)]
    if not lines:
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()][-1:] or ["no output"]
    said = " / ".join(dict.fromkeys(lines))[:400]
    hint = next((why for pattern, why in _CAUSES if pattern.search(said)), None)
    return f"{said}" + (f" -> {hint}" if hint else "")
