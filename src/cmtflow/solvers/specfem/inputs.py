"""SPECFEM3D ``DATA/`` inputs: STATIONS, CMTSOLUTION, Par_file.

Par_file is written from a template (the model's own Par_file, which holds the mesh and
model settings) by replacing the values of the keys a run sets; every other line is kept as
it is, comments included. Units as SPECFEM: DT in s, coordinates in degrees (UTM_PROJECTION
handled by SPECFEM), CMTSOLUTION in dyne·cm.
"""

from __future__ import annotations

import re
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
