"""REST endpoints of the cmtflow Airflow plugin: the catalogue, for authenticated users.

Mounted in the Airflow API server under ``/cmtflow`` (``plugins/cmtflow_plugin.py``); every
route requires an Airflow login (the same JWT as the REST API v2: ``Authorization: Bearer``
or the UI's session cookie). JSON like ``cmtflow catalogue ... --json``.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, HTTPException, Query

from cmtflow.catalogue import open_catalogue


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

    return app
