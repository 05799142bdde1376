"""Moment magnitude from a catalogue magnitude of another type.

An alert gives whatever magnitude the agency computed first: a local magnitude for a small
regional event, mb or Ms from teleseismic amplitudes. The set-up (band, distances, half
duration) and the starting moment are scaled by the moment magnitude, and these scales differ
from it by up to half a unit at both ends of cmtflow's range: ML overestimates Mw for small
events (Sargans 2013: ML 4.2, Mw 3.6), mb saturates above ~6. The published empirical
relations used here:

=========  =============================================================  ============
type       relation                                                      valid for
=========  =============================================================  ============
Mw, Mww…   none (any type starting with ``Mw``)                          all
ML, Md,    Mw = 0.53 + 0.646 ML + 0.0376 ML² (Grünthal, Wahlström &       ML 1-6
mbLg       Stromeyer 2009, J. Seismol. 13, central/northern Europe)
mb         Mw = 0.85 mb + 1.03 (Scordilis 2006, J. Seismol. 10, global)  mb 3.5-6.2
Ms         Mw = 0.67 Ms + 2.07 below Ms 6.2, Mw = 0.99 Ms + 0.08 from it   Ms 3-8.2
           (Scordilis 2006)
other      taken as Mw (an origin given by hand: ``magnitude_type``)
=========  =============================================================  ============

Outside its range a relation is applied at the range's end and the note says so; the scatter
of each (~0.2-0.3 magnitude units) is why the inversion, not this conversion, gives the Mw.
Above its range a magnitude saturates (:func:`saturates`: an ML or mb of 6.7 is a lower bound of
the Mw): the set-up it gives is corrected by the inverted Mw (:mod:`cmtflow.inversion.setup`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class _Relation:
    name: str
    low: float
    high: float
    coefficients: tuple[float, ...]  # Mw = c0 + c1 M + c2 M² ...

    def __call__(self, magnitude: float) -> float:
        m = min(max(magnitude, self.low), self.high)
        return sum(c * m**i for i, c in enumerate(self.coefficients))


_LOCAL = _Relation("Grünthal et al. (2009)", 1.0, 6.0, (0.53, 0.646, 0.0376))
_BODY = _Relation("Scordilis (2006)", 3.5, 6.2, (1.03, 0.85))
_SURFACE_LOW = _Relation("Scordilis (2006)", 3.0, 6.1, (2.07, 0.67))
_SURFACE_HIGH = _Relation("Scordilis (2006)", 6.2, 8.2, (0.08, 0.99))


def _relation(magnitude_type: str, magnitude: float) -> _Relation | None:
    kind = magnitude_type.strip().lower()
    if kind.startswith("mw"):
        return None
    if kind.startswith(("ml", "md", "mc", "mblg", "mb_lg")):  # regional scales, calibrated like ML
        return _LOCAL
    if kind.startswith("mb"):
        return _BODY
    if kind.startswith("ms"):
        return _SURFACE_LOW if magnitude < 6.2 else _SURFACE_HIGH
    return None


def to_moment_magnitude(magnitude: float, magnitude_type: str) -> tuple[float, str]:
    """The moment magnitude for a catalogue ``magnitude`` of ``magnitude_type`` and a note
    saying how it was obtained (for the set-up's record)."""
    relation = _relation(magnitude_type or "M", magnitude)
    if relation is None:
        kind = magnitude_type or "M"
        note = "" if kind.lower().startswith("mw") else f"{kind} taken as Mw (no conversion for this type)"
        return float(magnitude), note
    mw = round(relation(magnitude), 2)
    note = f"{magnitude_type} {magnitude:.1f} -> Mw {mw:.2f} ({relation.name})"
    if not relation.low <= magnitude <= relation.high:
        note += f"; outside {relation.low:g}-{relation.high:g}, the relation is held at its end"
    return mw, note


def saturates(magnitude: float, magnitude_type: str) -> bool:
    """Whether ``magnitude`` is above the range of its type's relation (the relation held at
    its upper end): the true Mw may be much larger."""
    relation = _relation(magnitude_type or "M", magnitude)
    return relation is not None and magnitude > relation.high
