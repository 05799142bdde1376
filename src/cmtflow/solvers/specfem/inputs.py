"""SPECFEM3D ``DATA/`` inputs: STATIONS, CMTSOLUTION, Par_file.

Par_file is written from a template (the model's own Par_file, which holds the mesh and
model settings) by replacing the values of the keys a run sets; every other line is kept as
it is, comments included. Units as SPECFEM: DT in s, coordinates in degrees (UTM_PROJECTION
handled by SPECFEM), CMTSOLUTION in dyne·cm.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from cmtflow.errors import CmtflowError
from cmtflow.source import Source, write_cmtsolution

#: The Par_file keys a cmtflow run sets (values are Fortran-style strings).
RUN_KEYS = ("SIMULATION_TYPE", "NOISE_TOMOGRAPHY", "SAVE_FORWARD", "NPROC", "NSTEP", "DT", "USE_FORCE_POINT_SOURCE",
            "USE_RICKER_TIME_FUNCTION", "SAVE_SEISMOGRAMS_DISPLACEMENT", "SAVE_SEISMOGRAMS_VELOCITY",
            "SAVE_SEISMOGRAMS_ACCELERATION", "SAVE_SEISMOGRAMS_PRESSURE", "USE_BINARY_FOR_SEISMOGRAMS",
            "SU_FORMAT", "ASDF_FORMAT", "GPU_MODE", "LOCAL_PATH", "NTSTEP_BETWEEN_OUTPUT_SEISMOS")

_LINE = re.compile(r"^(\s*)([A-Z_][A-Z0-9_]*)(\s*=\s*)([^#\n]*?)(\s*(#.*)?)$")


def fortran(value) -> str:
    """A Python value as SPECFEM's Par_file spells it (.true./.false., d0 doubles)."""
    if isinstance(value, bool):
        return ".true." if value else ".false."
    if isinstance(value, float):
        return f"{value!r}d0" if "e" not in repr(value) else repr(value).replace("e", "d")
    return str(value)


def fortran_float(text: str) -> float:
    """A Par_file number as SPECFEM writes it (``0.012d0``, ``60.d0``, ``1.5D-3``)."""
    return float(text.strip().lower().replace("d", "e"))


def run_parameters(nstep: int, dt: float, nproc: int, gpu: bool, databases: str, asdf: bool = False) -> dict:
    """Par_file values of a forward run for CMT3D: displacement seismograms, no Ricker."""
    if nstep <= 0 or not dt > 0 or nproc <= 0:
        raise CmtflowError(f"SPECFEM run needs NSTEP > 0, DT > 0 and NPROC > 0 (got {nstep}, {dt}, {nproc})")
    return {"SIMULATION_TYPE": 1, "NOISE_TOMOGRAPHY": 0, "SAVE_FORWARD": False, "NPROC": nproc, "NSTEP": nstep,
            "DT": float(dt), "USE_FORCE_POINT_SOURCE": False, "USE_RICKER_TIME_FUNCTION": False,
            "SAVE_SEISMOGRAMS_DISPLACEMENT": True, "SAVE_SEISMOGRAMS_VELOCITY": False,
            "SAVE_SEISMOGRAMS_ACCELERATION": False, "SAVE_SEISMOGRAMS_PRESSURE": False,
            "USE_BINARY_FOR_SEISMOGRAMS": False, "SU_FORMAT": False, "ASDF_FORMAT": asdf, "GPU_MODE": gpu,
            "LOCAL_PATH": databases, "NTSTEP_BETWEEN_OUTPUT_SEISMOS": nstep}


def write_par_file(template: str, values: dict) -> str:
    """``template`` with the values of ``values`` (keys must exist in it) replaced."""
    seen = set()
    out = []
    for line in template.splitlines():
        m = _LINE.match(line)
        if m and m.group(2) in values:
            key = m.group(2)
            seen.add(key)
            line = f"{m.group(1)}{key}{m.group(3)}{fortran(values[key])}{m.group(5) or ''}"
        out.append(line)
    missing = sorted(set(values) - seen)
    if missing:
        raise CmtflowError(f"Par_file template has no {', '.join(missing)}: is it a SPECFEM3D_Cartesian Par_file?")
    return "\n".join(out) + "\n"


def read_par_file(text: str) -> dict[str, str]:
    """``{KEY: value}`` of a Par_file (values as written)."""
    values = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            values[m.group(2)] = m.group(4).strip()
    return values


def write_stations(stations: list[dict], path: Path) -> Path:
    """SPECFEM ``STATIONS``: ``STA NET LAT LON ELEVATION BURIAL`` (degrees, m)."""
    lines = [f"{s['station']:<8s} {s['network']:<4s} {s['latitude']:12.6f} {s['longitude']:12.6f} "
             f"{s.get('elevation_m', 0.0):9.1f} {s.get('burial_m', 0.0):6.1f}" for s in stations]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_data_folder(folder: Path, source: Source, stations: list[dict], par_file: str) -> Path:
    """``folder/DATA/{CMTSOLUTION, STATIONS, Par_file}`` of one run."""
    data = folder / "DATA"
    data.mkdir(parents=True, exist_ok=True)
    write_cmtsolution(source, data / "CMTSOLUTION")
    write_stations(stations, data / "STATIONS")
    (data / "Par_file").write_text(par_file)
    return data


#: Folders of a SPECFEM3D_Cartesian ``DATA/`` that belong to the model, not to a run: the
#: internal mesher's ``meshfem3D_files/`` (Mesh_Par_file, interfaces), tomography and SEP models.
MODEL_FOLDERS = ("meshfem3D_files", "tomo_files", "my_SEP_model")


def model_folders(par_file: Path) -> list[Path]:
    """The model folders beside ``par_file`` (its ``DATA/``) that exist."""
    return [par_file.parent / name for name in MODEL_FOLDERS if (par_file.parent / name).is_dir()]


def model_fingerprint(par_file: Path) -> str:
    """SHA-256 of the Par_file and every file of the model folders: the model's identity in
    simulation keys (a changed interface or mesh file is a different model)."""
    digest = hashlib.sha256(par_file.read_bytes())
    for folder in model_folders(par_file):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(par_file.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def copy_model(par_file: Path, data: Path, local_path: str) -> None:
    """Copy the model folders beside ``par_file`` into a run's ``DATA/``; the internal
    mesher's ``Mesh_Par_file`` gets the run's ``LOCAL_PATH`` (xmeshfem3D writes the mesh
    where it says, and xgenerate_databases reads it from the Par_file's)."""
    for folder in model_folders(par_file):
        shutil.copytree(folder, data / folder.name, dirs_exist_ok=True)
    mesh = data / "meshfem3D_files" / "Mesh_Par_file"
    if mesh.is_file():
        mesh.write_text(write_par_file(mesh.read_text(errors="replace"), {"LOCAL_PATH": local_path}))


def _mesh_par_file(par_file: Path) -> tuple[Path, dict[str, str]] | None:
    """The internal mesher's ``Mesh_Par_file`` beside ``par_file`` and its values, or None."""
    mesh = par_file.parent / "meshfem3D_files" / "Mesh_Par_file"
    return (mesh, read_par_file(mesh.read_text(errors="replace"))) if mesh.is_file() else None


def mesh_nproc(par_file: Path) -> int | None:
    """MPI ranks the internal mesher partitions for (``NPROC_XI`` x ``NPROC_ETA`` of
    ``meshfem3D_files/Mesh_Par_file``), or None without one."""
    found = _mesh_par_file(par_file)
    if found is None:
        return None
    mesh, values = found
    try:
        return int(values["NPROC_XI"]) * int(values["NPROC_ETA"])
    except (KeyError, ValueError):
        raise CmtflowError(f"{mesh}: no valid NPROC_XI / NPROC_ETA") from None


def resolve_run_settings(par_file: Path, nproc: int | None, dt: float | None) -> tuple[int, float]:
    """MPI ranks and time step (s) of the runs: the given values, else the model's (the mesh's
    partition, the Par_file's DT, which its author chose stable for the mesh)."""
    values = read_par_file(par_file.read_text(errors="replace"))
    partition = mesh_nproc(par_file)
    if nproc is None:
        nproc = partition or int(values.get("NPROC", "1"))
    elif partition is not None and nproc != partition:
        raise CmtflowError(f"specfem_nproc: {nproc}, but {par_file.parent}/meshfem3D_files/Mesh_Par_file partitions "
                           f"the mesh for {partition} ranks (NPROC_XI x NPROC_ETA); leave it empty or change both")
    if dt is None:
        try:
            dt = fortran_float(values["DT"])
        except (KeyError, ValueError):
            raise CmtflowError(f"{par_file}: no valid DT; give specfem_dt") from None
    return nproc, dt


def mesh_block(par_file: Path) -> tuple[Path, tuple[float, float, float, float, float]] | None:
    """The internal mesher's block: its ``Mesh_Par_file`` and (LATITUDE_MIN, LATITUDE_MAX,
    LONGITUDE_MIN, LONGITUDE_MAX in degrees, DEPTH_BLOCK_KM); None for external meshes and
    meshes in UTM/Cartesian coordinates (SUPPRESS_UTM_PROJECTION)."""
    found = _mesh_par_file(par_file)
    if found is None:
        return None
    mesh, values = found
    if values.get("SUPPRESS_UTM_PROJECTION", ".false.").lower() == ".true.":
        return None
    try:
        return mesh, tuple(fortran_float(values[k]) for k in (
            "LATITUDE_MIN", "LATITUDE_MAX", "LONGITUDE_MIN", "LONGITUDE_MAX", "DEPTH_BLOCK_KM"))
    except (KeyError, ValueError):
        raise CmtflowError(f"{mesh}: no valid LATITUDE/LONGITUDE_MIN/MAX and DEPTH_BLOCK_KM") from None


def stations_outside_mesh(par_file: Path, stations: list[dict]) -> dict[str, str]:
    """``{"NET.STA": reason}`` for the stations beyond the internal mesher's block in latitude
    and longitude: SPECFEM3D would drop them from its STATIONS_FILTERED after computing, so
    they are not asked for. A mesh in UTM is the rectangle of the block's corners in UTM, so a
    station near a corner may be outside it although inside these bounds: SPECFEM3D leaves
    those out itself (``left_out`` of the synthetics manifest)."""
    block = mesh_block(par_file)
    if block is None:
        return {}
    _, (lat0, lat1, lon0, lon1, _) = block
    why = f"outside the SPECFEM3D mesh ({lat0:g} to {lat1:g} N, {lon0:g} to {lon1:g} E)"
    return {f"{s['network']}.{s['station']}": why
            for s in stations if not (lat0 <= s["latitude"] <= lat1 and lon0 <= s["longitude"] <= lon1)}


def check_sources_inside_mesh(par_file: Path, sources: dict[str, Source]) -> None:
    """Refuse sources the internal mesher's block does not contain (:func:`mesh_block`):
    SPECFEM3D would put them on the nearest point of the mesh and simulate another source."""
    block = mesh_block(par_file)
    if block is None:
        return
    mesh, (lat0, lat1, lon0, lon1, bottom) = block
    for name, source in sources.items():
        if source.depth_km >= bottom:
            raise CmtflowError(f"source {name!r} at {source.depth_km:g} km lies below the SPECFEM3D mesh "
                               f"(DEPTH_BLOCK_KM {bottom:g} in {mesh})")
        if not (lat0 <= source.latitude <= lat1 and lon0 <= source.longitude <= lon1):
            raise CmtflowError(f"source {name!r} at {source.latitude:g}, {source.longitude:g} lies outside the "
                               f"SPECFEM3D mesh ({lat0:g}-{lat1:g} N, {lon0:g}-{lon1:g} E in {mesh})")
