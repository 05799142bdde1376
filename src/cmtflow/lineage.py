"""OpenLineage for cmt_inversion, through Airflow's OpenLineage provider.

* Datasets: every task declares the files and folders it reads and writes
  (:func:`record_datasets`: ``file`` datasets, namespace ``file``, name = absolute path);
  pod tasks declare theirs through
  :class:`~cmtflow.airflow.kubernetes` (KubernetesPodOperator has no extractor).
* Run facet ``cmtflow`` (:func:`run_facets`, the provider's ``custom_run_facets``): event id,
  origin, magnitude, model, solver and version, band, the simulations with their content
  keys and the runs they were reused from, and the run folder. The provider adds the
  parent (DAG run) facet and the Airflow facets.
* Transport: configured for the provider (``AIRFLOW__OPENLINEAGE__TRANSPORT``): a JSON-lines
  file in the data root for the embedded default (:func:`default_transport`), HTTP to
  Marquez in the Helm chart, or the console.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import attr

from cmtflow.runconf import RunConf
from cmtflow.workspace import CONF_FILE, EVENT_FILE, PLAN_FILE, RunWorkspace, VariantRecord, read_json

log = logging.getLogger(__name__)

#: Where the facet's JSON schema is named (a URN: the schema ships with cmtflow's docs).
FACET_SCHEMA = "urn:cmtflow:openlineage:CmtflowRunFacet:1-0-0"
PRODUCER = "urn:cmtflow:0.1.0"


def default_transport(root: Path) -> dict:
    """The embedded default: one JSON object per line in ``<root>/lineage/openlineage.jsonl``."""
    folder = Path(root) / "lineage"
    folder.mkdir(parents=True, exist_ok=True)
    return {"type": "file", "log_file_path": str(folder / "openlineage.jsonl"), "append": True}


def record_datasets(inputs=(), outputs=()) -> None:
    """Declare the current task's input and output files (no-op outside an Airflow task).

    They become the task's ``inlets``/``outlets`` (OpenLineage ``file`` datasets), which the
    provider reports at completion. (Not through the hook-lineage collector: that is one
    per process, and ``dag.test()`` runs every task in the same process.)
    """
    try:
        from airflow.sdk import get_current_context
        from openlineage.client.event_v2 import Dataset
    except ImportError:  # outside Airflow
        return
    try:
        task = get_current_context()["task"]
    except Exception:  # not inside a running task
        return
    task.inlets = [Dataset(namespace="file", name=str(Path(p).resolve())) for p in inputs if p]
    task.outlets = [Dataset(namespace="file", name=str(Path(p).resolve())) for p in outputs if p]


def _facet_class():
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class CmtflowRunFacet(RunFacet):
        """What a seismologist asks of a run: which event, which model and solver, which simulations."""

        eventId: str = attr.field(default="")  # noqa: N815 (OpenLineage's camelCase)
        origin: dict = attr.field(factory=dict)
        magnitude: float | None = attr.field(default=None)
        model: str = attr.field(default="")
        solver: str = attr.field(default="")
        solverVersion: str = attr.field(default="")  # noqa: N815
        bandSeconds: list = attr.field(factory=list)  # noqa: N815
        simulations: list = attr.field(factory=list)
        runDir: str = attr.field(default="")  # noqa: N815

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA

    return CmtflowRunFacet


def facet_for_run(run_dir: Path) -> dict:
    """The ``cmtflow`` facet's fields from a run folder (what exists of it so far)."""
    run_dir = Path(run_dir)

    def read(name):
        path = run_dir / name
        return json.loads(path.read_text()) if path.is_file() else {}

    event, plan = read(EVENT_FILE), read(PLAN_FILE)
    conf = RunConf.from_dict(read(CONF_FILE)) if (run_dir / CONF_FILE).is_file() else None
    sims = []
    for entry in plan.get("variants", []):
        path = RunWorkspace.at(run_dir).variant_record(entry["variant"])
        record = VariantRecord.read(path) if path.is_file() else None  # not simulated yet
        sims.append({"variant": entry["variant"], "key": entry["key"], "reused": record and record.reused,
                     "reusedFromRun": record and record.reused_from_run})
    return {
        "eventId": event.get("event_id", ""),
        "origin": {k: event[k] for k in ("time", "latitude", "longitude", "depth_km") if k in event},
        "magnitude": event.get("magnitude"), "model": conf.model if conf else "",
        "solver": plan.get("solver", conf.solver if conf else ""), "solverVersion": plan.get("solver_version", ""),
        "bandSeconds": [conf.tmin, conf.tmax] if conf else [], "simulations": sims,
        "runDir": str(run_dir),
    }


def run_facets(task_instance, ti_state) -> dict:
    """The provider's custom run facet function: ``{"cmtflow": CmtflowRunFacet}``."""
    try:
        from cmtflow.catalogue import open_catalogue

        run = open_catalogue().run(task_instance.run_id)
        if run is None:
            return {}
        return {"cmtflow": _facet_class()(**facet_for_run(Path(run["run_dir"])))}
    except Exception as exc:  # lineage must never fail a task
        log.warning("no cmtflow lineage facet for %s: %s", getattr(task_instance, "task_id", "?"), exc)
        return {}


def stage_datasets(stage: str, run_dir: str | Path) -> tuple[list[str], list[str]]:
    """The files and folders a stage reads and writes (its lineage datasets)."""
    run = Path(run_dir)
    ws = RunWorkspace.at(run)
    conf = RunConf.from_dict(read_json(ws.conf_file)) if ws.conf_file.is_file() else RunConf()
    data_inputs = [p for p in (conf.inventory, conf.sds_path, conf.waveforms) if p]
    table = {
        "resolve_event": ([conf.quakeml] if conf.quakeml else [],
                          [ws.conf_file, ws.event_file, ws.initial_source]),
        "select_stations": ([conf.inventory] if conf.inventory else [],
                            [ws.station_metadata, ws.selection_file]),
        "fetch_waveforms": (data_inputs + [ws.selection_file], [ws.path / "raw", ws.stations_report]),
        "plan_simulations": ([ws.initial_source, ws.stations_report], [ws.plan_file]),
        "measure_misfit": ([ws.processed_record.parent, ws.path / "synthetics"], [ws.windows_file]),
        "invert_source": ([ws.processed_record.parent, ws.path / "synthetics", ws.windows_file], [ws.solution]),
        "publish_solution": ([ws.solution], [ws.report, ws.published]),
    }
    inputs, outputs = table.get(stage, ([], []))
    return [str(p) for p in inputs], [str(p) for p in outputs]
