"""A containerised step: image, ``cmtflow`` command line, inputs, outputs, resources.

A step is declared once (:class:`ContainerStep`); a backend decides where it runs: the local
backend (:mod:`cmtflow.steps.local`) here, the Kubernetes backend
(:mod:`cmtflow.airflow.kubernetes`) in a pod of its image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cmtflow.config import settings
from cmtflow.errors import CmtflowError

#: Step roles, each with its image (``CMTFLOW_IMAGE_<ROLE>``, :mod:`cmtflow.config`).
ROLES = ("cmtflow", "specfem3d")


def image(role: str) -> str:
    """The image of a step ``role`` (one of :data:`ROLES`)."""
    if role not in ROLES:
        raise CmtflowError(f"unknown step role {role!r}: expected one of {', '.join(ROLES)}")
    return getattr(settings, f"image_{role}")


class StepFailed(CmtflowError):
    """A containerised step exited with an error (the message has its last output line)."""

    retriable = True


@dataclass(frozen=True)
class ContainerStep:
    """One step as a container would run it.

    :param command: the argv, starting with ``cmtflow`` (or a solver executable).
    :param inputs, outputs: paths the step reads and writes (for lineage and volume mounts).
    :param resources: requests/limits for a pod (``{"cpu": "2", "memory": "4Gi"}``).
    :param gpu: the step wants a GPU node (SPECFEM3D's CUDA build).
    """

    name: str
    role: str
    command: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    resources: dict = field(default_factory=dict)
    gpu: bool = False

    @property
    def image(self) -> str:
        return image(self.role)

    def to_dict(self) -> dict:
        """JSON-able form (what a planning task hands to the mapped step task through XCom)."""
        return {"name": self.name, "role": self.role, "command": list(self.command), "inputs": list(self.inputs),
                "outputs": list(self.outputs), "resources": dict(self.resources), "gpu": self.gpu}

    @classmethod
    def from_dict(cls, d: dict) -> "ContainerStep":
        return cls(d["name"], d["role"], tuple(d["command"]), tuple(d.get("inputs", ())), tuple(d.get("outputs", ())),
                   dict(d.get("resources", {})), bool(d.get("gpu", False)))
