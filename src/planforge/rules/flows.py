"""PF501-PF508: flow steps agree with what services publish, consume and serve, in an order that can happen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from planforge.diagnostics import Diagnostic
from planforge.loader import JsonPath
from planforge.rules.calls import check_call
from planforge.rules.manifest import Manifest
from planforge.rules.references import ACTORS

__all__ = ["check"]

Step = dict[str, Any]


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Every flow: non-empty, uniquely named, each step possible for its actor, events before reactions."""
    first: dict[str, int] = {}
    for index, flow in enumerate(m.flows):
        path: JsonPath = ("flows", index)
        name = flow["name"]
        if name in first:
            yield m.error(
                "PF507",
                (*path, "name"),
                f"flow '{name}' is already declared as flows[{first[name]}]",
                "give each flow its own name",
            )
        first.setdefault(name, index)
        if not flow.get("steps") and not flow.get("events"):
            yield m.error(
                "PF507",
                (*path, "name"),
                f"flow '{name}' has neither steps nor events",
                "add the steps of the flow, or the events a synchronisation point is about",
            )
        for number, step in enumerate(flow.get("steps", [])):
            yield from _step(m, (*path, "steps", number), step)
        yield from _order(m, path, flow.get("steps", []))


def _step(m: Manifest, path: JsonPath, step: Step) -> Iterator[Diagnostic]:
    actor = step["by"]
    if actor in ACTORS:
        for key in ("on", "publishes"):
            if key in step:
                yield m.error(
                    "PF506",
                    (*path, key),
                    f"a step by the {actor} cannot use '{key}'",
                    "only services publish and consume events; set 'by' to the service",
                    key=True,
                )
    elif actor in m.services:
        yield from _events_of(m, path, actor, step)
    if "compensation" in step and "on" not in step:
        yield m.error(
            "PF508",
            (*path, "compensation"),
            "compensation on a step that consumes no event",
            "only a step with 'on' can be compensated: it publishes the compensation when the event is dead-lettered",
            key=True,
        )
    if "call" in step:
        yield from check_call(m, path, actor, step["call"])


def _events_of(m: Manifest, path: JsonPath, service: str, step: Step) -> Iterator[Diagnostic]:
    spec = m.services[service]
    published = [
        (("publishes",), step.get("publishes")),
        (("compensation", "publishes"), step.get("compensation", {}).get("publishes")),
    ]
    for where, event in published:
        if event in m.events and event not in spec.get("publishes", []):
            yield m.error(
                "PF501",
                (*path, *where),
                f"{service} publishes '{event}' in this step, but its publishes list does not include it",
                f"add '{event}' to services.{service}.publishes",
            )
    event = step.get("on")
    if event in m.events and not any(c["event"] == event for c in spec.get("consumes", [])):
        yield m.error(
            "PF502",
            (*path, "on"),
            f"{service} reacts to '{event}' in this step, but does not consume it",
            f"add {{event: {event}, queue: ...}} to services.{service}.consumes",
        )


def _order(m: Manifest, path: JsonPath, steps: list[Step]) -> Iterator[Diagnostic]:
    first: dict[str, int] = {}
    for number, step in enumerate(steps):
        for event in (step.get("publishes"), step.get("compensation", {}).get("publishes")):
            if event:
                first.setdefault(event, number)
    for number, step in enumerate(steps):
        event = step.get("on")
        if event in first and first[event] > number:
            yield m.error(
                "PF504",
                (*path, "steps", number, "on"),
                f"step {number + 1} reacts to '{event}', which step {first[event] + 1} publishes later",
                "put the step that publishes the event first",
            )
