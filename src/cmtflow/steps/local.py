"""The local backend: a step's command line run on this machine.

A ``cmtflow`` step runs in the calling process (:func:`cmtflow.steps.commands.main`) or, with
``CMTFLOW_LOCAL_STEPS=subprocess`` or a time limit, as a subprocess; a solver executable always
as a subprocess. So what runs in a pod is exactly what runs on a laptop, and a laptop does not
pay a new interpreter (2-4 s of imports: ObsPy, SciPy, numba) per step.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import time
import traceback

from cmtflow.config import settings
from cmtflow.steps.container import ContainerStep, StepFailed

log = logging.getLogger(__name__)



class LocalBackend:
    """Runs a step's command line here: a ``cmtflow`` command in this process (see the module
    docstring), anything else (a solver executable) as a subprocess.

    :param timeout_s: a limit on the step's wall time; a step with a limit always runs as a
        subprocess (a process can be stopped, a function call cannot).
    """

    name = "local"

    def __init__(self, timeout_s: float | None = None):
        self.timeout_s = timeout_s

    def argv(self, step: ContainerStep) -> list[str]:
        if step.command[0] == "cmtflow":
            return [sys.executable, "-m", "cmtflow", *step.command[1:]]
        return list(step.command)

    def in_process(self, step: ContainerStep) -> bool:
        return step.command[0] == "cmtflow" and self.timeout_s is None and settings.local_steps == "in-process"

    def run(self, step: ContainerStep) -> str:
        """Run ``step``; returns its standard output. Raises :class:`StepFailed`."""
        log.info("step %s: %s", step.name, " ".join(step.command))
        t = time.perf_counter()
        status, stdout, stderr = (self._call if self.in_process(step) else self._spawn)(step)
        for line in (stdout + stderr).splitlines():
            log.info("  %s", line)
        if status != 0:
            last = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "no output")
            raise StepFailed(f"step {step.name} exited with status {status}: {last.strip()}")
        log.info("step %s done in %.1f s", step.name, time.perf_counter() - t)
        return stdout

    def _spawn(self, step: ContainerStep) -> tuple[int, str, str]:
        try:
            done = subprocess.run(self.argv(step), capture_output=True, text=True, timeout=self.timeout_s,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"step {step.name} ran past {self.timeout_s} s") from None
        return done.returncode, done.stdout, done.stderr

    def _call(self, step: ContainerStep) -> tuple[int, str, str]:
        """The command through :func:`cmtflow.steps.commands.main`, its output captured as a
        subprocess's would be; the environment it changes (``--data-root``) restored after."""
        from cmtflow.steps import commands

        out, err = io.StringIO(), io.StringIO()
        environ = dict(os.environ)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    status = commands.main(list(step.command[1:]))
                except SystemExit as exc:  # argparse's refusal of the command line
                    status = exc.code if isinstance(exc.code, int) else 2
                except Exception:  # what would end a subprocess with a traceback
                    traceback.print_exc()
                    status = 1
        finally:
            for name in set(os.environ) - set(environ):
                del os.environ[name]
            os.environ.update({k: v for k, v in environ.items() if os.environ.get(k) != v})
        return status, out.getvalue(), err.getvalue()
