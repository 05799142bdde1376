"""Earthquake alerts against a local FDSN event service (real HTTP, real ObsPy client)."""

from __future__ import annotations

import pytest
from fdsn_fixtures import EventService
from obspy import UTCDateTime
from obspy.core.event import Event, Magnitude, Origin, ResourceIdentifier

from cmtflow.alerts import AlertConfig, Region, poll, run_conf, run_id_for
from cmtflow.runconf import check_conf

NOW = UTCDateTime("2024-06-01T12:00:00")


def _event(event_id, minutes_ago, lat, lon, mag, depth_km=10.0):
    origin = Origin(resource_id=ResourceIdentifier(f"smi:test/origin/{event_id}"), time=NOW - 60 * minutes_ago,
                    latitude=lat, longitude=lon, depth=depth_km * 1000.0)
    m = Magnitude(mag=mag, magnitude_type="Mw", origin_id=origin.resource_id)
    event = Event(resource_id=ResourceIdentifier(f"smi:test/event/{event_id}"), origins=[origin], magnitudes=[m])
    event.preferred_origin_id, event.preferred_magnitude_id = origin.resource_id, m.resource_id
    return event


@pytest.fixture()
def agencies():
    a = EventService([_event("a1", 10, 46.0, 8.0, 4.6), _event("a2", 20, 38.0, 15.0, 5.1),
                      _event("a3", 30, 61.4, -149.7, 4.4), _event("small", 5, 46.5, 8.5, 2.5)])
    b = EventService([_event("b1", 10.1, 46.05, 8.02, 4.7)])  # agency B's id for a1
    yield a, b
    a.stop()
    b.stop()


def test_three_new_events_start_three_runs_and_the_next_poll_none(agencies):
    a, b = agencies
    config = AlertConfig(services=(a.url, b.url), min_magnitude=4.0)
    first = poll(config, NOW)
    assert sorted(first.start) == ["alert__a1", "alert__a2", "alert__a3"]  # b1 is a1: one run
    assert first.skipped["b1"].startswith("same earthquake as a1")  # (the M2.5 is filtered by the service)
    known = list(first.start.values())
    second = poll(config, NOW + 60, known=known, known_runs=set(first.start))
    assert second.start == {} and second.errors == []
    # the conf a run gets is valid and names the agency's event
    conf = check_conf(run_conf(first.start["alert__a1"], {"model": "scak"}))
    assert conf["event_id"] == "a1" and conf["event_service"] == a.url


def test_regions_with_their_own_thresholds(agencies):
    a, _ = agencies
    config = AlertConfig(services=(a.url,), regions=(Region("Alps", 44, 48, 5, 11, 4.5),
                                                     Region("Alaska", 55, 70, -170, -130, 4.0)))
    result = poll(config, NOW)
    assert sorted(result.start) == ["alert__a1", "alert__a3"]
    assert result.skipped["a2"] == "outside the alert regions"


def test_updates_follow_the_policy(agencies):
    a, _ = agencies
    known = [e for e in poll(AlertConfig(services=(a.url,)), NOW).start.values()]
    a.events[0].magnitudes[0].mag = 5.2  # a1 re-estimated: 4.6 -> 5.2
    ignored = poll(AlertConfig(services=(a.url,)), NOW, known=known, known_runs={"alert__a1"})
    assert ignored.start == {} and ignored.skipped["a1"].endswith("(update ignored)")
    rerun = poll(AlertConfig(services=(a.url,), update_policy="rerun"), NOW, known=known, known_runs={"alert__a1"})
    assert list(rerun.start) == ["alert__a1__r1"] and rerun.start["alert__a1__r1"].magnitude == 5.2


def test_a_malformed_answer_is_logged_and_starts_nothing(agencies, caplog):
    a, _ = agencies
    a.broken = True
    result = poll(AlertConfig(services=(a.url,)), NOW)
    assert result.start == {} and len(result.errors) == 1 and result.errors[0].startswith(f"event service {a.url}")
    assert any(r.levelname == "ERROR" for r in caplog.records)


def test_run_ids_are_deterministic_and_safe():
    from cmtflow.data.events import earthquake_from_origin

    quake = earthquake_from_origin(NOW, 1, 2, 3, 4.0, event_id="us7000/ab cd")
    assert run_id_for(quake) == "alert__us7000_ab_cd" == run_id_for(quake)


def test_the_alerts_dag():
    pytest.importorskip("airflow")
    from pathlib import Path

    from cmtflow.airflow.dags import earthquake_alerts_dag
    from cmtflow.airflow.home import ALERTS_DAG_FILE

    dag = earthquake_alerts_dag()
    assert dag.dag_id == "earthquake_alerts" and dag.max_active_runs == 1 and not dag.catchup
    assert dag.is_paused_upon_creation is True
    start = dag.task_dict["start_inversions"]
    assert start.partial_kwargs["trigger_dag_id"] == "cmt_inversion"
    assert start.partial_kwargs["skip_when_already_exists"] is True
    assert (Path(__file__).resolve().parents[1] / "dags" / "earthquake_alerts.py").read_text() == ALERTS_DAG_FILE


def test_alert_configuration_from_the_environment():
    from cmtflow.alerts import config_from_env
    from cmtflow.errors import CmtflowError

    config, template = config_from_env({
        "CMTFLOW_ALERT_SERVICES": "EMSC, INGV", "CMTFLOW_ALERT_MIN_MAGNITUDE": "4.5",
        "CMTFLOW_ALERT_REGIONS": '[{"name": "Italy", "lat_min": 36, "lat_max": 47, "lon_min": 6, "lon_max": 19, '
                                 '"min_magnitude": 3.5}]',
        "CMTFLOW_ALERT_CONF": '{"model": "ak135"}'})
    assert config.services == ("EMSC", "INGV") and config.regions[0].min_magnitude == 3.5
    assert template == {"model": "ak135"}
    with pytest.raises(CmtflowError, match="CMTFLOW_ALERT_UPDATE_POLICY"):
        config_from_env({"CMTFLOW_ALERT_UPDATE_POLICY": "sometimes"})


def test_the_lineage_parent_info_of_a_triggered_run_is_accepted():
    """TriggerDagRunOperator (with the OpenLineage provider) adds ``openlineage`` to the conf."""
    from cmtflow.runconf import ConfError

    parent = {"parentRunId": "01a2-x", "parentJobNamespace": "cmtflow", "parentJobName": "earthquake_alerts.start",
              "rootParentRunId": "01a2-x", "rootParentJobNamespace": "cmtflow",
              "rootParentJobName": "earthquake_alerts"}
    quake = {"event_id": "a1", "event_service": "http://127.0.0.1:8080"}
    conf = check_conf({**quake, "openlineage": parent})
    assert "openlineage" not in conf and conf["event_id"] == "a1"
    with pytest.raises(ConfError, match="^openlineage: reserved"):
        check_conf({**quake, "openlineage": "x"})


def test_a_runs_priority_follows_its_magnitude_on_every_task():
    """The scheduler's policy (an ``airflow.policy`` entry point, loaded by every Airflow with
    cmtflow installed) puts every task of a Mw 7 run before every task of a Mw 4 run, keeps
    the DAG's own order within a run, and gives the same weight however often it is asked."""
    from types import SimpleNamespace

    from airflow import settings

    from cmtflow.airflow.dags import cmt_inversion_dag
    from cmtflow.airflow.policy import task_instance_mutation_hook

    assert not settings.task_instance_mutation_hook.is_noop  # the entry point is loaded
    dag = cmt_inversion_dag()

    def weights(conf):
        out = {}
        for task_id, task in dag.task_dict.items():
            ti = SimpleNamespace(dag_id=dag.dag_id, task=task, priority_weight=1)
            task_instance_mutation_hook(task_instance=ti, dag_run=SimpleNamespace(conf=conf))
            task_instance_mutation_hook(task_instance=ti, dag_run=SimpleNamespace(conf=conf))  # asked again
            out[task_id] = ti.priority_weight
        return out

    small, large = weights(run_conf(_quake(4.1), {})), weights(run_conf(_quake(7.0), {}))
    assert min(large.values()) > max(small.values())
    assert large["resolve_event"] > large["publish_solution"] and small["resolve_event"] > small["publish_solution"]
    assert weights({"priority": 5})["resolve_event"] == weights({})["resolve_event"] + 5


def _quake(magnitude):
    from cmtflow.data.events import earthquake_from_origin

    return earthquake_from_origin(NOW, 46.0, 8.0, 10.0, magnitude, event_id=f"m{magnitude}")


def test_a_poll_triggers_the_largest_earthquake_first_and_remembers_what_it_started(agencies, tmp_path):
    """Within a poll the runs start by magnitude; the earthquakes started are in the catalogue
    at once, so the next poll (another agency's late report, a run still queued) starts nothing."""
    from cmtflow.alerts import known_earthquakes, remember_started
    from cmtflow.catalogue import open_catalogue

    a, b = agencies
    config = AlertConfig(services=(a.url, b.url), min_magnitude=4.0)
    catalogue = open_catalogue(tmp_path)
    first = poll(config, NOW, *known_earthquakes(catalogue, NOW, config))
    assert [run_id for run_id, _ in first.by_magnitude()] == ["alert__a2", "alert__a1", "alert__a3"]
    remember_started(catalogue, first)
    a.events.append(_event("a9", 1, 20.0, 140.0, 6.2))
    second = poll(AlertConfig(services=(b.url, a.url), min_magnitude=4.0), NOW + 60,
                  *known_earthquakes(catalogue, NOW + 60, config))
    assert list(second.start) == ["alert__a9"] and second.skipped["b1"].startswith("already processed as a1")


def test_a_burst_is_held_back_to_the_computing_limit_but_never_a_large_earthquake():
    from cmtflow.alerts import PollResult, hold_back

    quakes = {run_id_for(q): q for q in (_quake(m) for m in (4.2, 3.9, 4.8, 6.5, 4.5))}
    config = AlertConfig(max_computing=8, urgent_magnitude=6.0)
    held = hold_back(PollResult(start=dict(quakes)), computing=6, config=config)
    assert [q.magnitude for q in held.start.values()] == [6.5, 4.8]  # 2 free slots, the largest first
    assert held.skipped["m4.2"].startswith("held back: 6 runs computing (at most 8)") and "m4.5" in held.skipped
    full = hold_back(PollResult(start=dict(quakes)), computing=12, config=config)
    assert [q.magnitude for q in full.start.values()] == [6.5]
