"""A journey through the real stack: client calls through the gateway, events on the tap, consumers' metrics.

Each generated flow test is a list of these steps; every assertion names the step, so a failure reads like the
flow in the manifest.
"""

from __future__ import annotations

import re
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
from planforge_runtime.samples import sample
from prometheus_client.parser import text_string_to_metric_families

from planforge_testkit.e2e.broker import EventTap
from planforge_testkit.e2e.feature import Feature, RouteFacts, sign_token

__all__ = ["E2E", "Journey", "consumed_count", "metric_sum"]

_CONSUMED = "planforge_events_consumed_total"
_SERVED = "http_requests_total"


@dataclass
class E2E:
    """The running stack as the tests see it: gateway, services, tap, and the key to sign tokens with."""

    feature: Feature
    gateway_url: str
    service_url: Callable[[str], str]
    tap: EventTap
    private_key: str
    consumers: dict[str, list[str]] = field(default_factory=dict)
    callees: list[tuple[str, str, str]] = field(default_factory=list)  # (service, method, route) others call
    timeout: float = 20.0
    # Under mutual TLS: the client context (the stack's CA and a certificate it signed) for calls to services.
    service_tls: ssl.SSLContext | None = None

    def journey(self, name: str) -> Journey:
        """A new journey with its own correlation ID."""
        return Journey(self, name)

    def consumed(self, service: str, event: str, outcome: str = "ok") -> float:
        """planforge_events_consumed_total of the service for event and outcome, over its queues (0 when down)."""
        return metric_sum(self._metrics(service), _CONSUMED, {"event": event, "outcome": outcome})

    def served(self, service: str, method: str, route: str) -> float:
        """http_requests_total of the service for the route template, over statuses (0 when down)."""
        return metric_sum(self._metrics(service), _SERVED, {"method": method, "route": route})

    def _metrics(self, service: str) -> str:
        """The service's /metrics text (empty when it is down)."""
        try:
            verify: ssl.SSLContext | bool = self.service_tls or True
            return httpx.get(self.service_url(service) + "/metrics", timeout=5, verify=verify).text
        except httpx.TransportError:
            return ""


def consumed_count(metrics: str, event: str, outcome: str = "ok") -> float:
    """The sum of planforge_events_consumed_total{event=..., outcome=...} in a Prometheus text exposition."""
    return metric_sum(metrics, _CONSUMED, {"event": event, "outcome": outcome})


def metric_sum(metrics: str, name: str, wanted: dict[str, str]) -> float:
    """The sum of the samples of a metric whose labels include wanted, in a Prometheus text exposition."""
    # prometheus-client's own parser: label values hold braces (route templates) and escapes.
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(key) == value for key, value in wanted.items())
    )


class Journey:
    """One run through flows: a correlation ID, the values sent and received, and consumer baselines."""

    def __init__(self, e2e: E2E, name: str) -> None:
        self.e2e, self.name = e2e, name
        self.correlation_id = f"e2e-{uuid.uuid4().hex}"
        self.values: dict[str, Any] = {}
        self.responses: dict[str, Any] = {}  # the last success body of each call
        self.chosen: dict[tuple[str, str], str] = {}  # path values the client chose, by (call, parameter)
        self.done: set[str] = set()
        self.issued: str | None = None  # the token the manifest's token route returned
        self.subject: str | None = None  # the subject the manifest's subject route created
        self.baselines = {
            (service, event): e2e.consumed(service, event)
            for event, services in e2e.consumers.items()
            for service in services
        }
        self.served_baselines = {
            (service, method, route): e2e.served(service, method, route) for service, method, route in e2e.callees
        }

    # --- client calls

    def call(self, call: str, *, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """Send the call through the gateway (its prerequisites first); assert the route's success status.

        The token route is retried until it succeeds: the credentials a subject route created may reach the
        issuing service by an event, a moment later."""
        route = self.e2e.feature.route(call)
        self._prerequisites(route)
        if route.concurrency == "etag" and route.method != "GET" and "If-Match" not in (headers or {}):
            headers = {**(headers or {}), "If-Match": self._current_etag(route)}
        auth = self.e2e.feature.auth
        retry = auth is not None and call == auth.token_call and auth.subject_call in self.done
        deadline = time.monotonic() + (self.e2e.timeout if retry else 0)
        response = self.send(route, body=body, headers=headers)
        while response.status_code not in (route.success, 501) and time.monotonic() < deadline:
            time.sleep(0.2)
            response = self.send(route, body=body, headers=headers)
        if response.status_code == 501:
            import pytest

            pytest.skip(f"{self.name}: {call} answers 501 Not Implemented (its handler is still a stub)")
        assert response.status_code == route.success, f"{self.name}: {call}: {response.status_code} {response.text}"
        self._remember(route, response)
        self.done.add(call)
        return response

    def _current_etag(self, route: RouteFacts) -> str:
        """The ETag a conditional update must send: what the GET of the same path answers now."""
        read = f"GET {route.path}"
        etag = self.call(read).headers.get("ETag")
        assert etag, f"{self.name}: {read} answered no ETag, which {route.call} needs in If-Match"
        return str(etag)

    def unavailable(self, call: str) -> httpx.Response:
        """The call, while the service behind it is down: the gateway answers 502, 503 or 504 with a problem."""
        route = self.e2e.feature.route(call)
        response = self.send(route)
        assert response.status_code in (502, 503, 504), (
            f"{self.name}: {call} with {route.service} down: {response.status_code} {response.text}"
        )
        assert response.headers.get("content-type", "").startswith("application/problem+json"), response.headers
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
        """A bearer token: the one the manifest's token route issued to this journey; else, when the manifest
        says how a client obtains credentials (testing.auth.subject), one got that way; else one for this
        journey's subject (or a fresh one), signed with the stack's key as the issuer would."""
        auth = self.e2e.feature.auth
        if self.issued is None and auth is not None and auth.token_call and auth.subject_call:
            self.call(auth.token_call)
        if self.issued is not None:
            return self.issued
        return sign_token(self.e2e.feature, self.e2e.private_key, self.subject or str(uuid.uuid4()))

    def _path(self, route: RouteFacts) -> str:
        """The route's path with each {parameter} filled from its source (feature.json): the property of the
        success response of the call that holds it (made first if this journey has not made it), or a value the
        client chose (the same one each time this journey calls the route)."""

        def value(match: re.Match[str]) -> str:
            name = match[1]
            source = route.sources.get(name)
            assert source is not None, f"{self.name}: {route.call}: no source for the path parameter {name}"
            if source["call"] is None:
                schema = route.parameters.get(name, {}).get("schema", {"type": "string"})
                return self.chosen.setdefault((route.call, name), str(sample(schema, uuid.uuid4().hex)))
            if source["call"] not in self.responses:
                self.call(source["call"])
            body = self.responses[source["call"]]
            found = body.get(source["field"]) if isinstance(body, dict) else None
            assert found is not None, f"{self.name}: {source['call']} answered no {source['field']}: {body}"
            return str(found)

        return re.sub(r"\{([^}]+)\}", value, route.path)

    def _prerequisites(self, route: RouteFacts) -> None:
        """Calls that must come first: before the token route, the route that creates the subject (whose request
        fields, remembered, are the credentials), as testing.auth declares them."""
        auth = self.e2e.feature.auth
        if auth is None or route.call != auth.token_call or auth.subject_call is None:
            return
        if auth.subject_call not in self.done:
            self.call(auth.subject_call)

    def _remember(self, route: RouteFacts, response: httpx.Response) -> None:
        if not response.content:
            return
        body = response.json()
        if route.response is not None:
            jsonschema.validate(body, route.response)
        self.responses[route.call] = body
        if not isinstance(body, dict):
            return
        self.values.update({k: v for k, v in body.items() if not isinstance(v, (dict, list))})
        auth = self.e2e.feature.auth
        if auth is not None and route.call == auth.token_call and isinstance(body.get(auth.token_field), str):
            self.issued = body[auth.token_field]
        if auth is not None and route.call == auth.subject_call and auth.subject_field in body:
            self.subject = str(body[auth.subject_field])

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

    def served(self, service: str, method: str, route: str) -> float:
        """The service answered a request on the route (another service's call) once more than at the start."""
        key = (service, method, route)
        baseline = self.served_baselines.get(key, 0.0)
        deadline = time.monotonic() + self.e2e.timeout
        count = self.e2e.served(*key)
        while count <= baseline and time.monotonic() < deadline:
            time.sleep(0.1)
            count = self.e2e.served(*key)
        assert count > baseline, (
            f"{self.name}: {service} served no {method} {route} (http_requests_total stays {count:g})"
        )
        self.served_baselines[key] = count
        return count

    def restarted(self, service: str) -> None:
        """The service was restarted: its counters begin again at zero."""
        for key in self.baselines:
            if key[0] == service:
                self.baselines[key] = 0.0
        for served in self.served_baselines:
            if served[0] == service:
                self.served_baselines[served] = 0.0
