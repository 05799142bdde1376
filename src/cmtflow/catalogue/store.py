"""The catalogue store: records, simulation claims, search.

Claims (:meth:`Catalogue.claim`): the first run to insert a simulation's key computes it;
another run planning the same key waits until it is complete and reuses it. The computing
process refreshes a heartbeat; a claim whose heartbeat is older than ``stale_after_s`` is
taken over (its process died; at once when that process ran on this host and is gone), and a
failed computation releases its claim. A row is marked ``complete`` only after its folder is
complete, so nothing half-written is ever reused.

Every operation runs in one transaction and is retried while the database is unreachable
(a restart, a fail-over): ``CMTFLOW_CATALOGUE_RETRY_S`` seconds in all (default 120), with
exponential backoff, then :class:`CatalogueError` naming the database (password hidden).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from cmtflow.catalogue import schema
from cmtflow.config import data_root, settings
from cmtflow.errors import CmtflowError

log = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def catalogue_url(root: str | Path | None = None) -> str:
    """``CMTFLOW_CATALOGUE_URL``, else SQLite in the data root."""
    url = settings.catalogue_url
    if url:
        return url
    base = Path(root) if root is not None else data_root()
    base.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{base / 'catalogue.sqlite'}"


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` (``host:pid``) was a process of this host that no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host (pod): only the heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def retry_budget_s() -> float:
    return settings.catalogue_retry_s


def _retried(method):
    """Run ``method`` again while the database is unreachable (module docstring)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        deadline, delay = time.monotonic() + self.retry_s, 0.5
        while True:
            try:
                return method(self, *args, **kwargs)
            except OperationalError as exc:
                reason = " ".join(str(exc.orig).split())[:200]
                if time.monotonic() + delay > deadline:
                    raise CatalogueError(f"catalogue {self._safe_url()} unreachable for {self.retry_s:.0f} s "
                                         f"({method.__name__}): {reason}") from None
                log.warning("catalogue %s unreachable (%s: %s); retrying in %.1f s", self._safe_url(),
                            method.__name__, reason, delay)
                time.sleep(delay)
                delay = min(2 * delay, 10.0)

    return wrapper


class CatalogueError(CmtflowError):
    """The catalogue cannot be used (unreachable, newer schema, a claim that never completes)."""

    retriable = True


class Catalogue:
    """One catalogue database (see module docstring)."""

    def __init__(self, url: str, stale_after_s: float = 600.0, connect_retries: int = 5,
                 retry_s: float | None = None):
        self.url = url
        self.stale_after_s = stale_after_s
        self.retry_s = retry_budget_s() if retry_s is None else retry_s
        kwargs = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 60}
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            @sa.event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(dbapi_conn, _record):  # concurrent readers while one process writes
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        self._migrate(connect_retries)

    # ------------------------------------------------------------------ schema
    def _migrate(self, retries: int) -> None:
        delay = 1.0
        for attempt in range(retries + 1):
            try:
                with self.engine.begin() as conn:
                    schema.schema_version.create(conn, checkfirst=True)
                    applied = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar() or 0
                if applied > schema.VERSION:
                    raise CatalogueError(f"catalogue {self._safe_url()} has schema version {applied}, newer than "
                                         f"this cmtflow ({schema.VERSION}): upgrade cmtflow")
                for version in range(applied + 1, schema.VERSION + 1):
                    try:
                        with self.engine.begin() as conn:
                            schema.MIGRATIONS[version - 1](conn)
                            conn.execute(schema.schema_version.insert().values(version=version, applied_at=now()))
                    except IntegrityError:
                        pass  # another process applied it at the same time
                return
            except OperationalError as exc:
                if attempt == retries:
                    raise CatalogueError(f"catalogue {self._safe_url()} unreachable: "
                                         f"{' '.join(str(exc.orig).split())[:200]}") from None
                log.warning("catalogue unreachable (%s); retrying in %.0f s", exc.orig, delay)
                time.sleep(delay)
                delay *= 2

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    @property
    @_retried
    def version(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()

    # ------------------------------------------------------------------ records
    def _upsert(self, table: sa.Table, key: dict, values: dict) -> None:
        with self.engine.begin() as conn:
            where = sa.and_(*(table.c[k] == v for k, v in key.items()))
            if conn.execute(sa.select(table).where(where)).first() is None:
                conn.execute(table.insert().values(**key, **values))
            else:
                conn.execute(table.update().where(where).values(**values))

    @_retried
    def record_event(self, quake: dict) -> None:
        from obspy import UTCDateTime

        self._upsert(schema.events, {"event_id": quake["event_id"]}, {
            "time": UTCDateTime(quake["time"]).datetime.replace(tzinfo=timezone.utc),
            "latitude": quake["latitude"], "longitude": quake["longitude"], "depth_km": quake["depth_km"],
            "magnitude": quake["magnitude"], "magnitude_type": quake["magnitude_type"],
            "provider": quake["provider"], "updated_at": now()})

    @_retried
    def start_run(self, run_id: str, event_id: str, conf: dict, run_dir: str) -> None:
        self._upsert(schema.runs, {"run_id": run_id}, {"event_id": event_id, "conf": conf, "state": "running",
                                                        "run_dir": run_dir, "started_at": now(), "finished_at": None})

    @_retried
    def finish_run(self, run_id: str, state: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(schema.runs.update().where(schema.runs.c.run_id == run_id).values(
                state=state, finished_at=now()))

    @_retried
    def record_solution(self, run_id: str, solution: dict, path: str) -> None:
        """The published solution, in one transaction with the run's final state."""
        values = {"event_id": solution["event_id"], "mw": solution["mw"], "m0_nm": solution["m0_nm"],
                  "centroid": solution["centroid"], "moment_tensor_nm": solution["moment_tensor_nm"],
                  "variance_reduction": solution["variance_reduction"]["after"], "record": solution, "path": path,
                  "published_at": now()}
        with self.engine.begin() as conn:
            t = schema.solutions
            if conn.execute(sa.select(t.c.run_id).where(t.c.run_id == run_id)).first() is None:
                conn.execute(t.insert().values(run_id=run_id, **values))
            else:
                conn.execute(t.update().where(t.c.run_id == run_id).values(**values))
            conn.execute(schema.runs.update().where(schema.runs.c.run_id == run_id).values(
                state="success", finished_at=now()))

    # ------------------------------------------------------------------ simulations
    @_retried
    def claim(self, key: str, meta: dict, run_id: str, owner: str | None = None, wait_s: float = 7200.0,
              poll_s: float = 1.0) -> tuple[str, dict]:
        """``("compute", row)`` when this caller must compute the simulation, ``("reuse", row)``
        when it is complete. Waits while another live process computes it."""
        owner = owner or owner_id()
        t = schema.simulations
        deadline = time.monotonic() + wait_s
        while True:
            try:
                with self.engine.begin() as conn:
                    conn.execute(t.insert().values(key=key, state="computing", claimed_by=owner, heartbeat=now(),
                                                   created_by_run=run_id, **meta))
                return "compute", self.simulation(key)
            except IntegrityError:
                pass
            row = self.simulation(key)
            if row is None:
                continue  # released between our insert and read: try again
            if row["state"] == "complete":
                return "reuse", row
            if row["claimed_by"] == owner:  # our own insert, committed before a dropped connection
                return "compute", row
            beat = _aware(row["heartbeat"])
            stale = beat is None or (now() - beat).total_seconds() > self.stale_after_s
            if stale or owner_is_dead(row["claimed_by"]):
                with self.engine.begin() as conn:
                    taken = conn.execute(t.update().where(sa.and_(
                        t.c.key == key, t.c.state == "computing", t.c.claimed_by == row["claimed_by"])).values(
                        claimed_by=owner, heartbeat=now(), created_by_run=run_id)).rowcount
                if taken == 1:
                    log.warning("simulation %s: claim of %s is stale (process gone, or no heartbeat since %s); "
                                "computing it again", key, row["claimed_by"], beat)
                    return "compute", self.simulation(key)
            if time.monotonic() > deadline:
                raise CatalogueError(f"simulation {key} is still being computed by {row['claimed_by']} after "
                                     f"{wait_s:.0f} s of waiting")
            time.sleep(poll_s)

    @_retried
    def heartbeat(self, key: str, owner: str | None = None) -> None:
        t = schema.simulations
        with self.engine.begin() as conn:
            conn.execute(t.update().where(sa.and_(t.c.key == key, t.c.claimed_by == (owner or owner_id()))).values(
                heartbeat=now()))

    @_retried
    def complete(self, key: str, seconds: float, owner: str | None = None) -> None:
        t = schema.simulations
        with self.engine.begin() as conn:
            done = conn.execute(t.update().where(sa.and_(t.c.key == key, t.c.claimed_by == (owner or owner_id()),
                                                         t.c.state == "computing")).values(
                state="complete", completed_at=now(), seconds=seconds)).rowcount
        if done == 1:
            return
        row = self.simulation(key)  # already ours and complete: a retry after a dropped connection
        if not (row and row["state"] == "complete" and row["claimed_by"] == (owner or owner_id())):
            raise CatalogueError(f"simulation {key}: the claim was lost before completion (taken over as stale?)")

    @_retried
    def release(self, key: str, owner: str | None = None) -> None:
        """Give up a claim after a failure, so that another attempt computes it."""
        t = schema.simulations
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(sa.and_(t.c.key == key, t.c.claimed_by == (owner or owner_id()),
                                                  t.c.state == "computing")))

    @_retried
    def forget(self, key: str) -> None:
        """Drop a complete simulation whose folder has gone (it will be computed again)."""
        with self.engine.begin() as conn:
            conn.execute(schema.run_simulations.delete().where(schema.run_simulations.c.key == key))
            conn.execute(schema.simulations.delete().where(schema.simulations.c.key == key))

    @_retried
    def link(self, run_id: str, key: str, variant: str, reused: bool) -> None:
        self._upsert(schema.run_simulations, {"run_id": run_id, "key": key}, {"variant": variant, "reused": reused})

    @_retried
    def simulation(self, key: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.simulations).where(schema.simulations.c.key == key)).mappings().first()
        return dict(row) if row else None

    # ------------------------------------------------------------------ search
    def _rows(self, query) -> list[dict]:
        with self.engine.connect() as conn:
            return [_jsonable(dict(r)) for r in conn.execute(query).mappings()]

    @_retried
    def events(self, event_id=None, since=None, until=None, min_magnitude=None, region=None) -> list[dict]:
        """Events, newest first; ``since``/``until`` ISO times, ``region`` (lat0, lat1, lon0, lon1)."""
        from obspy import UTCDateTime

        since, until = (UTCDateTime(v).datetime.replace(tzinfo=timezone.utc) if v else None for v in (since, until))
        t = schema.events
        q = sa.select(t).order_by(t.c.time.desc())
        if event_id:
            q = q.where(t.c.event_id == event_id)
        if since:
            q = q.where(t.c.time >= since)
        if until:
            q = q.where(t.c.time <= until)
        if min_magnitude is not None:
            q = q.where(t.c.magnitude >= min_magnitude)
        if region:
            lat0, lat1, lon0, lon1 = region
            q = q.where(t.c.latitude.between(lat0, lat1), t.c.longitude.between(lon0, lon1))
        return self._rows(q)

    @_retried
    def run(self, run_id: str) -> dict | None:
        rows = self._rows(sa.select(schema.runs).where(schema.runs.c.run_id == run_id))
        return rows[0] if rows else None

    @_retried
    def runs(self, event_id=None, state=None) -> list[dict]:
        t = schema.runs
        q = sa.select(t).order_by(t.c.started_at.desc())
        if event_id:
            q = q.where(t.c.event_id == event_id)
        if state:
            q = q.where(t.c.state == state)
        return self._rows(q)

    @_retried
    def simulations(self, event_id=None, model=None, solver=None, reused=None, run_id=None) -> list[dict]:
        """Simulations with, per run that used them, whether it reused them (the lineage)."""
        s, l = schema.simulations, schema.run_simulations
        q = sa.select(s, l.c.run_id, l.c.reused).select_from(s.outerjoin(l, s.c.key == l.c.key)).order_by(
            s.c.event_id, s.c.key)
        for column, value in ((s.c.event_id, event_id), (s.c.model, model), (s.c.solver, solver),
                              (l.c.run_id, run_id), (l.c.reused, reused)):
            if value is not None:
                q = q.where(column == value)
        return self._rows(q)

    @_retried
    def solutions(self, event_id=None) -> list[dict]:
        t = schema.solutions
        q = sa.select(t).order_by(t.c.published_at.desc())
        if event_id:
            q = q.where(t.c.event_id == event_id)
        return self._rows(q)


def _jsonable(row: dict) -> dict:
    return {k: (_aware(v).isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


_OPEN: dict[str, Catalogue] = {}


def open_catalogue(root: str | Path | None = None) -> Catalogue:
    """The catalogue of this configuration (one engine per URL and process)."""
    url = catalogue_url(root)
    if url not in _OPEN:
        _OPEN[url] = Catalogue(url)
    return _OPEN[url]

