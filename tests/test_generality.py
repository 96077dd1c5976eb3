"""What a manifest the examples do not resemble gets right at run time (issue 9): parameter patterns and
$refs, every JSON Schema keyword of a request body, ETag routes, cache invalidation by events, and
generated contract tests that leave nothing behind. The manifest is tests/fixtures/generality."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from planforge_testkit.testing import bearer, settings_for_tests

from planforge.pipeline import validate

from .datastores import REDIS_URL, fresh_redis_prefix
from .rabbit import amqp_url, fresh_vhost
from .test_services import REPO, generate, load_service

MANIFEST = REPO / "tests" / "fixtures" / "generality" / "feature.yaml"

_STORE = '''"""The shelves of the test, in memory, and how often they were loaded."""

from typing import Any

SHELVES: dict[tuple[str, int], dict[str, Any]] = {}
LOADS: list[tuple[str, int]] = []
'''

_GET_SHELF = '''"""get_shelf for the test: read through the shelves cache."""

from planforge_runtime import CacheAside, Context, Problem

from .. import models
from .store import LOADS, SHELVES


async def handle(ctx: Context, *, region: str, shelf_id: int) -> models.Shelf:
    async def load() -> models.Shelf | None:
        LOADS.append((region, shelf_id))
        found = SHELVES.get((region, shelf_id))
        return models.Shelf(**found) if found else None

    key = CacheAside.entry_key(region, shelf_id)
    shelf = await ctx.cache("shelves").read_through(key, models.Shelf, load)
    if shelf is None:
        raise Problem(404, "No such shelf.")
    return shelf
'''

_UPDATE_SHELF = '''"""update_shelf for the test: slow enough for a concurrent update to try to overtake it."""

import asyncio

from planforge_runtime import Context, Problem

from .. import models
from .store import SHELVES


async def handle(
    ctx: Context, *, region: str, shelf_id: int, body: models.ShelfUpdate
) -> models.Shelf:
    shelf = SHELVES.get((region, shelf_id))
    if shelf is None:
        raise Problem(404, "No such shelf.")
    await asyncio.sleep(0.05)
    shelf["name"] = body.name
    await ctx.publish(models.ShelfChanged(region=region, shelfId=shelf_id, name=body.name))
    return models.Shelf(**shelf)
'''

_DELETE_SHELF = '''"""delete_shelf for the test."""

from planforge_runtime import Context, Problem

from .store import SHELVES


async def handle(ctx: Context, *, region: str, shelf_id: int) -> None:
    if SHELVES.pop((region, shelf_id), None) is None:
        raise Problem(404, "No such shelf.")
    await ctx.cache("shelves").invalidate(f"{region}/{shelf_id}")
'''

_ON_SHELF_CHANGED = '''"""on_shelf_changed for the test: nothing to do besides what the wiring does."""

from planforge_runtime.messaging import EventContext

from .. import models


async def handle(event: models.ShelfChanged, ctx: EventContext) -> None:
    return None
'''


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture generated, with the shelf handlers and the audit consumer implemented."""
    generated = generate(MANIFEST, tmp_path_factory.mktemp("generality"))
    impl = generated / "services" / "shelf_service" / "impl"
    handlers = {"store": _STORE, "get_shelf": _GET_SHELF, "update_shelf": _UPDATE_SHELF, "delete_shelf": _DELETE_SHELF}
    for name, text in handlers.items():
        (impl / f"{name}.py").write_text(text, encoding="utf-8")
    audit = generated / "services" / "audit_service" / "impl" / "on_shelf_changed.py"
    audit.write_text(_ON_SHELF_CHANGED, encoding="utf-8")
    return generated


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with fresh_redis_prefix() as prefix:
        yield prefix


@pytest.fixture(name="client")
def shelf(root: Path, redis_prefix: str, tmp_path: Path) -> Iterator[TestClient]:
    """shelf-service in-process (events off: staged events wait in its SQLite outbox), with a token."""
    module = load_service(root, "shelf_service")
    database = f"sqlite+aiosqlite:///{tmp_path / 'shelf.db'}"
    settings = settings_for_tests(module.CONFIG, redis_key_prefix=redis_prefix, database_url=database)
    with TestClient(module.build_app(settings)) as client:
        client.headers.update(bearer(client.app))  # type: ignore[arg-type]
        yield client


def _store(client: TestClient) -> Any:
    """The impl.store module of the app behind client (so the test can seed shelves)."""
    operations = client.app.state.operations  # type: ignore[attr-defined]
    return sys.modules[f"{operations.implementations}.store"]


def _seed(client: TestClient, region: str, shelf_id: int, name: str) -> Any:
    client.get(f"/regions/{region}/shelves/{shelf_id}")  # imports the handlers (and so the store)
    store = _store(client)
    store.SHELVES[(region, shelf_id)] = {"shelfId": shelf_id, "region": region, "name": name}
    store.LOADS.clear()
    return store


# --- Parameters -----------------------------------------------------------------------------------------------


def test_a_parameter_pattern_accepts_what_it_matches(client: TestClient) -> None:
    assert client.get("/regions/eu/items").status_code == 501  # valid: reaches the (missing) handler
    assert client.get("/regions/EU/items").status_code == 422
    assert client.get("/regions/eu/items", params={"code": "ABC-12"}).status_code == 501
    assert client.get("/regions/eu/items", params={"code": "abc"}).status_code == 422


def test_a_parameter_ref_is_typed_from_the_schema_it_names(client: TestClient) -> None:
    assert client.get("/regions/eu/items", params={"colour": "red"}).status_code == 501
    refused = client.get("/regions/eu/items", params={"colour": "purple"})
    assert refused.status_code == 422, refused.text


@pytest.mark.parametrize(
    ("name", "valid", "invalid"),
    [
        ("since", "2025-03-02T10:15:00Z", ["0", "1700000000", "2025-03-02", "2025-03-02 10:15"]),
        ("day", "2025-03-02", ["0", "1700000000", "2025-03-02T10:15:00Z", "20250302"]),
        ("batch", "6f1c2d1e-8a4b-4c3d-9e2f-0a1b2c3d4e5f", ["0", "6f1c2d1e8a4b4c3d9e2f0a1b2c3d4e5f"]),
    ],
)
def test_a_formatted_parameter_takes_only_what_its_format_allows(
    client: TestClient, name: str, valid: str, invalid: list[str]
) -> None:
    """Pydantic alone reads '0' as a Unix timestamp and a UUID without hyphens; the format check comes first."""
    assert client.get("/regions/eu/items", params={name: valid}).status_code == 501
    for value in invalid:
        refused = client.get("/regions/eu/items", params={name: value})
        assert refused.status_code == 422, (value, refused.text)


# --- Request bodies: every keyword --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ({"labels": ["a", "a"]}, "uniqueItems"),
        ({"labels": ["a"], "attributes": {}}, "minProperties"),
        ({"labels": ["a"], "attributes": {"x": "1", "y": "2", "z": "3"}}, "maxProperties"),
        ({"labels": ["a"], "comment": None}, "type"),
        ({"labels": []}, "minItems"),
    ],
)
def test_a_body_breaking_a_keyword_is_refused(client: TestClient, body: Any, keyword: str) -> None:
    response = client.post("/labels", json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["type"] == f"json_schema.{keyword}" for e in errors), errors
    assert all("a" not in e["msg"].split() for e in errors)  # where and which keyword, never the value


@pytest.mark.parametrize("body", [{"labels": ["a", "b"]}, {"labels": ["a"], "priority": None}, {"labels": ["a"]}])
def test_a_body_keeping_every_keyword_reaches_the_handler(client: TestClient, body: Any) -> None:
    assert client.post("/labels", json=body).status_code == 501


def test_nullable_and_other_unknown_keywords_are_refused(tmp_path: Path) -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    text = text.replace("comment: {type: string}", "comment: {type: string, nullable: true, dependencies: {}}")
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(text, encoding="utf-8")
    found = [(d.code, d.message, d.hint) for d in validate(manifest).diagnostics]
    assert [code for code, _, _ in found] == ["PF721", "PF721"], found
    assert 'type: [string, "null"]' in found[0][2]


# --- ETags --------------------------------------------------------------------------------------------------


def test_etag_routes_are_documented(root: Path) -> None:
    contract = yaml.safe_load((root / "openapi" / "shelf-service.yaml").read_text(encoding="utf-8"))
    item = contract["paths"]["/regions/{region}/shelves/{shelfId}"]
    assert "ETag" in item["get"]["responses"]["200"]["headers"]
    update = item["put"]
    (if_match,) = [p for p in update["parameters"] if p["name"] == "If-Match"]
    assert (if_match["in"], if_match["required"]) == ("header", True)
    assert {"412", "428"} <= set(update["responses"])
    assert "ETag" in update["responses"]["200"]["headers"]


def test_an_update_needs_the_current_etag(client: TestClient) -> None:
    _seed(client, "eu", 7, "Top")
    read = client.get("/regions/eu/shelves/7")
    etag = read.headers["ETag"]
    assert read.status_code == 200
    assert etag.startswith('"')
    assert client.get("/regions/eu/shelves/7").headers["ETag"] == etag  # same version, same ETag

    missing = client.put("/regions/eu/shelves/7", json={"name": "Middle"})
    assert missing.status_code == 428, missing.text
    stale = client.put("/regions/eu/shelves/7", json={"name": "Middle"}, headers={"If-Match": '"other"'})
    assert stale.status_code == 412
    assert stale.headers["ETag"] == etag
    updated = client.put("/regions/eu/shelves/7", json={"name": "Middle"}, headers={"If-Match": etag})
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Middle"
    after = client.get("/regions/eu/shelves/7")
    assert after.json()["name"] == "Middle"
    assert updated.headers["ETag"] == after.headers["ETag"] != etag
    again = client.put("/regions/eu/shelves/7", json={"name": "Low"}, headers={"If-Match": etag})
    assert again.status_code == 412
    assert client.put("/regions/eu/shelves/8", json={"name": "x"}, headers={"If-Match": etag}).status_code == 404


def test_a_conditional_delete_answers_without_an_etag(client: TestClient) -> None:
    _seed(client, "eu", 21, "Old")
    etag = client.get("/regions/eu/shelves/21").headers["ETag"]
    assert client.delete("/regions/eu/shelves/21", headers={"If-Match": '"other"'}).status_code == 412
    deleted = client.delete("/regions/eu/shelves/21", headers={"If-Match": etag})
    assert deleted.status_code == 204
    assert "ETag" not in deleted.headers
    assert client.get("/regions/eu/shelves/21").status_code == 404


def test_of_two_updates_with_one_etag_only_one_wins(client: TestClient) -> None:
    _seed(client, "eu", 9, "Top")
    etag = client.get("/regions/eu/shelves/9").headers["ETag"]

    async def both() -> list[int]:
        transport = httpx.ASGITransport(app=client.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://shelf", headers=client.headers) as http:
            answers = await asyncio.gather(
                *(
                    http.put("/regions/eu/shelves/9", json={"name": name}, headers={"If-Match": etag})
                    for name in ("A", "B")
                )
            )
        return sorted(a.status_code for a in answers)

    assert asyncio.run(both()) == [200, 412]


# --- Cache invalidation ------------------------------------------------------------------------------------


def test_invalidation_is_derived_for_every_service_that_can_do_it(root: Path) -> None:
    audit = (root / "services" / "audit_service" / "events.py").read_text(encoding="utf-8")
    assert 'Invalidation(cache="shelves", fields=("region", "shelfId"), owner="shelf-service")' in " ".join(
        audit.split()
    ).replace("( ", "(").replace(", )", ")")
    shelf = (root / "services" / "shelf_service" / "events.py").read_text(encoding="utf-8")
    assert '"shelf.changed"' in shelf
    assert "invalidates=" in shelf


def test_the_publishing_owner_drops_the_entry_it_changed(client: TestClient) -> None:
    store = _seed(client, "eu", 11, "Top")
    etag = client.get("/regions/eu/shelves/11").headers["ETag"]
    client.get("/regions/eu/shelves/11")
    assert store.LOADS == [("eu", 11)]  # the second read came from the cache
    store.LOADS.clear()
    updated = client.put("/regions/eu/shelves/11", json={"name": "New"}, headers={"If-Match": etag})
    assert updated.status_code == 200
    # The read for the answer's ETag found no entry: publishing shelf.changed had dropped it.
    assert store.LOADS == [("eu", 11)]
    assert client.get("/regions/eu/shelves/11").json()["name"] == "New"


@pytest.mark.services
def test_a_consumer_drops_the_entry_an_event_names_in_the_owners_cache(root: Path, redis_prefix: str) -> None:
    import redis

    owner_key = f"{redis_prefix}shelf-service:shelves:"
    plain = redis.Redis.from_url(REDIS_URL)
    plain.set(owner_key + "eu/7", "{}")
    plain.set(owner_key + "eu/8", "{}")
    module = load_service(root, "audit_service")
    with fresh_vhost() as vhost:
        settings = settings_for_tests(
            module.CONFIG, amqp_url=amqp_url(vhost), redis_key_prefix=redis_prefix, events=True
        )
        with TestClient(module.build_app(settings)) as client:
            _eventually(lambda: client.get("/readyz").status_code == 200)
            asyncio.run(_publish(amqp_url(vhost), {"region": "eu", "shelfId": 7, "name": "Top"}))
            _eventually(lambda: not plain.exists(owner_key + "eu/7"))
    assert plain.exists(owner_key + "eu/8")  # only the entry the event names
    plain.close()


async def _publish(url: str, data: dict[str, Any]) -> None:
    import aio_pika

    envelope = {
        "eventId": str(uuid.uuid4()),
        "eventType": "shelf.changed",
        "timestamp": "2025-01-15T09:00:00.000Z",
        "correlationId": str(uuid.uuid4()),
        "data": data,
    }
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("shelves")
        message = aio_pika.Message(json.dumps(envelope).encode(), content_type="application/json")
        await exchange.publish(message, routing_key="shelf.changed")


def _eventually(probe: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


# --- The generated contract tests ---------------------------------------------------------------------------


def test_generated_contract_tests_pass_and_leave_no_files(root: Path, tmp_path: Path) -> None:
    """Positive data acceptance included (valid values of patterned parameters must not get 422); run from an
    empty folder, they leave no SQLite file in it or in the project."""
    work = tmp_path / "work"
    work.mkdir()
    before = {p for p in root.rglob("*") if p.is_file()}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:logging", "-x", str(root / "tests"), "--rootdir", str(root)],
        cwd=work,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "services"), os.environ.get("PYTHONPATH", "")])},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert not list(work.rglob("*.db")), list(work.rglob("*.db"))
    left = {p for p in root.rglob("*") if p.is_file()} - before
    assert not [p for p in left if p.suffix == ".db"], left


# --- Resilience -----------------------------------------------------------------------------------------------


def test_outgoing_calls_use_the_manifests_timeout(client: TestClient) -> None:
    timeout = client.app.state.resources.http.timeout  # type: ignore[attr-defined]
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (0.75,) * 4


def test_outgoing_calls_carry_the_correlation_id_in_the_manifests_header(client: TestClient) -> None:
    from planforge_runtime.correlation import correlation_scope

    (hook,) = client.app.state.resources.http.event_hooks["request"]  # type: ignore[attr-defined]
    request = httpx.Request("GET", "http://other-service/things")
    with correlation_scope("3f1c9a52-8d4e-4b7a-9c61-2e5f0b7d8a11"):
        asyncio.run(hook(request))
    assert request.headers["X-Request-ID"] == "3f1c9a52-8d4e-4b7a-9c61-2e5f0b7d8a11"
    assert "X-Correlation-ID" not in request.headers


@pytest.mark.services
def test_a_cached_entry_reads_back_as_it_was_loaded(redis_prefix: str) -> None:
    """An answer from the cache is the answer load() gave (same members, so the same ETag), not one with
    nulls for the optional members load() left unset."""
    from planforge_runtime import CacheAside, CacheConfig
    from pydantic import BaseModel
    from redis.asyncio import Redis

    class Thing(BaseModel):
        id: int
        note: str | None = None

    async def twice() -> tuple[Thing | None, Thing | None]:
        redis = Redis.from_url(REDIS_URL)
        cache = CacheAside(redis, CacheConfig("things", 60), redis_prefix + "svc")

        async def load() -> Thing:
            return Thing(id=1)

        try:
            return await cache.read_through("1", Thing, load), await cache.read_through("1", Thing, load)
        finally:
            await redis.aclose()

    loaded, cached = asyncio.run(twice())
    assert loaded is not None
    assert cached is not None
    assert cached.model_dump(exclude_unset=True) == loaded.model_dump(exclude_unset=True) == {"id": 1}


def test_model_nodes_know_where_the_manifest_wrote_them() -> None:
    from planforge.build import build_model

    document = validate(MANIFEST).document
    assert document is not None
    model = build_model(document, "feature.yaml")
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    route = next(r for r in model.service("shelf-service").routes if r.id == "update_shelf")
    assert "id: update_shelf" in lines[route.location.line - 1]
    assert lines[model.event("shelf.changed").location.line - 1].strip() == "exchange: shelves"
    (cache,) = model.caches
    assert "title: Shelves" in lines[cache.location.line - 1]


def test_the_formats_rules_allow_are_the_ones_the_services_check() -> None:
    from jsonschema import Draft202012Validator

    from planforge.rules.keywords import CHECKED_FORMATS

    assert set(Draft202012Validator.FORMAT_CHECKER.checkers) >= CHECKED_FORMATS


def test_a_checked_format_in_a_body_is_enforced() -> None:
    from planforge_runtime.bodies import RequestBodies

    bodies = RequestBodies({"add": "Host"}, {"Host": {"type": "object", "properties": {"ip": {"format": "ipv4"}}}})
    assert bodies.errors("add", {"ip": "10.0.0.1"}) == []
    assert [e["type"] for e in bodies.errors("add", {"ip": "not an address"})] == ["json_schema.format"]
