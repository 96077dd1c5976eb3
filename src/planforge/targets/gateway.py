"""The API gateway: an nginx configuration with njs JWT verification, rendered from model.gateway.

nginx routes each gateway prefix to its service's upstream, answers undeclared methods with 405,
limits requests per client IP, verifies JWTs itself (jwt.js, no call to the auth service), handles
CORS, correlation IDs, body size, security headers and JSON access logs. Everything a deployment
changes (listen address, upstream addresses, key files, module path, log destination) lives in
gateway/settings/*.conf, included by gateway/nginx.conf.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from planforge.conventions import DEFAULT_LISTEN_PORT, key_file_env
from planforge.model import Gateway, GatewayRoute, Model, Route
from planforge.targets import Output
from planforge.targets.registry import TargetError
from planforge.templating import render_template

__all__ = [
    "DEFAULT_LISTEN_PORT",
    "NJS_MODULE",
    "AccessRule",
    "Location",
    "Problem",
    "Upstream",
    "key_file_env",
    "render",
]

# Debian, Ubuntu, Alpine and nginx.org packages all install the njs module here.
NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"

_TEMPLATES = {
    "gateway/nginx.conf": "gateway/nginx.conf.j2",
    "gateway/jwt.js": "gateway/jwt.js.j2",
    "gateway/README.md": "gateway/README.md.j2",
    "gateway/settings/main.conf": "gateway/settings/main.conf.j2",
    "gateway/settings/http.conf": "gateway/settings/http.conf.j2",
    "gateway/settings/listen.conf": "gateway/settings/listen.conf.j2",
    "gateway/settings/upstreams.conf": "gateway/settings/upstreams.conf.j2",
    "gateway/settings/jwt.conf": "gateway/settings/jwt.conf.j2",
}
_JWT_ONLY = ("gateway/jwt.js", "gateway/settings/jwt.conf")
# Manifest values written into the config: no quotes, spaces, ';' or '$' (the schema already ensures it).
_NGINX_SAFE = re.compile(r"^[A-Za-z0-9._:/*+{}-]+$")
_EXPOSED_HEADERS = ("ETag", "Location", "Retry-After", "X-Correlation-ID")


@dataclass(frozen=True, slots=True)
class Upstream:
    """A service behind the gateway and its default address (settings/upstreams.conf)."""

    name: str
    service: str
    address: str


@dataclass(frozen=True, slots=True)
class Location:
    """A gateway prefix: what it matches, where it forwards, which methods pass."""

    prefix: str
    upstream: str
    target: str
    prefix_target: str
    methods: str
    methods_regex: str


@dataclass(frozen=True, slots=True)
class AccessRule:
    """One exposed route as a key of the public/protected map: exact 'METHOD:/path' or a '~' regex."""

    key: str
    public: bool
    route: str


@dataclass(frozen=True, slots=True)
class Problem:
    """An error nginx itself answers, rendered as an application/problem+json body."""

    status: int
    location: str
    title: str
    detail: str


def render(model: Model) -> Output:
    """gateway/nginx.conf, jwt.js, settings/*.conf and README.md; nothing when the feature has no gateway."""
    if model.gateway is None:
        return Output()
    context = _context(model, model.gateway)
    paths = [p for p in _TEMPLATES if context["jwt"] or p not in _JWT_ONLY]
    return Output(owned={path: render_template(_TEMPLATES[path], **context) for path in paths})


def _context(model: Model, gateway: Gateway) -> dict[str, object]:
    """Everything the templates print, computed here so that they only format."""
    return {
        "model": model,
        "gateway": gateway,
        "njs_module": NJS_MODULE,
        "listen_port": DEFAULT_LISTEN_PORT,
        "upstreams": _upstreams(model, gateway),
        "locations": tuple(_location(model, route) for route in sorted(gateway.routes, key=lambda r: r.prefix)),
        "access_rules": _access_rules(model),
        "jwt": _jwt(gateway),
        "rate": _rate(gateway),
        "cors": _cors(gateway),
        "problems": _problems(gateway),
        "max_body_size": _safe(gateway.max_body_size),
    }


def _safe(value: str) -> str:
    """A manifest value checked to be a plain nginx token (the schema already ensures it; this is a backstop)."""
    if not _NGINX_SAFE.match(value):
        raise TargetError(f"gateway value {value!r} cannot be written into nginx.conf")
    return value


def _upstreams(model: Model, gateway: Gateway) -> tuple[Upstream, ...]:
    """One upstream per routed service, named after its package (nginx names allow no '-')."""
    routed = [model.service(name) for name in model.routed_services]
    return tuple(Upstream(_safe(s.package), s.name, f"127.0.0.1:{s.port}") for s in routed)


def _location(model: Model, route: GatewayRoute) -> Location:
    """nginx replaces the matched prefix with the target, so stripping is a shorter target path."""
    methods = tuple(m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if m in route.methods)
    target = _safe(route.prefix[len(route.strip_prefix) :] or "/")
    return Location(
        prefix=_safe(route.prefix),
        upstream=_safe(model.service(route.service).package),
        target=target,
        prefix_target=target.rstrip("/") + "/",
        methods=", ".join(methods),
        methods_regex="|".join(methods),
    )


def _access_rules(model: Model) -> tuple[AccessRule, ...]:
    """Every route exposed by the gateway: exact paths first (nginx checks them first), then templates.

    Templates with fewer parameters come first, so /users/me (protected) wins over /users/{id} (public).
    """
    routes = [r for s in model.services for r in s.routes if r.gateway_path]
    exact = sorted((r for r in routes if "{" not in (r.gateway_path or "")), key=_route_key)
    templated = sorted((r for r in routes if "{" in (r.gateway_path or "")), key=_template_order)
    return tuple(_access_rule(r) for r in (*exact, *templated))


def _route_key(route: Route) -> tuple[str, str]:
    return (route.gateway_path or "", route.method)


def _template_order(route: Route) -> tuple[int, str, str]:
    path = route.gateway_path or ""
    return (path.count("{"), path, route.method)


def _access_rule(route: Route) -> AccessRule:
    path = _safe(route.gateway_path or "")
    if "{" in path:
        pattern = re.sub(r"\{[A-Za-z][A-Za-z0-9_]*\}", "[^/]+", path.replace(".", r"\."))
        key = f"~^{route.method}:{pattern}$"
    else:
        key = f"{route.method}:{path}"
    return AccessRule(key, route.public, f"{route.service}.{route.id}")


def _jwt(gateway: Gateway) -> dict[str, object] | None:
    if not gateway.jwt_algorithms:
        return None
    algorithms = tuple(sorted(gateway.jwt_algorithms))
    return {
        "algorithms": algorithms,
        "algorithms_json": json.dumps(list(algorithms)),
        "env": {alg: key_file_env(alg) for alg in algorithms},
        "env_json": json.dumps({alg: key_file_env(alg) for alg in algorithms}, sort_keys=True),
        "key_files": {
            alg: f"keys/jwt-{alg.lower()}.{'secret' if alg.startswith('HS') else 'pem'}" for alg in algorithms
        },
        "issuer": _safe(gateway.jwt_issuer) if gateway.jwt_issuer else "",
        "audience": _safe(gateway.jwt_audience) if gateway.jwt_audience else "",
    }


def _rate(gateway: Gateway) -> dict[str, object]:
    """nginx's leaky bucket: one request per period/N, a burst of model.burst, Retry-After one interval."""
    unit = "m" if gateway.rate_per == "minute" else "s"
    period = 60 if unit == "m" else 1
    return {
        "rate": f"{gateway.rate_requests}r/{unit}",
        "burst": gateway.burst,
        # nginx refuses burst=0; without a burst, every request past the rate is refused at once.
        "limit": f"zone=per_client_ip burst={gateway.burst} nodelay" if gateway.burst else "zone=per_client_ip",
        "retry_after": max(1, math.ceil(period / gateway.rate_requests)),
        "interval": f"{period / gateway.rate_requests:g} s",
        "text": f"{gateway.rate_requests} requests per {gateway.rate_per} per client IP",
    }


def _cors(gateway: Gateway) -> dict[str, object]:
    return {
        "origins": tuple(_safe(o) for o in sorted(gateway.cors_origins)),
        "headers": ", ".join(_safe(h) for h in gateway.cors_headers),
        "expose": ", ".join(_EXPOSED_HEADERS),
        "max_age": gateway.cors_max_age,
    }


def _problems(gateway: Gateway) -> tuple[Problem, ...]:
    """Errors nginx answers itself; responses from the services pass through unchanged."""
    rate = _rate(gateway)["text"]
    unauthorized = (Problem(401, "@unauthorized", "Unauthorized", "$jwt_error"),) if gateway.jwt_algorithms else ()
    return (
        Problem(400, "@bad_request", "Bad Request", "The gateway could not read the request."),
        *unauthorized,
        Problem(404, "@not_found", "Not Found", "No route of the gateway serves this path."),
        Problem(405, "@method_not_allowed", "Method Not Allowed", "Allowed methods: $route_methods."),
        Problem(413, "@too_large", "Content Too Large", f"Request bodies are limited to {gateway.max_body_size}."),
        Problem(415, "@unsupported_media_type", "Unsupported Media Type", "Request bodies must be JSON."),
        Problem(429, "@too_many_requests", "Too Many Requests", f"The limit is {rate}."),
        Problem(500, "@internal_error", "Internal Server Error", "The gateway failed; see its error log."),
        Problem(502, "@bad_gateway", "Bad Gateway", "The service behind this route is unreachable."),
        Problem(503, "@service_unavailable", "Service Unavailable", "The service behind this route is unavailable."),
        Problem(504, "@gateway_timeout", "Gateway Timeout", "The service behind this route did not answer in time."),
    )
