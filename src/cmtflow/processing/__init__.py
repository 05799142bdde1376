"""Waveform processing shared by observed data and synthetics (dispel4py graphs join here)."""

from cmtflow.processing.signal import bandpass, Band

__all__ = ["bandpass", "Band"]
