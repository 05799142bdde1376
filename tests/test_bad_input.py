"""Bad input: fuzzed run confs, a corpus of malformed files, extreme but valid values.

Each input is either handled (a valid result) or refused with a :class:`CmtflowError` whose
message names the field or the file; nothing else (no stray exception, no silent nonsense).
The corpus is ``tests/inputs_bad/<kind>/``: one file per way of being wrong.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from cmtflow.errors import CmtflowError
from cmtflow.runconf import KEYS, ConfError, check_conf

CORPUS = Path(__file__).parent / "inputs_bad"
EMPTY_ROOT = Path(tempfile.mkdtemp(prefix="cmtflow-empty-root-"))  # no file a fuzzed conf names can exist
ORIGIN = {"origin_time": "2024-03-10T12:00:00", "latitude": 46.0, "longitude": 8.0, "depth_km": 10.0,
          "magnitude": 4.3}

# ----------------------------------------------------------------------------- run conf fuzzing
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=3), max_leaves=6)
#: per key: a value its schema allows (often), or any JSON value (sometimes)
_values = {name: st.one_of(from_schema(key.schema), _json) for name, key in KEYS.items()}
_confs = st.one_of(
    st.fixed_dictionaries({}, optional=_values),
    st.fixed_dictionaries({}, optional=_values).map(lambda c: {**ORIGIN, **c}),  # mostly valid ones
    st.dictionaries(st.text(max_size=12), _json, max_size=4),  # unknown keys
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(conf=_confs)
def test_fuzzed_confs_are_refused_naming_a_key_or_accepted_valid(conf):
    try:
        full = check_conf(conf, roots=[EMPTY_ROOT])
    except ConfError as exc:
        assert any(str(exc).startswith(f"{key}: ") for key in [*KEYS, *conf]), str(exc)
        return
    for name, key in KEYS.items():  # accepted: every value is valid, numbers are finite
        jsonschema.validate(full[name], key.schema)
        assert not (isinstance(full[name], float) and not math.isfinite(full[name]))
    assert sum(bool(full[k]) for k in ("event_id", "quakeml", "origin_time")) == 1
    # empty band values are filled in by the set-up (tested in test_setup.py)
    assert None in (full["tmin"], full["tmax"]) or full["tmin"] < full["tmax"]
    assert full["data_source"] != "sds"  # no file can exist under the root


def test_non_finite_numbers_are_refused():
    for value in (float("nan"), float("inf")):
        with pytest.raises(ConfError, match="^latitude: .* is not a finite number"):
            check_conf({**ORIGIN, "latitude": value})


# ----------------------------------------------------------------------------- malformed files
def _readers():
    from cmtflow.data.events import read_earthquake
    from cmtflow.data.metadata import read_metadata
    from cmtflow.data.stations import read_stations
    from cmtflow.models import load_model
    from cmtflow.source import read_cmtsolution

    return {"quakeml": read_earthquake, "stationxml": read_stations, "cmtsolution": read_cmtsolution,
            "model": load_model, "metadata": read_metadata}


#: what each refusal must say (besides being a CmtflowError)
EXPECTED = {
    "quakeml/bad_time.xml": "has no (valid ISO 8601) time",
    "quakeml/depth_above_the_sky.xml": "depth -5000.0 km is outside",
    "quakeml/latitude_out_of_range.xml": "latitude 123.0 is outside",
    "quakeml/magnitude_nan.xml": "not a finite",
    "quakeml/no_origin.xml": "has no origin",
    "quakeml/no_event.xml": "no event in the file",
    "stationxml/empty.xml": "no station found",
    "stationxml/no_stations.xml": "no station found",
    "cmtsolution/zero_moment": "the moment tensor is zero",
    "cmtsolution/latitude_out_of_range": "latitude 123.0",
    "cmtsolution/negative_depth": "depth must be >= 0 km",
    "cmtsolution/missing_field": "missing field 'Mpp'",
    "cmtsolution/moment_infinite": "'Mtt' is not finite",
    "model/vs_above_vp.fkmodel": "vs_above_vp.fkmodel:2: vp/vs 1.333 (vp 6, vs 4.5) outside 1.4-3",
    "model/negative_q.fkmodel": "negative_q.fkmodel:1: Qs -50 outside 10-5000",
    "model/nan_density.fkmodel": "nan_density.fkmodel:1: a value is not a finite number",
    "quakeml/isola_impossible_date.isl": "ISOLA event date '20131332' is not a valid date",
    "metadata/AAAHHZ.pz": "AAAHHZ.pz: expected 2 'real imag' lines after line 6",
    "metadata/TOOLONGNAMEHHZ.pz": "ISOLA pole-zero files are named STATIONCHANNEL.pz (e.g. DAVAHHZ.pz)",
    "metadata/network_latitude_out_of_range.stn": "network_latitude_out_of_range.stn:1: latitude/longitude",
    "metadata/sacpz_more_zeros_than_announced.sacpz": "2 zeros listed, 1 announced",
    "metadata/sacpz_no_constant.sacpz": "a SACPZ entry needs ZEROS, POLES and CONSTANT",
    "cmtsolution/bad_pde_date": "bad_pde_date:1: invalid hypocentre time: month must be in 1..12",
    "cmtsolution/empty": "a CMTSOLUTION has 13 lines (PDE line + 12 'key: value' lines), found 0",
    "cmtsolution/moment_not_a_number": "field 'Mrr' is not a number: 'big'",
    "cmtsolution/truncated": "a CMTSOLUTION has 13 lines (PDE line + 12 'key: value' lines), found 2",
    "model/empty.fkmodel": "empty.fkmodel: no layers found",
    "model/negative_thickness.fkmodel": "layer 2: thickness must be positive; only the last layer (the half-space)",
    "model/negative_velocity.fkmodel": "negative_velocity.fkmodel:2: vs -4.5 km/s must be positive",
    "model/not_a_number.fkmodel": "not_a_number.fkmodel:2: expected numbers 'thickness vs vp [rho qs qp]', got '0 x",
    "model/two_columns.fkmodel": "two_columns.fkmodel:1: expected 3 to 6 columns 'thickness vs vp [rho qs qp]', got 2",
    "quakeml/empty.xml": "cannot read QuakeML",
    "quakeml/entity_expansion.xml": "cannot read QuakeML",
    "quakeml/external_entity.xml": "cannot read QuakeML",
    "quakeml/html_error_page.xml": "cannot read QuakeML",
    "quakeml/plain_text.xml": "cannot read QuakeML",
    "quakeml/truncated.xml": "cannot read QuakeML",
    "stationxml/external_entity.xml": "cannot read StationXML",
    "stationxml/html_error_page.xml": "cannot read StationXML",
    "stationxml/quakeml_not_stationxml.xml": "cannot read StationXML",
    "stationxml/station_latitude_not_a_number.xml": "cannot read StationXML",
    "stationxml/truncated.xml": "cannot read StationXML",
}
FILES = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file())


def test_the_corpus_covers_every_reader():
    """Every reader has malformed files, and every file its expected message."""
    assert {f.split("/")[0] for f in FILES} == set(_readers()) and len(FILES) >= 30
    assert set(FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", FILES)
def test_malformed_files_are_refused_clearly(name):
    kind = name.split("/")[0]
    path = CORPUS / name
    with pytest.raises(CmtflowError) as err:
        _readers()[kind](path)
    message = str(err.value)
    assert EXPECTED[name] in message
    # the message points at the file (or the event it holds)
    assert path.name in message or path.stem in message or "event e1" in message, message
    assert "/etc/hostname" not in message and Path("/etc/hostname").read_text().strip() not in message


# ----------------------------------------------------------------------------- extreme values
@pytest.mark.parametrize("magnitude, half_duration", [(2.0, (0.0, 0.2)), (9.5, (50.0, 200.0))])
def test_magnitudes_from_m2_to_m9_5(magnitude, half_duration):
    from cmtflow.data.events import earthquake_from_origin, initial_source

    source = initial_source(earthquake_from_origin("2024-03-10T12:00:00", 46.0, 8.0, 10.0, magnitude))
    assert source.mw == pytest.approx(magnitude, abs=1e-9)
    assert half_duration[0] < source.half_duration < half_duration[1]
    conf = check_conf({**ORIGIN, "magnitude": magnitude})
    assert conf["magnitude"] == magnitude


def test_depth_0_is_moved_below_the_surface_and_off_interfaces(tmp_path):
    from cmtflow import stages

    for depth, expected in ((0.0, 1.0), (33.0, 33.02), (10.0, 10.0)):  # scak has an interface at 33 km
        record = stages.resolve_event({**ORIGIN, "depth_km": depth, "model": "scak"}, f"d{depth:g}", tmp_path)
        from cmtflow.source import read_cmtsolution

        initial = read_cmtsolution(Path(record["run_dir"]) / "initial" / "CMTSOLUTION")
        assert initial.depth_km == pytest.approx(expected)


def test_a_slab_event_below_the_crustal_model_is_set_up_in_its_half_space(tmp_path):
    """An intermediate-depth Alaska event (120 km) in scak, whose half-space starts at 66 km:
    the source sits in the half-space; on its top (66 km) it is moved 20 m off."""
    from cmtflow import stages
    from cmtflow.source import read_cmtsolution

    for depth, expected in ((120.0, 120.0), (66.0, 66.02)):
        record = stages.resolve_event({**ORIGIN, "depth_km": depth, "model": "scak"}, f"slab{depth:g}", tmp_path)
        initial = read_cmtsolution(Path(record["run_dir"]) / "initial" / "CMTSOLUTION")
        assert initial.depth_km == pytest.approx(expected)


def test_depth_600_km_in_ak135_is_simulated():
    from cmtflow.solvers.synthetics import synthetics
    from cmtflow.source import Source
    from cmtflow.data.stations import StationPoint

    source = Source.from_strike_dip_rake(0, 45, -90, 5.0, time="2024-03-10T12:00:00", latitude=0.0, longitude=0.0,
                                         depth_km=600.0)
    st, geometry = synthetics(source, [StationPoint("XS", "FAR", "", 0.0, 5.0, 0.0)], "ak135", 1.0, 512)
    z = st.select(channel="*Z")[0].data
    assert np.all(np.isfinite(z)) and np.max(np.abs(z)) > 0


def test_stations_at_0_1_and_179_degrees():
    from cmtflow.errors import StationError
    from cmtflow.data.stations import StationPoint
    from cmtflow.solvers.synthetics import synthetics
    from cmtflow.source import Source

    source = Source.from_strike_dip_rake(0, 45, -90, 4.5, time="2024-03-10T12:00:00", latitude=0.0, longitude=0.0,
                                         depth_km=10.0)
    near = StationPoint("XS", "NEAR", "", 0.0, 0.1, 0.0)
    st, geometry = synthetics(source, [near], "scak", 0.1, 512)
    assert geometry[0]["distance_km"] == pytest.approx(11.1, abs=0.1)
    assert all(np.all(np.isfinite(tr.data)) and np.max(np.abs(tr.data)) > 0 for tr in st.select(channel="*Z"))
    far = StationPoint("XS", "FAR", "", 0.0, 179.0, 0.0)
    with pytest.raises(StationError, match=r"XS.FAR. \(19\d\d\d km\) beyond 2000 km: the embedded 1D solver"):
        synthetics(source, [near, far], "scak", 0.5, 512)
