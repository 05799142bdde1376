"""The typed run conf: one definition for the trigger form, the validation and the stages."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from cmtflow.runconf import KEYS, ConfError, RunConf, airflow_params

ORIGIN = {"origin_time": "2024-01-01T00:00:00", "latitude": 46.0, "longitude": 8.0, "depth_km": 10.0,
          "magnitude": 4.5}


def test_the_form_the_schema_and_the_fields_are_one_definition():
    fields = dataclasses.fields(RunConf)
    assert [f.name for f in fields] == list(KEYS) == list(airflow_params())
    hints = typing.get_type_hints(RunConf)
    python_type = {"string": str, "number": float, "integer": int, "boolean": bool, "null": type(None)}
    for f in fields:
        key = KEYS[f.name]
        assert f.default == key.default and getattr(RunConf, f.name) == key.default
        schema_types = key.schema.get("type", ["null", "string"])  # nullable strings spell it with a spread
        schema_types = [schema_types] if isinstance(schema_types, str) else schema_types
        allowed = ({type(v) for v in key.schema["enum"]} if "enum" in key.schema
                   else {python_type[t] for t in schema_types})
        assert set(typing.get_args(hints[f.name]) or [hints[f.name]]) == allowed, f.name


def test_a_checked_conf_is_typed_and_frozen_and_a_bad_one_is_refused_naming_the_key(tmp_path):
    conf = RunConf.checked({**ORIGIN, "tmin": 10.0, "tmax": 40.0}, roots=[tmp_path])
    assert (conf.tmin, conf.tmax, conf.min_stations, conf.model) == (10.0, 40.0, 3, "auto")
    with pytest.raises(dataclasses.FrozenInstanceError):
        conf.tmin = 5.0
    assert conf.with_values(tmin=20.0).tmin == 20.0 and conf.tmin == 10.0
    with pytest.raises(ConfError, match="^tmax: "):
        RunConf.checked({**ORIGIN, "tmax": "long"}, roots=[tmp_path])


def test_a_switch_whose_default_is_auto_is_a_choice_of_three_in_the_form():
    """Airflow draws a boolean as a switch that cannot go back to empty: the tri-state keys are a
    dropdown (first non-null type "string", an enum) labelled auto / on / off."""
    for name in ("depth_search", "half_duration_search"):
        schema = airflow_params()[name].schema
        assert [t for t in schema["type"] if t != "null"][0] == "string" and schema["enum"] == [None, True, False]
        assert schema["values_display"] == {"null": "auto (where it applies)", "true": "on", "false": "off"}
    assert "null" in airflow_params()["data_quantity"].schema["values_display"]  # no literal "null" shown
    with pytest.raises(ConfError, match="^depth_search: 'yes' is not one of"):
        RunConf.checked({**ORIGIN, "depth_search": "yes"}, roots=[])


def test_a_stored_conf_of_an_older_version_reads_with_defaults_for_the_keys_it_lacks():
    stored = {**ORIGIN, "tmin": 15.0, "a_key_since_removed": 1}
    conf = RunConf.from_dict(stored)
    assert conf.tmin == 15.0 and conf.bootstrap == KEYS["bootstrap"].default
    assert "a_key_since_removed" not in conf.as_dict() and RunConf.from_dict(conf.as_dict()) == conf


def test_the_model_label_names_the_par_file_for_specfem3d():
    assert RunConf(model="scak").model_label == "scak"
    assert RunConf(solver="specfem3d", specfem_par_file="/m/DATA/Par_file").model_label == "/m/DATA/Par_file"
