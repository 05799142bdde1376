"""Misfit: measurement windows, per-window measurements, and data weights."""

from cmtflow.misfit.measure import Measurement, MeasureConfig, measure_window
from cmtflow.misfit.weights import WeightConfig, read_cap_weights, window_weights
from cmtflow.misfit.windows import Window, phase_windows

__all__ = ["Measurement", "MeasureConfig", "measure_window", "WeightConfig", "read_cap_weights",
           "window_weights", "Window", "phase_windows"]
