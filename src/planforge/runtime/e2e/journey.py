"""A journey through the real stack: client calls through the gateway, events on the tap, consumers' metrics.

Each generated flow test is a list of these steps; every assertion names the step, so a failure reads like the
flow in the manifest.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema

from planforge.runtime.e2e.broker import EventTap
from planforge.runtime.e2e.feature import Feature, RouteFacts, sign_token
from planforge.runtime.e2e.samples import sample

__all__ = ["E2E", "Journey", "consumed_count"]

_CONSUMED = "planforge_events_consumed_total"
_SAMPLE_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class E2E:
    """The running stack as the tests see it: gateway, services, tap, and the key to sign tokens with."""

    feature: Feature
    gateway_url: str
    service_url: Callable[[str], str]
    tap: EventTap
    private_key: str
    consumers: dict[str, list[str]] = field(default_factory=dict)
    timeout: float = 20.0

    def journey(self, name: str) -> Journey:
        """A new journey with its own correlation ID."""
        return Journey(self, name)

    def consumed(self, service: str, event: str, outcome: str = "ok") -> float:
        """planforge_events_consumed_total of the service for event and outcome, over its queues (0 when down)."""
        try:
            text = httpx.get(self.service_url(service) + "/metrics", timeout=5).text
        except httpx.TransportError:
            return 0.0
        return consumed_count(text, event, outcome)


def consumed_count(metrics: str, event: str, outcome: str = "ok") -> float:
    """The sum of planforge_events_consumed_total{event=..., outcome=...} in a Prometheus text exposition."""
    total = 0.0
    for line in metrics.splitlines():
        match = _SAMPLE_LINE.match(line)
        if not match or match["name"] != _CONSUMED:
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        if labels.get("event") == event and labels.get("outcome") == outcome:
            total += float(match["value"])
    return total


class Journey:
    """One run through flows: a correlation ID, the values sent and received, and consumer baselines."""

    def __init__(self, e2e: E2E, name: str) -> None:
        self.e2e, self.name = e2e, name
        self.correlation_id = f"e2e-{uuid.uuid4().hex}"
        self.values: dict[str, Any] = {}
        self.done: set[str] = set()
        self.baselines = {
            (service, event): e2e.consumed(service, event)
            for event, services in e2e.consumers.items()
            for service in services
        }

    # --- client calls

    def call(self, call: str, *, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """Send the call through the gateway (its prerequisites first); assert the route's success status."""
        route = self.e2e.feature.route(call)
        self._prerequisites(route)
        response = self.send(route, body=body, headers=headers)
        if response.status_code == 501:
            import pytest

            pytest.skip(f"{self.name}: {call} answers 501 Not Implemented (its handler is still a stub)")
        assert response.status_code == route.success, f"{self.name}: {call}: {response.status_code} {response.text}"
        self._remember(route, response)
        self.done.add(call)
        return response

    def send(self, route: RouteFacts, *, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """The request of route with sample values, the correlation ID and (unless public) a token; no checks."""
        if body is None and route.request is not None:
            body = sample(route.request, uuid.uuid4().hex, self.values)
        sent = {self.e2e.feature.correlation_header: self.correlation_id, **(headers or {})}
        if not route.public:
            sent["Authorization"] = f"Bearer {self.token()}"
        url = self.e2e.gateway_url + self._path(route)
        query = {n: sample(p["schema"], n) for n, p in route.parameters.items() if p["in"] == "query" and p["required"]}
        if route.request is not None:
            self.values.update(body if isinstance(body, dict) else {})
        return httpx.request(route.method, url, json=body, headers=sent, params=query, timeout=self.e2e.timeout)

    def read_back(self, call: str, *fields: str) -> dict[str, Any]:
        """GET call until the response has every field (consumers work asynchronously); its body."""
        route = self.e2e.feature.route(call)
        deadline = time.monotonic() + self.e2e.timeout
        while True:
            response = self.send(route)
            body = response.json() if response.status_code == route.success else {}
            missing = [name for name in fields if body.get(name) is None]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert response.status_code == route.success, f"{self.name}: {call}: {response.status_code} {response.text}"
        assert not missing, f"{self.name}: {call}: {', '.join(missing)} still unset: {body}"
        self._remember(route, response)
        return dict(body)

    def request_for(self, call: str) -> tuple[str, dict[str, str]]:
        """The URL and headers (correlation ID, token unless public) of a call without a body, for load tests."""
        route = self.e2e.feature.route(call)
        headers = {self.e2e.feature.correlation_header: self.correlation_id}
        if not route.public:
            headers["Authorization"] = f"Bearer {self.token()}"
        return self.e2e.gateway_url + self._path(route), headers

    def token(self) -> str:
        """The token a sign-in of this journey returned, else one for the subject it created, signed with the
        stack's key (the issuer's), else one for a fresh subject."""
        if isinstance(self.values.get("access_token"), str):
            return str(self.values["access_token"])
        subject = str(self.values.get("id") or self.values.get("userId") or uuid.uuid4())
        return sign_token(self.e2e.feature, self.e2e.private_key, subject)

    def _path(self, route: RouteFacts) -> str:
        def value(match: re.Match[str]) -> str:
            name = match[1]
            if name in self.values:
                return str(self.values[name])
            if name.endswith("Id") and "id" in self.values:
                return str(self.values["id"])
            return str(sample(route.parameters.get(name, {}).get("schema", {"type": "string"}), name))

        return re.sub(r"\{([^}]+)\}", value, route.path)

    def _prerequisites(self, route: RouteFacts) -> None:
        """Calls that must come first: a public POST whose fields another public creating POST takes (a login)."""
        if route.method != "POST" or not route.public or route.request is None or route.success == 201:
            return
        needed = set(route.request.get("required", []))
        for other in self.e2e.feature.routes():
            takes = set((other.request or {}).get("properties", {}))
            if other.success == 201 and other.public and other.method == "POST" and needed <= takes:
                if other.call not in self.done:
                    self.call(other.call)
                return

    def _remember(self, route: RouteFacts, response: httpx.Response) -> None:
        if not response.content:
            return
        body = response.json()
        if route.response is not None:
            jsonschema.validate(body, route.response)
        if isinstance(body, dict):
            self.values.update({k: v for k, v in body.items() if not isinstance(v, (dict, list))})

    # --- events and consumers

    def published(self, event: str) -> dict[str, Any]:
        """The event arrives on the tap with this journey's correlation ID, its data valid against its schema."""
        envelope = self.e2e.tap.wait_for(event, self.correlation_id, self.e2e.timeout)
        jsonschema.validate(envelope.get("data"), self.e2e.feature.event_schema(event))
        return envelope

    def consumed(self, service: str, event: str) -> float:
        """The service's consumer counted event with outcome ok once more than at the start (polled)."""
        baseline = self.baselines.get((service, event), 0.0)
        deadline = time.monotonic() + self.e2e.timeout
        count = self.e2e.consumed(service, event)
        while count <= baseline and time.monotonic() < deadline:
            time.sleep(0.1)
            count = self.e2e.consumed(service, event)
        assert count > baseline, (
            f"{self.name}: {service} did not consume {event} (planforge_events_consumed_total ok stays {count:g})"
        )
        self.baselines[service, event] = count
        return count

    def restarted(self, service: str) -> None:
        """The service was restarted: its counters begin again at zero."""
        for key in self.baselines:
            if key[0] == service:
                self.baselines[key] = 0.0
