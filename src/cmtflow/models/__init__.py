"""1D layered Earth models.

A model is a stack of flat homogeneous, anelastic layers over a half-space, the
representation used by frequency-wavenumber codes (FK, CAP, MTUQ). Units throughout:
thickness and depth in km, velocities in km/s, density in g/cm^3, Q dimensionless.

Use :func:`load_model` with a shipped model name (see :func:`named_models`) or the path
of a model file: FK, CPS model96, ISOLA ``crustal.dat`` or a table with a header row
(:mod:`cmtflow.models.formats`).
"""

from cmtflow.models.layered import EarthModel, load_model, named_models, read_fk_model, read_model_file

__all__ = ["EarthModel", "load_model", "named_models", "read_fk_model", "read_model_file"]
