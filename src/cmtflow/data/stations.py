"""Station files: StationXML (ObsPy Inventory) or SPECFEM ``STATIONS``.

Both are returned as an ObsPy :class:`~obspy.core.inventory.Inventory`, the one station
type the rest of cmtflow speaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from obspy import Inventory, read_inventory
from obspy.core.inventory import Network, Station

from cmtflow.errors import StationError


@dataclass(frozen=True)
class StationPoint:
    """One station location (degrees, metres) with its codes."""

    network: str
    station: str
    location: str
    latitude: float
    longitude: float
    elevation_m: float

    @property
    def code(self) -> str:
        return f"{self.network}.{self.station}.{self.location}"


def read_stations(path: str | Path) -> Inventory:
    """Read StationXML (any format ObsPy reads) or a SPECFEM ``STATIONS`` file.

    ``STATIONS`` lines: ``STA NET LAT LON ELEVATION BURIAL`` (degrees, metres).
    """
    path = Path(path)
    if not path.is_file():
        raise StationError(f"station file {path} does not exist")
    head = path.read_text(errors="replace")[:256].lstrip()
    if head.startswith("<"):
        try:
            inv = read_inventory(str(path))
        except Exception as exc:  # ObsPy raises many types for malformed XML
            raise StationError(f"cannot read StationXML {path}: {exc}") from None
    else:
        inv = _read_specfem_stations(path)
    if not station_list(inv):
        raise StationError(f"{path}: no station found")
    return inv


def _read_specfem_stations(path: Path) -> Inventory:
    networks: dict[str, Network] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 4:
            raise StationError(f"{path}:{lineno}: expected 'STA NET LAT LON [ELEVATION BURIAL]', got {line!r}")
        sta, net = parts[0], parts[1]
        try:
            lat, lon = float(parts[2]), float(parts[3])
            elev = float(parts[4]) if len(parts) > 4 else 0.0
        except ValueError:
            raise StationError(f"{path}:{lineno}: latitude/longitude/elevation must be numbers: {line!r}") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 360 and math.isfinite(elev)):
            raise StationError(f"{path}:{lineno}: coordinates out of range: {line!r}")
        networks.setdefault(net, Network(code=net)).stations.append(
            Station(code=sta, latitude=lat, longitude=lon, elevation=elev))
    return Inventory(networks=list(networks.values()), source="cmtflow (SPECFEM STATIONS)")


def station_list(inventory: Inventory) -> list[StationPoint]:
    """One :class:`StationPoint` per station (location code of its first channel, if any)."""
    out = []
    for net in inventory:
        for sta in net:
            loc = sta.channels[0].location_code if sta.channels else ""
            out.append(StationPoint(net.code, sta.code, loc, float(sta.latitude), float(sta.longitude),
                                    float(sta.elevation or 0.0)))
    return out
