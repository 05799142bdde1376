"""The run workspace: where one run of one event keeps its products.

``<data root>/events/<event_id>/runs/<run_id>/`` with ``raw/`` (miniSEED as fetched, one file
per station, and ``stations.xml``), ``processed/`` (Z/R/T displacement in the inversion
band), ``stations.json`` (every station considered, used or dropped with the reason),
``event.json``, and later ``windows/``, ``solution/`` and ``report/``. Stages write into
their own folder only, atomically, so rerunning one never touches another's products.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cmtflow.config import data_root
from cmtflow.errors import CmtflowError

#: Characters of event and run ids: they name folders, and appear in run ids and URLs.
NAME_CHARS = "A-Za-z0-9_.:+-"
_SAFE = re.compile(rf"^[A-Za-z0-9][{NAME_CHARS}]{{0,127}}$")
_UNSAFE = re.compile(rf"[^{NAME_CHARS}]")


def sanitised_name(value: str) -> str:
    """``value`` with every character outside :data:`NAME_CHARS` replaced by ``_`` (ids from
    services, turned into folder and run names)."""
    return _UNSAFE.sub("_", value)


def safe_name(value: str, what: str) -> str:
    """``value`` if usable as one path component (letters, digits, ``_.:+-``), else an error."""
    if not _SAFE.match(value or "") or value in (".", ".."):
        raise CmtflowError(f"{what} {value!r} cannot name a folder: use letters, digits and _.:+- only")
    return value


@dataclass(frozen=True)
class RunWorkspace:
    """Paths of one run (created on first use)."""

    event_id: str
    run_id: str
    root: Path

    @classmethod
    def create(cls, event_id: str, run_id: str, root: str | Path | None = None) -> "RunWorkspace":
        base = Path(root) if root is not None else data_root()
        ws = cls(safe_name(event_id, "event id"), safe_name(run_id, "run id"), base)
        ws.path.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def path(self) -> Path:
        return self.root / "events" / self.event_id / "runs" / self.run_id

    def folder(self, name: str) -> Path:
        folder = self.path / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def raw(self) -> Path:
        return self.folder("raw")

    @property
    def processed(self) -> Path:
        return self.folder("processed")

    @property
    def stations_report(self) -> Path:
        return self.path / "stations.json"


def write_atomic(path: Path, write) -> Path:
    """Call ``write(temporary path)``, then rename the result to ``path``: readers never see
    half a file, and a failed write leaves nothing behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json_atomic(path: Path, record) -> Path:
    """Write JSON atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1, default=str)))


def replace_folder(tmp: Path, target: Path) -> Path:
    """Put the complete folder ``tmp`` in place of ``target`` (renames; the old one, if any,
    is moved aside first and removed after): readers see the old or the new, never a mix."""
    import shutil

    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.rename(target, old / target.name)
        os.rename(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, target)
    return target


def copy_folder(source: Path, target: Path, keep_existing: bool = False) -> Path:
    """A copy of the complete folder ``source`` at ``target``, put in place by renames.

    ``keep_existing``: a ``target`` already there stays (content-addressed folders: another
    process's copy is the same); otherwise it is replaced (:func:`replace_folder`).
    Hidden entries (temporaries, status files) are not copied.
    """
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        shutil.copytree(source, tmp / "copy", ignore=shutil.ignore_patterns(".*"))
        if not keep_existing:
            replace_folder(tmp / "copy", target)
        elif not target.exists():
            try:
                os.rename(tmp / "copy", target)
            except OSError:
                if not target.exists():
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
