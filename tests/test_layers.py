"""The package's layers point down: a module imports only from its own package or from a
lower layer (function-level imports included: a lazy import is still a dependency).

The order, lowest first, is the one a reader follows from the physics to the user: errors
and settings; the run folder's layout; the source; Earth models; the run conf's schema;
data access; signal processing; misfit; solvers; the catalogue; the inversion; products
(report); lineage; containerised steps; the stages; alerts; the commands without Airflow and
the demo; the Airflow glue; the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cmtflow

PACKAGE = Path(cmtflow.__file__).parent

#: Lowest first; a module belongs to the longest prefix that names it.
LAYERS = [
    ("cmtflow.errors", "cmtflow.config", "cmtflow.constants"),
    ("cmtflow.workspace",),
    ("cmtflow.source",),
    ("cmtflow.models",),
    ("cmtflow.runconf",),
    ("cmtflow.data",),
    ("cmtflow.processing",),
    ("cmtflow.misfit",),
    ("cmtflow.solvers",),
    ("cmtflow.catalogue",),
    ("cmtflow.inversion",),
    ("cmtflow.report",),
    ("cmtflow.lineage",),
    ("cmtflow.steps",),
    ("cmtflow.stages",),
    ("cmtflow.pipeline",),
    ("cmtflow.alerts",),
    ("cmtflow.commands", "cmtflow.demo", "cmtflow.scenarios"),
    ("cmtflow.airflow",),
    ("cmtflow.cli", "cmtflow.__main__"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> tuple[int, str]:
    """The layer index of ``module`` and the prefix that placed it there."""
    best = max(((i, prefix) for i, prefixes in enumerate(LAYERS) for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), key=lambda x: len(x[1]), default=None)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def imports_of(module: str) -> set[str]:
    """The cmtflow modules ``module`` imports, at any depth of its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cmtflow")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            if base.split(".")[0] == "cmtflow":
                # "from cmtflow import stages" imports the module cmtflow.stages
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return found - {"cmtflow"}


def upward_imports() -> list[str]:
    wrong = []
    for module in sorted(MODULES):
        if module == "cmtflow":
            continue
        mine, my_prefix = layer_of(module)
        for imported in sorted(imports_of(module)):
            theirs, their_prefix = layer_of(imported)
            if theirs > mine and their_prefix != my_prefix:
                wrong.append(f"{module} (layer {my_prefix}) imports {imported} (layer {their_prefix})")
    return wrong


def test_every_module_has_a_layer():
    for module in MODULES:
        if module != "cmtflow":
            layer_of(module)


def test_imports_point_down():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The check fails on a new upward import (a lazy one, inside a function)."""
    fake = tmp_path / "source.py"
    fake.write_text("def f():\n    from cmtflow.airflow import dags\n")
    monkeypatch.setitem(MODULES, "cmtflow.source", fake)
    assert upward_imports() == ["cmtflow.source (layer cmtflow.source) imports cmtflow.airflow.dags "
                                "(layer cmtflow.airflow)"]


def test_no_library_module_imports_airflow_glue_or_the_cli():
    """Only the CLI and the Airflow glue import :mod:`cmtflow.airflow`; nothing imports the CLI."""
    for module in MODULES:
        found = imports_of(module)
        if not module.startswith(("cmtflow.airflow", "cmtflow.cli")):
            assert not any(m.startswith("cmtflow.airflow") for m in found), module
        if module != "cmtflow.__main__":
            assert "cmtflow.cli" not in found, module
