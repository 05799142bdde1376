"""The modules a ``cmt_inversion`` task uses, loaded once where task processes are forked from.

Each task of a run is a process of its own: Airflow's LocalExecutor forks its workers from
the scheduler when it starts, and each worker forks a process per task, which parses the DAG
file and runs the stage. Whatever the scheduler has imported by then, every task inherits for
free; whatever it has not, every task imports again (about a second of ObsPy, SciPy, numba
and cmtflow per task, on the path from trigger to solution). :func:`in_scheduler` imports
them in the scheduler (called by :mod:`cmtflow.airflow.policy`, which every Airflow process
loads at start-up); the warm runner of ``cmtflow run`` loads the same list before it forks.
"""

from __future__ import annotations

import importlib
import logging
import sys

from cmtflow.config import settings

log = logging.getLogger(__name__)

#: What the stages import when they run. A module missing here is imported by the task that
#: needs it: slower, never wrong. (Measured: the modules a demo run imported after a warm-up,
#: by comparing ``sys.modules``.)
TASK_MODULES = ("cmtflow.cli", "cmtflow.stages", "cmtflow.airflow.dags", "cmtflow.inversion",
                "cmtflow.inversion.depth", "cmtflow.report.publish", "cmtflow.inversion.setup",
                "cmtflow.inversion.screening", "cmtflow.inversion.scans", "cmtflow.inversion.simulations",
                "cmtflow.inversion.quality", "cmtflow.inversion.embedded", "cmtflow.inversion.duration",
                "cmtflow.inversion.versions", "cmtflow.processing.graphs", "cmtflow.processing.tasks",
                "cmtflow.processing.rotation", "cmtflow.solvers.fk", "cmtflow.solvers.synthetics",
                "cmtflow.report.html", "cmtflow.report.plots", "cmtflow.data.fetch", "cmtflow.data.arrivals",
                "cmtflow.data.waveforms", "cmtflow.catalogue.claims", "cmtflow.lineage",
                "dispel4py.new.multi_process", "scipy.signal", "obspy.clients.filesystem.sds", "obspy.clients.fdsn",
                "obspy.io.mseed.core", "obspy.io.quakeml.core", "obspy.io.stationxml.core", "matplotlib.pyplot")

def load(modules=TASK_MODULES) -> None:
    """Import ``modules``; one that fails is left to the task that needs it (logged)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a preload must never stop the scheduler
            log.warning("cmtflow: could not preload %s: %s", name, exc)


def in_scheduler() -> bool:
    """In an ``airflow scheduler`` process (whose LocalExecutor forks its workers from it),
    unless ``CMTFLOW_PRELOAD=0``: load :data:`TASK_MODULES` (returns whether it did)."""
    if not settings.preload or sys.argv[1:2] != ["scheduler"]:
        return False
    load()
    return True
