"""Typed clients for the routes a service calls (the manifest's `calls`): what generated clients.py builds on.

A generated client class names the called service and the environment variable holding its base URL
(``<PACKAGE>_URL``, set by compose, k8s and `planforge up`); each of its methods is one called route, typed with
the models of that route's schemas. Requests go through the service's own httpx client, so they have the
circuit breaker, the manifest's call timeout and the correlation header. An answer that is not the route's
success is raised as `CallFailed`, with the callee's problem document.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field, ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CallFailed", "ServiceClient", "base_url"]

Answer = TypeVar("Answer", bound=BaseModel)


class CallFailed(Exception):
    """The called route answered something other than its success status (problem: its problem document)."""

    def __init__(self, service: str, call: str, status: int, problem: Any) -> None:
        super().__init__(f"{service}: {call} answered {status}")
        self.service, self.call, self.status, self.problem = service, call, status, problem


class _Environment(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")


@cache
def base_url(variable: str) -> str:
    """The base URL of a called service, from the environment variable the deployment sets (read once)."""
    settings = create_model("CalleeUrl", __base__=_Environment, url=(str, Field(validation_alias=variable)))
    try:
        return str(settings().url).rstrip("/")  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise RuntimeError(f"{variable} is not set: the base URL of a service this one calls") from exc


class ServiceClient:
    """The routes of one called service, over the calling service's HTTP client (breaker, timeout, correlation)."""

    SERVICE: ClassVar[str]
    URL_VARIABLE: ClassVar[str]

    def __init__(self, http: httpx.AsyncClient, url: str | None = None) -> None:
        self.http = http
        self.url = url if url is not None else base_url(self.URL_VARIABLE)

    async def send(
        self,
        method: str,
        path: str,
        success: int,
        *,
        parameters: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: BaseModel | None = None,
    ) -> httpx.Response:
        """One call: path parameters quoted into the template, unset query parameters left out, the body as JSON
        (by alias, unset fields left out); an answer other than success raises CallFailed."""
        filled = path.format_map({k: quote(_text(v), safe="") for k, v in (parameters or {}).items()})
        params: list[tuple[str, str | int | float | bool | None]] = [
            (k, _text(item)) for k, v in (query or {}).items() for item in _items(v) if item is not None
        ]
        content = body.model_dump(mode="json", by_alias=True, exclude_unset=True) if body is not None else None
        response = await self.http.request(method, self.url + filled, params=params, json=content)
        if response.status_code != success:
            problem = response.json() if response.headers.get("content-type", "").endswith("json") else response.text
            raise CallFailed(self.SERVICE, f"{method} {path}", response.status_code, problem)
        return response

    async def call(
        self,
        answer: type[Answer],
        method: str,
        path: str,
        success: int,
        **request: Any,
    ) -> Answer:
        """send(), and the success answer read into its model."""
        response = await self.send(method, path, success, **request)
        return answer.model_validate(response.json())


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _text(value: Any) -> str:
    """A parameter value as the API reads it (datetimes in ISO 8601, enums by value, booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(getattr(value, "value", value))
