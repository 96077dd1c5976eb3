"""deploy/k8s/: every file validates against the Kubernetes schemas (strict), kustomization lists it all, and
the NetworkPolicies allow exactly the communication matrix's edges, on the examples and on generated manifests."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planforge.build import build_model
from planforge.derive import DATASTORE_PORTS
from planforge.loader import load_manifest
from planforge.model import Model
from planforge.pipeline import validate
from planforge.targets.k8s import KUBERNETES_VERSION, MANAGEMENT_PORT
from planforge.targets.registry import render_targets
from tests.conftest import EXAMPLES, REPO

FOLDER = "deploy/k8s/"


def _model(path: Path) -> Model:
    return build_model(load_manifest(path), path.name)


def _documents(files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {p: list(yaml.safe_load_all(t)) for p, t in files.items() if p.startswith(FOLDER) and p.endswith(".yaml")}


def _k8s_files(model: Model) -> dict[str, str]:
    return {p: t for p, t in render_targets(model, ("k8s",)).owned.items() if p.startswith(FOLDER)}


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_resource_validates_strictly(example: str) -> None:
    files = _k8s_files(_model(REPO / "examples" / example / "feature.yaml"))
    kinds = set()
    for path, documents in _documents(files).items():
        if path.endswith("kustomization.yaml"):
            continue
        for document in documents:
            kinds.add(document["kind"])
            try:  # raises on the first schema error, strict: unknown fields are errors too
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path}: {document['kind']}/{document['metadata']['name']}: {exc}")
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget"} <= kinds
    assert {"HorizontalPodAutoscaler", "NetworkPolicy", "Job"} <= kinds


def test_strict_validation_catches_an_unknown_field() -> None:
    """The check above would catch a mistake: an unknown key in a Deployment is refused."""
    files = _k8s_files(_model(REPO / "examples" / EXAMPLES[0] / "feature.yaml"))
    deployment = next(
        d for docs in _documents(files).values() for d in docs if d["kind"] == "Deployment" and d["spec"]["replicas"]
    )
    deployment["spec"]["replica"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("example", EXAMPLES)
def test_kustomization_lists_every_file_and_image(example: str) -> None:
    files = _k8s_files(_model(REPO / "examples" / example / "feature.yaml"))
    documents = _documents(files)
    (kustomization,) = documents[FOLDER + "kustomization.yaml"]
    listed = {FOLDER + name for name in kustomization["resources"]}
    assert listed == {p for p in files if p.endswith(".yaml")} - {FOLDER + "kustomization.yaml"}
    images = {
        c["image"].split(":")[0]
        for docs in documents.values()
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert {i["name"] for i in kustomization["images"]} == images - {"nginx"}


@pytest.mark.parametrize("example", EXAMPLES)
def test_deployments_probe_and_roll_safely(example: str) -> None:
    model = _model(REPO / "examples" / example / "feature.yaml")
    documents = _documents(_k8s_files(model))
    for service in model.services:
        deployments = [d for d in documents[f"{FOLDER}{service.name}.yaml"] if d["kind"] == "Deployment"]
        assert deployments
        for deployment in deployments:
            assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            # Secrets are referenced, never written.
            for variable in container.get("env", []):
                assert "value" not in variable, variable
    assert not any(d["kind"] == "Secret" for docs in documents.values() for d in docs)


# --- NetworkPolicy semantics ------------------------------------------------------------------------------------


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], labels: dict[str, str]) -> bool:
    """A NetworkPolicy peer: a podSelector (same namespace, or any with namespaceSelector {}) ; no ipBlocks here."""
    assert "ipBlock" not in peer
    return _matches(peer.get("podSelector", {}), labels)


def _rule_allows(rule: dict[str, Any], key: str, labels: dict[str, str], port: int) -> bool:
    peers = rule.get(key)
    ports = rule.get("ports")
    peer_ok = peers is None or any(_peer_matches(p, labels) for p in peers)
    port_ok = ports is None or any(p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports)
    return peer_ok and port_ok


def _allowed(
    policies: list[dict[str, Any]], direction: str, pod: dict[str, str], peer: dict[str, str], port: int
) -> bool:
    """Kubernetes semantics: a pod selected by no policy of that direction is open; otherwise any rule may allow."""
    key = "to" if direction == "Egress" else "from"
    selecting = [
        p for p in policies if direction in p["spec"]["policyTypes"] and _matches(p["spec"]["podSelector"], pod)
    ]
    if not selecting:
        return True
    rules = [r for p in selecting for r in p["spec"].get(direction.lower(), [])]
    return any(_rule_allows(r, key, peer, port) for r in rules)


def _effective_edges(model: Model, documents: dict[str, list[dict[str, Any]]]) -> set[tuple[str, str, int]]:
    """Every (source, target, port) the policies let through, among the feature's pods and its datastores."""
    policies = [d for docs in documents.values() for d in docs if d["kind"] == "NetworkPolicy"]
    pods = {
        d["metadata"]["labels"]["app.kubernetes.io/name"]: d["spec"]["template"]["metadata"]["labels"]
        for docs in documents.values()
        for d in docs
        if d["kind"] in ("Deployment", "Job") and "part-of" in str(d["spec"]["template"]["metadata"]["labels"])
    }
    stores = {d.name: {"planforge-datastore": d.name} for d in model.datastores if d.kind in DATASTORE_PORTS}
    ports = {s.port for s in model.services} | set(DATASTORE_PORTS.values()) | {MANAGEMENT_PORT}
    edges = set()
    for (source, source_labels), (target, target_labels) in itertools.product(pods.items(), {**pods, **stores}.items()):
        for port in ports:
            if source == target:
                continue
            egress = _allowed(policies, "Egress", source_labels, target_labels, port)
            ingress = target in stores or _allowed(policies, "Ingress", target_labels, source_labels, port)
            if egress and ingress:
                edges.add((source, target, port))
    return edges


def _matrix_edges(model: Model) -> set[tuple[str, str, int]]:
    """What the manifest declares, derived here independently of the target."""
    expected: set[tuple[str, str, int]] = set()
    if model.gateway:
        expected |= {("gateway", r.service, model.service(r.service).port) for r in model.gateway.routes}
    for service in model.services:
        expected |= {
            (service.name, c.target, model.service(c.target).port) for c in service.calls if c.target != service.name
        }
        for store in model.datastores:
            if store.name in service.uses and store.kind in DATASTORE_PORTS:
                expected.add((service.name, store.name, DATASTORE_PORTS[store.kind]))
            if store.kind == "postgres" and store.owner == service.name:  # its migration Job: that database only
                expected.add((f"{service.name}-migrate", store.name, DATASTORE_PORTS["postgres"]))
    brokers = [d.name for d in model.datastores if d.kind == "rabbitmq"]
    expected |= {("broker-definitions", name, MANAGEMENT_PORT) for name in brokers}  # the import Job
    return expected


def _assert_policies_are_the_matrix(model: Model) -> None:
    documents = _documents(_k8s_files(model))
    assert _effective_edges(model, documents) == _matrix_edges(model)
    # The REST rows of the plan's matrix are the HTTP edges between pods.
    titles = {s.name: s.title for s in model.services} | {"gateway": "API Gateway"}
    http = {(titles[s], titles[t]) for s, t, _ in _matrix_edges(model) if t in titles and s in titles}
    rows = {(r.source, r.target) for r in model.matrix if r.protocol == "REST"}
    assert rows == http


@pytest.mark.parametrize("example", EXAMPLES)
def test_network_policies_allow_exactly_the_matrix(example: str) -> None:
    _assert_policies_are_the_matrix(_model(REPO / "examples" / example / "feature.yaml"))


def test_a_removed_policy_rule_is_noticed() -> None:
    """The evaluator is not vacuous: dropping the gateway's egress rules removes its edges."""
    model = _model(REPO / "examples" / EXAMPLES[0] / "feature.yaml")
    documents = _documents(_k8s_files(model))
    gateway_policy = next(d for d in documents[FOLDER + "gateway.yaml"] if d["kind"] == "NetworkPolicy")
    gateway_policy["spec"]["egress"] = []
    assert not any(s == "gateway" for s, _, _ in _effective_edges(model, documents))


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """Small valid manifests with random calls, datastore use and gateway routes."""
    count = draw(st.integers(1, 5))
    names = [f"svc{i}" for i in range(count)]
    stores = {
        "db": {"kind": "postgres", "owner": names[0], "title": "DB"},
        "cache": {"kind": "redis", "title": "Cache"},
    }
    services: dict[str, Any] = {}
    for index, name in enumerate(names):
        others = [n for n in names if n != name]
        calls = draw(st.lists(st.sampled_from(others), unique=True)) if others else []
        uses = (["db"] if index == 0 else []) + (["cache"] if draw(st.booleans()) else [])
        route = {"id": f"get_{name}", "method": "GET", "path": f"/{name}/items/{{itemId}}"}
        route |= {"parameters": {"itemId": {"in": "path", "schema": {"type": "string"}}}}
        route |= {"responses": {"200": "Item"}}
        services[name] = {"title": f"Service {index}", "layer": "core", "uses": uses, "routes": [route]}
        if calls:
            services[name]["calls"] = [{"service": c, "route": f"get_{c}", "purpose": "Reads items"} for c in calls]
    routed = draw(st.lists(st.sampled_from(names), unique=True))
    manifest: dict[str, Any] = {
        "planforge": 1,
        "feature": {"name": "Generated", "slug": "generated-feature", "overview": "Generated for a property test."},
        "datastores": stores,
        "services": services,
        "schemas": {"Item": {"type": "object", "properties": {"id": {"type": "string"}}}},
    }
    if routed:
        manifest["gateway"] = {
            "routes": [
                {"path": f"/api/{n}/*", "service": n, "methods": ["GET"], "strip_prefix": "/api"} for n in routed
            ],
            "authentication": {"jwt": {"algorithms": ["RS256"], "issuer": names[0]}},
        }
    return manifest


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_network_policies_are_the_matrix_on_generated_manifests(
    tmp_path_factory: Any, manifest: dict[str, Any]
) -> None:
    path = tmp_path_factory.mktemp("k8s") / "feature.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    result = validate(path)
    assert result.ok, [str(d) for d in result.diagnostics]
    _assert_policies_are_the_matrix(_model(path))


# --- mutual TLS (security.service_auth: mtls) -------------------------------------------------------------------

MTLS_FIXTURE = REPO / "tests" / "fixtures" / "mtls" / "feature.yaml"
CERT_MANAGER = "cert-manager.io/v1"


def _cert_manager_validator() -> Any:
    """cert-manager's Certificate and Issuer (not in kubernetes-validate), from tests/fixtures/cert-manager."""
    import json

    import jsonschema

    schema = json.loads((REPO / "tests" / "fixtures" / "cert-manager" / "cert-manager-v1.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def _mtls_documents() -> tuple[Model, dict[str, list[dict[str, Any]]]]:
    model = _model(MTLS_FIXTURE)
    assert model.mtls
    return model, _documents(_k8s_files(model))


def test_mtls_resources_validate_and_every_workload_has_a_certificate_from_the_issuer() -> None:
    """Kubernetes kinds validate strictly; cert-manager kinds against their CRD schema; one Certificate per service
    and the gateway, each naming the feature's CA Issuer, which the issuer file defines."""
    model, documents = _mtls_documents()
    validator = _cert_manager_validator()
    certificates: dict[str, dict[str, Any]] = {}
    issuers = set()
    for path, docs in documents.items():
        if path.endswith("kustomization.yaml"):
            continue
        for document in docs:
            if document["apiVersion"] == CERT_MANAGER:
                errors = [e.message for e in validator.iter_errors(document)]
                assert not errors, (path, document["metadata"]["name"], errors)
                if document["kind"] == "Certificate":
                    certificates[document["metadata"]["name"]] = document
                else:
                    issuers.add(document["metadata"]["name"])
            else:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    ca = f"{model.slug}-ca"
    assert ca in issuers and ca in certificates and certificates[ca]["spec"]["isCA"] is True
    for name in [*(s.name for s in model.services), "gateway"]:
        spec = certificates[f"{name}-tls"]["spec"]
        assert spec["issuerRef"] == {"name": ca, "kind": "Issuer", "group": "cert-manager.io"}
        assert spec["dnsNames"] == [name]
        assert {"server auth", "client auth"} <= set(spec["usages"])


def test_cert_manager_schema_catches_a_mistake() -> None:
    """The schema above is strict: an unknown field or a missing issuerRef is an error."""
    _, documents = _mtls_documents()
    certificate = next(d for docs in documents.values() for d in docs if d["kind"] == "Certificate")
    validator = _cert_manager_validator()
    assert list(validator.iter_errors(certificate)) == []
    wrong = {**certificate, "spec": {**certificate["spec"], "dnsName": ["typo"]}}
    assert list(validator.iter_errors(wrong))
    missing = {**certificate, "spec": {k: v for k, v in certificate["spec"].items() if k != "issuerRef"}}
    assert list(validator.iter_errors(missing))


def test_mtls_pods_serve_https_with_their_secret_and_call_over_https() -> None:
    """Each service mounts its certificate Secret, uvicorn requires client certificates, probes present the pod's
    own certificate, calls use https and TLS_*; the gateway mounts its Secret and proxies over mutual TLS."""
    model, documents = _mtls_documents()
    for service in model.services:
        docs = documents[f"{FOLDER}{service.name}.yaml"]
        (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        command = container["command"]
        assert command[command.index("--ssl-cert-reqs") + 1] == "2"  # ssl.CERT_REQUIRED
        assert {"name": "tls", "secret": {"secretName": f"{model.slug}-{service.name}-tls"}} in pod["volumes"]
        assert "exec" in container["readinessProbe"] and "/readyz" in container["readinessProbe"]["exec"]["command"]
        (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
        assert {"TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"} <= set(config["data"])
        for callee in {c.target for c in service.calls}:
            assert config["data"][f"{model.service(callee).package.upper()}_URL"].startswith("https://")
    gateway = documents[f"{FOLDER}gateway.yaml"]
    (config,) = [d for d in gateway if d["kind"] == "ConfigMap"]
    tls = config["data"]["settings_services-tls.conf"]
    assert "default https;" in tls and "proxy_ssl_verify on;" in tls and "/run/planforge/tls/tls.crt" in tls
    (deployment,) = [d for d in gateway if d["kind"] == "Deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "tls", "secret": {"secretName": f"{model.slug}-gateway-tls"}} in volumes


@pytest.mark.parametrize("example", EXAMPLES)
def test_without_mtls_no_cert_manager_resource_is_written(example: str) -> None:
    """A manifest that does not ask for mTLS needs no cert-manager in its cluster."""
    model = _model(REPO / "examples" / example / "feature.yaml")
    assert not model.mtls
    documents = _documents(_k8s_files(model))
    assert not any(d["apiVersion"] == CERT_MANAGER for docs in documents.values() for d in docs)


def test_every_pinned_algorithm_has_its_key_and_settings_match_compose() -> None:
    """The gateway fixture pins RS256, ES256 and HS256: each service mounts every verifying key at JWT_KEYS_DIR, the
    gateway names a key file per algorithm, and JWT_KEYS_DIR / FORWARDED_ALLOW_IPS are set as in compose."""
    model = _model(REPO / "tests" / "fixtures" / "gateway" / "feature.yaml")
    rendered = render_targets(model, ("k8s", "deploy")).owned
    documents = _documents(rendered)
    compose = yaml.safe_load(rendered["deploy/docker-compose.yaml"])["services"]
    files = {"jwt-es256.pem", "jwt-hs256.secret", "jwt-rs256.pem"}
    for service in model.services:
        docs = documents[f"{FOLDER}{service.name}.yaml"]
        (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
        (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
        pod = deployment["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "jwt-keys"]
        assert {i["path"] for i in volume["secret"]["items"]} == files
        (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "jwt-keys"]
        environment = compose[service.name]["environment"]
        assert mount["mountPath"] == config["data"]["JWT_KEYS_DIR"] == environment["JWT_KEYS_DIR"]
        assert "FORWARDED_ALLOW_IPS" in config["data"] and "FORWARDED_ALLOW_IPS" in environment
    gateway = next(d for d in documents[f"{FOLDER}gateway.yaml"] if d["kind"] == "Deployment")
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        f"GATEWAY_JWT_{alg}_KEY_FILE": f"/run/planforge/jwt/jwt-{alg.lower()}.{ext}"
        for alg, ext in (("ES256", "pem"), ("HS256", "secret"), ("RS256", "pem"))
    }


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_mtls_holds_on_generated_manifests(tmp_path_factory: Any, manifest: dict[str, Any]) -> None:
    """Any manifest with service_auth: mtls: every document validates, every workload has its Certificate, every
    call URL is https, and the NetworkPolicies are still exactly the matrix."""
    path = tmp_path_factory.mktemp("k8s-mtls") / "feature.yaml"
    path.write_text(yaml.safe_dump({**manifest, "security": {"service_auth": "mtls"}}, sort_keys=False))
    assert not [d for d in validate(path).diagnostics if d.severity == "error"]
    model = _model(path)
    documents = _documents(_k8s_files(model))
    validator = _cert_manager_validator()
    names = set()
    for path_, docs in documents.items():
        for document in docs:
            if path_.endswith("kustomization.yaml"):
                continue
            if document["apiVersion"] == CERT_MANAGER:
                assert not list(validator.iter_errors(document)), document
                names.add(document["metadata"]["name"])
            else:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            if document["kind"] == "ConfigMap" and document["metadata"]["name"].endswith("-config"):
                urls = [v for k, v in document["data"].items() if k.endswith("_URL")]
                assert all(u.startswith("https://") for u in urls), urls
    workloads = {s.name for s in model.services} | ({"gateway"} if model.gateway else set())
    assert {f"{n}-tls" for n in workloads} <= names
    _assert_policies_are_the_matrix(model)
