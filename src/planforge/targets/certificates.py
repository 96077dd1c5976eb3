"""cert-manager resources for deploy/k8s/ when the manifest asks for mutual TLS (security.service_auth: mtls).

Each service and the gateway get a ``Certificate`` (server and client auth, for the service's cluster DNS name)
whose Secret holds ``tls.crt``, ``tls.key`` and ``ca.crt``; all are issued by the feature's CA ``Issuer``. The
issuer file bootstraps that CA inside the namespace (a self-signed Issuer signs the CA Certificate, whose Secret
backs the CA Issuer); a cluster with its own CA replaces the file and keeps the Issuer's name.
Used by targets/k8s.py only; the data here is plain dictionaries, dumped as YAML there.
"""

from __future__ import annotations

from typing import Any

from planforge.model import Model

__all__ = [
    "CERTIFICATE_API",
    "TLS_DIR",
    "TLS_FILES",
    "certificate",
    "issuer_documents",
    "issuer_name",
    "probe_command",
    "secret_name",
    "serve_options",
    "tls_settings",
    "tls_volume",
]

CERTIFICATE_API = "cert-manager.io/v1"
# Where a pod mounts its certificate Secret, and the files cert-manager writes into it.
TLS_DIR = "/run/planforge/tls"
TLS_FILES = {"certificate": f"{TLS_DIR}/tls.crt", "key": f"{TLS_DIR}/tls.key", "ca": f"{TLS_DIR}/ca.crt"}
_DURATION = "2160h"  # 90 days, cert-manager's default
_RENEW_BEFORE = "360h"  # renewed 15 days before expiry; the pods read the files on each new connection
# The kubelet's HTTPS probes send no client certificate: probes run inside the container, with its own.
_PROBE = (
    "import os, ssl, sys, urllib.request; "
    "c = ssl.create_default_context(cafile=os.environ['TLS_CA_FILE']); "
    "c.check_hostname = False; "
    "c.load_cert_chain(os.environ['TLS_CERT_FILE'], os.environ['TLS_KEY_FILE']); "
    "urllib.request.urlopen('https://127.0.0.1:' + sys.argv[1] + sys.argv[2], timeout=2, context=c)"
)


def issuer_name(model: Model) -> str:
    """The CA Issuer every Certificate of the feature names."""
    return f"{model.slug}-ca"


def certificate(model: Model, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The Certificate of a service or the gateway: its Secret is <slug>-<name>-tls."""
    return {
        "apiVersion": CERTIFICATE_API,
        "kind": "Certificate",
        "metadata": {"name": f"{name}-tls", "labels": labels},
        "spec": {
            "secretName": secret_name(model, name),
            "commonName": name,
            "dnsNames": [name],
            "duration": _DURATION,
            "renewBefore": _RENEW_BEFORE,
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "usages": ["digital signature", "key encipherment", "server auth", "client auth"],
            "issuerRef": {"name": issuer_name(model), "kind": "Issuer", "group": "cert-manager.io"},
        },
    }


def secret_name(model: Model, name: str) -> str:
    """The Secret cert-manager writes name's certificate into."""
    return f"{model.slug}-{name}-tls"


def issuer_documents(model: Model) -> list[dict[str, Any]]:
    """A self-signed Issuer, the feature's CA Certificate it signs, and the CA Issuer backed by that CA."""
    labels = {"app.kubernetes.io/part-of": model.slug, "app.kubernetes.io/component": "mtls"}
    selfsigned = f"{model.slug}-selfsigned"
    return [
        {
            "apiVersion": CERTIFICATE_API,
            "kind": "Issuer",
            "metadata": {"name": selfsigned, "labels": labels},
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": CERTIFICATE_API,
            "kind": "Certificate",
            "metadata": {"name": issuer_name(model), "labels": labels},
            "spec": {
                "isCA": True,
                "commonName": f"{model.slug} services CA",
                "secretName": issuer_name(model),
                "duration": "87600h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": selfsigned, "kind": "Issuer", "group": "cert-manager.io"},
            },
        },
        {
            "apiVersion": CERTIFICATE_API,
            "kind": "Issuer",
            "metadata": {"name": issuer_name(model), "labels": labels},
            "spec": {"ca": {"secretName": issuer_name(model)}},
        },
    ]


def tls_volume(model: Model, name: str) -> dict[str, Any]:
    """The pod volume with name's certificate Secret (mounted read-only at TLS_DIR)."""
    return {"name": "tls", "secret": {"secretName": secret_name(model, name)}}


def tls_settings() -> dict[str, str]:
    """The runtime's TLS_* settings (client certificate and CA for calls to other services)."""
    return {"TLS_CA_FILE": TLS_FILES["ca"], "TLS_CERT_FILE": TLS_FILES["certificate"], "TLS_KEY_FILE": TLS_FILES["key"]}


def serve_options() -> list[str]:
    """uvicorn's options for HTTPS that requires a client certificate from the CA (ssl.CERT_REQUIRED is 2)."""
    return [
        "--ssl-certfile",
        TLS_FILES["certificate"],
        "--ssl-keyfile",
        TLS_FILES["key"],
        "--ssl-ca-certs",
        TLS_FILES["ca"],
        "--ssl-cert-reqs",
        "2",
    ]


def probe_command(port: int, path: str) -> list[str]:
    """An exec probe: GET path over mTLS with the pod's own certificate (any CA-signed name is let in)."""
    return ["python", "-c", _PROBE, str(port), path]
