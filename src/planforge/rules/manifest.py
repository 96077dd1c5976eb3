"""A read-only view of a schema-valid manifest with the lookups the rules share."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

from planforge.diagnostics import Diagnostic, Severity
from planforge.loader import Document, JsonPath

__all__ = ["BUILTIN_SCHEMAS", "Manifest", "describe"]

# Schemas every manifest may reference without declaring them.
BUILTIN_SCHEMAS = ("Problem",)


class Manifest:
    """The sections of one manifest, with defaults for the optional ones, and a way to report problems."""

    def __init__(self, document: Document) -> None:
        data = document.data
        broker = data.get("broker", {})
        self.document = document
        self.data = data
        self.services: dict[str, Any] = data["services"]
        self.datastores: dict[str, Any] = data.get("datastores", {})
        self.schemas: dict[str, Any] = data.get("schemas", {})
        self.events: dict[str, Any] = data.get("events", {})
        self.exchanges: dict[str, Any] = broker.get("exchanges", {})
        self.queues: dict[str, Any] = broker.get("queues", {})
        self.caches: dict[str, Any] = data.get("caching", {})
        self.gateway: dict[str, Any] | None = data.get("gateway")
        self.flows: list[dict[str, Any]] = data.get("flows", [])

    def error(self, code: str, path: JsonPath, message: str, hint: str = "", *, key: bool = False) -> Diagnostic:
        """An error located at the value (or the key) of path."""
        return self.document.diagnostic(code, path, message, hint=hint, key=key)

    def warning(self, code: str, path: JsonPath, message: str, hint: str = "", *, key: bool = False) -> Diagnostic:
        """A warning located at the value (or the key) of path."""
        return self.document.diagnostic(code, path, message, hint=hint, key=key, severity=Severity.WARNING)

    def routes(self, service: str) -> list[dict[str, Any]]:
        """The routes of a service (none for an unknown service)."""
        routes: list[dict[str, Any]] = self.services.get(service, {}).get("routes", [])
        return routes

    def service_routes(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Every route of every service, as (service, index, route)."""
        for name in self.services:
            for index, route in enumerate(self.routes(name)):
                yield name, index, route

    def exchange_type(self, exchange: str) -> str:
        """The type of a declared exchange ('topic' by default)."""
        return str(self.exchanges.get(exchange, {}).get("type", "topic"))

    def routing_key(self, event: str) -> str:
        """The routing key an event is published with: its name unless given."""
        return str(self.events.get(event, {}).get("routing_key", event))

    def publishers(self, event: str) -> list[str]:
        """Services that list the event in publishes."""
        return list(self._publishers.get(event, ()))

    def consumers(self, event: str) -> list[str]:
        """Services that consume the event from some queue."""
        return list(self._consumers.get(event, ()))

    @cached_property
    def _publishers(self) -> dict[str, list[str]]:
        """Event -> the services that publish it, in manifest order (indexed once: rules ask per binding)."""
        found: dict[str, list[str]] = {}
        for name, spec in self.services.items():
            for event in dict.fromkeys(spec.get("publishes", [])):
                found.setdefault(event, []).append(name)
        return found

    @cached_property
    def _consumers(self) -> dict[str, list[str]]:
        """Event -> the services that consume it, in manifest order."""
        found: dict[str, list[str]] = {}
        for name, spec in self.services.items():
            for event in dict.fromkeys(c["event"] for c in spec.get("consumes", [])):
                found.setdefault(event, []).append(name)
        return found

    def schema_names(self) -> set[str]:
        """Names a $ref, request or response may use: declared schemas and the built-in ones."""
        return {*self.schemas, *BUILTIN_SCHEMAS}

    def kinds(self, kind: str) -> list[str]:
        """Names of the datastores of one kind."""
        return [name for name, store in self.datastores.items() if store["kind"] == kind]

    def uses_kind(self, service: str, kind: str) -> bool:
        """Whether the service uses a datastore of this kind."""
        uses = self.services.get(service, {}).get("uses", [])
        return any(self.datastores.get(u, {}).get("kind") == kind for u in uses)


def describe(path: JsonPath) -> str:
    """A readable location such as services.auth-service.routes[0].method."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the manifest"
