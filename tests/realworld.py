"""A corpus of inputs in the shapes seismologists receive them, written with ObsPy.

One known earthquake (the published MTUQ solution of the 2009-04-07 Mw 4.5 southern Alaska
event, at its 12 real stations, ground motion from the embedded solver in ``scak`` plus
seismic noise) delivered the way other networks and archives deliver data:

* :func:`build_archive`: an **event-cut SDS archive** (10 s before the origin to 7 min after,
  as event archives and benchmark sets ship; no pre-event noise) of counts, and a metadata
  folder mixing formats: a **SeisComP-style StationXML** (one ``<Network>``/``<Station>``
  element per channel), a **SACPZ** file (ObsPy's writer), a **RESP** file with its
  coordinates in an ISOLA **station list**. Stations with the problems of real records:

  ======  =================================================================================
  TRF     plain BH Z/N/E
  PAX     plain BH Z/N/E
  NSKI    plain BH Z/N/E
  KASH    **misoriented**: its "N" and "E" point 25 and 115 degrees from north (declared)
  BMR     **1/2 horizontals** at 40 and 130 degrees
  PERI    vertical **pointing down** (dip +90, declared): inverted polarity
  PMR     broadband **clipped** (flat tops at half the peak); HN accelerometers unclipped
  SAW     a 0.3 s **gap** in BHZ, an **overlap** in BHN, BHE **switching from 20 to 40 Hz**
  SWD     **two locations**: ``00`` has no BHZ data, ``10`` is complete
  LSKI    response from the **SACPZ** file only
  EYAK    response from the **RESP** file, position from the **station list** only
  SPBG    **vertical only** (no horizontals in data or metadata)
  ======  =================================================================================

* :func:`build_cap_sac`: the same records as a **CAP/MTUQ-style SAC set**: ground velocity in
  **cm/s**, rotated to R/T/Z, ``20090407201255351.NET.STA..BH.{r,t,z}``, coordinates in the
  headers, no ``idep`` (units stated nowhere in the files).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from obspy import Inventory, Stream, Trace, UTCDateTime
from obspy.core.inventory import Channel, Network, Station
from obspy.core.inventory.response import Response
from obspy.geodetics import gps2dist_azimuth

from cmtflow import demo
from cmtflow.processing import Band, bandpass
from cmtflow.solvers.fk import FKParameters
from cmtflow.solvers.synthetics import synthetics

STATIONS = ("TRF", "PAX", "NSKI", "KASH", "BMR", "PERI", "PMR", "SAW", "SWD", "LSKI", "EYAK", "SPBG")
RATE = 20.0
EVENT_CUT = (-10.0, 420.0)  # s around the origin: how event archives are cut
FULL = (-300.0, 600.0)
#: A weak-motion accelerometer (counts per m/s², flat to acceleration up to its poles): sensitive
#: enough that a Mw 4.5's 15-50 s acceleration is far above its quantisation
ACC_POLES = (-981.0 + 1009.0j, -981.0 - 1009.0j)
ACC_GAIN = 2.0e8
MISORIENTED = (25.0, 115.0)  # KASH's "N" and "E"
ONE_TWO = (40.0, 130.0)  # BMR's "1" and "2"


@dataclass
class Archive:
    root: Path
    sds: Path
    metadata: Path  # the folder of station metadata
    quakeml: Path
    truth: Path  # CMTSOLUTION of the true source


def accelerometer_response() -> Response:
    s = 2j * math.pi
    a0 = 1.0 / abs(1.0 / np.prod([s - p for p in ACC_POLES]))
    return Response.from_paz(zeros=[], poles=list(ACC_POLES), stage_gain=ACC_GAIN, input_units="M/S**2",
                             output_units="COUNTS", normalization_frequency=1.0, normalization_factor=a0)


def ground_motion(seed: int = 13) -> dict:
    """``{station: {"Z"|"N"|"E": velocity m/s at RATE from FULL[0]}}`` with seismic noise, and
    the station points."""
    source = demo.true_source()
    points = [p for p in demo.demo_stations() if p.station in STATIONS]
    disp, _ = synthetics(source, points, demo.MODEL, 0.25, 4096, components="ZNE", params=FKParameters(fmax=0.5))
    rng = np.random.default_rng(seed)
    start = source.time + FULL[0]
    n = int((FULL[1] - FULL[0]) * RATE)
    out = {}
    for p in points:
        out[p.station] = {}
        for comp in "ZNE":
            tr = disp.select(station=p.station, component=comp)[0].copy()
            tr.data = np.gradient(tr.data, tr.stats.delta)
            tr.trim(start - 1.0, start + n / RATE + 1.0, pad=True, fill_value=0.0)
            tr.interpolate(RATE, method="lanczos", a=12, starttime=start, npts=n)
            noise = bandpass(rng.standard_normal(n), 1.0 / RATE, Band(5.0, 100.0))
            out[p.station][comp] = tr.data + demo.NOISE_RMS_M_S * noise / np.std(noise)
    return {"source": source, "points": {p.station: p for p in points}, "velocity": out}


def _counts(velocity: np.ndarray, response: Response, derivative: int = 0) -> np.ndarray:
    x = velocity
    for _ in range(derivative):
        x = np.gradient(x, 1.0 / RATE)
    n = 2 * len(x)
    h, _ = response.get_evalresp_response(1.0 / RATE, n, output="VEL" if derivative == 0 else "ACC")
    return np.fft.irfft(np.fft.rfft(x, n) * h, n)[: len(x)]


def _project(v: dict, azimuth: float, dip: float) -> np.ndarray:
    a, d = math.radians(azimuth), math.radians(dip)
    return -math.sin(d) * v["Z"] + math.cos(d) * (math.cos(a) * v["N"] + math.sin(a) * v["E"])


def _trace(data, p, loc, cha, start, rate=RATE) -> Trace:
    tr = Trace(np.asarray(data))
    tr.stats.update(dict(network=p.network, station=p.station, location=loc, channel=cha, sampling_rate=rate,
                         starttime=start))
    return tr


def _channel(p, loc, cha, azimuth, dip, response, rate=RATE) -> Channel:
    return Channel(code=cha, location_code=loc, latitude=p.latitude, longitude=p.longitude, elevation=p.elevation_m,
                   depth=0.0, azimuth=azimuth, dip=dip, sample_rate=rate, start_date=UTCDateTime("2005-01-01"),
                   response=response)


def _layout(station: str) -> list[tuple[str, str, float, float]]:
    """(location, channel, azimuth, dip) of each channel of a station."""
    if station == "KASH":
        return [("", "BHZ", 0.0, -90.0), ("", "BHN", MISORIENTED[0], 0.0), ("", "BHE", MISORIENTED[1], 0.0)]
    if station == "BMR":
        return [("", "BHZ", 0.0, -90.0), ("", "BH1", ONE_TWO[0], 0.0), ("", "BH2", ONE_TWO[1], 0.0)]
    if station == "PERI":
        return [("", "BHZ", 0.0, 90.0), ("", "BHN", 0.0, 0.0), ("", "BHE", 90.0, 0.0)]
    if station == "PMR":
        return [("", f"{band}{c}", a, d) for band in ("BH", "HN") for c, a, d in
                (("Z", 0.0, -90.0), ("N", 0.0, 0.0), ("E", 90.0, 0.0))]
    if station == "SWD":
        return [(loc, f"BH{c}", a, d) for loc in ("00", "10") for c, a, d in
                (("Z", 0.0, -90.0), ("N", 0.0, 0.0), ("E", 90.0, 0.0))]
    if station == "SPBG":
        return [("", "BHZ", 0.0, -90.0)]
    return [("", f"BH{c}", a, d) for c, a, d in (("Z", 0.0, -90.0), ("N", 0.0, 0.0), ("E", 90.0, 0.0))]


def build_archive(root: Path, motion: dict | None = None) -> Archive:
    """The event-cut SDS archive and the metadata folder (module docstring)."""
    from cmtflow.source import write_cmtsolution

    motion = motion or ground_motion()
    source, points, velocity = motion["source"], motion["points"], motion["velocity"]
    sds, meta = root / "sds", root / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    seismometer, accelerometer = demo.seismometer_response(), accelerometer_response()
    full_start = source.time + FULL[0]
    cut = (source.time + EVENT_CUT[0], source.time + EVENT_CUT[1])
    seiscomp, sacpz, resp_lines, stn_lines = [], Inventory(networks=[], source="test"), [], []
    for code in STATIONS:
        p = points[code]
        for loc, cha, azimuth, dip in _layout(code):
            strong = cha.startswith("HN")
            response = accelerometer if strong else seismometer
            counts = _counts(_project(velocity[code], azimuth, dip), response, derivative=1 if strong else 0)
            data = np.round(counts).astype(np.int32)
            if code == "PMR" and not strong:  # saturated at half its peak: flat tops
                limit = int(0.5 * np.max(np.abs(data)))
                data = np.clip(data, -limit, limit)
            tr = _trace(data, p, loc, cha, full_start).slice(*cut)
            write_sds(Stream(_damage(code, loc, cha, tr)), sds)
            channel = _channel(p, loc, cha, azimuth, dip, response)
            if code == "LSKI":
                sacpz.networks.append(Network(p.network, stations=[Station(code, p.latitude, p.longitude,
                                                                           p.elevation_m, channels=[channel])]))
            elif code == "EYAK":
                resp_lines.append(resp_text(p.network, code, loc, cha, seismometer))
            else:  # SeisComP: one Network and one Station element per channel
                seiscomp.append(Network(p.network, stations=[Station(code, p.latitude, p.longitude, p.elevation_m,
                                                                     channels=[channel])]))
        if code == "EYAK":
            stn_lines.append(f"{p.network}:{code}::BH   {p.latitude:.4f}   {p.longitude:.4f}")
    Inventory(networks=seiscomp, source="SeisComP-style export").write(str(meta / "seiscomp.xml"), format="STATIONXML")
    sacpz.write(str(meta / "LSKI.sacpz"), format="SACPZ")
    (meta / "RESP.AK.EYAK").write_text("".join(resp_lines))
    (meta / "network.stn").write_text("\n".join(stn_lines) + "\n")
    demo._write_catalogue_events([(source, "realworld")], root / "event.xml")
    write_cmtsolution(source, root / "CMTSOLUTION.true")
    return Archive(root, sds, meta, root / "event.xml", root / "CMTSOLUTION.true")


def write_sds(st: Stream, root: Path) -> None:
    """The traces of one channel into their SDS day file (one file per channel and day; the
    records of a channel inside it in time order, as a data logger appends them)."""
    if not len(st):
        return
    s, t = st[0].stats, st[0].stats.starttime
    path = (root / f"{t.year}" / s.network / s.station / f"{s.channel}.D" /
            f"{s.network}.{s.station}.{s.location}.{s.channel}.D.{t.year}.{t.julday:03d}")
    path.parent.mkdir(parents=True, exist_ok=True)
    st.write(str(path), format="MSEED", encoding="STEIM2", reclen=512)


def _damage(code: str, loc: str, cha: str, tr: Trace) -> list[Trace]:
    """SAW's gap, overlap and change of sampling rate; SWD.00's missing vertical."""
    if code == "SWD" and loc == "00" and cha == "BHZ":
        return []
    if code != "SAW":
        return [tr]
    t0 = tr.stats.starttime
    if cha == "BHZ":  # a 0.3 s gap inside the signal window
        return [tr.slice(t0, t0 + 100.0), tr.slice(t0 + 100.35, tr.stats.endtime)]
    if cha == "BHN":  # the same 10 s twice (a repeated record)
        return [tr.slice(t0, t0 + 160.0), tr.slice(t0 + 150.0, tr.stats.endtime)]
    if cha == "BHE":  # the digitiser switches to 40 Hz
        late = tr.slice(t0 + 210.0, tr.stats.endtime).copy()
        late.data = late.data.astype(float)
        late.interpolate(40.0, method="lanczos", a=12)
        late.data = np.round(late.data).astype(np.int32)
        return [tr.slice(t0, t0 + 210.0 - 0.5 / RATE), late]
    return [tr]


def resp_text(net: str, sta: str, loc: str, cha: str, response: Response) -> str:
    """One channel of a RESP file (as rdseed and IRIS's evalresp service write them): the
    poles and zeros stage (rad/s) and its gain, and the overall sensitivity."""
    paz = response.response_stages[0]
    lines = [f"B050F03     Station:     {sta}", f"B050F16     Network:     {net}",
             f"B052F03     Location:    {loc or '??'}", f"B052F04     Channel:     {cha}",
             "B052F22     Start date:  2005,001,00:00:00.0000", "B052F23     End date:    No Ending Time",
             "B053F03     Transfer function type:                A [Laplace Transform (Rad/sec)]",
             "B053F04     Stage sequence number:                 1",
             "B053F05     Response in units lookup:              M/S - Velocity in Meters Per Second",
             "B053F06     Response out units lookup:             COUNTS - Digital Counts",
             f"B053F07     A0 normalization factor:               {paz.normalization_factor:.6E}",
             f"B053F08     Normalization frequency:               {paz.normalization_frequency:.6E}",
             f"B053F09     Number of zeroes:                      {len(paz.zeros)}",
             f"B053F14     Number of poles:                       {len(paz.poles)}"]
    lines += [f"B053F10-13    {i}  {z.real:.6E}  {z.imag:.6E}  0.000000E+00  0.000000E+00" for i, z in enumerate(paz.zeros)]
    lines += [f"B053F15-18    {i}  {p.real:.6E}  {p.imag:.6E}  0.000000E+00  0.000000E+00" for i, p in enumerate(paz.poles)]
    lines += ["B058F03     Stage sequence number:                 1",
              f"B058F04     Gain:                                  {paz.stage_gain:.6E}",
              f"B058F05     Frequency of gain:                     {paz.stage_gain_frequency:.6E} HZ",
              "B058F06     Number of calibrations:                0",
              "B058F03     Stage sequence number:                 0",
              f"B058F04     Sensitivity:                           {response.instrument_sensitivity.value:.6E}",
              f"B058F05     Frequency of sensitivity:              {response.instrument_sensitivity.frequency:.6E} HZ",
              "B058F06     Number of calibrations:                0"]
    return "\n".join(lines) + "\n#\n"


def build_cap_sac(root: Path, motion: dict | None = None) -> Path:
    """The CAP/MTUQ-style SAC set (module docstring): velocity in cm/s, R/T/Z, no idep."""
    from obspy.io.sac import SACTrace

    motion = motion or ground_motion()
    source, points, velocity = motion["source"], motion["points"], motion["velocity"]
    folder = root / "cap"
    folder.mkdir(parents=True, exist_ok=True)
    start = source.time + FULL[0]
    stamp = source.time.strftime("%Y%m%d%H%M%S") + f"{source.time.microsecond // 1000:03d}"
    for code, p in points.items():
        _, az, baz = gps2dist_azimuth(source.latitude, source.longitude, p.latitude, p.longitude)
        v = velocity[code]
        a = math.radians(baz + 180.0)  # R points away from the source
        comps = {"z": v["Z"], "r": math.cos(a) * v["N"] + math.sin(a) * v["E"],
                 "t": -math.sin(a) * v["N"] + math.cos(a) * v["E"]}
        for comp, data in comps.items():
            tr = _trace(100.0 * data, p, "", f"BH{comp.upper()}", start).slice(source.time - 100.0, source.time + 300.0)
            sac = SACTrace.from_obspy_trace(tr)
            sac.stla, sac.stlo, sac.evla, sac.evlo, sac.evdp = p.latitude, p.longitude, source.latitude, \
                source.longitude, source.depth_km
            sac.kcmpnm = f"BH{comp.upper()}"
            sac.write(str(folder / f"{stamp}.{p.network}.{code}..BH.{comp}"))
    return folder


# --------------------------------------------------------------------------- real records, cut
#: The 2009-04-07 southern Alaska origin and its published solutions (../shared/data/README.md).
ALASKA_ORIGIN = UTCDateTime("2009-04-07T20:12:55.351")
ALASKA_EPICENTRE = (61.4542, -149.7428, 33.03)
ALASKA_CAP = (206.0, 52.0, -90.0, 4.50)  # CAP grid search: strike, dip, rake, Mw


def alaska_conf(**overrides) -> dict:
    """A run conf of the Alaska origin (Mw 4.5 given as the catalogue's)."""
    lat, lon, depth = ALASKA_EPICENTRE
    return {"origin_time": str(ALASKA_ORIGIN), "latitude": lat, "longitude": lon, "depth_km": depth,
            "magnitude": 4.5, **overrides}


def cap_cut_folder(shared: Path, folder: Path, start_s: float = -12.0, end_s: float = 101.0) -> Path:
    """The real Alaska SAC set (velocity in cm/s, R/T/Z) cut as CAP cuts its event folders,
    ``start_s``..``end_s`` after the origin, headers kept."""
    import obspy

    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((shared / "alaska-2009-04-07").glob("*.BH.?")):
        tr = obspy.read(str(path))[0]
        tr.trim(ALASKA_ORIGIN + start_s, ALASKA_ORIGIN + end_s)
        tr.write(str(folder / path.name), format="SAC")
    return folder


def event_archive_from_real_records(shared: Path, root: Path, start_s: float = -10.0, end_s: float = 200.0
                                    ) -> tuple[Path, Path]:
    """The real Alaska records as an event-cut SDS archive of counts, ``start_s``..``end_s``
    after the origin, and its StationXML: the R/T records turned back to N/E with the
    back-azimuth of their SAC header, cm/s to m/s, through the demo's STS-2-like response
    to counts (what a data logger wrote). Returns (SDS folder, StationXML file)."""
    import obspy
    from obspy.geodetics import gps2dist_azimuth

    response = demo.seismometer_response()
    sds, networks = root / "sds", {}
    lat0, lon0, _ = ALASKA_EPICENTRE
    for zfile in sorted((shared / "alaska-2009-04-07").glob("*.BH.z")):
        records = {c: obspy.read(str(zfile)[:-1] + c)[0] for c in "zrt"}
        head = records["z"].stats.sac
        _, _, baz = gps2dist_azimuth(lat0, lon0, float(head.stla), float(head.stlo))
        a = math.radians(baz + 180.0)  # R points away from the source
        r, t = (0.01 * records[c].data.astype(float) for c in "rt")
        velocity = {"Z": 0.01 * records["z"].data.astype(float), "N": math.cos(a) * r - math.sin(a) * t,
                    "E": math.sin(a) * r + math.cos(a) * t}
        start, dt = records["z"].stats.starttime, records["z"].stats.delta
        net, sta = records["z"].stats.network, records["z"].stats.station
        point = _Point(net, sta, float(head.stla), float(head.stlo), float(head.get("stel", 0.0) or 0.0))
        channels = []
        for comp, azimuth, dip in (("Z", 0.0, -90.0), ("N", 0.0, 0.0), ("E", 90.0, 0.0)):
            counts = np.round(demo._counts(velocity[comp], dt, response)).astype(np.int32)
            tr = _trace(counts, point, "", f"BH{comp}", start, rate=1.0 / dt)
            write_sds(Stream([tr.slice(ALASKA_ORIGIN + start_s, ALASKA_ORIGIN + end_s)]), sds)
            channels.append(_channel(point, "", f"BH{comp}", azimuth, dip, response, rate=1.0 / dt))
        networks.setdefault(net, []).append(Station(sta, point.latitude, point.longitude, point.elevation_m,
                                                    channels=channels))
    inventory = root / "stations.xml"
    Inventory(networks=[Network(n, stations=s) for n, s in networks.items()], source="test").write(
        str(inventory), format="STATIONXML")
    return sds, inventory


@dataclass
class _Point:
    network: str
    station: str
    latitude: float
    longitude: float
    elevation_m: float
