"""The installation's settings: every ``CMTFLOW_*`` variable defined once, parsed with an error
that names it, and documented from its definition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cmtflow.config import Settings, all_settings, input_roots, settings
from cmtflow.errors import CmtflowError

ROOT = Path(__file__).parents[1]
#: Variables of the shell build script only (scripts/build-specfem3d), never read by Python.
SCRIPT_ONLY = {"CMTFLOW_SPECFEM_CACHE"}


def test_every_variable_the_code_chart_images_and_docs_name_is_a_defined_setting():
    defined = {s.name for s in all_settings()}
    places = [*(ROOT / "src" / "cmtflow").rglob("*.py"), *(ROOT / "helm").rglob("*.yaml"),
              *(ROOT / "images").rglob("Dockerfile"), *(ROOT / "docs").glob("*.md"), ROOT / "README.md"]
    unknown = set()
    for path in places:
        for match in re.finditer(r"(CMTFLOW_[A-Z0-9_]*[A-Z0-9])(_\*|_<[A-Z]+>)?", path.read_text()):
            name, family = match.groups()  # a family: CMTFLOW_K8S_* or CMTFLOW_IMAGE_<ROLE>
            if family and any(d.startswith(name + "_") for d in defined):
                continue
            if name not in defined | SCRIPT_ONLY:
                unknown.add(f"{path.relative_to(ROOT)}: {name}")
    assert not unknown, sorted(unknown)


def test_no_module_but_config_reads_a_cmtflow_variable_from_the_environment():
    reads = re.compile(r"(environ\.get|getenv)\(\s*[\"']CMTFLOW_|environ\[[\"']CMTFLOW_[A-Z_]+[\"']\](?!\s*=)")
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "src" / "cmtflow").rglob("*.py")
             if p.name != "config.py" and reads.search(p.read_text())]
    assert not found


def test_a_bad_value_is_refused_naming_the_variable(monkeypatch):
    for name, value in (("CMTFLOW_RUNNER_IDLE_S", "soon"), ("CMTFLOW_GREENS_MEMORY_GB", "0"),
                        ("CMTFLOW_RUNNER", "fast"), ("CMTFLOW_K8S_DEFERRABLE", "maybe"),
                        ("CMTFLOW_MAX_ACTIVE_RUNS", "0"), ("CMTFLOW_ALERT_CONF", "{not json")):
        monkeypatch.setenv(name, value)
        attribute = name.removeprefix("CMTFLOW_").lower()
        with pytest.raises(CmtflowError, match=f"^{name}='{re.escape(value)}': "):
            getattr(settings, attribute)


def test_values_are_read_when_asked_for_and_an_empty_one_is_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("CMTFLOW_DATA_POLL_S", "0.2")
    assert settings.data_poll_s == 1.0  # at least one second between two questions
    monkeypatch.setenv("CMTFLOW_DATA_POLL_S", "30")
    assert settings.data_poll_s == 30.0
    monkeypatch.setenv("CMTFLOW_DATA_POLL_S", " ")
    assert settings.data_poll_s == Settings.data_poll_s.default == 15.0
    monkeypatch.setenv("CMTFLOW_K8S_DEFERRABLE", "Yes")
    assert settings.k8s_deferrable is True
    monkeypatch.setenv("CMTFLOW_INPUT_ROOTS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert input_roots() == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]


def test_each_setting_is_documented_in_its_section():
    page = (ROOT / "docs" / "configuration.md").read_text()
    for item in all_settings():
        section = page.index(f"\n## {item.section}\n")
        row = page.index(f"| `{item.name}` |")
        assert row > section and item.description in page[row:page.index("\n", row)]
