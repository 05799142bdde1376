"""dispel4py graphs: the preprocessing of many stations as a data-streaming workflow.

The graph ``StationTasks -> Preprocess -> WriteProcessed`` streams one task per station:
``Preprocess`` reads the station's files and applies
:func:`~cmtflow.processing.preprocess.preprocess_station`; ``WriteProcessed`` writes the
Z/R/T miniSEED and a status record. The same graph serves observed data (response removal)
and synthetics (none). It runs with dispel4py's ``simple`` mapping (one process) or its
``multi`` mapping (N processes: one task source, N - 2 preprocessing workers, one writer).

dispel4py 1.2.1's multi mapping needs at least one process per PE; given fewer it falls
back to a partitioned mode that fails under networkx 3, so with N < 3 the simple mapping
runs instead (logged). Outputs go to files, not through dispel4py's result queues, so both
mappings leave exactly the same products; ``processed.json`` is written last and marks the
folder complete.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from pathlib import Path

import obspy
from dispel4py.base import ConsumerPE, IterativePE, ProducerPE
from dispel4py.workflow_graph import WorkflowGraph
from obspy import UTCDateTime

from cmtflow.processing.preprocess import PreprocessConfig, ProcessingError, preprocess_station, snr_screen
from cmtflow.workspace import PROCESSED_RECORD, write_atomic, write_json_atomic

log = logging.getLogger(__name__)

MAPPINGS = ("simple", "multi")
#: PEs in the preprocessing graph: the multi mapping needs at least this many processes.
GRAPH_SIZE = 3
STATUS_FOLDER = ".status"


class StationTasks(ProducerPE):
    """Emits the station tasks it is given (one dict per station)."""

    def _process(self, task):
        return task


class Preprocess(IterativePE):
    """Reads one station and runs the preprocessing chain on it."""

    def __init__(self, config: PreprocessConfig):
        IterativePE.__init__(self)
        self.config = config
        self._inventories: dict[str, obspy.Inventory] = {}

    def _inventory(self, path):
        if path is None:
            return None
        if path not in self._inventories:  # once per process, not once per station
            self._inventories[path] = obspy.read_inventory(path)
        return self._inventories[path]

    def _process(self, task):
        try:
            st = obspy.Stream()
            for f in task["files"]:
                st += obspy.read(f)
            if "location" in task:
                st = st.select(location=task["location"])
            out = preprocess_station(st, self.config, UTCDateTime(task["start"]), UTCDateTime(task["end"]),
                                     float(task["back_azimuth"]), self._inventory(task.get("inventory")),
                                     task.get("units"), task.get("spans"))
            notes = []
            if task.get("signal"):
                noise = [UTCDateTime(t) for t in task["noise"]] if task.get("noise") else None
                out, notes = snr_screen(out, noise, tuple(UTCDateTime(t) for t in task["signal"]),
                                        float(task.get("min_snr", 0.0)), self.config.tmax)
                if not len(out):
                    return {"task": task, "error": f"no component above the signal-to-noise limit ({'; '.join(notes)})"}
            return {"task": task, "stream": out, "notes": notes}
        except ProcessingError as exc:
            return {"task": task, "error": str(exc)}
        except Exception as exc:  # an unreadable file or an ObsPy failure: this station only
            return {"task": task, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}


class WriteProcessed(ConsumerPE):
    """Writes ``<out>/NET.STA.LOC.mseed`` (Z, R, T) and ``<out>/.status/NET.STA.json``."""

    def __init__(self, out_dir: str):
        ConsumerPE.__init__(self)
        self.out_dir = out_dir

    def _process(self, result):
        task = result["task"]
        out = Path(self.out_dir)
        status = {"station": task["station"], "ok": "stream" in result}
        if "stream" in result:
            name = f"{task['station']}.{task.get('location') or ''}.mseed"
            write_atomic(out / name, lambda tmp: result["stream"].write(tmp, format="MSEED", encoding="FLOAT64"))
            status["file"] = name
            status["components"] = "".join(tr.stats.channel[-1] for tr in result["stream"])
            status["notes"] = result.get("notes", [])
        else:
            status["reason"] = result["error"]
        write_json_atomic(out / STATUS_FOLDER / f"{task['station']}.json", status)


class _LogWriter(io.TextIOBase):
    def write(self, text):
        if text.strip():
            log.debug("dispel4py: %s", text.rstrip())
        return len(text)


def preprocess_graph(config: PreprocessConfig, out_dir: str | Path, workers: int = 1):
    """The graph and its source PE (inputs are given to the source)."""
    source, work, sink = StationTasks(), Preprocess(config), WriteProcessed(str(out_dir))
    work.numprocesses = max(workers, 1)
    sink.numprocesses = 1
    graph = WorkflowGraph()
    graph.connect(source, StationTasks.OUTPUT_NAME, work, IterativePE.INPUT_NAME)
    graph.connect(work, IterativePE.OUTPUT_NAME, sink, ConsumerPE.INPUT_NAME)
    return graph, source


def run_preprocess(tasks: list[dict], config: PreprocessConfig, out_dir: str | Path, mapping: str = "simple",
                   processes: int = 1) -> dict:
    """Run the preprocessing graph over ``tasks``; returns the ``processed.json`` record.

    :param tasks: one dict per station: ``station`` (NET.STA), ``location``, ``files``
        (miniSEED paths), ``inventory`` (StationXML path or None), ``start``/``end`` (the
        window, ISO times), ``back_azimuth`` (degrees).
    :param mapping: ``"simple"`` or ``"multi"`` (``processes`` processes).
    """
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / PROCESSED_RECORD).unlink(missing_ok=True)  # incomplete until written again
    status_dir = out / STATUS_FOLDER
    status_dir.mkdir(exist_ok=True)
    for old in status_dir.glob("*.json"):
        old.unlink()
    if mapping == "multi" and processes < GRAPH_SIZE:
        log.warning("multi mapping needs %d processes (one per PE), got %d: running the simple mapping",
                    GRAPH_SIZE, processes)
        mapping = "simple"
    t = time.perf_counter()
    if tasks:
        graph, source = preprocess_graph(config, out, processes - 2 if mapping == "multi" else 1)
        inputs = {source: [dict(task) for task in tasks]}
        # dispel4py prints its progress to stdout (also in the worker processes, which
        # inherit sys.stdout): send it to the log so stdout stays the caller's
        with contextlib.redirect_stdout(_LogWriter()):
            if mapping == "simple":
                from dispel4py.new.simple_process import process_and_return

                process_and_return(graph, inputs)
            else:
                from argparse import Namespace

                from dispel4py.new import multi_process

                failure = multi_process.process(graph, inputs, Namespace(num=processes, simple=False, results=False))
                if isinstance(failure, str):
                    raise ProcessingError(failure)
    statuses = [json.loads(p.read_text()) for p in sorted(status_dir.glob("*.json"))]
    done = {s["station"] for s in statuses}
    lost = [task["station"] for task in tasks if task["station"] not in done]
    record = {
        "config": config.as_dict(), "mapping": mapping, "processes": processes if mapping == "multi" else 1,
        "seconds": round(time.perf_counter() - t, 3),
        "stations": [{"station": s["station"], "file": s["file"], "components": s.get("components", ""),
                      **({"notes": s["notes"]} if s.get("notes") else {})} for s in statuses if s["ok"]],
        "failed": [{"station": s["station"], "reason": s["reason"]} for s in statuses if not s["ok"]]
        + [{"station": code, "reason": "no result from the processing graph"} for code in lost],
    }
    write_json_atomic(out / PROCESSED_RECORD, record)
    return record
