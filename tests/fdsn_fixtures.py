"""A small seismic network on disk and real FDSN services on loopback, for the data tests.

* :func:`build_scenario`: an event, a StationXML inventory with full (poles/zeros +
  digitiser) responses, and an SDS archive of miniSEED counts: known ground velocity
  (wavelets at the P and S times of each station) passed through each station's response.
  Some stations are broken on purpose (no response, two components, too far, a
  near-duplicate, 1/2 horizontals).
* :class:`DataselectServer`: the real ``portable-fdsnws-dataselect`` server over that SDS
  archive, indexed with ``mseedindex``.
* :class:`StationEventServer`: station and event documents served from files, following
  the FDSN URL and query conventions (``/fdsnws/station/1/query``, HTTP 204 for no data),
  with injectable failures (HTTP 503, slow answers).
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import hashlib
import http.server
import io
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from obspy import Catalog, Inventory, Trace, UTCDateTime
from obspy.core.event import Event, Magnitude, Origin, ResourceIdentifier
from obspy.core.inventory import Channel, Network, Station
from obspy.core.inventory.response import Response
from obspy.geodetics import gps2dist_azimuth, kilometers2degrees, locations2degrees

EVENT_ID = "cmtf2024abcd"
ORIGIN = UTCDateTime("2024-03-10T12:00:00")
EPICENTRE = (46.0, 8.0, 10.0)  # lat, lon, depth km
MAGNITUDE = 4.3
RATE = {"HH": 100.0, "BH": 20.0}
#: STS-2-like seismometer (rad/s), 1500 V/(m/s), digitiser 4e5 counts/V
POLES = [-0.037 + 0.037j, -0.037 - 0.037j, -251.3 + 0j, -131.0 + 467.3j, -131.0 - 467.3j]
ZEROS = [0j, 0j]
GAIN = 1500.0 * 4.0e5
WINDOW = (-300.0, 600.0)  # s around the origin covered by the archive


def _normalised_response() -> Response:
    s = 2j * np.pi * 1.0
    a0 = 1.0 / abs(np.prod([s - z for z in ZEROS]) / np.prod([s - p for p in POLES]))
    return Response.from_paz(zeros=ZEROS, poles=POLES, stage_gain=GAIN, input_units="M/S", output_units="COUNTS",
                             normalization_frequency=1.0, normalization_factor=a0)


RESPONSE = _normalised_response()


@dataclass(frozen=True)
class StationSpec:
    code: str
    distance_km: float
    azimuth: float
    band: str = "BH"
    components: str = "ZNE"
    azimuth_1: float = 0.0  # orientation of a "1" horizontal (degrees from north)
    response: bool = True
    location: str = ""


STATIONS = (
    StationSpec("AAA", 45.0, 10.0, "HH"),
    StationSpec("BBB", 80.0, 75.0),
    StationSpec("CCC", 120.0, 140.0, "HH", location="00"),
    StationSpec("DDD", 150.0, 200.0),
    StationSpec("EEE", 190.0, 260.0, "BH", "Z12", azimuth_1=30.0),
    StationSpec("FFF", 230.0, 320.0),
    StationSpec("NORS", 100.0, 100.0, response=False),  # no response: dropped
    StationSpec("TWOC", 110.0, 170.0, components="N"),  # one horizontal only: nothing usable, dropped
    StationSpec("FARS", 700.0, 50.0),  # beyond 500 km: dropped
    StationSpec("DUPL", 81.0, 75.5),  # within 5 km of BBB: dropped as duplicate
)


#: The stations of :data:`STATIONS` with good data.
GOOD_STATIONS = ["XS.AAA", "XS.BBB", "XS.CCC", "XS.DDD", "XS.EEE", "XS.FFF"]


def scenario_earthquake(**kw):
    """The scenario's earthquake (``cmtflow.data.events.Earthquake``)."""
    from cmtflow.data.events import earthquake_from_origin

    return earthquake_from_origin(ORIGIN, *EPICENTRE, MAGNITUDE, event_id=EVENT_ID, **kw)


def station_position(spec: StationSpec) -> tuple[float, float]:
    lat0, lon0, _ = EPICENTRE
    deg = kilometers2degrees(spec.distance_km)
    # a first guess on the sphere, good to ~1 %; the tests use the geodesic distance
    return (lat0 + deg * np.cos(np.radians(spec.azimuth)),
            lon0 + deg * np.sin(np.radians(spec.azimuth)) / np.cos(np.radians(lat0)))


def ground_velocity(t: np.ndarray, distance_km: float) -> dict[str, np.ndarray]:
    """Known ground velocity (m/s) in Z, R, T: wavelets at P (d/6 km/s) and S (d/3.5 km/s)."""
    def wavelet(centre, period):
        x = (np.pi * (t - centre) / period) ** 2
        return (1 - 2 * x) * np.exp(-x)

    amp = 1e-5 * 50.0 / distance_km
    tp, ts = distance_km / 6.0, distance_km / 3.5
    return {"Z": amp * (wavelet(tp, 4.0) + 0.5 * wavelet(ts + 5, 20.0)),
            "R": amp * (0.6 * wavelet(tp, 4.0) + 0.7 * wavelet(ts + 5, 20.0)),
            "T": amp * (0.9 * wavelet(ts, 6.0) + 0.8 * wavelet(ts + 10, 25.0))}


def velocity_to_counts(v: np.ndarray, dt: float) -> np.ndarray:
    n = 2 * len(v)
    h, _ = RESPONSE.get_evalresp_response(dt, n, output="VEL")
    return np.fft.irfft(np.fft.rfft(v, n) * h, n)[: len(v)]


@dataclass
class Scenario:
    root: Path
    inventory: Inventory
    inventory_file: Path
    quakeml: Path
    sds: Path
    truth: dict = field(default_factory=dict)  # station -> (channel, velocity array, dt, t0)


def build_scenario(root: Path) -> Scenario:
    root.mkdir(parents=True, exist_ok=True)
    net = Network(code="XS", start_date=UTCDateTime("2020-01-01"))
    sds = root / "sds"
    truth = {}
    for spec in STATIONS:
        lat, lon = station_position(spec)
        sta = Station(code=spec.code, latitude=lat, longitude=lon, elevation=500.0,
                      start_date=UTCDateTime("2020-01-01"))
        rate = RATE[spec.band]
        dt = 1.0 / rate
        t = WINDOW[0] + dt * np.arange(int((WINDOW[1] - WINDOW[0]) * rate))
        dist_km = gps2dist_azimuth(EPICENTRE[0], EPICENTRE[1], lat, lon)[0] / 1000.0
        az = gps2dist_azimuth(EPICENTRE[0], EPICENTRE[1], lat, lon)[1]
        zrt = ground_velocity(t, dist_km)
        ar = np.radians(az)
        north = zrt["R"] * np.cos(ar) - zrt["T"] * np.sin(ar)
        east = zrt["R"] * np.sin(ar) + zrt["T"] * np.cos(ar)
        horizontals = {"N": (0.0, north), "E": (90.0, east)}
        if "1" in spec.components:
            a1 = np.radians(spec.azimuth_1)
            horizontals = {"1": (spec.azimuth_1, north * np.cos(a1) + east * np.sin(a1)),
                           "2": (spec.azimuth_1 + 90.0, -north * np.sin(a1) + east * np.cos(a1))}
        motions = {"Z": (0.0, zrt["Z"]), **horizontals}
        for comp in spec.components:
            azimuth, v = motions[comp]
            code = f"{spec.band}{comp}"
            sta.channels.append(Channel(
                code=code, location_code=spec.location, latitude=lat, longitude=lon, elevation=500.0, depth=0.0,
                azimuth=azimuth, dip=-90.0 if comp == "Z" else 0.0, sample_rate=rate,
                start_date=UTCDateTime("2020-01-01"), response=RESPONSE if spec.response else None))
            counts = np.round(velocity_to_counts(v, dt)).astype(np.int32)
            tr = Trace(counts)
            tr.stats.update(dict(network="XS", station=spec.code, location=spec.location, channel=code,
                                 sampling_rate=rate, starttime=ORIGIN + WINDOW[0]))
            write_sds(tr, sds)
            truth[(spec.code, comp)] = (v, dt)
        truth[spec.code] = {"zrt": zrt, "dt": dt, "t0": WINDOW[0], "distance_km": dist_km, "azimuth": az}
        net.stations.append(sta)
    inventory = Inventory(networks=[net], source="cmtflow tests")
    inventory_file = root / "stations.xml"
    inventory.write(str(inventory_file), format="STATIONXML")
    quakeml = root / "event.xml"
    origin = Origin(resource_id=ResourceIdentifier(f"smi:test/origin/{EVENT_ID}"), time=ORIGIN,
                    latitude=EPICENTRE[0], longitude=EPICENTRE[1], depth=EPICENTRE[2] * 1000.0)
    mag = Magnitude(mag=MAGNITUDE, magnitude_type="ML", origin_id=origin.resource_id)
    event = Event(resource_id=ResourceIdentifier(f"smi:test/event/{EVENT_ID}"), origins=[origin],
                  magnitudes=[mag], preferred_origin_id=origin.resource_id)
    event.preferred_magnitude_id = mag.resource_id
    Catalog(events=[event]).write(str(quakeml), format="QUAKEML")
    return Scenario(root, inventory, inventory_file, quakeml, sds, truth)


def sds_path(tr: Trace, root: Path) -> Path:
    s = tr.stats
    t = s.starttime
    return (root / f"{t.year}" / s.network / s.station / f"{s.channel}.D" /
            f"{s.network}.{s.station}.{s.location}.{s.channel}.D.{t.year}.{t.julday:03d}")


def write_sds(tr: Trace, root: Path) -> Path:
    path = sds_path(tr, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tr.write(str(path), format="MSEED", encoding="STEIM2", reclen=512)
    return path


def corrupt_file(path: Path, record: int = 3) -> None:
    """Overwrite the fixed header of one 512-byte record: a corrupt record mid-file."""
    data = bytearray(path.read_bytes())
    start = 512 * record
    data[start:start + 48] = b"\xff" * 48
    path.write_bytes(bytes(data))


# ----------------------------------------------------------------------------- servers
def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, seconds: float = 30.0) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # the server answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {seconds} s")


class DataselectServer:
    """``portable-fdsnws-dataselect`` on loopback serving ``sds`` (indexed by mseedindex)."""

    def __init__(self, sds: Path, workdir: Path):
        self.sds, self.workdir = sds, workdir
        self.port = free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fdsnws/dataselect/1"

    def start(self) -> "DataselectServer":
        bindir = Path(sys.executable).parent
        db = self.workdir / "timeseries.sqlite"
        db.unlink(missing_ok=True)
        files = [str(p) for p in sorted(self.sds.rglob("*.D.*")) if p.is_file()]
        subprocess.run([str(bindir / "mseedindex"), "-sqlite", str(db), *files], check=True, capture_output=True)
        with sqlite3.connect(db) as con:
            # mseedindex's time index makes the server cut partial windows wrongly
            con.execute("UPDATE tsindex SET timeindex = NULL")
        config = self.workdir / "dataselect.ini"
        config.write_text(f"[index_db]\npath = {db}\ntable = tsindex\n\n[server]\ninterface = 127.0.0.1\n"
                          f"port = {self.port}\nmaxsectiondays = 10\n\n[logging]\n"
                          f"path = {self.workdir / 'dataselect.log'}\nlevel = INFO\n")
        self.process = subprocess.Popen([str(bindir / "portable-fdsnws-dataselect"), str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(f"{self.url}/version")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


class LoopbackServer:
    """A threaded HTTP server on a free loopback port: what the test services below share."""

    def _bind(self, handler) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class StationEventServer(LoopbackServer):
    """FDSN station and event services from files (see module docstring).

    ``fail[service] = n`` answers the next n requests to that service with HTTP 503;
    ``delay[service] = s`` makes each answer wait s seconds (timeouts).
    """

    def __init__(self, inventory: Inventory, quakeml: Path):
        self.inventory = inventory
        self.quakeml = quakeml.read_bytes()
        self.fail: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                server.requests.append(self.path)
                service = url.path.split("/")[2] if url.path.startswith("/fdsnws/") else ""
                if server.delay.get(service):
                    time.sleep(server.delay[service])
                if server.fail.get(service, 0) > 0:
                    server.fail[service] -= 1
                    return self._send(503, b"Service temporarily unavailable", "text/plain")
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/fdsnws/station/1/query":
                    return self._send(*server.station_query(query))
                if url.path == "/fdsnws/event/1/query":
                    return self._send(*server.event_query(query))
                self._send(404, b"Not found", "text/plain")

            def _send(self, code, body=b"", ctype="application/xml"):
                self.send_response(code)
                if code != 204:
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if code != 204:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up
                        self.wfile.write(body)

        self._bind(Handler)

    def station_query(self, q: dict):
        inv = self.inventory.select(network=q.get("network", q.get("net", "*")),
                                    station=q.get("station", q.get("sta", "*")))
        inv = copy.deepcopy(inv)
        patterns = q.get("channel", q.get("cha", "*")).split(",")
        for net in inv:
            for sta in net:
                sta.channels = [c for c in sta.channels if any(fnmatch.fnmatch(c.code, p) for p in patterns)]
            net.stations = [s for s in net.stations if s.channels]
        inv.networks = [n for n in inv.networks if n.stations]
        if "latitude" in q:
            lat, lon = float(q["latitude"]), float(q["longitude"])
            lo, hi = float(q.get("minradius", 0)), float(q.get("maxradius", 180))
            for net in inv:
                net.stations = [s for s in net.stations if lo <= locations2degrees(lat, lon, s.latitude,
                                                                                  s.longitude) <= hi]
            inv.networks = [n for n in inv.networks if n.stations]
        if not inv.networks:
            return 204, b""
        if q.get("level", "station") != "response":
            for net in inv:
                for sta in net:
                    for cha in sta.channels:
                        cha.response = None
        buf = io.BytesIO()
        inv.write(buf, format="STATIONXML")
        return 200, buf.getvalue()

    def event_query(self, q: dict):
        if q.get("eventid") == EVENT_ID:
            return 200, self.quakeml
        return 204, b""

def copy_scenario(scenario: Scenario, root: Path) -> Scenario:
    """A private copy (for tests that break files)."""
    shutil.copytree(scenario.root, root)
    return Scenario(root, scenario.inventory, root / "stations.xml", root / "event.xml", root / "sds", scenario.truth)



REALM, NONCE = "FDSN", "cmtflow-test-nonce"


class FrontHandler(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 handler that passes GET and POST (with its body) to ``_handle(body)``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _handle(self, body: bytes | None):
        raise NotImplementedError

    def _answer(self, code: int, data: bytes, headers: dict):
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def do_GET(self):
        self._handle(None)

    def do_POST(self):
        self._handle(self.rfile.read(int(self.headers.get("Content-Length", 0))))


class FaultProxy(LoopbackServer):
    """An HTTP front for a real FDSN server that injects data-centre faults.

    ``mode``: ``"pass"`` (forward), ``"down"`` (close the connection unanswered), ``"error"``
    (HTTP 503), ``"slow"`` (wait ``delay`` s before answering), ``"truncate"`` (forward the
    status and the full Content-Length, then only ``keep`` of the body and close: a transfer
    cut mid-record), ``"truncate-close"`` (the same without Content-Length: the cut looks like
    the end). ``times``: how many requests get the fault before it passes again (None: all).
    ``digest = (user, password)``: ``/queryauth`` requires HTTP digest authentication (FDSN
    restricted data), answering 401 with a challenge otherwise.
    """

    def __init__(self, backend: str):
        self.backend = backend.rstrip("/")
        self.mode, self.times, self.delay, self.keep = "pass", None, 0.0, 0.5
        self.digest: tuple[str, str] | None = None
        self.requests: list[str] = []
        proxy = self

        class Handler(FrontHandler):
            def _fault(self) -> str:
                if proxy.mode == "pass" or proxy.times == 0:
                    return "pass"
                if proxy.times is not None:
                    proxy.times -= 1
                return proxy.mode

            def _handle(self, body: bytes | None):
                proxy.requests.append(f"{self.command} {self.path}")
                if "/queryauth" in self.path and proxy.digest and not self._digest_ok():
                    return self._answer(401, b"Authentication required", {
                        "Content-Type": "text/plain",
                        "WWW-Authenticate": f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth", algorithm=MD5'})
                fault = self._fault()
                if fault == "down":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault == "error":
                    return self._answer(503, b"Service temporarily unavailable", {"Content-Type": "text/plain"})
                if fault == "slow":
                    time.sleep(proxy.delay)
                path = self.path.replace("/queryauth", "/query")  # the backend has no authentication
                request = urllib.request.Request(proxy.backend + path, data=body, method=self.command)
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        code, data, ctype = answer.status, answer.read(), answer.headers.get("Content-Type", "")
                except urllib.error.HTTPError as exc:
                    code, data, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
                if fault in ("truncate", "truncate-close") and code == 200:
                    cut = data[: int(len(data) * proxy.keep)]
                    self.send_response(200)
                    self.send_header("Content-Type", ctype)
                    if fault == "truncate":
                        self.send_header("Content-Length", str(len(data)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.wfile.write(cut)
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._answer(code, data, {"Content-Type": ctype})

            def _digest_ok(self) -> bool:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Digest "):
                    return False
                f = urllib.request.parse_keqv_list(urllib.request.parse_http_list(header[7:]))
                user, password = proxy.digest

                def md5(text):
                    return hashlib.md5(text.encode()).hexdigest()

                ha1, ha2 = md5(f"{user}:{REALM}:{password}"), md5(f"{self.command}:{f.get('uri', '')}")
                expected = md5(f"{ha1}:{f.get('nonce')}:{f.get('nc')}:{f.get('cnonce')}:{f.get('qop')}:{ha2}")
                return f.get("username") == user and f.get("response") == expected

        self._bind(Handler)


class RealtimeDataselect(LoopbackServer):
    """A front for a real dataselect server that behaves like a data centre during an
    earthquake: a sample recorded at time t is served from ``t + latency_s`` on, by the clock
    ``clock`` (``UTCDateTime`` now by default; the archive behind holds the whole records,
    future ones included). ``latency_s``: seconds, or ``{network: seconds, or None for a
    network that never delivers}`` (networks not named: ``default_latency_s``). ``outages``:
    ``{network: (t1, t2)}``, clock times between which that network's data are not served at
    all (its node is down). Requests are cut to what has arrived (HTTP 204 when nothing has),
    and the answer's records trimmed to it, so no record reaches past the cut. ``asked``:
    ``(clock time, latest cut)`` per query. ``extent``: the ``(start, end)`` the archive holds
    on every channel; given, the front also serves the FDSN availability service
    (``/fdsnws/availability/1/query``, text format, what has arrived), and counts its queries
    in ``availability_queries``; else that path answers 404, as at a data centre without it."""

    def __init__(self, backend: str, latency_s, clock=UTCDateTime.now, outages: dict | None = None,
                 default_latency_s: float = 10.0, extent: tuple | None = None):
        self.backend, self.latency_s, self.clock = backend.rstrip("/"), latency_s, clock
        self.outages, self.default_latency_s, self.extent = dict(outages or {}), default_latency_s, extent
        self.asked: list[tuple[UTCDateTime, UTCDateTime]] = []
        self.availability_queries = 0
        front = self

        class Handler(FrontHandler):
            def _handle(self, body: bytes | None):
                now = front.clock()
                url = urllib.parse.urlsplit(self.path)
                if "/availability/" in url.path:
                    return self._availability(body, now)
                if not url.path.endswith("/query"):
                    return self._forward(self.path, body, None)
                if body is None:
                    query = dict(urllib.parse.parse_qsl(url.query))
                    start_key = "starttime" if "starttime" in query else "start"
                    end_key = "endtime" if "endtime" in query else "end"
                    cut = front.cut(query.get("network", query.get("net", "")), now)
                    front.asked.append((now, cut))
                    if cut is None or UTCDateTime(query[start_key]) >= cut:
                        return self._answer(204, b"", {"Content-Type": "text/plain"})
                    query[end_key] = _fdsn_time(min(UTCDateTime(query[end_key]), cut))
                    return self._forward(f"{url.path}?{urllib.parse.urlencode(query)}", None, now)
                lines, cuts = [], []
                for line in body.decode().splitlines():
                    parts = line.split()
                    if len(parts) == 6 and "=" not in line:
                        cut = front.cut(parts[0], now)
                        if cut is None or UTCDateTime(parts[4]) >= cut:
                            continue
                        cuts.append(cut)
                        parts[5] = _fdsn_time(min(UTCDateTime(parts[5]), cut))
                    lines.append(" ".join(parts))
                front.asked.append((now, max(cuts, default=None)))
                if not cuts:
                    return self._answer(204, b"", {"Content-Type": "text/plain"})
                self._forward(self.path, "\n".join(lines).encode() + b"\n", now)

            def _availability(self, body: bytes | None, now):
                if front.extent is None or body is None:
                    return self._answer(404, b"availability service not offered", {"Content-Type": "text/plain"})
                front.availability_queries += 1
                rows = []
                for line in body.decode().splitlines():
                    parts = line.split()
                    if len(parts) != 6 or "=" in line:
                        continue
                    cut = front.cut(parts[0], now)
                    end = None if cut is None else min(front.extent[1], cut)
                    if end is not None and end > front.extent[0] and end > UTCDateTime(parts[4]):
                        rows.append(f"{' '.join(parts[:4])} M 20.0 {_fdsn_time(front.extent[0])}Z {_fdsn_time(end)}Z")
                if not rows:
                    return self._answer(204, b"", {"Content-Type": "text/plain"})
                text = "#Network Station Location Channel Quality SampleRate Earliest Latest\n" + "\n".join(rows)
                return self._answer(200, text.encode() + b"\n", {"Content-Type": "text/plain"})

            def _forward(self, path: str, body: bytes | None, now):
                request = urllib.request.Request(front.backend + path, data=body,
                                                 method="POST" if body is not None else "GET")
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        code, data, ctype = answer.status, answer.read(), answer.headers.get("Content-Type", "")
                except urllib.error.HTTPError as exc:
                    code, data, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
                if code == 200 and now is not None:
                    data = _records_before(data, lambda network: front.cut(network, now))
                    code = 200 if data else 204
                self._answer(code, data, {"Content-Type": ctype})

        self._bind(Handler)

    def cut(self, network: str, now: UTCDateTime) -> UTCDateTime | None:
        """Until when ``network``'s samples have arrived at clock time ``now`` (None: none)."""
        latency = self.latency_s.get(network, self.default_latency_s) if isinstance(self.latency_s, dict) \
            else self.latency_s
        down = self.outages.get(network)
        if latency is None or (down is not None and down[0] <= now < down[1]):
            return None
        return now - latency


def _fdsn_time(t: UTCDateTime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _records_before(mseed: bytes, cut) -> bytes:
    """miniSEED ``mseed`` without the samples from ``cut(network)`` on (all of a network's when
    it is None; records re-written)."""
    import obspy

    st = obspy.read(io.BytesIO(mseed), format="MSEED")
    for tr in st:
        end = cut(tr.stats.network)
        if end is None:
            tr.data = tr.data[:0]
        else:
            tr.trim(endtime=end - 1e-6)
    st.traces = [tr for tr in st if tr.stats.npts]
    if not len(st):
        return b""
    for tr in st:
        tr.stats.pop("mseed", None)
    out = io.BytesIO()
    st.write(out, format="MSEED")
    return out.getvalue()


class EventService(LoopbackServer):
    """An FDSN event service over a list of ObsPy events: ``/fdsnws/event/1/query`` by
    ``eventid`` or by time window and minimum magnitude; 204 when nothing matches; ``broken``
    answers a malformed QuakeML document. ``requests`` counts the queries."""

    def __init__(self, events):
        self.events, self.broken, self.requests = list(events), False, 0
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path != "/fdsnws/event/1/query":
                    self.send_response(404)
                    self.end_headers()
                    return
                service.requests += 1
                if service.broken:
                    body = b"<?xml version='1.0'?><q:quakeml xmlns:q='http://quakeml.org/xmlns/quakeml/1.2'><event"
                else:
                    if "eventid" in q:
                        chosen = [e for e in service.events if str(e.resource_id).split("/")[-1] == q["eventid"]]
                    else:
                        t0, t1 = UTCDateTime(q["starttime"]), UTCDateTime(q["endtime"])
                        chosen = [e for e in service.events if t0 <= e.origins[0].time <= t1
                                  and e.magnitudes[0].mag >= float(q.get("minmagnitude", -9))]
                    if not chosen:
                        self.send_response(204)
                        self.end_headers()
                        return
                    buf = io.BytesIO()
                    Catalog(events=chosen).write(buf, format="QUAKEML")
                    body = buf.getvalue()
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._bind(Handler)
        self.start()
