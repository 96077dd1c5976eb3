"""The e2e target and planforge_testkit.e2e: generated end-to-end suites, and running them against the real stack.

The fast tests check what the target renders (which scenarios apply, valid sample values, metric parsing). The
services tests run ``python -m pytest generated/<slug>/tests/e2e`` in a subprocess, as a user would: the whole
stack (gateway, services, PostgreSQL, Redis, RabbitMQ) comes up in fresh names and every flow and scenario runs.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from planforge_testkit.e2e import consumed_count, sample
from planforge_testkit.e2e.feature import Feature
from planforge_testkit.e2e.journey import metric_sum

from planforge.pipeline import render, validate
from planforge.targets import e2e as e2e_target

from .conftest import EXAMPLES, REPO

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
# The whole run of one example's suite, stack start and stop included, must stay well inside CI's limits.
SUITE_TIMEOUT = 170


@cache
def rendered(example: str) -> tuple[Any, dict[str, str]]:
    """The model of an example and every file the e2e target renders for it."""
    validation = validate(REPO / "examples" / example / "feature.yaml")
    assert validation.ok, validation.diagnostics
    assert validation.document is not None, validation.diagnostics
    rendering = render(validation.document, f"examples/{example}/feature.yaml", ("e2e",))
    return rendering.model, rendering.output.owned


def feature(example: str) -> Feature:
    """feature.json of an example, as the generated tests read it."""
    return Feature(json.loads(rendered(example)[1]["tests/e2e/feature.json"]))


# --- what the target renders --------------------------------------------------------------------------------------


def test_user_accounts_gets_a_module_per_flow_with_steps_and_all_five_scenarios() -> None:
    """Flows with steps become test modules; every scenario of the seed applies to user-accounts."""
    model, files = rendered("user-accounts")
    tests = sorted(p for p in files if p.startswith("tests/e2e/test_"))
    assert tests == sorted(
        [f"tests/e2e/test_{f.slug}.py" for f in model.flows if f.steps] + ["tests/e2e/test_scenarios.py"]
    )
    kinds = [s.kind for s in e2e_target.scenarios(model)]
    assert kinds == [s["kind"] for s in model.policies.value["testing"]["scenarios"]]
    registration = files["tests/e2e/test_user_registration_flow.py"]
    for line in (
        'journey.call("POST /api/v1/users/register")',
        'journey.published("auth.created")',
        'journey.published("user.created")',
        'journey.consumed("notification-service", "user.created")',
        'journey.published("notification.sent")',
    ):
        assert line in registration
    assert 'journey.consumed("auth-service"' not in registration  # the credentials come in a call, not by event
    assert 'journey.read_back("GET /api/v1/users/{userId}", "lastLoginAt")' in files["tests/e2e/test_scenarios.py"]


@pytest.mark.parametrize("case", [*EXAMPLES, "pf511-scenario-cannot-apply"])
def test_every_declared_scenario_is_generated_or_reported(case: str) -> None:
    """Each scenario of testing.scenarios becomes its own test function, or a PF511 warning at its entry."""
    manifest = REPO / "examples" / case / "feature.yaml"
    if not manifest.exists():
        manifest = REPO / "tests" / "cases" / case / "feature.yaml"
    validation = validate(manifest)
    assert validation.document is not None
    model = render(validation.document, "feature.yaml", ("e2e",)).model
    declared = model.policies.value["testing"]["scenarios"]
    generated = e2e_target.scenarios(model)
    warned = [d for d in validation.diagnostics if d.code == "PF511"]
    assert len(generated) + len(warned) == len(declared)
    assert [s.name for s in generated] == [
        d["name"] for d in declared if not any(d["name"] in w.message for w in warned)
    ]
    for scenario in generated:
        assert scenario.flow is not None
        assert scenario.flow.name == declared[scenario.index]["flow"]
        assert scenario.service == declared[scenario.index]["service"]
    source = render(validation.document, "feature.yaml", ("e2e",)).output.owned.get("tests/e2e/test_scenarios.py", "")
    assert re.findall(r"^def test_(\w+)", source, flags=re.M) == [s.function for s in generated]


def test_a_service_failure_on_a_service_the_client_calls_expects_a_problem_then_the_flow(tmp_path: Path) -> None:
    """service-failure on the service the flow's first call reaches is generated as declared: while it is down
    the gateway must answer that call with a problem; after its restart the whole flow runs."""
    source = (REPO / "examples" / "user-accounts" / "feature.yaml").read_text(encoding="utf-8")
    changed = source.replace(
        "kind: service-failure, service: auth-service", "kind: service-failure, service: user-service"
    )
    assert changed != source
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(changed, encoding="utf-8")
    validation = validate(manifest)
    assert validation.ok, validation.diagnostics
    assert validation.document is not None, validation.diagnostics
    assert not validation.diagnostics
    text = render(validation.document, "feature.yaml", ("e2e",)).output.owned["tests/e2e/test_scenarios.py"]
    body = text[text.index("def test_service_failure") : text.index("def test_network_partition")]
    down, back = body.split("finally:")
    assert 'journey.unavailable("POST /api/v1/users/register")' in down
    assert 'journey.call("POST /api/v1/users/register")' not in down
    assert 'journey.call("POST /api/v1/users/register")' in back
    assert 'journey.published("user.created")' in back


def test_a_service_failure_on_a_service_another_one_calls_expects_a_problem_from_the_client_call() -> None:
    """user-accounts: registration reaches user-service, which calls auth-service (set_credentials); with
    auth-service down the gateway must answer the registration with a problem, and nothing is published before
    auth-service is back (the credentials never travel by event)."""
    text = rendered("user-accounts")[1]["tests/e2e/test_scenarios.py"]
    body = text[text.index("def test_service_failure") : text.index("def test_network_partition")]
    down, back = body.split("finally:")
    assert 'journey.unavailable("POST /api/v1/users/register")' in down
    assert "journey.published" not in down
    assert "journey.call(" not in down
    assert back.index('journey.published("auth.created")') < back.index('journey.published("user.created")')


@pytest.mark.parametrize("example", EXAMPLES)
def test_feature_json_carries_testing_auth_as_declared(example: str) -> None:
    """The journeys read the token and subject routes and fields from testing.auth, never from guessed names."""
    model, _ = rendered(example)
    declared = model.policies.value["testing"].get("auth")
    facts = feature(example).auth
    assert declared is not None
    assert facts is not None
    assert facts.token_field == declared["token"]["field"]
    token = facts.token_call
    assert token is not None
    assert feature(example).route(token).public
    subject = declared.get("subject")
    assert facts.subject_field == (subject["field"] if subject else None)
    assert (facts.subject_call is None) == (subject is None)


def test_the_rendering_is_deterministic() -> None:
    """Two renderings give the same bytes."""
    example = EXAMPLES[0]
    document = validate(REPO / "examples" / example / "feature.yaml").document
    assert document is not None
    first, second = (render(document, "feature.yaml", ("e2e",)).output for _ in range(2))
    assert first == second


@pytest.mark.parametrize("example", EXAMPLES)
def test_sample_request_bodies_are_valid_and_unique(example: str) -> None:
    """Every request body built from a route's schema validates against it; two samples differ (fresh emails)."""
    for route in feature(example).routes():
        if route.request is None:
            continue
        first, second = sample(route.request, "a1"), sample(route.request, "b2")
        jsonschema.Draft202012Validator(route.request, format_checker=jsonschema.FormatChecker()).validate(first)
        if any(p.get("format") == "email" for p in route.request.get("properties", {}).values()):
            assert first != second


def test_sample_uses_known_values_and_examples() -> None:
    """Known values (a login reusing the registration's email) win; schema examples come before made-up values."""
    properties: dict[str, Any] = {"email": {"format": "email"}, "n": {"type": "integer", "minimum": 5, "maximum": 9}}
    schema = {"type": "object", "required": ["email", "n"], "properties": properties}
    assert sample(schema, "t", {"email": "ada@example.com"}) == {"email": "ada@example.com", "n": 5}
    assert sample({"type": "string", "examples": ["x"]}, "t") == "x"
    assert len(sample({"type": "string", "minLength": 40}, "t")) == 40


def test_consumed_count_sums_the_queues_of_one_event_and_outcome() -> None:
    """The Prometheus text of /metrics is read per event and outcome."""
    text = "\n".join(
        [
            "# TYPE planforge_events_consumed_total counter",
            'planforge_events_consumed_total{queue="a",event="user.created",outcome="ok"} 2.0',
            'planforge_events_consumed_total{queue="b",event="user.created",outcome="ok"} 1.0',
            'planforge_events_consumed_total{queue="a",event="user.created",outcome="retry"} 5.0',
            'planforge_events_published_total{event="user.created"} 7.0',
        ]
    )
    assert consumed_count(text, "user.created") == 3.0
    assert consumed_count(text, "user.created", "retry") == 5.0
    assert consumed_count(text, "user.updated") == 0.0


def test_served_counts_read_route_templates_whose_labels_hold_braces() -> None:
    """A route label is a template (/credentials/{userId}): its braces do not end the label set."""
    text = "\n".join(
        [
            "# TYPE http_requests_total counter",
            'http_requests_total{method="PUT",route="/credentials/{userId}",status="204"} 2.0',
            'http_requests_total{method="PUT",route="/credentials/{userId}",status="409"} 1.0',
            'http_requests_total{method="GET",route="/users/{userId}",status="200"} 4.0',
        ]
    )
    wanted = {"method": "PUT", "route": "/credentials/{userId}"}
    assert metric_sum(text, "http_requests_total", wanted) == 3.0


# --- the generated suites against the real stack -------------------------------------------------------------------


def _run_suite(example: str, **settings: str) -> tuple[subprocess.CompletedProcess[str], float]:
    suite = REPO / "generated" / example / "tests" / "e2e"
    if not suite.is_dir():
        pytest.fail(f"{suite} is missing: run `planforge generate examples/{example}/feature.yaml`")
    env = {**os.environ, "PLANFORGE_E2E_REQUIRE": "1", "PYTHONDONTWRITEBYTECODE": "1", **settings}
    # The generated pyproject adds -q already; a second one would hide the summary line read below.
    command = [sys.executable, "-m", "pytest", str(suite.relative_to(REPO)), "-o", "addopts=", "-q", "-rs", "-s"]
    command += ["-p", "no:cacheprovider"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT)
    return done, time.monotonic() - started


def _test_count(example: str) -> int:
    """How many test functions the e2e target generated for an example."""
    return sum(len(re.findall(r"^def test_", text, flags=re.M)) for text in rendered(example)[1].values())


def _counts(output: str) -> dict[str, int]:
    """'7 passed, 2 skipped in 20.1s' -> {'passed': 7, 'skipped': 2}."""
    last = next((line for line in reversed(output.splitlines()) if re.search(r"\d+ (passed|failed|skipped)", line)), "")
    return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", last)}


@pytest.mark.services
@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
def test_user_accounts_flows_and_scenarios_pass_against_the_real_stack() -> None:
    """Both flows and the five scenarios of user-accounts pass through the gateway; the load figures are printed."""
    done, elapsed = _run_suite("user-accounts")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert _counts(done.stdout) == {"passed": _test_count("user-accounts")}, done.stdout[-3000:]
    figures = re.findall(r"load: .*", done.stdout)  # after the progress dots, with -s
    assert figures, done.stdout[-3000:]
    print(f"\nuser-accounts e2e suite: {elapsed:.1f}s; {figures[0]}")


@pytest.mark.services
@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
def test_user_accounts_suite_passes_over_mutual_tls() -> None:
    """The same suite with PLANFORGE_E2E_MTLS=1 (`up --mtls`): gateway, services, readiness and the restarts of the
    failure scenario over mutual TLS, against the real PostgreSQL, Redis and RabbitMQ."""
    done, _ = _run_suite("user-accounts", PLANFORGE_E2E_MTLS="1")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "mTLS certificates ... ok" in done.stdout, done.stdout[:3000]  # `up`'s progress, printed with -s
    assert _counts(done.stdout) == {"passed": _test_count("user-accounts")}, done.stdout[-3000:]


@pytest.mark.services
@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
def test_order_checkout_suite_runs_and_skips_the_flows_whose_handlers_are_stubs() -> None:
    """order-checkout's stack comes up and its suite passes; flows stop, skipped with the reason, at a 501 stub."""
    done, elapsed = _run_suite("order-checkout")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    counts = _counts(done.stdout)
    assert counts.get("failed", 0) == 0, done.stdout[-3000:]
    assert counts.get("error", 0) == 0, done.stdout[-3000:]
    skips = re.findall(r"SKIPPED.*", done.stdout)
    assert all("501 Not Implemented" in line or "no client call starts" in line for line in skips), skips
    print(f"\norder-checkout e2e suite: {elapsed:.1f}s; {counts}")


@pytest.mark.services
@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
def test_a_service_failure_on_the_service_the_client_calls_passes_against_the_real_stack(tmp_path: Path) -> None:
    """user-accounts with user-service as the failing service (the client registers with it directly): while it
    is down the gateway answers the registration with a problem; after its restart the flow completes."""
    source = (REPO / "examples" / "user-accounts" / "feature.yaml").read_text(encoding="utf-8")
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(
        source.replace(
            "service: auth-service, flow: User Registration", "service: user-service, flow: User Registration"
        )
    )
    out = tmp_path / "out"
    shutil.copytree(REPO / "generated" / "user-accounts", out / "user-accounts")  # with the implementations
    generated = subprocess.run(
        [sys.executable, "-m", "planforge", "generate", str(manifest), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stderr
    suite = out / "user-accounts" / "tests" / "e2e"
    env = {**os.environ, "PLANFORGE_E2E_REQUIRE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", str(suite), "-o", "addopts=", "-q", "-rs", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, "-k", "service_failure"], cwd=out, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert _counts(done.stdout).get("passed") == 1, done.stdout[-3000:]


ACCEPTED_THEN_UPDATED = """
planforge: 1
feature: {name: Profiles, slug: profiles, overview: Profiles are created asynchronously and updated with ETags.}
services:
  user-service:
    title: User Service
    layer: core
    routes:
      - {id: create_user, method: POST, path: /users, public: true, request: NewUser, responses: {202: UserProfile}}
      - {id: get_user, method: GET, path: "/users/{userId}", public: true, responses: {200: UserProfile}}
      - {id: rename_user, method: PUT, path: "/users/{userId}", public: true, request: NewUser, concurrency: etag,
         responses: {202: UserProfile, 409: Problem, 412: Problem}}
gateway:
  routes:
    - {path: /api/v1/users/*, service: user-service, methods: [GET, POST, PUT], strip_prefix: /api/v1}
flows:
  - name: Rename
    steps:
      - {by: client, does: Creates a profile, call: POST /api/v1/users}
      - {by: client, does: Renames it, call: "PUT /api/v1/users/{userId}"}
testing:
  scenarios:
    - {name: Two renames at once, kind: data-consistency, flow: Rename}
schemas:
  NewUser: {type: object, required: [name], properties: {name: {type: string, minLength: 1}}}
  UserProfile: {type: object, required: [userId], properties: {userId: {type: string}}}
"""


def test_data_consistency_on_routes_that_answer_202_is_generated(tmp_path: Path) -> None:
    """An etag update and a creating POST that answer 202 Accepted still get their data-consistency test: the
    winner is expected with the update's own success status."""
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(ACCEPTED_THEN_UPDATED, encoding="utf-8")
    validation = validate(manifest)
    assert validation.ok, validation.diagnostics
    assert validation.document is not None, validation.diagnostics
    assert not validation.diagnostics, validation.diagnostics
    text = render(validation.document, "feature.yaml", ("e2e",)).output.owned["tests/e2e/test_scenarios.py"]
    assert 'journey.call("POST /api/v1/users")' in text
    assert 'success = e2e.feature.route("PUT /api/v1/users/{userId}").success' in text


def test_path_parameters_take_their_declared_or_derived_source() -> None:
    """Each path parameter names where its value comes from (derived from the creating POST's required property,
    declared as another route's response property, or chosen by the client); no 'xId' takes an 'id' by name."""
    validation = validate(REPO / "tests" / "cases" / "gen-path-parameter-sources" / "feature.yaml")
    assert validation.ok, validation.diagnostics
    assert validation.document is not None
    owned = render(validation.document, "feature.yaml", ("e2e",)).output.owned
    routes = json.loads(owned["tests/e2e/feature.json"])["routes"]
    assert routes["GET /api/v1/shelves/{shelfId}"]["sources"] == {
        "shelfId": {"call": "POST /api/v1/shelves", "field": "shelfId"}
    }
    assert routes["GET /api/v1/names/{shelfName}"]["sources"] == {
        "shelfName": {"call": "POST /api/v1/shelves", "field": "name"}
    }
    assert routes["PUT /api/v1/bins/{binId}"]["sources"] == {"binId": {"call": None, "field": None}}
    for example in EXAMPLES:
        for call, route in feature(example).data["routes"].items():
            assert set(route["sources"]) == set(re.findall(r"\{([^}]+)\}", call)), call


RENAMED = """
planforge: 1
feature: {name: Profiles, slug: profiles, overview: Profiles are created and renamed with ETags.}
services:
  user-service:
    title: User Service
    layer: core
    routes:
      - {id: create_user, method: POST, path: /users, public: true, request: NewUser, responses: {202: UserProfile}}
      - {id: get_user, method: GET, path: "/users/{userId}", public: true, responses: {200: UserProfile, 404: Problem}}
      - {id: rename_user, method: PUT, path: "/users/{userId}", public: true, request: NewUser, concurrency: etag,
         responses: {200: UserProfile, 404: Problem, 409: Problem, 412: Problem}}
gateway:
  routes:
    - {path: /api/v1/users/*, service: user-service, methods: [GET, POST, PUT], strip_prefix: /api/v1}
  authentication:
    jwt: {algorithms: [RS256], issuer: user-service}
flows:
  - name: Rename
    steps:
      - {by: client, does: Reads a profile and its ETag, call: "GET /api/v1/users/{userId}"}
      - {by: client, does: Renames it, call: "PUT /api/v1/users/{userId}"}
testing:
  scenarios:
    - {name: Two renames at once, kind: data-consistency, flow: Rename}
schemas:
  NewUser: {type: object, required: [name], properties: {name: {type: string, minLength: 1}}}
  UserProfile:
    type: object
    required: [userId, name]
    properties: {userId: {type: string, format: uuid}, name: {type: string}}
"""

_PROFILE_HANDLERS = {
    "store": '''"""The profiles of the test, in memory (one process serves user-service)."""

from typing import Any

PROFILES: dict[str, dict[str, Any]] = {}
''',
    "create_user": '''"""create_user for the test."""

import uuid

from planforge_runtime import Context

from .. import models
from .store import PROFILES


async def handle(ctx: Context, *, body: models.NewUser) -> models.UserProfile:
    user_id = str(uuid.uuid4())
    PROFILES[user_id] = {"userId": user_id, "name": body.name}
    return models.UserProfile(**PROFILES[user_id])
''',
    "get_user": '''"""get_user for the test."""

from planforge_runtime import Context, Problem

from .. import models
from .store import PROFILES


async def handle(ctx: Context, *, user_id: str) -> models.UserProfile:
    if user_id not in PROFILES:
        raise Problem(404, "No such profile.")
    return models.UserProfile(**PROFILES[user_id])
''',
    "rename_user": '''"""rename_user for the test: slow enough for a concurrent rename to try to overtake it."""

import asyncio

from planforge_runtime import Context, Problem

from .. import models
from .store import PROFILES


async def handle(ctx: Context, *, user_id: str, body: models.NewUser) -> models.UserProfile:
    if user_id not in PROFILES:
        raise Problem(404, "No such profile.")
    await asyncio.sleep(0.05)
    PROFILES[user_id]["name"] = body.name
    return models.UserProfile(**PROFILES[user_id])
''',
}


@pytest.mark.services
@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
def test_a_data_consistency_scenario_and_its_flow_pass_against_the_real_stack(tmp_path: Path) -> None:
    """The generated data-consistency test: two renames with one If-Match through the gateway, one wins and the
    other gets 412; the flow's update sends the ETag its read got; userId comes from its derived source (the
    creating POST's answer), which the journey calls first."""
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(RENAMED, encoding="utf-8")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "planforge", "generate", str(manifest), "-o", str(out)]
    generated = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert generated.returncode == 0, generated.stderr
    impl = out / "profiles" / "services" / "user_service" / "impl"
    for name, text in _PROFILE_HANDLERS.items():
        (impl / f"{name}.py").write_text(text, encoding="utf-8")
    suite = out / "profiles" / "tests" / "e2e"
    env = {**os.environ, "PLANFORGE_E2E_REQUIRE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", str(suite), "-o", "addopts=", "-q", "-rs", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert _counts(done.stdout) == {"passed": 2}, done.stdout[-3000:]


@pytest.mark.parametrize("example", EXAMPLES)
def test_a_step_without_a_check_says_so_and_why(example: str) -> None:
    """Every step comment of a generated e2e test is followed by its checks or by a line saying it is not
    checked and why; no comment stands alone looking like a check (issue 13, item 4)."""
    for path, text in rendered(example)[1].items():
        if not path.endswith(".py"):
            continue
        lines = [line.strip() for line in text.splitlines()]
        for line, following in itertools.pairwise(lines):
            if re.match(r"# \d+\. ", line):
                assert following.startswith(("journey.", "# not checked: ")), (path, line, following)


@pytest.mark.parametrize("example", EXAMPLES)
def test_data_consistency_races_conditional_updates_not_their_reads(example: str) -> None:
    """The update of a data-consistency scenario is a conditional update with a body, never the GET that gives
    the ETag (which has concurrency: etag too)."""
    model, _ = rendered(example)
    for scenario in e2e_target.scenarios(model):
        if scenario.kind == "data-consistency":
            assert scenario.update is not None
            assert not scenario.update.startswith("GET "), scenario.update
            assert scenario.read is not None
            assert scenario.read.startswith("GET "), scenario.read
