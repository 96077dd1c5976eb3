"""The typed clients of `calls` against real running services: quote-service calls stock-service under uvicorn.

The caller's generated clients.py reads the callee's base URL from STOCK_SERVICE_URL (as compose, k8s and
`planforge up` set it); its methods are typed with models of the callee's schemas; the requests carry the
correlation header and the manifest's timeout, and go through the circuit breaker (tests/fixtures/calls).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from planforge_runtime import ServiceClient

from .test_services import REPO, generate

MANIFEST = REPO / "tests" / "fixtures" / "calls" / "feature.yaml"

_GET_QUOTE = '''"""get_quote for the test: the stock, then a reservation, both through the typed client."""

from datetime import UTC, datetime

import httpx

from planforge_runtime import CallFailed, Context, Problem

from .. import models
from ..clients import StockServiceClient


async def handle(ctx: Context, *, sku: str) -> models.Quote:
    stock = ctx.client(StockServiceClient)
    try:
        found = await stock.get_stock(sku=sku, at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
        held = await stock.reserve(body=models.ReservationRequest(sku=sku, quantity=1))
    except CallFailed as failed:
        raise Problem(502, f"{failed.service} answered {failed.status}") from failed
    except httpx.TransportError as failed:
        raise Problem(503, type(failed).__name__) from failed
    return models.Quote(
        sku=found.sku, available=found.available, correlation=found.correlation, at=found.at or "", reservation=held.id
    )
'''

_GET_STOCK = '''"""get_stock for the test: NOP is unknown, SLO answers after the caller's timeout."""

import asyncio
from datetime import datetime

from planforge_runtime import Context, Problem

from .. import models


async def handle(ctx: Context, *, sku: str, at: datetime | None = None) -> models.Stock:
    if sku == "NOP":
        raise Problem(404, "No such SKU.")
    if sku == "SLO":
        await asyncio.sleep(3)
    stamp = at.isoformat() if at else None
    return models.Stock(sku=sku, available=7, correlation=ctx.correlation_id or "", at=stamp)
'''

_RESERVE = '''"""reserve for the test."""

from planforge_runtime import Context

from .. import models


async def handle(ctx: Context, *, body: models.ReservationRequest) -> models.Reservation:
    return models.Reservation(id=f"r-{body.sku}-{body.quantity}", sku=body.sku)
'''


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture generated, with both services' handlers implemented."""
    generated = generate(MANIFEST, tmp_path_factory.mktemp("calls"))
    services = generated / "services"
    (services / "quote_service" / "impl" / "get_quote.py").write_text(_GET_QUOTE, encoding="utf-8")
    (services / "stock_service" / "impl" / "get_stock.py").write_text(_GET_STOCK, encoding="utf-8")
    (services / "stock_service" / "impl" / "reserve.py").write_text(_RESERVE, encoding="utf-8")
    return generated


def _serve(root: Path, package: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    """The service under uvicorn (no broker connection), once /healthz answers."""
    command = [sys.executable, "-m", "uvicorn", f"{package}.app:app", "--port", str(port), "--app-dir", "services"]
    process = subprocess.Popen(
        command,
        cwd=root,
        env={**os.environ, "EVENTS": "false", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return process
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"{package} did not start")
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def services(root: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """stock-service, and quote-service told where it is by STOCK_SERVICE_URL: (quote URL, stock process)."""
    stock_port, quote_port = _free_port(), _free_port()
    stock = _serve(root, "stock_service", stock_port)
    quote = _serve(root, "quote_service", quote_port, STOCK_SERVICE_URL=f"http://127.0.0.1:{stock_port}")
    try:
        yield f"http://127.0.0.1:{quote_port}", stock
    finally:
        _stop(quote)
        if stock.poll() is None:
            _stop(stock)


def _quote(url: str, sku: str) -> httpx.Response:
    return httpx.get(f"{url}/quotes/{sku}", headers={"X-Correlation-ID": f"calls-{sku}"}, timeout=10)


def test_a_typed_client_calls_the_running_callee(services: tuple[str, subprocess.Popen[bytes]]) -> None:
    """The answer is read into the callee's model; the path, query (a date-time) and body arrive; the callee
    sees the caller's correlation ID."""
    url, _ = services
    answer = _quote(url, "ABC")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "sku": "ABC",
        "available": 7,
        "correlation": "calls-ABC",
        "at": "2025-01-02T03:04:05+00:00",
        "reservation": "r-ABC-1",
    }


def test_failures_timeouts_and_the_breaker(services: tuple[str, subprocess.Popen[bytes]]) -> None:
    """A callee's problem is CallFailed (its status kept); a callee slower than the manifest's 1 s timeout is a
    ReadTimeout; with the callee gone, calls fail until the breaker (50% of at least 2 calls) opens and stops them
    before they go out."""
    url, stock = services
    refused = _quote(url, "NOP")
    assert refused.status_code == 502, refused.text
    assert "stock-service answered 404" in refused.text, refused.text
    assert _quote(url, "ABC").status_code == 200  # outcomes so far: 3 good (a 404 is no failure)
    slow = _quote(url, "SLO")
    assert (slow.status_code, slow.json()["detail"]) == (503, "ReadTimeout"), slow.text  # 1 failure of 4
    _stop(stock)
    details = [_quote(url, "ABC").json()["detail"] for _ in range(3)]
    # failures: 2 of 5, then 3 of 6 (50%: the breaker opens), then the call is refused before it goes out
    assert details == ["ConnectError", "ConnectError", "CircuitOpenError"], details


def test_a_client_without_its_url_variable_says_which_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    class NowhereClient(ServiceClient):
        SERVICE = "nowhere-service"
        URL_VARIABLE = "PLANFORGE_TEST_NOWHERE_SERVICE_URL"

    monkeypatch.delenv(NowhereClient.URL_VARIABLE, raising=False)
    with pytest.raises(RuntimeError, match="PLANFORGE_TEST_NOWHERE_SERVICE_URL is not set"):
        NowhereClient(httpx.AsyncClient())
