"""What `planforge up` starts (deploy/stack.json), how (Options), and its errors."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from planforge.conventions import STACK_FORMAT
from planforge.errors import FindingsError, InputError

__all__ = [
    "DEFAULT_AMQP_URL",
    "DEFAULT_POSTGRES_URL",
    "DEFAULT_REDIS_URL",
    "SERVICE_SETTINGS",
    "SQL_NAME",
    "STACK_FILE",
    "STACK_FORMAT",
    "Options",
    "ServiceSpec",
    "StackError",
    "StackSpec",
    "StackUsageError",
    "load_spec",
]

STACK_FILE = "deploy/stack.json"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
# Settings of the services that `up` decides; the same names in planforge's own environment are not passed on.
SERVICE_SETTINGS: tuple[str, ...] = (
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "AMQP_URL",
    "JWT_PUBLIC_KEY",
    "JWT_PRIVATE_KEY",
    "JWT_SECRET",
    "JWT_KEYS_DIR",
    "FORWARDED_ALLOW_IPS",
    "JWT_JWKS_FILE",
    "JWT_KID",
    "TLS_CERT_FILE",
    "TLS_KEY_FILE",
    "TLS_CA_FILE",
)

SQL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class StackError(FindingsError):
    """The stack could not start or stopped running: a datastore, a service or the gateway failed (exit 1)."""


class StackUsageError(InputError):
    """The input is wrong: no deploy/stack.json, an unknown service, a port in use, a missing program (exit 2)."""


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
    """The feature to run: services in deployment order, phases, infrastructure, gateway and JWT facts.

    jwt_algorithms are every pinned algorithm (each gets its keys); jwt_algorithm is the one services sign
    with; gateway_key_envs maps each algorithm to the variable that names the gateway's key file.
    """

    name: str
    slug: str
    infrastructure: tuple[str, ...]
    phases: tuple[tuple[str, tuple[str, ...]], ...]
    services: tuple[ServiceSpec, ...]
    upstreams: tuple[tuple[str, str], ...] | None
    gateway_key_envs: dict[str, str]
    jwt_algorithm: str
    jwt_algorithms: tuple[str, ...]
    jwt_issuer: str | None
    mtls: bool = False

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
        gateway_key_envs=dict(gateway["key_envs"]) if gateway else {},
        jwt_algorithm=data["jwt"]["algorithm"],
        jwt_algorithms=tuple(data["jwt"]["algorithms"]),
        jwt_issuer=data["jwt"]["issuer"],
        mtls=bool(data.get("mtls", False)),
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
    monitoring: bool = False  # also start Prometheus with monitoring/ (and the nginx exporter)
    # Mutual TLS between gateway and services and between services (also when deploy/stack.json asks for it).
    mtls: bool = False
    # Rotate the JWT signing keys this often (seconds; None: never). Tokens of a replaced key pass for
    # token_lifetime seconds more (the services' token time to live and the leeway, by default).
    rotate_keys_every: float | None = None
    token_lifetime: float | None = None
    timeout: float = 60.0
    postgres_url: str = ""
    redis_url: str = ""
    amqp_url: str = ""
    # The AMQP URL the services connect to, when not amqp_url itself (tests put a TCP proxy in between).
    service_amqp_url: str = ""
    # The interpreter that runs the services (e.g. a virtual environment holding only their requirements);
    # planforge's own when empty.
    python: str = ""

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
        return self._in_vhost(self.amqp_url)

    @property
    def service_broker_url(self) -> str:
        """The AMQP URL the services use (service_amqp_url, else amqp_url), with the vhost of --vhost."""
        return self._in_vhost(self.service_amqp_url or self.amqp_url)

    def _in_vhost(self, url: str) -> str:
        if self.vhost is None:
            return url
        return urlsplit(url)._replace(path="/" + quote(self.vhost, safe="")).geturl()
