"""The generated gateway in a real nginx: every promise of the config checked with real HTTP requests.

Each manifest (the examples and tests/fixtures/gateway) is rendered by planforge, written to a fresh
runtime folder, checked with `nginx -t`, then started in front of echo services that answer with the
path and headers they saw. Each request comes from its own loopback address (127.0.x.y), so that the
per-IP rate limit only bites in the test about it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from planforge_runtime.auth import TokenVerifier
from planforge_runtime.config import ServiceConfig, Settings
from planforge_runtime.problems import Problem

from planforge.model import Model, Route
from planforge.pipeline import render, validate
from planforge.stack.keys import JWKS_FILE, rotate_jwt_keys
from planforge.targets.gateway import JWKS_FILE_ENV, NJS_MODULE, key_file_env

from .conftest import REPO
from .datastores import fresh_redis_prefix

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
FIXTURE = REPO / "tests" / "fixtures" / "gateway" / "feature.yaml"
MANIFESTS = [*sorted(REPO.glob("examples/*/feature.yaml")), FIXTURE]
PUBLIC_ONLY = REPO / "tests" / "fixtures" / "gateway" / "public-only" / "feature.yaml"
ALLOWED_ORIGIN_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods")

pytestmark = pytest.mark.skipif(
    NGINX is None or not Path(NJS_MODULE).exists(),
    reason="nginx with the njs module is not installed (apt-get install nginx libnginx-mod-http-js)",
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# --- keys and tokens ---------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """The gateway's keys (public halves and the shared secret) and what test clients sign with."""

    rsa_private: bytes
    rsa_public: bytes
    ec_private: bytes
    ec_public: bytes
    secret: bytes

    @classmethod
    def generate(cls) -> Keys:
        """Fresh keys for one gateway."""
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        return cls(
            _private_pem(rsa_key),
            _public_pem(rsa_key),
            _private_pem(ec_key),
            _public_pem(ec_key),
            os.urandom(24).hex().encode(),
        )

    def gateway_file(self, alg: str) -> bytes:
        """What the gateway's key file for alg holds."""
        return {"RS256": self.rsa_public, "ES256": self.ec_public, "HS256": self.secret}[alg]

    def signing_key(self, alg: str) -> bytes:
        """What a token issuer signs alg tokens with."""
        return {"RS256": self.rsa_private, "ES256": self.ec_private, "HS256": self.secret}[alg]


def _private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


# --- upstream echo services --------------------------------------------------


def echo_app(service: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app answering 200 with what it received; it also sends a CORS header the gateway must hide."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen = {
            "service": service,
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            "body": body.decode(errors="replace"),
        }
        headers = [(b"content-type", b"application/json"), (b"access-control-allow-origin", b"*")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(seen).encode()})

    return app


class EchoServer:
    """An echo service run by uvicorn in a thread."""

    def __init__(self, service: str, port: int) -> None:
        config = uvicorn.Config(
            echo_app(service), host="127.0.0.1", port=port, lifespan="off", log_level="error", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        """Serve, and return once the socket listens."""
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "echo service did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=5)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the running gateway -----------------------------------------------------

_addresses = (f"127.0.{n // 250 + 1}.{n % 250 + 1}" for n in itertools.count())


@dataclass
class Gateway:
    """nginx running the generated config, its model, keys and access log."""

    model: Model
    url: str
    root: Path
    keys: Keys
    access_log: Path
    key_files: dict[str, Path]
    status_url: str = ""

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The pinned JWT algorithms."""
        assert self.model.gateway is not None
        return self.model.gateway.jwt_algorithms

    def client(self, ip: str) -> httpx.Client:
        """An HTTP client whose connections come from the loopback address ip."""
        return httpx.Client(base_url=self.url, transport=httpx.HTTPTransport(local_address=ip), timeout=10)

    def request(
        self, method: str, path: str, *, token: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One request from a loopback address of its own, with a bearer token when given."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        with self.client(next(_addresses)) as client:
            return client.request(method, path, headers=sent, **kwargs)

    @property
    def default_algorithm(self) -> str:
        """The algorithm tests sign with unless they name one."""
        return "RS256" if "RS256" in self.algorithms else self.algorithms[0]

    def token(self, alg: str | None = None, **changes: Any) -> str:
        """A valid token for this gateway; changes override claims (None removes one)."""
        gateway = self.model.gateway
        assert gateway is not None
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "user-1",
            "iss": gateway.jwt_issuer,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
        }
        if gateway.jwt_audience:
            claims["aud"] = gateway.jwt_audience
        claims.update(changes)
        claims = {k: v for k, v in claims.items() if v is not None}
        alg = alg or self.default_algorithm
        return jwt.encode(claims, self.keys.signing_key(alg), algorithm=alg)


def _write_gateway(model_files: dict[str, str], root: Path) -> None:
    for path, text in model_files.items():
        target = root / path.removeprefix("gateway/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def _rendered(manifest: Path) -> tuple[Model, dict[str, str]]:
    validation = validate(manifest)
    assert validation.ok, validation.diagnostics
    assert validation.document is not None, validation.diagnostics
    rendering = render(validation.document, manifest.name, ("gateway",))
    return rendering.model, {p: t for p, t in rendering.output.owned.items() if p.startswith("gateway/")}


def _runtime_dir() -> Path:
    # nginx workers run as 'nobody' when the tests run as root: they must be able to read the keys.
    root = Path(tempfile.mkdtemp(prefix="planforge-gateway-"))
    root.chmod(0o755)
    return root


def _point_settings(root: Path, model: Model, port: int, upstream_ports: dict[str, int]) -> str:
    """Replace the settings a deployment replaces: listen addresses and upstream addresses; the status URL."""
    (root / "settings" / "listen.conf").write_text(f"listen 127.0.0.1:{port};\n")
    status_port = free_port()
    (root / "settings" / "status.conf").write_text(f"listen 127.0.0.1:{status_port};\n")
    upstreams = root / "settings" / "upstreams.conf"
    text = upstreams.read_text()
    for service, local in upstream_ports.items():
        default = f"server 127.0.0.1:{model.service(service).port};"
        assert default in text, f"{service} has no default address in upstreams.conf"
        text = text.replace(default, f"server 127.0.0.1:{local};")
    upstreams.write_text(text)
    return f"http://127.0.0.1:{status_port}"


def _install_keys(
    root: Path, keys: Keys, algorithms: tuple[str, ...], via_env: bool
) -> tuple[dict[str, str], dict[str, Path]]:
    """Key files where settings/jwt.conf looks (relative to nginx.conf), or elsewhere named by the environment."""
    env: dict[str, str] = {}
    files: dict[str, Path] = {}
    for alg in algorithms:
        if via_env:
            path = root / "elsewhere" / f"{alg}.key"
            env[key_file_env(alg)] = str(path)
        else:
            match = re.search(
                rf"js_var \$jwt_{alg.lower()}_key_file (\S+);", (root / "settings" / "jwt.conf").read_text()
            )
            assert match, f"settings/jwt.conf names no key file for {alg}"
            path = root / match.group(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o755)
        path.write_bytes(keys.gateway_file(alg))
        path.chmod(0o644)
        files[alg] = path
    return env, files


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90  # a generous start-up bound: several services start at once on a loaded machine
    while True:
        assert process.poll() is None, f"{url} exited: {log.read_text()}"
        try:
            httpx.get(url + "/healthz", timeout=1)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} did not answer: {log.read_text()}"
            time.sleep(0.05)


@contextlib.contextmanager
def running(commands: dict[str, list[str]], logs: Path, **popen: Any) -> Iterator[None]:
    """Processes started together, each serving the URL it is keyed by, until the block ends; output in logs/."""
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        for number, (url, command) in enumerate(commands.items()):
            log = logs / f"process-{number}.log"
            with log.open("wb") as out:
                processes.append((url, subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **popen), log))
        for url, process, log in processes:
            _wait_for(url, process, log)
        yield
    finally:
        for _, process, _ in processes:
            process.terminate()
        for _, process, _ in processes:
            process.wait(timeout=10)


@contextlib.contextmanager
def running_nginx(root: Path, port: int, env: dict[str, str]) -> Iterator[Path]:
    """Nginx with root/nginx.conf and root as its runtime folder; yields its access log (errors: root/process-0.log)."""
    command = [str(NGINX), "-e", "stderr", "-p", str(root), "-c", str(root / "nginx.conf")]
    with running({f"http://127.0.0.1:{port}": command}, root, env={**os.environ, **env}):
        yield root / "access.log"


@contextlib.contextmanager
def running_echoes(services: list[str]) -> Iterator[dict[str, int]]:
    """An echo service per name; yields their ports."""
    echoes = {s: EchoServer(s, free_port()) for s in services}
    try:
        for echo in echoes.values():
            echo.start()
        yield {s: e.server.config.port for s, e in echoes.items()}
    finally:
        for echo in echoes.values():
            echo.stop()


@pytest.fixture(scope="module", params=MANIFESTS, ids=lambda p: p.parent.name)
def gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    """The generated gateway of one manifest, running in nginx in front of echo services."""
    model, files = _rendered(request.param)
    if model.gateway is None:
        pytest.skip("the manifest has no gateway")
    root, keys, port = _runtime_dir(), Keys.generate(), free_port()
    _write_gateway(files, root)
    env, key_files = _install_keys(root, keys, model.gateway.jwt_algorithms, via_env=request.param != FIXTURE)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        upstreams = stack.enter_context(running_echoes(sorted({r.service for r in model.gateway.routes})))
        status_url = _point_settings(root, model, port, upstreams)
        access_log = stack.enter_context(running_nginx(root, port, env))
        yield Gateway(model, f"http://127.0.0.1:{port}", root, keys, access_log, key_files, status_url)


# --- helpers over the model --------------------------------------------------

SAMPLE_ID = "3f1c9a52-8d4e-4b7a-9c61-2e5f0b7d8a11"


def exposed_routes(model: Model) -> list[Route]:
    """Every service route a client reaches through the gateway."""
    return [r for s in model.services for r in s.routes if r.gateway_path]


def protected_route(model: Model) -> Route:
    """A route that needs a JWT."""
    return next(r for r in exposed_routes(model) if not r.public)


def body_route(model: Model) -> Route:
    """A route whose method carries a body."""
    return next(r for r in exposed_routes(model) if r.method in ("POST", "PUT", "PATCH"))


def concrete(path: str) -> str:
    """A path template with each parameter filled in (with a UUID, which every parameter schema accepts here)."""
    return re.sub(r"\{[^}]+\}", SAMPLE_ID, path)


def service_path(model: Model, route: Route) -> str:
    """What the service sees for a route: the gateway path with the route's strip_prefix removed."""
    assert model.gateway is not None
    assert route.gateway_path is not None
    prefix = next(g for g in model.gateway.routes if g.service == route.service and route.method in g.methods)
    return concrete(route.gateway_path)[len(prefix.strip_prefix) :]


def call(gateway: Gateway, route: Route, **kwargs: Any) -> httpx.Response:
    """One request to a route through the gateway, with a JSON body when its method carries one."""
    assert route.gateway_path is not None
    if route.method in ("POST", "PUT", "PATCH") and not {"json", "content"} & kwargs.keys():
        kwargs["json"] = {"probe": True}
    return gateway.request(route.method, concrete(route.gateway_path), **kwargs)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem+json body of a gateway error, checked."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["correlationId"] in response.headers.values()
    return body


# --- the config --------------------------------------------------------------


@pytest.mark.parametrize("manifest", [*MANIFESTS, PUBLIC_ONLY], ids=lambda p: p.parent.name)
def test_generated_config_passes_nginx_check(manifest: Path, tmp_path: Path) -> None:
    """The files exactly as generated pass `nginx -t` from an arbitrary runtime folder."""
    model, files = _rendered(manifest)
    if model.gateway is None:
        pytest.skip("the manifest has no gateway")
    assert {"gateway/nginx.conf", "gateway/settings/upstreams.conf", "gateway/settings/listen.conf"} <= set(files)
    _write_gateway(files, tmp_path / "conf")
    conf = tmp_path / "conf" / "nginx.conf"
    command = [str(NGINX), "-e", "stderr", "-t", "-p", str(tmp_path), "-c", str(conf)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_gateway_without_jwt_needs_no_njs() -> None:
    """When every route is public, the config has no auth_request, no jwt.js and loads no module."""
    _, files = _rendered(PUBLIC_ONLY)
    assert "gateway/jwt.js" not in files
    assert "gateway/settings/jwt.conf" not in files
    assert "load_module" not in files["gateway/settings/main.conf"]
    assert "auth_request" not in files["gateway/nginx.conf"]


def test_jwt_js_is_one_static_module() -> None:
    """Every feature gets the same jwt.js (only the header comment names the manifest): nginx variables configure it."""
    modules = {m: _rendered(m)[1].get("gateway/jwt.js") for m in MANIFESTS}
    bodies = {text.split("\n", 1)[1] for text in modules.values() if text is not None}
    assert len(bodies) == 1, "jwt.js differs between features"
    assert len([t for t in modules.values() if t]) >= 2


def test_one_location_per_gateway_prefix() -> None:
    """Each gateway prefix is one location block, for the prefix itself and everything under it."""
    for manifest in MANIFESTS:
        model, files = _rendered(manifest)
        assert model.gateway is not None
        locations = re.findall(r'^\s*location ~ "\^(.*)\(\?:/\|\$\)" \{$', files["gateway/nginx.conf"], re.M)
        prefixes = sorted(r.prefix for r in model.gateway.routes)
        assert sorted(loc.replace("\\", "") for loc in locations) == prefixes, manifest


def test_keys_never_appear_in_the_config() -> None:
    """The config names key files; no PEM block or secret is written into it."""
    _, files = _rendered(FIXTURE)
    pem_block = re.compile(r"-----BEGIN [A-Z ]+-----[A-Za-z0-9+/=\s]{40,}-----END")
    assert not any(pem_block.search(text) for text in files.values())
    assert "keys/jwt-rs256.pem" in files["gateway/settings/jwt.conf"]


def test_exact_protected_path_wins_over_public_template(gateway: Gateway) -> None:
    """A protected exact path needs a token although a public template beside it would match it."""
    routes = exposed_routes(gateway.model)
    pairs = [
        (exact, template)
        for exact in routes
        if not exact.public and exact.gateway_path and "{" not in exact.gateway_path
        for template in routes
        if template.public
        and template.method == exact.method
        and template.gateway_path
        and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template.gateway_path), exact.gateway_path)
    ]
    if not pairs:
        pytest.skip("no protected exact path beside a public template")
    for exact, template in pairs:
        problem(call(gateway, exact), 401)
        assert call(gateway, template).status_code == 200, template.id


def test_public_decision_is_case_sensitive(gateway: Gateway) -> None:
    """POST /auth/LOGIN is not the public /auth/login: without a token it stops at the gateway with 401."""
    changed = 0
    for route in (r for r in exposed_routes(gateway.model) if r.public):
        assert route.gateway_path is not None
        segments = route.gateway_path.split("/")
        literal = next((i for i in reversed(range(len(segments))) if segments[i] != segments[i].upper()), None)
        if literal is None or "{" in segments[literal]:
            continue
        segments[literal] = segments[literal].upper()
        response = gateway.request(route.method, concrete("/".join(segments)), json={"probe": True})
        problem(response, 401)
        changed += 1
    if not changed:
        pytest.skip("no public route with letters in its last segment")


# --- routing and methods -----------------------------------------------------


def test_every_exposed_route_reaches_its_service_with_the_prefix_stripped(gateway: Gateway) -> None:
    """Each route arrives at its own service, under the path the service declares, query string kept."""
    for route in exposed_routes(gateway.model):
        assert route.gateway_path is not None
        token = None if route.public else gateway.token()
        response = call(gateway, route, token=token, params={"page": "2"})
        assert response.status_code == 200, (route.id, response.text)
        seen = response.json()
        assert (seen["service"], seen["method"]) == (route.service, route.method)
        assert seen["path"] == service_path(gateway.model, route), route.id
        assert seen["query"] == "page=2"


def test_undeclared_method_gets_405_with_allow(gateway: Gateway) -> None:
    """A method the gateway route does not declare never reaches the service."""
    assert gateway.model.gateway is not None
    for prefix in gateway.model.gateway.routes:
        method = next(m for m in ("DELETE", "PATCH", "PUT", "POST", "GET") if m not in prefix.methods)
        response = gateway.request(method, prefix.prefix + "/anything", token=gateway.token())
        body = problem(response, 405)
        declared = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if m in prefix.methods]
        assert response.headers["allow"] == ", ".join(declared)
        assert "Allowed methods" in body["detail"]


def test_path_outside_every_prefix_gets_404(gateway: Gateway) -> None:
    """Only the declared prefixes are routed."""
    problem(gateway.request("GET", "/nowhere/at/all"), 404)


# --- JWT -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
def test_valid_token_passes_with_authorization_forwarded(gateway: Gateway, alg: str) -> None:
    """A valid token of a pinned algorithm reaches the service, Authorization header included."""
    if alg not in gateway.algorithms:
        pytest.skip(f"{alg} is not pinned by this manifest")
    token = gateway.token(alg)
    response = call(gateway, protected_route(gateway.model), token=token)
    assert response.status_code == 200, response.text
    assert response.json()["headers"]["authorization"] == f"Bearer {token}"


def _confused(gw: Gateway, claims: dict[str, Any]) -> str:
    """An HS256 token whose HMAC key is the gateway's public key: the classic algorithm confusion."""
    public = gw.keys.gateway_file(gw.default_algorithm)
    unsigned = _unsigned({"alg": "HS256", "typ": "JWT"}, claims)
    return unsigned + "." + _b64(hmac.new(public, unsigned.encode(), hashlib.sha256).digest())


def _foreign(gw: Gateway, claims: dict[str, Any]) -> str:
    """A token of the pinned algorithm signed with a key the gateway does not know."""
    alg = gw.default_algorithm
    if alg == "HS256":
        return jwt.encode(claims, os.urandom(32).hex(), algorithm=alg)
    other = Keys.generate()
    return jwt.encode(claims, other.signing_key(alg), algorithm=alg)


def _bad_tokens(gw: Gateway) -> dict[str, tuple[str | None, str]]:
    """Tokens the gateway must refuse, by what is wrong with them, and the reason it must give."""
    good = gw.token()
    head, body, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = _unsigned(json.loads(base64.urlsafe_b64decode(head + "==")), {**claims, "sub": "admin"})
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    bad_signature = "token signature is invalid"
    confusion = bad_signature if "HS256" in gw.algorithms else "token algorithm is not accepted"
    now = int(time.time())
    return {
        "missing": (None, "missing bearer token"),
        "expired": (gw.token(exp=now - 3600), "token has expired"),
        "not yet valid": (gw.token(nbf=now + 3600), "token is not valid yet"),
        "no expiry": (gw.token(exp=None), "token has no expiry"),
        "tampered payload": (f"{forged}.{signature}", bad_signature),
        "tampered signature": (f"{head}.{body}.{flipped}", bad_signature),
        "alg none": (_unsigned({"alg": "none", "typ": "JWT"}, claims) + ".", "malformed token signature"),
        "alg none, signed": (_unsigned({"alg": "none"}, claims) + "." + signature, "token algorithm is not accepted"),
        "HS256 signed with the public key": (_confused(gw, claims), confusion),
        "signed by another key": (_foreign(gw, claims), bad_signature),
        "wrong issuer": (gw.token(iss="someone-else"), "token issuer is not accepted"),
        "malformed": ("not-a-jwt", "malformed token"),
    }


def test_bad_tokens_get_401_problem(gateway: Gateway) -> None:
    """Missing, expired, tampered, alg:none, algorithm-confused and foreign tokens are all refused."""
    route = protected_route(gateway.model)
    for name, (token, reason) in _bad_tokens(gateway).items():
        response = call(gateway, route, token=token)
        assert problem(response, 401)["detail"] == reason, name
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith(f'Bearer realm="{gateway.model.slug}"'), name
        assert ("invalid_token" in challenge) == (token is not None), name


def test_wrong_audience_is_refused(gateway: Gateway) -> None:
    """When the manifest names an audience, a token for another one is refused."""
    assert gateway.model.gateway is not None
    if not gateway.model.gateway.jwt_audience:
        pytest.skip("the manifest names no audience")
    response = call(gateway, protected_route(gateway.model), token=gateway.token(aud="other-api"))
    assert problem(response, 401)["detail"] == "token audience is not accepted"


def test_key_file_is_read_per_request_and_its_absence_fails_closed(gateway: Gateway) -> None:
    """Replacing the key file rotates the key without a reload; without a key file, nothing passes (500)."""
    route, alg = protected_route(gateway.model), gateway.default_algorithm
    key_file, token = gateway.key_files[alg], gateway.token()
    original = key_file.read_bytes()
    try:
        key_file.write_bytes(Keys.generate().gateway_file(alg) if alg != "HS256" else os.urandom(32).hex().encode())
        assert problem(call(gateway, route, token=token), 401)["detail"] == "token signature is invalid"
        key_file.unlink()
        assert problem(call(gateway, route, token=token), 500)["detail"] == "The gateway failed; see its error log."
    finally:
        key_file.write_bytes(original)
    assert call(gateway, route, token=token).status_code == 200


def test_public_routes_need_no_token(gateway: Gateway) -> None:
    """Public routes pass without Authorization."""
    public = [r for r in exposed_routes(gateway.model) if r.public]
    assert public, "the manifest should have a public route"
    for route in public:
        assert call(gateway, route).status_code == 200, route.id


def test_unknown_path_under_a_prefix_needs_a_token(gateway: Gateway) -> None:
    """Paths the manifest does not list are protected by default."""
    assert gateway.model.gateway is not None
    prefix = gateway.model.gateway.routes[0]
    problem(gateway.request(prefix.methods[0], prefix.prefix + "/not/declared/here", json={}), 401)


# --- rate limit --------------------------------------------------------------


def test_rate_limit_per_client_ip_with_retry_after(gateway: Gateway) -> None:
    """Past the burst, one IP gets 429 with Retry-After while another IP still passes."""
    assert gateway.model.gateway is not None
    limit = gateway.model.gateway
    interval = (60 if limit.rate_per == "minute" else 1) / limit.rate_requests
    route = protected_route(gateway.model)
    assert route.gateway_path is not None
    token = gateway.token()
    statuses: list[int] = []
    with gateway.client(next(_addresses)) as flooder:
        # The bucket refills while the loop runs, so a loose limit takes a few more requests than the burst.
        while 429 not in statuses and len(statuses) < limit.burst + 500:
            refused = flooder.request(
                route.method, concrete(route.gateway_path), headers={"Authorization": f"Bearer {token}"}, json={}
            )
            statuses.append(refused.status_code)
    assert statuses[: limit.burst + 1] == [200] * (limit.burst + 1)
    assert statuses[-1] == 429, f"no 429 after {len(statuses)} requests"
    problem(refused, 429)
    assert int(refused.headers["retry-after"]) == max(1, math.ceil(interval))
    assert call(gateway, route, token=token).status_code == 200


# --- CORS ----------------------------------------------------------------------


def _origins(gateway: Gateway) -> tuple[str, ...]:
    assert gateway.model.gateway is not None
    return gateway.model.gateway.cors_origins


def test_preflight_from_allowed_origin_gets_204_with_methods_and_max_age(gateway: Gateway) -> None:
    """The browser's preflight is answered by the gateway with the route's methods and headers."""
    route = protected_route(gateway.model)
    assert gateway.model.gateway is not None
    assert route.gateway_path is not None
    origin = _origins(gateway)[0]
    asks = {"Origin": origin, "Access-Control-Request-Method": route.method}
    response = gateway.request("OPTIONS", concrete(route.gateway_path), headers=asks)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == origin
    assert route.method in response.headers["access-control-allow-methods"].split(", ")
    allowed = response.headers["access-control-allow-headers"].split(", ")
    assert "Authorization" in allowed
    assert gateway.model.correlation_header in allowed
    assert response.headers["access-control-max-age"] == str(gateway.model.gateway.cors_max_age)


def test_other_origins_get_no_allow_origin(gateway: Gateway) -> None:
    """Neither a preflight nor a request from an unlisted origin gets Access-Control-Allow-*."""
    route = protected_route(gateway.model)
    assert route.gateway_path is not None
    evil = {"Origin": "https://evil.example.net"}
    preflight = gateway.request(
        "OPTIONS", concrete(route.gateway_path), headers={**evil, "Access-Control-Request-Method": route.method}
    )
    actual = call(gateway, route, headers=evil, token=gateway.token())
    assert (preflight.status_code, actual.status_code) == (204, 200)
    for response in (preflight, actual):
        assert not any(h in response.headers for h in ALLOWED_ORIGIN_HEADERS), response.headers


def test_allowed_origin_on_a_real_request_replaces_the_service_header(gateway: Gateway) -> None:
    """The gateway alone answers for CORS: the service's own '*' never reaches the browser."""
    origin = _origins(gateway)[-1]
    response = call(gateway, protected_route(gateway.model), headers={"Origin": origin}, token=gateway.token())
    assert response.status_code == 200
    assert response.headers.get_list("access-control-allow-origin") == [origin]
    assert "Origin" in response.headers["vary"]


# --- correlation IDs, logs, limits, headers -----------------------------------


def _access_entries(gateway: Gateway, correlation_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        lines = gateway.access_log.read_text().splitlines()
        found = [json.loads(line) for line in lines if correlation_id in line]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_correlation_id_created_forwarded_returned_and_logged(gateway: Gateway) -> None:
    """Without the manifest's correlation header the gateway makes an ID, sends it upstream, returns and logs it."""
    route, header = protected_route(gateway.model), gateway.model.correlation_header.lower()
    response = call(gateway, route, token=gateway.token())
    created = response.headers[header]
    assert re.fullmatch(r"[0-9a-f]{32}", created)
    assert response.json()["headers"][header] == created
    entry = _access_entries(gateway, created)[0]
    assert (entry["status"], entry["method"], entry["subject"]) == (200, route.method, "user-1")


def test_client_correlation_id_is_kept_and_unsafe_ones_replaced(gateway: Gateway) -> None:
    """A plain client ID travels end to end; one that could break logs is replaced."""
    route, token, header = protected_route(gateway.model), gateway.token(), gateway.model.correlation_header
    kept = call(gateway, route, token=token, headers={header: "req-7:abc.1"})
    assert kept.headers.get_list(header) == ["req-7:abc.1"]
    assert kept.json()["headers"][header.lower()] == "req-7:abc.1"
    replaced = call(gateway, route, token=token, headers={header: 'x" injected'})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers[header])


def test_only_the_manifests_correlation_header_is_used(gateway: Gateway) -> None:
    """A custom correlation_header replaces X-Correlation-ID: one request never carries two IDs."""
    header = gateway.model.correlation_header
    if header.lower() == "x-correlation-id":
        pytest.skip("the manifest keeps the default correlation header")
    response = call(gateway, protected_route(gateway.model), token=gateway.token(), headers={header: "one-id"})
    assert response.headers.get_list(header) == ["one-id"]
    assert "x-correlation-id" not in response.headers
    assert "x-correlation-id" not in response.json()["headers"]
    assert header in response.headers["access-control-expose-headers"].split(", ")


def test_refused_requests_are_logged_with_the_reason(gateway: Gateway) -> None:
    """A 401 shows up in the access log with its correlation ID and why the token was refused."""
    headers = {gateway.model.correlation_header: "refused-1"}
    response = call(gateway, protected_route(gateway.model), token=gateway.token(exp=1), headers=headers)
    assert response.status_code == 401
    entry = _access_entries(gateway, "refused-1")[0]
    assert (entry["status"], entry["auth_error"]) == (401, "token has expired")


def test_security_headers_on_every_response(gateway: Gateway) -> None:
    """Successful and refused responses both carry the security headers."""
    ok = call(gateway, protected_route(gateway.model), token=gateway.token())
    for response in (ok, gateway.request("GET", "/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "content-security-policy" in response.headers
        assert response.headers["server"] == "nginx"


def _size(text: str) -> int:
    return int(text[:-1]) * {"k": 1024, "m": 1024 * 1024}[text[-1]] if text[-1] in "km" else int(text)


def test_body_over_the_limit_gets_413(gateway: Gateway) -> None:
    """client_max_body_size comes from the manifest."""
    assert gateway.model.gateway is not None
    big = b'{"x":"' + b"a" * _size(gateway.model.gateway.max_body_size) + b'"}'
    headers = {"Content-Type": "application/json"}
    problem(call(gateway, body_route(gateway.model), token=gateway.token(), content=big, headers=headers), 413)


def test_non_json_body_gets_415(gateway: Gateway) -> None:
    """With request_validation, a body must be JSON."""
    assert gateway.model.gateway is not None
    if not gateway.model.gateway.request_validation:
        pytest.skip("request_validation is off")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    problem(call(gateway, body_route(gateway.model), token=gateway.token(), content=b"a=1", headers=headers), 415)


# --- the edge: forwarded headers, trace context, raw requests, logs, status ---------


def test_client_x_forwarded_for_is_replaced_by_the_peer_address(gateway: Gateway) -> None:
    """A client's X-Forwarded-For never reaches a service: the gateway sets it from the peer address."""
    ip = next(_addresses)
    with gateway.client(ip) as client:
        route = protected_route(gateway.model)
        assert route.gateway_path is not None
        headers = {"Authorization": f"Bearer {gateway.token()}", "X-Forwarded-For": "203.0.113.66"}
        seen = client.request(route.method, concrete(route.gateway_path), headers=headers, json={}).json()
    assert seen["headers"]["x-forwarded-for"] == ip
    assert seen["headers"]["x-real-ip"] == ip


_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")


def _traced(gateway: Gateway, traceparent: str | None, marker: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the service received and the access log entry, for one request with that traceparent."""
    headers = {gateway.model.correlation_header: marker}
    if traceparent is not None:
        headers["traceparent"] = traceparent
        headers["tracestate"] = "vendor=1"
    response = call(gateway, protected_route(gateway.model), token=gateway.token(), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["headers"], _access_entries(gateway, marker)[0]


def test_valid_traceparent_is_continued_with_the_gateways_own_span(gateway: Gateway) -> None:
    """The trace id is kept, the gateway's span id is new, the incoming span is logged as the parent."""
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    seen, entry = _traced(gateway, incoming, "trace-continued")
    match = _TRACEPARENT.fullmatch(seen["traceparent"])
    assert match, seen["traceparent"]
    assert match.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert match.group(2) not in ("00f067aa0ba902b7", "0" * 16)
    assert seen["tracestate"] == "vendor=1"
    expected = ("4bf92f3577b34da6a3ce929d0e0e4736", match.group(2), "00f067aa0ba902b7")
    assert (entry["trace_id"], entry["span_id"], entry["parent_span_id"]) == expected


@pytest.mark.parametrize(
    "incoming",
    [
        None,
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "garbage",
    ],
    ids=["absent", "zero-trace", "zero-parent", "upper-case", "version-ff", "no-flags", "garbage"],
)
def test_missing_or_invalid_traceparent_starts_a_new_trace(gateway: Gateway, incoming: str | None) -> None:
    """Anything but a valid traceparent starts a new trace: no parent in the log, no tracestate forwarded."""
    seen, entry = _traced(gateway, incoming, f"trace-new-{abs(hash(incoming)) % 10**8}")
    match = _TRACEPARENT.fullmatch(seen["traceparent"])
    assert match, seen["traceparent"]
    assert match.group(1) != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert match.group(1) != "0" * 32
    assert "tracestate" not in seen
    assert (entry["trace_id"], entry["span_id"], entry["parent_span_id"]) == (match.group(1), match.group(2), "")


def _raw(gateway: Gateway, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library would) and read the status, headers and body."""
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("name", "request_bytes", "status"),
    [
        ("nul in the path", b"GET /%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n", 400),
        ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        ("space in the path", b"GET /a b c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        ("no Host", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400),
        ("unknown version", b"GET / HTTP/2.7\r\nHost: x\r\nConnection: close\r\n\r\n", 505),
        ("URI too long", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414),
        ("header too large", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        ("unknown transfer coding", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ],
    ids=lambda v: v if isinstance(v, str) and "\r" not in v else None,
)
def test_malformed_requests_get_problem_json_never_html(
    gateway: Gateway, name: str, request_bytes: bytes, status: int
) -> None:
    """Requests nginx refuses before routing are answered with problem+json, not nginx's HTML pages."""
    code, headers, body = _raw(gateway, request_bytes)
    assert headers.get("content-type") == "application/problem+json", (name, code, body[:200])
    assert b"<html" not in body.lower(), name
    parsed = json.loads(body)
    assert (code, parsed["status"]) == (status, status), (name, parsed)


def test_access_log_is_valid_utf8_json_even_with_raw_bytes(gateway: Gateway) -> None:
    """A raw 0xff in the User-Agent or the path is logged as a marker; every line stays UTF-8 JSON."""
    marker = "raw-bytes-1"
    header = gateway.model.correlation_header.encode()
    request = b"GET /nowhere/\xff\xfe HTTP/1.1\r\nHost: x\r\nUser-Agent: bad \xff\xc3(\r\n"
    request += header + b": " + marker.encode() + b"\r\nConnection: close\r\n\r\n"
    _raw(gateway, request)
    good = b"GET /nowhere/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\xc3\xa9\r\n"
    _raw(gateway, good + header + b": raw-bytes-2\r\nConnection: close\r\n\r\n")
    entry = _access_entries(gateway, marker)[0]
    assert (entry["user_agent"], entry["uri"]) == ("(invalid UTF-8)", "(invalid UTF-8)")
    assert _access_entries(gateway, "raw-bytes-2")[0]["user_agent"] == "caf\u00e9"
    for line in gateway.access_log.read_bytes().splitlines():
        json.loads(line.decode("utf-8"))


def test_stub_status_only_on_the_status_listener(gateway: Gateway) -> None:
    """stub_status answers on settings/status.conf's address; the public port has no such path."""
    problem(gateway.request("GET", "/stub_status"), 404)
    status = httpx.get(gateway.status_url + "/stub_status", timeout=5)
    assert status.status_code == 200
    assert status.text.startswith("Active connections:")
    assert httpx.get(gateway.status_url + "/other", timeout=5).status_code == 404


def test_cors_origins_match_exactly_and_case_sensitively(gateway: Gateway) -> None:
    """An origin spelled differently, or with the allowed one as a prefix, gets no Access-Control-Allow-Origin."""
    route = protected_route(gateway.model)
    for origin in _origins(gateway):
        for other in (origin.upper(), origin + ".evil.example", origin + ":1", "x" + origin):
            response = call(gateway, route, headers={"Origin": other}, token=gateway.token())
            assert response.status_code == 200
            assert "access-control-allow-origin" not in response.headers, other


def _error_log_lines(gateway: Gateway) -> int:
    return len((gateway.root / "process-0.log").read_bytes().splitlines())


def test_flood_of_refused_requests_writes_a_bounded_log(gateway: Gateway) -> None:
    """Hundreds of 429s write no error-log line and only a sample of access-log lines."""
    route = protected_route(gateway.model)
    assert route.gateway_path is not None
    token, flood = gateway.token(), 400
    errors_before, access_before = _error_log_lines(gateway), len(gateway.access_log.read_bytes().splitlines())
    statuses = []
    with gateway.client(next(_addresses)) as flooder:
        for _ in range(flood):
            response = flooder.request(
                route.method, concrete(route.gateway_path), headers={"Authorization": f"Bearer {token}"}, json={}
            )
            statuses.append(response.status_code)
    refused = statuses.count(429)
    assert refused >= flood // 2, f"only {refused} of {flood} requests were refused"
    time.sleep(0.2)  # let nginx write what it buffers
    assert _error_log_lines(gateway) == errors_before, (gateway.root / "process-0.log").read_text()[-2000:]
    logged = len(gateway.access_log.read_bytes().splitlines()) - access_before
    # Every request that passed, and about 1% of the refused ones (30 is far above what 1% can give).
    assert logged <= flood - refused + 30, (logged, refused)


def test_clock_leeway_from_the_manifest(gateway: Gateway) -> None:
    """A token expired within the manifest's leeway still passes; one expired beyond it is refused."""
    assert gateway.model.gateway is not None
    leeway, now = gateway.model.gateway.jwt_leeway, int(time.time())
    route = protected_route(gateway.model)
    assert call(gateway, route, token=gateway.token(exp=now - leeway + 5)).status_code == 200
    late = call(gateway, route, token=gateway.token(exp=now - leeway - 5))
    assert problem(late, 401)["detail"] == "token has expired"
    early = call(gateway, route, token=gateway.token(nbf=now + leeway + 5))
    assert problem(early, 401)["detail"] == "token is not valid yet"


# --- the example's generated services behind the gateway ----------------------

EXAMPLES = sorted(REPO.glob("examples/*/feature.yaml"))


def _service_env(keys: Keys, alg: str, workdir: Path, redis_prefix: str) -> dict[str, str]:
    """The generated services' own JWT settings (they verify tokens too), a folder for their SQLite files and the
    test's own Redis key prefix (their audit streams)."""
    key = (
        {"JWT_SECRET": keys.secret.decode()} if alg == "HS256" else {"JWT_PUBLIC_KEY": keys.gateway_file(alg).decode()}
    )
    # HTTP through the gateway only: no broker connection, so nothing is declared on the shared broker.
    isolated = {"HOME": str(workdir), "EVENTS": "false", "REDIS_KEY_PREFIX": redis_prefix}
    return {**os.environ, **key, "PYTHONDONTWRITEBYTECODE": "1", **isolated}


def running_services(
    model: Model, services_dir: Path, env: dict[str, str]
) -> tuple[dict[str, int], contextlib.AbstractContextManager[None]]:
    """Each routed generated service under uvicorn (its app.py): their ports, and the block that runs them."""
    assert model.gateway is not None
    ports = {name: free_port() for name in sorted({r.service for r in model.gateway.routes})}
    commands = {
        f"http://127.0.0.1:{port}": [
            *(sys.executable, "-m", "uvicorn", f"{model.service(name).package}.app:app"),
            *("--app-dir", str(services_dir), "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ]
        for name, port in ports.items()
    }
    return ports, running(commands, services_dir.parent, env=env, cwd=services_dir.parent)


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.parent.name)
def real_gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    """The example's gateway in front of the example's generated services (all targets rendered)."""
    validation = validate(request.param)
    assert validation.ok, validation.diagnostics
    assert validation.document is not None, validation.diagnostics
    rendering = render(validation.document, request.param.name)
    model, files = rendering.model, {**rendering.output.owned, **rendering.output.user}
    if model.gateway is None:
        pytest.skip("the example has no gateway")
    if not any(p.startswith("services/") and p.endswith("/app.py") for p in files):
        pytest.skip("the services target renders no services yet")
    out, keys, port = _runtime_dir(), Keys.generate(), free_port()
    for path, text in files.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)
    root, alg = out / "gateway", Gateway(model, "", out, keys, out, {}).default_algorithm
    env, key_files = _install_keys(root, keys, (alg,), via_env=True)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, out, ignore_errors=True)
        redis_prefix = stack.enter_context(fresh_redis_prefix())
        ports, services = running_services(model, out / "services", _service_env(keys, alg, out, redis_prefix))
        stack.enter_context(services)
        _point_settings(root, model, port, ports)
        access_log = stack.enter_context(running_nginx(root, port, env))
        yield Gateway(model, f"http://127.0.0.1:{port}", root, keys, access_log, key_files)


def test_real_services_answer_through_the_gateway(real_gateway: Gateway) -> None:
    """Every exposed route reaches its generated service under the stripped path, token accepted by the service.

    The handlers are not written yet, so a service answers 501 (or 422 for the probe body): either way the
    answer is the service's own problem, for the path the service declares. A 501 on a protected route means
    the service, which checks tokens itself too, accepted the one the gateway forwarded.
    """
    accepted = []
    for route in exposed_routes(real_gateway.model):
        correlation = f"real-{route.id}"
        headers = {real_gateway.model.correlation_header: correlation}
        # An owner-only route (access.owner) is called by its owner: the subject is the path's id.
        subject = {"sub": SAMPLE_ID} if route.access and route.access.owner else {}
        response = call(real_gateway, route, token=real_gateway.token(**subject), headers=headers, json={})
        assert response.status_code in (200, 201, 204, 422, 501), (route.id, response.text)
        assert response.headers.get_list(real_gateway.model.correlation_header) == [correlation]
        if response.headers["content-type"] == "application/problem+json":
            assert response.json().get("instance") == service_path(real_gateway.model, route), route.id
        if response.status_code == 501 and not route.public:
            accepted.append(route.id)
    assert accepted, "no protected route got past the service's own token check"


def test_real_services_still_behind_the_jwt_check(real_gateway: Gateway) -> None:
    """Without a token, protected routes stop at the gateway; the gateway's health answers."""
    problem(call(real_gateway, protected_route(real_gateway.model)), 401)
    assert real_gateway.request("GET", "/healthz").json() == {"status": "ok"}


# --- key rotation: a JWKS key set, keys chosen by kid -----------------------------------------------------


def test_key_rotation_overlap_then_old_key_refused() -> None:
    """Rotation adds a key and signs with it; tokens of the old key pass until a token lifetime later, then not.

    The gateway (GATEWAY_JWT_JWKS_FILE) and a service's TokenVerifier (JWT_JWKS_FILE) read the same key set.
    """
    model, files = _rendered(FIXTURE)
    assert model.gateway is not None
    root, port, lifetime = _runtime_dir(), free_port(), 900.0
    keys = root / "keys"
    _write_gateway(files, root)
    config = ServiceConfig(
        name="order-service",
        title="Order Service",
        package="order_service",
        jwt_algorithms=model.gateway.jwt_algorithms,
        jwt_issuer=model.gateway.jwt_issuer,
        jwt_audience=model.gateway.jwt_audience,
    )
    verifier = TokenVerifier(config, Settings(jwt_jwks_file=str(keys / JWKS_FILE)))
    route = next(r for r in exposed_routes(model) if r.id == "get_order")
    now = time.time()
    first = {alg: rotate_jwt_keys(keys, alg, token_lifetime=lifetime, now=now - 100) for alg in ("RS256", "ES256")}
    hs_kid = rotate_jwt_keys(keys, "HS256", token_lifetime=lifetime, now=now - 100)
    keys.chmod(0o755)  # nginx workers run as 'nobody' when the tests run as root; jwks.json is 0644
    env = {JWKS_FILE_ENV: str(keys / JWKS_FILE)}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        upstreams = stack.enter_context(running_echoes(sorted({r.service for r in model.gateway.routes})))
        _point_settings(root, model, port, upstreams)
        stack.enter_context(running_nginx(root, port, env))
        gateway = Gateway(model, f"http://127.0.0.1:{port}", root, Keys.generate(), root / "access.log", {})

        def signed(alg: str, kid: str) -> str:
            claims = {"sub": "user-1", "iss": "auth-service", "aud": "shop-api", "exp": int(time.time()) + 300}
            return jwt.encode(claims, (keys / f"{kid}.key").read_bytes(), algorithm=alg, headers={"kid": kid})

        def passes(token: str) -> bool:
            status = call(gateway, route, token=token).status_code
            assert status in (200, 401), status
            try:
                verifier.verify(token)
                verdict = 200
            except Problem as refused:
                verdict = refused.status
            assert verdict in (200, 401), verdict
            assert status == verdict, f"the gateway answered {status}, the service {verdict}"
            return verdict == 200

        old = {alg: signed(alg, kid) for alg, kid in first.items()}
        assert all(passes(t) for t in old.values())
        assert passes(signed("HS256", hs_kid))
        second = rotate_jwt_keys(keys, "RS256", token_lifetime=lifetime, now=now)
        new = signed("RS256", second)
        assert passes(new), "during the overlap both keys pass"
        assert passes(old["RS256"]), "during the overlap both keys pass"
        # An RS256 token naming the ES256 key, and one without kid, are refused.
        claims, signing_key = {"sub": "x", "exp": int(time.time()) + 60}, (keys / f"{second}.key").read_bytes()
        assert not passes(jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": first["ES256"]}))
        assert not passes(jwt.encode(claims, signing_key, algorithm="RS256"))
        third = rotate_jwt_keys(keys, "RS256", token_lifetime=lifetime, now=now + lifetime + 1)
        assert not passes(old["RS256"]), "a token lifetime after its retirement, the old key is dropped"
        assert not (keys / f"{first['RS256']}.key").exists()
        assert passes(new)
        assert passes(signed("RS256", third))
        assert passes(old["ES256"])
        assert problem(call(gateway, route, token=old["RS256"]), 401)["detail"] == "token key is not known"
