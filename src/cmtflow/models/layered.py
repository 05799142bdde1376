"""The :class:`EarthModel` type, model files (read by :mod:`cmtflow.models.formats`) with their
plausibility checks, and the shipped named models."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from cmtflow.errors import ModelError
from cmtflow.models.formats import Reading, read_rows

#: What a layer of the Earth's crust and mantle can be (g/cm³, Q, Vp/Vs, km/s): a model file
#: read outside these ranges has its columns or units wrong, and is refused with the line.
PLAUSIBLE = {"rho": (1.0, 6.0), "q": (10.0, 5000.0), "vp/vs": (1.4, 3.0), "vp": (0.3, 15.0)}


#: Mean Earth radius (km) of the Earth-flattening transformation.
EARTH_RADIUS_KM = 6371.0
#: Density exponent of the transformation (Biswas 1972, P-SV waves).
FLATTENING_DENSITY_EXPONENT = 2.275
#: The prefix of a model name that asks for the flattened model (``flat:ak135``, ``flat:/path``).
FLAT_PREFIX = "flat:"


@dataclass(frozen=True)
class EarthModel:
    """Flat layers over a half-space.

    All arrays have one entry per layer, top to bottom; the last entry is the half-space
    and its thickness is 0.

    :param name: short name used in file and cache names.
    :param thickness: layer thickness in km (last = 0, the half-space).
    :param vp: P velocity in km/s.
    :param vs: S velocity in km/s.
    :param rho: density in g/cm^3.
    :param qp: P quality factor.
    :param qs: S quality factor.
    :param notes: how the values were read from a file (conventions applied, values inferred).

    A top layer with ``vs = 0`` is a water layer (fluid).
    """

    name: str
    thickness: np.ndarray
    vp: np.ndarray
    vs: np.ndarray
    rho: np.ndarray
    qp: np.ndarray
    qs: np.ndarray
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        for field in ("thickness", "vp", "vs", "rho", "qp", "qs"):
            object.__setattr__(self, field, np.asarray(getattr(self, field), dtype=float))
        self.validate()

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_rows(cls, name: str, rows, notes=()) -> "EarthModel":
        """Build from rows ``(thickness_km, vs, vp, rho, qs, qp)`` (FK column order)."""
        arr = np.asarray(rows, dtype=float)
        return cls(name=name, thickness=arr[:, 0], vs=arr[:, 1], vp=arr[:, 2],
                   rho=arr[:, 3], qs=arr[:, 4], qp=arr[:, 5], notes=tuple(notes))

    @property
    def water_layers(self) -> int:
        """Number of fluid (vs = 0) layers on top."""
        n = 0
        while n < len(self.vs) and self.vs[n] == 0:
            n += 1
        return n

    # -- checks -----------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ModelError` unless the model is physically usable."""
        n = len(self.thickness)
        if n == 0:
            raise ModelError(f"model {self.name!r}: no layers")
        for field in ("vp", "vs", "rho", "qp", "qs"):
            if len(getattr(self, field)) != n:
                raise ModelError(f"model {self.name!r}: column {field} has a different length")
            if not np.all(np.isfinite(getattr(self, field))):
                raise ModelError(f"model {self.name!r}: {field} has a non-finite value")
        for i in range(n):
            where = f"model {self.name!r}, layer {i + 1}"
            if i < self.water_layers and self.vp[i] > 0:
                continue  # a water layer: no shear
            if self.vs[i] <= 0 or self.vp[i] <= 0:
                raise ModelError(f"{where}: velocities must be positive (vp={self.vp[i]}, vs={self.vs[i]})")
            if self.vp[i] <= self.vs[i] * math.sqrt(2.0):
                raise ModelError(f"{where}: vp={self.vp[i]} must exceed vs*sqrt(2)={self.vs[i] * math.sqrt(2):.4f} "
                                 "(check the FK column order: thickness vs vp rho qs qp)")
            if self.water_layers == n:
                raise ModelError(f"model {self.name!r}: no solid layer")
            if self.rho[i] <= 0:
                raise ModelError(f"{where}: density must be positive (rho={self.rho[i]})")
            if self.qp[i] <= 0 or self.qs[i] <= 0:
                raise ModelError(f"{where}: Q must be positive (qp={self.qp[i]}, qs={self.qs[i]})")
        if np.any(self.thickness[:-1] <= 0):
            i = int(np.argmax(self.thickness[:-1] <= 0))
            raise ModelError(f"model {self.name!r}, layer {i + 1}: thickness must be positive; "
                             "only the last layer (the half-space) has thickness 0")
        if self.thickness[-1] != 0:
            raise ModelError(f"model {self.name!r}: the last layer must be a half-space (thickness 0), "
                             f"got {self.thickness[-1]} km")

    # -- queries ----------------------------------------------------------------------
    @property
    def interfaces(self) -> np.ndarray:
        """Depths of the layer tops below the surface (km); the last is the half-space top."""
        return np.cumsum(self.thickness[:-1])

    @property
    def halfspace_depth(self) -> float:
        """Depth of the top of the half-space in km."""
        return float(np.sum(self.thickness[:-1]))

    def layer_index(self, depth_km: float) -> int:
        """Index of the layer containing ``depth_km`` (a depth on an interface belongs below)."""
        return int(np.searchsorted(self.interfaces, depth_km, side="right"))

    def split_at(self, depth_km: float) -> tuple["EarthModel", int]:
        """The same model with an extra interface at ``depth_km`` (same material both sides).

        :returns: the split model and the index of the layer whose top is at ``depth_km``.
        """
        i = self.layer_index(depth_km)
        top = 0.0 if i == 0 else float(self.interfaces[i - 1])
        above = depth_km - top
        if not 0 < above < (self.thickness[i] if i < len(self.thickness) - 1 else np.inf):
            raise ModelError(f"model {self.name!r}: cannot split at {depth_km} km (on an interface)")
        below = self.thickness[i] - above if i < len(self.thickness) - 1 else 0.0

        def dup(a):
            return np.concatenate([a[: i + 1], a[i:]])

        thickness = np.concatenate([self.thickness[:i], [above, below], self.thickness[i + 1:]])
        return EarthModel(self.name, thickness, dup(self.vp), dup(self.vs), dup(self.rho), dup(self.qp),
                          dup(self.qs)), i + 1

    def same_as_above(self) -> np.ndarray:
        """Boolean per layer: True where the layer has exactly the material of the one above."""
        props = np.stack([self.vp, self.vs, self.rho, self.qp, self.qs])
        same = np.zeros(len(self.thickness), bool)
        same[1:] = np.all(props[:, 1:] == props[:, :-1], axis=0)
        return same

    def fingerprint(self) -> str:
        """A short content hash: two models with the same numbers share it."""
        arr = np.stack([self.thickness, self.vs, self.vp, self.rho, self.qs, self.qp])
        return hashlib.sha256(np.round(arr, 6).tobytes()).hexdigest()[:12]

    def describe(self) -> str:
        """The layers as read (depth of the top, thickness, vs, vp, rho, Qs, Qp) and the notes."""
        lines = [f"{'top km':>8s} {'h km':>8s} {'vs':>7s} {'vp':>7s} {'rho':>6s} {'Qs':>7s} {'Qp':>7s}"]
        tops = np.concatenate([[0.0], self.interfaces])
        for i, top in enumerate(tops):
            h = "half" if i == len(tops) - 1 else f"{self.thickness[i]:.3f}"
            kind = "  water" if i < self.water_layers else ""
            lines.append(f"{top:8.3f} {h:>8s} {self.vs[i]:7.3f} {self.vp[i]:7.3f} {self.rho[i]:6.3f} "
                         f"{self.qs[i]:7.1f} {self.qp[i]:7.1f}{kind}")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])

    def flattened(self, radius_km: float = EARTH_RADIUS_KM) -> "EarthModel":
        """The model under the Earth-flattening transformation, whose flat layers give the
        waves of the spherical model (Müller 1977, J. Geophys. 42; Biswas 1972, Pure Appl.
        Geophys. 96): a depth z becomes ``R ln(R / (R - z))``, a layer's velocities are
        multiplied by ``R / (R - z)`` and its density by ``((R - z) / R)^2.275`` (Biswas' factor
        for P-SV, the waves of most windows), z at the layer's middle (the half-space: at its
        top). Q is unchanged. At 33 km the velocities grow by 0.5 %, at 400 km by 7 %: what a
        flat model misses of the mantle's curvature at the periods and distances of large
        events."""
        tops = np.concatenate([[0.0], self.interfaces])
        bottoms = np.concatenate([self.interfaces, [tops[-1]]])
        middle = 0.5 * (tops + bottoms)
        factor = radius_km / (radius_km - middle)
        flat_bottoms = radius_km * np.log(radius_km / (radius_km - bottoms))
        thickness = np.diff(np.concatenate([[0.0], flat_bottoms]))
        thickness[-1] = 0.0
        return EarthModel(f"{self.name}-flat", thickness, self.vp * factor, self.vs * factor,
                          self.rho * factor ** -FLATTENING_DENSITY_EXPONENT, self.qp, self.qs,
                          self.notes + ("Earth-flattening transformation applied",))

    def to_fk_text(self) -> str:
        """The model in FK format (thickness vs vp rho qs qp)."""
        lines = [f"{h:10.4f}{b:10.4f}{a:10.4f}{r:10.4f}{qb:10.2f}{qa:10.2f}"
                 for h, b, a, r, qb, qa in zip(self.thickness, self.vs, self.vp, self.rho, self.qs, self.qp)]
        return "\n".join(lines) + "\n"


def read_model_file(path: str | Path, name: str | None = None) -> EarthModel:
    """Read a 1D model file: FK, CPS model96, ISOLA ``crustal.dat`` or a table with a
    header row naming its columns (see :mod:`cmtflow.models.formats` for the exact rules).

    Values are checked against :data:`PLAUSIBLE` (density, Q, Vp/Vs, Vp) and a value outside
    is refused naming its line: such a file has its columns or units wrong, and a model that
    reads to, say, a density of 100 g/cm³ gives a magnitude wrong by units.
    """
    path = Path(path)
    reading = read_rows(path)
    if not reading.rows:
        raise ModelError(f"{path}: no layers found")
    zero = [i for i, r in enumerate(reading.rows[:-1]) if r[0] == 0]
    if zero:
        raise ModelError(f"{path}:{reading.lines[zero[0]]}: thickness 0 (half-space) must be the last line")
    check_plausible(reading, path)
    return EarthModel.from_rows(name or path.stem, reading.rows,
                                [f"read as {reading.format}"] + reading.notes)


#: The name ``read_fk_model`` predates the other formats; it reads them all.
read_fk_model = read_model_file


def check_plausible(reading: Reading, path: Path) -> None:
    """Refuse a layer whose values no rock has, naming the file line and the likely cause."""
    solid_seen = False
    for row, lineno in zip(reading.rows, reading.lines):
        _, vs, vp, rho, qs, qp = row
        where = f"{path}:{lineno}"
        if not all(math.isfinite(v) for v in row):
            raise ModelError(f"{where}: a value is not a finite number ({row})")
        if vs < 0 or (vs == 0 and solid_seen):
            raise ModelError(f"{where}: vs {vs:g} km/s must be positive (0 only for a water layer on top)")
        solid_seen |= vs > 0
        lo, hi = PLAUSIBLE["vp"]
        if not lo <= vp <= hi:
            raise ModelError(f"{where}: vp {vp:g} km/s outside {lo:g}-{hi:g} km/s (velocities in m/s? give km/s)")
        lo, hi = PLAUSIBLE["rho"]
        if not lo <= rho <= hi:
            raise ModelError(f"{where}: density {rho:g} g/cm³ outside {lo:g}-{hi:g} (a Q or velocity column read "
                             "as density? kg/m³ instead of g/cm³? check the column order of the "
                             f"{reading.format} format)")
        if vs == 0:
            continue  # water: no shear, its Q values do not enter
        lo, hi = PLAUSIBLE["q"]
        for label, q in (("Qs", qs), ("Qp", qp)):
            if not lo <= q <= hi:
                raise ModelError(f"{where}: {label} {q:g} outside {lo:g}-{hi:g} (for a nearly elastic layer "
                                 f"give {hi:g}; check the column order of the {reading.format} format)")
        lo, hi = PLAUSIBLE["vp/vs"]
        if vs > 0 and not lo <= vp / vs <= hi:
            raise ModelError(f"{where}: vp/vs {vp / vs:.3f} (vp {vp:g}, vs {vs:g}) outside {lo:g}-{hi:g} (check "
                             f"the column order of the {reading.format} format: FK is thickness vs vp rho qs qp)")


def named_models() -> list[str]:
    """Names of the models shipped with cmtflow."""
    folder = resources.files("cmtflow.models") / "named"
    return sorted(p.name[: -len(".fkmodel")] for p in folder.iterdir() if p.name.endswith(".fkmodel"))


def load_model(model: str | Path | EarthModel) -> EarthModel:
    """A model from a shipped name, a file path, or an :class:`EarthModel` (returned as is);
    with :data:`FLAT_PREFIX` (``flat:scak``), its :meth:`~EarthModel.flattened` form."""
    if isinstance(model, EarthModel):
        return model
    text = str(model)
    if text.startswith(FLAT_PREFIX):
        return load_model(text[len(FLAT_PREFIX):]).flattened()
    folder = resources.files("cmtflow.models") / "named"
    candidate = folder / f"{text}.fkmodel"
    if "/" not in text and candidate.is_file():
        with resources.as_file(candidate) as path:
            return read_model_file(path, name=text)
    path = Path(text)
    if path.is_file():
        return read_model_file(path)
    raise ModelError(f"unknown model {text!r}: not a shipped model ({', '.join(named_models())}) "
                     "and not an existing file")
