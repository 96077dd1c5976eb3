"""`planforge up`: run a generated feature on this machine, services and gateway, in the deployment order.

What to start comes from ``deploy/stack.json`` (written by the deploy target), so no manifest is needed. The
datastores are the ones named in the environment, defaulting to the local PostgreSQL, Redis and RabbitMQ:
each service's database is created when missing, the broker topology (``broker/definitions.json``) is declared
in the vhost, and a JWT key pair is created once in the state folder. Each service runs under uvicorn, the
gateway under nginx, each a child process with its log in ``<state>/logs/``. ``Stack`` is also the API the
end-to-end tests use: ``with Stack(generated_dir, Options(...)) as stack: ...``.

Only the standard library is imported here; database, broker and crypto clients are imported when used, so
that the command line stays light.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

__all__ = [
    "STACK_FORMAT",
    "Child",
    "JwtKeys",
    "Options",
    "ServiceSpec",
    "Stack",
    "StackError",
    "StackSpec",
    "StackUsageError",
    "ensure_jwt_keys",
    "jwt_key_files",
    "load_spec",
    "run",
]

STACK_FORMAT = 1
STACK_FILE = "deploy/stack.json"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
# Settings of the services that `up` decides; the same names in planforge's own environment are not passed on.
_SERVICE_SETTINGS: tuple[str, ...] = (
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "AMQP_URL",
    "JWT_PUBLIC_KEY",
    "JWT_PRIVATE_KEY",
    "JWT_SECRET",
)
_SQL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_GRACE = 10.0
_LOG_LINES = 20


class StackError(Exception):
    """The stack could not start or stopped running: a datastore, a service or the gateway failed."""


class StackUsageError(StackError):
    """The input is wrong: no deploy/stack.json, an unknown service, a port in use, a missing program."""


# --- what to start: deploy/stack.json -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service as deploy/stack.json describes it."""

    name: str
    title: str
    package: str
    port: int
    layer: str
    datastore: str | None
    database: str | None
    uses: tuple[str, ...]
    calls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StackSpec:
    """The feature to run: services in deployment order, phases, infrastructure, gateway and JWT facts."""

    name: str
    slug: str
    infrastructure: tuple[str, ...]
    phases: tuple[tuple[str, tuple[str, ...]], ...]
    services: tuple[ServiceSpec, ...]
    upstreams: tuple[tuple[str, str], ...] | None
    gateway_key_env: str | None
    jwt_algorithm: str
    jwt_issuer: str | None

    def service(self, name: str) -> ServiceSpec:
        """The service called name."""
        return next(s for s in self.services if s.name == name)


def load_spec(generated: Path) -> StackSpec:
    """Read GENERATED/deploy/stack.json; StackUsageError when it is missing or not a stack file planforge wrote."""
    path = generated / STACK_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackUsageError(f"{path}: no such file; generate the feature first (`planforge generate`)") from None
    except (OSError, ValueError) as exc:
        raise StackUsageError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or data.get("planforge_stack") != STACK_FORMAT:
        raise StackUsageError(f"{path}: not a stack file of this planforge (format {STACK_FORMAT}); regenerate")
    gateway = data["gateway"]
    return StackSpec(
        name=data["name"],
        slug=data["slug"],
        infrastructure=tuple(data["infrastructure"]),
        phases=tuple((p["name"], tuple(p["services"])) for p in data["phases"]),
        services=tuple(_service_spec(s) for s in data["services"]),
        upstreams=tuple((u["name"], u["service"]) for u in gateway["upstreams"]) if gateway else None,
        gateway_key_env=gateway["key_env"] if gateway else None,
        jwt_algorithm=data["jwt"]["algorithm"],
        jwt_issuer=data["jwt"]["issuer"],
    )


def _service_spec(data: Mapping[str, Any]) -> ServiceSpec:
    return ServiceSpec(
        name=data["name"],
        title=data["title"],
        package=data["package"],
        port=int(data["port"]),
        layer=data["layer"],
        datastore=data["datastore"],
        database=data["database"],
        uses=tuple(data["uses"]),
        calls=tuple(data["calls"]),
    )


# --- how to run it ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """How `up` runs the stack; the datastore URLs default to the environment, then to this machine."""

    port: int = 8080
    state: Path | None = None
    vhost: str | None = None
    only: tuple[str, ...] = ()
    gateway: bool = True
    db_prefix: str = ""
    redis_prefix: str = ""
    free_ports: bool = False
    timeout: float = 60.0
    postgres_url: str = ""
    redis_url: str = ""
    amqp_url: str = ""

    def __post_init__(self) -> None:
        env = os.environ
        defaults = {
            "postgres_url": env.get("PLANFORGE_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
            "redis_url": env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            "amqp_url": env.get("AMQP_URL") or DEFAULT_AMQP_URL,
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)

    @property
    def broker_url(self) -> str:
        """AMQP_URL with the vhost of --vhost, when given."""
        if self.vhost is None:
            return self.amqp_url
        return urlsplit(self.amqp_url)._replace(path="/" + quote(self.vhost, safe="")).geturl()


# --- JWT keys -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JwtKeys:
    """Key files for one algorithm: what verifiers read (public key or secret) and what the issuer signs with."""

    algorithm: str
    public: Path
    private: Path

    @property
    def symmetric(self) -> bool:
        """True for HS* algorithms: one shared secret in both files."""
        return self.algorithm.startswith("HS")


def jwt_key_files(algorithm: str) -> tuple[str, str]:
    """File names of the (public, private) keys of an algorithm; HS* algorithms have one secret file."""
    stem = f"jwt-{algorithm.lower()}"
    if algorithm.startswith("HS"):
        return f"{stem}.secret", f"{stem}.secret"
    return f"{stem}.pem", f"{stem}.key"


def ensure_jwt_keys(folder: Path | str, algorithm: str) -> JwtKeys:
    """The keys for algorithm in folder, created on first use and kept, so that tokens survive restarts."""
    folder = Path(folder)
    public_name, private_name = jwt_key_files(algorithm)
    keys = JwtKeys(algorithm, folder / public_name, folder / private_name)
    if keys.public.exists() and keys.private.exists():
        return keys
    folder.mkdir(parents=True, exist_ok=True)
    if keys.symmetric:
        # The gateway's workers read it too (as 'nobody' when nginx runs as root): readable, like the public key.
        _write(keys.public, secrets.token_hex(32).encode(), 0o644)
        return keys
    private, public = _key_pair(algorithm)
    _write(keys.private, private, 0o600)
    _write(keys.public, public, 0o644)
    return keys


def _key_pair(algorithm: str) -> tuple[bytes, bytes]:
    """A fresh (private, public) PEM pair for an asymmetric JWT algorithm."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    curves = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
    key: Any
    if algorithm in curves:
        key = ec.generate_private_key(curves[algorithm])
    elif algorithm == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def _write(path: Path, data: bytes, mode: int) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    path.chmod(mode)


# --- infrastructure -----------------------------------------------------------------------------------------


async def _create_databases(admin_url: str, names: list[str]) -> list[str]:
    """Create the databases that are missing; the ones created."""
    import asyncpg  # type: ignore[import-untyped]

    created = []
    connection = await asyncpg.connect(admin_url, timeout=5)
    try:
        for name in names:
            if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                continue
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
            except asyncpg.DuplicateDatabaseError:  # created meanwhile by another run
                pass
    finally:
        await connection.close()
    return created


def _ping_redis(url: str) -> str:
    """PING the Redis server; nothing to report when it answers."""
    from redis import Redis

    client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    finally:
        client.close()
    return ""


def _ensure_vhost(amqp_url: str, vhost: str) -> str:
    """Create vhost with rabbitmqctl (and let the URL's user use it); what was done, for the progress line."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return f"rabbitmqctl not found: vhost {vhost!r} is used as is (create it if it is missing)"
    listed = _ctl(ctl, "--formatter", "json", "list_vhosts", "name")
    if vhost in {row["name"] for row in json.loads(listed or "[]")}:
        return f"vhost {vhost!r} exists"
    user = urlsplit(amqp_url).username or "guest"
    _ctl(ctl, "add_vhost", vhost)
    _ctl(ctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    return f"vhost {vhost!r} created"


def _ctl(ctl: str, *args: str) -> str:
    done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise StackError(f"rabbitmqctl {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


async def _declare_topology(url: str, definitions: Mapping[str, list[dict[str, Any]]]) -> None:
    """Declare the exchanges, queues and bindings of broker/definitions.json in the URL's vhost."""
    import aio_pika

    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel()
        targets: dict[tuple[str, str], Any] = {}
        for e in definitions["exchanges"]:
            targets["exchange", e["name"]] = await channel.declare_exchange(
                e["name"],
                e["type"],
                durable=e["durable"],
                auto_delete=e["auto_delete"],
                internal=e["internal"],
                arguments=e["arguments"] or None,
            )
        for q in definitions["queues"]:
            targets["queue", q["name"]] = await channel.declare_queue(
                q["name"], durable=q["durable"], auto_delete=q["auto_delete"], arguments=q["arguments"] or None
            )
        for b in definitions["bindings"]:
            target = targets[b["destination_type"], b["destination"]]
            await target.bind(b["source"], b["routing_key"], arguments=b["arguments"] or None)


# --- child processes ----------------------------------------------------------------------------------------


@dataclass
class Child:
    """A process the stack started: a service or the gateway, its base URL and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self, lines: int = _LOG_LINES) -> str:
        """The last lines of its log."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """On Linux, the child gets SIGTERM when planforge dies without stopping it (kill -9): nothing is left behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _spawn(command: list[str], log: Path, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start a child in its own session (a terminal's Ctrl-C reaches planforge only, which stops it in order)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def _terminate(children: list[Child]) -> None:
    """SIGTERM to each, wait up to the grace period, then SIGKILL to the process group of any still running."""
    for child in children:
        if child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + _GRACE
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            # start_new_session made the child a group leader: this also reaches nginx's workers.
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


def _port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (SO_REUSEADDR, as uvicorn and nginx bind)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answer(url: str) -> tuple[int, str]:
    """(status, body) of GET url; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(2000).decode(errors="replace")
    except (OSError, ValueError) as exc:
        return 0, str(exc)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while stopping, so that a second Ctrl-C cannot leave children behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# --- the stack ----------------------------------------------------------------------------------------------


class Stack:
    """The feature's services and gateway as child processes: start() in deployment order, stop() in reverse.

    Use it as a context manager; start() stops whatever it started when it fails or is interrupted.
    """

    def __init__(self, generated: Path, options: Options | None = None, out: TextIO | None = None) -> None:
        self.generated = Path(generated).resolve()
        self.spec = load_spec(self.generated)
        self.options = options or Options()
        self.out = out or sys.stdout
        self.state = (self.options.state or self.generated.parent / ".planforge-up" / self.spec.slug).resolve()
        self.selected = self._selected()
        self.ports: dict[str, int] = {}
        self.children: dict[str, Child] = {}
        self.keys: JwtKeys | None = None
        self._partial_line = False
        if self.options.db_prefix and not _SQL_NAME.match(self.options.db_prefix):
            raise StackUsageError(f"--db-prefix {self.options.db_prefix!r}: use lower-case letters, digits and '_'")

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # --- what runs where

    def service_url(self, name: str) -> str:
        """The base URL of a service (its port is known once start() began)."""
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def gateway_url(self) -> str | None:
        """The gateway's base URL, when it runs."""
        child = self.children.get("gateway")
        return child.url if child else None

    def database(self, service: ServiceSpec) -> str | None:
        """The name of the service's database on the PostgreSQL server (with --db-prefix)."""
        return self.options.db_prefix + service.database if service.database else None

    # --- lifecycle

    def start(self) -> None:
        """Check the infrastructure, then start each phase's services and the gateway, each once ready."""
        try:
            self._prepare()
            for phase, names in self.spec.phases:
                members = [s for s in self.selected if s.name in names]
                if members:
                    self._line(phase)
                for service in members:
                    self.start_service(service.name)
            if self.options.gateway and self.spec.upstreams is not None:
                self._line("API Gateway")
                self._start_gateway()
        except BaseException:
            self.stop()
            raise
        where = self.gateway_url or ", ".join(f"{s.name} {self.service_url(s.name)}" for s in self.selected)
        self._line(f"ready: {self.spec.name} at {where} (logs in {self.state / 'logs'}; Ctrl-C stops everything)")

    def stop(self) -> None:
        """Stop the gateway, then the services (SIGTERM, then SIGKILL after a grace period); idempotent."""
        if not self.children:
            return
        with _signals_deferred():
            if self._partial_line:  # interrupted in the middle of a progress line
                self._line("")
            self._progress("stopping ...")
            gateway = [c for name, c in self.children.items() if name == "gateway"]
            _terminate(gateway)
            _terminate([c for name, c in reversed(self.children.items()) if name != "gateway"])
            self.children.clear()
            self._end("stopped")

    def start_service(self, name: str) -> Child:
        """Start one service (again) and wait until its /readyz answers 200."""
        service = self.spec.service(name)
        port = self.ports[name]
        self._progress(f"  starting {name} on :{port} ...")
        command = [sys.executable, "-m", "uvicorn", f"{service.package}.app:app"]
        command += ["--app-dir", str(self.generated / "services"), "--host", "127.0.0.1", "--port", str(port)]
        child = self._launch(name, command, self._service_env(service), self.service_url(name))
        self._await(child, "/readyz")
        return child

    def stop_service(self, name: str) -> None:
        """Stop one service, leaving the others running (for tests of a service being down)."""
        child = self.children.pop(name, None)
        if child is not None:
            _terminate([child])

    def watch(self, poll: float = 0.2) -> Child:
        """Block until a child exits, and return it."""
        while True:
            for child in list(self.children.values()):
                if child.process.poll() is not None:
                    return child
            time.sleep(poll)

    # --- preparation

    def _selected(self) -> tuple[ServiceSpec, ...]:
        known = [s.name for s in self.spec.services]
        unknown = [name for name in self.options.only if name not in known]
        if unknown:
            raise StackUsageError(f"--only: {self.spec.slug} has no service {', '.join(unknown)} ({', '.join(known)})")
        return tuple(s for s in self.spec.services if not self.options.only or s.name in self.options.only)

    def _prepare(self) -> None:
        self._make_state()
        self._assign_ports()
        self._line(f"planforge up: {self.spec.name} ({self.spec.slug}), state in {self.state}")
        self._line("Infrastructure")
        databases = [name for name in (self.database(s) for s in self.selected) if name]
        if databases:
            self._check(f"PostgreSQL {_where(self.options.postgres_url)}", lambda: self._databases(databases))
        if "redis" in self.spec.infrastructure:
            self._check(f"Redis {_where(self.options.redis_url)}", lambda: _ping_redis(self.options.redis_url))
        if "rabbitmq" in self.spec.infrastructure:
            self._check(f"RabbitMQ {_where(self.options.amqp_url)}", self._broker)
        self._check(f"JWT keys ({self.spec.jwt_algorithm})", self._jwt_keys)

    def _make_state(self) -> None:
        if self.options.state is None:
            root = self.state.parent
            root.mkdir(parents=True, exist_ok=True)
            (root / ".gitignore").write_text("# Written by `planforge up`: state of running stacks.\n*\n")
        shutil.rmtree(self.state / "logs", ignore_errors=True)
        (self.state / "logs").mkdir(parents=True)

    def _assign_ports(self) -> None:
        if self.options.free_ports:
            while len(set(self.ports.values())) != len(self.spec.services):
                self.ports = {s.name: _free_port() for s in self.spec.services}
        else:
            self.ports = {s.name: s.port for s in self.spec.services}
        for service in self.selected:
            if not _port_free(self.ports[service.name]):
                raise StackUsageError(
                    f"port {self.ports[service.name]} of {service.name} is in use (another `planforge up`?); "
                    "stop what listens there or use --free-ports"
                )
        if self.options.gateway and self.spec.upstreams is not None and not _port_free(self.options.port):
            raise StackUsageError(f"port {self.options.port} of the gateway is in use; choose another with --port")

    def _check(self, label: str, action: Callable[[], str]) -> None:
        """Run one infrastructure step with a progress line; any failure becomes a StackError naming it."""
        self._progress(f"  {label} ...")
        try:
            detail = action()
        except StackError:
            self._end("failed")
            raise
        except Exception as exc:  # any client error: unreachable, refused, bad credentials
            self._end("failed")
            raise StackError(f"{label}: {type(exc).__name__}: {exc}".rstrip(": ")) from None
        self._end(f"ok ({detail})" if detail else "ok")

    def _databases(self, names: list[str]) -> str:
        too_long = [name for name in names if len(name) > 63]
        if too_long:
            raise StackUsageError(f"database names longer than PostgreSQL's 63 bytes: {', '.join(too_long)}")
        created = asyncio.run(_create_databases(self.options.postgres_url, names))
        return f"databases {', '.join(names)}; created {', '.join(created) or 'none'}"

    def _broker(self) -> str:
        notes = []
        if self.options.vhost is not None:
            notes.append(_ensure_vhost(self.options.amqp_url, self.options.vhost))
        definitions = json.loads((self.generated / "broker" / "definitions.json").read_text(encoding="utf-8"))
        asyncio.run(_declare_topology(self.options.broker_url, definitions))
        counts = ", ".join(f"{len(definitions[kind])} {kind}" for kind in ("exchanges", "queues", "bindings"))
        return "; ".join([*notes, f"declared {counts}"])

    def _jwt_keys(self) -> str:
        existed = (self.state / "keys" / jwt_key_files(self.spec.jwt_algorithm)[1]).exists()
        self.keys = ensure_jwt_keys(self.state / "keys", self.spec.jwt_algorithm)
        return "kept" if existed else "created"

    def _service_env(self, service: ServiceSpec) -> dict[str, str]:
        """The service's environment: planforge's own, with the settings `up` decides put in place."""
        env = {k: v for k, v in os.environ.items() if k not in _SERVICE_SETTINGS}
        env.update(REDIS_URL=self.options.redis_url, REDIS_KEY_PREFIX=self.options.redis_prefix)
        env.update(AMQP_URL=self.options.broker_url, PYTHONUNBUFFERED="1")
        database = self.database(service)
        if database:
            env["DATABASE_URL"] = urlsplit(self.options.postgres_url)._replace(path="/" + database).geturl()
        env.update(self._jwt_env(service))
        for name in service.calls:
            env[f"{self.spec.service(name).package.upper()}_URL"] = self.service_url(name)
        return env

    def _jwt_env(self, service: ServiceSpec) -> dict[str, str]:
        assert self.keys is not None
        if self.keys.symmetric:
            return {"JWT_SECRET": self.keys.public.read_text(encoding="utf-8").strip()}
        env = {"JWT_PUBLIC_KEY": self.keys.public.read_text(encoding="utf-8")}
        if service.name == self.spec.jwt_issuer:
            env["JWT_PRIVATE_KEY"] = self.keys.private.read_text(encoding="utf-8")
        return env

    # --- the gateway

    def _start_gateway(self) -> None:
        nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
        if nginx is None:
            raise StackUsageError("nginx is not installed (with its njs module); install it or use --no-gateway")
        conf, runtime = self._gateway_files()
        env = dict(os.environ)
        if self.spec.gateway_key_env and self.keys is not None:
            env[self.spec.gateway_key_env] = str(self.keys.public)
            self._warn_unreadable(self.keys.public)
        port = self.options.port
        self._progress(f"  starting gateway on :{port} ...")
        command = [nginx, "-e", "stderr", "-p", f"{runtime}/", "-c", str(conf / "nginx.conf")]
        child = self._launch("gateway", command, env, f"http://127.0.0.1:{port}")
        self._await(child, "/healthz")

    def _gateway_files(self) -> tuple[Path, Path]:
        """A copy of gateway/ with the settings `up` replaces: listen address and upstream addresses."""
        conf, runtime = self.state / "gateway" / "conf", self.state / "gateway" / "run"
        shutil.rmtree(conf, ignore_errors=True)
        shutil.copytree(self.generated / "gateway", conf)
        runtime.mkdir(parents=True, exist_ok=True)
        (conf / "settings" / "listen.conf").write_text(f"listen 127.0.0.1:{self.options.port};\n")
        blocks = [
            f"upstream {name} {{\n    # {service}\n    server 127.0.0.1:{self.ports[service]};\n    keepalive 16;\n}}\n"
            for name, service in self.spec.upstreams or ()
        ]
        (conf / "settings" / "upstreams.conf").write_text("# Written by `planforge up`.\n\n" + "\n".join(blocks))
        return conf, runtime

    def _warn_unreadable(self, path: Path) -> None:
        """nginx run as root reads keys in workers that run as 'nobody': every parent folder must let others in."""
        if os.geteuid() != 0:
            return
        closed = [p for p in path.parents if not os.stat(p).st_mode & 0o001]
        if closed:
            self._line(f"  warning: nginx workers (user nobody) cannot enter {closed[0]}; protected routes will fail")

    # --- processes and progress

    def _launch(self, name: str, command: list[str], env: Mapping[str, str], url: str) -> Child:
        log = self.state / "logs" / f"{name}.log"
        child = Child(name, _spawn(command, log, env, self.state), url, log)
        self.children[name] = child
        return child

    def _await(self, child: Child, path: str) -> None:
        """Wait until GET path answers 200; StackError with the child's last log lines otherwise."""
        started = time.monotonic()
        status, body = 0, ""
        while time.monotonic() - started < self.options.timeout:
            code = child.process.poll()
            if code is not None:
                self._end("failed")
                raise StackError(f"{child.name} exited with code {code} while starting; {child.log}:\n{child.tail()}")
            status, body = _answer(child.url + path)
            if status == 200:
                self._end(f"ready ({time.monotonic() - started:.1f}s)")
                return
            time.sleep(0.1)
        self._end("failed")
        answer = f"{status} {body.strip()[:300]}" if status else f"no answer ({body})"
        raise StackError(
            f"{child.name} was not ready within {self.options.timeout:g}s (GET {path}: {answer}); "
            f"{child.log}:\n{child.tail()}"
        )

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
        self._partial_line = False

    def _progress(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self._partial_line = True

    def _end(self, text: str) -> None:
        self._line(" " + text)


def _where(url: str) -> str:
    """host:port of a URL, without credentials, for progress lines."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


# --- the command ----------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(generated: Path, options: Options, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`planforge up`: start, run until Ctrl-C, SIGTERM or a child's exit, stop; the exit code (0, 1 or 2)."""
    err = err or sys.stderr
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with Stack(generated, options, out) as stack:
            child = stack.watch()
            err.write(f"planforge up: {child.name} exited with code {child.process.returncode}; stopping the rest\n")
            err.write(f"{child.log}:\n{child.tail()}\n")
        return 1
    except KeyboardInterrupt:
        return 0
    except StackUsageError as exc:
        err.write(f"planforge up: {exc}\n")
        return 2
    except StackError as exc:
        err.write(f"planforge up: {exc}\n")
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
