"""A run's station set (``stations.json``), typed: the stations used, each with where it is and
what its records are, the stations dropped with the reason, and those still pending.

The fetch writes it (:func:`cmtflow.data.fetch.write_stations_report`); the processing, the
simulation plan, the windows and the inversion read it through :meth:`StationSet.read`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cmtflow.data.selection import SelectedStation
from cmtflow.data.stations import StationPoint
from cmtflow.workspace import read_json, write_json_atomic


@dataclass(frozen=True)
class UsedStation:
    """A station whose records were fetched and are used.

    :param selected: where it is (degrees, metres, km from the epicentre) and its channels.
    :param raw: its records' file under the run's ``raw/``.
    :param components: ``"ZRT"``, ``"Z"`` or ``"RT"``: what its records can give.
    :param units: ``{"source", "quantity", "scale"}`` of the records.
    :param spans: ``{"Z"|"H": [start, end]}`` (ISO): the time its records cover.
    :param noise_window: whether the record has a noise window before the signal; ``noise_s``
        how long it is (s), ``snr`` why the signal-to-noise test is skipped where it has none.
    :param decisions: one line per channel set tried or channel left out, with the reason.
    :param reused: its records were in the run folder already (an update's, a rerun's).
    :param replaces: the station it stands in for (a near-duplicate of one that failed).
    """

    selected: SelectedStation
    raw: str
    components: str
    units: dict
    spans: dict
    noise_window: bool
    noise_s: float
    decisions: tuple[str, ...] = ()
    reused: bool = False
    snr: str | None = None
    replaces: str | None = None

    @property
    def code(self) -> str:
        """``NET.STA``."""
        return self.selected.code

    @property
    def distance_km(self) -> float:
        return self.selected.distance_km

    @property
    def azimuth(self) -> float:
        """Degrees clockwise from north, epicentre to station."""
        return self.selected.azimuth

    @property
    def back_azimuth(self) -> float:
        return self.selected.back_azimuth

    @property
    def latitude(self) -> float:
        return self.selected.latitude

    @property
    def longitude(self) -> float:
        return self.selected.longitude

    def point(self) -> StationPoint:
        """Its location, for the solvers (no location code: a simulation has one site)."""
        s = self.selected
        return StationPoint(s.network, s.station, "", s.latitude, s.longitude, s.elevation_m)

    def as_dict(self) -> dict:
        return {**self.selected.as_dict(), "raw": self.raw, "reused": self.reused, "components": self.components,
                "units": self.units, "spans": self.spans, "noise_window": self.noise_window, "noise_s": self.noise_s,
                **({"snr": self.snr} if self.snr else {}), "decisions": list(self.decisions),
                **({"replaces": self.replaces} if self.replaces else {})}

    @classmethod
    def from_dict(cls, row: dict) -> "UsedStation":
        return cls(SelectedStation.from_dict(row), row["raw"], row["components"], row.get("units") or {},
                   row.get("spans") or {}, bool(row.get("noise_window")), float(row.get("noise_s", 0.0)),
                   tuple(row.get("decisions", ())), bool(row.get("reused")), row.get("snr"), row.get("replaces"))


@dataclass(frozen=True)
class StationSet:
    """``stations.json``: the event (its ``as_dict``), the stations used (in the fetch's order), the
    dropped ones ``[{"station", "reason"}]`` and the pending ones ``[{"station", "until"}]``
    (their data not at the data centre yet, an update takes them up)."""

    event: dict
    used: tuple[UsedStation, ...]
    dropped: tuple[dict, ...] = ()
    pending: tuple[dict, ...] = ()

    def by_code(self) -> dict[str, UsedStation]:
        return {u.code: u for u in self.used}

    def as_dict(self) -> dict:
        return {"event": self.event, "used": [u.as_dict() for u in self.used], "dropped": list(self.dropped),
                "pending": list(self.pending)}

    def write(self, path: Path) -> Path:
        return write_json_atomic(path, self.as_dict())

    @classmethod
    def from_dict(cls, record: dict) -> "StationSet":
        return cls(record["event"], tuple(UsedStation.from_dict(row) for row in record["used"]),
                   tuple(record.get("dropped", ())), tuple(record.get("pending", ())))

    @classmethod
    def read(cls, path: Path) -> "StationSet":
        return cls.from_dict(read_json(path))
