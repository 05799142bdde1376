"""Station metadata as it comes, merged into one ObsPy :class:`~obspy.Inventory`.

Seismologists hold station metadata in many shapes, often several at once: StationXML
(from an FDSN service, or exported by SeisComP with one ``<Network>``/``<Station>`` element
per channel, or merged from several requests), dataless SEED, RESP files, SAC
poles-and-zeros files (SACPZ, as IRIS serves them or rdseed writes them), ISOLA pole-zero
files, station lists (ISOLA ``network.stn``, SPECFEM ``STATIONS``) and the headers of SAC
waveform files. :func:`read_metadata` reads any mix of files and folders and merges what they
say per channel (network, station, location, channel code and epoch):

* the **response** from StationXML / dataless SEED / RESP / SACPZ / ISOLA pole-zero files
  (in that order of preference when several give one);
* the **coordinates** from the channel's own metadata, else a station list or the SAC
  headers (``stla``/``stlo``);
* the **orientation** (azimuth, dip; SEED convention: dip -90 is up) from the metadata, else
  the SAC headers (``cmpaz``/``cmpinc``, when they are set), else the channel name (Z up, N
  north, E east; ``1``/``2`` have no conventional orientation).

Repeated elements (the same channel and epoch twice) are merged. Channels left without
coordinates cannot be used and are reported per station with the reason.

Pole-zero files carry their units in a text line; ISOLA's is a comment (the format is
counts per m/s) and is often wrong. The poles and zeros decide instead: a seismometer
(instrument code ``H``/``L``) has two zeros at the origin when described in velocity (three in
displacement, one in acceleration), an accelerometer (``N``/``G``) none in acceleration
(:func:`quantity_from_zeros`). Which rule was applied is in :attr:`Metadata.notes`.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from obspy import Inventory, UTCDateTime
from obspy.core.inventory import Channel, Network, Station
from obspy.core.inventory.response import Response

from cmtflow.errors import StationError

log = logging.getLogger(__name__)

#: SEED/SI names of the ground-motion quantities a response can start from, by order of
#: time derivative of displacement (0 displacement, 1 velocity, 2 acceleration).
QUANTITY_ORDER = {"displacement": 0, "velocity": 1, "acceleration": 2}
INPUT_UNITS = {0: "M", 1: "M/S", 2: "M/S**2"}
#: Where a response comes from, most trusted first.
RESPONSE_PRIORITY = ("StationXML", "dataless SEED", "RESP", "SACPZ", "ISOLA pole-zero")
#: Instrument codes (2nd letter of a SEED channel code): seismometers are flat to ground
#: velocity above their corner, accelerometers to acceleration.
SEISMOMETER_CODES, ACCELEROMETER_CODES = "HL", "NG"
#: SAC's "undefined" header value.
SAC_UNDEFINED = -12345.0


@dataclass
class Piece:
    """What one file says about one channel; ``None`` where it says nothing.

    Codes may be partial: an ISOLA pole-zero file names no network or location, a station
    list names a band (``HH``) rather than a channel.
    """

    source: str  # the file
    kind: str  # StationXML, RESP, SACPZ, ISOLA pole-zero, station list, SAC header
    station: str
    network: str | None = None
    location: str | None = None
    channel: str | None = None  # full code, or a band prefix ("HH") for station lists
    start: UTCDateTime | None = None
    end: UTCDateTime | None = None
    latitude: float | None = None
    longitude: float | None = None
    elevation_m: float | None = None
    depth_m: float | None = None
    azimuth: float | None = None
    dip: float | None = None
    sample_rate: float | None = None
    response: Response | None = None

    def matches(self, net: str, sta: str, loc: str, cha: str, time: UTCDateTime | None = None) -> bool:
        if self.station != sta or (self.network is not None and self.network != net):
            return False
        if self.location is not None and self.location != loc:
            return False
        if self.channel is not None and not cha.startswith(self.channel):
            return False
        if time is not None and ((self.start is not None and self.start > time)
                                 or (self.end is not None and self.end < time)):
            return False
        return True


@dataclass
class Metadata:
    """The merged inventory, per station the reason it cannot be used, and the notes.

    :param inventory: every channel with coordinates (with its response when one was given).
    :param problems: ``{"NET.STA": reason}`` for stations with no usable channel.
    :param notes: how the files were read (formats, conventions applied, duplicates merged).
    :param sources: per channel id, which file gave its response, coordinates, orientation.
    """

    inventory: Inventory
    problems: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, dict[str, str]] = field(default_factory=dict)


# ----------------------------------------------------------------------------- units
def quantity_from_zeros(zeros, channel: str) -> int | None:
    """The ground-motion order (0 disp., 1 vel., 2 acc.) a pole-zero response starts from,
    from its zeros at the origin and the instrument code of ``channel``; None when the
    instrument code says nothing (or the count fits no quantity)."""
    n0 = sum(1 for z in zeros if abs(z) < 1e-8)
    code = channel[1:2].upper() if len(channel) >= 2 else ""
    flat = 1 if code and code in SEISMOMETER_CODES else 2 if code and code in ACCELEROMETER_CODES else None
    if flat is None:
        return None
    order = flat + 2 - n0 if flat == 1 else flat - n0  # seismometer: n0 + q = 3; accelerometer: n0 + q = 2
    return order if order in INPUT_UNITS else None


def _unit_order(text: str) -> tuple[int, float] | None:
    """(order, metres per unit) of a units label: ``M``, ``NM/S``, ``m/sec2``, ``M/S**2``..."""
    t = text.strip().upper().replace("SEC", "S").replace(" ", "")
    m = re.match(r"^(NM|UM|MM|CM|M)(/S(\*\*2|\^2|2|/S)?)?$", t)
    if not m:
        return None
    scale = {"NM": 1e-9, "UM": 1e-6, "MM": 1e-3, "CM": 1e-2, "M": 1.0}[m.group(1)]
    order = 0 if not m.group(2) else 2 if m.group(3) else 1
    return order, scale


def paz_response(zeros, poles, counts_per_unit: float, order: int, sample_rate: float | None = None) -> Response:
    """A one-stage response from poles/zeros (rad/s) and the overall constant (counts per
    unit of the quantity of ``order``, SI), normalised at 1 Hz (or below Nyquist) so that the
    reported sensitivity is the gain in the passband, as StationXML states it."""
    f_norm = 1.0 if not sample_rate else min(1.0, 0.2 * sample_rate)
    s = 2j * math.pi * f_norm
    shape = abs(np.prod([s - z for z in zeros]) / np.prod([s - p for p in poles])) if len(poles) or len(zeros) else 1.0
    if not (math.isfinite(counts_per_unit) and counts_per_unit != 0 and shape > 0):
        raise StationError(f"pole-zero response with constant {counts_per_unit} cannot be used")
    return Response.from_paz(zeros=list(zeros), poles=list(poles), stage_gain=abs(counts_per_unit) * shape,
                             stage_gain_frequency=f_norm, input_units=INPUT_UNITS[order], output_units="COUNTS",
                             normalization_frequency=f_norm, normalization_factor=1.0 / shape)


# ----------------------------------------------------------------------------- readers
def _complex_lines(lines: list[str], start: int, count: int, path: Path) -> list[complex]:
    out = []
    for k in range(count):
        try:
            re_, im = lines[start + k].split()[:2]
            out.append(complex(float(re_), float(im)))
        except (IndexError, ValueError):
            raise StationError(f"{path}: expected {count} 'real imag' lines after line {start}") from None
    return out


def read_isola_pz(path: Path, notes: list[str]) -> list[Piece]:
    """An ISOLA pole-zero file ``STACHA.pz``: ``A0``, A0, a units line, the counts per unit
    constant, ``zeros`` + count + re/im lines, ``poles`` + count + re/im lines. The response
    is A0 * prod(s - z) / prod(s - p) / constant, in counts per (m/s) by the format; the
    units line is checked against the zeros (module docstring)."""
    lines = [s for s in path.read_text(errors="replace").splitlines() if s.strip()]
    try:
        a0, label, constant = float(lines[1]), lines[2], float(lines[3])
        iz = next(k for k, s in enumerate(lines) if s.strip().lower() == "zeros")
        zeros = _complex_lines(lines, iz + 2, int(lines[iz + 1]), path)
        ip = next(k for k, s in enumerate(lines) if s.strip().lower() == "poles")
        poles = _complex_lines(lines, ip + 2, int(lines[ip + 1]), path)
    except (IndexError, ValueError, StopIteration):
        raise StationError(f"{path}: not an ISOLA pole-zero file (A0, value, units line, constant, "
                           "'zeros' + count + lines, 'poles' + count + lines)") from None
    m = re.match(r"^([A-Za-z0-9]{1,5})([A-Za-z0-9]{3})$", path.stem)
    if not m:
        raise StationError(f"{path}: ISOLA pole-zero files are named STATIONCHANNEL.pz (e.g. DAVAHHZ.pz)")
    station, channel = m.group(1), m.group(2)
    said = _unit_order(label.split("-->")[-1]) if "-->" in label else None
    shape = quantity_from_zeros(zeros, channel)
    order = shape if shape is not None else 1  # the ISOLA format is counts per m/s
    if said is not None and said[0] != order:
        kind = "seismometer" if channel[1] in SEISMOMETER_CODES else "accelerometer"
        quantity = next(k for k, v in QUANTITY_ORDER.items() if v == order)
        notes.append(f"{path.name}: the units line says {label.split('-->')[-1].strip()!r}, but the "
                     f"{sum(1 for z in zeros if abs(z) < 1e-8)} zeros at the origin of a {kind} channel make it a "
                     f"{quantity} response: read as {quantity}")
    counts_per_unit = a0 / constant
    return [Piece(str(path), "ISOLA pole-zero", station, channel=channel,
                  response=paz_response(zeros, poles, counts_per_unit, order))]


_SACPZ_KEYS = {"NETWORK": "network", "STATION": "station", "LOCATION": "location", "CHANNEL": "channel",
               "COMPONENT": "channel", "START": "start", "EFFECTIVE": "start", "END": "end", "ENDDATE": "end",
               "LATITUDE": "latitude", "LAT-SEED": "latitude", "LONGITUDE": "longitude", "LONG-SEED": "longitude",
               "ELEVATION": "elevation", "ELEV-SEED": "elevation", "DEPTH": "depth", "DIP": "dip",
               "DIP (SEED)": "dip_seed", "AZIMUTH": "azimuth", "SAMPLE RATE": "rate", "RATE (HZ)": "rate",
               "INPUT UNIT": "input"}


def _sacpz_header(comments: list[str]) -> dict:
    out = {}
    for line in comments:
        body = line.lstrip("*").strip()
        m = re.match(r"^([A-Z][A-Z \-()]*?[A-Z)])\s*(?::\s*|\s{2,})(.*)$", body)
        if m and m.group(1).strip() in _SACPZ_KEYS:
            key = _SACPZ_KEYS[m.group(1).strip()]
            out.setdefault(key, m.group(2).strip())
            if key == "dip" and ":" in body.split(m.group(2))[0]:
                out["dip_iris"] = True  # 'DIP : x' from IRIS is SAC's incidence angle
    return out


def _time(text: str | None) -> UTCDateTime | None:
    if not text or text.upper().startswith(("N/A", "NO ENDING", "2599", "2999")):
        return None
    try:
        return UTCDateTime(text.replace("/", "-"))
    except Exception:  # a date ObsPy cannot read: no epoch limit rather than a wrong one
        return None


def _float(text, default=None):
    try:
        value = float(str(text).split()[0])
    except (TypeError, ValueError, IndexError):
        return default
    return value if math.isfinite(value) else default


def read_sacpz(path: Path, notes: list[str]) -> list[Piece]:
    """SAC poles-and-zeros: one or more entries of ``ZEROS n``, ``POLES n`` and ``CONSTANT c``
    sections in any order (rad/s; ``c`` in counts per metre of displacement unless ``INPUT
    UNIT`` says otherwise; zeros or poles not listed up to ``n`` are at the origin, as SAC reads
    them), each after its ``*`` comment header (IRIS, ObsPy and NEIC layouts) or with the codes
    in the file name (rdseed: ``SAC_PZs_NET_STA_CHA[_LOC...]``)."""
    entries, comments, body = [], [], []
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("*"):
            if body:
                entries.append((comments, body))
                comments, body = [], []
            comments.append(line)
        else:
            body.append(line)
    if body:
        entries.append((comments, body))
    pieces = [_sacpz_piece(path, _sacpz_sections(path, b), _sacpz_header(c), notes) for c, b in entries]
    if not pieces:
        raise StationError(f"{path}: no ZEROS/POLES/CONSTANT entry (not a SACPZ file)")
    return pieces


def _sacpz_sections(path: Path, body: list[str]) -> dict:
    out = {"zeros": [], "poles": [], "constant": None}
    counts, mode = {}, None
    for line in body:
        key, *rest = line.split()
        if key.upper() in ("ZEROS", "POLES"):
            mode = key.lower()
            counts[mode] = int(_float(rest[0] if rest else None, 0))
        elif key.upper() == "CONSTANT":
            out["constant"] = _float(rest[0] if rest else None)
        elif mode is not None:
            try:
                out[mode].append(complex(float(key), float(rest[0])))
            except (ValueError, IndexError):
                raise StationError(f"{path}: unexpected line {line!r} in a SACPZ file") from None
        else:
            raise StationError(f"{path}: unexpected line {line!r} before ZEROS/POLES in a SACPZ file")
    if out["constant"] is None or not counts:
        raise StationError(f"{path}: a SACPZ entry needs ZEROS, POLES and CONSTANT")
    for mode, n in counts.items():
        if len(out[mode]) > n:
            raise StationError(f"{path}: {len(out[mode])} {mode} listed, {n} announced")
        out[mode] += [0j] * (n - len(out[mode]))  # SAC: the ones not listed are at the origin
    return out


def _sacpz_piece(path: Path, block: dict, h: dict, notes: list[str]) -> Piece:
    name = re.match(r"^SAC_PZs_([A-Za-z0-9]+)_([A-Za-z0-9]+)_([A-Za-z0-9]{3})_?([A-Za-z0-9-]{0,2})", path.name)
    net = h.get("network") or (name.group(1) if name else None)
    sta = h.get("station") or (name.group(2) if name else None)
    cha = h.get("channel") or (name.group(3) if name else None)
    loc = h.get("location", name.group(4) if name else None)
    if not (net and sta and cha):
        raise StationError(f"{path}: SACPZ block without network/station/channel (no header, no SAC_PZs_ file name)")
    loc = "" if loc in (None, "--", "__") else loc.strip()
    loc = "" if loc == "--" else loc
    said = _unit_order(h.get("input", "M")) or (0, 1.0)
    shape = quantity_from_zeros(block["zeros"], cha)
    if shape is not None and shape != said[0]:
        notes.append(f"{path.name} {net}.{sta}.{loc}.{cha}: INPUT UNIT {h.get('input', 'M (default)')} but the zeros at "
                     "the origin suggest another quantity; the INPUT UNIT line is used")
    order, scale = said
    zeros = list(block["zeros"])
    # express seismometers in velocity, accelerometers in acceleration, as StationXML does
    while order < 2 and sum(1 for z in zeros if abs(z) < 1e-8) and (
            (cha[1:2] in SEISMOMETER_CODES and order < 1) or (cha[1:2] in ACCELEROMETER_CODES)):
        zeros.remove(next(z for z in zeros if abs(z) < 1e-8))
        order += 1
    rate = _float(h.get("rate"))
    dip = _float(h.get("dip_seed"))
    if dip is None and h.get("dip") is not None:
        dip = _float(h["dip"])
        if dip is not None and h.get("dip_iris"):
            dip -= 90.0  # IRIS writes SAC's incidence angle (0 = up) under 'DIP :'
    return Piece(str(path), "SACPZ", sta, net, loc, cha, _time(h.get("start")), _time(h.get("end")),
                 _float(h.get("latitude")), _float(h.get("longitude")), _float(h.get("elevation")),
                 _float(h.get("depth")), _float(h.get("azimuth")), dip, rate,
                 paz_response(zeros, block["poles"], block["constant"] / scale, order, rate))


def read_station_list(path: Path, notes: list[str]) -> list[Piece]:
    """ISOLA ``network.stn`` (``NET:STA:LOC:BAND lat lon``) or SPECFEM ``STATIONS``
    (``STA NET lat lon elevation burial``, read by :func:`cmtflow.data.stations.read_stations`):
    coordinates only."""
    from cmtflow.data.stations import read_stations

    lines = [(n, raw.split("#", 1)[0].split()) for n, raw in enumerate(path.read_text(errors="replace").splitlines(), 1)]
    lines = [(n, parts) for n, parts in lines if parts]
    if not lines or ":" not in lines[0][1][0]:
        return _inventory_pieces(read_stations(path), path, "station list")
    pieces = []
    for lineno, parts in lines:
        if ":" not in parts[0] or len(parts) < 3:
            raise StationError(f"{path}:{lineno}: expected 'NET:STA:LOC:BAND LAT LON'")
        net, sta, loc, band = (parts[0].split(":") + ["", "", ""])[:4]
        lat, lon = _float(parts[1]), _float(parts[2])
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 360):
            raise StationError(f"{path}:{lineno}: latitude/longitude {parts[1:3]} out of range or not numbers")
        pieces.append(Piece(str(path), "station list", sta, net or None, loc, band or None, latitude=lat, longitude=lon,
                            elevation_m=_float(parts[3]) if len(parts) > 3 else None))
    return pieces


def pieces_from_waveforms(stream) -> list[Piece]:
    """What waveform files say about their channels: the codes and sampling rate of every
    trace, and for SAC files the coordinates (``stla``/``stlo``/``stel``) and orientation
    (``cmpaz``/``cmpinc``, when set and consistent with a horizontal or vertical sensor)."""
    pieces = []
    for tr in stream:
        sac = tr.stats.get("sac")
        if sac is None:
            pieces.append(Piece(f"waveform {tr.id}", "waveform", tr.stats.station, tr.stats.network,
                                tr.stats.location, tr.stats.channel, sample_rate=tr.stats.sampling_rate))
            continue

        def value(key):
            v = sac.get(key)
            return None if v is None or float(v) == SAC_UNDEFINED else float(v)

        lat, lon = value("stla"), value("stlo")
        az, inc = value("cmpaz"), value("cmpinc")
        dip = None
        comp = tr.stats.channel[-1:].upper()
        if az is not None and inc is not None:
            vertical = comp == "Z"
            # an unset-looking pair (0, 0) on a horizontal channel says nothing
            if (vertical and (abs(inc) < 1 or abs(inc - 180) < 1)) or (not vertical and abs(inc - 90) < 1):
                dip = inc - 90.0
            else:
                az = None
        else:
            az = None
        pieces.append(Piece(f"SAC header {tr.id}", "SAC header", tr.stats.station, tr.stats.network,
                            tr.stats.location, tr.stats.channel, latitude=lat, longitude=lon,
                            elevation_m=value("stel"), azimuth=az, dip=dip, sample_rate=tr.stats.sampling_rate))
    return pieces


def _inventory_pieces(inventory: Inventory, path: Path, kind: str) -> list[Piece]:
    pieces = []
    for net in inventory:
        for sta in net:
            if not sta.channels and kind != "RESP":  # a station list in StationXML: its position only
                pieces.append(Piece(str(path), "station list", sta.code, net.code, latitude=_coord(sta.latitude, None),
                                    longitude=_coord(sta.longitude, None), elevation_m=_coord(sta.elevation, None),
                                    start=sta.start_date, end=sta.end_date))
            for cha in sta:
                coords = kind != "RESP"  # RESP has no coordinates; ObsPy fills in 0
                pieces.append(Piece(str(path), kind, sta.code, net.code, cha.location_code, cha.code, cha.start_date,
                                    cha.end_date,
                                    _coord(cha.latitude, sta.latitude) if coords else None,
                                    _coord(cha.longitude, sta.longitude) if coords else None,
                                    _coord(cha.elevation, sta.elevation) if coords else None,
                                    _coord(cha.depth, None), _coord(cha.azimuth, None), _coord(cha.dip, None),
                                    _coord(cha.sample_rate, None),
                                    cha.response if usable_response(cha.response) else None))
    return pieces


def _coord(value, fallback):
    return float(value) if value is not None else (float(fallback) if fallback is not None else None)


def usable_response(resp) -> bool:
    """A full response (stages and overall sensitivity): what response removal needs."""
    sens = resp.instrument_sensitivity if resp is not None else None
    return sens is not None and bool(sens.value) and bool(resp.response_stages)


def sniff(path: Path) -> str | None:
    """The metadata format of a file, or None when it is not station metadata."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return None
    if head[6:8] in (b"V ", b"A ") and head[:6].isdigit():
        return "dataless SEED"
    text = head.decode("latin-1")
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return "StationXML" if "FDSNStationXML" in text or "<Network" in text else None
    if re.search(r"^B05[0-9]F", text, re.M):
        return "RESP"
    if re.search(r"^\s*ZEROS\s+\d", text, re.M) and re.search(r"^\s*POLES\s+\d", text, re.M):
        return "SACPZ"
    if stripped.upper().startswith("A0") and re.search(r"^\s*zeros\s*$", text, re.M | re.I):
        return "ISOLA pole-zero"
    lines = [s.split() for s in text.splitlines() if s.strip() and not s.startswith("#")]
    if lines and all(len(p) >= 3 and ":" in p[0] for p in lines[:5]):
        return "station list"
    if lines and all(len(p) == 6 and _float(p[2]) is not None and _float(p[5]) is not None for p in lines[:5]):
        return "station list"
    return None


def pieces_from_file(path: Path, notes: list[str]) -> list[Piece]:
    """What one metadata file says, channel by channel (format by content, see :func:`sniff`)."""
    import obspy

    kind = sniff(path)
    if kind in ("StationXML", "dataless SEED", "RESP"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inventory = obspy.read_inventory(str(path))
        except Exception as exc:  # ObsPy raises many types for malformed metadata
            raise StationError(f"cannot read {kind} {path}: {' '.join(str(exc).split())[:200]}") from None
        return _inventory_pieces(inventory, path, kind)
    if kind == "SACPZ":
        return read_sacpz(path, notes)
    if kind == "ISOLA pole-zero":
        return read_isola_pz(path, notes)
    if kind == "station list":
        return read_station_list(path, notes)
    raise StationError(f"{path}: not station metadata cmtflow reads (StationXML, dataless SEED, RESP, SACPZ, "
                       "ISOLA pole-zero file, station list)")


# ----------------------------------------------------------------------------- merge
def read_metadata(paths, extra: list[Piece] | None = None) -> Metadata:
    """Read and merge station metadata (module docstring).

    :param paths: files or folders (searched recursively; files that are not metadata are
        skipped, with a note); a named file that is not metadata is an error.
    :param extra: pieces from elsewhere, e.g. :func:`pieces_from_waveforms` of the
        waveform files.
    :raises StationError: a named file is unreadable, or nothing at all was found.
    """
    notes: list[str] = []
    pieces: list[Piece] = []
    skipped = []
    for given in [paths] if isinstance(paths, (str, Path)) else paths:
        given = Path(given)
        if given.is_dir():
            for path in sorted(p for p in given.rglob("*") if p.is_file() and not p.name.startswith(".")):
                if sniff(path) is None:
                    skipped.append(path.name)
                    continue
                pieces += pieces_from_file(path, notes)
        elif given.is_file():
            pieces += pieces_from_file(given, notes)
        else:
            raise StationError(f"station metadata {given} does not exist")
    kinds = sorted({p.kind for p in pieces})
    pieces += extra or []
    if not pieces:
        raise StationError(f"no station metadata found in {', '.join(map(str, [paths] if isinstance(paths, (str, Path)) else paths))}")
    if kinds:
        notes.insert(0, f"read {', '.join(kinds)}")
    if skipped:
        notes.append(f"{len(skipped)} files that are not station metadata skipped ({', '.join(skipped[:4])}"
                     f"{', ...' if len(skipped) > 4 else ''})")
    return _merge(pieces, _grouped(notes))


def merge_inventory(inventory: Inventory, source: str = "StationXML") -> Metadata:
    """An inventory (an FDSN answer, a SeisComP export) with its repeated network, station
    and channel elements merged, as :func:`read_metadata` merges files."""
    notes: list[str] = []
    return _merge(_inventory_pieces(inventory, Path(source), "StationXML"), notes)


def _grouped(notes: list[str]) -> list[str]:
    """``FILE: message`` notes with the same message as one note listing the files."""
    groups: dict[str, list[str]] = {}
    for note in notes:
        head, sep, message = note.partition(": ")
        key = message if sep and "/" not in head and " " not in head else note
        groups.setdefault(key, []).append(head if key == message else "")
    out = []
    for message, files in groups.items():
        files = [f for f in files if f]
        out.append(f"{', '.join(files[:6])}{' and %d more' % (len(files) - 6) if len(files) > 6 else ''}: {message}"
                   if files else message)
    return out


def _channel_keys(pieces: list[Piece], notes: list[str]) -> list[tuple]:
    """(net, sta, loc, cha, start, end) of every channel epoch, duplicates merged."""
    full = [p for p in pieces if p.network is not None and p.location is not None and p.channel is not None
            and len(p.channel) == 3 and p.kind != "station list"]
    keys: list[tuple] = []
    merged = 0
    for p in sorted(full, key=lambda p: (RESPONSE_PRIORITY.index(p.kind) if p.kind in RESPONSE_PRIORITY else 9)):
        if any(k[:4] == (p.network, p.station, p.location, p.channel) and _overlap(k[4:], (p.start, p.end))
               for k in keys):
            merged += p.kind in ("StationXML", "dataless SEED")
        else:
            keys.append((p.network, p.station, p.location, p.channel, p.start, p.end))
    if merged:
        notes.append(f"{merged} repeated channel elements merged (same codes, overlapping epochs)")
    # partial pieces with a response (ISOLA): a channel per station-list network, if there is one
    for p in pieces:
        if p.channel is None or len(p.channel) != 3 or (p.network is not None and p.location is not None):
            continue
        if any(k[1] == p.station and k[3] == p.channel and (p.network in (None, k[0])) for k in keys):
            continue
        owners = {(q.network, q.location or "") for q in pieces if q.station == p.station and q.network is not None
                  and q is not p}
        if len(owners) == 1:
            net, loc = owners.pop()
            keys.append((net, p.station, loc if p.location is None else p.location, p.channel, None, None))
    return keys


def _overlap(a, b) -> bool:
    a0, a1 = a
    b0, b1 = b
    return (a0 is None or b1 is None or a0 < b1) and (b0 is None or a1 is None or b0 < a1)  # touching: distinct


def _first(pieces: list[Piece], attr: str, order=None):
    ranked = sorted(pieces, key=lambda p: (order.index(p.kind) if order and p.kind in order else len(order or ())))
    for p in ranked:
        if getattr(p, attr) is not None:
            return getattr(p, attr), p
    return None, None


def _merge(pieces: list[Piece], notes: list[str]) -> Metadata:
    keys = _channel_keys(pieces, notes)
    coord_order = ("StationXML", "dataless SEED", "SACPZ", "station list", "SAC header")
    # a StationXML <Station> without channels is a station list: it ranks after channel positions
    networks: dict[str, Network] = {}
    stations: dict[tuple, Station] = {}
    meta = Metadata(Inventory(networks=[], source="cmtflow (merged station metadata)"), notes=notes)
    missing: dict[str, list[str]] = {}
    for net, sta, loc, cha, start, end in keys:
        mine = [p for p in pieces if p.matches(net, sta, loc, cha) and _overlap((start, end), (p.start, p.end))]
        response, rsrc = _first(mine, "response", RESPONSE_PRIORITY)
        lat, csrc = _first(mine, "latitude", coord_order)
        cid = f"{net}.{sta}.{loc}.{cha}"
        if lat is None:
            missing.setdefault(f"{net}.{sta}", []).append(cha)
            continue
        lon, elev = csrc.longitude, csrc.elevation_m if csrc.elevation_m is not None else 0.0
        depth = next((p.depth_m for p in mine if p.depth_m is not None), 0.0)
        rate = next((p.sample_rate for p in mine if p.sample_rate), None)
        azimuth, dip, osrc = _orientation(mine, cha)
        meta.sources[cid] = {"response": rsrc.source if rsrc else "", "coordinates": csrc.source,
                             "orientation": osrc}
        channel = Channel(code=cha, location_code=loc, latitude=lat, longitude=lon, elevation=elev, depth=depth,
                          azimuth=azimuth, dip=dip, sample_rate=rate, start_date=start, end_date=end,
                          response=response)
        network = networks.setdefault(net, Network(code=net))
        station = stations.get((net, sta))
        if station is None:  # one element per station (SeisComP writes one per channel)
            station = Station(code=sta, latitude=lat, longitude=lon, elevation=elev)
            stations[(net, sta)] = station
            network.stations.append(station)
        station.channels.append(channel)
    for station in stations.values():
        starts = [c.start_date for c in station.channels]
        ends = [c.end_date for c in station.channels]
        station.start_date = None if None in starts else min(starts)
        station.end_date = None if None in ends else max(ends)
    meta.inventory.networks = list(networks.values())
    for code, chans in missing.items():
        if not any(f"{n.code}.{s.code}" == code for n in meta.inventory for s in n):
            meta.problems[code] = (f"no coordinates for {','.join(sorted(set(chans)))} (the metadata give a response "
                                   "but no position: add a StationXML, a SACPZ with coordinates, a station list or "
                                   "SAC headers stla/stlo)")
    orphans = sorted({f"{p.station}.{p.channel}" for p in pieces if p.kind == "ISOLA pole-zero"
                      and not any(k[1] == p.station and k[3] == p.channel for k in keys)})
    if orphans:
        notes.append(f"ISOLA pole-zero files without a network for their station (add a station list "
                     f"NET:STA:LOC:BAND lat lon): {', '.join(orphans)}")
        for code in orphans:
            meta.problems.setdefault(f"?.{code.split('.')[0]}", "ISOLA pole-zero file without a network "
                                     "(no station list or SAC header names it)")
    return meta


def _orientation(pieces: list[Piece], channel: str) -> tuple[float | None, float | None, str]:
    """(azimuth, dip) in the SEED convention and where it came from."""
    for kind in ("StationXML", "dataless SEED", "SACPZ", "SAC header"):
        p = next((p for p in pieces if p.kind == kind and p.azimuth is not None and p.dip is not None), None)
        if p is not None:
            return p.azimuth, p.dip, p.source
    conventional = {"Z": (0.0, -90.0), "N": (0.0, 0.0), "E": (90.0, 0.0)}.get(channel[-1:].upper())
    if conventional is not None:
        return (*conventional, "channel name")
    return None, None, ""
