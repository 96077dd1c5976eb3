"""The broker and asyncapi targets: definitions that import into the real RabbitMQ and route as the model says,
a retry chain that applies the backoff and dead-letters, and AsyncAPI documents valid under the official schema.

Broker tests run on 127.0.0.1:5672 in fresh vhosts with unique names, created with rabbitmqctl and deleted
afterwards: one per example (its import is checked, then routed through), and one per retry test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest
import yaml
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

from planforge.build import build_model
from planforge.model import Model
from planforge.pipeline import validate
from planforge.targets.registry import render_targets

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*/feature.yaml"))
ASYNCAPI_SCHEMA = REPO / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/{vhost}"

RETRY_MANIFEST = """\
planforge: 1
feature: {name: Retry Check, slug: retry-check, overview: One event and one consumer that always fails.}
datastores:
  queue: {kind: rabbitmq}
services:
  a-service: {title: A Service, layer: core, uses: [queue], publishes: [thing.made]}
  b-service:
    title: B Service
    layer: support
    uses: [queue]
    consumes: [{event: thing.made, queue: b-queue, does: fails}]
schemas:
  Thing: {type: object, required: [id], properties: {id: {type: string}, tags: {type: array, items: {$ref: Tag}}}}
  Tag: {type: string, minLength: 1}
events:
  thing.made:
    exchange: things
    data: {type: object, required: [thing], properties: {thing: {$ref: Thing}}}
    examples: [{thing: {id: t-1, tags: [new]}}]
broker:
  exchanges: {things: {type: topic}}
  queues: {b-queue: {bindings: [{exchange: things, routing_key: thing.made}]}}
resilience:
  retry: RETRY
"""
# (backoff, max_retries, dead_letter): backoff shorter than the retries repeats its last delay.
RETRY_CASES = [(["200ms", "300ms"], 2, True), (["200ms"], 1, False), (["200ms"], 0, True)]


def _model(manifest: Path) -> Model:
    validation = validate(manifest)
    assert validation.ok and validation.document is not None, [d.text() for d in validation.diagnostics]
    return build_model(validation.document, manifest.name)


def _retry_model(tmp_path: Path, backoff: list[str], max_retries: int, dead_letter: bool) -> Model:
    retry = json.dumps({"backoff": backoff, "max_retries": max_retries, "dead_letter": dead_letter})
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(RETRY_MANIFEST.replace("RETRY", retry), encoding="utf-8")
    return _model(manifest)


def _definitions(model: Model) -> dict[str, list[dict[str, Any]]]:
    text = render_targets(model, ("broker",)).owned["broker/definitions.json"]
    return dict(json.loads(text))


def _asyncapi(model: Model) -> dict[str, Any]:
    return dict(yaml.safe_load(render_targets(model, ("asyncapi",)).owned["asyncapi.yaml"]))


# --- rabbitmqctl and a fresh vhost ------------------------------------------------------------------------------


def _ctl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@contextmanager
def _fresh_vhost() -> Iterator[str]:
    """A new, empty vhost with a unique name that the guest user may use; deleted afterwards."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    name = f"planforge-test-{uuid.uuid4().hex}"
    _ctl("add_vhost", name)
    try:
        _ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        _ctl("delete_vhost", name)


@pytest.fixture
def vhost() -> Iterator[str]:
    """A fresh vhost for one test."""
    with _fresh_vhost() as name:
        yield name


@dataclass(frozen=True)
class Imported:
    """An example's model and definitions, imported into a fresh vhost, and what the vhost then listed."""

    model: Model
    definitions: dict[str, list[dict[str, Any]]]
    vhost: str
    listed: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.parent.name)
def imported(request: pytest.FixtureRequest) -> Iterator[Imported]:
    """Each example imported once into its own fresh vhost, shared by the tests that only read the topology."""
    model = _model(request.param)
    definitions = _definitions(model)
    with _fresh_vhost() as name:
        _import(definitions, name)
        yield Imported(model, definitions, name, _listed(name))


def _import(definitions: dict[str, list[dict[str, Any]]], vhost: str) -> None:
    """Import the definitions into vhost (rewriting their vhost) and wait for the asynchronous import to finish:
    RabbitMQ imports bindings last, so the import is done when every binding is there."""
    moved = {kind: [{**item, "vhost": vhost} for item in items] for kind, items in definitions.items()}
    _ctl("import_definitions", stdin=json.dumps(moved))
    expected = _without_vhost(definitions)["bindings"]
    deadline = time.monotonic() + 30
    while _listed_bindings(vhost) != expected and time.monotonic() < deadline:
        time.sleep(0.2)


def _without_vhost(definitions: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {
        kind: _sorted([{k: v for k, v in item.items() if k != "vhost"} for item in items])
        for kind, items in definitions.items()
    }


def _sorted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _listing(command: str, vhost: str, *columns: str) -> list[dict[str, Any]]:
    rows = json.loads(_ctl("--formatter", "json", command, "-p", vhost, *columns) or "[]")
    for row in rows:
        if "arguments" in row:
            row["arguments"] = {name: value for name, _kind, value in row["arguments"]}
    return list(rows)


def _listed(vhost: str) -> dict[str, list[dict[str, Any]]]:
    """What the vhost holds, in the shape of the definitions (built-in exchanges and bindings left out)."""
    exchanges = _listing("list_exchanges", vhost, "name", "type", "durable", "auto_delete", "internal", "arguments")
    queues = _listing("list_queues", vhost, "name", "durable", "auto_delete", "arguments")
    return {
        "exchanges": _sorted([e for e in exchanges if e["name"] and not e["name"].startswith("amq.")]),
        "queues": _sorted(queues),
        "bindings": _listed_bindings(vhost),
    }


def _listed_bindings(vhost: str) -> list[dict[str, Any]]:
    """The vhost's bindings, without the default exchange's implicit ones."""
    columns = ("source_name", "destination_name", "destination_kind", "routing_key", "arguments")
    bindings = [
        {
            "source": b["source_name"],
            "destination": b["destination_name"],
            "destination_type": b["destination_kind"],
            "routing_key": b["routing_key"],
            "arguments": b["arguments"],
        }
        for b in _listing("list_bindings", vhost, *columns)
        if b["source_name"]
    ]
    return _sorted(bindings)


# --- (a) definitions import and match the model -------------------------------------------------------------------


def test_definitions_are_deterministic_json() -> None:
    for manifest in EXAMPLES:
        text = render_targets(_model(manifest), ("broker",)).owned["broker/definitions.json"]
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert text == render_targets(_model(manifest), ("broker",)).owned["broker/definitions.json"]


@pytest.mark.services
def test_definitions_import_into_a_fresh_vhost_and_match_the_model(imported: Imported) -> None:
    assert imported.listed == _without_vhost(imported.definitions)
    _assert_matches_model(imported.listed, imported.model)


def _assert_matches_model(listed: dict[str, list[dict[str, Any]]], model: Model) -> None:
    """Checked against the model itself, not the topology module: names, types, bindings and retry settings."""
    exchanges = {e["name"]: e for e in listed["exchanges"]}
    queues = {q["name"]: q for q in listed["queues"]}
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in listed["bindings"]}
    for exchange in model.exchanges:
        assert (exchanges[exchange.name]["type"], exchanges[exchange.name]["durable"]) == (
            exchange.type,
            exchange.durable,
        )
    expected_queues: set[str] = set()
    for queue in model.queues:
        assert {(b.exchange, queue.name, b.routing_key) for b in queue.bindings} <= bindings
        retries = [f"{queue.name}.retry.{n}" for n in range(1, model.retry.max_retries + 1)]
        dlq = [f"{queue.name}.dlq"] if model.retry.dead_letter else []
        expected_queues |= {queue.name, *retries, *dlq}
        ttls = [queues[name]["arguments"]["x-message-ttl"] for name in retries]
        assert ttls == [round(_delay(model, n) * 1000) for n in range(1, len(retries) + 1)]
        assert queues[queue.name]["arguments"].get("x-max-length") == queue.max_length
    assert set(queues) == expected_queues


def _delay(model: Model, attempt: int) -> float:
    return model.retry.delays[min(attempt, len(model.retry.delays)) - 1]


# --- (b) every event reaches exactly the queues of its deliveries -------------------------------------------------


@pytest.mark.services
def test_each_event_reaches_exactly_its_queues(imported: Imported) -> None:
    model = imported.model
    landed = asyncio.run(_landings(imported.vhost, model, [q["name"] for q in imported.definitions["queues"]]))
    for event in model.events:
        consumed_from = {c.queue for s in model.services for c in s.consumes if c.event == event.name}
        assert landed[event.name] == {d.queue for d in event.deliveries}, event.name
        assert consumed_from <= landed[event.name], event.name


async def _landings(vhost: str, model: Model, queue_names: list[str]) -> dict[str, set[str]]:
    """Publish each event's routing key to its exchange (with confirms) and see which queues hold it."""
    landed: dict[str, set[str]] = {}
    async with await aio_pika.connect(AMQP_URL.format(vhost=vhost)) as connection:
        channel = await connection.channel(publisher_confirms=True)
        queues = [await channel.get_queue(name, ensure=True) for name in queue_names]
        for event in model.events:
            exchange = await channel.get_exchange(event.exchange, ensure=True)
            await exchange.publish(aio_pika.Message(event.name.encode()), routing_key=event.routing_key)
            landed[event.name] = {q.name for q in queues if await _drained(q, event.name.encode())}
    return landed


async def _drained(queue: AbstractQueue, body: bytes) -> bool:
    """Empty the queue; True when it held the message with this body."""
    held = False
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        assert message.body == body, f"{queue.name} held a message from an earlier event"
        held = True
    return held


# --- (c) rejected messages go through the retry queues, then to the dead letter queue -----------------------------


@pytest.mark.services
@pytest.mark.parametrize(("backoff", "max_retries", "dead_letter"), RETRY_CASES)
def test_rejected_message_is_retried_with_backoff_then_dead_lettered(
    tmp_path: Path, vhost: str, backoff: list[str], max_retries: int, dead_letter: bool
) -> None:
    model = _retry_model(tmp_path, backoff, max_retries, dead_letter)
    _import(_definitions(model), vhost)
    gaps, dead = asyncio.run(_reject_every_delivery(vhost, model))
    assert len(gaps) == max_retries
    for attempt, gap in enumerate(gaps, start=1):
        assert _delay(model, attempt) - 0.02 <= gap < _delay(model, attempt) + 1.0
    if not dead_letter:
        assert dead is None
        return
    assert dead is not None and dead.body == b"poison"
    assert dead.headers["x-first-death-reason"] == "rejected"
    deaths: Any = dead.headers["x-death"]
    rejections = [d for d in deaths if d["queue"] == "b-queue" and d["reason"] == "rejected"]
    assert rejections[0]["count"] == max_retries + 1


async def _reject_every_delivery(vhost: str, model: Model) -> tuple[list[float], AbstractIncomingMessage | None]:
    """Publish one event and reject each delivery; the time from each rejection to the next delivery, and what
    the dead letter queue holds at the end."""
    async with await aio_pika.connect(AMQP_URL.format(vhost=vhost)) as connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("things", ensure=True)
        await exchange.publish(aio_pika.Message(b"poison"), routing_key="thing.made")
        queue = await channel.get_queue("b-queue", ensure=True)
        message = await _next(queue, 1.0)
        gaps: list[float] = []
        for attempt in range(1, model.retry.max_retries + 2):
            assert message is not None, f"delivery {attempt} never came"
            await message.reject(requeue=False)
            rejected_at = time.monotonic()
            if attempt <= model.retry.max_retries:
                assert await _reaches(channel, f"b-queue.retry.{attempt}", within=_delay(model, attempt))
            message = await _next(queue, _delay(model, attempt) + 2.0 if attempt <= model.retry.max_retries else 0.5)
            if message is not None:
                gaps.append(time.monotonic() - rejected_at)
        dead = (
            await _next(await channel.get_queue("b-queue.dlq", ensure=True), 1.0) if model.retry.dead_letter else None
        )
        assert all([await _depth(channel, q.name) == 0 for q in model.queues])
        return gaps, dead


async def _next(queue: AbstractQueue, timeout: float) -> AbstractIncomingMessage | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await queue.get(no_ack=False, fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.01)
    return None


async def _reaches(channel: AbstractChannel, queue: str, within: float) -> bool:
    """Does the queue hold a message within the given time?"""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await _depth(channel, queue):
            return True
        await asyncio.sleep(0.005)
    return False


async def _depth(channel: AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    count = declared.declaration_result.message_count
    return int(count or 0)


# --- (d) AsyncAPI documents validate against the official schema --------------------------------------------------


@pytest.fixture(scope="module")
def asyncapi_validator() -> Draft7Validator:
    """The AsyncAPI 3.0.0 schema from @asyncapi/specs, with its embedded definitions registered by their $id."""
    if not ASYNCAPI_SCHEMA.exists():
        pytest.skip("node_modules/@asyncapi/specs is absent: run `npm install` at the repository root")
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    resources = [
        (uri, Resource.from_contents(d, default_specification=DRAFT7)) for uri, d in schema["definitions"].items()
    ]
    return Draft7Validator(schema, registry=Registry().with_resources(resources))


def _asyncapi_models(tmp_path: Path) -> list[Model]:
    return [_model(m) for m in EXAMPLES] + [_retry_model(tmp_path, *case) for case in RETRY_CASES[:1]]


def test_asyncapi_documents_validate(asyncapi_validator: Draft7Validator, tmp_path: Path) -> None:
    for model in _asyncapi_models(tmp_path):
        doc = _asyncapi(model)
        if model.slug == "retry-check":
            assert sorted(doc["components"]["schemas"]) == ["Tag", "Thing"]
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in asyncapi_validator.iter_errors(doc)]
        assert errors == [], model.slug
        _assert_references_resolve(doc)
        _assert_examples_validate(doc)


def test_asyncapi_schema_rejects_a_broken_document(asyncapi_validator: Draft7Validator, tmp_path: Path) -> None:
    doc = _asyncapi(_retry_model(tmp_path, *RETRY_CASES[0]))
    next(iter(doc["operations"].values()))["action"] = "publish"
    assert not asyncapi_validator.is_valid(doc)


def _assert_references_resolve(doc: dict[str, Any]) -> None:
    """Every local $ref points into the document; operations use only messages of their channel."""
    for ref in _refs(doc):
        _pointer(doc, ref)
    for name, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"]
        assert all(m["$ref"].startswith(channel + "/messages/") for m in operation["messages"]), name


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _pointer(doc: Any, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _assert_examples_validate(doc: dict[str, Any]) -> None:
    """Each message example validates against the message's payload, refs to components/schemas resolved."""
    registry = Registry().with_resource("urn:asyncapi", Resource.from_contents(doc, default_specification=DRAFT202012))
    for name, message in doc["components"]["messages"].items():
        check = Draft202012Validator({"$ref": f"urn:asyncapi#/components/messages/{name}/payload"}, registry=registry)
        for example in message.get("examples", []):
            check.validate(example["payload"])


@pytest.mark.parametrize("manifest", sorted((Path(__file__).parent.parent / "examples").glob("*/feature.yaml")))
def test_each_service_declares_its_queues_and_its_events_destinations(manifest: Path) -> None:
    """A service declares the queues it consumes from and every queue its events reach, within the whole."""
    from planforge.pipeline import validate
    from planforge.topology import service_topology, topology

    document = validate(manifest).document
    assert document is not None
    model = build_model(document, "feature.yaml")
    whole = topology(model)
    whole_queues = {q["name"] for q in whole["queues"]}
    for service in model.services:
        declared = service_topology(model, service)
        queues = {q["name"] for q in declared["queues"]}
        needed = {c.queue for c in service.consumes}
        needed |= {d.queue for e in service.publishes for d in model.event(e).deliveries}
        assert needed <= queues <= whole_queues, service.name
        assert {f"{q}.dlq" for q in needed} <= queues
        exchanges = {x["name"] for x in declared["exchanges"]}
        assert {model.event(e).exchange for e in service.publishes} <= exchanges
        assert all(b["source"] in exchanges and b["destination"] in queues | exchanges for b in declared["bindings"])


# --- broker/README.md explains exactly what definitions.json declares --------------------------------------------


def _readme_rows(readme: str) -> dict[str, str]:
    """stage name -> 'queue' or 'exchange', from the README's stage tables (first cell a code span)."""
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")] if line.startswith("| `") else []
        if cells:
            rows[cells[0].strip("`")] = cells[1].split()[0].rstrip(",")
    return rows


def _assert_readme_matches(model: Model) -> None:
    files = render_targets(model, ("broker",)).owned
    declared = json.loads(files["broker/definitions.json"])
    readme = files["broker/README.md"]
    rows = _readme_rows(readme)
    manifest_exchanges = {e.name for e in model.exchanges}
    assert {name for name, kind in rows.items() if kind == "queue"} == {q["name"] for q in declared["queues"]}
    chain_exchanges = {e["name"] for e in declared["exchanges"]} - manifest_exchanges
    assert {name for name, kind in rows.items() if kind == "exchange"} == chain_exchanges
    counts = f"declares {len(declared['queues'])} queues and {len(declared['exchanges'])} exchanges for the "
    assert counts + f"manifest's {len(model.queues)} queues and {len(model.exchanges)} exchanges." in readme


def test_readme_names_every_declared_queue_and_exchange_of_the_examples() -> None:
    """Each example's README has one table row per declared queue and chain exchange, and the right counts."""
    for manifest in EXAMPLES:
        _assert_readme_matches(_model(manifest))


@pytest.mark.parametrize(("backoff", "max_retries", "dead_letter"), RETRY_CASES)
def test_readme_follows_the_retry_policy(
    tmp_path: Path, backoff: list[str], max_retries: int, dead_letter: bool
) -> None:
    """With fewer delays than retries, without dead-lettering, or without retries, the README says what is declared."""
    model = _retry_model(tmp_path, backoff, max_retries, dead_letter)
    _assert_readme_matches(model)
    readme = render_targets(model, ("broker",)).owned["broker/README.md"]
    if max_retries:
        assert f"({max_retries} retr" in readme and "0.2 s" in readme
    else:
        assert "asks for no retries" in readme and "b-queue.retry" not in readme
    assert ("nothing bound: the message is dropped" in readme) is not dead_letter
