"""The proof on manifests that nobody wrote: each generated manifest validates clean, generates code that lints,
type-checks and imports, whose services accept valid and reject invalid data (schemathesis), and whose broker
topology delivers every event to exactly the queues the model says, on a real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aio_pika
import pytest
import yaml
from hypothesis import given, note, settings

from planforge.model import Model
from planforge.output import apply, plan_writes
from planforge.pipeline import render, validate

from ..rabbit import amqp_url, fresh_vhost, rabbitmqctl
from .profiles import PROFILE
from .strategies import Feature, manifests

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
MYPY_CACHE = Path(tempfile.gettempdir()) / "planforge-property-mypy-cache"
SCHEMATHESIS_EXAMPLES = os.environ.get("PROPERTY_SCHEMATHESIS_EXAMPLES", "10")

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="rabbitmqctl is not installed"),
]


def write_manifest(feature: Feature, folder: Path) -> Path:
    """The manifest as YAML (what a user would write), noted so that a failure shows it."""
    text = "# yaml-language-server: $schema=../../spec/planforge.schema.json\n" + yaml.safe_dump(
        feature.manifest, sort_keys=False, width=120
    )
    note(text)
    path = folder / "feature.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def generate(manifest: Path, out: Path) -> tuple[Model, Path]:
    """Validate (no diagnostic at all: not even a warning), then write every target; the model and the root."""
    result = validate(manifest)
    assert result.document is not None, "\n".join(map(str, result.diagnostics))
    assert not result.diagnostics, "\n".join(map(str, result.diagnostics))
    rendering = render(result.document, manifest.name)
    root = out / rendering.slug
    plan = plan_writes(rendering.output, root, manifest.name)
    assert not plan.conflicts, plan.conflicts
    apply(plan)
    return rendering.model, root


def assert_lints_and_type_checks(root: Path) -> None:
    """The ruff check, ruff format and mypy (strict, the generated pyproject's settings) pass on the output."""
    commands = [
        [str(BIN / "ruff"), "check", "--no-cache", "."],
        [str(BIN / "ruff"), "format", "--check", "--no-cache", "."],
        [str(BIN / "mypy"), "--cache-dir", str(MYPY_CACHE)],
    ]
    for command in commands:
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, f"{Path(command[0]).name}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"


def assert_etag_routes_are_documented(manifest: dict[str, Any], root: Path) -> None:
    """A `concurrency: etag` route shows it in OpenAPI: reads answer an ETag header, writes take If-Match."""
    for name, service in manifest["services"].items():
        document = yaml.safe_load((root / "openapi" / f"{name}.yaml").read_text(encoding="utf-8"))
        for route in service.get("routes", []):
            if route.get("concurrency") != "etag":
                continue
            operation = document["paths"][route["path"]][route["method"].lower()]
            if route["method"] == "GET":
                headers = {h.lower() for r in operation["responses"].values() for h in r.get("headers", {})}
                assert "etag" in headers, (name, route["id"], operation["responses"])
            else:
                parameters = {(p.get("in"), p.get("name", "").lower()) for p in operation.get("parameters", [])}
                assert ("header", "if-match") in parameters, (name, route["id"], operation.get("parameters"))


def assert_gateway_uses_the_correlation_header(manifest: dict[str, Any], root: Path) -> None:
    """With a custom correlation header the gateway reads and forwards that one, never X-Correlation-ID."""
    header = manifest.get("observability", {}).get("tracing", {}).get("correlation_header", "X-Correlation-ID")
    if header.lower() == "x-correlation-id" or not (root / "gateway").is_dir():
        return
    forms = {header.lower(), header.lower().replace("-", "_")}
    text = "\n".join(
        p.read_text(encoding="utf-8").lower() for p in (root / "gateway").rglob("*") if p.suffix in (".conf", ".js")
    )
    assert "x-correlation-id" not in text, "the gateway uses X-Correlation-ID"
    assert "x_correlation_id" not in text, "the gateway uses X-Correlation-ID"
    assert any(form in text for form in forms), f"the gateway never uses {header}"


def assert_services_import_and_honour_their_contracts(root: Path, cwd: Path) -> None:
    """Every app imports; schemathesis positive acceptance and negative rejection pass (in a fresh process)."""
    report = cwd / "schemathesis-failures.txt"
    done = subprocess.run(
        [sys.executable, str(HERE / "service_checks.py"), str(root), SCHEMATHESIS_EXAMPLES, str(report)],
        cwd=cwd,  # apps without DATABASE_URL write SQLite files in the working folder
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    failures = report.read_text(encoding="utf-8") if report.exists() else done.stderr[-8000:]
    assert done.returncode == 0, failures


def assert_broker_delivers_as_modelled(model: Model, feature: Feature, root: Path) -> None:
    """Each event, published into a fresh vhost loaded with broker/definitions.json, lands in exactly the queues
    of the model's deliveries, which are also the queues the strategy's own bindings deliver it to."""
    definitions = json.loads((root / "broker" / "definitions.json").read_text(encoding="utf-8"))
    with fresh_vhost("planforge-property") as vhost:
        _import(definitions, vhost)
        landed = asyncio.run(_landings(vhost, model, [q["name"] for q in definitions["queues"]]))
    for event in model.events:
        modelled = {d.queue for d in event.deliveries}
        assert landed[event.name] == modelled, (event.name, landed[event.name], modelled)
        assert modelled == feature.deliveries[event.name], (event.name, modelled, feature.deliveries[event.name])


def _import(definitions: dict[str, list[dict[str, Any]]], vhost: str) -> None:
    """Import into vhost and wait until every binding is there (RabbitMQ imports bindings last)."""
    moved = {kind: [{**item, "vhost": vhost} for item in items] for kind, items in definitions.items()}
    done = subprocess.run(
        ["rabbitmqctl", "-q", "import_definitions"], input=json.dumps(moved), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    expected = len(definitions.get("bindings", []))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = rabbitmqctl("--formatter", "json", "list_bindings", "-p", vhost, "source_name")
        if sum(1 for b in json.loads(listed or "[]") if b["source_name"]) >= expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"the import into {vhost} did not finish")


async def _landings(vhost: str, model: Model, queue_names: list[str]) -> dict[str, set[str]]:
    """Publish each event's routing key to its exchange (with confirms) and see which queues hold it."""
    landed: dict[str, set[str]] = {}
    async with await aio_pika.connect(amqp_url(vhost)) as connection:
        channel = await connection.channel(publisher_confirms=True)
        queues = [await channel.get_queue(name, ensure=True) for name in queue_names]
        for event in model.events:
            exchange = await channel.get_exchange(event.exchange, ensure=True)
            await exchange.publish(aio_pika.Message(event.name.encode()), routing_key=event.routing_key)
            landed[event.name] = set()
            for queue in queues:
                while (message := await queue.get(no_ack=True, fail=False)) is not None:
                    assert message.body == event.name.encode(), f"{queue.name} held an earlier event"
                    landed[event.name].add(queue.name)
    return landed


@settings(PROFILE)
@given(feature=manifests())
def test_a_manifest_nobody_wrote_generates_a_working_feature(feature: Feature) -> None:
    with tempfile.TemporaryDirectory(prefix="planforge-property-") as folder:
        work = Path(folder)
        manifest = write_manifest(feature, work)
        model, root = generate(manifest, work / "out")
        assert_lints_and_type_checks(root)
        assert_etag_routes_are_documented(feature.manifest, root)
        assert_gateway_uses_the_correlation_header(feature.manifest, root)
        assert_services_import_and_honour_their_contracts(root, work)
        if feature.deliveries:
            assert_broker_delivers_as_modelled(model, feature, root)
