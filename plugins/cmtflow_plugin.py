"""cmtflow's Airflow plugin: catalogue REST endpoints under /cmtflow (built in cmtflow.airflow.api)."""

from airflow.plugins_manager import AirflowPlugin

from cmtflow.airflow.api import create_app


class CmtflowPlugin(AirflowPlugin):
    name = "cmtflow"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/cmtflow", "name": "cmtflow catalogue"}]
    external_views = [{"name": "Earthquakes", "href": "/cmtflow/events", "destination": "nav",
                       "url_route": "cmtflow-earthquakes"}]
