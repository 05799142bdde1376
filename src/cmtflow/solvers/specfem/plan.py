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

import subprocess
from pathlib import Path

from cmtflow.errors import CmtflowError
from cmtflow.solvers.specfem.inputs import read_par_file, run_parameters, write_data_folder, write_par_file
from cmtflow.source import Source

SOLVER_NAME = "specfem3d"
SOLVER_VERSION = "4.1.1"
RESOURCES = {"databases": {"cpu": "4", "memory": "8Gi"}, "solve": {"cpu": "4", "memory": "16Gi"}}


def prepare(specfem_dir: Path, variants: dict[str, Source], stations: list[dict], template: str, nstep: int,
            dt: float, nproc: int, gpu: bool) -> dict[str, Path]:
    """Write ``databases/DATA`` and ``<variant>/DATA`` for every variant; returns the folders."""
    databases = specfem_dir / "databases"
    local_path = str((databases / "DATABASES_MPI").resolve())
    par = write_par_file(template, run_parameters(nstep, dt, nproc, gpu, local_path))
    initial = variants.get("initial") or next(iter(variants.values()))
    folders = {"databases": databases}
    write_data_folder(databases, initial, stations, par)
    (databases / "DATABASES_MPI").mkdir(exist_ok=True)
    (databases / "OUTPUT_FILES").mkdir(exist_ok=True)
    for name, source in variants.items():
        folder = specfem_dir / name
        write_data_folder(folder, source, stations, par)
        (folder / "OUTPUT_FILES").mkdir(exist_ok=True)
        folders[name] = folder
    return folders


def nproc_of(workdir: Path) -> int:
    values = read_par_file((workdir / "DATA" / "Par_file").read_text())
    try:
        return int(values["NPROC"])
    except (KeyError, ValueError):
        raise CmtflowError(f"{workdir}/DATA/Par_file: no valid NPROC") from None


def mpirun(program: str, workdir: Path, np_: int) -> None:
    """Run a SPECFEM program with ``np_`` MPI ranks in ``workdir`` (SPECFEM reads ./DATA)."""
    argv = ["mpirun", "-np", str(np_), program] if np_ > 1 else [program]
    try:
        done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise CmtflowError(f"{argv[0]} not found: run SPECFEM steps in the specfem3d image") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CmtflowError(f"{program} failed in {workdir} (status {done.returncode}): {tail[0]}")


def databases_command(workdir: Path) -> tuple[str, ...]:
    return ("cmtflow", "specfem", "databases", "--workdir", str(workdir))


def simulate_command(workdir: Path, out: Path, record: Path, label: str) -> tuple[str, ...]:
    return ("cmtflow", "specfem", "simulate", "--workdir", str(workdir), "--out", str(out),
            "--record", str(record), "--label", label)
