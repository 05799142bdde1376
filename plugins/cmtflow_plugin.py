"""cmtflow's Airflow plugin: catalogue REST endpoints under /cmtflow (built in cmtflow.airflow.api)
and the trigger-time run conf checks (cmtflow.airflow.trigger_check)."""

from airflow.plugins_manager import AirflowPlugin

from cmtflow.airflow.api import LIST_PAGE, PREFIX, VIEW_ROUTE, create_app
from cmtflow.airflow.trigger_check import TriggerConfCheck


class CmtflowPlugin(AirflowPlugin):
    name = "cmtflow"
    fastapi_apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "cmtflow catalogue"}]
    fastapi_root_middlewares = [{"middleware": TriggerConfCheck, "name": "cmtflow run conf checks"}]
    external_views = [{"name": "Earthquakes", "href": LIST_PAGE, "destination": "nav", "url_route": VIEW_ROUTE}]
