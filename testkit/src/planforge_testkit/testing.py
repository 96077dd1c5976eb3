"""Helpers for the contract tests planforge generates: keys and tokens, the contract's shape, checks of answers."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml
from fastapi import FastAPI
from planforge_runtime.config import ServiceConfig, Settings
from planforge_runtime.keys import generate_key_pair
from planforge_runtime.problems import PROBLEM_JSON

__all__ = ["api_shape", "assert_documented", "assert_problem", "bearer", "load_contract", "settings_for_tests"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@cache
def _keys(algorithm: str) -> tuple[str, str]:
    """(signing key, verifying key) in PEM, or a shared secret twice, for a JWT algorithm."""
    if algorithm.startswith("HS"):
        return ("test-secret-" + "x" * 64,) * 2
    private, public = generate_key_pair(algorithm)
    return private.decode(), public.decode()


@cache
def _run_folder() -> Path:
    """A temporary folder for this test run's SQLite files, removed when the run ends."""
    folder = Path(tempfile.mkdtemp(prefix="planforge-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@cache
def _redis_prefix(redis_url: str) -> str:
    """A Redis key prefix of this test run's own; its keys are deleted when the run ends (if Redis answers)."""
    prefix = f"planforge-tests-{uuid.uuid4().hex[:12]}:"
    atexit.register(_delete_keys, redis_url, prefix)
    return prefix


def _delete_keys(redis_url: str, prefix: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
    except redis.RedisError:
        return


def settings_for_tests(config: ServiceConfig, **overrides: Any) -> Settings:
    """Settings from the environment, with a fresh key pair (or secret) for the service's JWT algorithm.

    Events are off (no broker connection) unless EVENTS is set or events=True is passed. Without DATABASE_URL,
    the service's SQLite database is a new file in a temporary folder of the run (never the working folder, and
    never shared by two services or two features with the same package name). Without REDIS_KEY_PREFIX, the
    run's Redis keys take a prefix of its own, and are deleted when the run ends: a shared Redis keeps nothing."""
    algorithm = next((a for a in config.jwt_algorithms if a.lower() != "none"), "RS256")
    signing, verifying = _keys(algorithm)
    if algorithm.startswith("HS"):
        keys = {"jwt_secret": signing}
    else:
        keys = {"jwt_private_key": signing, "jwt_public_key": verifying}
    defaults: dict[str, Any] = {} if "EVENTS" in os.environ else {"events": False}
    if "DATABASE_URL" not in os.environ:
        database = _run_folder() / f"{config.package}-{uuid.uuid4().hex[:12]}.db"
        defaults["database_url"] = f"sqlite+aiosqlite:///{database}"
    settings = Settings(**{**defaults, **keys, **overrides})
    if "REDIS_KEY_PREFIX" not in os.environ and "redis_key_prefix" not in overrides:
        settings = settings.model_copy(update={"redis_key_prefix": _redis_prefix(settings.redis_url)})
    return settings


def bearer(app: FastAPI, subject: str = "3f1c9a52-8d4e-4b7a-9c61-2e5f0b7d8a11") -> dict[str, str]:
    """An Authorization header with a token the app accepts."""
    token = app.state.resources.issuer.issue(subject)
    return {"Authorization": f"Bearer {token}"}


def load_contract(path: Path) -> dict[str, Any]:
    """An OpenAPI document from YAML."""
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def api_shape(document: dict[str, Any]) -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
    """(path, method) -> (operationId, sorted status codes): what two descriptions of one API must share."""
    shape = {}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                operation = item[method]
                shape[path, method] = (operation.get("operationId", ""), tuple(sorted(operation["responses"])))
    return shape


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is a problem+json with that status; its body is returned."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    assert body["title"], body
    return body


def _operation(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    for item in document["paths"].values():
        for method in _METHODS:
            if item.get(method, {}).get("operationId") == operation_id:
                found: dict[str, Any] = item[method]
                return found
    raise AssertionError(f"the contract has no operation {operation_id!r}")


def assert_documented(response: httpx.Response, document: dict[str, Any], operation_id: str) -> None:
    """The response's status, media type and body are what the contract documents for the operation.

    A 501 must also name the handler to write, as the generation gap promises.
    """
    responses = _operation(document, operation_id)["responses"]
    documented = responses.get(str(response.status_code)) or responses.get("default")
    assert documented is not None, f"{operation_id} answered {response.status_code}, which is not documented"
    content = documented.get("content", {})
    if not content:
        assert not response.content, response.content
        return
    media_type = response.headers["content-type"].split(";")[0].strip()
    assert media_type in content, f"{operation_id} answered {media_type}, documented: {sorted(content)}"
    schema = {"$ref": content[media_type]["schema"]["$ref"], "components": document.get("components", {})}
    jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)
    if response.status_code == 501:
        assert response.json()["handler"].endswith(".handle"), response.json()
