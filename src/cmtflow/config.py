"""Where cmtflow keeps its data (the data root) and how it is configured.

``CMTFLOW_HOME`` (default ``~/cmtflow``) holds ``events/<event_id>/runs/<run_id>/``,
``simulations/<key>/`` and the Green's function store ``greens/<key>/``.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    """The data root: ``$CMTFLOW_HOME`` or ``~/cmtflow``."""
    return Path(os.environ.get("CMTFLOW_HOME") or Path.home() / "cmtflow").expanduser()
