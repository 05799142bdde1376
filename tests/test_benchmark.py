"""Performance targets of the embedded solver (run by hand: ``pytest -m benchmark``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_greens.py"
    spec = importlib.util.spec_from_file_location("bench_greens", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.benchmark
def test_thirty_distances_under_two_seconds_and_5x_faster():
    result = _bench().run("scak", 10.0, repeat=3)
    assert result["cmtflow_s"] < 2.0
    if result["pygrt_s"] is not None:
        assert result["ratio"] >= 5.0
