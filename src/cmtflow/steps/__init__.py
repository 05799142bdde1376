"""Containerised steps: their declaration (:class:`ContainerStep`), the local backend, and the
step commands a container runs (``cmtflow process``, ``synth``, ``greens``, ``specfem``), each
with the function that writes its command line. Nothing here imports Airflow."""

from cmtflow.steps.container import ContainerStep, StepFailed, image
from cmtflow.steps.local import LocalBackend

__all__ = ["ContainerStep", "LocalBackend", "StepFailed", "image"]
