"""The step commands a container runs: ``cmtflow process``, ``cmtflow synth``, ``cmtflow greens``
and ``cmtflow specfem``.

Each command's module (:mod:`~cmtflow.steps.process`, :mod:`~cmtflow.steps.synth`,
:mod:`~cmtflow.steps.specfem`) holds its parser, its body and the function that builds its
command line for a run, so a command line is written and read in one place. The user's
``cmtflow`` CLI registers the same parsers; the local backend runs them through :func:`main`
without the user's commands (and without importing Airflow).
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import sys
from pathlib import Path

from cmtflow.config import Settings, data_root
from cmtflow.errors import CmtflowError, RunStopped


def float_list(text: str) -> list[float]:
    """An argparse type: comma-separated numbers."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def base_parser(description: str) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The ``cmtflow`` parser with its global options (``-v``, ``--data-root``) and no command yet."""
    p = argparse.ArgumentParser(prog="cmtflow", description=description)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.add_argument("--data-root", default=None, help="data root (default: $CMTFLOW_HOME or ~/cmtflow)")
    return p, p.add_subparsers(dest="command", required=True)


def add_step_commands(sub) -> None:
    """Register the step commands on a ``cmtflow`` parser's subcommands."""
    from cmtflow.steps import process, specfem, synth

    synth.add_parsers(sub)
    process.add_parser(sub)
    specfem.add_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the step commands alone (what :func:`main` reads)."""
    p, sub = base_parser("cmtflow step commands (what a container runs).")
    add_step_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run a step command line (without the leading ``cmtflow``) in this process, as the local
    backend does; the exit status. A container runs the same line through the ``cmtflow``
    CLI (:func:`cmtflow.cli.main`), which also sets up logging."""
    return execute(build_parser().parse_args(argv))


def execute(args: argparse.Namespace) -> int:
    """Run parsed command line ``args`` (any ``cmtflow`` command): the exit status, with
    CmtflowError and a full disk reported on stderr (status 2). The process's logging is left
    as it is: a step run inside an Airflow task logs through the task's handlers."""
    if args.data_root:  # one data root for this process and every step it starts
        os.environ[Settings.home.name] = str(Path(args.data_root).expanduser().resolve())
    try:
        return args.func(args)
    except CmtflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 128 + exc.signum if isinstance(exc, RunStopped) else 2  # a stopped run: as the signal would
    except OSError as exc:
        what = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                errno.EROFS: "read-only file system", errno.EFBIG: "file size limit exceeded"}.get(exc.errno)
        if what is None:
            raise
        root = data_root()
        free = shutil.disk_usage(root).free / 2**20 if root.exists() else 0.0
        print(f"error: {what}{' writing ' + str(exc.filename) if exc.filename else ''} (data root {root}: "
              f"{free:.1f} MiB free); nothing incomplete was kept", file=sys.stderr)
        return 2
