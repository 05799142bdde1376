"""CMT3D source inversion on solver-independent waveform datasets."""

from cmtflow.inversion.cmt3d import InversionConfig, InversionError, InversionResult, invert
from cmtflow.inversion.dataset import PARAMETERS, ChannelData, InversionDataset

__all__ = ["InversionConfig", "InversionError", "InversionResult", "invert", "PARAMETERS", "ChannelData",
           "InversionDataset"]
