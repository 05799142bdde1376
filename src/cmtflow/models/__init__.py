"""1D layered Earth models.

A model is a stack of flat homogeneous, anelastic layers over a half-space, the
representation used by frequency-wavenumber codes (FK, CAP, MTUQ). Units throughout:
thickness and depth in km, velocities in km/s, density in g/cm^3, Q dimensionless.

Use :func:`load_model` with a shipped model name (see :func:`named_models`) or a path
to a file in the FK model format.
"""

from cmtflow.models.layered import EarthModel, load_model, named_models, read_fk_model

__all__ = ["EarthModel", "load_model", "named_models", "read_fk_model"]
