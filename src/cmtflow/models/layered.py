"""The :class:`EarthModel` type, the FK model file format, and the shipped named models."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from cmtflow.errors import ModelError

#: Relation used by FK (fk.pl) when a model file gives no density: rho = 0.77 + 0.32 Vp.
_DEFAULT_RHO = (0.77, 0.32)
#: Defaults when a model file gives no attenuation (FK format allows 3 to 6 columns).
_DEFAULT_QS = 500.0
_DEFAULT_QP_OVER_QS = 2.0


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
    """

    name: str
    thickness: np.ndarray
    vp: np.ndarray
    vs: np.ndarray
    rho: np.ndarray
    qp: np.ndarray
    qs: np.ndarray

    def __post_init__(self):
        for field in ("thickness", "vp", "vs", "rho", "qp", "qs"):
            object.__setattr__(self, field, np.asarray(getattr(self, field), dtype=float))
        self.validate()

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_rows(cls, name: str, rows) -> "EarthModel":
        """Build from rows ``(thickness_km, vs, vp, rho, qs, qp)`` (FK column order)."""
        arr = np.asarray(rows, dtype=float)
        return cls(name=name, thickness=arr[:, 0], vs=arr[:, 1], vp=arr[:, 2],
                   rho=arr[:, 3], qs=arr[:, 4], qp=arr[:, 5])

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
            if self.vs[i] <= 0 or self.vp[i] <= 0:
                raise ModelError(f"{where}: velocities must be positive (vp={self.vp[i]}, vs={self.vs[i]})")
            if self.vp[i] <= self.vs[i] * math.sqrt(2.0):
                raise ModelError(f"{where}: vp={self.vp[i]} must exceed vs*sqrt(2)={self.vs[i] * math.sqrt(2):.4f} "
                                 "(check the FK column order: thickness vs vp rho qs qp)")
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

    def to_fk_text(self) -> str:
        """The model in FK format (thickness vs vp rho qs qp)."""
        lines = [f"{h:10.4f}{b:10.4f}{a:10.4f}{r:10.4f}{qb:10.2f}{qa:10.2f}"
                 for h, b, a, r, qb, qa in zip(self.thickness, self.vs, self.vp, self.rho, self.qs, self.qp)]
        return "\n".join(lines) + "\n"


def read_fk_model(path: str | Path, name: str | None = None) -> EarthModel:
    """Read a model in the FK format.

    One layer per line: ``thickness vs vp [rho [qs [qp]]]`` (km, km/s, g/cm^3), the last
    line with thickness 0 being the half-space. Missing density follows FK's
    ``rho = 0.77 + 0.32 vp``; missing Qs is 500 and missing Qp is 2 Qs.
    Blank lines and lines starting with ``#`` are ignored.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror}") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ModelError(f"{path}:{lineno}: expected numbers 'thickness vs vp [rho qs qp]', got {line!r}") from None
        if not 3 <= len(values) <= 6:
            raise ModelError(f"{path}:{lineno}: expected 3 to 6 columns 'thickness vs vp [rho qs qp]', "
                             f"got {len(values)}")
        h, vs, vp = values[:3]
        rho = values[3] if len(values) > 3 else _DEFAULT_RHO[0] + _DEFAULT_RHO[1] * vp
        qs = values[4] if len(values) > 4 else _DEFAULT_QS
        qp = values[5] if len(values) > 5 else _DEFAULT_QP_OVER_QS * qs
        rows.append((h, vs, vp, rho, qs, qp))
    if not rows:
        raise ModelError(f"{path}: no layers found")
    zero = [i for i, r in enumerate(rows) if r[0] == 0]
    if zero and zero[0] != len(rows) - 1:
        raise ModelError(f"{path}:layer {zero[0] + 1}: thickness 0 (half-space) must be the last line")
    return EarthModel.from_rows(name or path.stem, rows)


def named_models() -> list[str]:
    """Names of the models shipped with cmtflow."""
    folder = resources.files("cmtflow.models") / "named"
    return sorted(p.name[: -len(".fkmodel")] for p in folder.iterdir() if p.name.endswith(".fkmodel"))


def load_model(model: str | Path | EarthModel) -> EarthModel:
    """A model from a shipped name, a file path, or an :class:`EarthModel` (returned as is)."""
    if isinstance(model, EarthModel):
        return model
    text = str(model)
    folder = resources.files("cmtflow.models") / "named"
    candidate = folder / f"{text}.fkmodel"
    if "/" not in text and candidate.is_file():
        with resources.as_file(candidate) as path:
            return read_fk_model(path, name=text)
    path = Path(text)
    if path.is_file():
        return read_fk_model(path)
    raise ModelError(f"unknown model {text!r}: not a shipped model ({', '.join(named_models())}) "
                     "and not an existing file")
