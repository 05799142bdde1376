"""Coastlines for the station map, read offline from GSHHS shapefiles (Wessel & Smith's Global
Self-consistent Hierarchical High-resolution Geography, the shoreline polygons, level 1):
those of ``CMTFLOW_COASTLINES`` (a folder holding ``GSHHS_<res>_L1.shp``, e.g. a download of
the full-resolution set), else Debian's ``python-cartopy-data``. The finest resolution found
is used; nothing is downloaded at run time.

The reader handles what these files are: ESRI shapefiles of polygons (shape type 5) in
longitude/latitude degrees.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from cmtflow.config import settings

#: Debian's python-cartopy-data: GSHHS shoreline polygons (crude and low resolution).
DEBIAN_GSHHS = Path("/usr/share/cartopy/data/shapefiles/gshhs")
#: GSHHS resolutions, finest first: full, high, intermediate, low, crude.
RESOLUTIONS = ("f", "h", "i", "l", "c")
_POLYGON, _POLYLINE = 5, 3


def shoreline_file() -> Path | None:
    """The finest GSHHS level-1 (land/ocean) shapefile available, or None."""
    folders = [settings.coastlines] if settings.coastlines else []
    folders.append(DEBIAN_GSHHS)
    for folder in folders:
        for res in RESOLUTIONS:
            for path in (folder / f"GSHHS_{res}_L1.shp", folder / res / f"GSHHS_{res}_L1.shp"):
                if path.is_file():
                    return path
    return None


def read_shapes(path: Path, box: tuple[float, float, float, float] | None = None) -> list[np.ndarray]:
    """The parts (``(n, 2)`` arrays of longitude, latitude) of the polygons or lines of a
    shapefile whose bounding box meets ``box`` (west, south, east, north; degrees)."""
    data = Path(path).read_bytes()
    if struct.unpack(">i", data[:4])[0] != 9994:
        raise ValueError(f"{path} is not a shapefile")
    parts, offset = [], 100
    while offset + 12 <= len(data):
        length = 2 * struct.unpack(">i", data[offset + 4:offset + 8])[0]
        record = data[offset + 8:offset + 8 + length]
        offset += 8 + length
        kind = struct.unpack("<i", record[:4])[0]
        if kind not in (_POLYGON, _POLYLINE):
            continue
        west, south, east, north = struct.unpack("<4d", record[4:36])
        if box and (east < box[0] or west > box[2] or north < box[1] or south > box[3]):
            continue
        n_parts, n_points = struct.unpack("<2i", record[36:44])
        starts = list(struct.unpack(f"<{n_parts}i", record[44:44 + 4 * n_parts])) + [n_points]
        points = np.frombuffer(record, "<f8", 2 * n_points, 44 + 4 * n_parts).reshape(-1, 2)
        parts += [points[a:b] for a, b in zip(starts[:-1], starts[1:])]
    return parts


def shorelines(box: tuple[float, float, float, float]) -> list[np.ndarray] | None:
    """Land polygons meeting ``box`` (west, south, east, north; degrees, west of 180 as
    negative), or None where no shoreline data is installed."""
    path = shoreline_file()
    return None if path is None else read_shapes(path, box)
