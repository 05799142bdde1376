"""The catalogue on SQLite and on a real PostgreSQL server: schema, claims, reuse, search."""

from __future__ import annotations

import json
import multiprocessing
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from cmtflow.catalogue import schema
from cmtflow.catalogue.store import Catalogue, CatalogueError

META = {"solver": "cmtflow-fk", "solver_version": "1.0", "model": "scak", "event_id": "evt1", "variant": "Mrr",
        "source": {"depth_km": 10.0}, "n_stations": 5, "dt": 0.5, "npts": 1024, "path": "/x"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    base = request.getfixturevalue("postgres_url")
    # a fresh database per test
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"t{abs(hash(request.node.nodeid)) % 10**8}"
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def test_schema_is_versioned_and_a_newer_one_refused(url):
    cat = Catalogue(url)
    assert cat.version == schema.VERSION
    assert Catalogue(url).version == schema.VERSION  # opening again migrates nothing
    with cat.engine.begin() as conn:
        conn.execute(schema.schema_version.insert().values(version=schema.VERSION + 1,
                                                           applied_at=datetime.now(timezone.utc)))
    with pytest.raises(CatalogueError, match="newer than this cmtflow"):
        Catalogue(url)


def test_claim_compute_complete_then_reuse(url):
    cat = Catalogue(url)
    state, row = cat.claim("k1", META, "run-a", owner="p1")
    assert state == "compute" and row["state"] == "computing"
    cat.complete("k1", 12.5, owner="p1")
    state, row = cat.claim("k1", META, "run-b", owner="p2")
    assert state == "reuse" and row["created_by_run"] == "run-a" and row["seconds"] == 12.5


def test_a_failed_computation_leaves_nothing_that_looks_complete(url):
    cat = Catalogue(url)
    assert cat.claim("k2", META, "run-a", owner="p1")[0] == "compute"
    cat.release("k2", owner="p1")  # the solver crashed
    assert cat.simulation("k2") is None
    assert cat.claim("k2", META, "run-b", owner="p2")[0] == "compute"


def test_a_stale_claim_is_taken_over_and_a_live_one_waited_for(url):
    cat = Catalogue(url, stale_after_s=60)
    assert cat.claim("k3", META, "run-a", owner="dead")[0] == "compute"
    with cat.engine.begin() as conn:  # its process died an hour ago
        conn.execute(schema.simulations.update().values(heartbeat=datetime.now(timezone.utc) - timedelta(hours=1)))
    state, row = cat.claim("k3", META, "run-b", owner="p2")
    assert state == "compute" and row["claimed_by"] == "p2"
    with pytest.raises(CatalogueError, match="still being computed by p2"):
        cat.claim("k3", META, "run-c", owner="p3", wait_s=1.0, poll_s=0.2)  # p2 is alive: wait, then give up
    with pytest.raises(CatalogueError, match="claim was lost"):
        cat.complete("k3", 1.0, owner="dead")


def _claim_in_process(url, owner, queue):
    cat = Catalogue(url)
    state, _ = cat.claim("shared", META, f"run-{owner}", owner=owner, poll_s=0.05)
    if state == "compute":
        import time

        time.sleep(0.5)  # computing
        cat.complete("shared", 0.5, owner=owner)
    queue.put((owner, state))


def test_two_processes_planning_the_same_simulation_compute_it_once(url):
    Catalogue(url)  # schema first
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_claim_in_process, args=(url, f"p{i}", queue)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    states = sorted(queue.get(timeout=5)[1] for _ in procs)
    assert states == ["compute", "reuse"]


def test_records_and_search(url):
    cat = Catalogue(url)
    cat.record_event({"event_id": "evt1", "time": "2009-04-07T20:12:55", "latitude": 61.45, "longitude": -149.74,
                      "depth_km": 33.0, "magnitude": 4.5, "magnitude_type": "Mw", "provider": "EMSC"})
    cat.start_run("run-a", "evt1", {"model": "scak"}, "/runs/a")
    cat.claim("k1", META, "run-a", owner="p1")
    cat.complete("k1", 1.0, owner="p1")
    cat.link("run-a", "k1", "Mrr", False)
    cat.start_run("run-b", "evt1", {"model": "scak"}, "/runs/b")
    cat.link("run-b", "k1", "Mrr", True)
    solution = {"event_id": "evt1", "mw": 4.49, "m0_nm": 6.8e15, "centroid": {"depth_km": 33.0},
                "moment_tensor_nm": {"Mrr": 1.0}, "variance_reduction": {"after": 0.82}}
    cat.record_solution("run-b", solution, "/runs/b/solution")
    assert [e["event_id"] for e in cat.events(min_magnitude=4.0, since="2009-01-01",
                                              region=(60, 62, -151, -148))] == ["evt1"]
    assert cat.events(min_magnitude=5.0) == []
    assert {r["run_id"]: r["state"] for r in cat.runs("evt1")} == {"run-a": "running", "run-b": "success"}
    uses = cat.simulations(event_id="evt1")
    assert {(u["run_id"], u["reused"]) for u in uses} == {("run-a", False), ("run-b", True)}
    assert [u["run_id"] for u in cat.simulations(event_id="evt1", reused=True)] == ["run-b"]
    assert cat.solutions("evt1")[0]["mw"] == 4.49
    json.dumps(cat.simulations())  # search results are JSON-able
