"""The layer recursion against a brute-force global-matrix solution.

For one (frequency, wavenumber) the P-SV problem is also a plain linear system: unknown
down/up-going amplitudes in every layer, free-surface tractions zero, displacement and
traction continuous at every interface except the source level, where they jump by the
source vector, no up-going wave in the half-space. Solving it with LAPACK must give the
same surface displacement as the generalized reflection/transmission recursion.
"""

from __future__ import annotations

import numpy as np

from cmtflow.models import load_model
from cmtflow.solvers.fk import _complex_wavenumbers, split_at_source
from cmtflow.solvers.fk_kernel import SERIES, fk_kernels


def _eigenvectors(k, ka2, kb2, mu):
    na, nb, chi = np.sqrt(k * k - ka2), np.sqrt(k * k - kb2), 2 * k * k - kb2
    e = np.array([[k, -nb, k, nb], [-na, k, na, k],
                  [-2 * k * mu * na, mu * chi, 2 * k * mu * na, mu * chi],
                  [mu * chi, -2 * k * mu * nb, mu * chi, 2 * k * mu * nb]])
    return na, nb, e


def _global_surface_displacement(lay, src, ka2, kb2, mu, k, jump):
    n_layers = len(lay.thickness)
    n = 4 * (n_layers - 1) + 2
    a = np.zeros((n, n), complex)
    rhs = np.zeros(n, complex)
    layers = [_eigenvectors(k, ka2[i], kb2[i], mu[i]) for i in range(n_layers)]

    def decay(i):
        na, nb, _ = layers[i]
        return np.array([np.exp(-na * lay.thickness[i]), np.exp(-nb * lay.thickness[i])])

    e0 = layers[0][2]
    a[0:2, 0:2], a[0:2, 2:4] = e0[2:, :2], e0[2:, 2:] * decay(0)
    row = 2
    for i in range(n_layers - 1):
        e, e2 = layers[i][2], layers[i + 1][2]
        a[row:row + 4, 4 * i:4 * i + 2] = e[:, :2] * decay(i)
        a[row:row + 4, 4 * i + 2:4 * i + 4] = e[:, 2:]
        a[row:row + 4, 4 * i + 4:4 * i + 6] = -e2[:, :2]
        if i + 1 < n_layers - 1:
            a[row:row + 4, 4 * i + 6:4 * i + 8] = -e2[:, 2:] * decay(i + 1)
        if i + 1 == src:
            rhs[row:row + 4] = -np.asarray(jump)  # b(below) - b(above) = jump
        row += 4
    x = np.linalg.solve(a, rhs)
    return e0[:2, :2] @ x[:2] + e0[:2, 2:] @ (decay(0) * x[2:4])


def test_recursion_matches_global_matrix():
    lay, src = split_at_source(load_model("scak"), 34.0)
    omega = np.array([0.05, 0.6, 2.5])
    ka2, kb2, mu, _ = _complex_wavenumbers(lay, omega, 0.01)
    dk, nk = 0.004, 400
    out = np.zeros((len(SERIES), len(omega), nk), complex)
    rho_a2 = lay.rho[src] * lay.vp[src] ** 2
    mu_s = lay.rho[src] * lay.vs[src] ** 2
    xi = (lay.vs[src] / lay.vp[src]) ** 2
    fk_kernels(ka2, kb2, mu, lay.thickness, lay.same_as_above(), src, np.full(len(omega), nk),
               np.arange(len(omega)), dk, rho_a2, mu_s, xi, out)
    s = {name: i for i, name in enumerate(SERIES)}
    for j in range(len(omega)):
        for i in (3, 60, 200, 399):
            k = (i + 0.5) * dk
            f = k * dk / (2 * np.pi)
            uz = _global_surface_displacement(lay, src, ka2[j], kb2[j], mu[j], k, [0, 1, 0, 0])
            tr = _global_surface_displacement(lay, src, ka2[j], kb2[j], mu[j], k, [0, 0, 1, 0])
            ur = _global_surface_displacement(lay, src, ka2[j], kb2[j], mu[j], k, [1, 0, 0, 0])
            expected = {
                "EP": f * (uz / rho_a2 + tr * 2 * k * xi),
                "DD": f * (uz * 2 / rho_a2 - tr * k * (3 - 4 * xi)),
                "DS": -f * ur / mu_s,
                "SS": f * k * tr,
            }
            for src_type, (ur_exp, uz_exp) in expected.items():
                scale = max(abs(ur_exp), abs(uz_exp), 1e-300)
                assert abs(out[s[f"UR_{src_type}"], j, i] - ur_exp) <= 1e-7 * scale, (src_type, j, i)
                assert abs(out[s[f"UZ_{src_type}"], j, i] - uz_exp) <= 1e-7 * scale, (src_type, j, i)


def test_blocked_integration_keeps_its_memory_ceiling_and_its_result(monkeypatch):
    """Within a 30 MB budget the wavenumber integration runs in blocks of frequencies and
    distances (all at once would take 48 MB of kernels): the traces are those of one block to
    rounding, and the arrays numpy allocates stay near the budget plus the traces."""
    import tracemalloc

    from cmtflow.solvers.fk import _KERNEL_BYTES, compute_greens, integration_blocks

    distances = np.linspace(5.0, 150.0, 40)
    whole = compute_greens("scak", 12.0, distances, 0.1, 1024)
    nw, nk = whole.parameters["n_frequencies"], whole.parameters["nk_max"]
    assert nw * nk * _KERNEL_BYTES > 40e6
    per_w, per_d = integration_blocks(nw, nk, len(distances), 30e6)
    assert per_w < nw and per_d < len(distances)  # both kinds of blocks are exercised
    monkeypatch.setenv("CMTFLOW_GREENS_MEMORY_GB", "0.03")
    tracemalloc.start()
    try:
        blocked = compute_greens("scak", 12.0, distances, 0.1, 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    traces = 2 * whole.impulse.nbytes  # impulse and step, and the spectra they come from
    assert peak < 30e6 + 4 * traces, f"peak {peak / 1e6:.0f} MB"
    scale = np.abs(whole.impulse).max()
    assert np.abs(blocked.impulse - whole.impulse).max() < 1e-10 * scale
    assert np.abs(blocked.step - whole.step).max() < 1e-10 * np.abs(whole.step).max()


def test_kernels_that_did_not_run_are_an_error_not_zeros(tmp_path):
    """GNU OpenMP cannot run in a process forked after it started (numba's ``omp`` layer prints
    "Terminating: fork() called..." and sends itself SIGTERM, which Airflow's task runner
    swallows): the integration must then fail, not return Green's functions of zeros."""
    import subprocess
    import sys

    script = tmp_path / "fork.py"
    script.write_text('''
import os, signal, sys
import numba
from cmtflow.errors import SolverError
from cmtflow.solvers.fk import compute_greens
compute_greens("scak", 12.0, [50.0], 0.5, 256)
print(numba.threading_layer(), flush=True)
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGTERM, lambda *a: None)  # what Airflow's task runner leaves
    try:
        g = compute_greens("scak", 12.0, [60.0], 0.5, 256)
        os._exit(0 if abs(g.step).max() > 0 else 3)  # a good result is fine, zeros are not
    except SolverError as exc:
        print(exc, flush=True)
        os._exit(4)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
''')
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 4), done.stdout + done.stderr
    if done.stdout.startswith("omp"):
        assert done.returncode == 4 and "parallel kernels did not run" in done.stdout


def test_kernels_compiled_once_are_loaded_from_a_seeded_cache(tmp_path):
    """The image compiles the kernels at build time (``warm_up`` into a seed folder); a pod
    with an empty writable ``NUMBA_CACHE_DIR`` copies the seed and loads them, compiling
    nothing."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "seed")}
    subprocess.run([sys.executable, "-c", "from cmtflow.solvers.fk import warm_up; warm_up()"], env=env, check=True,
                   timeout=300)
    assert list((tmp_path / "seed").rglob("*.nbi"))
    env.update(NUMBA_CACHE_DIR=str(tmp_path / "pod"), CMTFLOW_NUMBA_CACHE_SEED=str(tmp_path / "seed"))
    done = subprocess.run([sys.executable, "-c", (
        "from cmtflow.solvers.fk import warm_up; from cmtflow.solvers.fk_kernel import fk_kernels; warm_up(); "
        "print(fk_kernels.stats.cache_hits, fk_kernels.stats.cache_misses)")], env=env, capture_output=True,
        text=True, check=True, timeout=300)
    hits, misses = done.stdout.split()[-2:]
    assert hits != "Counter()" and misses == "Counter()", done.stdout
