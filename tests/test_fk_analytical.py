"""Analytical limits of the embedded solver.

1. Static surface displacement of an isotropic point source in a Poisson half-space
   (Mogi 1958): with M = M0 I and the cavity volume change dV = M0 / (lambda + 2 mu),
   u_z = (1 - nu) dV d / (pi R^3) = M0 d / (4 pi mu R^3) and u_r = M0 r / (4 pi mu R^3)
   for nu = 1/4 (R^2 = r^2 + d^2). The step response must settle on it.
2. Far-field decay: in a homogeneous half-space, the direct P amplitude on Z for an
   explosion scales like the geometrical spreading 1/R times the angle-dependent
   free-surface factor; between two stations at the same incidence angle (same d/r)
   the ratio of band-limited P amplitudes is exactly R2/R1.
"""

from __future__ import annotations

import numpy as np
import pytest

from cmtflow.models import EarthModel
from cmtflow.solvers.base import COMPONENTS
from cmtflow.solvers.fk import FKParameters, compute_greens

VS, VP, RHO, Q = 3.4641, 6.0, 2.7, 1e4  # Poisson solid (vp = sqrt(3) vs), nearly elastic


def _halfspace():
    # two identical layers: the interface is transparent, the source sits in layer 1
    return EarthModel.from_rows("poisson", [(60.0, VS, VP, RHO, Q, Q), (0.0, VS, VP, RHO, Q, Q)])


def _true_halfspace():
    # one row, the half-space itself: the source is below its top (at the surface)
    return EarthModel.from_rows("poisson", [(0.0, VS, VP, RHO, Q, Q)])


@pytest.mark.parametrize("model", [_halfspace(), _true_halfspace()], ids=["layer", "half-space"])
def test_static_offset_matches_mogi(model):
    depth = 10.0
    r = np.array([2.0, 5.0, 10.0, 20.0])
    greens = compute_greens(model, depth, r, 0.1, 2048)
    mu = RHO * VS**2  # GPa; with km and M in FK units the numbers compare directly
    big_r = np.hypot(r, depth)
    uz = depth / (4 * np.pi * mu * big_r**3)
    ur = r / (4 * np.pi * mu * big_r**3)
    z_static = greens.step[COMPONENTS.index("ZEP"), :, -200:].mean(axis=1)
    r_static = greens.step[COMPONENTS.index("REP"), :, -200:].mean(axis=1)
    # tolerance 0.5 %: what is left of the Rayleigh-wave coda and of the exp(-2) window
    # wrap-around correction 180 s after the origin
    np.testing.assert_allclose(z_static, uz, rtol=5e-3)
    np.testing.assert_allclose(r_static, ur, rtol=5e-3)
    # Before P the step response is quiet: without the window wrap-around correction the
    # static offset would leak in as a constant of exp(-2)/(1-exp(-2)) = 16 % of itself.
    pre_p = np.abs(greens.step[COMPONENTS.index("ZEP"), :, :40]).max(axis=1)
    assert np.all(pre_p[r <= 10] < 0.03 * uz[r <= 10])


def test_direct_p_decays_as_one_over_distance():
    depth_ratio = 0.5  # same incidence angle at both stations
    amps = []
    for r in (40.0, 80.0):
        depth = depth_ratio * r
        g = compute_greens(_halfspace(), depth, [r], 0.05, 2048, FKParameters(fmax=2.0, pre_samples=100))
        t = g.t0[0] + 0.05 * np.arange(2048)
        z = g.impulse[COMPONENTS.index("ZEP"), 0]
        window = (t > g.tp[0] - 1.5) & (t < g.tp[0] + 1.5)  # P only: S arrives ~0.7 R / VP later
        amps.append(np.abs(z[window]).max())
    assert amps[0] / amps[1] == pytest.approx(2.0, rel=0.01)
