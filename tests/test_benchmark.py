"""Performance targets (run by hand: ``pytest -m benchmark``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _bench(name: str = "bench_greens"):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.benchmark
def test_thirty_distances_under_two_seconds_and_5x_faster():
    result = _bench().run("scak", 10.0, repeat=3)
    assert result["cmtflow_s"] < 2.0
    if result["pygrt_s"] is not None:
        assert result["ratio"] >= 5.0


@pytest.mark.benchmark
def test_full_inversion_of_thirty_stations_under_five_seconds():
    result = _bench("bench_inversion").run(6, "phases", repeat=2)
    assert result["total_s"] < 5.0 and result["kagan_to_true_deg"] < 1.0


@pytest.mark.benchmark
def test_processing_graph_multi_is_faster_than_simple():
    result = _bench("bench_processing").run(100)
    assert result["multi_s"] < result["simple_s"] and result["simple_s"] < 1.3 * result["plain_s"]


@pytest.mark.benchmark
def test_latency_of_the_demo_event_through_airflow():
    """The targets of benchmarks/latency.py: a warm run <= 30 s and <= 1.5x the direct stages
    with their imports, a run that reuses everything <= 10 s, the first demo <= 60 s."""
    result = _bench("latency").run()
    direct = result["direct"]["work_s"] + result["direct"]["imports_s"]
    assert result["warm"]["wall_s"] <= 30.0 and result["warm"]["wall_s"] <= 1.5 * direct
    assert result["reused"]["wall_s"] <= 10.0 and result["cold"]["wall_s"] <= 60.0


#: pyfk 0.3.0 on the broadband job (5 distances, 8192 samples at 0.02 s), one core (issue 16).
PYFK_BROADBAND_S = 533.0


@pytest.mark.benchmark
def test_broadband_greens_within_2_gb_and_3x_faster_than_pyfk():
    result = _bench().run_large("broadband")
    assert result["peak_rss_gb"] <= 2.0 and result["wall_s"] <= PYFK_BROADBAND_S / 3


@pytest.mark.benchmark
def test_a_hundred_distances_within_2_gb():
    assert _bench().run_large("many")["peak_rss_gb"] <= 2.0


def test_the_latency_benchmark_counts_every_task_of_the_dag():
    """Each task of cmt_inversion belongs to one stage of benchmarks/latency.py (a task added
    without it stops the benchmark)."""
    from cmtflow.airflow.dags import cmt_inversion_dag

    stages = _bench("latency").STAGES
    counted = [task for tasks in stages.values() for task in tasks]
    assert sorted(counted) == sorted(set(counted)) == sorted(cmt_inversion_dag().task_dict)
