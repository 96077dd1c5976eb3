"""The deploy target: everything needed to run the whole feature, with Docker Compose or with `planforge up`.

``deploy/docker-compose.yaml`` runs PostgreSQL (one database per postgres datastore, created by an init script),
Redis, RabbitMQ (the broker definitions imported at boot), one container per service built from
``deploy/Dockerfile``, a one-shot job that creates the JWT keys, and nginx with the generated gateway.
Containers start in the derived deployment order: each waits for the previous phase to be healthy.

``deploy/stack.json`` tells ``planforge up`` what to start (services, ports, databases, phases, gateway and
JWT facts), so that it needs neither the manifest nor the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from planforge.conventions import DEFAULT_LISTEN_PORT, RUNTIME_REQUIREMENT, STACK_FORMAT, jwt_key_files, key_file_env
from planforge.escape import json_document
from planforge.model import Model, Service
from planforge.targets import Output
from planforge.templating import render_template

__all__ = ["COMPOSE", "STACK", "Container", "Phase", "database_name", "phases", "render", "stack_data"]

COMPOSE = "deploy/docker-compose.yaml"
STACK = "deploy/stack.json"

_IMAGES = {
    "postgres": "postgres:16-alpine",
    "redis": "redis:7-alpine",
    "rabbitmq": "rabbitmq:3.13-management",
    # The official nginx image ships the njs module at the path settings/main.conf loads.
    "gateway": "nginx:1.27",
    "prometheus": "prom/prometheus:v2.53.2",
}
_RABBITMQ_METRICS_PORT = 15692  # rabbitmq_prometheus
_KEYS_DIR = "/run/planforge/jwt"
_GATEWAY_DIR = "/etc/planforge/gateway"
# The compose network has a fixed subnet so that the gateway has a fixed address: the only one whose
# X-Forwarded-For the services trust (uvicorn's FORWARDED_ALLOW_IPS). Both can be changed in .env.
_SUBNET = "${PLANFORGE_SUBNET:-172.30.89.0/24}"
_GATEWAY_ADDRESS = "${GATEWAY_ADDRESS:-172.30.89.250}"
# a compose default, overridden by .env (bandit B105)
_POSTGRES_PASSWORD = "${POSTGRES_PASSWORD:-planforge}"  # nosec B105
_AMQP_URL = "amqp://guest:guest@{host}:5672/"
# Mounted over gateway/settings/services-tls.conf when the manifest asks for mTLS, which compose does not do.
_PLAIN_TLS = "deploy/gateway/services-tls.conf"
_INFRASTRUCTURE = ("postgres", "redis", "rabbitmq", "gateway", "jwt-keys", "prometheus")
# Each file and the kind of infrastructure it needs (None: always); its template is templates/<path>.j2.
_TEMPLATES: dict[str, str | None] = {
    "deploy/Dockerfile": None,
    "deploy/README.md": None,
    "deploy/docker-compose.yaml": None,
    "deploy/entrypoint.sh": None,
    "deploy/gateway/http.conf": "gateway",
    "deploy/gateway/upstreams.conf": "gateway",
    "deploy/postgres/create-databases.sh": "postgres",
    "deploy/rabbitmq/rabbitmq.conf": "rabbitmq",
}


@dataclass(frozen=True, slots=True)
class Phase:
    """A phase of the deployment order that starts services, with them in order."""

    name: str
    services: tuple[Service, ...]


@dataclass(frozen=True, slots=True)
class Container:
    """One entry of docker-compose.yaml's services, every value computed here so the template only prints."""

    name: str
    comment: str
    image: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    hostname: str | None = None
    command: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    volumes: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    depends_on: tuple[tuple[str, str], ...] = ()
    healthcheck: tuple[str, ...] = ()
    start_period: str = "10s"
    restart: str | None = None
    notes: tuple[str, ...] = ()
    ipv4_address: str | None = None


def render(model: Model) -> Output:
    """deploy/: docker-compose.yaml and what it mounts, Dockerfile, stack.json, README.md; .env, created once."""
    context = _context(model)
    kinds = _kinds(model)
    paths = [p for p, needs in _TEMPLATES.items() if needs is None or needs in kinds]
    owned = {path: render_template(f"{path}.j2", **context) for path in paths}
    owned[STACK] = json_document(stack_data(model)) + "\n"
    if "rabbitmq" in kinds:
        owned["deploy/rabbitmq/access.json"] = json.dumps(_rabbitmq_access(), indent=2) + "\n"
        # Erlang terms: the management UI, and rabbitmq_prometheus for queue depths (port 15692).
        owned["deploy/rabbitmq/enabled_plugins.erl"] = "[rabbitmq_management,rabbitmq_prometheus].\n"
    owned |= _monitoring_targets(model, context["names"])  # type: ignore[arg-type]
    if model.mtls and model.gateway is not None:  # compose has no certificates: plain HTTP to the services
        owned[_PLAIN_TLS] = render_template("gateway/settings/services-tls.conf.j2", model=model, mtls=False)
    # Compose reads .env next to the compose file; people add their own settings there, so it is theirs.
    return Output(owned=owned, user={"deploy/.env": render_template("deploy/.env.j2", **context)})


def _monitoring_targets(model: Model, names: dict[str, str]) -> dict[str, str]:
    """deploy/monitoring/targets/*.json: the compose host names Prometheus scrapes (the same prometheus.yml)."""
    from planforge.scrape import targets_files

    services = {s.name: f"{s.name}:{s.port}" for s in model.services}
    rabbitmq = f"{names['rabbitmq']}:{_RABBITMQ_METRICS_PORT}" if "rabbitmq" in _kinds(model) else None
    files = targets_files(model, services, rabbitmq=rabbitmq, with_gateway=False)
    return {f"deploy/monitoring/targets/{name}": text for name, text in files.items()}


def database_name(datastore: str) -> str:
    """The PostgreSQL database of a postgres datastore: its name as an SQL identifier ('user-db' -> 'user_db')."""
    return datastore.replace("-", "_")


def phases(model: Model) -> tuple[Phase, ...]:
    """The deployment phases that start services (infrastructure, gateway and monitoring left out), in order."""
    by_title = {s.title: s for s in model.services}
    found = []
    for phase in model.deployment:
        members = tuple(by_title[title] for title in phase.members if title in by_title)
        if members:
            found.append(Phase(phase.name, members))
    return tuple(found)


def stack_data(model: Model) -> dict[str, object]:
    """The content of deploy/stack.json: what `planforge up` starts, in which order, with which settings."""
    ordered = [s for phase in phases(model) for s in phase.services]
    algorithm, issuer = _jwt(model)
    gateway = None
    if model.gateway is not None:
        gateway = {
            "upstreams": [{"name": s.package, "service": s.name} for s in _routed(model)],
            "key_envs": {alg: key_file_env(alg) for alg in sorted(model.gateway.jwt_algorithms)},
        }
    return {
        "planforge_stack": STACK_FORMAT,
        "name": model.name,
        "slug": model.slug,
        "infrastructure": sorted(_kinds(model) - {"gateway"}),
        "phases": [{"name": p.name, "services": [s.name for s in p.services]} for p in phases(model)],
        "services": [_service_data(model, s) for s in ordered],
        "gateway": gateway,
        "jwt": {"algorithm": algorithm, "algorithms": list(_algorithms(model)), "issuer": issuer},
        # security.service_auth: mtls: `up` runs the services behind mutual TLS as if --mtls were given.
        "mtls": model.mtls,
    }


def _service_data(model: Model, service: Service) -> dict[str, object]:
    datastore = _owned_database(model, service)
    return {
        "name": service.name,
        "title": service.title,
        "package": service.package,
        "port": service.port,
        "layer": service.layer,
        "datastore": datastore,
        "database": database_name(datastore) if datastore else None,
        "uses": sorted({d.kind for d in model.datastores if d.name in service.uses}),
        "calls": sorted({c.target for c in service.calls if c.target != service.name}),
    }


def _owned_database(model: Model, service: Service) -> str | None:
    """The postgres datastore the service owns (DATABASE_URL names one database; the first is used)."""
    return next((d.name for d in model.datastores if d.kind == "postgres" and d.owner == service.name), None)


def _kinds(model: Model) -> set[str]:
    kinds = {d.kind for d in model.datastores}
    return kinds | ({"gateway"} if model.gateway is not None else set())


def _routed(model: Model) -> tuple[Service, ...]:
    assert model.gateway is not None
    return tuple(model.service(name) for name in model.routed_services)


def _jwt(model: Model) -> tuple[str, str | None]:
    """The algorithm services sign and verify with, and the issuing service (facts of the model)."""
    return model.signing_key.algorithm, model.token_issuer


def _algorithms(model: Model) -> tuple[str, ...]:
    """Every algorithm that needs keys: the gateway's pinned ones, or the services' default."""
    pinned = sorted(model.gateway.jwt_algorithms) if model.gateway else []
    return tuple(pinned) or (_jwt(model)[0],)


# --- docker-compose.yaml -------------------------------------------------------------------------------------


def _context(model: Model) -> dict[str, object]:
    """Everything the deploy templates print."""
    names = _infra_names(model)
    algorithm, issuer = _jwt(model)
    public, private = jwt_key_files(algorithm)
    return {
        "model": model,
        "runtime_requirement": RUNTIME_REQUIREMENT,
        "kinds": tuple(sorted(_kinds(model))),
        "names": names,
        "phases": phases(model),
        "containers": _containers(model, names),
        "volumes": _volumes(model),
        "subnet": _SUBNET if model.gateway is not None else None,
        "databases": tuple(database_name(d.name) for d in model.datastores if d.kind == "postgres"),
        "upstreams": tuple((s.package, s.name, f"{s.name}:{s.port}") for s in _routed(model)) if model.gateway else (),
        "jwt": {
            "algorithm": algorithm,
            "algorithms": _algorithms(model),
            "issuer": issuer,
            "public": public,
            "private": private,
            "dir": _KEYS_DIR,
        },
        "gateway_port": DEFAULT_LISTEN_PORT,
        "gateway_dir": _GATEWAY_DIR,
        "images": _IMAGES,
    }


def _infra_names(model: Model) -> dict[str, str]:
    """Container names of the infrastructure; prefixed when a service of the feature has the same name."""
    services = {s.name for s in model.services}
    return {kind: f"planforge-{kind}" if kind in services else kind for kind in _INFRASTRUCTURE}


def _volumes(model: Model) -> tuple[str, ...]:
    return ("jwt-keys", *(("postgres-data",) if "postgres" in _kinds(model) else ()))


def _containers(model: Model, names: dict[str, str]) -> tuple[Container, ...]:
    kinds = _kinds(model)
    infrastructure = {
        "postgres": _postgres,
        "redis": _redis,
        "rabbitmq": _rabbitmq,
    }
    found = [infrastructure[kind](model, names) for kind in ("postgres", "redis", "rabbitmq") if kind in kinds]
    found.append(_jwt_keys(model, names))
    previous: tuple[Service, ...] = ()
    for phase in phases(model):
        for number, service in enumerate(phase.services):
            # The previous phase, and the services of this phase it calls (ordered before it, callees first).
            callees = tuple(s for s in phase.services[:number] if s.name in {c.target for c in service.calls})
            found.append(_service(model, names, service, (*previous, *callees), phase.name))
        previous = phase.services
    if model.gateway is not None:
        found.append(_gateway(model, names, previous))
    found.append(_prometheus(names))
    return tuple(found)


def _prometheus(names: dict[str, str]) -> Container:
    return Container(
        name=names["prometheus"],
        comment="Monitoring: Prometheus: ../monitoring/prometheus.yml and rules.yaml, targets in monitoring/targets/.",
        image=_IMAGES["prometheus"],
        command=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"),
        volumes=(
            "../monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
            "../monitoring/rules.yaml:/etc/prometheus/rules.yaml:ro",
            "./monitoring/targets:/etc/prometheus/targets:ro",
        ),
        ports=("9090:9090",),
        healthcheck=("CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090/-/ready"),
    )


def _healthy(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, "service_healthy") for name in names)


def _postgres(model: Model, names: dict[str, str]) -> Container:
    databases = ", ".join(database_name(d.name) for d in model.datastores if d.kind == "postgres")
    return Container(
        name=names["postgres"],
        comment=f"Infrastructure: PostgreSQL, one database per postgres datastore ({databases}).",
        image=_IMAGES["postgres"],
        environment=(("POSTGRES_PASSWORD", _POSTGRES_PASSWORD),),
        volumes=(
            "./postgres/create-databases.sh:/docker-entrypoint-initdb.d/create-databases.sh:ro",
            "postgres-data:/var/lib/postgresql/data",
        ),
        # The image's init phase runs a server without TCP: ready over TCP means the databases exist.
        healthcheck=("CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"),
        notes=("The databases are created on the first start only (an empty volume): `down -v` starts afresh.",),
    )


def _redis(model: Model, names: dict[str, str]) -> Container:
    return Container(
        name=names["redis"],
        comment="Infrastructure: Redis.",
        image=_IMAGES["redis"],
        healthcheck=("CMD", "redis-cli", "ping"),
    )


def _rabbitmq(model: Model, names: dict[str, str]) -> Container:
    return Container(
        name=names["rabbitmq"],
        comment="Infrastructure: RabbitMQ, with the feature's topology imported at boot (see rabbitmq/rabbitmq.conf).",
        image=_IMAGES["rabbitmq"],
        hostname=names["rabbitmq"],
        volumes=(
            "./rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/90-planforge.conf:ro",
            "./rabbitmq/access.json:/etc/rabbitmq/definitions/10-access.json:ro",
            "../broker/definitions.json:/etc/rabbitmq/definitions/20-topology.json:ro",
            "./rabbitmq/enabled_plugins.erl:/etc/rabbitmq/enabled_plugins:ro",
        ),
        healthcheck=("CMD", "rabbitmq-diagnostics", "-q", "check_port_connectivity"),
        start_period="30s",
    )


def _build_args(service: Service) -> tuple[tuple[str, str], ...]:
    return (("SERVICE", service.package), ("PLANFORGE_RUNTIME", f"${{PLANFORGE_RUNTIME:-{RUNTIME_REQUIREMENT}}}"))


def _jwt_keys(model: Model, names: dict[str, str]) -> Container:
    algorithms = _algorithms(model)
    script = (
        "import sys; from planforge_runtime.keys import ensure_jwt_keys; "
        "[ensure_jwt_keys(sys.argv[1], alg) for alg in sys.argv[2:]]"
    )
    return Container(
        name=names["jwt-keys"],
        comment=f"One-shot job: creates the {', '.join(algorithms)} JWT keys in the jwt-keys volume on first start, "
        "then exits.",
        build_args=_build_args(model.services[0]),
        command=("python", "-c", script, _KEYS_DIR, *algorithms),
        volumes=(f"jwt-keys:{_KEYS_DIR}",),
        restart="no",
    )


def _service(
    model: Model, names: dict[str, str], service: Service, after: tuple[Service, ...], phase: str
) -> Container:
    kinds = {d.kind for d in model.datastores if d.name in service.uses}
    infrastructure = [names[kind] for kind in ("postgres", "redis", "rabbitmq") if kind in kinds]
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{service.port}/readyz', timeout=2)"
    return Container(
        name=service.name,
        comment=f"{phase}: {service.name} ({service.package}).",
        build_args=_build_args(service),
        # inside its container (bandit B104)
        command=("uvicorn", f"{service.package}.app:app", "--host", "0.0.0.0", "--port", str(service.port)),  # nosec B104
        environment=_environment(model, names, service),
        volumes=(f"jwt-keys:{_KEYS_DIR}:ro",),
        depends_on=(
            (names["jwt-keys"], "service_completed_successfully"),
            *_healthy(*infrastructure, *(s.name for s in after)),
        ),
        healthcheck=("CMD", "python", "-c", probe),
    )


def _environment(model: Model, names: dict[str, str], service: Service) -> tuple[tuple[str, str], ...]:
    """The service's settings (planforge_runtime.config.Settings) pointing at the compose hosts."""
    env: list[tuple[str, str]] = []
    datastore = _owned_database(model, service)
    if datastore:
        host = names["postgres"]
        env.append(
            ("DATABASE_URL", f"postgresql://postgres:{_POSTGRES_PASSWORD}@{host}:5432/{database_name(datastore)}")
        )
    kinds = _kinds(model)
    if "redis" in kinds:
        env.append(("REDIS_URL", f"redis://{names['redis']}:6379/0"))
    if "rabbitmq" in kinds:
        env.append(("AMQP_URL", _AMQP_URL.format(host=names["rabbitmq"])))
    algorithm, issuer = _jwt(model)
    public, private = jwt_key_files(algorithm)
    # The verifying key of every pinned algorithm; the signing ones below.
    env.append(("JWT_KEYS_DIR", _KEYS_DIR))
    if model.gateway is not None:
        env.append(("FORWARDED_ALLOW_IPS", _GATEWAY_ADDRESS))
    if algorithm.startswith("HS"):
        env.append(("JWT_SECRET_FILE", f"{_KEYS_DIR}/{public}"))
    else:
        env.append(("JWT_PUBLIC_KEY_FILE", f"{_KEYS_DIR}/{public}"))
        if service.name == issuer:
            env.append(("JWT_PRIVATE_KEY_FILE", f"{_KEYS_DIR}/{private}"))
    for target in sorted({c.target for c in service.calls if c.target != service.name}):
        callee = model.service(target)
        env.append((f"{callee.package.upper()}_URL", f"http://{callee.name}:{callee.port}"))
    return tuple(env)


def _gateway(model: Model, names: dict[str, str], last: tuple[Service, ...]) -> Container:
    assert model.gateway is not None
    env = tuple(
        (key_file_env(alg), f"{_KEYS_DIR}/{jwt_key_files(alg)[0]}") for alg in sorted(model.gateway.jwt_algorithms)
    )
    return Container(
        name=names["gateway"],
        comment="API Gateway: nginx with njs and the generated gateway/ folder.",
        image=_IMAGES["gateway"],
        # in the container (bandit B108)
        command=("nginx", "-e", "stderr", "-p", "/tmp/", "-c", f"{_GATEWAY_DIR}/nginx.conf"),  # nosec B108
        environment=env,
        volumes=(
            f"../gateway:{_GATEWAY_DIR}:ro",
            f"./gateway/upstreams.conf:{_GATEWAY_DIR}/settings/upstreams.conf:ro",
            f"./gateway/http.conf:{_GATEWAY_DIR}/settings/http.conf:ro",
            *((f"./gateway/services-tls.conf:{_GATEWAY_DIR}/settings/services-tls.conf:ro",) if model.mtls else ()),
            f"jwt-keys:{_KEYS_DIR}:ro",
        ),
        ports=(f"${{GATEWAY_PORT:-{DEFAULT_LISTEN_PORT}}}:{DEFAULT_LISTEN_PORT}",),
        depends_on=_healthy(*(s.name for s in last)),
        healthcheck=("CMD", "curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{DEFAULT_LISTEN_PORT}/healthz"),
        notes=(
            "Two settings files are replaced by mounts over the generated ones: upstreams.conf (the compose",
            "hosts) and http.conf (access log to stdout); main.conf, listen.conf and jwt.conf are used as",
            "generated: the image's njs module is at the path main.conf loads"
            + _key_file_note(tuple(name for name, _ in env)),
            "Its address is fixed: the services trust X-Forwarded-For from it alone.",
        ),
        ipv4_address=_GATEWAY_ADDRESS,
    )


def _key_file_note(variables: tuple[str, ...]) -> str:
    if not variables:
        return "."
    if len(variables) == 1:
        return f", and {variables[0]} names the key file."
    return f", and {', '.join(variables)} name the key files."


def _rabbitmq_access() -> dict[str, list[dict[str, str]]]:
    """Definitions imported before the topology: the vhost and user RabbitMQ does not seed when importing at boot."""
    return {
        # local image default (bandit B105)
        "users": [{"name": "guest", "password": "guest", "tags": "administrator"}],  # nosec B105
        "vhosts": [{"name": "/"}],
        "permissions": [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],
    }
