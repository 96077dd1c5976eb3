"""PF830: security promises of the manifest that planforge does not generate are said out loud.

The plan describes the manifest's security section as written; where nothing generated enforces a promise,
the manifest gets a warning at the key, so that no one reads the plan as a guarantee the stack does not keep.
"""

from __future__ import annotations

from collections.abc import Iterator

from planforge.diagnostics import Diagnostic
from planforge.rules.manifest import Manifest

__all__ = ["check"]

# key -> (the value that promises something planforge does not generate, what happens instead, what to do).
_NOT_GENERATED: dict[str, tuple[tuple[object, ...], str, str]] = {
    "service_auth": (
        ("jwt",),
        "services accept any caller that the network lets through (deploy/k8s's NetworkPolicies limit who that is)",
        "use service_auth: mtls (mutual TLS from `planforge up` and cert-manager in deploy/k8s), or none",
    ),
    "encryption_in_transit": (
        (True,),
        "the gateway and the services speak plain HTTP; TLS must be terminated in front of the gateway",
        "terminate TLS at your load balancer or ingress, and use TLS URLs for the datastores",
    ),
    "encryption_at_rest": (
        (True,),
        "it is a property of the databases' storage, which planforge does not configure",
        "enable it where your PostgreSQL, Redis and RabbitMQ run",
    ),
    "pii_masking": (
        (False,),
        "the runtime masks the events' pii fields in every log line whatever this says",
        "remove the key: masking cannot be turned off",
    ),
}


# service_auth: mtls is honoured by `planforge up` and deploy/k8s; the compose file alone runs plain HTTP.
_COMPOSE_PLAIN = (
    "security.service_auth: mtls is enforced by `planforge up` (a local CA) and deploy/k8s (cert-manager), but "
    "deploy/docker-compose.yaml runs the services over plain HTTP on the compose network"
)


def check(m: Manifest) -> Iterator[Diagnostic]:
    """A warning for each security key whose value promises what no generated file enforces."""
    section = m.data.get("security", {})
    if section.get("service_auth") == "mtls":
        hint = "use `planforge up` or deploy/k8s where mutual TLS matters"
        yield m.warning("PF830", ("security", "service_auth"), _COMPOSE_PLAIN, hint)
    for key, (promising, instead, hint) in _NOT_GENERATED.items():
        value = section.get(key)
        if key in section and any(value == p and type(value) is type(p) for p in promising):
            yield m.warning(
                "PF830",
                ("security", key),
                f"security.{key}: {_shown(value)} is not what the generated stack does: {instead}",
                hint,
            )


def _shown(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
