"""One simulation of a run through the catalogue: claim, compute or reuse, record.

What the simulation step commands (``cmtflow synth --record``, ``cmtflow specfem simulate``)
do around the solver: the run folder named by the record path gives the plan (content key,
solver, model, source), the catalogue decides whether to compute, a heartbeat thread keeps
the claim alive while computing, and the run's record says whether it was reused and from
which run.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from cmtflow.catalogue.store import open_catalogue, owner_id
from cmtflow.workspace import SYNTHETICS_MANIFEST, RunWorkspace, SimulationPlan, VariantRecord

log = logging.getLogger(__name__)

HEARTBEAT_S = 30.0


def _meta(run_dir: Path, variant: str) -> tuple[str, dict]:
    from cmtflow.source import read_cmtsolution

    ws = RunWorkspace.at(run_dir)
    plan = SimulationPlan.read(ws)
    entry = plan.variant(variant)
    source = read_cmtsolution(ws.simulations / entry.cmtsolution)
    stations = ws.stations_file.read_text().strip().splitlines()
    return entry.key, {
        "solver": plan.solver, "solver_version": plan.solver_version, "model": plan.model,
        "event_id": ws.event_id, "variant": variant, "n_stations": len(stations), "dt": plan.dt, "npts": plan.npts,
        "source": {"time": str(source.time), "latitude": source.latitude, "longitude": source.longitude,
                   "depth_km": source.depth_km, "moment_tensor_nm": [float(v) for v in source.mt]}}


def simulate_with_catalogue(out: Path, record: Path, variant: str, compute: Callable[[], None]) -> dict:
    """Compute (``compute()`` writes ``out``) or reuse the simulation; returns the run's record."""
    run_dir = record.parent.parent
    run_id = run_dir.name
    key, meta = _meta(run_dir, variant)
    catalogue = open_catalogue(run_dir.parents[3])
    owner = owner_id()
    state, row = catalogue.claim(key, {**meta, "path": str(out)}, run_id, owner)
    if state == "reuse" and not (out / SYNTHETICS_MANIFEST).is_file():
        log.warning("simulation %s is catalogued but its folder %s is gone: computing it again", key, out)
        catalogue.forget(key)
        state, row = catalogue.claim(key, {**meta, "path": str(out)}, run_id, owner)
    reused = state == "reuse"
    if not reused:
        stop = threading.Event()

        def beat():
            while not stop.wait(HEARTBEAT_S):
                catalogue.heartbeat(key, owner)

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        t = time.perf_counter()
        try:
            compute()
        except BaseException:
            catalogue.release(key, owner)  # a crash leaves no entry that looks complete
            raise
        finally:
            stop.set()
        catalogue.complete(key, time.perf_counter() - t, owner)
    catalogue.link(run_id, key, variant, reused)
    result = VariantRecord(variant, key, str(out), reused, row["created_by_run"] if reused else None)
    result.write(record)
    return result
