"""The Stack: a feature's services and gateway as child processes, started in deployment order."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TextIO
from urllib.parse import urlsplit

from planforge.errors import PlanforgeError
from planforge.stack.infrastructure import create_databases, declare_topology, ensure_vhost, ping_redis
from planforge.stack.keys import JWKS_FILE, JwtKeys, current_kid, ensure_jwt_keys, jwt_key_files, rotate_jwt_keys
from planforge.stack.monitoring import exporter_command, monitoring_files, prometheus_command
from planforge.stack.processes import Child, free_port, port_free, probe, signals_deferred, spawn, terminate
from planforge.stack.spec import (
    SERVICE_SETTINGS,
    SQL_NAME,
    Options,
    ServiceSpec,
    StackError,
    StackUsageError,
    load_spec,
)
from planforge.stack.tls import PROBE_IDENTITY, TlsFiles, client_context, ensure_certificates

__all__ = ["GATEWAY_ADDRESS", "Stack"]

# The variable that names the gateway's JWKS file (targets/gateway.py's JWKS_FILE_ENV; jwt.js reads it).
JWKS_FILE_ENV = "GATEWAY_JWT_JWKS_FILE"
# The gateway's address as the services see it: the only one whose X-Forwarded-For they trust.
GATEWAY_ADDRESS = "127.0.0.1"

# Seconds a replaced signing key keeps passing, by default: the services' token time to live (JWT_TTL_SECONDS's
# default, 15 minutes) and a minute of clock leeway.
DEFAULT_TOKEN_LIFETIME = 900.0 + 60.0

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
        self.keys: dict[str, JwtKeys] = {}
        self.status_port: int | None = None  # the gateway's stub_status server, when its settings have one
        # Mutual TLS: by --mtls, or because the manifest asks for it (security.service_auth: mtls).
        self.mtls = self.options.mtls or self.spec.mtls
        self.tls: dict[str, TlsFiles] = {}
        # Key rotation (--rotate-keys-every): the rotating key set, and the thread that rotates it.
        self.rotating = self.options.rotate_keys_every is not None
        self.rotation_folder = self.state / "keys" / "rotating"
        self._rotation_stop = threading.Event()
        self._rotation: threading.Thread | None = None
        self._partial_line = False
        if self.options.db_prefix and not SQL_NAME.match(self.options.db_prefix):
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
        """The base URL of a service (its port is known once start() began); https with mutual TLS."""
        return f"{'https' if self.mtls else 'http'}://127.0.0.1:{self.ports[name]}"

    def client_tls(self, name: str = PROBE_IDENTITY) -> ssl.SSLContext | None:
        """A client context with name's certificate (by default `up`'s own) and the stack's CA; None without mTLS."""
        return client_context(self.tls[name]) if self.mtls else None

    @property
    def gateway_url(self) -> str | None:
        """The gateway's base URL, when it runs."""
        child = self.children.get("gateway")
        return child.url if child else None

    @property
    def gateway_status_url(self) -> str | None:
        """Where the gateway serves nginx's stub_status (its own listener, never the public port), when it runs."""
        if "gateway" not in self.children or self.status_port is None:
            return None
        return f"http://127.0.0.1:{self.status_port}/stub_status"

    @property
    def prometheus_url(self) -> str | None:
        """Prometheus's base URL, when it runs (--monitoring)."""
        child = self.children.get("prometheus")
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
            if self.options.monitoring:
                self._line("Monitoring")
                self._start_monitoring()
            if self.rotating:
                self._start_rotation()
        except BaseException:
            self.stop()
            raise
        where = self.gateway_url or ", ".join(f"{s.name} {self.service_url(s.name)}" for s in self.selected)
        where += f"; Prometheus at {self.prometheus_url}" if self.prometheus_url else ""
        self._line(f"ready: {self.spec.name} at {where} (logs in {self.state / 'logs'}; Ctrl-C stops everything)")

    def stop(self) -> None:
        """Stop the gateway, then the services (SIGTERM, then SIGKILL after a grace period); idempotent."""
        self._rotation_stop.set()
        if self._rotation is not None:
            self._rotation.join()
            self._rotation = None
        if not self.children:
            return
        with signals_deferred():
            if self._partial_line:  # interrupted in the middle of a progress line
                self._line("")
            self._progress("stopping ...")
            gateway = [c for name, c in self.children.items() if name == "gateway"]
            terminate(gateway)
            terminate([c for name, c in reversed(self.children.items()) if name != "gateway"])
            self.children.clear()
            self._end("stopped")

    def start_service(self, name: str) -> Child:
        """Start one service (again) and wait until its /readyz answers 200."""
        service = self.spec.service(name)
        port = self.ports[name]
        self._progress(f"  starting {name} on :{port} ...")
        command = [self.options.python or sys.executable, "-m", "uvicorn", f"{service.package}.app:app"]
        command += ["--app-dir", str(self.generated / "services"), "--host", "127.0.0.1", "--port", str(port)]
        # X-Forwarded-For is trusted from the gateway's address only (the gateway sets it from its peer).
        command += ["--proxy-headers", "--forwarded-allow-ips", GATEWAY_ADDRESS]
        if self.mtls:  # HTTPS only, and only for clients with a certificate from the stack's CA
            tls = self.tls[name]
            command += ["--ssl-certfile", str(tls.certificate), "--ssl-keyfile", str(tls.key)]
            command += ["--ssl-ca-certs", str(tls.ca), "--ssl-cert-reqs", str(int(ssl.CERT_REQUIRED))]
        child = self._launch(name, command, self._service_env(service), self.service_url(name))
        self._await(child, "/readyz")
        return child

    def stop_service(self, name: str) -> None:
        """Stop one service, leaving the others running (for tests of a service being down)."""
        child = self.children.pop(name, None)
        if child is not None:
            terminate([child])

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
            self._check(f"Redis {_where(self.options.redis_url)}", lambda: ping_redis(self.options.redis_url))
        if "rabbitmq" in self.spec.infrastructure:
            self._check(f"RabbitMQ {_where(self.options.amqp_url)}", self._broker)
        self._check(f"JWT keys ({', '.join(self.spec.jwt_algorithms)})", self._jwt_keys)
        if self.rotating:
            self._check("JWT key set (rotating)", self._rotating_keys)
        if self.mtls:
            self._check("mTLS certificates", self._certificates)

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
                self.ports = {s.name: free_port() for s in self.spec.services}
        else:
            self.ports = {s.name: s.port for s in self.spec.services}
        for service in self.selected:
            if not port_free(self.ports[service.name]):
                raise StackUsageError(
                    f"port {self.ports[service.name]} of {service.name} is in use (another `planforge up`?); "
                    "stop what listens there or use --free-ports"
                )
        if self.options.gateway and self.spec.upstreams is not None and not port_free(self.options.port):
            raise StackUsageError(f"port {self.options.port} of the gateway is in use; choose another with --port")

    def _check(self, label: str, action: Callable[[], str]) -> None:
        """Run one infrastructure step with a progress line; any failure becomes a StackError naming it."""
        self._progress(f"  {label} ...")
        try:
            detail = action()
        except PlanforgeError:
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
        created = asyncio.run(create_databases(self.options.postgres_url, names))
        return f"databases {', '.join(names)}; created {', '.join(created) or 'none'}"

    def _broker(self) -> str:
        notes = []
        if self.options.vhost is not None:
            notes.append(ensure_vhost(self.options.amqp_url, self.options.vhost))
        definitions = json.loads((self.generated / "broker" / "definitions.json").read_text(encoding="utf-8"))
        asyncio.run(declare_topology(self.options.broker_url, definitions))
        counts = ", ".join(f"{len(definitions[kind])} {kind}" for kind in ("exchanges", "queues", "bindings"))
        return "; ".join([*notes, f"declared {counts}"])

    def _jwt_keys(self) -> str:
        """Keys for every pinned algorithm (the gateway has a key file for each), kept across runs."""
        folder = self.state / "keys"
        existed = [alg for alg in self.spec.jwt_algorithms if (folder / jwt_key_files(alg)[1]).exists()]
        self.keys = {alg: ensure_jwt_keys(folder, alg) for alg in self.spec.jwt_algorithms}
        created = [alg for alg in self.spec.jwt_algorithms if alg not in existed]
        return f"created {', '.join(created)}" if created else "kept"

    # --- key rotation

    @property
    def token_lifetime(self) -> float:
        """Seconds a replaced signing key keeps passing (--token-lifetime, else DEFAULT_TOKEN_LIFETIME)."""
        return self.options.token_lifetime or DEFAULT_TOKEN_LIFETIME

    def rotate_keys(self, now: float | None = None) -> dict[str, str]:
        """Rotate the signing key of every pinned algorithm now (now: the clock, for tests); the new kids.

        Gateway and services read jwks.json on every token, and the issuer signs with the newest key, so nothing
        restarts: tokens of the replaced key pass for a token lifetime, then its key is dropped.
        """
        return {
            algorithm: rotate_jwt_keys(self.rotation_folder, algorithm, token_lifetime=self.token_lifetime, now=now)
            for algorithm in self.spec.jwt_algorithms
        }

    def current_kids(self) -> dict[str, str | None]:
        """The kid that signs each algorithm's tokens now."""
        return {alg: current_kid(self.rotation_folder, alg) for alg in self.spec.jwt_algorithms}

    def _rotating_keys(self) -> str:
        missing = [alg for alg, kid in self.current_kids().items() if kid is None]
        for algorithm in missing:
            rotate_jwt_keys(self.rotation_folder, algorithm, token_lifetime=self.token_lifetime)
        every = self.options.rotate_keys_every
        return f"{self.rotation_folder / JWKS_FILE}, every {every:g}s; created {', '.join(missing) or 'none'}"

    def _start_rotation(self) -> None:
        every = float(self.options.rotate_keys_every or 0)

        def rotate() -> None:
            while not self._rotation_stop.wait(every):
                kids = self.rotate_keys()
                self._line(f"rotated JWT keys: {', '.join(f'{alg} {kid}' for alg, kid in sorted(kids.items()))}")

        self._rotation_stop.clear()
        self._rotation = threading.Thread(target=rotate, name="planforge-key-rotation", daemon=True)
        self._rotation.start()

    def _certificates(self) -> str:
        """The local CA and a certificate for each service, the gateway and `up`'s own checks, kept across runs."""
        names = [*(s.name for s in self.spec.services), "gateway", "prometheus", PROBE_IDENTITY]
        self.tls, issued = ensure_certificates(self.state / "tls", names)
        return f"CA {self.state / 'tls' / 'ca.pem'}; issued {', '.join(issued) or 'none'}"

    def _service_env(self, service: ServiceSpec) -> dict[str, str]:
        """The service's environment: planforge's own, with the settings `up` decides put in place."""
        env = {k: v for k, v in os.environ.items() if k not in SERVICE_SETTINGS}
        env.update(REDIS_URL=self.options.redis_url, REDIS_KEY_PREFIX=self.options.redis_prefix)
        env.update(AMQP_URL=self.options.service_broker_url, PYTHONUNBUFFERED="1")
        database = self.database(service)
        if database:
            env["DATABASE_URL"] = urlsplit(self.options.postgres_url)._replace(path="/" + database).geturl()
        env.update(self._jwt_env(service))
        for name in service.calls:
            env[f"{self.spec.service(name).package.upper()}_URL"] = self.service_url(name)
        if self.mtls:
            tls = self.tls[service.name]
            env.update(TLS_CERT_FILE=str(tls.certificate), TLS_KEY_FILE=str(tls.key), TLS_CA_FILE=str(tls.ca))
        return env

    def _jwt_env(self, service: ServiceSpec) -> dict[str, str]:
        """The verifying key of every algorithm (JWT_KEYS_DIR), and the signing key for the issuer."""
        signing = self.keys[self.spec.jwt_algorithm]
        env = {"JWT_KEYS_DIR": str(signing.public.parent)}
        if self.rotating:  # verify by kid from the rotating set; the issuer signs with its newest key
            env["JWT_JWKS_FILE"] = str(self.rotation_folder / JWKS_FILE)
        if signing.symmetric:
            env["JWT_SECRET"] = signing.public.read_text(encoding="utf-8").strip()
            return env
        env["JWT_PUBLIC_KEY"] = signing.public.read_text(encoding="utf-8")
        if service.name == self.spec.jwt_issuer:
            env["JWT_PRIVATE_KEY"] = signing.private.read_text(encoding="utf-8")
        return env

    # --- the gateway

    def _start_gateway(self) -> None:
        nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
        if nginx is None:
            raise StackUsageError("nginx is not installed (with its njs module); install it or use --no-gateway")
        conf, runtime = self._gateway_files()
        env = dict(os.environ)
        for algorithm, variable in self.spec.gateway_key_envs.items():
            env[variable] = str(self.keys[algorithm].public)
            self._warn_unreadable(self.keys[algorithm].public)
        if self.rotating:
            env[JWKS_FILE_ENV] = str(self.rotation_folder / JWKS_FILE)
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
        (conf / "settings" / "listen.conf").write_text(f"listen {GATEWAY_ADDRESS}:{self.options.port};\n")
        if (conf / "settings" / "status.conf").exists():  # stub_status, on its own server (never the public port)
            self.status_port = free_port()
            (conf / "settings" / "status.conf").write_text(f"listen 127.0.0.1:{self.status_port};\n")
        blocks = [
            f"upstream {name} {{\n    # {service}\n    server 127.0.0.1:{self.ports[service]};\n    keepalive 16;\n}}\n"
            for name, service in self.spec.upstreams or ()
        ]
        (conf / "settings" / "upstreams.conf").write_text("# Written by `planforge up`.\n\n" + "\n".join(blocks))
        (conf / "settings" / "services-tls.conf").write_text(self._services_tls())
        return conf, runtime

    def _services_tls(self) -> str:
        """settings/services-tls.conf: plain HTTP, or mutual TLS with the gateway's certificate and the local CA."""
        if not self.mtls:
            return "# Written by `planforge up`: plain HTTP.\nmap $host $upstream_scheme {\n    default http;\n}\n"
        tls = self.tls["gateway"]
        return (
            "# Written by `planforge up --mtls`: mutual TLS with the stack's CA.\n"
            "map $host $upstream_scheme {\n    default https;\n}\n"
            f'proxy_ssl_certificate "{tls.certificate}";\nproxy_ssl_certificate_key "{tls.key}";\n'
            f'proxy_ssl_trusted_certificate "{tls.ca}";\nproxy_ssl_verify on;\nproxy_ssl_verify_depth 2;\n'
            "proxy_ssl_session_reuse on;\n"
        )

    # --- monitoring

    def _start_monitoring(self) -> None:
        """The nginx exporter (when the gateway serves stub_status), then Prometheus with the generated rules."""
        exporter = None
        if self.status_port is not None and "gateway" in self.children:
            port = free_port()
            self._progress(f"  starting nginx exporter on :{port} ...")
            status = f"http://127.0.0.1:{self.status_port}/stub_status"
            child = self._launch(
                "nginx-exporter", exporter_command(status, port), dict(os.environ), f"http://127.0.0.1:{port}"
            )
            self._await(child, "/metrics")
            exporter = f"127.0.0.1:{port}"
        services = {s.name: f"127.0.0.1:{self.ports[s.name]}" for s in self.selected}
        tls = self.tls["prometheus"] if self.mtls else None
        config, data = monitoring_files(self.generated, self.state / "monitoring", services, exporter, tls)
        port = free_port()
        self._progress(f"  starting prometheus on :{port} ...")
        command = prometheus_command(config, data, port)
        child = self._launch("prometheus", command, dict(os.environ), f"http://127.0.0.1:{port}")
        self._await(child, "/-/ready")

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
        child = Child(name, spawn(command, log, env, self.state), url, log)
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
            tls = self.client_tls() if child.url.startswith("https:") else None
            status, body = probe(child.url + path, tls)
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
