"""SPECFEM3D_Cartesian: inputs written by cmtflow, outputs read back into the common format.

* :mod:`~cmtflow.solvers.specfem.inputs`: ``DATA/`` (CMTSOLUTION per source variant,
  STATIONS, Par_file from a template and the run's parameters);
* :mod:`~cmtflow.solvers.specfem.outputs`: ``OUTPUT_FILES`` seismograms (ASCII ``.semd``,
  ASDF) into the folder format of ``cmtflow synth`` (miniSEED Z/N/E + ``synthetics.json``),
  so everything downstream is shared with the embedded solver;
* :mod:`~cmtflow.solvers.specfem.plan`: the run order as container steps (mesher and
  partitioning, databases once per model, then ``xspecfem3D`` per source variant);
* :mod:`~cmtflow.solvers.specfem.derivatives`: pycmt3d-style derivative SAC files + FLEXWIN
  windows into an inversion dataset.
"""

from cmtflow.solvers.specfem.derivatives import read_flexwin, read_specfem_dataset

__all__ = ["read_flexwin", "read_specfem_dataset"]
