"""The demo scenario: a regional earthquake recorded by a real network, generated here.

A known source (the published MTUQ solution of the 2009-04-07 Mw 4.5 southern Alaska
earthquake) at the 26 broadband stations that recorded it (their real coordinates),
seismograms from the embedded solver in the ``scak`` model, ground velocity turned into
counts through an STS-2-like seismometer and a 24-bit digitiser, plus seismic noise; written
as a local SDS archive (miniSEED, STEIM2), a StationXML file with the full responses, and a
QuakeML file with the catalogue origin and magnitude only (no mechanism: the inversion
must find it). Nothing is shipped but the station list and the source.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from obspy import Inventory, Stream, Trace
from obspy.core.inventory import Channel, Network, Station
from obspy.core.inventory.response import Response

from cmtflow.config import data_root
from cmtflow.data.stations import read_stations, station_list
from cmtflow.processing import Band, bandpass
from cmtflow.solvers.fk import FKParameters
from cmtflow.solvers.synthetics import synthetics
from cmtflow.source import Source, read_cmtsolution, source_to_event
from cmtflow.workspace import staging_folder

MODEL = "scak"
SAMPLING_RATE = 20.0  # Hz, BH channels
DURATION_S = (-300.0, 600.0)  # archive window around the origin
#: STS-2-like seismometer (poles/zeros in rad/s), 1500 V/(m/s), digitiser 4e5 counts/V.
POLES = (-0.037 + 0.037j, -0.037 - 0.037j, -251.3 + 0j, -131.0 + 467.3j, -131.0 - 467.3j)
ZEROS = (0j, 0j)
GAIN_COUNTS_PER_M_S = 1500.0 * 4.0e5
#: Seismic noise, ground velocity rms (m/s) in 5-100 s: a quiet to average broadband site.
NOISE_RMS_M_S = 3e-8
#: A 24-bit digitiser saturates at +-2^23 counts.
DIGITISER_FULL_SCALE = 2**23


def seismometer_response() -> Response:
    """The response (m/s -> counts) with its normalisation at 1 Hz computed from the poles/zeros."""
    s = 2j * math.pi
    a0 = 1.0 / abs(np.prod([s - z for z in ZEROS]) / np.prod([s - p for p in POLES]))
    return Response.from_paz(zeros=list(ZEROS), poles=list(POLES), stage_gain=GAIN_COUNTS_PER_M_S,
                             input_units="M/S", output_units="COUNTS", normalization_frequency=1.0,
                             normalization_factor=a0)


@dataclass(frozen=True)
class DemoScenario:
    folder: Path
    sds: Path
    inventory: Path
    quakeml: Path
    truth: Path  # the true source as CMTSOLUTION

    def conf(self, **overrides) -> dict:
        """The ``cmt_inversion`` run conf for this scenario."""
        return {"quakeml": str(self.quakeml), "data_source": "sds", "sds_path": str(self.sds),
                "inventory": str(self.inventory), "model": MODEL, "tmin": 15.0, "tmax": 50.0, "dt": 0.5,
                "n_params": 6, "bootstrap": 100, "max_distance_km": 400.0, **overrides}


def true_source() -> Source:
    with resources.as_file(resources.files("cmtflow.scenarios") / "CMTSOLUTION_alaska_2009") as path:
        return read_cmtsolution(path)


def demo_stations():
    with resources.as_file(resources.files("cmtflow.scenarios") / "STATIONS_alaska") as path:
        return station_list(read_stations(path))


def _counts(velocity: np.ndarray, dt: float, response: Response) -> np.ndarray:
    n = 2 * len(velocity)
    h, _ = response.get_evalresp_response(dt, n, output="VEL")
    return np.fft.irfft(np.fft.rfft(velocity, n) * h, n)[: len(velocity)]


def generate(folder: str | Path | None = None, seed: int = 2009, force: bool = False) -> DemoScenario:
    """Write the scenario (see module docstring) into ``folder``; kept and reused unless ``force``."""
    folder = Path(folder) if folder is not None else data_root() / "demo" / "scenario"
    scenario = DemoScenario(folder, folder / "sds", folder / "stations.xml", folder / "event.xml",
                            folder / "CMTSOLUTION.true")
    if scenario.truth.is_file() and not force:
        return scenario
    source = true_source()
    _write_scenario(folder, [(source, "alaska2009")], source.time + DURATION_S[0], source.time + DURATION_S[1], seed,
                    truth_names=[scenario.truth.name])
    return scenario


def generate_sequence(folder: str | Path, origin_times: list, seed: int = 2010) -> DemoScenario:
    """An aftershock sequence for load tests and demonstrations of the alert DAG: one event at
    each of ``origin_times`` (``UTCDateTime``; at least ``DURATION_S`` apart to keep the
    records separate), at the demo hypocentre, Mw 3.8-4.8 with varied mechanisms, ids
    ``seq01``, ``seq02``... All in one SDS archive; ``event.xml`` holds every event, the true
    sources are ``CMTSOLUTION.seqNN``."""
    from obspy import UTCDateTime

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    main = true_source()
    events = []
    for k, t in enumerate(sorted(UTCDateTime(t) for t in origin_times), start=1):
        mechanism = (rng.uniform(0, 360), rng.uniform(30, 90), rng.uniform(-180, 180))
        source = Source.from_strike_dip_rake(*mechanism, round(rng.uniform(3.8, 4.8), 2), time=t,
                                             latitude=main.latitude, longitude=main.longitude,
                                             depth_km=main.depth_km, event_id=f"seq{k:02d}")
        events.append((source, f"seq{k:02d}"))
    times = [s.time for s, _ in events]
    _write_scenario(folder, events, min(times) + DURATION_S[0], max(times) + DURATION_S[1], seed,
                    truth_names=[f"CMTSOLUTION.{ident}" for _, ident in events])
    return DemoScenario(folder, folder / "sds", folder / "stations.xml", folder / "event.xml",
                        folder / f"CMTSOLUTION.{events[0][1]}")


def perturbed_ak135(crust_km: float = 40.0, mantle_factor: float = 0.97):
    """ak135 with a thicker crust (``crust_km`` instead of 35 km, both crustal layers
    stretched) and a slower upper mantle (``mantle_factor`` on the velocities down to 410 km):
    the kind of difference between the real Earth under a region and the global model."""
    from dataclasses import replace

    from cmtflow.models import load_model

    base = load_model("ak135")
    top = np.concatenate([[0.0], np.cumsum(base.thickness[:-1])])
    crust = top < 35.0 - 1e-6
    upper = ~crust & (top < 410.0)
    thickness = base.thickness.copy()
    thickness[crust] *= crust_km / 35.0
    vp, vs = base.vp.copy(), base.vs.copy()
    vp[upper] *= mantle_factor
    vs[upper] *= mantle_factor
    return replace(base, name=f"ak135 crust {crust_km:g} km mantle x{mantle_factor:g}", thickness=thickness,
                   vp=vp, vs=vs)


def generate_large_event(folder: str | Path, mw: float, seed: int = 7, model=None,
                         n_stations: int = 24, distances_km: tuple[float, float] = (50.0, 800.0),
                         reversed_stations: int = 1, force: bool = False) -> DemoScenario:
    """A large earthquake for validating the set-up by magnitude (README, "Validation"): a
    normal-faulting Mw ``mw`` at 15 km depth outside every region with a model (so ``model:
    auto`` inverts it in ak135 while ``model``, default :func:`perturbed_ak135`, makes the
    records), its moment released over
    1.3 times the GCMT half duration with the centroid that long after the hypocentre the
    catalogue gives (Mw + 0.1, depth 10 km); ``n_stations`` long-period (LH, 1 Hz) stations at random
    azimuths and log-uniform distances, ``reversed_stations`` of them wired upside down, the
    nearest clipped by the digitiser where the ground moves that much (their codes in
    ``REVERSED``); noise as the demo."""
    from obspy import UTCDateTime
    from obspy.geodetics import kilometers2degrees

    from cmtflow.data.events import half_duration_s
    from cmtflow.data.stations import StationPoint
    from cmtflow.source import Hypocenter, magnitude_to_moment

    folder = Path(folder)
    scenario = DemoScenario(folder, folder / "sds", folder / "stations.xml", folder / "event.xml",
                            folder / "CMTSOLUTION.true")
    if scenario.truth.is_file() and not force:
        return scenario
    rng = np.random.default_rng(seed)
    lat0, lon0, hypo_time = 45.0, 60.0, UTCDateTime("2021-06-01T03:00:00")
    hd = round(1.3 * half_duration_s(magnitude_to_moment(mw)), 1)
    ident = f"large{mw:.1f}".replace(".", "_")
    true = Source.from_strike_dip_rake(300.0, 50.0, -95.0, mw, time=hypo_time + hd, latitude=lat0, longitude=lon0,
                                       depth_km=15.0, half_duration=hd, event_id=ident,
                                       hypocenter=Hypocenter(hypo_time, lat0, lon0, 15.0, round(mw, 1),
                                                             round(mw, 1), "validation"))
    catalogue = Source.from_strike_dip_rake(300.0, 50.0, -95.0, mw + 0.1, time=hypo_time, latitude=lat0,
                                            longitude=lon0, depth_km=10.0, event_id=ident)
    stations = []
    for k in range(n_stations):
        az = rng.uniform(0.0, 360.0)
        dist = float(np.exp(rng.uniform(*np.log(distances_km))))
        deg = kilometers2degrees(dist)
        stations.append(StationPoint("VL", f"V{k:02d}", "", float(lat0 + deg * np.cos(np.radians(az))),
                                     float(lon0 + deg * np.sin(np.radians(az)) / np.cos(np.radians(lat0))), 0.0))
    far = 1.0 + distances_km[1] / 2.0 + 2.5 * 200.0 + 300.0  # the slowest waves, the longest band, margin
    recording = Recording(tuple(stations), model if model is not None else perturbed_ak135(), "LH", 1.0,
                          (-300.0, far),
                          tuple(stations[k].code for k in rng.choice(n_stations, reversed_stations, replace=False)))
    _write_scenario(folder, [(true, ident)], hypo_time - 300.0, hypo_time + far, seed, [scenario.truth.name],
                    recording, catalogue=[catalogue])
    (folder / "REVERSED").write_text("".join(f"{code.rstrip('.')}\n" for code in recording.reversed_stations))
    return scenario


@dataclass(frozen=True)
class Recording:
    """How a scenario is recorded: stations, the model that makes the seismograms, the
    channels' band code and rate (Hz), the window around each origin (s) and the stations
    whose sensor is wired upside down."""

    stations: tuple = ()
    model: object = MODEL  # a shipped model's name, a model file or an EarthModel
    band_code: str = "BH"
    sampling_rate: float = SAMPLING_RATE
    window_s: tuple[float, float] = DURATION_S
    reversed_stations: tuple[str, ...] = ()
    fmax_hz: float | None = None  # highest frequency of the synthetics (None: 0.4 of the rate, 1 Hz at most)


def _write_scenario(folder: Path, events: list[tuple[Source, str]], start, end, seed: int,
                    truth_names: list[str], recording: Recording | None = None,
                    catalogue: list[Source] | None = None) -> None:
    """Records of ``events`` (sources and their ids) from ``start`` to ``end`` (the demo
    stations unless ``recording`` says otherwise), with noise, as counts of a 24-bit
    digitiser (saturating at +-2^23: near a large event the records clip, as real ones do)
    in SDS; StationXML; QuakeML (``catalogue``: the hypocentres a catalogue gives, default
    the sources); the true sources as CMTSOLUTION files named ``truth_names``, written
    last: they mark the folder complete."""
    from cmtflow.source import write_cmtsolution

    recording = recording or Recording(tuple(demo_stations()))
    stations, rate = list(recording.stations), recording.sampling_rate
    response = seismometer_response()
    rng = np.random.default_rng(seed)
    dt = 1.0 / rate
    n = int(round((end - start) * rate))
    velocity = {(s.code, c): np.zeros(n) for s in stations for c in "ZNE"}
    for source, _ in events:
        for key, (offset, v) in _event_velocity(source, recording).items():
            i0 = int(round((source.time + offset - start) * rate))
            j0, j1 = max(i0, 0), min(i0 + len(v), n)
            if j1 > j0:
                velocity[key][j0:j1] += v[j0 - i0:j1 - i0]
    with staging_folder(folder.parent, "scenario") as tmp:
        network = {}
        for sta in stations:
            chans = []
            for comp in "ZNE":
                noise = bandpass(rng.standard_normal(n), dt, Band(max(5.0, 4 * dt), 100.0))
                ground = velocity[(sta.code, comp)] + NOISE_RMS_M_S * noise / np.std(noise)
                if sta.code in recording.reversed_stations:
                    ground = -ground
                counts = np.clip(np.round(_counts(ground, dt, response)), -DIGITISER_FULL_SCALE,
                                 DIGITISER_FULL_SCALE - 1).astype(np.int32)
                out = Trace(counts)
                channel = f"{recording.band_code}{comp}"
                out.stats.update(dict(network=sta.network, station=sta.station, location="", channel=channel,
                                      sampling_rate=rate, starttime=start))
                _write_sds(out, tmp / "sds")
                chans.append(Channel(code=channel, location_code="", latitude=sta.latitude,
                                     longitude=sta.longitude, elevation=sta.elevation_m, depth=0.0,
                                     azimuth={"Z": 0.0, "N": 0.0, "E": 90.0}[comp],
                                     dip=-90.0 if comp == "Z" else 0.0, sample_rate=rate,
                                     start_date=start - 86400 * 365, response=response))
            network.setdefault(sta.network, Network(code=sta.network)).stations.append(
                Station(code=sta.station, latitude=sta.latitude, longitude=sta.longitude,
                        elevation=sta.elevation_m, channels=chans, start_date=start - 86400 * 365))
        Inventory(networks=list(network.values()), source="cmtflow demo").write(str(tmp / "stations.xml"),
                                                                                 format="STATIONXML")
        _write_catalogue_events([(c, ident) for c, (_, ident) in zip(catalogue or [e for e, _ in events], events)],
                                tmp / "event.xml")
        for (source, _), name in zip(events, truth_names):
            write_cmtsolution(source, tmp / name)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)


def _event_velocity(source: Source, recording: Recording) -> dict:
    """Ground velocity (m/s) at the recording's rate per (station, component), with its
    start relative to the source time (s)."""
    # synthetics at 10 Hz (2 Hz for 1 Hz channels), band-limited to 1 Hz (0.4 of the
    # channels' rate), far above the inversion bands, then interpolated to the channels' rate;
    # a recording that gives its own highest frequency is sampled at four times it
    rate = recording.sampling_rate
    fmax = recording.fmax_hz or min(1.0, 0.4 * rate)
    dt_syn = max(0.1, 0.5 / rate) if recording.fmax_hz is None else 0.25 / fmax
    before, after = recording.window_s
    npts = 1 << int(math.ceil(math.log2((after + 60.0) / dt_syn)))
    disp, _ = synthetics(source, list(recording.stations), recording.model, dt_syn, npts, components="ZNE",
                         params=FKParameters(fmax=fmax))
    start = source.time + before
    n = int((after - before) * rate)
    out = {}
    for sta in recording.stations:
        for comp in "ZNE":
            tr = disp.select(network=sta.network, station=sta.station, component=comp)[0].copy()
            tr.data = np.gradient(tr.data, tr.stats.delta)  # displacement -> velocity (m/s)
            margin = max(1.0, 2 * dt_syn)  # the interpolation needs a sample beyond each end
            tr.trim(start - margin, start + n / rate + margin, pad=True, fill_value=0.0)
            tr.interpolate(rate, method="lanczos", a=12, starttime=start, npts=n)
            out[(sta.code, comp)] = (before, tr.data)
    return out


def _write_sds(tr: Trace, root: Path) -> None:
    """One file per day, as an SDS archive keeps them."""
    from obspy import UTCDateTime

    t = tr.stats.starttime
    while t < tr.stats.endtime:
        day = UTCDateTime(t.year, t.month, t.day)
        day_end = day + 86400
        # the samples of this day only (not the nearest one before midnight), in this day's file
        part = tr.slice(t, day_end - 1e-6, nearest_sample=False)
        s = part.stats
        path = (root / f"{day.year}" / s.network / s.station / f"{s.channel}.D" /
                f"{s.network}.{s.station}.{s.location}.{s.channel}.D.{day.year}.{day.julday:03d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        Stream([part]).write(str(path), format="MSEED", encoding="STEIM2", reclen=512)
        t = day_end


def _write_catalogue_events(events: list[tuple[Source, str]], path: Path) -> None:
    """QuakeML with the hypocentres and magnitudes only, as an alert feed would give them."""
    from obspy.core.event import Catalog, ResourceIdentifier

    catalog = Catalog()
    for source, ident in events:
        event = source_to_event(source)
        event.focal_mechanisms = []
        event.preferred_focal_mechanism_id = None
        event.resource_id = ResourceIdentifier(f"smi:cmtflow/demo/{ident}")
        event.origins[0].origin_type = "hypocenter"
        catalog.append(event)
    catalog.write(str(path), format="QUAKEML")
