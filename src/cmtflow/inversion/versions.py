"""The solutions of one event as versions: a run may start from one published before (the
1D answer refined in a 3D model, the MT3D case), and then says how far it moved from it.

Each published run of an event is a version, in the order published (the catalogue's
``solutions``); none replaces another. The event's published answer (``start_from:
published``) is its newest version that is not preliminary: a grade D solution is kept and
marked for review (:data:`cmtflow.inversion.quality.PRELIMINARY`), and waits for the next
version or a person. A run with ``start_from`` keeps what it started from
in ``starting_solution.json`` (:attr:`RunWorkspace.starting_solution`) and its solution compares itself with it: the Kagan angle,
the magnitude, and the centroid's shift in depth, position and time.
"""

from __future__ import annotations

import json
from pathlib import Path

from obspy import UTCDateTime
from obspy.geodetics import gps2dist_azimuth

from cmtflow.errors import CmtflowError
from cmtflow.runconf import RunConf
from cmtflow.source import Source, kagan_angle, read_cmtsolution
from cmtflow.workspace import RunWorkspace

#: ``start_from`` value for the event's latest published solution.
LATEST = "published"


def published_solution(catalogue, event_id: str, start_from: str) -> dict:
    """The catalogue row of the solution ``start_from`` names for ``event_id``: the latest
    (``published``) or the one of that run."""
    rows = catalogue.solutions(event_id)  # newest first
    if start_from != LATEST:
        rows = [r for r in rows if r["run_id"] == start_from]
    else:  # a grade D solution is kept for review, never the event's published answer on its own
        held = [r["run_id"] for r in rows if is_preliminary(r)]
        rows = [r for r in rows if not is_preliminary(r)]
        if not rows and held:
            raise CmtflowError(f"start_from: event {event_id} has only preliminary (grade D) solutions "
                               f"({', '.join(held)}), kept for review; name one of those runs in start_from to start "
                               "from it")
    if not rows:
        which = "no solution" if start_from == LATEST else f"no solution of run {start_from!r}"
        raise CmtflowError(f"start_from: {which} of event {event_id} is published in this catalogue; run the "
                           "first inversion (e.g. solver fk) to completion first")
    return rows[0]


def is_preliminary(row: dict) -> bool:
    """Whether a catalogue solution row is preliminary (grade D, kept for review)."""
    return ((row.get("record") or {}).get("quality") or {}).get("status") == "preliminary"


def starting_source(row: dict, hypocenter) -> Source:
    """The published solution as the next run's initial source (its CMTSOLUTION: centroid,
    moment tensor in N·m, half duration), with the catalogue hypocentre."""
    path = Path(row["path"]) / "CMTSOLUTION"
    if not path.is_file():
        raise CmtflowError(f"start_from: {path} is missing (run {row['run_id']}'s solution folder was moved or "
                           "deleted)")
    source = read_cmtsolution(path)
    return Source(source.time, source.latitude, source.longitude, source.depth_km, source.mt, source.half_duration,
                  source.event_id, hypocenter)


def starting_record(row: dict, version: int) -> dict:
    """What the run started from, as ``starting_solution.json`` keeps it."""
    record = row["record"]
    conf = RunConf.from_dict(record.get("run_conf", {}))
    return {"run_id": row["run_id"], "version": version, "solver": conf.solver, "model": conf.model_label,
            "path": row["path"], "mw": record["mw"], "centroid": record["centroid"],
            "moment_tensor_nm": record["moment_tensor_nm"], "nodal_planes": record.get("nodal_planes"),
            "variance_reduction": record["variance_reduction"], "grade": record.get("quality", {}).get("grade")}


def version_of(catalogue, event_id: str, run_id: str) -> int:
    """The version number of ``run_id``'s solution: 1 + the event's solutions published
    before it (its own, once published, keeps its place)."""
    rows = sorted(catalogue.solutions(event_id), key=lambda r: r["published_at"])
    ids = [r["run_id"] for r in rows]
    return ids.index(run_id) + 1 if run_id in ids else len(ids) + 1


def compare(start: dict, source: Source) -> dict:
    """How far ``source`` moved from the starting solution: Kagan angle (degrees), Mw, depth
    (km), epicentral shift (km) and centroid time (s)."""
    mt = start["moment_tensor_nm"]
    before = [mt[k] for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")]
    c = start["centroid"]
    shift_m = gps2dist_azimuth(c["latitude"], c["longitude"], source.latitude, source.longitude)[0]
    return {"kagan_deg": round(float(kagan_angle(before, source.mt)), 2), "dmw": round(source.mw - start["mw"], 3),
            "ddepth_km": round(source.depth_km - c["depth_km"], 3), "shift_km": round(shift_m / 1000.0, 3),
            "dtime_s": round(float(source.time - UTCDateTime(c["time"])), 3)}


def read_starting_record(run_dir: Path) -> dict | None:
    path = RunWorkspace.at(run_dir).starting_solution
    return json.loads(path.read_text()) if path.is_file() else None
