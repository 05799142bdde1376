"""Shared fixtures: the reference data folder, an isolated data root, SPECFEM3D's executables
and its socal1D example; the order the test files run in."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fdsn_fixtures

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


# ----------------------------------------------------------------------------- SPECFEM3D
TARBALL = Path(__file__).resolve().parents[2] / "shared" / "vendor" / "specfem3d-4.1.1-src.tar.gz"
EXAMPLE = "specfem3d-4.1.1/EXAMPLES/applications/meshfem3D_examples/socal1D"


@pytest.fixture(scope="session")
def specfem_bin() -> Path:
    """The SPECFEM3D executables: ``CMTFLOW_SPECFEM_BIN``, else the cached build of the
    vendored source (built here the first time: 3-5 minutes on 2 cores)."""
    given = os.environ.get("CMTFLOW_SPECFEM_BIN")
    if given:
        return Path(given)
    if not TARBALL.is_file():
        pytest.skip(f"no SPECFEM3D source at {TARBALL} and no CMTFLOW_SPECFEM_BIN")
    script = Path(__file__).resolve().parents[1] / "scripts" / "build-specfem3d"
    done = subprocess.run([str(script), str(TARBALL)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"scripts/build-specfem3d failed: {done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def socal1d(tmp_path_factory) -> Path:
    """SPECFEM3D's socal1D example as the tarball ships it."""
    if not TARBALL.is_file():
        pytest.skip(f"no SPECFEM3D source at {TARBALL}")
    where = tmp_path_factory.mktemp("socal1d")
    with tarfile.open(TARBALL) as tar:
        tar.extractall(where, members=[m for m in tar.getmembers() if m.name.startswith(EXAMPLE)], filter="data")
    return where / EXAMPLE


@pytest.fixture(scope="session", autouse=True)
def warm_runners(tmp_path_factory):
    """The warm runners that ``cmtflow run`` starts (cmtflow.airflow.runner): in a folder of this
    test session, exiting 60 s after their last run, all stopped at the end of the session."""
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "CMTFLOW_RUNNER_IDLE_S")}
    folder = tmp_path_factory.mktemp("xdg")
    os.environ["XDG_RUNTIME_DIR"] = str(folder)
    os.environ["CMTFLOW_RUNNER_IDLE_S"] = "60"
    yield folder
    from cmtflow.airflow.runner import ask

    ask({"stop": True})
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch) -> Path:
    """Every test gets its own CMTFLOW_HOME."""
    root = tmp_path / "cmtflow-home"
    monkeypatch.setenv("CMTFLOW_HOME", str(root))
    monkeypatch.delenv("CMTFLOW_INPUT_ROOTS", raising=False)
    return root


@pytest.fixture()
def sds_inputs(data_root) -> dict:
    """Run conf entries naming an (empty) SDS archive and StationXML file under the data
    root, the default input root: enough for the conf checks."""
    folder = data_root / "inputs"
    (folder / "sds").mkdir(parents=True)
    (folder / "stations.xml").write_text("<FDSNStationXML/>")
    return {"data_source": "sds", "sds_path": str(folder / "sds"), "inventory": str(folder / "stations.xml")}


def bandpass(x: np.ndarray, dt: float, fmin: float = 0.02, fmax: float = 0.2, width: float = 0.5,
             taper_start: bool = True) -> np.ndarray:
    """Zero-phase band-pass with real stop-band rejection (frequency-domain cosine tapers).

    Flat in [fmin, fmax], cosine roll-off over fmin*(1-width)..fmin and fmax..fmax*(1+width),
    zero elsewhere. The last 5 % of the trace is tapered, and the first 5 % unless
    ``taper_start`` is False (for traces that start quiet, at different times); the FFT is
    zero-padded to twice the length, so there is no wrap-around. A recursive (Butterworth) band-pass is not enough
    here: the FK reference traces are full-band up to 25 Hz and their near-field
    high-frequency content is ~10^4 times the content in the band.
    """
    n = len(x)
    taper = np.ones(n)
    nt = max(n // 20, 1)
    ramp = np.hanning(2 * nt)
    taper[-nt:] = ramp[nt:]
    if taper_start:
        taper[:nt] = ramp[:nt]
    spectrum = np.fft.rfft(x * taper, 2 * n)
    f = np.fft.rfftfreq(2 * n, dt)
    h = np.zeros_like(f)
    lo, hi = fmin * (1 - width), fmax * (1 + width)
    h[(f >= fmin) & (f <= fmax)] = 1.0
    a = (f > lo) & (f < fmin)
    h[a] = 0.5 - 0.5 * np.cos(np.pi * (f[a] - lo) / (fmin - lo))
    b = (f > fmax) & (f < hi)
    h[b] = 0.5 + 0.5 * np.cos(np.pi * (f[b] - fmax) / (hi - fmax))
    return np.fft.irfft(spectrum * h, 2 * n)[:n]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Zero-lag normalised correlation."""
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def rms_ratio(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.sqrt(np.mean(ours**2) / np.mean(ref**2)))


@pytest.fixture(scope="session")
def scenario(tmp_path_factory):
    """The test network: inventory, QuakeML and SDS archive (see fdsn_fixtures)."""
    from fdsn_fixtures import build_scenario

    return build_scenario(tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="session")
def dataselect_server(scenario, tmp_path_factory):
    """The real portable-fdsnws-dataselect server over the scenario's SDS archive."""
    from fdsn_fixtures import DataselectServer

    server = DataselectServer(scenario.sds, tmp_path_factory.mktemp("dataselect")).start()
    yield server
    server.stop()


@pytest.fixture()
def proxy(dataselect_server):
    """A fault-injecting front (fdsn_fixtures.FaultProxy) of the dataselect server."""
    from fdsn_fixtures import FaultProxy

    front = FaultProxy(f"http://127.0.0.1:{dataselect_server.port}").start()
    yield front
    front.stop()


@pytest.fixture()
def station_event_server(scenario):
    """FDSN station + event services from the scenario's files (fresh per test: failures reset)."""
    from fdsn_fixtures import StationEventServer

    server = StationEventServer(scenario.inventory, scenario.quakeml).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    return postgres_server.url


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A throwaway PostgreSQL server from the installed binaries (skipped where absent)."""
    from pg_fixtures import PostgresUnavailable, postgres_instance

    pytest.importorskip("psycopg2")
    try:
        with postgres_instance() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


#: The longest test files (``pytest --durations`` on 2 cores), started first: ``make test``
#: spreads files over processes in this order, and the short ones fill in around them.
LONGEST_FIRST = ("test_setup.py", "test_mt3d.py", "test_specfem_real.py", "test_real_world.py", "test_pipeline.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
