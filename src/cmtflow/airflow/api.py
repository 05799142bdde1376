"""The cmtflow Airflow plugin's app: catalogue REST endpoints and result pages, for
authenticated users.

Mounted in the Airflow API server under ``/cmtflow`` (``plugins/cmtflow_plugin.py``); every
route requires an Airflow login (the same JWT as the REST API v2: ``Authorization: Bearer``
or the UI's session cookie), the API reference (``/cmtflow/docs``, made here from the OpenAPI
schema: nothing loaded from elsewhere) too. JSON like ``cmtflow catalogue ... --json``. A
person's page (the earthquake list, a report, the reference) asked for without a login goes
to Airflow's login page and back; an unknown run gets a page saying so, with the way back to
the list; the JSON endpoints answer JSON.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cmtflow.catalogue import open_catalogue
from cmtflow.workspace import STATIONS_REPORT

#: Where the plugin is mounted, and its earthquake list (every page links back to it).
PREFIX = "/cmtflow"
LIST_PAGE = f"{PREFIX}/events"
#: The Airflow UI route that shows the list in Airflow's frame (the plugin's external view).
VIEW_ROUTE = "cmtflow-earthquakes"
VIEW_PATH = f"/plugin/{VIEW_ROUTE}"
#: Every page of the plugin, opened on its own (a bookmark, a link from a mail), shows itself
#: inside Airflow's frame: Airflow's view route takes the page's own path after it
#: (``/plugin/cmtflow-earthquakes/cmtflow/runs/<id>/report/``), opens that path in its frame and
#: keeps its address in step with the frame's.
FRAME_SCRIPT = f"""<script>if (window.top === window.self) {{
  location.replace("{VIEW_PATH}" + location.pathname + location.search + location.hash);
}}</script>"""
#: The routes of pages a person opens (the rest are JSON), under :data:`PREFIX`.
PAGE_ROUTES = ("/events", "/docs", "/runs/")
STYLE = ("body{font-family:sans-serif;margin:2em;color:#222}td,th{border:1px solid #ccc;padding:4px 8px;"
         "text-align:left}table{border-collapse:collapse}th{background:#f4f4f4}")


#: The way back to the earthquake list, on every other page.
BACK_LINK = f"<p><a href='{LIST_PAGE}'>&larr; Earthquakes</a></p>"
#: What every page of the plugin starts with: into Airflow's frame, and (but the list) the way back.
PAGE_TOP = FRAME_SCRIPT + BACK_LINK


def page(title: str, body: str, back: bool = True) -> str:
    """A plugin page, with the way back to the earthquake list (``back``)."""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>cmtflow: {html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body>{FRAME_SCRIPT}{BACK_LINK if back else ''}"
            f"<h1>{html.escape(title)}</h1>{body}</body></html>")


def _is_page(request: Request) -> bool:
    path = request.url.path.removeprefix(PREFIX)
    return path.startswith(PAGE_ROUTES) and not path.endswith((".json", ".png", ".xml")) and \
        "CMTSOLUTION" not in path


def _airflow_login(next_url: str) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=next_url)


def api_reference(schema: dict) -> str:
    """The API reference as a page, from the app's OpenAPI schema."""
    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            params = ", ".join(f"<code>{html.escape(p['name'])}</code> ({p.get('in', '')})"
                               for p in op.get("parameters", []))
            doc = html.escape(op.get("description") or op.get("summary") or "")
            rows.append(f"<tr><td>{method.upper()}</td><td><code>{html.escape(PREFIX + path)}</code></td>"
                        f"<td>{params}</td><td>{doc}</td></tr>")
    return page("cmtflow API", f"<p>{html.escape(schema.get('info', {}).get('description', ''))}. Every endpoint "
                f"needs an Airflow login; the schema is at <a href='{PREFIX}/openapi.json'>openapi.json</a>.</p>"
                "<table><tr><th>method</th><th>path</th><th>parameters</th><th>what</th></tr>"
                + "".join(rows) + "</table>")


def _solution_cell(sol: dict, record: dict) -> str:
    """A solution in the list: Mw and depth with their bootstrap spreads, the headline (plain)
    variance reduction, the grade's line."""
    from cmtflow.inversion.grade import headline
    from cmtflow.report.text import pm

    unc = record.get("uncertainties") or {}
    mw = f"Mw {sol['mw']:.2f}{pm(unc.get('mw'), 2)}"
    depth = (record.get("centroid") or {}).get("depth_km")
    depth_text = "" if depth is None else f", {depth:.1f}{pm(unc.get('depth_km'), 1)} km"
    plain = (record.get("variance_reduction") or {}).get("plain")
    fit = f", VR {100 * plain:.1f} %" if plain is not None else ""
    return html.escape(f"{mw}{depth_text}{fit}, {headline(record.get('quality') or {}, unc)}")


def _authenticated():
    """Airflow's own check (401 for anonymous callers), looked up when the app is built."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def create_app(authenticate=None, login_url=None) -> FastAPI:
    """The plugin's app; ``authenticate`` and ``login_url`` (``next`` -> the login page's URL)
    replace Airflow's (tests)."""
    app = FastAPI(title="cmtflow", description="cmtflow catalogue: events, runs, simulations, solutions",
                  dependencies=[Depends(authenticate or _authenticated())], docs_url=None, redoc_url=None,
                  openapi_url=None)
    login = login_url or _airflow_login

    @app.exception_handler(StarletteHTTPException)  # Airflow's login check raises Starlette's own too
    def answer(request: Request, exc: StarletteHTTPException):
        if not _is_page(request):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        if exc.status_code == 401:
            return RedirectResponse(login(str(request.url)), 303)
        again = (f" <a href='{html.escape(login(str(request.url)))}'>Log in</a> again."
                 if exc.status_code == 403 else "")
        return HTMLResponse(page("Not found" if exc.status_code == 404 else "Refused",
                                 f"<p>{html.escape(str(exc.detail), quote=False)}.{again}</p>"), exc.status_code)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi():
        return app.openapi()

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs():
        return api_reference(app.openapi())

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
        catalogue = open_catalogue()
        solved = {s["run_id"]: s for s in catalogue.solutions()}
        rows = []
        for event in catalogue.events():
            for run in catalogue.runs(event["event_id"]):
                sol = solved.get(run["run_id"])
                record = (sol or {}).get("record") or {}
                result = _solution_cell(sol, record) if sol else ""
                link = (f'<a href="runs/{html.escape(run["run_id"])}/report/">report</a>' if sol else "")
                rows.append(f"<tr><td>{html.escape(event['event_id'])}</td><td>{html.escape(event['time'][:19])}</td>"
                            f"<td>{event['magnitude_type']} {event['magnitude']:.1f}</td>"
                            f"<td>{html.escape(run['run_id'])}</td><td>{html.escape(run['state'])}</td>"
                            f"<td>{result}</td><td>{link}</td></tr>")
        return page("Earthquakes", "<table><tr><th>event</th><th>origin time</th><th>magnitude</th><th>run</th>"
                    "<th>state</th><th>solution</th><th></th></tr>" + "".join(rows) + "</table>"
                    f"<p>API: <a href='{PREFIX}/docs'>reference</a>.</p>", back=False)

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

    @app.get("/runs/{run_id}/report/", response_class=HTMLResponse)
    def report_page(run_id: str):
        """The run's HTML report (its relative links resolve to the routes below), with the way
        back to the list (the report itself is a file that also opens on its own)."""
        text = Path(run_file(run_id, "report", "index.html").path).read_text()
        return text.replace("<body>", "<body>" + PAGE_TOP, 1)

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
