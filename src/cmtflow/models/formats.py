"""1D model files as seismologists bring them, read into rows of one convention.

Four formats, told apart by their content (never by guessing at numbers):

* **FK** (Zhu & Rivera's ``fk.pl``, also CAP and MTUQ): one layer per line,
  ``thickness vs vp_or_vp/vs [rho_or_Qs [Qs [Qp]]]`` in km, km/s, g/cm³. Read exactly as
  ``fk.pl``'s ``read_model`` reads it: a 3rd column below 2 is the Vp/Vs ratio (vp = ratio *
  vs; older ``fk.pl``, and ``-M model/depth/k`` in newer ones); a 4th column missing or above
  20 is Qs, not density, and the density is then ``0.77 + 0.32 vp`` (Berteussen 1977), with
  a 5th column ignored, as ``fk.pl`` does; Qs defaults to 500 and Qp to 2 Qs; the last line
  is the half-space whatever thickness it gives; vs = 0 on top is a water layer.
* **CPS model96** (Herrmann's Computer Programs in Seismology): the ``MODEL.01`` header,
  then ``H VP VS RHO QP QS ETAP ETAS FREFP FREFS``; Q values up to 1 are 1/Q (0: elastic).
* **ISOLA** ``crustal.dat``: ``number of layers``, then ``depth-of-layer-top vp vs rho qp qs``.
* **A table with a header row naming its columns** (any order; ``depth`` or ``thickness``,
  ``vp``, ``vs``, optional ``rho``, ``qp``, ``qs``; aliases ``thick``/``h``, ``alpha``/``beta``,
  ``qa``/``qb``, ``density``; units in parentheses are allowed): a plain ``depth vp vs rho``
  table needs that one header line, since without one the numbers read as FK's columns.

Every reader returns rows ``(thickness_km, vs, vp, rho, qs, qp)`` (the last row the
half-space) and notes saying how any value was inferred; :mod:`cmtflow.models.layered`
then checks that the values are plausible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cmtflow.errors import ModelError

#: ``fk.pl``: density from Vp when the file gives none (Berteussen 1977), km/s -> g/cm³.
FK_RHO_FROM_VP = (0.77, 0.32)
#: ``fk.pl``: a 4th column above this is Qs, not a density.
FK_QS_COLUMN_ABOVE = 20.0
#: Older ``fk.pl``: a 3rd column below this is the Vp/Vs ratio, not Vp.
FK_RATIO_BELOW = 2.0
#: ``fk.pl`` defaults: Qs 500, Qp = 2 Qs.
FK_DEFAULT_QS = 500.0
FK_QP_OVER_QS = 2.0
#: CPS model96 writes 1/Q = 0 for an elastic layer; the solver needs a finite Q, and at
#: this Q the attenuation over regional paths is far below what the data resolve.
ELASTIC_Q = 5000.0

Row = tuple[float, float, float, float, float, float]


@dataclass
class Reading:
    """A model file as read: its rows, how values were inferred, where each row came from.

    :param rows: ``(thickness_km, vs, vp, rho, qs, qp)`` per layer, the last the half-space.
    :param notes: one sentence per inferred value or convention applied.
    :param lines: the file line of each row (for messages naming the line).
    """

    format: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def add(self, lineno: int, row: Row) -> None:
        self.rows.append(row)
        self.lines.append(lineno)


def fk_density(vp: float) -> float:
    return FK_RHO_FROM_VP[0] + FK_RHO_FROM_VP[1] * vp


def _numbers(path: Path, lineno: int, line: str, expected: str) -> list[float]:
    try:
        return [float(p) for p in line.split()]
    except ValueError:
        raise ModelError(f"{path}:{lineno}: expected numbers '{expected}', got {line!r}") from None


def _content(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror}") from None
    return [(i, line.rstrip()) for i, line in enumerate(text.splitlines(), start=1)]


def read_rows(path: str | Path) -> Reading:
    """The model file at ``path`` in whichever of the formats of the module docstring it is."""
    path = Path(path)
    lines = _content(path)
    meaningful = [(i, s) for i, s in lines if s.strip() and not s.lstrip().startswith("#")]
    if meaningful and meaningful[0][1].strip().upper().startswith("MODEL."):
        return _read_model96(path, lines)
    if any(re.search(r"number\s+of\s+layers", s, re.I) for _, s in lines[:10]):
        return _read_isola(path, lines)
    header = next(((i, s) for i, s in lines if _header_columns(s)), None)
    if header is not None and header[0] <= (meaningful[0][0] if meaningful else header[0]):
        return _read_named(path, lines, header)
    return _read_fk(path, lines)


def _read_fk(path: Path, lines) -> Reading:
    out = Reading("FK")
    ratio_lines, qs_lines, ignored_qp, default_q = [], [], [], []
    for lineno, raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        values = _numbers(path, lineno, line, "thickness vs vp [rho qs qp]")
        if not 3 <= len(values) <= 6:
            raise ModelError(f"{path}:{lineno}: expected 3 to 6 columns 'thickness vs vp [rho qs qp]', "
                             f"got {len(values)}")
        h, vs, vp = values[:3]
        rho = values[3] if len(values) > 3 else None
        qs = values[4] if len(values) > 4 else None
        qp = values[5] if len(values) > 5 else None
        if vp < FK_RATIO_BELOW and vs > 0:  # a water layer (vs 0) has a real vp of ~1.5
            vp = vp * vs
            ratio_lines.append(lineno)
        if rho is None or rho > FK_QS_COLUMN_ABOVE:
            if rho is not None:
                qs_lines.append(lineno)
                if qs is not None:
                    ignored_qp.append(lineno)
            qs = rho
            rho = fk_density(vp)
        if qs == 0 or qp == 0:  # fk.pl: "unless $qb" takes a 0 as missing
            default_q.append(lineno)
        qs = qs if qs else FK_DEFAULT_QS
        qp = qp if qp else FK_QP_OVER_QS * qs
        out.add(lineno, (h, vs, vp, rho, qs, qp))
    if ratio_lines:
        out.notes.append(f"3rd column below {FK_RATIO_BELOW:g} read as the Vp/Vs ratio (FK rule), lines "
                         f"{_line_list(ratio_lines)}")
    if qs_lines:
        out.notes.append(f"4th column above {FK_QS_COLUMN_ABOVE:g} read as Qs, density from 0.77 + 0.32 vp "
                         f"(FK rule), lines {_line_list(qs_lines)}")
    if default_q:
        out.notes.append(f"Q of 0 taken as missing: Qs {FK_DEFAULT_QS:g}, Qp = {FK_QP_OVER_QS:g} Qs (FK rule), lines "
                         f"{_line_list(default_q)}")
    if ignored_qp:
        out.notes.append(f"5th column ignored where the 4th is Qs, as fk.pl does, lines {_line_list(ignored_qp)}")
    rows = out.rows
    if rows and rows[-1][0] != 0:
        out.notes.append(f"last line (line {out.lines[-1]}) is the half-space; its thickness {rows[-1][0]:g} km "
                         "is ignored, as fk.pl does")
        rows[-1] = (0.0, *rows[-1][1:])
    if len(rows) > 1 and rows[0][0] == 0:
        raise ModelError(f"{path}:{out.lines[0]}: thickness 0 on the first line: FK reads it as a top elastic "
                         "half-space with buried receivers, which cmtflow does not compute; if the first column "
                         "is depth, add a header line naming the columns (e.g. 'depth vp vs rho')")
    return out


def _line_list(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:8])) + (", ..." if len(numbers) > 8 else "")


def _cps_q(value: float) -> float:
    """CPS: a Q column holds Q when above 1, else 1/Q (0 = elastic)."""
    if value > 1.0:
        return value
    return ELASTIC_Q if value <= 0 else min(1.0 / value, ELASTIC_Q)


def _read_model96(path: Path, lines) -> Reading:
    text = [s.strip().upper() for _, s in lines]
    if any(t.startswith(("TRANSVERSE", "ANISOTROPIC")) for t in text[:6]):
        raise ModelError(f"{path}: a transversely isotropic model96 file; cmtflow computes isotropic models only")
    if any(t.startswith("SPHERICAL EARTH") for t in text[:8]):
        raise ModelError(f"{path}: model96 for a SPHERICAL EARTH; give the FLAT EARTH version of the model")
    if "MKS" in text[:6]:
        raise ModelError(f"{path}: model96 in MKS units; cmtflow reads KGS (km, km/s, g/cm3)")
    start = next((k for k, t in enumerate(text) if "H(KM)" in t.replace(" ", "")), None)
    if start is None:
        raise ModelError(f"{path}: model96 file without its column header line 'H(KM) VP(KM/S) VS(KM/S) ...'")
    out = Reading("CPS model96")
    elastic = False
    for lineno, raw in lines[start + 1:]:
        if not raw.strip():
            continue
        values = _numbers(path, lineno, raw, "H VP VS RHO QP QS ETAP ETAS FREFP FREFS")
        if len(values) < 6:
            raise ModelError(f"{path}:{lineno}: model96 layers need at least H VP VS RHO QP QS, "
                             f"got {len(values)} values")
        h, vp, vs, rho, qp, qs = values[:6]
        elastic |= qp <= 0 or qs <= 0
        out.add(lineno, (h, vs, vp, rho, _cps_q(qs), _cps_q(qp)))
    if elastic:
        out.notes.append(f"elastic layers (1/Q = 0) taken as Q {ELASTIC_Q:g}")
    if out.rows:
        out.rows[-1] = (0.0, *out.rows[-1][1:])
        out.notes.append("last layer is the half-space (model96)")
    return out


def _read_isola(path: Path, lines) -> Reading:
    k = next(k for k, (_, s) in enumerate(lines) if re.search(r"number\s+of\s+layers", s, re.I))
    count_line = next((s for _, s in lines[k + 1:] if s.strip()), "")
    try:
        count = int(count_line.split()[0])
    except (ValueError, IndexError):
        raise ModelError(f"{path}: ISOLA crustal model: no number after 'number of layers'") from None
    body = []
    for lineno, raw in lines[k + 2:]:
        parts = raw.split()
        if len(parts) >= 6 and all(re.match(r"^[-+0-9.eE]+$", p) for p in parts[:6]):
            body.append((lineno, [float(p) for p in parts[:6]]))
        if len(body) == count:
            break
    if len(body) != count:
        raise ModelError(f"{path}: ISOLA crustal model announces {count} layers, found {len(body)} lines "
                         "'depth-of-top vp vs rho qp qs'")
    tops = [v[0] for _, v in body]
    if tops[0] != 0:
        raise ModelError(f"{path}:{body[0][0]}: the first layer top must be at depth 0, got {tops[0]:g} km")
    out = Reading("ISOLA crustal.dat", notes=["last layer is the half-space (ISOLA)"])
    for n, (lineno, (top, vp, vs, rho, qp, qs)) in enumerate(body):
        h = tops[n + 1] - top if n + 1 < count else 0.0
        if n + 1 < count and h <= 0:
            raise ModelError(f"{path}:{body[n + 1][0]}: layer tops must increase with depth "
                             f"({tops[n + 1]:g} km after {top:g} km)")
        out.add(lineno, (h, vs, vp, rho, qs, qp))
    return out


_ALIASES = {"depth": "depth", "z": "depth", "top": "depth", "thickness": "thickness", "thick": "thickness",
            "h": "thickness", "th": "thickness", "vp": "vp", "alpha": "vp", "vs": "vs", "beta": "vs",
            "rho": "rho", "density": "rho", "qp": "qp", "qa": "qp", "qalpha": "qp", "qs": "qs", "qb": "qs",
            "qbeta": "qs"}


def _header_columns(line: str) -> list[str] | None:
    """The column names of a header row, or None when the line is not one (every token must
    be a known column name, units in parentheses allowed)."""
    names = []
    for token in line.lstrip("#").replace(",", " ").split():
        name = re.sub(r"\(.*?\)|\[.*?\]", "", token).strip().lower()
        if name not in _ALIASES:
            return None
        names.append(_ALIASES[name])
    if len(names) < 3 or len(set(names)) != len(names) or not {"vp", "vs"} <= set(names):
        return None
    if ("depth" in names) == ("thickness" in names):
        return None
    return names


def _read_named(path: Path, lines, header) -> Reading:
    names = _header_columns(header[1])
    out = Reading("table with named columns", notes=[f"columns from the header line {header[0]}: {' '.join(names)}"])
    table = []
    for lineno, raw in lines:
        line = raw.split("#", 1)[0].strip()
        if lineno <= header[0] or not line:
            continue
        values = _numbers(path, lineno, line, " ".join(names))
        if len(values) != len(names):
            raise ModelError(f"{path}:{lineno}: {len(values)} values for the {len(names)} columns {' '.join(names)}")
        table.append((lineno, dict(zip(names, values))))
    if not table:
        return out
    if "depth" in names:
        tops = [r["depth"] for _, r in table]
        if tops[0] != 0:
            raise ModelError(f"{path}:{table[0][0]}: the first layer top must be at depth 0, got {tops[0]:g} km")
        for n in range(len(table) - 1):
            if tops[n + 1] <= tops[n]:
                raise ModelError(f"{path}:{table[n + 1][0]}: depths must increase ({tops[n + 1]:g} after {tops[n]:g})")
        thickness = [tops[n + 1] - tops[n] for n in range(len(table) - 1)] + [0.0]
    else:
        thickness = [r["thickness"] for _, r in table[:-1]] + [0.0]
    if "rho" not in names:
        out.notes.append("no density column: density from 0.77 + 0.32 vp (as FK)")
    if "qs" not in names:
        out.notes.append(f"no Qs column: Qs {FK_DEFAULT_QS:g} (as FK)")
    if "qp" not in names:
        out.notes.append(f"no Qp column: Qp = {FK_QP_OVER_QS:g} Qs (as FK)")
    for (lineno, r), h in zip(table, thickness):
        qs = r.get("qs", FK_DEFAULT_QS)
        out.add(lineno, (h, r["vs"], r["vp"], r.get("rho", fk_density(r["vp"])), qs, r.get("qp", FK_QP_OVER_QS * qs)))
    out.notes.append("last row is the half-space")
    return out
