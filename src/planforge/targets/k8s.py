"""The Kubernetes target: deploy/k8s/, plain manifests that kustomize can take as they are.

Per service: ServiceAccount (no API token), ConfigMap (settings that are not secret), Deployment (readiness on
/readyz, liveness on /healthz, a rolling update that never removes a ready pod, or the manifest's blue-green or
canary tracks), Service (cluster DNS is the discovery), PodDisruptionBudget, HorizontalPodAutoscaler and a
NetworkPolicy. The gateway runs as a Deployment whose configuration is the generated gateway/ folder in a
ConfigMap; a Job imports broker/definitions.json. Secrets are referenced, never written.

NetworkPolicies follow the communication matrix: a default deny for the feature's pods, then exactly the edges
the manifest declares (the gateway to the services it routes to, a service to the services it calls, a service
to the datastores it uses) plus DNS. Every document is built as data and dumped as YAML, so no manifest text can
become YAML syntax.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from planforge.conventions import jwt_key_files, key_file_env
from planforge.derive import DATASTORE_PORTS, KUBERNETES_VERSION, NetworkEdge, kubernetes_tracks, network_edges
from planforge.model import Model, Service
from planforge.targets import Output, certificates
from planforge.templating import render_template
from planforge.units import seconds
from planforge.yamltext import dump_yaml_all

__all__ = ["KUBERNETES_VERSION", "MANAGEMENT_PORT", "NEEDS", "allowed_edges", "render"]

# The targets whose files this one packs into ConfigMaps (rendered before it, see targets/registry.py).
NEEDS = ("broker", "gateway", "deploy")
_FOLDER = "deploy/k8s"
# RabbitMQ's management API, where the broker-definitions Job imports the topology.
MANAGEMENT_PORT = 15672
_GATEWAY_PORT = 8080
_KEYS_DIR = "/run/planforge/jwt"
# The services trust X-Forwarded-For from this range (the gateway's pods): a common pod CIDR; set the cluster's.
_POD_NETWORK = "10.0.0.0/8"
_GATEWAY_DIR = "/etc/planforge/gateway"
_PART_OF = "app.kubernetes.io/part-of"
_NAME = "app.kubernetes.io/name"
_TRACK = "planforge-track"
_DATASTORE = "planforge-datastore"
_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def render(model: Model, files: Mapping[str, str]) -> Output:
    """deploy/k8s/: one file per service, the gateway, the broker import Job, the default deny and kustomization."""
    owned: dict[str, str] = {}
    for service in model.services:
        owned[f"{_FOLDER}/{service.name}.yaml"] = _dump(_service_documents(model, service))
    if model.gateway is not None:
        owned[f"{_FOLDER}/gateway.yaml"] = _dump(_gateway_documents(model, files))
    if any(d.kind == "rabbitmq" for d in model.datastores) and "broker/definitions.json" in files:
        owned[f"{_FOLDER}/broker-definitions.yaml"] = _dump(_broker_documents(model, files))
    owned[f"{_FOLDER}/network-default-deny.yaml"] = _dump([_default_deny(model)])
    if model.mtls:
        owned[f"{_FOLDER}/mtls-issuer.yaml"] = _dump(certificates.issuer_documents(model))
    owned[f"{_FOLDER}/kustomization.yaml"] = _dump([_kustomization(model, sorted(owned))])
    owned[f"{_FOLDER}/README.md"] = render_template("k8s/README.md.j2", **_readme_context(model))
    return Output(owned=owned)


def _readme_context(model: Model) -> dict[str, Any]:
    """What deploy/k8s/README.md prints: the Secrets to create, the tracks and the allowed connections."""
    algorithm, issuer = _jwt(model)
    public, private = _key_files(algorithm)
    jwt_keys = sorted({*_verifying_files(model), public, private})
    secrets = [{"name": _secret_name(model, "jwt"), "entries": jwt_keys, "used_by": ["every service", "gateway"]}]
    for service in model.services:
        keys = [
            e["name"]
            for e in _secret_env(model, service)
            if e["valueFrom"]["secretKeyRef"]["name"] != secrets[0]["name"]
        ]
        if keys:
            secrets.append({"name": _secret_name(model, service.name), "entries": keys, "used_by": [service.name]})
    broker = any(d.kind == "rabbitmq" for d in model.datastores)
    if broker:
        keys = ["RABBITMQ_HOST", "RABBITMQ_USER", "RABBITMQ_PASSWORD"]
        secrets.append(
            {"name": _secret_name(model, "rabbitmq-admin"), "entries": keys, "used_by": ["broker-definitions"]}
        )
    files = " ".join(f"--from-file={key}=./{key}" for key in jwt_keys)
    strategy = model.policies.value["deployment"]["strategy"]
    return {
        "model": model,
        "version": KUBERNETES_VERSION,
        "secrets": sorted(secrets, key=lambda s: str(s["name"])),
        "jwt_command": f"kubectl create secret generic {_secret_name(model, 'jwt')} {files}",
        "tracks": kubernetes_tracks(strategy),
        "strategy": strategy,
        "period": _probe_period(model),
        "broker": broker,
        "edges": allowed_edges(model),
        "gateway_port": _GATEWAY_PORT,
        "issuer": issuer,
        "mtls": model.mtls,
        "jwt_secret": _secret_name(model, "jwt"),
        "has_gateway": model.gateway is not None,
        "pod_network": _POD_NETWORK,
        "issuer_name": certificates.issuer_name(model),
    }


# --- what the policies allow ----------------------------------------------------------------------------------


def allowed_edges(model: Model) -> tuple[NetworkEdge, ...]:
    """The connections of the communication matrix, as the NetworkPolicies must allow them (and nothing else)."""
    return network_edges(model.services, model.datastores, model.gateway)


def _routed(model: Model) -> tuple[str, ...]:
    return model.routed_services


def _callees(service: Service) -> tuple[str, ...]:
    return tuple(sorted({c.target for c in service.calls if c.target != service.name}))


def _datastores_of(model: Model, service: Service) -> tuple[str, ...]:
    return tuple(sorted(d.name for d in model.datastores if d.name in service.uses and d.kind in DATASTORE_PORTS))


def _kind(model: Model, datastore: str) -> str:
    return next(d.kind for d in model.datastores if d.name == datastore)


# --- per service ------------------------------------------------------------------------------------------------


def _labels(model: Model, name: str, component: str) -> dict[str, str]:
    return {_NAME: name, _PART_OF: model.slug, "app.kubernetes.io/component": component}


def _selector(model: Model, name: str) -> dict[str, str]:
    return {_NAME: name, _PART_OF: model.slug}


def _service_documents(model: Model, service: Service) -> list[dict[str, Any]]:
    labels = _labels(model, service.name, "service")
    documents = [
        _service_account(service.name, labels),
        _config_map(f"{service.name}-config", labels, _settings(model, service)),
        *(_deployment(model, service, labels, track, replicas) for track, replicas in _tracks(model)),
        _cluster_service(model, service.name, labels, service.port),
        _disruption_budget(model, service.name, labels),
        _autoscaler(service.name, labels, _tracks(model)[0][0]),
        _network_policy(model, service.name, labels, _ingress_from(model, service), _egress_of(model, service)),
        *(_migration_job(model, service) if _owns_database(model, service) else []),
        *([certificates.certificate(model, service.name, labels)] if model.mtls else []),
    ]
    return documents


def _tracks(model: Model) -> tuple[tuple[str | None, int], ...]:
    """The Deployments of a service and their replicas (derive.kubernetes_tracks): green and canary start small."""
    tracks = kubernetes_tracks(model.policies.value["deployment"]["strategy"])
    replicas = {"": 2, "blue": 2, "green": 0, "stable": 2, "canary": 1}
    return tuple((track or None, replicas[track]) for track in tracks)


def _service_account(name: str, labels: dict[str, str]) -> dict[str, Any]:
    # Services never call the Kubernetes API: no token is mounted.
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "labels": labels},
        "automountServiceAccountToken": False,
    }


def _config_map(name: str, labels: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": data}


def _settings(model: Model, service: Service) -> dict[str, str]:
    """The service's non-secret settings (planforge_runtime.config.Settings), pointing at cluster DNS names."""
    # The verifying key of every pinned algorithm, as in docker-compose.yaml (the jwt-keys volume).
    data: dict[str, str] = {"LOG_LEVEL": "INFO", "JWT_KEYS_DIR": _KEYS_DIR}
    if model.gateway is not None:
        # X-Forwarded-For is trusted from the pod network only (deploy/k8s/README.md: set your pod CIDR); the
        # NetworkPolicies let only the gateway and declared callers in, and callers send no X-Forwarded-For.
        data["FORWARDED_ALLOW_IPS"] = _POD_NETWORK
    if _owns_database(model, service):
        data["MIGRATE_ON_START"] = "false"  # the pod's migrate init container did it, before the app started
    if any(d.kind == "redis" for d in model.datastores if d.name in service.uses):
        data["REDIS_KEY_PREFIX"] = f"{model.slug}:"
    scheme = "https" if model.mtls else "http"
    for target in _callees(service):
        callee = model.service(target)
        data[f"{callee.package.upper()}_URL"] = f"{scheme}://{callee.name}:{callee.port}"
    if model.mtls:
        data.update(certificates.tls_settings())
    return dict(sorted(data.items()))


def _secret_env(model: Model, service: Service) -> list[dict[str, Any]]:
    """Connection URLs carry credentials: they come from the service's Secret (deploy/k8s/README.md)."""
    kinds = {d.kind for d in model.datastores if d.name in service.uses}
    names = [
        *(("DATABASE_URL",) if _owns_database(model, service) else ()),
        *(("REDIS_URL",) if "redis" in kinds else ()),
        *(("AMQP_URL",) if "rabbitmq" in kinds else ()),
    ]
    secret = _secret_name(model, service.name)
    found = [_from_secret(n, secret, n) for n in names]
    return found + _key_env(model, service.name)


def _from_secret(env: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _key_env(model: Model, name: str) -> list[dict[str, Any]]:
    """The JWT keys, from the feature's JWT Secret: the verifying key for all, the signing key for the issuer only."""
    algorithm, issuer = _jwt(model)
    public, private = _key_files(algorithm)
    secret = _secret_name(model, "jwt")
    if algorithm.startswith("HS"):
        return [_from_secret("JWT_SECRET", secret, public)]
    found = [_from_secret("JWT_PUBLIC_KEY", secret, public)]
    if name == issuer:
        found.append(_from_secret("JWT_PRIVATE_KEY", secret, private))
    return found


def _algorithms(model: Model) -> tuple[str, ...]:
    """Every algorithm the gateway pins (the signing one without a gateway), each with its own key."""
    pinned = sorted(model.gateway.jwt_algorithms) if model.gateway else []
    return tuple(pinned) or (_jwt(model)[0],)


def _verifying_files(model: Model) -> tuple[str, ...]:
    """The verifying key file of each pinned algorithm (jwt-rs256.pem, jwt-hs256.secret), as in deploy/."""
    return tuple(_key_files(alg)[0] for alg in _algorithms(model))


def _jwt_volume(model: Model) -> dict[str, Any]:
    """The JWT Secret's verifying keys, one file per pinned algorithm, mounted at JWT_KEYS_DIR."""
    items = [{"key": name, "path": name} for name in _verifying_files(model)]
    return {"name": "jwt-keys", "secret": {"secretName": _secret_name(model, "jwt"), "items": items}}


def _secret_name(model: Model, name: str) -> str:
    return f"{model.slug}-{name}"


def _deployment(
    model: Model, service: Service, labels: dict[str, str], track: str | None, replicas: int
) -> dict[str, Any]:
    name = f"{service.name}-{track}" if track else service.name
    selector = _selector(model, service.name) | ({_TRACK: track} if track else {})
    period = _probe_period(model)
    # inside its pod: the NetworkPolicies decide who reaches it (bandit B104)
    command = ["uvicorn", f"{service.package}.app:app", "--host", "0.0.0.0", "--port", str(service.port)]  # nosec B104
    mounts = [
        {"name": "tmp", "mountPath": "/tmp"},  # nosec B108 - an emptyDir (the root is read-only)
        {"name": "jwt-keys", "mountPath": _KEYS_DIR, "readOnly": True},
    ]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}, _jwt_volume(model)]
    if model.mtls:  # HTTPS that requires a client certificate from the feature's CA (cert-manager's Secret)
        command += certificates.serve_options()
        mounts.append({"name": "tls", "mountPath": certificates.TLS_DIR, "readOnly": True})
        volumes.append(certificates.tls_volume(model, service.name))
    probe = _service_probe(model, service)
    container = {
        "name": service.name,
        "image": f"{model.slug}-{service.name}:latest",
        "command": command,
        "ports": [{"name": "http", "containerPort": service.port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": f"{service.name}-config"}}],
        "env": _secret_env(model, service),
        "readinessProbe": probe("/readyz", period),
        "livenessProbe": probe("/healthz", period) | {"failureThreshold": 3},
        "startupProbe": probe("/healthz", 2) | {"failureThreshold": 30},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": _RESTRICTED,
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels | ({_TRACK: track} if track else {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            # A new pod must be ready before an old one goes: no request finds the service without a pod.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels | selector},
                "spec": {
                    "serviceAccountName": service.name,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": volumes,
                }
                | ({"initContainers": [_migrator(model, service)]} if _owns_database(model, service) else {}),
            },
        },
    }


def _owns_database(model: Model, service: Service) -> bool:
    return any(d.kind == "postgres" and d.owner == service.name for d in model.datastores)


def _migrator(model: Model, service: Service) -> dict[str, Any]:
    """The container that applies the service's migrations (runtime's and its own) before the app starts.

    Every new pod runs it first, so no version starts on a schema older than it needs; a PostgreSQL advisory
    lock makes pods starting together migrate one at a time, and an up-to-date database makes it a no-op.
    """
    command = ["python", "-m", "planforge_runtime.migrate", "upgrade", "--service", f"/srv/{service.package}"]
    database = [e for e in _secret_env(model, service) if e["name"] == "DATABASE_URL"]
    return {
        "name": "migrate",
        "image": f"{model.slug}-{service.name}:latest",
        "command": command,
        "env": database,
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": _RESTRICTED,
    }


def _migration_job(model: Model, service: Service) -> list[dict[str, Any]]:
    """The same migration as a Job, for pipelines that migrate before they roll out a new version.

    Its pods are not the service's (no Service routes to them): their own policy lets them reach the service's
    database and DNS, nothing else.
    """
    name = f"{service.name}-migrate"
    labels = _labels(model, name, "migration")
    database = next(d for d in model.datastores if d.kind == "postgres" and d.owner == service.name)
    peer = {"namespaceSelector": {}, "podSelector": {"matchLabels": {_DATASTORE: database.name}}}
    egress = [_dns_egress(), {"to": [peer], "ports": [{"protocol": "TCP", "port": DATASTORE_PORTS["postgres"]}]}]
    return [_job(model, service, name, labels), _network_policy(model, name, labels, [], egress)]


def _job(model: Model, service: Service, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "backoffLimit": 3,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": service.name,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [_migrator(model, service)],
                },
            },
        },
    }


def _probe(path: str, period: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 2}


def _service_probe(model: Model, service: Service) -> Callable[[str, int], dict[str, Any]]:
    """HTTP probes; under mTLS exec probes with the pod's certificate (the kubelet presents none)."""
    if not model.mtls:
        return _probe

    def exec_probe(path: str, period: int) -> dict[str, Any]:
        command = certificates.probe_command(service.port, path)
        return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": 2}

    return exec_probe


def _probe_period(model: Model) -> int:
    """discovery.health_check_interval in whole seconds (at least 1)."""
    interval = model.policies.value["discovery"]["health_check_interval"]
    return max(1, round(seconds(interval)))


def _cluster_service(model: Model, name: str, labels: dict[str, str], port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(model, name) | _serving_track(model),
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _serving_track(model: Model) -> dict[str, str]:
    """blue-green: the Service selects the serving colour (the switch patches this label)."""
    track = _tracks(model)[0][0]
    return {_TRACK: track} if track == "blue" else {}


def _disruption_budget(model: Model, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": labels},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": _selector(model, name) | _serving_track(model)}},
    }


def _autoscaler(name: str, labels: dict[str, str], track: str | None) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": f"{name}-{track}" if track else name,
            },
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }


# --- network policies -----------------------------------------------------------------------------------------


def _peer(model: Model, name: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": _selector(model, name)}}


def _ingress_from(model: Model, service: Service) -> list[dict[str, Any]]:
    sources = sorted({e.source for e in allowed_edges(model) if e.target == service.name})
    if not sources:
        return []
    return [{"from": [_peer(model, s) for s in sources], "ports": [{"protocol": "TCP", "port": service.port}]}]


def _egress_of(model: Model, service: Service) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [_dns_egress()]
    for target in _callees(service):
        rules.append({"to": [_peer(model, target)], "ports": [{"protocol": "TCP", "port": model.service(target).port}]})
    for store in _datastores_of(model, service):
        peer = {"namespaceSelector": {}, "podSelector": {"matchLabels": {_DATASTORE: store}}}
        rules.append({"to": [peer], "ports": [{"protocol": "TCP", "port": DATASTORE_PORTS[_kind(model, store)]}]})
    return rules


def _dns_egress() -> dict[str, Any]:
    dns = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    return {"to": [dns], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def _network_policy(
    model: Model, name: str, labels: dict[str, str], ingress: list[dict[str, Any]], egress: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": _selector(model, name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def _default_deny(model: Model) -> dict[str, Any]:
    """Every pod of the feature denies all traffic unless a policy of its own allows it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{model.slug}-default-deny", "labels": {_PART_OF: model.slug}},
        "spec": {"podSelector": {"matchLabels": {_PART_OF: model.slug}}, "policyTypes": ["Ingress", "Egress"]},
    }


# --- gateway and broker -----------------------------------------------------------------------------------------


def _gateway_documents(model: Model, files: Mapping[str, str]) -> list[dict[str, Any]]:
    """The gateway: its generated files in a ConfigMap, the deploy/ settings for cluster hosts laid over them."""
    labels = _labels(model, "gateway", "gateway")
    config = {path: text for path, text in files.items() if path.startswith("gateway/") and not path.endswith(".md")}
    for setting in ("upstreams.conf", "http.conf"):
        if f"deploy/gateway/{setting}" in files:
            config[f"gateway/settings/{setting}"] = files[f"deploy/gateway/{setting}"]
    if model.mtls:  # the gateway's own certificate Secret, mounted at certificates.TLS_DIR
        config["gateway/settings/services-tls.conf"] = render_template(
            "gateway/settings/services-tls.conf.j2", model=model, mtls=True, tls_files=certificates.TLS_FILES
        )
    keys = {path.removeprefix("gateway/").replace("/", "_"): path.removeprefix("gateway/") for path in sorted(config)}
    key_envs = [{"name": key_file_env(alg), "value": f"{_KEYS_DIR}/{_key_files(alg)[0]}"} for alg in _algorithms(model)]
    container = {
        "name": "gateway",
        "image": "nginx:1.27",
        "command": ["nginx", "-e", "stderr", "-p", "/tmp/", "-c", f"{_GATEWAY_DIR}/nginx.conf"],  # nosec B108
        "ports": [{"name": "http", "containerPort": _GATEWAY_PORT, "protocol": "TCP"}],
        "env": key_envs,
        "readinessProbe": _probe("/healthz", _probe_period(model)),
        "livenessProbe": _probe("/healthz", _probe_period(model)),
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": _RESTRICTED,
        "volumeMounts": [
            {"name": "config", "mountPath": _GATEWAY_DIR, "readOnly": True},
            {"name": "jwt-keys", "mountPath": _KEYS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # nosec B108 - an emptyDir, nginx's runtime folder
            *([{"name": "tls", "mountPath": certificates.TLS_DIR, "readOnly": True}] if model.mtls else []),
        ],
    }
    items = [{"key": key, "path": path} for key, path in keys.items()]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gateway", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": _selector(model, "gateway")},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "gateway",
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 101,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "gateway-config", "items": items}},
                        _jwt_volume(model),
                        {"name": "tmp", "emptyDir": {}},
                        *([certificates.tls_volume(model, "gateway")] if model.mtls else []),
                    ],
                },
            },
        },
    }
    service = _cluster_service(model, "gateway", labels, _GATEWAY_PORT)
    service["spec"]["selector"] = _selector(model, "gateway")
    egress = [_dns_egress()] + [
        {"to": [_peer(model, name)], "ports": [{"protocol": "TCP", "port": model.service(name).port}]}
        for name in _routed(model)
    ]
    ingress = [{"ports": [{"protocol": "TCP", "port": _GATEWAY_PORT}]}]  # the edge: from anywhere
    return [
        _service_account("gateway", labels),
        _config_map("gateway-config", labels, {key: config[f"gateway/{path}"] for key, path in keys.items()}),
        deployment,
        service,
        _disruption_budget(model, "gateway", labels) | {},
        _network_policy(model, "gateway", labels, ingress, egress),
        *([certificates.certificate(model, "gateway", labels)] if model.mtls else []),
    ]


def _broker_documents(model: Model, files: Mapping[str, str]) -> list[dict[str, Any]]:
    """broker/definitions.json in a ConfigMap and a Job that imports it through RabbitMQ's management API."""
    labels = _labels(model, "broker-definitions", "broker")
    secret = _secret_name(model, "rabbitmq-admin")
    env = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for key in ("RABBITMQ_HOST", "RABBITMQ_USER", "RABBITMQ_PASSWORD")
    ]
    command = [
        "sh",
        "-c",
        'exec rabbitmqadmin --host="$RABBITMQ_HOST" --username="$RABBITMQ_USER" --password="$RABBITMQ_PASSWORD"'
        " import /etc/planforge/broker/definitions.json",
    ]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "broker-definitions", "labels": labels},
        "spec": {
            "backoffLimit": 6,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 999},
                    "containers": [
                        {
                            "name": "import",
                            "image": "rabbitmq:3.13-management",
                            "command": command,
                            "env": env,
                            "securityContext": _RESTRICTED,
                            "volumeMounts": [
                                {"name": "definitions", "mountPath": "/etc/planforge/broker", "readOnly": True}
                            ],
                        }
                    ],
                    "volumes": [{"name": "definitions", "configMap": {"name": "broker-definitions"}}],
                },
            },
        },
    }
    data = {"definitions.json": files["broker/definitions.json"]}
    brokers = sorted(d.name for d in model.datastores if d.kind == "rabbitmq")
    peers = [{"namespaceSelector": {}, "podSelector": {"matchLabels": {_DATASTORE: name}}} for name in brokers]
    egress = [_dns_egress(), {"to": peers, "ports": [{"protocol": "TCP", "port": MANAGEMENT_PORT}]}]
    policy = _network_policy(model, "broker-definitions", labels, [], egress)
    return [_config_map("broker-definitions", labels, data), job, policy]


def _kustomization(model: Model, resources: list[str]) -> dict[str, Any]:
    names = sorted({f"{model.slug}-{s.name}" for s in model.services})
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [path.removeprefix(f"{_FOLDER}/") for path in resources],
        # Point these at your registry and tag: `kustomize edit set image NAME=REGISTRY/NAME:TAG`.
        "images": [{"name": f"{name}", "newTag": "latest"} for name in names],
    }


# --- shared facts -----------------------------------------------------------------------------------------------


def _jwt(model: Model) -> tuple[str, str | None]:
    """The algorithm services sign and verify with, and the issuing service (facts of the model)."""
    return model.signing_key.algorithm, model.token_issuer


def _key_files(algorithm: str) -> tuple[str, str]:
    return jwt_key_files(algorithm)


def _dump(documents: list[dict[str, Any]]) -> str:
    return dump_yaml_all(documents, width=120)
