"""Each flow's sequence diagram, derived from its steps: calls through the gateway, events through the broker,
compensations, and what each actor does as a note. Labels stay raw here; the plan escapes them for mermaid."""

from __future__ import annotations

from planforge.model import Datastore, DiagramNode, Gateway, SequenceMessage, Service, Step
from planforge.paths import is_under, parse_call, template_matches

__all__ = ["sequence"]

_CLIENT = DiagramNode("CLIENT", "Client", "actor")
_GATEWAY = DiagramNode("GATEWAY", "API Gateway", "box")
_BROKER = DiagramNode("BROKER", "Message broker", "box")


def sequence(
    steps: tuple[Step, ...], services: tuple[Service, ...], datastores: tuple[Datastore, ...], gateway: Gateway | None
) -> tuple[tuple[DiagramNode, ...], tuple[SequenceMessage, ...]]:
    """(participants in order of appearance, lines) of the flow made of steps; empty without steps."""
    nodes = {s.name: DiagramNode(s.node, s.title, "box") for s in services} | {"client": _CLIENT}
    if gateway is not None:
        nodes["gateway"] = _GATEWAY
    broker = next((DiagramNode(d.node, d.title, "box") for d in datastores if d.kind == "rabbitmq"), _BROKER)
    lines: list[SequenceMessage] = []
    pending: list[list[SequenceMessage]] = []  # unanswered call chains, each innermost reply first
    for step in steps:
        actor = nodes.get(step.by, DiagramNode(step.by.upper(), step.by, "box")).id
        lines += _answered(pending, actor)
        if step.on:
            lines.append(SequenceMessage("event", broker.id, actor, step.on))
        lines.append(SequenceMessage("note", actor, actor, step.does))
        if step.call:
            calls = _call(step.by, step.call, services, nodes, gateway)
            lines += calls
            answer = _answer(step.call, services, gateway)
            pending.append([SequenceMessage("reply", c.target, c.source, answer) for c in reversed(calls)])
        if step.publishes:
            lines.append(SequenceMessage("event", actor, broker.id, step.publishes))
        if step.compensation_event:
            lines.append(SequenceMessage("opt", actor, actor, f"step {step.number} fails for good"))
            lines.append(SequenceMessage("event", actor, broker.id, step.compensation_event))
            if step.compensation_does:
                lines.append(SequenceMessage("note", actor, actor, step.compensation_does))
            lines.append(SequenceMessage("end", actor, actor, ""))
    lines += _answered(pending, None)
    return _participants(lines, [*nodes.values(), broker]), tuple(lines)


def _call(
    by: str, call: str, services: tuple[Service, ...], nodes: dict[str, DiagramNode], gateway: Gateway | None
) -> list[SequenceMessage]:
    """The requests of one call: to the gateway and on to the routed service, or straight to the service."""
    method, path = parse_call(call)
    source = nodes[by].id if by in nodes else by.upper()
    for route in gateway.routes if gateway and by == "client" else ():
        if is_under(path, route.prefix):
            inner = (
                path[len(route.strip_prefix) :] if route.strip_prefix and is_under(path, route.strip_prefix) else path
            )
            target = nodes[route.service].id if route.service in nodes else route.service.upper()
            return [
                SequenceMessage("call", source, _GATEWAY.id, call),
                SequenceMessage("call", _GATEWAY.id, target, f"{method} {inner}"),
            ]
    owner = next((s for s in services for r in s.routes if r.method == method and template_matches(r.path, path)), None)
    target = owner.node if owner else (_GATEWAY.id if gateway and by == "client" else source)
    return [SequenceMessage("call", source, target, call)]


def _answered(pending: list[list[SequenceMessage]], actor: str | None) -> list[SequenceMessage]:
    """The replies due before a step by actor (all of them at the end, actor None): a call is answered before
    its caller acts again, or once the flow moves to someone the call chain does not involve."""
    due: list[SequenceMessage] = []
    for chain in reversed(list(pending)):
        involved = {m.source for m in chain} | {m.target for m in chain}
        if actor is None or chain[-1].target == actor or actor not in involved:
            due += chain
            pending.remove(chain)
    return due


def _answer(call: str, services: tuple[Service, ...], gateway: Gateway | None) -> str:
    """The success answer of the route a call reaches: '201 User', or 'response' when no route matches."""
    method, path = parse_call(call)
    paths = [path] + [
        path[len(r.strip_prefix) :]
        for r in (gateway.routes if gateway else ())
        if r.strip_prefix and is_under(path, r.strip_prefix)
    ]
    for route in (r for s in services for r in s.routes if r.method == method):
        if any(template_matches(route.path, p) for p in paths):
            success = route.success
            return f"{success.status} {success.schema}" if success.schema else str(success.status)
    return "response"


def _participants(lines: list[SequenceMessage], known: list[DiagramNode]) -> tuple[DiagramNode, ...]:
    """The participants the lines mention, in order of first appearance."""
    by_id = {n.id: n for n in known}
    order = dict.fromkeys(i for line in lines for i in (line.source, line.target))
    return tuple(by_id.get(i, DiagramNode(i, i, "box")) for i in order)
