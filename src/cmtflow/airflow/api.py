"""The cmtflow Airflow plugin's app: catalogue REST endpoints and result pages, for
authenticated users.

Mounted in the Airflow API server under ``/cmtflow`` (``plugins/cmtflow_plugin.py``); every
route requires an Airflow login (the same JWT as the REST API v2: ``Authorization: Bearer``
or the UI's session cookie). JSON like ``cmtflow catalogue ... --json``.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse

from cmtflow.catalogue import open_catalogue
from cmtflow.workspace import STATIONS_REPORT




def _authenticated():
    """Airflow's own check (401 for anonymous callers), looked up when the app is built."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def create_app(authenticate=None) -> FastAPI:
    """The plugin's app; ``authenticate`` replaces Airflow's check (tests)."""
    app = FastAPI(title="cmtflow", description="cmtflow catalogue: events, runs, simulations, solutions",
                  dependencies=[Depends(authenticate or _authenticated())])

    @app.get("/catalogue/events")
    def events(event_id: str | None = None, since: str | None = None, until: str | None = None,
               min_magnitude: float | None = None,
               region: str | None = Query(None, description="LATMIN,LATMAX,LONMIN,LONMAX")):
        box = None
        if region:
            try:
                box = tuple(float(x) for x in region.split(","))
            except ValueError:
                box = ()
            if len(box) != 4:
                raise HTTPException(400, "region: expected LATMIN,LATMAX,LONMIN,LONMAX in degrees")
        return open_catalogue().events(event_id, since, until, min_magnitude, box)

    @app.get("/catalogue/runs")
    def runs(event_id: str | None = None, state: str | None = None):
        return open_catalogue().runs(event_id, state)

    @app.get("/catalogue/runs/{run_id}")
    def run(run_id: str):
        found = open_catalogue().run(run_id)
        if found is None:
            raise HTTPException(404, f"run_id: no run {run_id!r}")
        return found

    @app.get("/catalogue/simulations")
    def simulations(event_id: str | None = None, model: str | None = None, solver: str | None = None,
                    reused: bool | None = None, run_id: str | None = None):
        return open_catalogue().simulations(event_id, model, solver, reused, run_id)

    @app.get("/solutions")
    def solutions(event_id: str | None = None):
        return open_catalogue().solutions(event_id)

    @app.get("/events", response_class=HTMLResponse)
    def events_page():
        """Earthquakes and their runs, newest first, with links to each run's report."""
        from cmtflow.inversion.grade import headline

        catalogue = open_catalogue()
        solved = {s["run_id"]: s for s in catalogue.solutions()}
        rows = []
        for event in catalogue.events():
            for run in catalogue.runs(event["event_id"]):
                sol = solved.get(run["run_id"])
                record = (sol or {}).get("record") or {}
                result = (f"Mw {sol['mw']:.2f}, VR {100 * sol['variance_reduction']:.1f} %, "
                          f"{headline(record.get('quality') or {}, record.get('uncertainties'))}" if sol else "")
                link = (f'<a href="runs/{html.escape(run["run_id"])}/report/">report</a>' if sol else "")
                rows.append(f"<tr><td>{html.escape(event['event_id'])}</td><td>{html.escape(event['time'][:19])}</td>"
                            f"<td>{event['magnitude_type']} {event['magnitude']:.1f}</td>"
                            f"<td>{html.escape(run['run_id'])}</td><td>{html.escape(run['state'])}</td>"
                            f"<td>{result}</td><td>{link}</td></tr>")
        return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>cmtflow: earthquakes</title><style>"
                "body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px}"
                "table{border-collapse:collapse}</style></head><body><h1>Earthquakes</h1><table><tr><th>event</th>"
                "<th>origin time</th><th>magnitude</th><th>run</th><th>state</th><th>solution</th><th></th></tr>"
                + "".join(rows) + "</table></body></html>")

    def run_file(run_id: str, folder: str | None, name: str) -> FileResponse:
        run = open_catalogue().run(run_id)
        if run is None:
            raise HTTPException(404, f"run_id: no run {run_id!r}")
        base = Path(run["run_dir"]) / folder if folder else Path(run["run_dir"])
        if Path(name).name != name or name.startswith("."):  # one file of the folder, nothing else
            raise HTTPException(404, f"no file {name!r}")
        path = base / name
        if not path.is_file():
            raise HTTPException(404, f"run {run_id}: no {folder + '/' if folder else ''}{name}")
        return FileResponse(path)

    @app.get("/runs/{run_id}/report/")
    def report_page(run_id: str):
        """The run's HTML report (its relative links resolve to the routes below)."""
        return run_file(run_id, "report", "index.html")

    @app.get("/runs/{run_id}/report/{name}")
    def report_file(run_id: str, name: str):
        return run_file(run_id, "report", name)

    @app.get("/runs/{run_id}/solution/{name}")
    def solution_file(run_id: str, name: str):
        return run_file(run_id, "solution", name)

    @app.get("/runs/{run_id}/stations.json")
    def stations_file(run_id: str):
        return run_file(run_id, None, STATIONS_REPORT)

    return app
