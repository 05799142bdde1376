"""A solution's values as text, with their bootstrap spreads: one spelling for the report, the
terminal and the earthquake list. No figures here: the terminal imports it without matplotlib."""

from __future__ import annotations


def pm(spread, digits: int) -> str:
    """`` ± spread`` (the bootstrap's standard deviation), or nothing where there is none."""
    return f" ± {spread:.{digits}f}" if spread is not None else ""


def plane_text(plane: dict, spread: dict | None) -> str:
    """``strike/dip/rake`` of a nodal plane and, where there is one, its bootstrap spread
    ``(± s/d/r)`` (degrees)."""
    keys = ("strike", "dip", "rake")
    text = "/".join(f"{plane[k]:.0f}" for k in keys)
    if spread and all(spread.get(k) is not None for k in keys):
        text += " (± " + "/".join(f"{spread[k]:.0f}" for k in keys) + ")"
    return text
