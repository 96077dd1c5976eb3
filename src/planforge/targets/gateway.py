"""The API gateway: an nginx configuration with njs JWT verification, rendered from model.gateway.

nginx routes each gateway prefix to its service's upstream, answers undeclared methods with 405,
limits requests per client IP, verifies JWTs itself (jwt.js, one static module configured by nginx
variables, no call to the auth service), handles CORS, correlation IDs, W3C trace context, body size,
security headers and JSON access logs, and serves stub_status on a separate listener. Everything a
deployment changes (listen addresses, upstream addresses, key files, module path, log destination) lives
in gateway/settings/*.conf, included by gateway/nginx.conf.

Every decision on manifest text (public or protected, CORS origin) is a case-sensitive regex match:
nginx matches plain map keys case-insensitively, which would let POST /auth/LOGIN skip the JWT check.
"""

from __future__ import annotations

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
    "DEFAULT_STATUS_LISTEN",
    "JWKS_FILE_ENV",
    "NJS_MODULE",
    "STATUS_PATH",
    "TLS_FILES",
    "AccessRule",
    "Location",
    "Problem",
    "Upstream",
    "key_file_env",
    "render",
]

# nginx's stub_status, for prometheus-nginx-exporter: never on the public port.
DEFAULT_STATUS_LISTEN = "127.0.0.1:8081"
STATUS_PATH = "/stub_status"
# Names the gateway's JWKS file (key rotation); jwt.js reads the same name.
JWKS_FILE_ENV = "GATEWAY_JWT_JWKS_FILE"
# The gateway's certificate, key and trusted CA for mutual TLS to the services, relative to nginx.conf.
TLS_FILES = {"certificate": "tls/gateway.pem", "key": "tls/gateway.key", "ca": "tls/ca.pem"}
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
    "gateway/settings/status.conf": "gateway/settings/status.conf.j2",
    "gateway/settings/services-tls.conf": "gateway/settings/services-tls.conf.j2",
}
_JWT_ONLY = ("gateway/jwt.js", "gateway/settings/jwt.conf")
# Manifest values written into the config: no quotes, spaces, ';' or '$' (the schema already ensures it).
_NGINX_SAFE = re.compile(r"^[A-Za-z0-9._:/*+{}-]+$")
_EXPOSED_HEADERS = ("ETag", "Location", "Retry-After")
# Of the requests the rate limit refuses, one in this many is written to the access log.
_RATE_LIMITED_LOG_ONE_IN = 100
# Characters with a meaning in PCRE that _NGINX_SAFE lets through.
_REGEX_SPECIAL = re.compile(r"([.*+?(){}\[\]|^$\\])")
# Statuses nginx can answer by itself (besides the routing ones): each gets a problem+json body.
_HTTP_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


@dataclass(frozen=True, slots=True)
class Upstream:
    """A service behind the gateway and its default address (settings/upstreams.conf)."""

    name: str
    service: str
    address: str


@dataclass(frozen=True, slots=True)
class Location:
    """A gateway prefix: one regex location for the prefix and everything under it, and its rewrite."""

    prefix: str
    upstream: str
    # The service's name: what its certificate names, checked when the gateway speaks mutual TLS to it.
    service: str
    match: str
    rewrite: str
    replacement: str
    target: str
    methods: str
    methods_regex: str


@dataclass(frozen=True, slots=True)
class AccessRule:
    """One exposed route as a case-sensitive '~' regex key of the public/protected map ('METHOD:/path')."""

    key: str
    public: bool
    route: str


@dataclass(frozen=True, slots=True)
class Problem:
    """An error nginx itself answers, rendered as an application/problem+json body.

    caught are the statuses nginx produces that lead here (494, nginx's own code for headers over the
    limit, is answered as 431). The location is an internal URI, not a named location: nginx cannot
    redirect a request whose request line it could not parse to a named location.
    """

    status: int
    location: str
    title: str
    detail: str
    caught: tuple[int, ...]

    @property
    def error_page(self) -> str:
        """The arguments of nginx's error_page directive: the caught codes, '=status' when it differs, the URI."""
        answer = "" if self.caught == (self.status,) else f" ={self.status}"
        return f"{' '.join(str(c) for c in self.caught)}{answer} {self.location}"


def render(model: Model) -> Output:
    """gateway/nginx.conf, jwt.js, settings/*.conf and README.md; nothing when the feature has no gateway."""
    if model.gateway is None:
        return Output()
    context = _context(model, model.gateway)
    paths = [p for p in _TEMPLATES if context["jwt"] or p not in _JWT_ONLY]
    return Output(owned={path: render_template(_TEMPLATES[path], **context) for path in paths})


def key_file(algorithm: str) -> str:
    """The default key file of an algorithm, relative to nginx.conf: keys/jwt-rs256.pem, keys/jwt-hs256.secret."""
    return f"keys/jwt-{algorithm.lower()}.{'secret' if algorithm.startswith('HS') else 'pem'}"


def _context(model: Model, gateway: Gateway) -> dict[str, object]:
    """Everything the templates print, computed here so that they only format."""
    correlation = _safe(model.correlation_header)
    return {
        "model": model,
        "gateway": gateway,
        "njs_module": NJS_MODULE,
        "listen_port": DEFAULT_LISTEN_PORT,
        "status_listen": DEFAULT_STATUS_LISTEN,
        "status_path": STATUS_PATH,
        "correlation": {"header": correlation, "variable": "$http_" + correlation.lower().replace("-", "_")},
        "upstreams": _upstreams(model, gateway),
        "locations": _locations(model, gateway),
        "access_rules": _access_rules(model),
        "jwt": _jwt(model, gateway),
        "rate": _rate(gateway),
        "cors": _cors(gateway, correlation),
        "problems": _problems(gateway),
        "max_body_size": _safe(gateway.max_body_size),
        "valid_utf8": _VALID_UTF8,
        "mtls": model.mtls,
        "tls_files": TLS_FILES,
    }


# Byte-mode PCRE (nginx compiles without UTF mode) for a string that is valid UTF-8: the access log keeps
# such values and replaces any other, because escape=json copies bytes >= 0x80 as they are.
_VALID_UTF8 = (
    r"~^(?:[\x01-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    r"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    r"|\xf4[\x80-\x8f][\x80-\xbf]{2})*$"
)


def _safe(value: str) -> str:
    """A manifest value checked to be a plain nginx token (the schema already ensures it; this is a backstop)."""
    if not _NGINX_SAFE.match(value):
        raise TargetError(f"gateway value {value!r} cannot be written into nginx.conf")
    return value


def _literal(value: str) -> str:
    """A safe manifest value as a PCRE literal (inside a double-quoted nginx string)."""
    return _REGEX_SPECIAL.sub(r"\\\1", _safe(value))


def _upstreams(model: Model, gateway: Gateway) -> tuple[Upstream, ...]:
    """One upstream per routed service, named after its package (nginx names allow no '-')."""
    routed = [model.service(name) for name in model.routed_services]
    return tuple(Upstream(_safe(s.package), s.name, f"127.0.0.1:{s.port}") for s in routed)


def _locations(model: Model, gateway: Gateway) -> tuple[Location, ...]:
    """Longest prefix first: nginx tries regex locations in order, and /api/v1 must win over /api."""
    routes = sorted(gateway.routes, key=lambda r: (-len(r.prefix), r.prefix))
    return tuple(_location(model, route) for route in routes)


def _location(model: Model, route: GatewayRoute) -> Location:
    """One regex location for the prefix itself and everything under it.

    The rewrite replaces the prefix with the target on nginx's normalised URI (which proxy_pass escapes
    again), as a prefix location with a URI in proxy_pass would; the query string is kept.
    """
    methods = tuple(m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if m in route.methods)
    prefix = _literal(route.prefix)
    target = _safe(route.prefix[len(route.strip_prefix) :] or "/")
    if target == "/":
        rewrite, replacement = f"^{prefix}/?(.*)$", "/$1"
    else:
        rewrite, replacement = f"^{prefix}(.*)$", f"{target}$1"
    return Location(
        prefix=_safe(route.prefix),
        upstream=_safe(model.service(route.service).package),
        service=_safe(route.service),
        match=f"^{prefix}(?:/|$)",
        rewrite=rewrite,
        replacement=replacement,
        target=target,
        methods=", ".join(methods),
        methods_regex="|".join(methods),
    )


def _access_rules(model: Model) -> tuple[AccessRule, ...]:
    """Every route exposed by the gateway, in the order nginx tries the map's regexes.

    Exact paths first, then templates with fewer parameters, so /users/me (protected) wins over
    /users/{id} (public).
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
    parts = re.split(r"(\{[A-Za-z][A-Za-z0-9_]*\})", _safe(route.gateway_path or ""))
    pattern = "".join("[^/]+" if part.startswith("{") else _literal(part) for part in parts if part)
    return AccessRule(f"~^{route.method}:{pattern}$", route.public, f"{route.service}.{route.id}")


def _jwt(model: Model, gateway: Gateway) -> dict[str, object] | None:
    if not gateway.jwt_algorithms:
        return None
    algorithms = tuple(sorted(gateway.jwt_algorithms))
    return {
        "algorithms": algorithms,
        "env": {alg: key_file_env(alg) for alg in algorithms},
        "key_files": {alg: key_file(alg) for alg in algorithms},
        "jwks_env": JWKS_FILE_ENV,
        "realm": _safe(model.slug),
        "issuer": _safe(gateway.jwt_issuer) if gateway.jwt_issuer else "",
        "audience": _safe(gateway.jwt_audience) if gateway.jwt_audience else "",
        "leeway": gateway.jwt_leeway,
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
        # One refused request in this many is written to the access log; none to the error log.
        "log_one_in": _RATE_LIMITED_LOG_ONE_IN,
        "log_sample": f"{100 / _RATE_LIMITED_LOG_ONE_IN:g}%",
    }


def _cors(gateway: Gateway, correlation: str) -> dict[str, object]:
    """Origins as exact, case-sensitive regexes, answered with the spelling the manifest configures."""
    origins = tuple(sorted(gateway.cors_origins))
    # Browsers may send the correlation header the gateway reads, whatever allowed_headers lists.
    headers = [*gateway.cors_headers]
    if correlation.lower() not in (h.lower() for h in headers):
        headers.append(correlation)
    return {
        "origins": tuple((f"~^{_literal(o)}$", _safe(o)) for o in origins),
        "origin_list": origins,
        "headers": ", ".join(_safe(h) for h in headers),
        "expose": ", ".join((*_EXPOSED_HEADERS, correlation)),
        "max_age": gateway.cors_max_age,
    }


def _problems(gateway: Gateway) -> tuple[Problem, ...]:
    """Every error nginx can answer itself; responses from the services pass through unchanged."""
    rate = _rate(gateway)["text"]
    details = {
        400: "The gateway could not read the request.",
        401: "$jwt_error" if gateway.jwt_algorithms else "Authentication is required.",
        403: "The gateway refuses this request.",
        404: "No route of the gateway serves this path.",
        405: "Allowed methods: $route_methods.",
        408: "The request was not received in time.",
        411: "The request needs a Content-Length.",
        413: f"Request bodies are limited to {_safe(gateway.max_body_size)}.",
        414: "The request URI is longer than the gateway accepts.",
        415: "Request bodies must be JSON.",
        416: "The requested range cannot be served.",
        429: f"The limit is {rate}.",
        431: "The request headers are larger than the gateway accepts.",
        500: "The gateway failed; see its error log.",
        501: "The gateway does not implement this request (for example its transfer encoding).",
        502: "The service behind this route is unreachable.",
        503: "The service behind this route is unavailable.",
        504: "The service behind this route did not answer in time.",
        505: "The gateway speaks HTTP/1.0 and HTTP/1.1 only.",
    }
    # 494 is nginx's own code for headers over the limit (it would answer an HTML 400).
    caught = {431: (494,)}
    return tuple(
        Problem(status, f"/_gateway/errors/{status}", title, details[status], caught.get(status, (status,)))
        for status, title in _HTTP_TITLES.items()
    )
