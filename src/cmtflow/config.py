"""Where cmtflow keeps its data (the data root) and how it is configured.

``CMTFLOW_HOME`` (default ``~/cmtflow``) holds ``events/<event_id>/runs/<run_id>/``,
``simulations/<key>/`` and the Green's function store ``greens/<key>/``.
``CMTFLOW_INPUT_ROOTS`` (folders separated by ``:``; default: the data root) are the only
places a run conf may name files in (QuakeML, StationXML, SDS archive, model, Par_file).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    """The data root: ``$CMTFLOW_HOME`` or ``~/cmtflow``."""
    return Path(os.environ.get("CMTFLOW_HOME") or Path.home() / "cmtflow").expanduser()


def input_roots(root: str | Path | None = None) -> list[Path]:
    """Folders a run conf may read files from: ``$CMTFLOW_INPUT_ROOTS`` (``:``-separated) or
    the data root (``root``, default :func:`data_root`). Returned resolved (symbolic links
    followed)."""
    value = os.environ.get("CMTFLOW_INPUT_ROOTS", "")
    roots = [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]
    roots = roots or [Path(root) if root is not None else data_root()]
    return [r.resolve() for r in roots]


def data_poll_s() -> float:
    """Seconds between two questions to the data centre about which stations' data are in,
    while a run waits for them: ``$CMTFLOW_DATA_POLL_S`` (default 15; at least 1)."""
    return max(1.0, float(os.environ.get("CMTFLOW_DATA_POLL_S", "15")))


def min_free_mb() -> float:
    """Free space (MiB) the data root must have for a run to start: ``$CMTFLOW_MIN_FREE_MB``
    (default 200)."""
    return float(os.environ.get("CMTFLOW_MIN_FREE_MB", "200"))


def specfem_bin() -> Path | None:
    """The folder of the SPECFEM3D executables (``xmeshfem3D``, ``xgenerate_databases``,
    ``xspecfem3D``): ``$CMTFLOW_SPECFEM_BIN`` (``scripts/build-specfem3d`` prints it; a site
    or CUDA build), else None and they are looked up on ``PATH`` (the specfem3d image)."""
    value = os.environ.get("CMTFLOW_SPECFEM_BIN", "").strip()
    return Path(value).expanduser() if value else None


def greens_memory_gb() -> float:
    """Working memory (GB) the embedded solver's Green's functions may take:
    ``$CMTFLOW_GREENS_MEMORY_GB`` (default 2). The wavenumber integration is done in blocks
    of frequencies and distances that fit; the traces computed come on top."""
    value = os.environ.get("CMTFLOW_GREENS_MEMORY_GB", "2")
    try:
        gb = float(value)
    except ValueError:
        gb = float("nan")
    if not gb > 0.01:  # also refuses nan
        from cmtflow.errors import CmtflowError

        raise CmtflowError(f"CMTFLOW_GREENS_MEMORY_GB must be a number of GB above 0.01, got {value!r}")
    return gb


#: How ``cmtflow run`` and ``cmtflow demo`` start the Airflow run (``$CMTFLOW_RUNNER``).
RUNNER_MODES = ("warm", "subprocess")


def runner_mode() -> str:
    """``$CMTFLOW_RUNNER``: ``warm`` (default), a fork of a waiting process that has Airflow,
    the DAG and the science loaded (:mod:`cmtflow.airflow.runner`); ``subprocess``, a new
    interpreter per run."""
    value = os.environ.get("CMTFLOW_RUNNER", "warm").strip() or "warm"
    if value not in RUNNER_MODES:
        from cmtflow.errors import CmtflowError

        raise CmtflowError(f"CMTFLOW_RUNNER must be one of {', '.join(RUNNER_MODES)}, got {value!r}")
    return value


def runner_idle_s() -> float:
    """Seconds the warm runner waits for the next run before it exits:
    ``$CMTFLOW_RUNNER_IDLE_S`` (default 900)."""
    value = os.environ.get("CMTFLOW_RUNNER_IDLE_S", "900")
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        from cmtflow.errors import CmtflowError

        raise CmtflowError(f"CMTFLOW_RUNNER_IDLE_S must be a number of seconds above 0, got {value!r}")
    return seconds
