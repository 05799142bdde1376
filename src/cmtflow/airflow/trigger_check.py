"""Trigger-time checks of ``cmt_inversion`` run confs in the Airflow API server.

Airflow validates each conf value against its ``Param`` schema when a run is triggered
(HTTP 400 naming the param). The rules that need more than one value or the file system
(exactly one way to name the event; files must exist under the input roots, after symbolic
links) live in :func:`cmtflow.runconf.check_conf`; this ASGI middleware, installed by the
plugin on the API server's root app, runs them on ``POST /api/v2/dags/cmt_inversion/dagRuns``
so a bad conf is refused with HTTP 400 before a run exists, not by a failed first task. A
simulation pool that does not exist is refused the same way (:func:`missing_pool_error`):
its runs would otherwise wait for ever; so is a task's trigger of a run (the alerts DAG, an
update, a second pass: ``POST /execution/dag-runs/cmt_inversion/<run id>``), which fails
that task with the same message.

Only authenticated requests are checked: an anonymous or badly signed one goes on to
Airflow, which refuses it (401/403) without telling it anything about the conf rules or
which files exist.
"""

from __future__ import annotations

import json
import logging
import re

log = logging.getLogger(__name__)

TRIGGER_PATH = re.compile(r"^/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
#: A task's trigger of a run (``TriggerDagRunOperator``: the alerts DAG, updates, second passes).
TASK_TRIGGER_PATH = re.compile(r"^/execution/dag-runs/(?P<dag_id>[^/]+)/(?P<run_id>[^/]+)/?$")


def _token(scope) -> str | None:
    """The JWT of the request: ``Authorization: Bearer`` or the UI's ``_token`` cookie."""
    from http.cookies import SimpleCookie

    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:
        return None
    return cookie["_token"].value if "_token" in cookie else None


async def _authenticated(scope) -> bool:
    token = _token(scope)
    if not token:
        return False
    from airflow.api_fastapi.app import get_auth_manager

    try:
        await get_auth_manager().get_user_from_token(token)
    except Exception:  # expired or invalid: Airflow's own check answers
        return False
    return True


def conf_error(body: bytes, roots=None) -> str | None:
    """The :class:`~cmtflow.runconf.ConfError` message for a trigger request body, or None
    when the conf passes (or the body is not JSON: Airflow answers that itself)."""
    from cmtflow.runconf import ConfError, check_conf

    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(request, dict):
        return None
    try:
        check_conf(request.get("conf") or {}, roots)
    except ConfError as exc:
        return str(exc)
    return None


def missing_pool_error() -> str | None:
    """Why a run would wait for ever: the pool its ``simulate`` task names
    (``CMTFLOW_SIMULATION_POOL``) does not exist in this Airflow, whose scheduler then never
    schedules the task and says so only in its own log. The message names the pool and the fix."""
    from cmtflow.airflow.dags import simulation_limits
    from cmtflow.airflow.home import SIMULATION_POOL_ENV, SIMULATION_POOL_SLOTS

    name = simulation_limits().get("pool")
    if name is None:
        return None
    from airflow.models.pool import Pool

    if Pool.get_pool(name) is not None:
        return None
    return (f"the Airflow pool {name!r} named by {SIMULATION_POOL_ENV} does not exist, and a run would wait for it "
            f"for ever: create it (airflow pools set {name} {SIMULATION_POOL_SLOTS} 'cmtflow simulations'), or unset "
            f"{SIMULATION_POOL_ENV} where the DAGs are parsed")


class TriggerConfCheck:
    """ASGI middleware refusing invalid ``cmt_inversion`` confs with HTTP 400 (module docstring)."""

    def __init__(self, app, dag_id: str = "cmt_inversion"):
        self.app = app
        self.dag_id = dag_id

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        task = TASK_TRIGGER_PATH.match(path)
        if task and scope.get("method") == "POST" and task["dag_id"] == self.dag_id:
            # a task's trigger (alerts, updates): Airflow checks the task's token; the conf is the
            # DAG's own making, the pool is the deployment's
            import asyncio

            error = await asyncio.to_thread(missing_pool_error)
            return await (self._refuse(send, error) if error else self.app(scope, receive, send))
        match = TRIGGER_PATH.match(path)
        if not match or scope.get("method") != "POST" or match["dag_id"] != self.dag_id:
            return await self.app(scope, receive, send)
        messages, body = [], b""
        while True:  # the whole body, kept to hand on unchanged
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        error = None
        if await _authenticated(scope):
            import asyncio

            error = conf_error(body) or await asyncio.to_thread(missing_pool_error)
        if error is not None:
            return await self._refuse(send, error)

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)

    async def _refuse(self, send, error: str) -> None:
        log.info("refused a %s trigger: %s", self.dag_id, error)
        payload = json.dumps({"detail": error}).encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
