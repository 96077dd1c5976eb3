"""The event wiring of a generated service: services/<package>/events.py and its user-owned consumer stubs.

events.py reads the broker topology the service declares (idempotently, at start-up) from topology.json beside
it, and holds the EventCatalog of every event the service publishes or consumes (with its JSON Schema and its
pydantic model in models.py), and the ServiceEvents that create_app turns into a running EventBus: one consumer
per queue, each event handled by impl/on_<event>.py with the event's model, with the cache invalidations and
compensation the manifest implies. Everything is computed here; the templates only format.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, cast

from planforge.escape import py_doc
from planforge.model import Event, Model, Service
from planforge.model import Invalidation as ModelInvalidation
from planforge.targets.named import referenced_names
from planforge.targets.pylayout import Seq, assignment, code, import_block, kw, literal, py_str, tuple_of
from planforge.templating import render_template
from planforge.topology import service_topology

__all__ = [
    "ConsumerStub",
    "consumer_module",
    "consumer_stubs",
    "events_contract_tests",
    "events_module",
    "has_events",
    "service_events",
    "topology_json",
]


def has_events(service: Service) -> bool:
    """True when the service publishes or consumes any event."""
    return bool(service.publishes or service.consumes)


def consumer_module(event: str) -> str:
    """impl/<this>.py holds the handler of a consumed event: on_user_created for user.created."""
    return "on_" + re.sub(r"[^0-9a-zA-Z]+", "_", event).strip("_").lower()


def service_events(model: Model, service: Service) -> list[Event]:
    """The events the service's catalog holds: published, consumed and compensation events, sorted by name."""
    names = set(service.publishes) | {c.event for c in service.consumes}
    names |= {target for _, target in service.compensations}
    return [e for e in sorted(model.events, key=lambda e: e.name) if e.name in names]


def _invalidations(service: Service, event: Event) -> list[Seq | str]:
    """Invalidation(...) for each cache entry set the model says the service drops when event arrives."""
    result: list[Seq | str] = []
    for found in service.invalidations:
        if found.event != event.name or found.published:
            continue
        result.append(_invalidation(found, service))
    return result


def _invalidation(found: ModelInvalidation, service: Service) -> Seq:
    items: list[Seq | str] = [f"cache={py_str(found.cache)}"]
    if found.whole:
        items.append("whole=True")
    else:
        items.append(kw("fields", tuple_of([py_str(f) for f in found.keys])))
    if found.owner != service.name:
        items.append(f"owner={py_str(found.owner)}")
    return Seq("Invalidation", tuple(items))


def _consumers(model: Model, service: Service) -> list[Seq | str]:
    """ConsumerConfig(...) for each queue the service consumes, in queue order."""
    compensations = service.compensations
    queues = sorted({c.queue for c in service.consumes})
    result: list[Seq | str] = []
    for queue in queues:
        consumed = sorted(c.event for c in service.consumes if c.queue == queue)
        events: list[Seq | str] = [_consumed(model, service, name) for name in consumed]
        items: list[Seq | str] = [f"queue={py_str(queue)}", kw("events", tuple_of(events))]
        pairs = [Seq("", (py_str(on), py_str(to)), is_tuple=True) for on, to in compensations if on in consumed]
        if pairs:
            items.append(kw("compensations", tuple_of(list(pairs))))
        result.append(Seq("ConsumerConfig", tuple(items)))
    return result


def _consumed(model: Model, service: Service, name: str) -> Seq:
    items: list[Seq | str] = [f"event={py_str(name)}", f"module={py_str(consumer_module(name))}"]
    invalidations = _invalidations(service, model.event(name))
    if invalidations:
        items.append(kw("invalidates", tuple_of(invalidations)))
    return Seq("ConsumedEvent", tuple(items))


def _referenced(model: Model, events: list[Event]) -> dict[str, Any]:
    """The manifest's named schemas that the events' schemas refer to (bare $ref: Name), transitively."""
    named = model.named_schemas()
    return {name: named[name] for name in sorted(referenced_names(model, [e.data.value for e in events]))}


def _spec(event: Event, classes: dict[str, str]) -> Seq:
    items = (
        f"name={py_str(event.name)}",
        f"exchange={py_str(event.exchange)}",
        f"routing_key={py_str(event.routing_key)}",
        kw("schema", literal(event.data.value)),
        f"model=models.{classes[event.name]}",
    )
    return Seq("EventSpec", items)


def topology_json(model: Model, service: Service) -> str:
    """services/<package>/topology.json: the exchanges the service publishes to, its queues with their
    bindings, retry chains and dead letter paths (what it declares at start-up)."""
    # One line per exchange, queue and binding: a fifth of the indented size, and still one diff line per change.
    sections = []
    for key, items in cast(dict[str, list[Any]], service_topology(model, service)).items():
        rows = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in items)
        sections.append(f"  {json.dumps(key)}: [\n{rows}\n  ]" if items else f"  {json.dumps(key)}: []")
    return "{\n" + ",\n".join(sections) + "\n}\n"


def events_module(model: Model, service: Service, title: str, classes: dict[str, str]) -> str:
    """services/<package>/events.py (classes: the model class of each of its events)."""
    events = service_events(model, service)
    consumers = _consumers(model, service)
    runtime = {"from planforge_runtime.events import ServiceEvents, read_topology"}
    runtime |= {"from planforge_runtime.events import ConsumedEvent, ConsumerConfig"} if consumers else set()
    on_publish = [
        Seq("", (py_str(i.event), _invalidation(i, service)), is_tuple=True)
        for i in service.invalidations
        if i.published
    ]
    if "Invalidation(" in "".join(code(c) for c in [*consumers, *on_publish]):
        runtime.add("from planforge_runtime.events import Invalidation")
    runtime.add("from planforge_runtime.messaging import EventCatalog, EventSpec")
    service_items: tuple[Seq | str, ...] = (
        "topology=TOPOLOGY",
        "catalog=CATALOG",
        kw("publishes", tuple_of([py_str(e) for e in service.publishes])),
        kw("consumers", tuple_of(consumers)),
        *([kw("invalidates", tuple_of(list(on_publish)))] if on_publish else []),
    )
    return render_template(
        "services/events.py.j2",
        title=title,
        imports=import_block({"from typing import Any"}, runtime, {"from . import models"}),
        schemas=assignment("SCHEMAS: dict[str, Any]", _referenced(model, events)),
        catalog=code(
            Seq("CATALOG = EventCatalog", (Seq("", tuple(_spec(e, classes) for e in events), "[]"), "SCHEMAS"))
        ),
        service_events=code(Seq("EVENTS = ServiceEvents", service_items)),
    )


@dataclass(frozen=True)
class ConsumerStub:
    """A user-owned consumer file: its module name and its text."""

    module: str
    source: str


def consumer_stubs(service: Service, classes: dict[str, str]) -> list[ConsumerStub]:
    """impl/on_<event>.py for every event the service consumes, created once (classes: each event's model)."""
    stubs = []
    for consumption in sorted(service.consumes, key=lambda c: c.event):
        module = consumer_module(consumption.event)
        source = render_template(
            "services/impl/consumer.py.j2",
            module=module,
            event=consumption.event,
            model=f"models.{classes[consumption.event]}",
            queue=consumption.queue,
            does=py_doc(consumption.does or f"Handle {consumption.event}"),
        )
        stubs.append(ConsumerStub(module, source))
    return stubs


# Events without examples are tested with this many valid samples of their schema.
SAMPLES = 3


def events_contract_tests(model: Model, title: str) -> str | None:
    """tests/test_events_contract.py, or None when no service has events."""
    services = [s for s in sorted(model.services, key=lambda s: s.package) if has_events(s)]
    if not services:
        return None
    known: dict[str, list[str]] = {}
    for service in services:
        for event in service_events(model, service):
            known.setdefault(event.name, []).append(service.package)
    events = [e for e in sorted(model.events, key=lambda e: e.name) if e.name in known]
    consumers = sorted((s.package, c.queue, c.event) for s in services for c in s.consumes)
    constants = [
        assignment("EXAMPLES: dict[str, list[Any]]", {e.name: [x.value for x in e.examples] for e in events}),
        assignment("KNOWN_BY", known),
        _cases("EXAMPLE_CASES", [(e.name, i) for e in events for i in range(len(e.examples) or SAMPLES)]),
        _cases("PRODUCERS", sorted((s.package, e) for s in services for e in s.publishes)),
        _cases("CONSUMERS", consumers),
        _cases("PUBLICATIONS", [(e.name, e.exchange, e.routing_key) for e in events if e.publishers]),
        assignment("ROUTES: dict[str, list[str]]", _routes(model)),
        assignment("DECLARED_BY: list[str]", [s.package for s in services]),
    ]
    return render_template(
        "services/tests/test_events_contract.py.j2",
        title=title,
        constants="\n".join(constants),
        consumers=consumers,
        samples=SAMPLES,
    )


def _cases(name: str, rows: list[tuple[Any, ...]]) -> str:
    """NAME: list[tuple[...]] = [...] of pytest parameter rows."""
    items = tuple(
        Seq("", tuple(py_str(v) if isinstance(v, str) else repr(v) for v in row), is_tuple=True) for row in rows
    )
    kinds = ", ".join("str" if isinstance(v, str) else "int" for v in rows[0]) if rows else "str"
    return code(Seq(f"{name}: list[tuple[{kinds}]] = ", items, "[]"))


def _routes(model: Model) -> dict[str, list[str]]:
    """Each manifest queue and the published events that must reach it: those its consumers declare."""
    published = {e.name for e in model.events if e.publishers}
    routes: dict[str, set[str]] = {q.name: set() for q in model.queues}
    for service in model.services:
        for consumption in service.consumes:
            if consumption.event in published:
                routes.setdefault(consumption.queue, set()).add(consumption.event)
    return {queue: sorted(events) for queue, events in sorted(routes.items())}
