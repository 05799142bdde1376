"""The inversion set-up scaled to the event: period band, sampling, distances, record length,
Earth model, half duration, centroid delay and time-shift range, from the catalogue
magnitude (as a moment magnitude: ML, mb and Ms are converted, :mod:`cmtflow.data.magnitudes`)
and the epicentre.

Regional moment-tensor services choose the band by magnitude, because a larger event
radiates more long-period energy above the noise, lasts longer and breaks a longer fault:

==============  ==========  =====  =============================================================
magnitude       band (s)    dt (s) after
==============  ==========  =====  =============================================================
below 3.5       5-25        0.2    small events from near stations (150 km) at periods of
                                   seconds, as CAP inverts them (Tan & Helmberger 2007, BSSA 97)
3.5 to 4.0      7-40        0.25   BSL (Pasyanos, Dreger & Romanowicz 1996, BSSA 86) M3.5-4:
                                   0.02-0.1 Hz; INGV TDMT (Scognamiglio et al. 2009, BSSA 99);
                                   to 0.15 Hz at near stations as ISOLA (250 km at most)
4.0 to 5.0      15-50       0.5    BSL/INGV TDMT M4-5 (0.02-0.05 Hz), extended to 15 s as CAP
                                   does for surface waves (Zhu & Helmberger 1996)
5.0 to 6.0      20-80       1.0    BSL M5-7.5: 0.01-0.05 Hz (20-100 s)
6.0 to 7.0      25-100      1.0    BSL M5-7.5: 0.01-0.05 Hz
7.0 and above   50-200      2.0    BSL M > 7.5: 0.005-0.02 Hz, the regional W-phase range
                                   (Kanamori & Rivera 2008; Rivera et al. 2011)
==============  ==========  =====  =============================================================

The nearest distance is two rupture lengths (Wells & Coppersmith 1994, surface rupture
length ``log10 L = -2.44 + 0.59 M``, km), so that a point source describes the records
(not the finite fault's near field), and at least 10 km. The farthest is 150 km below M3.5
and 250 km below M4 (periods of seconds keep their waveforms in a 1D model over some ten
wavelengths: :func:`carrying_distance_km`), 500 km below M5 and :data:`FLAT_EARTH_LIMIT_KM` above. The model is the
region's (:func:`model_for`; ak135 where no region has one, or where the region's model ends
at its Moho and the band starts at :data:`MANTLE_PERIOD_S`), Earth-flattened
(:meth:`cmtflow.models.EarthModel.flattened`) where the band or the distances reach the
mantle's curvature (:func:`needs_flattening`): without the transform the surface waves'
speed beyond ~800 km, or at periods from 50 s, is off by more than the time shifts the
method tolerates.

The centroid comes one half duration after the hypocentre (the GCMT convention, Ekström et
al. 2012); the half duration is the GCMT scaling :func:`cmtflow.data.events.half_duration_s`.
The centroid-time search reaches ``max(5 s, 2 half durations)``; from Mw 6 the half
duration is searched too (:data:`HALF_DURATION_SEARCH_MW`), where it shapes the waveforms
at the periods used. Every value can be set in the run conf; the set-up records which were
given and which were chosen, and why.

The set-up is corrected by the data (:func:`second_pass`): a first inversion whose Mw is more
than :data:`SECOND_PASS_MW` from the Mw that set it up (or above a saturated catalogue
magnitude by :data:`SATURATED_MW`) is followed by a second pass set up with the inverted Mw,
as GCMT, W phase and SCARDEC iterate on their own magnitude.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cmtflow.config import Settings, settings
from cmtflow.errors import CmtflowError
from cmtflow.data.magnitudes import to_moment_magnitude
from cmtflow.models.layered import FLAT_PREFIX
from cmtflow.runconf import RunConf, check_band_and_distances
from cmtflow.source import magnitude_to_moment

#: The farthest distance (km) by default from Mw 5, and the distance beyond which the model is
#: Earth-flattened (:func:`needs_flattening`).
FLAT_EARTH_LIMIT_KM = 800.0
#: From this magnitude the half duration is searched (grid over the moment-rate width).
HALF_DURATION_SEARCH_MW = 6.0
#: Shortest period (s) from which the waves see mostly the mantle: a regional model that ends
#: at its Moho gives way to ak135, and the model is Earth-flattened.
MANTLE_PERIOD_S = 50.0
#: A regional model whose layers reach this deep (km) holds the mantle the long periods sample.
MANTLE_DEPTH_KM = 300.0
#: The model for epicentres outside every region (continental crust over ak135).
DEFAULT_MODEL = "ak135"
#: A file of extra regions (JSON list of {"name", "model", "latitude": [s, n],
#: "longitude": [w, e], "reference"}), tried before the shipped ones.


@dataclass(frozen=True)
class Regime:
    """The band, sampling and farthest distance from a magnitude on (see the module table)."""

    min_magnitude: float
    tmin: float
    tmax: float
    dt: float
    max_distance_km: float
    after: str


REGIMES = (
    Regime(-math.inf, 5.0, 25.0, 0.2, 150.0, "small events at periods of seconds from near stations, as CAP inverts "
                                              "them (Tan & Helmberger 2007: M < 3.5, Pnl from 0.2 Hz)"),
    Regime(3.5, 7.0, 40.0, 0.25, 250.0, "BSL (Pasyanos et al. 1996) and INGV TDMT (Scognamiglio et al. 2009) M3.5-4, "
                                        "0.02-0.1 Hz, to 0.15 Hz at near stations as ISOLA (BayesISOLA's Sargans "
                                        "example)"),
    Regime(4.0, 15.0, 50.0, 0.5, 500.0, "BSL/INGV TDMT M4-5: 0.02-0.05 Hz, to 15 s as CAP for surface waves"),
    Regime(5.0, 20.0, 80.0, 1.0, FLAT_EARTH_LIMIT_KM, "BSL M5-7.5: 0.01-0.05 Hz"),
    Regime(6.0, 25.0, 100.0, 1.0, FLAT_EARTH_LIMIT_KM, "BSL M5-7.5: 0.01-0.05 Hz"),
    Regime(7.0, 50.0, 200.0, 2.0, FLAT_EARTH_LIMIT_KM, "BSL M>7.5: 0.005-0.02 Hz; regional W phase "
                                                      "(Kanamori & Rivera 2008)"),
)


@dataclass(frozen=True)
class Region:
    """A latitude/longitude box (degrees) and the 1D model used inside it."""

    name: str
    model: str
    latitude: tuple[float, float]
    longitude: tuple[float, float]
    reference: str = ""

    def contains(self, latitude: float, longitude: float) -> bool:
        lon = (longitude + 180.0) % 360.0 - 180.0
        west, east = self.longitude
        inside_lon = west <= lon <= east if west <= east else (lon >= west or lon <= east)  # across 180°
        return self.latitude[0] <= latitude <= self.latitude[1] and inside_lon


#: Shipped regions, most specific first.
REGIONS = (
    Region("southern Alaska", "scak", (56.0, 66.0), (-160.0, -140.0),
           "the model of the CAP and MTUQ examples for south-central Alaska"),
    Region("southern California", "socal", (32.0, 36.0), (-121.0, -114.0), "Hadley & Kanamori (1977)"),
    Region("northern California", "gil7", (36.0, 42.0), (-125.0, -119.0), "Dreger & Romanowicz (1994), BSL"),
    Region("central and eastern United States", "cus", (30.0, 45.0), (-100.0, -75.0),
           "Herrmann's CUS model, SLU regional moment tensors"),
    Region("Greece, the Aegean and western Anatolia", "aegean", (34.0, 42.5), (19.0, 31.0),
           "Novotný, Zahradník & Tselentis 2001, the ISOLA/Gisola model of NOA and Patras"),
    Region("Japan", "japan", (24.0, 46.0), (122.0, 150.0), "the F-net model, Kubo et al. 2002"),
)


def user_regions() -> tuple[Region, ...]:
    """The regions of ``$CMTFLOW_REGIONS`` (none when unset)."""
    path = settings.regions
    if not path:
        return ()
    try:
        rows = json.loads(Path(path).read_text())
        return tuple(Region(r["name"], r["model"], tuple(r["latitude"]), tuple(r["longitude"]),
                            r.get("reference", "")) for r in rows)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CmtflowError(f"{Settings.regions.name}={path}: expected a JSON list of {{name, model, latitude: [south, "
                           f"north], longitude: [west, east]}}: {exc}") from None


def model_for(latitude: float, longitude: float, tmin: float, max_distance_km: float = 0.0) -> tuple[str, str]:
    """The model for an epicentre, a shortest period and the farthest distance, and why: the
    region's model (its crust over the mantle where it has one down to
    :data:`MANTLE_DEPTH_KM`, else ak135 for periods from :data:`MANTLE_PERIOD_S`), flattened
    (:meth:`cmtflow.models.EarthModel.flattened`) where the periods or the distances reach the
    mantle's curvature (:func:`needs_flattening`)."""
    from cmtflow.models import load_model

    model, why = DEFAULT_MODEL, "epicentre outside the regions with a model: continental crust over ak135"
    for region in user_regions() + REGIONS:
        if region.contains(latitude, longitude):
            ref = f" ({region.reference})" if region.reference else ""
            model, why = region.model, f"epicentre in {region.name}{ref}"
            break
    if tmin >= MANTLE_PERIOD_S and load_model(model).halfspace_depth < MANTLE_DEPTH_KM:
        model, why = DEFAULT_MODEL, f"{why}; its model ends at its Moho and periods from {tmin:g} s sample the " \
                                    "mantle: ak135"
    if needs_flattening(tmin, max_distance_km):
        model, why = FLAT_PREFIX + model, (f"{why}; Earth-flattened: periods from {tmin:g} s or distances beyond "
                                           f"{FLAT_EARTH_LIMIT_KM:g} km see the mantle's curvature")
    return model, why


def needs_flattening(tmin: float, max_distance_km: float) -> bool:
    """Whether the flat layers must be flattened from the sphere: a band from
    :data:`MANTLE_PERIOD_S` (the waves reach 100-300 km deep, where the transform raises the
    velocities by 2-5 %) or stations beyond :data:`FLAT_EARTH_LIMIT_KM`."""
    return tmin >= MANTLE_PERIOD_S or max_distance_km > FLAT_EARTH_LIMIT_KM


#: Wavelengths of the shortest period over which a 1D model keeps the waveforms of a crustal
#: path (surface waves and Pnl, at :data:`CRUSTAL_WAVE_KM_S`): 3D structure scatters the rest.
CARRYING_WAVELENGTHS = 10.0
CRUSTAL_WAVE_KM_S = 3.0
#: Below this shortest period (s) a generic crust (no regional model) rarely fits the waveforms.
REGIONAL_MODEL_PERIOD_S = 10.0


def carrying_distance_km(tmin: float) -> float:
    """The farthest distance (km) at which a 1D model carries a band whose shortest period is
    ``tmin`` (s): :data:`CARRYING_WAVELENGTHS` wavelengths (150 km at 5 s, 450 km at 15 s)."""
    return CARRYING_WAVELENGTHS * CRUSTAL_WAVE_KM_S * tmin


def rupture_length_km(magnitude: float) -> float:
    """Surface rupture length (km), Wells & Coppersmith (1994), all slip types."""
    return 10.0 ** (-2.44 + 0.59 * magnitude)


def half_duration_s(magnitude: float) -> float:
    from cmtflow.data.events import half_duration_s as from_moment

    return from_moment(magnitude_to_moment(magnitude))


#: Run-conf keys the set-up fills in when they are null (``model``: when ``auto``).
SETUP_KEYS = ("tmin", "tmax", "dt", "min_distance_km", "max_distance_km", "model", "half_duration_s",
              "centroid_delay_s", "time_shift_search_s", "half_duration_search", "depth_search")


@dataclass
class Setup:
    """The resolved set-up of a run and, per key, whether it was given or why it was chosen."""

    magnitude: float
    magnitude_type: str
    moment_magnitude: float
    tmin: float
    tmax: float
    dt: float
    min_distance_km: float
    max_distance_km: float
    model: str
    half_duration_s: float
    centroid_delay_s: float
    time_shift_search_s: float
    half_duration_search: bool
    depth_search: bool
    reasons: dict[str, str] = field(default_factory=dict)
    saturated: bool = False  # the catalogue magnitude is above its conversion's range
    warnings: list[str] = field(default_factory=list)  # a band no regional model carries (event_setup)

    def as_dict(self) -> dict:
        return asdict(self)


def time_shift_search_s(half_duration_s: float) -> float:
    """Half width (s) of the centroid-time search: two half durations, at least 5 s."""
    return round(max(5.0, 2.0 * half_duration_s), 1)


def event_setup(conf: RunConf, latitude: float, longitude: float, catalogue_magnitude: float,
                magnitude_type: str = "M") -> Setup:
    """The set-up of a run: the conf's values where given (not null, ``model`` not ``auto``),
    else the choices of the module docstring for the moment magnitude of the catalogue's
    magnitude (:func:`cmtflow.data.magnitudes.to_moment_magnitude`) and the epicentre, or for
    the conf's ``setup_mw`` where given (a second pass: :func:`second_pass`)."""
    from cmtflow.data.magnitudes import saturates

    if conf.setup_mw is not None:
        magnitude = float(conf.setup_mw)
        conversion = (f"the inverted Mw of the first pass (run {conf.first_pass_run})" if conf.first_pass_run
                      else "given (setup_mw)")
    else:
        magnitude, conversion = to_moment_magnitude(catalogue_magnitude, magnitude_type)
    regime = next(r for r in reversed(REGIMES) if magnitude >= r.min_magnitude)
    hd = half_duration_s(magnitude)
    kind = f"Mw {magnitude:.1f}"  # how it was obtained: reasons["moment_magnitude"]
    chosen: dict[str, tuple[object, str]] = {
        "tmin": (regime.tmin, f"{kind}: {regime.after}"),
        "tmax": (regime.tmax, f"{kind}: {regime.after}"),
        "dt": (regime.dt, f"{kind}: 20 samples or more per shortest period"),
        "min_distance_km": (round(max(10.0, 2 * rupture_length_km(magnitude)), 0),
                            f"{kind}: two rupture lengths (Wells & Coppersmith 1994), at least 10 km"),
        "max_distance_km": (regime.max_distance_km, f"{kind}: " + (
            "flat-earth limit of the 1D solver" if regime.max_distance_km == FLAT_EARTH_LIMIT_KM
            else "records of this size fade beyond it")),
        "half_duration_s": (round(hd, 2), f"{kind}: GCMT scaling 1.05e-8 M0^(1/3) (Ekström et al. 2012)"),
        "centroid_delay_s": (round(hd, 2), "one half duration after the hypocentre (GCMT convention)"),
        "half_duration_search": (magnitude >= HALF_DURATION_SEARCH_MW,
                                 f"searched from Mw {HALF_DURATION_SEARCH_MW:g}" if magnitude >= HALF_DURATION_SEARCH_MW
                                 else f"below Mw {HALF_DURATION_SEARCH_MW:g} the duration is shorter than the periods"),
    }
    values, reasons = {}, {"moment_magnitude": conversion or "the catalogue's Mw"}

    def pick(key, value, why):
        given = getattr(conf, key)
        values[key], reasons[key] = (given, "given") if given is not None else (value, why)

    for key, (value, why) in chosen.items():
        pick(key, value, why)
    pick("time_shift_search_s", time_shift_search_s(values["half_duration_s"]), "two half durations, at least 5 s")
    if conf.solver == "fk" and conf.n_params == 6:
        pick("depth_search", True, "grid search with the embedded solver (CAP, MTUQ, W phase)")
    else:
        pick("depth_search", False, "depth is a linearised parameter (n_params 7 or 9) or the solver is SPECFEM3D")
    if conf.model not in (None, "auto"):
        values["model"], reasons["model"] = conf.model, "given"
    else:
        values["model"], reasons["model"] = model_for(latitude, longitude, values["tmin"], values["max_distance_km"])
    if values["max_distance_km"] > FLAT_EARTH_LIMIT_KM and conf.solver == "fk" \
            and not str(values["model"]).startswith(FLAT_PREFIX):
        reasons["max_distance_km"] += (f"; beyond {FLAT_EARTH_LIMIT_KM:g} km a model that is not Earth-flattened "
                                       "(flat:<model>) puts the surface waves' speed off by more than ~1 %: expect "
                                       "larger time shifts there")

    check_band_and_distances(values, reasons)  # a given tmin against a chosen tmax...
    warnings = []
    if values["tmin"] < REGIONAL_MODEL_PERIOD_S and reasons["model"].startswith("epicentre outside"):
        warnings.append(f"no regional model for this epicentre: at {values['tmin']:g} s a generic crust (ak135's) "
                        "rarely fits the waveforms; give a model file (model) or a region table (CMTFLOW_REGIONS)")
    return Setup(catalogue_magnitude, magnitude_type, magnitude, **values, reasons=reasons,
                 saturated=conf.setup_mw is None and saturates(catalogue_magnitude, magnitude_type),
                 warnings=warnings)


def station_warnings(tmin: float, distances_km: list[float], min_stations: int) -> list[str]:
    """Why the stations may not carry the band: fewer than ``min_stations`` of them within the
    distance a 1D model carries its shortest period (:func:`carrying_distance_km`)."""
    reach = carrying_distance_km(tmin)
    near = sum(d <= reach for d in distances_km)
    if near >= min_stations:
        return []
    return [f"only {near} of {len(distances_km)} stations within {reach:.0f} km, the distance a 1D model carries "
            f"{tmin:g} s waves: expect few windows to fit (a longer band, or nearer stations)"]


#: A first pass whose inverted Mw is further than this from the Mw that set it up is set up
#: again: the band, the distances and the duration change by a regime at about one unit, and
#: the conversions of ML, mb and Ms scatter by 0.2-0.3.
SECOND_PASS_MW = 0.5
#: ... or this far above it, where the catalogue magnitude saturates (:attr:`Setup.saturated`).
SATURATED_MW = 0.2


#: The set-up values whose change makes another inversion (the band, the stations, the model,
#: the duration search); a half duration changed by more than :data:`SHAPING_DURATION_S` too.
SHAPING_KEYS = ("tmin", "tmax", "min_distance_km", "max_distance_km", "model", "half_duration_search")
SHAPING_DURATION_S = 1.0


def second_pass(setup: dict, conf: RunConf, latitude: float, longitude: float, inverted_mw: float) -> dict | None:
    """Whether a run's set-up (``setup.json``) must be made again with its inverted Mw, and
    what changes: ``{"reason", "setup_mw", "inverted_mw", "changes": {key: [first, second]}}``,
    or None (the Mw is close enough, nothing that shapes the inversion would change
    (:data:`SHAPING_KEYS`), the run is a second pass already, or ``conf.second_pass`` is off).
    Values given in the conf (``"given"`` in the set-up's reasons) stay as given."""
    if conf.first_pass_run or not conf.second_pass:
        return None
    difference = inverted_mw - setup["moment_magnitude"]
    if abs(difference) > SECOND_PASS_MW:
        reason = (f"the inverted Mw {inverted_mw:.2f} is {difference:+.2f} from the set-up's Mw "
                  f"{setup['moment_magnitude']:.2f} (more than {SECOND_PASS_MW:g})")
    elif setup.get("saturated") and difference > SATURATED_MW:
        reason = (f"the catalogue's {setup['magnitude_type']} {setup['magnitude']:g} saturates (above its conversion's "
                  f"range) and the inverted Mw {inverted_mw:.2f} is {difference:+.2f} above the set-up's Mw")
    else:
        return None
    given = {key: setup[key] for key in SETUP_KEYS if setup["reasons"].get(key) == "given"}
    again = event_setup(RunConf(**given, solver=conf.solver, n_params=conf.n_params, setup_mw=round(inverted_mw, 2)),
                        latitude, longitude, inverted_mw, "Mw")
    changes = {key: [setup[key], getattr(again, key)] for key in SETUP_KEYS if setup[key] != getattr(again, key)}
    if not any(key in SHAPING_KEYS or (key == "half_duration_s" and abs(b - a) > SHAPING_DURATION_S)
               for key, (a, b) in changes.items()):
        return None  # the sampling or a fraction of a second of duration: the same inversion
    return {"reason": reason, "setup_mw": round(setup["moment_magnitude"], 2), "inverted_mw": round(inverted_mw, 2),
            "changes": changes}


#: What a second pass keeps of its first pass's set-up.
FIRST_PASS_SETUP = ("tmin", "tmax", "dt", "min_distance_km", "max_distance_km", "model")


def first_pass_record(run_id: str, setup: dict, inverted_mw: float, grade: str, reason: str) -> dict:
    """What a second pass records of its first (``first_pass`` in its ``setup.json``): the run,
    the Mw that set it up and the set-up (:data:`FIRST_PASS_SETUP`), its inverted Mw, its grade
    and why it was set up again."""
    return {"run_id": run_id, "setup_mw": setup["moment_magnitude"],
            "setup": {key: setup[key] for key in FIRST_PASS_SETUP}, "inverted_mw": inverted_mw, "grade": grade,
            "reason": reason}
