"""`planforge up` with the gateway: a key for every pinned JWT algorithm, signals, the status listener.

The feature is the gateway tests' own (tests/fixtures/gateway), which pins RS256, ES256 and HS256 and
needs no datastore, so these tests run the real services and the real nginx without any shared server.
"""

from __future__ import annotations

import io
import itertools
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from planforge_runtime.auth import TokenIssuer, TokenVerifier
from planforge_runtime.config import ServiceConfig, Settings
from planforge_runtime.keys import generate_key_pair
from planforge_runtime.keys import jwt_key_files as runtime_key_files

from planforge.stack import Options, Stack, jwt_key_files
from planforge.stack.keys import JWKS_FILE, rotate_jwt_keys

from .conftest import REPO

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
FIXTURE = REPO / "tests" / "fixtures" / "gateway" / "feature.yaml"
ORDER = "/orders/3f1c9a52-8d4e-4b7a-9c61-2e5f0b7d8a11"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture feature generated into a temporary folder."""
    out = tmp_path_factory.mktemp("generated")
    done = subprocess.run(
        [sys.executable, "-m", "planforge", "generate", str(FIXTURE), "-o", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out / "gateway-shop"


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state folder nginx's workers (user nobody when the tests run as root) can enter to read the keys."""
    path = Path(tempfile.mkdtemp(prefix="planforge-up-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _token(alg: str, key: str | bytes, **changes: Any) -> str:
    now = int(time.time())
    claims = {"sub": "user-1", "iss": "auth-service", "aud": "shop-api", "iat": now, "exp": now + 300, **changes}
    return jwt.encode(claims, key, algorithm=alg)


# The fixture's rate limit is tight (burst 2): each request through the gateway from its own loopback address.
_addresses = (f"127.0.9.{n}" for n in itertools.count(1))


def _get(url: str, token: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=next(_addresses))
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.get(url, headers={"Authorization": f"Bearer {token}"})


def _signing_key(stack: Stack, alg: str) -> str:
    return stack.keys[alg].private.read_text()


def test_runtime_and_stack_agree_on_key_file_names() -> None:
    """Services read the files `planforge up` writes (two copies of one naming convention)."""
    for alg in ("RS256", "ES256", "HS256"):
        assert runtime_key_files(alg) == jwt_key_files(alg)


@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
def test_up_makes_a_key_for_every_algorithm_and_each_token_passes_or_is_refused(shop: Path, state_dir: Path) -> None:
    """RS256, ES256 and HS256 tokens all pass the gateway and the service; forged ones get 401, never 500."""
    options = Options(state=state_dir, free_ports=True, port=_free_port())
    progress = io.StringIO()
    with Stack(shop, options, out=progress) as stack:
        assert set(stack.keys) == {"RS256", "ES256", "HS256"}
        assert stack.gateway_url is not None
        for alg in sorted(stack.keys):
            token = _token(alg, _signing_key(stack, alg))
            answer = _get(stack.gateway_url + ORDER, token)
            # 501: the gateway and then the service (which verifies tokens itself) accepted it; no handler yet.
            assert answer.status_code == 501, (alg, answer.text)
            foreign = os.urandom(32).hex() if alg == "HS256" else generate_key_pair(alg)[0].decode()
            forged = _token(alg, foreign)
            refused = _get(stack.gateway_url + ORDER, forged)
            assert refused.status_code == 401, (alg, refused.text)
            assert refused.json()["detail"] == "token signature is invalid"
            # The service refuses it on its own too (nothing but the gateway's check in front of it before).
            direct = _get(stack.service_url("order-service") + ORDER, forged)
            assert direct.status_code == 401, (alg, direct.text)
        assert stack.gateway_status_url is not None
        status = httpx.get(stack.gateway_status_url, timeout=5)
        assert status.status_code == 200 and status.text.startswith("Active connections:")
    assert "JWT keys (ES256, HS256, RS256) ... ok (created ES256, HS256, RS256)" in progress.getvalue()


def test_the_leeway_of_the_manifest_is_the_services_leeway(shop: Path, state_dir: Path) -> None:
    """A token expired within gateway.authentication.jwt.leeway passes the service, one beyond it does not."""
    options = Options(state=state_dir, free_ports=True, gateway=False, only=("order-service",))
    with Stack(shop, options, out=io.StringIO()) as stack:
        url, now, key = stack.service_url("order-service") + ORDER, int(time.time()), _signing_key(stack, "RS256")
        leeway = 20  # tests/fixtures/gateway/feature.yaml
        within = _token("RS256", key, exp=now - leeway + 5)
        beyond = _token("RS256", key, exp=now - leeway - 5)
        assert _get(url, within).status_code == 501
        assert _get(url, beyond).status_code == 401


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_up_stops_on_sigint_even_when_started_with_sigint_ignored(shop: Path, state_dir: Path) -> None:
    """A shell script's background job inherits SIGINT as ignored; `planforge up` still stops on it."""
    command = [sys.executable, "-m", "planforge", "up", str(shop), "--state", str(state_dir), "--free-ports"]
    command += ["--no-gateway", "--only", "order-service"]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while not seen.startswith("ready: "):
            assert time.monotonic() < deadline and process.poll() is None, seen
            try:
                seen = lines.get(timeout=0.5)
            except queue.Empty:
                continue
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_issuer_signs_with_the_newest_key_of_a_rotated_set(tmp_path: Path) -> None:
    """JWT_KID and the newest private key: the tokens the login service issues pass a JWKS verifier."""
    first = rotate_jwt_keys(tmp_path, "ES256", token_lifetime=60)
    newest = rotate_jwt_keys(tmp_path, "ES256", token_lifetime=60)
    config = ServiceConfig(name="a", title="A", package="a", jwt_algorithms=("ES256",), jwt_issuer="a")
    settings = Settings(
        jwt_private_key=(tmp_path / f"{newest}.key").read_text(),
        jwt_kid=newest,
        jwt_jwks_file=str(tmp_path / JWKS_FILE),
    )
    token = TokenIssuer(config, settings).issue("user-1")
    assert jwt.get_unverified_header(token)["kid"] == newest != first
    assert TokenVerifier(config, settings).verify(token)["sub"] == "user-1"


def _signed_with(stack: Stack, alg: str, kid: str) -> str:
    key = (stack.rotation_folder / f"{kid}.key").read_bytes()
    now = int(time.time())
    claims = {"sub": "user-1", "iss": "auth-service", "aud": "shop-api", "iat": now, "exp": now + 300}
    return jwt.encode(claims, key if alg.startswith("HS") else key.decode(), algorithm=alg, headers={"kid": kid})


@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
def test_up_rotates_keys_old_and_new_pass_during_the_overlap_and_the_old_is_refused_after(
    shop: Path, state_dir: Path
) -> None:
    """`up --rotate-keys-every`: through the gateway (and the service behind it), for every pinned algorithm, a
    token of the replaced key passes until a token lifetime later, then 401; the new key's tokens pass."""
    lifetime = 120.0
    options = Options(
        state=state_dir, free_ports=True, port=_free_port(), rotate_keys_every=3600, token_lifetime=lifetime
    )
    with Stack(shop, options, out=io.StringIO()) as stack:
        assert stack.gateway_url is not None
        first = stack.current_kids()
        assert all(first.values())
        old = {alg: _signed_with(stack, alg, str(kid)) for alg, kid in first.items()}
        for alg, token in old.items():
            assert _get(stack.gateway_url + ORDER, token).status_code == 501, alg
        second = stack.rotate_keys()
        assert stack.current_kids() == second and not set(second.values()) & set(first.values())
        new = {alg: _signed_with(stack, alg, kid) for alg, kid in second.items()}
        for alg in first:  # the overlap: both pass
            assert _get(stack.gateway_url + ORDER, old[alg]).status_code == 501, alg
            assert _get(stack.gateway_url + ORDER, new[alg]).status_code == 501, alg
        # A rotation a token lifetime after the first one drops the first keys (now: the clock of the rotation).
        stack.rotate_keys(now=time.time() + lifetime + 1)
        for alg in first:
            refused = _get(stack.gateway_url + ORDER, old[alg])
            assert refused.status_code == 401, (alg, refused.text)
            assert _get(stack.gateway_url + ORDER, new[alg]).status_code == 501, alg
            # The service verifies by kid on its own too.
            assert _get(stack.service_url("order-service") + ORDER, old[alg]).status_code == 401, alg


def test_up_rotates_on_its_own_and_the_issuer_signs_with_the_newest_key(shop: Path, state_dir: Path) -> None:
    """The rotation thread replaces the signing keys while the services run; the issuer follows the key set."""
    options = Options(state=state_dir, free_ports=True, gateway=False, only=("order-service",), rotate_keys_every=0.5)
    with Stack(shop, options, out=io.StringIO()) as stack:
        first = stack.current_kids()["RS256"]
        deadline = time.monotonic() + 30
        while stack.current_kids()["RS256"] == first:
            assert time.monotonic() < deadline, "no rotation within 30 s"
            time.sleep(0.1)
    config = ServiceConfig(name="a", title="A", package="a", jwt_algorithms=("RS256",), jwt_issuer="a")
    settings = Settings(jwt_jwks_file=str(stack.rotation_folder / JWKS_FILE))
    token = TokenIssuer(config, settings).issue("user-1")
    assert jwt.get_unverified_header(token)["kid"] == stack.current_kids()["RS256"] != first
    assert TokenVerifier(config, settings).verify(token)["sub"] == "user-1"
