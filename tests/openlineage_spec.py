"""Validation of OpenLineage events against the JSON Schemas in ../shared/data/openlineage-spec.

Every event is validated against ``OpenLineage.json``; every facet whose ``_schemaURL``
names a facet schema present there (by file name) is validated against that schema too.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from referencing import Registry, Resource


def registry(spec: Path) -> tuple[Registry, dict, dict[str, dict]]:
    main = json.loads((spec / "OpenLineage.json").read_text())
    facets = {p.stem: json.loads(p.read_text()) for p in (spec / "facets").glob("*.json")}
    resources = [(main["$id"], Resource.from_contents(main))]
    resources += [(f["$id"], Resource.from_contents(f)) for f in facets.values()]
    return Registry().with_resources(resources), main, facets


def validate_event(event: dict, spec: Path, checked: set | None = None) -> None:
    """Raise jsonschema.ValidationError if ``event`` (or a known facet of it) breaks the spec."""
    reg, main, facets = registry(spec)
    jsonschema.Draft202012Validator(main, registry=reg, format_checker=jsonschema.FormatChecker()).validate(event)
    groups = [event.get("run", {}).get("facets", {}), event.get("job", {}).get("facets", {})]
    for ds in event.get("inputs", []) + event.get("outputs", []):
        groups.append(ds.get("facets", {}))
    for group in groups:
        for facet in group.values():
            name = facet.get("_schemaURL", "").split("#")[0].rsplit("/", 1)[-1].removesuffix(".json")
            if name in facets:
                schema = facets[name]
                ref = facet["_schemaURL"].split("#", 1)[1] if "#" in facet["_schemaURL"] else ""
                target = {"$ref": f"{schema['$id']}#{ref}"} if ref else schema
                jsonschema.Draft202012Validator(target, registry=reg).validate(facet)
                if checked is not None:
                    checked.add(name)
