"""How an installation of cmtflow is configured: every ``CMTFLOW_*`` environment variable,
defined once in :class:`Settings` and read through :data:`settings`.

The variables are set where the DAGs run (the scheduler, the workers, the API server; the
Helm chart sets them from its values). A run conf (:mod:`cmtflow.runconf`) is per run; these
are per installation. Each attribute of :data:`settings` reads its variable when it is asked
for (a test or a runner that changes the environment is seen at once), parses it, and raises
:class:`~cmtflow.errors.CmtflowError` naming the variable when its value is not valid.
``docs/configuration.md`` is generated from these definitions.

``CMTFLOW_HOME`` (default ``~/cmtflow``) holds ``events/<event_id>/runs/<run_id>/``,
``simulations/<key>/`` and the Green's function store ``greens/<key>/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from cmtflow.errors import CmtflowError

#: The prefix of every cmtflow environment variable.
PREFIX = "CMTFLOW_"
#: How ``cmtflow run`` and ``cmtflow demo`` start the Airflow run (``$CMTFLOW_RUNNER``).
RUNNER_MODES = ("warm", "subprocess")
#: How the local backend runs ``cmtflow`` steps (``$CMTFLOW_LOCAL_STEPS``).
LOCAL_STEP_MODES = ("in-process", "subprocess")
#: What the alert DAG does when a known earthquake's origin or magnitude is revised.
UPDATE_POLICIES = ("ignore", "rerun")
#: Where the data root is mounted in pods (and, with the chart, in the Airflow workers).
DEFAULT_DATA_MOUNT = "/data/cmtflow"


# Parsers: text in, value out; a ValueError becomes an error naming the variable.
def _text(value: str) -> str:
    return value


def _above(low: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        number = float(value)
        if not number > low:  # also refuses nan
            raise ValueError(f"must be a number above {low:g}")
        return number

    parse.__doc__ = f"a number above {low:g}"
    return parse


def _at_least(low: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        return max(low, float(value))

    parse.__doc__ = f"a number (at least {low:g} is used)"
    return parse


def _number(value: str) -> float:
    """a number"""
    return float(value)


def _whole(low: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if number < low:
            raise ValueError(f"must be a whole number of {low} or more")
        return number

    parse.__doc__ = f"a whole number of {low} or more"
    return parse


def _flag(value: str) -> bool:
    """1/true/yes or 0/false/no"""
    lowered = value.lower()
    if lowered not in ("1", "true", "yes", "0", "false", "no"):
        raise ValueError("must be 1/true/yes or 0/false/no")
    return lowered in ("1", "true", "yes")


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    parse.__doc__ = " or ".join(choices)
    return parse


def _path(value: str) -> Path:
    """a path"""
    return Path(value).expanduser()


def _paths(value: str) -> list[Path]:
    """paths separated by `:`"""
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def _names(value: str) -> tuple[str, ...]:
    """names separated by commas"""
    return tuple(s.strip() for s in value.split(",") if s.strip())


def _json(value: str):
    """JSON"""
    return json.loads(value)


class Setting:
    """One environment variable: ``CMTFLOW_`` + the attribute's name in capitals.

    :param default: the value when the variable is unset or empty (already parsed), or None.
    :param parse: text to value; raises ValueError for a bad value.
    :param description: what it sets, for the generated reference.
    :param section: the reference page's section.
    :param shown_default: the default as the reference shows it, where it is not a literal.
    """

    def __init__(self, default, parse: Callable[[str], object], description: str, section: str,
                 shown_default: str | None = None):
        self.default, self.parse, self.description, self.section = default, parse, description, section
        self.shown_default = shown_default
        self.name = ""

    def __set_name__(self, owner, attribute: str) -> None:
        self.name = PREFIX + attribute.upper()

    def __get__(self, instance, owner):
        return self if instance is None else self.read(os.environ)

    def read(self, environ) -> object:
        """The value in ``environ`` (a mapping of variables)."""
        text = environ.get(self.name, "").strip()
        if not text:
            return self.default
        try:
            return self.parse(text)
        except ValueError as exc:
            raise CmtflowError(f"{self.name}={text!r}: {exc}") from None

    @property
    def allowed(self) -> str:
        return (self.parse.__doc__ or "text").strip()


ROOT, DATA, EXECUTION = "Data root and inputs", "Data centres", "Execution"
AIRFLOW, K8S, ALERTS = "Airflow", "Kubernetes", "Alerts"
SECTIONS = (ROOT, DATA, EXECUTION, AIRFLOW, K8S, ALERTS)


class Settings:
    """Every ``CMTFLOW_*`` variable (module docstring). Read through :data:`settings`."""

    home = Setting(None, _path, "The data root: `events/`, `simulations/`, `greens/`, `scans/`, `demo/`, "
                   "`airflow/`, the catalogue. `cmtflow --data-root` sets it.", ROOT, "`~/cmtflow`")
    input_roots = Setting([], _paths, "Folders a run conf may name files in (resolved after symbolic "
                          "links); nothing outside them is read.", ROOT, "the data root")
    min_free_mb = Setting(200.0, _above(0), "Free space (MiB) the data root needs for a run to start.", ROOT)
    catalogue_url = Setting(None, _text, "The catalogue's SQLAlchemy URL (`postgresql+psycopg2://...`).",
                            ROOT, "SQLite in the data root")
    catalogue_retry_s = Setting(120.0, _above(0), "How long (s) a catalogue operation is retried while the "
                                "database is unreachable.", ROOT)
    coastlines = Setting(None, _path, "A folder of GSHHS shoreline shapefiles (`GSHHS_<res>_L1.shp`) for the "
                         "station map; else Debian's `python-cartopy-data`; the finest resolution found is used.",
                         ROOT, "Debian's `python-cartopy-data` where installed")
    regions = Setting(None, _path, "A JSON file of regions and their models (`[{name, model, latitude: "
                      "[south, north], longitude: [west, east], reference}]`), consulted before the "
                      "shipped ones.", ROOT, "none")

    fdsn_timeout_s = Setting(60.0, _above(0), "Seconds an FDSN request may take.", DATA)
    fdsn_retries = Setting(3, _whole(0), "Times a failed FDSN request is tried again.", DATA)
    fdsn_backoff_s = Setting(2.0, _above(0), "First wait (s) before an FDSN retry; it doubles each time.", DATA)
    data_poll_s = Setting(15.0, _at_least(1), "Seconds between two questions to the data centre while a "
                          "run waits for its stations.", DATA)

    compute_backend = Setting("local", _one_of(("local", "kubernetes")), "Where the DAGs run their steps.",
                              EXECUTION)
    local_steps = Setting("in-process", _one_of(LOCAL_STEP_MODES), "How the `local` backend runs "
                          "`cmtflow` steps: in the task's process, or as a subprocess.", EXECUTION)
    greens_memory_gb = Setting(2.0, _above(0.01), "Working memory (GB) of the embedded solver's wavenumber "
                               "integration (done in blocks that fit; the traces come on top).", EXECUTION)
    specfem_bin = Setting(None, _path, "The folder of the SPECFEM3D executables (`scripts/build-specfem3d` "
                          "prints it).", EXECUTION, "looked up on `PATH`")
    image_cmtflow = Setting("cmtflow/cmtflow:0.1.0", _text, "Container image of the `cmtflow` steps.",
                            EXECUTION)
    image_specfem3d = Setting("cmtflow/specfem3d:4.1.1", _text, "Container image of the SPECFEM3D steps.",
                              EXECUTION)
    numba_cache_seed = Setting(None, _path, "A folder of compiled kernels copied into an empty "
                               "`NUMBA_CACHE_DIR` (set in the image: a read-only pod would compile again "
                               "at every step).", EXECUTION, "none")
    runner = Setting("warm", _one_of(RUNNER_MODES), "How `cmtflow run`/`demo` start a run: a fork of the "
                     "warm runner, or a new interpreter each.", EXECUTION)
    runner_idle_s = Setting(900.0, _above(0), "Seconds a warm runner waits for the next run before it exits.",
                            EXECUTION)
    progress = Setting(False, _flag, "One line per finished task on the terminal.", EXECUTION,
                       "`1` under `cmtflow demo`/`run`, else `0`")

    max_active_runs = Setting(32, _whole(1), "`cmt_inversion` runs at once (waiting runs included: they hold "
                              "no worker slot).", AIRFLOW)
    simulation_pool = Setting(None, _text, "The Airflow pool of the `simulate` task (unset: no pool, at most "
                              "4 simulations at once); a named pool that does not exist is refused at trigger "
                              "time.", AIRFLOW, "`cmtflow_simulations` under `cmtflow airflow-home`/`run` and "
                              "Helm; unset elsewhere")
    task_retry_delay_s = Setting(20.0, _above(0), "First delay (s) before Airflow retries a failed task.",
                                 AIRFLOW)
    preload = Setting(True, _flag, "The scheduler loads the modules tasks use before it forks the "
                      "LocalExecutor's workers.", AIRFLOW)

    k8s_namespace = Setting("cmtflow", _text, "Namespace of the step pods.", K8S)
    k8s_data_pvc = Setting("cmtflow-data", _text, "PersistentVolumeClaim of the data root, mounted at "
                           "`CMTFLOW_HOME` in every pod.", K8S)
    k8s_service_account = Setting("cmtflow-steps", _text, "Service account of the step pods.", K8S)
    k8s_deferrable = Setting(False, _flag, "Pods watched by the triggerer instead of a worker slot.", K8S)
    k8s_deadline_s = Setting(14400, _whole(0), "A step pod's active deadline (s).", K8S)
    k8s_gpu_node_label = Setting("nvidia.com/gpu.present", _text, "Node label that GPU steps select.", K8S)

    alert_services = Setting(("EMSC",), _names, "Event services the alert DAG polls.", ALERTS, "`EMSC`")
    alert_min_magnitude = Setting(4.0, _number, "Smallest magnitude that starts a run.", ALERTS)
    alert_max_depth_km = Setting(300.0, _number, "Deepest hypocentre (km) that starts a run.", ALERTS)
    alert_lookback_minutes = Setting(60.0, _above(0), "How far back (minutes) each poll looks.", ALERTS)
    alert_regions = Setting([], _json, "JSON list of regions (`{name, lat_min, lat_max, lon_min, lon_max, "
                            "min_magnitude}`); none: everywhere.", ALERTS, "`[]`")
    alert_update_policy = Setting("ignore", _one_of(UPDATE_POLICIES), "What a revised origin or magnitude of "
                                  "a known earthquake does: nothing, or a new run.", ALERTS)
    alert_max_computing = Setting(8, _whole(1), "A poll starts earthquakes (largest first) while fewer runs "
                                  "compute (waiting runs not counted); the rest wait for a later poll.", ALERTS)
    alert_urgent_magnitude = Setting(6.0, _number, "An earthquake this large starts at once, whatever is "
                                     "computing.", ALERTS)
    alert_conf = Setting({}, _json, "JSON run-conf template of the runs the alerts start.", ALERTS, "`{}`")
    alert_schedule = Setting("* * * * *", _text, "Cron schedule of the alert DAG.", ALERTS)


#: The installation's settings (read from the environment on each access).
settings = Settings()


def all_settings() -> list[Setting]:
    """Every setting, in the order they are defined."""
    return [value for value in vars(Settings).values() if isinstance(value, Setting)]


def data_root() -> Path:
    """The data root: ``$CMTFLOW_HOME`` or ``~/cmtflow``."""
    return settings.home or Path.home() / "cmtflow"


def input_roots(root: str | Path | None = None) -> list[Path]:
    """Folders a run conf may read files from: ``$CMTFLOW_INPUT_ROOTS`` or the data root
    (``root``, default :func:`data_root`). Returned resolved (symbolic links followed)."""
    roots = settings.input_roots or [Path(root) if root is not None else data_root()]
    return [r.resolve() for r in roots]


def markdown_table(section: str) -> str:
    """The reference table of one section's settings (``docs/configuration.md``)."""
    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for item in all_settings():
        if item.section == section:
            default = item.shown_default or f"`{_shown(item.default)}`"
            rows.append(f"| `{item.name}` | {default} | {item.allowed} | {item.description} |")
    return "\n".join(rows)


def _shown(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
