"""The run workspace: where one run of one event keeps its products.

``<data root>/events/<event_id>/runs/<run_id>/`` with ``raw/`` (miniSEED as fetched, one file
per station, and ``stations.xml``), ``processed/`` (Z/R/T displacement in the inversion
band), ``stations.json`` (every station considered, used or dropped with the reason),
``event.json``, and later ``windows/``, ``solution/`` and ``report/``. Stages write into
their own folder only, atomically, so rerunning one never touches another's products.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cmtflow.config import data_root
from cmtflow.errors import CmtflowError

#: The record a preprocessing output folder is complete with (observed data, synthetics).
PROCESSED_RECORD = "processed.json"
#: The manifest a synthetics folder is complete with (written last).
SYNTHETICS_MANIFEST = "synthetics.json"

#: Files of the run folder that tools outside the stages read (relative to the run folder).
CONF_FILE = "conf.json"
EVENT_FILE = "event.json"
STATIONS_REPORT = "stations.json"
RAW_INVENTORY = "raw/stations.xml"
INITIAL_SOURCE = "initial/CMTSOLUTION"
PLAN_FILE = "simulations/plan.json"

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

    @classmethod
    def at(cls, run_dir: str | Path) -> "RunWorkspace":
        """The workspace of an existing run folder (``<root>/events/<event>/runs/<run>``)."""
        run_dir = Path(run_dir)
        return cls(run_dir.parents[1].name, run_dir.name, run_dir.parents[3])

    def folder(self, name: str) -> Path:
        folder = self.path / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- the run folder's files: named here only -------------------------------------
    @property
    def raw(self) -> Path:
        return self.folder("raw")

    @property
    def raw_inventory(self) -> Path:
        """The StationXML of the stations fetched (responses included)."""
        return self.path / RAW_INVENTORY

    @property
    def processed(self) -> Path:
        return self.folder("processed")

    @property
    def processed_record(self) -> Path:
        """What the observed data's preprocessing did (written by the processing graph)."""
        return self.path / "processed" / PROCESSED_RECORD

    @property
    def station_metadata(self) -> Path:
        """The stations' metadata as selected from (StationXML)."""
        return self.path / "stations" / "inventory.xml"

    @property
    def metadata_notes(self) -> Path:
        """Which metadata file gave what."""
        return self.path / "stations" / "metadata.json"

    @property
    def selection_file(self) -> Path:
        """The stations selected, their alternates and the ones dropped."""
        return self.path / "stations" / "selection.json"

    @property
    def stations_report(self) -> Path:
        """Every station considered: used (with geometry) or dropped with the reason."""
        return self.path / STATIONS_REPORT

    @property
    def arrivals_file(self) -> Path:
        """Which stations' data the archive had complete, and when it was asked."""
        return self.path / "stations" / "arrivals.json"

    @property
    def outcome_file(self) -> Path:
        """Why a run ended without a solution (``no solution: N stations by T``)."""
        return self.path / "outcome.json"

    @property
    def conf_file(self) -> Path:
        """The run conf with the set-up's values filled in."""
        return self.path / CONF_FILE

    @property
    def setup_file(self) -> Path:
        """Why each set-up value was chosen."""
        return self.path / "setup.json"

    @property
    def event_file(self) -> Path:
        return self.path / EVENT_FILE

    @property
    def starting_solution(self) -> Path:
        """The published solution a ``start_from`` run refines."""
        return self.path / "starting_solution.json"

    @property
    def initial_source(self) -> Path:
        """The initial source (CMTSOLUTION)."""
        return self.path / INITIAL_SOURCE

    @property
    def simulations(self) -> Path:
        """The run's simulation plan, source variants and per-variant records."""
        return self.path / "simulations"

    @property
    def stations_file(self) -> Path:
        """The stations every simulation of the run computes (SPECFEM ``STATIONS`` layout)."""
        return self.simulations / "STATIONS"

    @property
    def plan_file(self) -> Path:
        return self.path / PLAN_FILE

    def variant_record(self, variant: str) -> Path:
        """Which simulation a variant used, and whether it was reused."""
        return self.simulations / f"{variant}.json"

    def synthetics(self, variant: str) -> Path:
        """A variant's processed synthetics."""
        return self.path / "synthetics" / variant

    @property
    def windows_file(self) -> Path:
        return self.path / "windows" / "windows.json"

    @property
    def solution(self) -> Path:
        return self.path / "solution"

    @property
    def solution_record(self) -> Path:
        return self.solution / "solution.json"

    @property
    def report(self) -> Path:
        return self.path / "report"

    @property
    def published(self) -> Path:
        """The run's "complete" mark, written last."""
        return self.path / "published.json"

    @property
    def specfem(self) -> Path:
        """SPECFEM3D's run folders (databases, one per variant)."""
        return self.path / "specfem"

    @property
    def simulation_store(self) -> Path:
        """The data root's content-addressed simulations, shared by runs."""
        return self.root / "simulations"


@dataclass(frozen=True)
class PlannedVariant:
    """One simulation of a run's plan: the source variant, its content key, its parameter
    step and its CMTSOLUTION (in the run's simulations folder)."""

    variant: str
    key: str
    step: float
    cmtsolution: str

    @classmethod
    def from_dict(cls, d: dict) -> "PlannedVariant":
        return cls(d["variant"], d["key"], float(d["step"]), d["cmtsolution"])


@dataclass(frozen=True)
class SimulationPlan:
    """``simulations/plan.json``: the solver's identity and sampling (s, samples) and the
    simulations of the run."""

    solver: str
    solver_version: str
    model: str
    dt: float
    npts: int
    variants: tuple[PlannedVariant, ...]
    left_out: dict[str, str] = field(default_factory=dict)  # stations the solver cannot simulate, why

    @classmethod
    def from_dict(cls, d: dict) -> "SimulationPlan":
        return cls(d["solver"], d["solver_version"], d["model"], float(d["dt"]), int(d["npts"]),
                   tuple(PlannedVariant.from_dict(v) for v in d["variants"]), dict(d.get("left_out", {})))

    @classmethod
    def read(cls, ws: "RunWorkspace") -> "SimulationPlan":
        return cls.from_dict(read_json(ws.plan_file))

    def as_dict(self) -> dict:
        return {"solver": self.solver, "solver_version": self.solver_version, "model": self.model, "dt": self.dt,
                "npts": self.npts, "variants": [asdict(v) for v in self.variants], "left_out": self.left_out}

    def variant(self, name: str) -> PlannedVariant:
        found = next((v for v in self.variants if v.variant == name), None)
        if found is None:
            raise CmtflowError(f"variant {name!r} is not in the simulation plan")
        return found


def simulation_key(solver: str, version: str, model_fingerprint: str, source_text: str, stations_text: str,
                   dt: float, npts: int) -> str:
    """Content key of one simulation: everything that determines its synthetics."""
    ident = json.dumps({"solver": solver, "version": version, "model": model_fingerprint, "source": source_text,
                        "stations": stations_text, "dt": dt, "npts": npts}, sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class VariantRecord:
    """``simulations/<variant>.json``: the content-addressed simulation a source variant of a run
    used (``key``, its folder ``path``), and whether it was reused from an earlier run's."""

    label: str
    key: str
    path: str
    reused: bool
    reused_from_run: str | None = None

    def write(self, path: Path) -> Path:
        return write_json_atomic(path, asdict(self))

    @classmethod
    def read(cls, path: Path) -> "VariantRecord":
        record = read_json(path)
        return cls(record["label"], record["key"], record["path"], bool(record["reused"]),
                   record.get("reused_from_run"))


def read_json(path: Path) -> dict:
    """A record of the run folder; a missing one names the stage that writes it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CmtflowError(f"{path} not found: has the stage that writes it run?") from None


@contextmanager
def staging_folder(parent: Path, name: str) -> Iterator[Path]:
    """A hidden temporary folder in ``parent`` (created if need be) to write a product into
    before it is put in place by renames (same file system: a rename is atomic); removed on
    leaving, whatever happened (what was renamed out of it stays where it went).

    Every product of cmtflow is written this way (:func:`write_atomic` for a single file):
    readers see the old product or the complete new one, never half of one."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
    return write_text_atomic(path, json.dumps(record, indent=1, default=str))


def write_text_atomic(path: Path, text: str) -> Path:
    """Write text atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def replace_folder(tmp: Path, target: Path) -> Path:
    """Put the complete folder ``tmp`` in place of ``target`` (renames; the old one, if any,
    is moved aside first and removed after): readers see the old or the new, never a mix."""
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
    with staging_folder(target.parent, target.name) as tmp:
        shutil.copytree(source, tmp / "copy", ignore=shutil.ignore_patterns(".*"))
        if not keep_existing:
            replace_folder(tmp / "copy", target)
        elif not target.exists():
            try:
                os.rename(tmp / "copy", target)
            except OSError:
                if not target.exists():
                    raise
    return target


def check_free_space(root: Path, min_free_mb: float) -> None:
    """Refuse to start a run on a nearly full data root (the first stage, before any data):
    less than ``min_free_mb`` MiB free (``CMTFLOW_MIN_FREE_MB``)."""
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free / 2**20
    if free < min_free_mb:
        raise CmtflowError(f"data root {root} has only {free:.0f} MiB free; CMTFLOW_MIN_FREE_MB={min_free_mb:g} "
                           "needed to start a run (free some space, or move CMTFLOW_HOME)")
