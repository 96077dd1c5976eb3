"""Pydantic v2 models from the manifest's JSON Schemas, written by planforge's own emitter (pyschema).

The emitter runs once per feature, over every schema a service's routes use and every event payload a
service publishes or consumes; each service's models.py is then the part of that module it needs: the
emitter knows every class's name and the classes it refers to, so the subset is a closure, not a re-parse.
It replaced datamodel-code-generator, which took about 4 ms a schema (5.8 s of a 12.9 s cold generate on a
500-operation feature) plus as much again to parse its output back; the models are only a typed view, since
bodies and events are validated against the JSON Schema first (see pyschema on "looser, never stricter").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from planforge_runtime.problem import PROBLEM_SCHEMA

from planforge.escape import py_doc
from planforge.model import Event, Model, Service
from planforge.schemawalk import referenced
from planforge.targets.pylayout import import_block
from planforge.targets.pyschema import Definition, Emitter
from planforge.targets.service_events import service_events

__all__ = ["FeatureModels", "Models", "event_class_name", "event_description", "feature_models", "python_models"]

_STDLIB = frozenset({"datetime", "enum", "ipaddress", "typing", "uuid"})


@dataclass(frozen=True)
class Models:
    """models.py and the class each schema and each event payload became (clashing names are renamed)."""

    source: str
    classes: dict[str, str]
    events: dict[str, str]


@dataclass(frozen=True)
class FeatureModels:
    """The feature's class definitions in dependency order, and the class of each schema and event payload."""

    definitions: dict[str, Definition]
    classes: dict[str, str]
    events: dict[str, str]
    # Each definition's place, built once: every service asks for a subset in this order.
    order: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", {name: index for index, name in enumerate(self.definitions)})

    def subset(self, header: str, roots: list[str]) -> str:
        """The module source for the classes roots and what they refer to, under header (a docstring line)."""
        wanted: set[str] = set()
        pending = list(roots)
        while pending:
            name = pending.pop()
            if name not in wanted and name in self.definitions:
                wanted.add(name)
                pending.extend(self.definitions[name].uses)
        kept = [self.definitions[name] for name in sorted(wanted, key=self.order.__getitem__)]
        return _module(header, kept)


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
        base = "Event" + base if base[0].isdigit() else base
        key = base if base not in taken else base + "Event"
        number = 1
        while key in taken:
            number += 1
            key = f"{base}Event{number}"
        taken.add(key)
        keys[event.name] = key
    return keys


def event_description(event: Event) -> str:
    """The payload class's docstring: the data schema's own description, else the event's summary."""
    data = event.data.value
    own = data.get("description") if isinstance(data, dict) else None
    if isinstance(own, str) and own.strip():
        return own
    return f"The data of {event.name}" + (f": {event.summary}" if event.summary else ".")


def _wanted(model: Model) -> tuple[dict[str, Any], list[str], list[Event]]:
    """Every schema by name (the Problem schema too), the names some service or event needs, and the events."""
    known = {"Problem": PROBLEM_SCHEMA, **{name: schema.value for name, schema in model.schemas}}
    events = _feature_events(model)
    wanted = {name for s in model.services for name in s.schemas if name in known}
    wanted |= set(referenced(known, [e.data.value for e in events]))
    return known, [name for name in known if name in wanted], events


def feature_models(model: Model) -> FeatureModels:
    """The classes of the feature's schemas and event payloads (none without services), in one pass."""
    if not model.services:
        return FeatureModels({}, {}, {})
    known, names, events = _wanted(model)
    emitter = Emitter(known, set())
    for name in known:
        emitter.declare(name)
    keys = _event_keys(events, emitter.taken | emitter.fields)
    emitter.taken |= set(keys.values())
    classes = {name: emitter.emit_named(name) for name in names}
    for event in events:
        emitter.emit_event(keys[event.name], event.data.value, py_doc(event_description(event)))
    return FeatureModels(emitter.definitions, classes, keys)


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
    source = feature.subset(header, [*classes.values(), *events.values()])
    return Models(source, classes, events)


def _module(header: str, definitions: list[Definition]) -> str:
    """The module text: header, imports, the classes, and a rebuild of each class that refers to a later one."""
    stdlib: set[str] = set()
    third_party: set[str] = set()
    for definition in definitions:
        for module, name in definition.imports:
            (stdlib if module in _STDLIB else third_party).add(f"from {module} import {name}")
    imports = import_block(stdlib, third_party, set())
    head = header + "\n\nfrom __future__ import annotations\n" + ("\n" + imports + "\n" if imports else "")
    defined: set[str] = set()
    rebuilds = []
    for definition in definitions:
        defined.add(definition.name)
        if definition.kind != "enum" and definition.uses - defined:
            rebuilds.append(f"{definition.name}.model_rebuild()")
    body = "\n\n\n".join(d.text for d in definitions)
    if rebuilds:
        body += "\n\n\n" + "\n".join(rebuilds)
    return head + ("\n\n" + body if body else "") + "\n"
