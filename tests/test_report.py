"""The report's figures: shorelines read offline, the map's scale."""

from __future__ import annotations

import pytest
from matplotlib.path import Path as Outline

from cmtflow.report.coastlines import shoreline_file, shorelines
from cmtflow.report.html import _scale_km, _ticks


def _on_land(lon: float, lat: float, parts) -> bool:
    return any(Outline(part).contains_point((lon, lat)) for part in parts)


@pytest.mark.skipif(shoreline_file() is None, reason="no GSHHS shoreline data (Debian's python-cartopy-data)")
def test_the_shorelines_put_cities_on_land_and_gulfs_at_sea():
    """Read from the GSHHS shapefile as installed: Anchorage, Athens and Tokyo are on land,
    the Gulf of Alaska, the Aegean Sea and the Pacific off Japan are not."""
    for (lon, lat), land in (((-149.9, 61.2), True), ((-147.0, 58.0), False), ((23.7, 38.0), True),
                             ((25.0, 37.5), False), ((139.7, 35.7), True), ((145.0, 33.0), False)):
        parts = shorelines((lon - 3.0, lat - 3.0, lon + 3.0, lat + 3.0))
        assert parts and _on_land(lon, lat, parts) == land, (lon, lat)


def test_round_ticks_and_scale_lengths():
    assert _ticks(0.3, 47.2, 7) == [10, 20, 30, 40]
    assert _ticks(5.0, 5.5, 5) == pytest.approx([5.0, 5.2, 5.4])
    assert [_scale_km(s) for s in (480.0, 90.0, 1200.0)] == [50, 10, 200]


def test_the_airflow_link_leaves_the_frame_and_is_absolute_where_the_address_is_known():
    from cmtflow.report.html import airflow_link

    run = {"dag_id": "cmt_inversion", "run_id": "manual__2026"}
    assert 'target="_top" href="/dags/cmt_inversion/runs/manual__2026"' in airflow_link(run)
    assert 'href="https://quakes.example.org/airflow/dags/cmt_inversion/runs/manual__2026"' in airflow_link(
        {**run, "base_url": "https://quakes.example.org/airflow/"})
    assert airflow_link({}) == ""


def test_the_map_shows_the_selected_stations_the_inversion_did_not_use(tmp_path):
    from cmtflow.report.html import map_stations, plot_station_map

    def row(code, lat, lon):
        return {"station": code, "latitude": lat, "longitude": lon}

    solution = {"stations_used": ["XX.A"], "centroid": {"latitude": 61.0, "longitude": -150.0}}
    stations = {"used": [row("XX.A", 61.2, -149.5), row("XX.B", 60.8, -150.4)]}  # B fetched, no usable window
    selected = [row("XX.A", 61.2, -149.5), row("XX.B", 60.8, -150.4), row("XX.C", 61.5, -151.0)]  # C: no data
    used, left_out = map_stations(solution, stations, selected)
    assert [u["station"] for u in used] == ["XX.A"] and [s["station"] for s in left_out] == ["XX.B", "XX.C"]
    assert plot_station_map(solution, stations, tmp_path / "map.png", None, selected).stat().st_size > 1000
