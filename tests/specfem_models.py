"""SPECFEM3D models for the tests, made from SPECFEM3D's own socal1D example.

The example's mesh (41 x 45 km, 24 x 24 elements, DT 0.012 s) is made for seconds-long
records at 1 Hz. The MT3D test needs the 6-30 s band at the Hollywood stations (21-54 km
from the event, 200-s records), so :func:`regional_socal1d` keeps the example's layers,
materials and interfaces and changes only the block (a box around the stations) and its
element count: 8 x 8 elements of 13-15 km, one per layer in depth except two in the
bottom one (where the one doubling SPECFEM3D's irregular mesh needs goes). xgenerate_databases
says it resolves 8.4 s (the run checks the band against that) and allows DT 0.077 s: one
simulation of 207 s (2758 steps) takes about 30 s on one core.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from cmtflow.solvers.specfem.inputs import write_par_file

#: Hollywood 2001-09-09 and its seven CI stations within 55 km (degrees).
HOLLYWOOD_BOX = {"LATITUDE_MIN": 33.55, "LATITUDE_MAX": 34.65, "LONGITUDE_MIN": -119.05, "LONGITUDE_MAX": -117.95}


def regional_socal1d(example: Path, dest: Path, box: dict = HOLLYWOOD_BOX, nex: int = 16,
                     layers: tuple[int, ...] = (2, 2, 2, 1), dt: float = 0.05, nproc_xi: int = 1) -> Path:
    """A copy of ``example``'s DATA/ with the mesh block ``box`` (degrees), ``nex`` x ``nex``
    elements, ``layers`` elements in depth per layer (bottom first) and the
    Par_file DT ``dt`` (s); returns the new Par_file."""
    data = dest / "DATA"
    shutil.copytree(example / "DATA", data)
    folder = data / "meshfem3D_files"
    mesh = folder / "Mesh_Par_file"
    # one doubling (SPECFEM3D's irregular mesh needs one), at the top of the bottom layer
    text = write_par_file(mesh.read_text(), {**{k: float(v) for k, v in box.items()}, "NEX_XI": nex, "NEX_ETA": nex,
                                             "NPROC_XI": nproc_xi, "NDOUBLINGS": 1, "NZ_DOUBLING_1": layers[0]})
    text = re.sub(r"^NZ_DOUBLING_[2-9].*\n", "", text, flags=re.M)
    # the regions "ix0 ix1 iy0 iy1 iz0 iz1 material": one per layer, material 1 at the bottom
    top = [sum(layers[:k + 1]) for k in range(len(layers))]
    regions = [f"1 {nex} 1 {nex} {top[k] - layers[k] + 1} {top[k]} {k + 1}" for k in range(len(layers))]
    text = re.sub(r"^\s*\d+(\s+\d+){6}\s*\n", "", text, flags=re.M)
    text = re.sub(r"^(NREGIONS.*\n(#.*\n)*)", lambda m: m.group(1) + "\n".join(regions) + "\n", text, flags=re.M)
    mesh.write_text(text)
    # the element counts per layer are the last lines of interfaces.dat that are not comments
    interfaces = (folder / "interfaces.dat").read_text().splitlines()
    counts = [i for i, line in enumerate(interfaces) if line.strip() and not line.lstrip().startswith("#")]
    for i, n in zip(counts[-len(layers):], layers):
        interfaces[i] = f" {n}"
    (folder / "interfaces.dat").write_text("\n".join(interfaces) + "\n")
    par = data / "Par_file"
    par.write_text(write_par_file(par.read_text(), {"DT": float(dt)}))
    return par
