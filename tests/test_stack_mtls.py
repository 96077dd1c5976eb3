"""`planforge up` with mutual TLS: a local CA, HTTPS services that require its client certificates, the gateway
and `calls` over mTLS.

The feature is the mTLS tests' own (tests/fixtures/mtls: quote-service calls stock-service, no datastore), with
handlers written by the test, so the real uvicorn services and the real nginx run without any shared server.
"""

from __future__ import annotations

import io
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from planforge.stack import Options, Stack
from planforge.stack.tls import client_context, ensure_certificates

from .conftest import REPO

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
FIXTURE = REPO / "tests" / "fixtures" / "mtls" / "feature.yaml"
GATEWAY_FIXTURE = REPO / "tests" / "fixtures" / "gateway" / "feature.yaml"

_STOCK = """
from .. import models


async def handle(ctx, *, sku: str):
    return models.Stock(sku=sku, level=7)
"""
# quote-service calls stock-service at STOCK_SERVICE_URL (https:// under mTLS) with the runtime's client.
_QUOTE = """
import os

from .. import models


async def handle(ctx, *, sku: str):
    answer = await ctx.http.get(os.environ["STOCK_SERVICE_URL"] + "/stock/" + sku)
    answer.raise_for_status()
    return models.Quote(sku=sku, available=answer.json()["level"])
"""


def _generate(manifest: Path, out: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "planforge", "generate", str(manifest), "-o", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mTLS feature generated into a temporary folder, with both handlers implemented."""
    out = tmp_path_factory.mktemp("generated")
    _generate(FIXTURE, out)
    root = out / "quote-desk"
    (root / "services" / "stock_service" / "impl" / "get_stock.py").write_text(_STOCK)
    (root / "services" / "quote_service" / "impl" / "get_quote.py").write_text(_QUOTE)
    return root


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state folder nginx's workers (user nobody when the tests run as root) can enter."""
    path = Path(tempfile.mkdtemp(prefix="planforge-mtls-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _refused(url: str, verify: ssl.SSLContext | bool) -> str:
    """The error class of a GET that the service refuses (it must not answer at all)."""
    try:
        answer = httpx.get(url, verify=verify, timeout=5)
    except (httpx.TransportError, ssl.SSLError) as exc:
        return type(exc).__name__
    raise AssertionError(f"{url} answered {answer.status_code} without a valid client certificate")


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_the_gateway_and_calls_go_over_mutual_tls(desk: Path, state_dir: Path) -> None:
    """The manifest asks for mTLS: through the gateway, quote-service answers with what it got from stock-service."""
    progress = io.StringIO()
    with Stack(desk, Options(state=state_dir, free_ports=True, port=_free_port()), out=progress) as stack:
        assert stack.mtls and stack.gateway_url is not None
        assert stack.service_url("stock-service").startswith("https://")
        answer = httpx.get(stack.gateway_url + "/api/quotes/sku-1", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"sku": "sku-1", "available": 7}
    text = progress.getvalue()
    assert "mTLS certificates ... ok" in text
    assert "starting stock-service" in text and "ready (" in text  # readiness checks passed over mTLS
    assert (state_dir / "tls" / "ca.key").stat().st_mode & 0o077 == 0


def test_a_service_refuses_plain_http_no_certificate_and_another_cas_certificate(desk: Path, state_dir: Path) -> None:
    """Only a client with a certificate from the stack's CA gets an answer."""
    options = Options(state=state_dir, free_ports=True, gateway=False, only=("stock-service",))
    with Stack(desk, options, out=io.StringIO()) as stack:
        url = stack.service_url("stock-service") + "/stock/sku-1"
        trusted = stack.tls["gateway"]
        # Plain HTTP to the TLS port: no HTTP answer.
        assert _refused(url.replace("https://", "http://"), False)
        # TLS that trusts the CA but presents no certificate.
        assert _refused(url, ssl.create_default_context(cafile=str(trusted.ca)))
        # A certificate for the same name, from another CA.
        foreign, _ = ensure_certificates(state_dir / "foreign", ["gateway"])
        other = ssl.create_default_context(cafile=str(trusted.ca))
        other.load_cert_chain(str(foreign["gateway"].certificate), str(foreign["gateway"].key))
        assert _refused(url, other)
        # The stack's own certificate passes.
        answer = httpx.get(url, verify=client_context(trusted), timeout=5)
        assert answer.status_code == 200 and answer.json() == {"sku": "sku-1", "level": 7}


@pytest.mark.skipif(NGINX is None, reason="nginx with the njs module is not installed")
def test_mtls_flag_turns_it_on_for_a_feature_that_does_not_ask(tmp_path: Path, state_dir: Path) -> None:
    """--mtls on the gateway fixture (JWT, no service_auth): the gateway reaches the service over mTLS."""
    _generate(GATEWAY_FIXTURE, tmp_path)
    options = Options(state=state_dir, free_ports=True, port=_free_port(), mtls=True, only=("catalog-service",))
    with Stack(tmp_path / "gateway-shop", options, out=io.StringIO()) as stack:
        assert stack.gateway_url is not None
        answer = httpx.get(stack.gateway_url + "/api/catalog/items/i-1", timeout=10)
        assert answer.status_code == 501, answer.text  # the service answered: no handler yet
        assert _refused(stack.service_url("catalog-service").replace("https", "http") + "/healthz", False)


def test_certificates_are_kept_across_runs_and_issued_again_for_a_new_ca(tmp_path: Path) -> None:
    """ensure_certificates keeps what exists; a CA made again gets new leaves (an old one would be refused)."""
    first, issued = ensure_certificates(tmp_path, ["a", "b"])
    assert issued == ["a", "b"]
    again, issued = ensure_certificates(tmp_path, ["a", "b"])
    assert issued == [] and again == first
    (tmp_path / "ca.key").unlink()
    _, issued = ensure_certificates(tmp_path, ["a"])
    assert issued == ["a"]


@pytest.mark.skipif(NGINX is None or shutil.which("prometheus") is None, reason="nginx or prometheus is missing")
def test_prometheus_scrapes_the_services_over_mutual_tls(desk: Path, state_dir: Path) -> None:
    """`up --monitoring` under mTLS: Prometheus presents its own certificate, and every service target is up."""
    import time

    options = Options(state=state_dir, free_ports=True, port=_free_port(), monitoring=True)
    with Stack(desk, options, out=io.StringIO()) as stack:
        assert stack.prometheus_url is not None
        deadline = time.monotonic() + 90
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            targets = httpx.get(stack.prometheus_url + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            health = {
                t["labels"]["service"]: t["health"] for t in targets if t["labels"].get("job", "").endswith("-services")
            }
            if health and all(h == "up" for h in health.values()):
                break
            time.sleep(0.5)
        assert health == {"quote-service": "up", "stock-service": "up"}, targets


@pytest.mark.parametrize("value", ["soon", "0s", ""])
def test_a_bad_rotation_interval_is_refused_before_anything_starts(desk: Path, value: str) -> None:
    """--rotate-keys-every takes a positive duration; anything else exits 2 with a message, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "planforge", "up", str(desk), "--rotate-keys-every", value],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "--rotate-keys-every" in done.stderr and "Traceback" not in done.stderr
