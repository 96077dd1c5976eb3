"""Scenario helpers: concurrent conditional updates, and a bounded load test through the gateway."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from planforge_runtime.samples import sample

from planforge_testkit.e2e.journey import Journey

__all__ = ["LoadReport", "concurrent_updates", "load_test"]


def concurrent_updates(journey: Journey, read: str, update: str) -> tuple[list[int], dict[str, Any]]:
    """Two updates with the same If-Match at once; (their statuses sorted, the body a final read returns).
    The winner answers the update route's success status, the loser 409 or 412.

    When both lose, something else changed the resource between the read and the updates (an event
    consumer of the service, say): the race is run again from a fresh read, a few times, before both
    losses are reported as they are."""
    feature = journey.e2e.feature
    route = feature.route(update)
    assert route.request is not None
    for _ in range(_ATTEMPTS):
        current = _eventually(journey, read)
        etag = current.headers.get("ETag")
        assert etag, f"{read} returned no ETag"
        bodies = [sample(route.request, uuid.uuid4().hex) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            headers = {"If-Match": etag}
            answers = list(pool.map(lambda b, h=headers: journey.send(route, body=b, headers=h), bodies))
        winners = [body for body, answer in zip(bodies, answers, strict=True) if answer.status_code == route.success]
        if winners or not all(a.status_code in (409, 412) for a in answers):
            break
    final = journey.send(feature.route(read)).json()
    if len(winners) == 1:
        assert all(final.get(k) == v for k, v in winners[0].items()), f"the winner's update is not kept: {final}"
    return sorted(a.status_code for a in answers), final


_ATTEMPTS = 3


def _eventually(journey: Journey, call: str) -> httpx.Response:
    """The read, repeated until it succeeds: what a 202 Accepted created appears a moment later."""
    route = journey.e2e.feature.route(call)
    deadline = time.monotonic() + journey.e2e.timeout
    response = journey.send(route)
    while response.status_code not in (route.success, 501) and time.monotonic() < deadline:
        time.sleep(0.2)
        response = journey.send(route)
    return journey.call(call) if response.status_code != route.success else response


@dataclass(frozen=True)
class LoadReport:
    """What a load test measured: requests, errors, elapsed time and latency percentiles (seconds)."""

    requests: int
    errors: int
    elapsed: float
    p50: float
    p95: float
    p99: float
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def error_rate(self) -> float:
        """The share of requests that failed (transport error or a status other than the expected one)."""
        return self.errors / self.requests if self.requests else 1.0

    def summary(self) -> str:
        """One line for the test output."""
        return (
            f"{self.requests} requests in {self.elapsed:.2f}s: {self.rate:.0f} req/s, "
            f"p50 {self.p50 * 1000:.1f} ms, p95 {self.p95 * 1000:.1f} ms, p99 {self.p99 * 1000:.1f} ms, "
            f"error rate {self.error_rate:.2%} (statuses {self.statuses})"
        )


def load_test(
    url: str, headers: dict[str, str], *, clients: int, duration: float, per_address: int, expect: int = 200
) -> LoadReport:
    """GET url from `clients` concurrent clients for `duration` seconds, each source address (127.0.0.2 up)
    sending at most per_address requests, so that the gateway's per-IP rate limit is never what is measured."""
    return asyncio.run(_load(url, headers, clients, duration, per_address, expect))


async def _load(url: str, headers: dict[str, str], clients: int, duration: float, per: int, expect: int) -> LoadReport:
    addresses = [f"127.0.0.{n}" for n in range(2, 251)]
    pools = [
        httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=a), headers=headers, timeout=10)
        for a in addresses
    ]
    slots = iter([pool for _ in range(per) for pool in pools])
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + duration
    started = time.perf_counter()
    try:
        await asyncio.gather(*(_client(url, slots, deadline, latencies, statuses) for _ in range(clients)))
    finally:
        await asyncio.gather(*(pool.aclose() for pool in pools))
    elapsed = time.perf_counter() - started
    return _report(latencies, statuses, elapsed, expect)


async def _client(url: str, slots: Any, deadline: float, latencies: list[float], statuses: dict[int, int]) -> None:
    """One client: requests one after another until the deadline or the address budget is spent."""
    for pool in slots:
        if time.monotonic() >= deadline:
            return
        began = time.perf_counter()
        try:
            status = (await pool.get(url)).status_code
        except httpx.TransportError:
            status = 0
        latencies.append(time.perf_counter() - began)
        statuses[status] = statuses.get(status, 0) + 1


def _report(latencies: list[float], statuses: dict[int, int], elapsed: float, expect: int) -> LoadReport:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    errors = sum(count for status, count in statuses.items() if status != expect)
    return LoadReport(len(latencies), errors, elapsed, cuts[49], cuts[94], cuts[98], dict(sorted(statuses.items())))
