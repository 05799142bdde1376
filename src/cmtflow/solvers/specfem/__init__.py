"""SPECFEM3D_Cartesian: inputs written by cmtflow, outputs read back into the common format.

* :mod:`~cmtflow.solvers.specfem.inputs`: ``DATA/`` (CMTSOLUTION per source variant,
  STATIONS, Par_file from a template and the run's parameters);
* :mod:`~cmtflow.solvers.specfem.outputs`: ``OUTPUT_FILES`` seismograms (ASCII ``.semd``,
  ASDF) into the folder format of ``cmtflow synth`` (miniSEED Z/N/E + ``synthetics.json``),
  so everything downstream is shared with the embedded solver;
* :mod:`~cmtflow.solvers.specfem.plan`: the run order as container steps (mesher and
  partitioning, databases once per model, then ``xspecfem3D`` per source variant).

Derivative synthetics written by SPECFEM3D (pycmt3d's layout) are read into an inversion
dataset by :mod:`cmtflow.inversion.specfem_derivatives`.
"""
