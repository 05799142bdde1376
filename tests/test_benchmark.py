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
def test_airflow_overhead_of_the_demo_under_2x_and_20_s():
    result = _bench("bench_dag").run()
    assert result["ratio"] < 2.0 and result["overhead_s"] < 20.0
