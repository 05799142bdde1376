"""Independent cross-check with pygrt-kit (GPL-3, test-only) on a second model.

The model has a 2 km low-velocity sedimentary layer (vs 1.2 km/s) at the top, where
the propagator algebra is most demanding. Q is high (5000) on purpose: the two codes use
different constant-Q conventions (cmtflow follows FK: dispersion referred to 1 Hz, elastic
moduli in the tractions), and with Q = 50 in the sediments their amplitudes drift apart
with distance (-6 % at 20 km, -12 % at 120 km) while correlating >= 0.98; FK's own
attenuation is checked against the FK reference files (Q 300/600) in test_fk_reference. pygrt-kit's conventions relative to FK,
established against the FK reference files: same units and components, opposite sign for
TDS, ZSS and RSS. Its explosion term is not FK's (it correlates 0.83 with the FK reference
files at 50 km), so only the eight double-couple terms are compared.
Tolerance: after the 0.02-0.2 Hz band-pass, correlation >= 0.98 and rms ratio within 1 %
(measured: >= 0.9999 and within 0.3 %). The source is in the crust (8 km) and below the top of
the half-space (45 km, a sub-Moho event), where cmtflow cuts a layer out of the half-space
for it and pygrt-kit does its own.
"""

from __future__ import annotations

import numpy as np
import obspy
import pytest

from cmtflow.models import EarthModel
from cmtflow.solvers.base import COMPONENTS
from cmtflow.solvers.fk import FKParameters, compute_greens

from conftest import bandpass, correlation, rms_ratio

pygrt = pytest.importorskip("pygrt", reason="pygrt-kit (test extra) not installed")

ROWS = [  # thickness vs vp rho qs qp
    (2.0, 1.2, 2.5, 2.1, 5000.0, 10000.0),
    (13.0, 3.5, 6.0, 2.7, 5000.0, 10000.0),
    (20.0, 3.9, 6.7, 2.9, 5000.0, 10000.0),
    (0.0, 4.5, 7.9, 3.3, 5000.0, 10000.0),
]
PYGRT_NAME = {"ZDD": ("DDZ", 1), "RDD": ("DDR", 1), "ZDS": ("DSZ", 1), "RDS": ("DSR", 1), "TDS": ("DST", -1),
              "ZSS": ("SSZ", -1), "RSS": ("SSR", -1), "TSS": ("SST", 1)}
DISTANCES, DT, NPTS = [20.0, 60.0, 120.0], 0.1, 2048


@pytest.mark.slow
@pytest.mark.parametrize("depth_km", [8.0, 45.0])
def test_double_couple_terms_match_pygrt(tmp_path, depth_km):
    model_file = tmp_path / "lvl.txt"  # pygrt order: thickness vp vs rho qp qs
    model_file.write_text("".join(f"{h} {vp} {vs} {rho} {qp} {qs}\n" for h, vs, vp, rho, qs, qp in ROWS))
    grt = pygrt.PyModel1D(grn=str(tmp_path / "grn"), modelpath=str(model_file))
    grt.greenfn(depsrc=depth_km, deprcv=0.0, dists=DISTANCES, nt=NPTS, dt=DT, freqband=(-1.0, 1.0),
                gf_source=["DC"], keepAllFreq=True, nthreads=2, print_log=False)
    ours = compute_greens(EarthModel.from_rows("lvl", ROWS), depth_km, DISTANCES, DT, NPTS,
                          FKParameters(fmax=1.0))
    t_grt = DT * np.arange(NPTS)  # pygrt traces start at the origin time
    for i, d in enumerate(DISTANCES):
        folder = next((tmp_path / "grn").glob(f"*_{depth_km:g}_0_{d:g}"))
        t_ours = ours.t0[i] + DT * np.arange(NPTS)
        for comp, (name, sign) in PYGRT_NAME.items():
            theirs = sign * bandpass(obspy.read(str(folder / f"{name}.sac"))[0].data.astype(float), DT,
                                    taper_start=False)
            mine = bandpass(ours.impulse[COMPONENTS.index(comp), i], DT, taper_start=False)
            theirs = np.interp(t_ours, t_grt, theirs)  # on our time axis (band-limited: smooth)
            keep = (t_ours > t_ours[0] + 5) & (t_ours < t_grt[-1] - 20)
            cc = correlation(mine[keep], theirs[keep])
            amp = rms_ratio(mine[keep], theirs[keep])
            assert cc >= 0.98, f"{comp} at {d} km: correlation {cc:.4f}"
            assert abs(amp - 1) <= 0.01, f"{comp} at {d} km: rms ratio {amp:.4f}"
