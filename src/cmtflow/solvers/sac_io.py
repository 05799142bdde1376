"""Green's functions as SAC files in the FK convention (CAP / MTUQ layout).

``<out>/<model>_<depth>/<distance>.grn.<ext>`` with the extensions of
:data:`cmtflow.solvers.base.FK_EXTENSIONS`, units 10^-20 cm per dyne-cm, and the SAC
headers FK writes: ``b`` (start, s after origin), ``t1`` (P), ``t2`` (S), ``dist`` (km).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from obspy import Trace
from obspy.io.sac import SACTrace

from cmtflow.solvers.base import COMPONENTS, FK_EXTENSIONS, GreensFunctions
from cmtflow.workspace import replace_folder, staging_folder


def number_label(x: float) -> str:
    """FK's file-name spelling of a number: 10 -> '10', 12.5 -> '12.5'."""
    return format(float(x), ".10g")


def write_fk_sac(greens: GreensFunctions, out_dir: str | Path) -> Path:
    """Write all traces; the model_depth folder appears complete or not at all."""
    out_dir = Path(out_dir)
    target = out_dir / f"{greens.model}_{number_label(greens.depth_km)}"
    with staging_folder(out_dir, target.name) as tmp:
        for i, dist in enumerate(greens.distances_km):
            for c, comp in enumerate(COMPONENTS):
                tr = Trace(np.asarray(greens.impulse[c, i], np.float32))
                tr.stats.delta = greens.dt
                sac = SACTrace.from_obspy_trace(tr)
                sac.b = float(greens.t0[i])
                sac.o = 0.0
                sac.t1 = float(greens.tp[i])
                sac.t2 = float(greens.ts[i])
                sac.dist = float(dist)
                sac.evdp = float(greens.depth_km)
                sac.kcmpnm = comp
                sac.write(str(tmp / f"{number_label(dist)}.grn.{FK_EXTENSIONS[comp]}"))
        replace_folder(tmp, target)
    return target
