"""``docs/benchmarks.md``: each benchmark script replaces its own section, the others stay."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nMeasurements written by the scripts in `benchmarks/`; each script replaces its own section.\n"


def replace_section(heading: str, section: str, path: Path = DOCS) -> None:
    """Put ``section`` (starting with the line ``heading``) in place of the section of that
    heading, or at the end."""
    text = path.read_text() if path.is_file() else HEADER
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    section = section.rstrip("\n") + "\n"
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else \
        text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")
