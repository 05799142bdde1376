"""Data access against real local services: FDSN event/station/dataselect, SDS, faults."""

from __future__ import annotations

import json

import numpy as np
import obspy
import pytest
from obspy import UTCDateTime
from fdsn_fixtures import (EVENT_ID, GOOD_STATIONS, ORIGIN, copy_scenario, corrupt_file, scenario_earthquake,
                           sds_path)

from cmtflow.data.events import earthquake_from_origin, fetch_earthquake, initial_source, read_earthquake
from cmtflow.data.station_set import StationSet
from cmtflow.data.fetch import FDSNArchive, FetchConfig, SDSArchive, TooFewStationsError, fetch_waveforms
from cmtflow.data.selection import SelectionConfig, azimuthal_gap, query_inventory, select_stations
from cmtflow.data.services import ServiceConfig, ServiceError
from cmtflow.data.stations import read_stations
from cmtflow.errors import SourceError
from cmtflow.workspace import RunWorkspace

GOOD = GOOD_STATIONS


def _service(server, **kw) -> ServiceConfig:
    return ServiceConfig(provider=server.url, retries=kw.pop("retries", 2), backoff=0.05, timeout=kw.pop("timeout", 10),
                         **kw)


_quake = scenario_earthquake


# ----------------------------------------------------------------------------- events
def test_event_by_id_from_the_event_service(station_event_server, scenario):
    quake = fetch_earthquake(EVENT_ID, _service(station_event_server))
    assert quake.time == ORIGIN and quake.depth_km == pytest.approx(10.0) and quake.magnitude == 4.3
    assert quake.moment_tensor is None
    source = initial_source(quake)  # default double couple with the moment of the magnitude as Mw:
    assert quake.magnitude_type == "ML"  # ML 4.3 -> Mw 0.53 + 0.646 ML + 0.0376 ML^2 (Grünthal et al. 2009)
    assert source.mw == pytest.approx(4.00, abs=0.005) and 0.2 < source.half_duration < 1.0  # rounded to 0.01
    assert read_earthquake(scenario.quakeml).event_id == EVENT_ID
    with pytest.raises(SourceError, match="unknown event id 'nope'"):
        fetch_earthquake("nope", _service(station_event_server))


def test_server_errors_are_retried_then_fail_naming_the_service(station_event_server):
    station_event_server.fail["event"] = 2
    assert fetch_earthquake(EVENT_ID, _service(station_event_server, retries=2)).event_id == EVENT_ID
    station_event_server.fail["event"] = 10
    with pytest.raises(ServiceError, match=r"event service of http://127\.0\.0\.1:\d+ .*failed after 3 attempts"):
        fetch_earthquake(EVENT_ID, _service(station_event_server, retries=2))


def test_timeouts_fail_naming_the_service(station_event_server):
    station_event_server.delay["station"] = 1.5
    with pytest.raises(ServiceError, match=r"station service of http://127.0.0.1:\d+ failed after 2 attempts: Timed Out"):
        query_inventory(_quake(), SelectionConfig(), _service(station_event_server, timeout=0.5, retries=1))


def test_bad_origins_are_refused_with_the_field():
    with pytest.raises(SourceError, match="latitude 95"):
        earthquake_from_origin(ORIGIN, 95.0, 8.0, 10.0, 4.0)
    with pytest.raises(SourceError, match="origin time 'yesterday'"):
        earthquake_from_origin("yesterday", 45.0, 8.0, 10.0, 4.0)


# ----------------------------------------------------------------------------- stations
def test_station_selection_rules_and_reasons(scenario):
    selection = select_stations(read_stations(scenario.inventory_file), _quake())
    assert sorted(s.code for s in selection.stations) == GOOD
    reasons = selection.dropped
    assert reasons["XS.FARS"].startswith("distance 6") and reasons["XS.FARS"].endswith("outside 10-500 km")
    assert "no response" in reasons["XS.NORS"]
    assert reasons["XS.TWOC"] == "--.BH? has components N: no vertical; no horizontal pair" or \
        reasons["XS.TWOC"] == ".BH? has components N: no vertical; no horizontal pair"
    assert reasons["XS.DUPL"] == "duplicate: within 5 km of XS.BBB"
    ccc = next(s for s in selection.stations if s.code == "XS.CCC")
    assert ccc.location == "00" and ccc.channels == ("XS.CCC.00.HHZ", "XS.CCC.00.HHN", "XS.CCC.00.HHE")
    eee = next(s for s in selection.stations if s.code == "XS.EEE")
    assert eee.channels[1:] == ("XS.EEE..BH1", "XS.EEE..BH2")
    # a cap keeps azimuthal coverage: 3 of 6 stations, one per sector taken in turn
    capped = select_stations(scenario.inventory, _quake(), SelectionConfig(max_stations=3, azimuth_bins=3))
    assert len(capped.stations) == 3 and azimuthal_gap(capped.stations) < 200
    assert sum("maximum of 3 stations" in r for r in capped.dropped.values()) == 3
    # channel priorities: only BH allowed -> the HH stations go, with the reason
    bh = select_stations(scenario.inventory, _quake(), SelectionConfig(channel_priorities=("BH",)))
    assert "HH? not in the channel priorities" in bh.dropped["XS.AAA"]


def test_a_capped_dense_network_keeps_stations_near_and_far():
    from cmtflow.data.selection import SelectedStation, _cap_with_coverage

    # 30 stations every 13 km from 20 to 397 km in one direction, as a dense network gives
    dense = [SelectedStation("XX", f"S{k:02d}", "", (f"XX.S{k:02d}..BHZ",), 0.0, 0.0, 0.0, 20.0 + 13 * k, 45.0,
                             225.0) for k in range(30)]
    dropped = {}
    kept = _cap_with_coverage(dense, SelectionConfig(max_stations=6), dropped)
    distances = [s.distance_km for s in kept]
    # two per ring of 20-55, 55-150, 150-397 km (nearest first in each), not the six nearest
    assert distances == [20.0, 33.0, 59.0, 72.0, 150.0, 163.0]
    assert len(dropped) == 24 and "azimuth and distance" in next(iter(dropped.values()))


def test_query_through_the_station_service(station_event_server):
    inv = query_inventory(_quake(), SelectionConfig(max_distance_km=300), _service(station_event_server))
    codes = {f"{n.code}.{s.code}" for n in inv for s in n}
    assert "XS.FARS" not in codes and set(GOOD) <= codes
    assert inv.select(station="AAA")[0][0].channels[0].response.instrument_sensitivity is not None


# ----------------------------------------------------------------------------- waveforms
def _fetch(archive, scenario, tmp_path, run="r1", config=FetchConfig(), inventory=None):
    inventory = inventory or scenario.inventory
    selection = select_stations(inventory, _quake())
    workspace = RunWorkspace.create(EVENT_ID, run, tmp_path / "home")
    return fetch_waveforms(_quake(), selection, inventory, archive, workspace, config), workspace


def test_fdsn_bulk_and_sds_give_the_same_data_and_reruns_reuse(dataselect_server, station_event_server, scenario,
                                                                 tmp_path):
    fdsn = FDSNArchive(_service(station_event_server, service_urls={"dataselect": dataselect_server.url}))
    report, ws = _fetch(fdsn, scenario, tmp_path, "fdsn")
    assert sorted(report.used) == GOOD and not report.reused
    sds_report, ws_sds = _fetch(SDSArchive(scenario.sds), scenario, tmp_path, "sds")
    assert sorted(sds_report.used) == GOOD
    for code in GOOD:
        a = obspy.read(str(ws.raw / report.used[code]))
        b = obspy.read(str(ws_sds.raw / sds_report.used[code]))
        assert [tr.id for tr in a] == [tr.id for tr in b]
        for x, y in zip(a, b):
            assert x.stats.starttime == y.stats.starttime and np.array_equal(x.data, y.data)
    record = json.loads(ws.stations_report.read_text())
    assert {u["station"] for u in record["used"]} == set(GOOD)
    typed = StationSet.read(ws.stations_report)  # what the stages read: every field of the file, typed
    assert typed.as_dict() == record and all(u.components in ("ZRT", "Z", "RT") for u in typed.used)
    assert {d["station"]: d["reason"] for d in record["dropped"]}["XS.DUPL"].startswith("duplicate")
    inv = obspy.read_inventory(str(ws.raw / "stations.xml"))
    assert len(inv.get_contents()["channels"]) == 18
    again, _ = _fetch(fdsn, scenario, tmp_path, "fdsn")  # same run: everything already there
    assert sorted(again.reused) == GOOD


def test_corrupt_record_drops_the_station_and_the_run_goes_on(scenario, tmp_path):
    broken = copy_scenario(scenario, tmp_path / "broken")
    tr = obspy.read(str(next(broken.sds.rglob("XS.DDD..BHN.D.*"))))[0]
    corrupt_file(sds_path(tr, broken.sds))
    report, ws = _fetch(SDSArchive(broken.sds), broken, tmp_path)
    # the corrupt channel goes with its reason; its station keeps the vertical; the run goes on
    assert sorted(report.used) == GOOD and report.data["XS.DDD"].components == "Z"
    ddd = next(u for u in json.loads(ws.stations_report.read_text())["used"] if u["station"] == "XS.DDD")
    assert any(d.startswith("--.BH?: corrupt miniSEED for XS.DDD..BHN: ") for d in ddd["decisions"])


def test_stationxml_without_a_channel_drops_the_station(scenario, tmp_path):
    inventory = scenario.inventory.copy()
    sta = inventory.select(station="BBB")[0][0]
    sta.channels = [c for c in sta.channels if c.code != "BHE"]
    target = inventory[0].stations
    for i, s in enumerate(target):
        if s.code == "BBB":
            target[i] = sta
    report, ws = _fetch(SDSArchive(scenario.sds), scenario, tmp_path, inventory=inventory)
    # per component: BBB still gives its vertical, and says why not the rest
    bbb = next(u for u in json.loads(ws.stations_report.read_text())["used"] if u["station"] == "XS.BBB")
    assert bbb["components"] == "Z" and bbb["channels"] == ["XS.BBB..BHZ"]
    assert "no horizontal pair" in " ".join(bbb["decisions"])
    assert "XS.DUPL" not in report.used


def test_too_few_stations_fail_clearly_with_the_reasons_on_record(scenario, tmp_path):
    from obspy import UTCDateTime

    from cmtflow.data.fetch import LOCAL_ARCHIVE_LATENCY_S, more_data_may_come

    with pytest.raises(TooFewStationsError, match="only 6 usable stations, at least 8 needed") as error:
        _fetch(SDSArchive(scenario.sds), scenario, tmp_path, config=FetchConfig(min_stations=8))
    # a local archive's windows long past: no retry (the task fails at once), and it says why
    assert not error.value.retriable and "is local and its windows ended long ago" in str(error.value)
    now = UTCDateTime()
    assert more_data_may_come(SDSArchive(scenario.sds), [now - LOCAL_ARCHIVE_LATENCY_S / 2], now)  # still filling
    assert not more_data_may_come(SDSArchive(scenario.sds), [now - 2 * LOCAL_ARCHIVE_LATENCY_S], now)
    ws = RunWorkspace.create(EVENT_ID, "r1", tmp_path / "home")
    assert json.loads(ws.stations_report.read_text())["dropped"]
    assert not (ws.path / "processed" / "processed.json").exists()


def test_gaps_and_clipping_drop_stations_with_the_reason(scenario, tmp_path):
    broken = copy_scenario(scenario, tmp_path / "broken")
    for code, damage in (("BBB", "gap"), ("FFF", "clip")):
        path = next(broken.sds.rglob(f"XS.{code}..BHZ.D.*"))
        tr = obspy.read(str(path))[0]
        if damage == "gap":
            st = obspy.Stream([tr.slice(tr.stats.starttime, ORIGIN + 50), tr.slice(ORIGIN + 80, tr.stats.endtime)])
        else:
            tr.data[len(tr.data) // 2] = 2**23 - 1  # digitiser full scale
            st = obspy.Stream([tr])
        st.write(str(path), format="MSEED", encoding="STEIM2", reclen=512)
    report, ws = _fetch(SDSArchive(broken.sds), broken, tmp_path)
    used = {u["station"]: u for u in json.loads(ws.stations_report.read_text())["used"]}
    # per component: the clipped vertical goes; a vertical split by a long gap is used from the
    # gap on (the longer part of its signal window), its span says so, the horizontals stay whole
    assert used["XS.FFF"]["components"] == "RT"
    assert used["XS.BBB"]["components"] == "ZRT"
    assert any(d.startswith("BHZ: gap of 30.0 s at 2024-03-10T12:00:50") and
               d.endswith("inside the signal window: the record before it is left out")
               for d in used["XS.BBB"]["decisions"])
    z_start, h_start = (UTCDateTime(used["XS.BBB"]["spans"][k][0]) for k in "ZH")
    assert abs(z_start - (ORIGIN + 80)) < 0.1 and h_start < ORIGIN
    assert "BHZ: clipped: reaches 8388607 counts, the digitiser's full scale (2^23)" in used["XS.FFF"]["decisions"]
    # a gap outside the signal window (before the earliest P of AAA at 45 km) costs nothing
    assert "XS.DUPL" not in report.used


def test_published_moment_tensor_is_the_initial_source(tmp_path):
    from cmtflow.source import Source, write_quakeml

    published = Source.from_strike_dip_rake(30, 60, 80, 5.1, time=ORIGIN, latitude=46.0, longitude=8.0, depth_km=12.0,
                                            event_id="published")
    write_quakeml(published, tmp_path / "mt.xml")
    quake = read_earthquake(tmp_path / "mt.xml")
    assert quake.magnitude_type == "Mw" and quake.magnitude == pytest.approx(5.1, abs=1e-3)
    source = initial_source(quake)
    assert np.allclose(source.mt, published.mt) and source.depth_km == pytest.approx(12.0)


def test_earthquake_dict_round_trip():
    from cmtflow.data.events import Earthquake

    quake = scenario_earthquake(moment_tensor=[1, 2, 3, 4, 5, 6])
    assert Earthquake.from_dict(quake.as_dict()) == quake


def test_the_demo_s_sds_archive_keeps_both_days_of_a_record_across_midnight(tmp_path):
    """Found by the load test run at 02:15 UTC: its sequence crossed midnight, the second day's
    part (starting at the last sample before midnight) was written over the first day's file."""
    from obspy import Trace, UTCDateTime
    from obspy.clients.filesystem.sds import Client

    from cmtflow.demo import _write_sds

    tr = Trace(np.arange(4000, dtype=np.int32))
    tr.stats.update({"network": "XX", "station": "A", "channel": "BHZ", "delta": 0.05,
                     "starttime": UTCDateTime("2026-12-01T23:58:00.025499")})
    _write_sds(tr, tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("XX.A..BHZ.D.*")) == ["XX.A..BHZ.D.2026.335", "XX.A..BHZ.D.2026.336"]
    got = Client(str(tmp_path)).get_waveforms("XX", "A", "", "BHZ", tr.stats.starttime, tr.stats.endtime)
    got.merge()
    assert len(got) == 1 and np.array_equal(got[0].data, tr.data)
