"""Compute backends: where a containerised step runs.

A containerised step is declared once (:class:`ContainerStep`: image, ``cmtflow`` command
line, inputs, outputs, resources). The local backend runs that same command line as a
subprocess of this Python; the Kubernetes backend (a later issue) runs it in a pod of the
image. So what runs in a pod is exactly what runs on a laptop.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from cmtflow.errors import CmtflowError

log = logging.getLogger(__name__)

#: Container images by role, overridable with CMTFLOW_IMAGE_<ROLE> (e.g. CMTFLOW_IMAGE_CMTFLOW).
DEFAULT_IMAGES = {"cmtflow": "cmtflow/cmtflow:0.1.0", "specfem3d": "cmtflow/specfem3d:4.1.1"}


def image(role: str) -> str:
    return os.environ.get(f"CMTFLOW_IMAGE_{role.upper()}", DEFAULT_IMAGES[role])


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


class LocalBackend:
    """Runs a step's command line as a local subprocess (``cmtflow`` -> ``python -m cmtflow``)."""

    name = "local"

    def __init__(self, timeout_s: float | None = None):
        self.timeout_s = timeout_s

    def argv(self, step: ContainerStep) -> list[str]:
        if step.command[0] == "cmtflow":
            return [sys.executable, "-m", "cmtflow", *step.command[1:]]
        return list(step.command)

    def run(self, step: ContainerStep) -> str:
        """Run ``step``; returns its standard output. Raises :class:`StepFailed`."""
        argv = self.argv(step)
        log.info("step %s: %s", step.name, " ".join(step.command))
        t = time.perf_counter()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"step {step.name} ran past {self.timeout_s} s") from None
        for line in done.stdout.splitlines():
            log.info("  %s", line)
        for line in done.stderr.splitlines():
            log.info("  %s", line)
        if done.returncode != 0:
            last = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), "no output")
            raise StepFailed(f"step {step.name} exited with status {done.returncode}: {last.strip()}")
        log.info("step %s done in %.1f s", step.name, time.perf_counter() - t)
        return done.stdout
