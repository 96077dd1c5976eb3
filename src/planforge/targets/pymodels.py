"""Pydantic v2 models from the manifest's JSON Schemas, by datamodel-code-generator used as a library.

The generator runs once per feature, over every schema a service's routes use and every event payload a
service publishes or consumes; each service's models.py is then the part of that module it needs
(pysplit). The generator is imported only when a result is not already in planforge's content cache, so
validate and check stay light; the cache key holds the generator's version and every input.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from planforge_runtime.problem import PROBLEM_SCHEMA

from planforge.cache import cached_text
from planforge.escape import py_doc
from planforge.model import Event, Model, Service
from planforge.schemawalk import point_refs, referenced
from planforge.targets.pysplit import Module, parse_module
from planforge.targets.registry import TargetError
from planforge.targets.service_events import service_events

__all__ = ["FeatureModels", "Models", "event_class_name", "feature_models", "python_models"]


@dataclass(frozen=True)
class Models:
    """models.py and the class each schema and each event payload became (the generator renames clashes)."""

    source: str
    classes: dict[str, str]
    events: dict[str, str]


@dataclass(frozen=True)
class FeatureModels:
    """The feature's one generated module, and the class of each schema and event payload in it."""

    module: Module
    classes: dict[str, str]
    events: dict[str, str]


def _marker(name: str) -> str:
    return f"The manifest's {name} schema."


def _event_marker(index: int) -> str:
    # Replaced by the schema's own description once the class is found (a description may repeat).
    return f"planforge-event-{index}"


def event_class_name(event: str) -> str:
    """The class an event's payload is named after: UserCreated for user.created."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9a-zA-Z]+", event) if part)


def _feature_events(model: Model) -> list[Event]:
    """Events some service publishes, consumes or compensates with, sorted by name."""
    names = {e for s in model.services for e in s.publishes} | {c.event for s in model.services for c in s.consumes}
    names |= {target for s in model.services for _, target in s.compensations}
    return [e for e in sorted(model.events, key=lambda e: e.name) if e.name in names]


def _event_keys(events: list[Event], taken: set[str]) -> dict[str, str]:
    """A component name per event, unlike any schema's and each other's."""
    keys: dict[str, str] = {}
    for event in events:
        base = event_class_name(event.name) or "Event"
        key = base if base not in taken else base + "Event"
        number = 1
        while key in taken:
            number += 1
            key = f"{base}Event{number}"
        taken.add(key)
        keys[event.name] = key
    return keys


def _event_schema(data: Any, marker: str) -> dict[str, Any]:
    """An event's payload as a component: a bare $ref becomes a subclass (allOf), not a wrapper RootModel."""
    pointed = point_refs(data, "#/components/schemas/")
    if isinstance(pointed, dict) and "$ref" in pointed:
        return {"allOf": [{k: v for k, v in pointed.items() if k != "description"}], "description": marker}
    body = dict(pointed) if isinstance(pointed, dict) else {}
    return body | {"description": marker}


def event_description(event: Event) -> str:
    """The payload class's docstring: the data schema's own description, else the event's summary."""
    data = event.data.value
    own = data.get("description") if isinstance(data, dict) else None
    if isinstance(own, str) and own.strip():
        return own
    return f"The data of {event.name}" + (f": {event.summary}" if event.summary else ".")


def _document(model: Model) -> tuple[dict[str, Any], list[str], list[Event]]:
    """The OpenAPI document of every schema a service uses and every event payload, the schemas' names in it,
    and the events in the order of their markers."""
    known = {"Problem": PROBLEM_SCHEMA, **{name: schema.value for name, schema in model.schemas}}
    events = _feature_events(model)
    wanted = {name for s in model.services for name in s.schemas if name in known}
    wanted |= set(referenced(known, [e.data.value for e in events]))
    names = [name for name in known if name in wanted]
    schemas: dict[str, Any] = {
        name: point_refs(known[name], "#/components/schemas/") | {"description": _marker(name)} for name in names
    }
    keys = _event_keys(events, set(names))
    for index, event in enumerate(events):
        schemas[keys[event.name]] = _event_schema(event.data.value, _event_marker(index))
    document = {
        "openapi": "3.1.0",
        "info": {"title": "", "version": ""},
        "paths": {},
        "components": {"schemas": schemas},
    }
    return document, names, events


def feature_models(model: Model, width: int) -> FeatureModels:
    """One datamodel-code-generator run over the feature's schemas and event payloads (none without services)."""
    if not model.services:
        return FeatureModels(Module((), ()), {}, {})
    document, names, events = _document(model)
    key = json.dumps([_generator_version(), document, width])
    source = cached_text("models", key, lambda: _generate(document, width))
    markers = {_marker(name): name for name in names}
    markers |= {_event_marker(i): e.name for i, e in enumerate(events)}
    found = _classes(source, markers)
    descriptions = {_event_marker(i): event_description(e) for i, e in enumerate(events)}
    source = _restore_descriptions(source, descriptions)
    classes = {name: found[name] for name in names}
    return FeatureModels(parse_module(source), classes, {e.name: found[e.name] for e in events})


def python_models(
    feature: FeatureModels, model: Model, service: Service, title: str, called: tuple[str, ...] = ()
) -> Models:
    """The service's models.py: the classes its routes and events need, and those of the routes it calls (called,
    with the schemas they refer to; title: safe for a docstring)."""
    names = [*service.schemas, *(n for n in called if n not in service.schemas)]
    classes = {name: feature.classes[name] for name in names if name in feature.classes}
    events = {e.name: feature.events[e.name] for e in service_events(model, service)}
    header = f'"""Request and response models of {title}, from the manifest."""'
    if events:
        header = f'"""Request, response and event models of {title}, from the manifest."""'
    source = feature.module.subset(header, [*classes.values(), *events.values()])
    return Models(source, classes, events)


@cache
def _generator_version() -> str:
    from importlib.metadata import version

    return version("datamodel-code-generator")


def _generate(document: dict[str, Any], width: int) -> str:
    """Run datamodel-code-generator on an OpenAPI document holding only component schemas."""
    from datamodel_code_generator import generate
    from datamodel_code_generator.enums import DataModelType, InputFileType
    from datamodel_code_generator.format import Formatter, PythonVersion

    source = generate(
        json.dumps(document),
        input_file_type=InputFileType.OpenAPI,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        formatters=[Formatter.BUILTIN],
        builtin_format_line_length=width,
        disable_timestamp=True,
        custom_file_header='"""Models."""',
        use_schema_description=True,
        use_annotated=True,
        field_constraints=True,
        use_double_quotes=True,
        use_standard_collections=True,
        use_union_operator=True,
    )
    if not isinstance(source, str):
        raise TargetError("datamodel-code-generator returned several modules for one document")
    return source.rstrip("\n") + "\n"


def _classes(source: str, markers: dict[str, str]) -> dict[str, str]:
    """The class holding each marker (as its docstring or a field description), by the marker's name."""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str) and inner.value.strip() in markers:
                found.setdefault(markers[inner.value.strip()], node.name)
    missing = [name for name in markers.values() if name not in found]
    if missing:
        raise TargetError(f"datamodel-code-generator made no class for schema(s) {', '.join(missing)}")
    return found


def _restore_descriptions(source: str, descriptions: dict[str, str]) -> str:
    """Event payload classes get their own description back: as the docstring, and in a root model's Field."""
    lines = source.split("\n")
    tree = ast.parse(source)
    inserts: list[tuple[int, list[str]]] = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        doc = ast.get_docstring(node, clean=True)
        held = {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        marker = next((m for m in descriptions if m in held), None)
        if marker is None:
            continue
        text = py_doc(descriptions[marker])
        if doc != marker:
            # A root model: the generator put the description in Field(); the docstring is added.
            inserts.append((node.body[0].lineno - 1, ["    " + '"""', f"    {text}", "    " + '"""', ""]))
    for index, block in sorted(inserts, reverse=True):
        lines[index:index] = block
    result = "\n".join(lines)
    for marker, description in descriptions.items():
        result = result.replace(f'    """\n    {marker}\n    """', f'    """\n    {py_doc(description)}\n    """')
        result = result.replace(f'description="{marker}", ', "").replace(f'description="{marker}"', "")
    return result
