"""The run configuration of ``cmt_inversion``: one definition for the Airflow trigger form,
the JSON-schema validation and the command line.

Each key has a default, a JSON schema, a title, a description and a form section. Airflow
builds its trigger form and validates each value at trigger time from these schemas (a
wrong type or range is refused naming the key); :func:`check_conf` adds the rules that
involve several keys (exactly one way to name the event, an SDS archive needs its
StationXML...) and the file rules, raising :class:`ConfError` with the key named.

Values are untrusted (anyone allowed to trigger a run writes them): identifiers and service
names match strict patterns, and every file a conf names must resolve, after symbolic
links, under the configured input roots (:func:`cmtflow.config.input_roots`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from cmtflow.errors import CmtflowError
from cmtflow.models import named_models
from cmtflow.models.layered import FLAT_PREFIX
from cmtflow.workspace import NAME_CHARS


class ConfError(CmtflowError):
    """A run configuration value is invalid; the message starts with the key."""


@dataclass(frozen=True)
class Key:
    default: object
    schema: dict
    title: str
    description: str
    section: str


_NULLABLE_STR = {"type": ["null", "string"]}
#: Event ids name folders and appear in run ids: letters, digits and _.:+- only.
EVENT_ID_PATTERN = rf"^[A-Za-z0-9][{NAME_CHARS}]{{0,63}}$"
#: A run id, as it names the run's folder (``published``: the latest solution).
RUN_ID_PATTERN = rf"^[A-Za-z0-9][{NAME_CHARS}]{{0,127}}$"
#: An FDSN provider name (EMSC, eida-routing...) or an http(s) base URL, nothing else.
SERVICE_PATTERN = (r"^([A-Za-z][A-Za-z0-9_-]{1,63}|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?"
                   r"(/[A-Za-z0-9._~%/-]*)?)$")
ISO_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?Z?$"
#: Paths: no control characters (newlines, NUL); where they may point is checked separately.
PATH_PATTERN = r"^[^\x00-\x1f\x7f]+$"
#: Keys naming files or folders (``model`` too, unless it names a shipped model).
PATH_KEYS = ("quakeml", "sds_path", "waveforms", "inventory", "specfem_par_file", "model")
#: Of those, the ones naming a folder, and the ones that may name a file or a folder.
FOLDER_KEYS, FILE_OR_FOLDER_KEYS = ("sds_path", "waveforms"), ("inventory",)
#: Band and instrument codes, comma-separated (channel priorities).
BANDS_PATTERN = r"^[A-Z0-9]{2}(,[A-Z0-9]{2}){0,9}$"
#: Keys Airflow adds to a triggered run's conf: the OpenLineage provider's parent-run
#: information (TriggerDagRunOperator). Accepted, and left out of the run's settings.
RESERVED_KEYS = ("openlineage",)
SECTIONS = ("Event", "Data", "Model and band", "Inversion", "Execution")

#: A switch whose empty value means "where it applies": the trigger form shows a choice of the
#: three (Airflow draws a switch for a boolean, which cannot go back to empty), hence "string"
#: among the types, which the enum keeps to null, true and false.
TRI_STATE = {"type": ["null", "string", "boolean"], "enum": [None, True, False],
             "values_display": {"null": "auto (where it applies)", "true": "on", "false": "off"}}


def key(default, schema: dict, title: str, description: str, section: str):
    """A run-conf key: a field of :class:`RunConf` that carries its :class:`Key`."""
    return field(default=default, metadata={"key": Key(default, schema, title, description, section)})


@dataclass(frozen=True)
class RunConf:
    """The settings of one ``cmt_inversion`` run, typed. Each field is defined once here, with
    the JSON schema, title, description and form section that Airflow's trigger form and its
    trigger-time validation use (:data:`KEYS`, :func:`airflow_params`). Made from a conf by
    :meth:`checked` (at trigger time) or :meth:`from_dict` (a stored, already checked one).
    """

    event_id: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 64, "pattern": EVENT_ID_PATTERN}, "Event id",
        "FDSN event id at the event service (leave empty to give an origin or a QuakeML file).",
        "Event")
    event_service: str = key(
        "EMSC", {"type": "string", "maxLength": 200, "pattern": SERVICE_PATTERN}, "Event service",
        "FDSN event provider (EMSC, INGV, USGS, GFZ...) or URL.", "Event")
    origin_time: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 40, "pattern": ISO_TIME_PATTERN},
        "Origin time",
        "ISO 8601 UTC origin time, with latitude, longitude, depth and magnitude below.", "Event")
    latitude: float | None = key(
        None, {"type": ["null", "number"], "minimum": -90, "maximum": 90}, "Latitude", "Degrees.",
        "Event")
    longitude: float | None = key(
        None, {"type": ["null", "number"], "minimum": -180, "maximum": 360}, "Longitude", "Degrees.",
        "Event")
    depth_km: float | None = key(
        None, {"type": ["null", "number"], "minimum": 0, "maximum": 800}, "Depth (km)",
        "Hypocentre depth in km.", "Event")
    magnitude: float | None = key(
        None, {"type": ["null", "number"], "minimum": -1, "maximum": 10}, "Magnitude",
        "Used for the initial moment when no moment tensor is published.", "Event")
    priority: int | None = key(
        None, {"type": ["null", "integer"], "minimum": 0, "maximum": 1000}, "Priority",
        "Scheduling priority of the run's tasks when workers or simulation slots are busy, higher "
        "first. Default: 100 times the magnitude where the conf gives one (alerts give the alert's), "
        "else 0: in an aftershock burst the mainshock's tasks go first.", "Event")
    magnitude_type: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 10, "pattern": r"^[A-Za-z_]+$"}, "Magnitude type",
        "ML, mb, Ms, Mw... of the magnitude given with origin_time, or of an event file that "
        "states none (ISOLA event.isl); replaces the catalogue's type. Converted to Mw for the "
        "set-up and the starting moment (empty: the catalogue's type, else taken as Mw).", "Event")
    quakeml: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 1000, "pattern": PATH_PATTERN}, "Event file",
        "Path to a QuakeML file with the event, or a CMTSOLUTION or an ISOLA event.isl (instead of an id "
        "or an origin).", "Event")
    data_source: str = key(
        "fdsn", {"type": "string", "enum": ["fdsn", "sds", "files"]}, "Data source",
        "fdsn: station and dataselect services; sds: a local SDS archive; files: a folder of event "
        "waveform files (SAC, miniSEED...).", "Data")
    station_service: str = key(
        "eida-routing", {"type": "string", "maxLength": 200, "pattern": SERVICE_PATTERN},
        "Station service", "FDSN provider, routing service (eida-routing) or URL.", "Data")
    dataselect_service: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 200, "pattern": SERVICE_PATTERN},
        "Dataselect service",
        "FDSN provider or URL for waveforms (default: the station service).", "Data")
    data_connection: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 250, "pattern": r"^[A-Za-z0-9_.-]+$"},
        "Data connection", "Airflow connection with the login/password or EIDA token for "
        "restricted data (the secret stays in the connection).", "Data")
    data_latency_s: float = key(
        10.0, {"type": "number", "minimum": 0, "maximum": 3600}, "Data latency",
        "Seconds after a station's signal window ends before its data are usually at the data "
        "centre: the first look for them. The run then asks the data centre what it has "
        "(deferred, holding no worker slot) until the stations it waits for are in, or the "
        "deadline; an event of the past does not wait.", "Data")
    data_deadline_s: float = key(
        1800.0, {"type": "number", "minimum": 0, "maximum": 86400}, "Data deadline",
        "Seconds after the origin until which a station whose data are not at the data centre "
        "is pending (waited for, and taken up by an update); after it, dropped: no data by "
        "the deadline. An event with too few stations by then ends as 'no solution', "
        "with the count.", "Data")
    wait_for_stations: int = key(
        10, {"type": "integer", "minimum": 0, "maximum": 500}, "First solution: stations",
        "The first solution waits until the data of this many selected stations are at the "
        "data centre, leaving no azimuthal gap above 180 deg (or the selection's own), then "
        "inverts the stations it has; the others come in updates. 0: wait for every "
        "selected station (or the deadline).", "Data")
    updates: int = key(
        2, {"type": "integer", "minimum": 0, "maximum": 5}, "Updates",
        "Runs that may follow a run that fetched while stations were pending: each has the same "
        "conf, waits for twice as many stations (the last one for all, or the deadline), inverts "
        "on its own and publishes the event's next version. 0: none.", "Data")
    sds_path: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 1000, "pattern": PATH_PATTERN}, "SDS archive",
        "Path of the SDS archive (sds).",
        "Data")
    waveforms: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 1000, "pattern": PATH_PATTERN}, "Waveform folder",
        "Folder of event waveform files in any format ObsPy reads (files); SAC headers give "
        "coordinates and units where present.", "Data")
    inventory: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 1000, "pattern": PATH_PATTERN}, "Station metadata",
        "A file or a folder of station metadata: StationXML (repeated elements merged), dataless SEED, "
        "RESP, SACPZ, ISOLA pole-zero files, station lists (sds; optional for fdsn and files).",
        "Data")
    channels: str = key(
        "HH,BH,LH", {"type": "string", "maxLength": 40, "pattern": BANDS_PATTERN}, "Channels",
        "Band and instrument codes by preference (add EH,SH for short-period sensors).", "Data")
    strong_motion: bool = key(
        True, {"type": "boolean"}, "Strong-motion fallback",
        "Use the HN/HG accelerometers of a station whose broadband records are clipped.", "Data")
    data_quantity: str | None = key(
        None, {"type": ["null", "string"], "enum": [None, "displacement", "velocity", "acceleration"],
               "values_display": {"null": "not given (the records' own, SAC idep)"}},
        "Data units: quantity", "What records without an instrument response are (files; SAC idep "
        "says it when set). Records with a response are counts.", "Data")
    data_scale: float = key(
        1.0, {"type": "number", "exclusiveMinimum": 0}, "Data units: scale to SI",
        "Factor from the records' units to m, m/s or m/s² (cm: 0.01, nm: 1e-9).", "Data")
    min_snr: float = key(
        3.0, {"type": "number", "minimum": 0, "maximum": 1000}, "Minimum signal-to-noise",
        "Components below it are not used (tested where the record has pre-event noise; 0: no test).",
        "Data")
    min_distance_km: float | None = key(
        None, {"type": ["null", "number"], "minimum": 0, "maximum": 2000},
        "Minimum distance (km)", "Empty: two rupture lengths for the magnitude, 10 km at least.",
        "Data")
    max_distance_km: float | None = key(
        None, {"type": ["null", "number"], "exclusiveMinimum": 0, "maximum": 2000},
        "Maximum distance (km)", "Empty: by magnitude (150 km below M3.5, 250 below M4, 500 below M5, else 800, "
        "the flat-earth limit of the embedded solver).", "Data")
    max_stations: int = key(
        60, {"type": "integer", "minimum": 1, "maximum": 500}, "Maximum stations",
        "Taken round-robin over azimuth sectors and distance rings.", "Data")
    min_stations: int = key(
        3, {"type": "integer", "minimum": 1, "maximum": 500}, "Minimum stations",
        "Fewer usable stations: the run ends as \"no solution\" with the reason.", "Data")
    model: str = key(
        "auto", {"type": "string", "maxLength": 1000, "pattern": PATH_PATTERN}, "Earth model",
        f"auto (by region and band), a shipped 1D model ({', '.join(named_models())}) or the path of a "
        "model file; flat:<model> for its Earth-flattened form.", "Model and band")
    solver: str = key(
        "fk", {"type": "string", "enum": ["fk", "specfem3d"]}, "Solver",
        "fk: the embedded 1D solver; specfem3d: SPECFEM3D_Cartesian (3D model, needs its Par_file).",
        "Model and band")
    specfem_par_file: str | None = key(
        None, {**_NULLABLE_STR, "maxLength": 1000, "pattern": PATH_PATTERN},
        "SPECFEM3D Par_file",
        "Par_file of the SPECFEM3D model (mesh and model settings), in the model's DATA folder: its "
        "meshfem3D_files/ (internal mesher), tomo_files/ go with it; run values are filled in.",
        "Model and band")
    specfem_nproc: int | None = key(
        None, {"type": ["null", "integer"], "minimum": 1, "maximum": 4096}, "SPECFEM3D MPI ranks",
        "Empty: the mesh's partition (Mesh_Par_file NPROC_XI x NPROC_ETA), else the Par_file's "
        "NPROC.", "Model and band")
    specfem_dt: float | None = key(
        None, {"type": ["null", "number"], "exclusiveMinimum": 0, "maximum": 1},
        "SPECFEM3D time step (s)", "Empty: the Par_file's DT. Must satisfy the mesh's stability "
        "condition.", "Model and band")
    specfem_gpu: bool = key(
        False, {"type": "boolean"}, "SPECFEM3D on GPUs", "Run the solver on GPU nodes (CUDA build).",
        "Model and band")
    tmin: float | None = key(
        None, {"type": ["null", "number"], "exclusiveMinimum": 0, "maximum": 500}, "Shortest period (s)",
        "Empty: by magnitude (5 s below M3.5 to 50 s from M7).", "Model and band")
    tmax: float | None = key(
        None, {"type": ["null", "number"], "exclusiveMinimum": 0, "maximum": 1000}, "Longest period (s)",
        "Empty: by magnitude (25 s below M3.5 to 200 s from M7).", "Model and band")
    dt: float | None = key(
        None, {"type": ["null", "number"], "exclusiveMinimum": 0, "maximum": 10}, "Sampling interval (s)",
        "Of processed data and synthetics. Empty: by magnitude (0.2 to 2 s).", "Model and band")
    start_from: str | None = key(
        None, {"type": ["null", "string"], "maxLength": 128, "pattern": RUN_ID_PATTERN},
        "Starting source", "Empty: the catalogue's origin and moment tensor (or the given origin). "
        "published: the event's latest solution published by cmtflow, e.g. a 1D solution to refine "
        "in 3D with solver specfem3d; or the run id of one. The new solution is the event's next "
        "version; the report compares the two.", "Inversion")
    second_pass: bool = key(
        True, {"type": "boolean"}, "Set up again from the inverted Mw",
        "When the inverted Mw is more than 0.5 from the Mw that set the run up (or above a "
        "saturated catalogue magnitude by 0.2), a second run is set up with it and inverts again: the "
        "event's next version (run id: this one's with .mw). Off: one pass.", "Inversion")
    setup_mw: float | None = key(
        None, {"type": ["null", "number"], "minimum": 0, "maximum": 10}, "Set-up Mw",
        "The moment magnitude that scales the set-up (band, distances, duration) and the starting "
        "moment, in place of the catalogue's. Empty: the catalogue's magnitude, converted to Mw.",
        "Inversion")
    first_pass_run: str | None = key(
        None, {"type": ["null", "string"], "maxLength": 128, "pattern": RUN_ID_PATTERN},
        "First pass", "Set by a second pass: the run whose inverted Mw set it up; its "
        "mechanism is the starting one and its set-up is recorded beside the new one.",
        "Inversion")
    half_duration_s: float | None = key(
        None, {"type": ["null", "number"], "minimum": 0, "maximum": 200}, "Half duration (s)",
        "Of the triangular moment-rate function. Empty: GCMT scaling with the magnitude.",
        "Inversion")
    centroid_delay_s: float | None = key(
        None, {"type": ["null", "number"], "minimum": -100, "maximum": 200},
        "Centroid delay (s)", "Starting centroid time after the hypocentre. Empty: one half "
        "duration.", "Inversion")
    time_shift_search_s: float | None = key(
        None, {"type": ["null", "number"], "minimum": 0, "maximum": 200},
        "Centroid-time search (s)", "Half width of the centroid-time search. Empty: two half "
        "durations, 5 s at least.", "Inversion")
    depth_search: bool | None = key(
        None, TRI_STATE, "Search the depth",
        "Grid search of the centroid depth, the moment tensor inverted at each (embedded solver, "
        "6 parameters). Empty: on where it applies.", "Inversion")
    half_duration_search: bool | None = key(
        None, TRI_STATE, "Search the half duration",
        "Grid search of the half duration. Empty: from Mw 6.", "Inversion")
    n_params: int = key(
        6, {"type": "integer", "enum": [6, 7, 9]}, "Parameters",
        "6: moment tensor; 7: + depth; 9: + depth, latitude, longitude.", "Inversion")
    double_couple: bool = key(
        False, {"type": "boolean"}, "Double couple", "Constrain to a double couple.",
        "Inversion")
    bootstrap: int = key(
        20, {"type": "integer", "minimum": 0, "maximum": 1000}, "Bootstrap repeats",
        "Re-inversions of resampled stations (windows, depth and centroid time done again in each) "
        "for the uncertainties and the grade (0: none; the grade's calibration used 20).",
        "Inversion")
    picker: str = key(
        "auto", {"type": "string", "enum": ["auto", "flexwin", "phases"]}, "Windows",
        "FLEXWIN (pyflex) when installed, arrival-time windows, or auto.", "Inversion")
    compute_backend: str = key(
        "local", {"type": "string", "enum": ["local", "kubernetes"]}, "Compute backend",
        "Where the containerised steps run.", "Execution")
    processes: int = key(
        4, {"type": "integer", "minimum": 1, "maximum": 256}, "Processes",
        "dispel4py multi-mapping processes for preprocessing (fewer than 3: simple mapping).",
        "Execution")

    @classmethod
    def checked(cls, conf: dict, roots: list[Path] | None = None) -> "RunConf":
        """``conf`` validated (:func:`check_conf`), the defaults filled in."""
        return cls(**check_conf(conf, roots))

    @classmethod
    def from_dict(cls, values: dict) -> "RunConf":
        """A conf that was checked when its run was triggered (a run's ``conf.json``): the keys
        it lacks (a run of an older cmtflow) take their defaults, keys no longer known are
        left out."""
        return cls(**{name: value for name, value in values.items() if name in KEYS})

    def as_dict(self) -> dict:
        return asdict(self)

    def with_values(self, **changes) -> "RunConf":
        return replace(self, **changes)

    @property
    def model_label(self) -> str:
        """The Earth model as a report names it: the SPECFEM3D Par_file, or the 1D model."""
        return str(self.specfem_par_file if self.solver == "specfem3d" else self.model)


#: The keys' definitions, by name, in the order of the trigger form.
KEYS: dict[str, Key] = {f.name: f.metadata["key"] for f in fields(RunConf)}


def defaults() -> dict:
    return {name: key.default for name, key in KEYS.items()}


def check_conf(conf: dict, roots: list[Path] | None = None) -> dict:
    """The full conf (defaults filled in), validated; raises :class:`ConfError` naming the key.

    :param roots: folders the conf's files must resolve under (default:
        :func:`cmtflow.config.input_roots`).
    """
    import jsonschema

    if not isinstance(conf, dict):
        raise ConfError(f"conf: expected a JSON object of run settings, got {type(conf).__name__}")
    for key in RESERVED_KEYS:
        if key in conf and not isinstance(conf[key], dict):
            raise ConfError(f"{key}: reserved for the parent run's lineage (an object), got {type(conf[key]).__name__}")
    conf = {k: v for k, v in conf.items() if k not in RESERVED_KEYS}
    unknown = sorted(set(conf) - set(KEYS))
    if unknown:
        raise ConfError(f"{unknown[0]}: unknown run conf key (known: {', '.join(KEYS)})")
    full = {**defaults(), **conf}
    for name, key in KEYS.items():
        if isinstance(full[name], float) and not math.isfinite(full[name]):  # JSON schema lets NaN through
            raise ConfError(f"{name}: {full[name]} is not a finite number")
        try:
            jsonschema.validate(full[name], key.schema)
        except jsonschema.ValidationError as exc:
            raise ConfError(f"{name}: {exc.message}") from None
    if full["origin_time"]:
        _check_time(full["origin_time"])
    ways = [k for k in ("event_id", "quakeml", "origin_time") if full[k]]
    if len(ways) != 1:
        raise ConfError("event_id: give exactly one of event_id, quakeml or origin_time (+ latitude, longitude, "
                        f"depth_km, magnitude); got {', '.join(ways) or 'none'}")
    if full["origin_time"]:
        for k in ("latitude", "longitude", "depth_km", "magnitude"):
            if full[k] is None:
                raise ConfError(f"{k}: required with origin_time")
    required = {"sds": ("sds_path", "inventory"), "files": ("waveforms",)}.get(full["data_source"], ())
    for k in required:
        if not full[k]:
            raise ConfError(f"{k}: required when data_source is {full['data_source']!r}")
    if full["wait_for_stations"] and full["wait_for_stations"] < full["min_stations"]:
        raise ConfError(f"wait_for_stations: {full['wait_for_stations']} is fewer than min_stations "
                        f"({full['min_stations']}): the first solution would wait for too few stations (0: all)")
    if full["depth_search"] and (full["solver"] != "fk" or full["n_params"] != 6):
        raise ConfError("depth_search: needs the embedded solver (solver fk) and n_params 6 (with 7 or 9 the "
                        "depth is a linearised parameter)")
    if full["solver"] == "specfem3d" and not full["specfem_par_file"]:
        raise ConfError("specfem_par_file: required when solver is 'specfem3d'")
    check_band_and_distances(full)  # again once the set-up has filled the empty values in
    check_paths(full, roots)
    return full


def check_band_and_distances(values: dict, reasons: dict | None = None) -> None:
    """The rules that tie band, sampling and distances together, on the values given (empty
    ones skipped); ``reasons`` (the set-up's) says where the other value of a pair came from.

    :raises ConfError: naming the key.
    """
    def why(key):
        return f"; {key} {reasons[key]}" if reasons else ""

    tmin, tmax, dt = values.get("tmin"), values.get("tmax"), values.get("dt")
    near, far = values.get("min_distance_km"), values.get("max_distance_km")
    if None not in (tmin, tmax) and not tmin < tmax:
        raise ConfError(f"tmin: must be smaller than tmax ({tmin:g} >= {tmax:g}{why('tmax')})")
    if None not in (near, far) and not near < far:
        raise ConfError(f"min_distance_km: must be smaller than max_distance_km ({near:g} >= {far:g}"
                        f"{why('max_distance_km')})")
    if None not in (tmin, dt) and tmin <= 2.5 * dt:
        raise ConfError(f"dt: {dt} s is too coarse for tmin {tmin} s (need tmin > 2.5 dt{why('dt')})")


def _check_time(value: str) -> None:
    from obspy import UTCDateTime

    try:
        UTCDateTime(value)
    except Exception:
        raise ConfError(f"origin_time: {value!r} is not a valid ISO 8601 UTC time") from None


def check_paths(conf: dict, roots: list[Path] | None = None) -> None:
    """Every file or folder ``conf`` names exists and resolves (symbolic links followed) under
    one of ``roots``: a run conf cannot make a worker read ``/etc/passwd`` or a secret.
    Existence is checked where the roots are mounted (not on an API server without them).

    :raises ConfError: naming the key, the path and the roots.
    """
    from cmtflow.config import input_roots

    roots = [Path(r).resolve() for r in (roots if roots is not None else input_roots())]
    # an API server without the data volume checks where paths point, the worker that they exist
    must_exist = any(root.is_dir() for root in roots)
    for key in PATH_KEYS:
        value = conf.get(key)
        if key == "model" and value and value.startswith(FLAT_PREFIX):
            value = value[len(FLAT_PREFIX):]
        if not value or (key == "model" and (value == "auto" or value in named_models())):
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            shipped = f" or one of the shipped models ({', '.join(named_models())})" if key == "model" else ""
            raise ConfError(f"{key}: {value!r} must be an absolute path{shipped}")
        resolved = Path(os.path.realpath(path))
        if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
            raise ConfError(f"{key}: {value} is outside the input roots ({', '.join(map(str, roots))}); "
                            "set CMTFLOW_INPUT_ROOTS to allow another folder")
        if not must_exist:
            continue
        if key in FILE_OR_FOLDER_KEYS:
            if not resolved.exists():
                raise ConfError(f"{key}: {value} is not an existing file or folder")
        elif key in FOLDER_KEYS:
            if not resolved.is_dir():
                raise ConfError(f"{key}: {value} is not an existing folder")
        elif not resolved.is_file():
            raise ConfError(f"{key}: {value} is not an existing file")


#: The JSON Schema dialect the DAG's params declare. The keys' schemas use draft 7's keywords
#: only, and a declared draft 7 schema is checked in a third of the time of the default
#: dialect (2020-12): Airflow validates every param each time it copies, compares or prints
#: the params (about 7000 validations in a run of the demo through dag.test(), 2.3 s).
PARAM_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"


def airflow_params() -> dict:
    """``Param`` objects for the DAG (trigger form sections, titles, descriptions, schemas)."""
    from airflow.sdk import Param

    out = {}
    for name, key in KEYS.items():
        schema = {"$schema": PARAM_SCHEMA_DIALECT, **key.schema}
        out[name] = Param(key.default, title=key.title, description=key.description, section=key.section,
                          **schema)
    return out


def _allowed(schema: dict) -> str:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "enum" in schema:
        return " / ".join(json.dumps(v) for v in schema["enum"])
    text = "/".join(types)
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    if low is not None or "maximum" in schema:
        text += f" {low if low is not None else ''}..{schema.get('maximum', '')}"
    if schema.get("pattern") == PATH_PATTERN:
        text += " (a path under the input roots)"
    elif "pattern" in schema:
        text += " (strict pattern)"
    return text


def markdown_table() -> str:
    """The run-conf reference of ``docs/runconf.md`` (a test keeps the page equal to it)."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for name, key in KEYS.items():
        rows.append(f"| `{name}` | `{json.dumps(key.default)}` | {_allowed(key.schema)} | "
                    f"{key.section}: {key.title}. {key.description} |".replace("  |", " |"))
    return "\n".join(rows)


def run_priority(conf: dict) -> int:
    """The scheduling priority of a run (see the ``priority`` key): the conf's ``priority``, else
    100 times its ``magnitude``, else 0. Never raises: a conf Airflow accepted is scheduled."""
    try:
        if conf.get("priority") is not None:
            return max(0, int(conf["priority"]))
        if conf.get("magnitude") is not None:
            return max(0, int(round(100 * float(conf["magnitude"]))))
    except (TypeError, ValueError):
        pass
    return 0
