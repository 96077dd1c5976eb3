"""One e2e session: the feature's real stack behind a TCP proxy to RabbitMQ, an event tap, torn down after."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from planforge.stack import Options, Stack, StackError, StackUsageError
from planforge_testkit.e2e.broker import EventTap, LoopThread, TcpProxy
from planforge_testkit.e2e.feature import Feature
from planforge_testkit.e2e.isolation import discard, isolated_options_kwargs, through_port
from planforge_testkit.e2e.journey import E2E

__all__ = ["Session", "Unavailable", "running_stack"]

_INFRASTRUCTURE = ("PostgreSQL", "Redis", "RabbitMQ")


class Unavailable(Exception):
    """What the stack needs is not on this machine (nginx, rabbitmqctl, a datastore): the tests are skipped."""


@dataclass
class Session:
    """The running stack, the proxy its services reach RabbitMQ through, and what the tests drive."""

    stack: Stack
    proxy: TcpProxy
    e2e: E2E


@contextmanager
def running_stack(generated: Path, feature: Feature) -> Iterator[Session]:
    """Start the stack of generated (gateway and services) in fresh names; Unavailable when it cannot run here."""
    _require_programs()
    loop = LoopThread()
    options = Options(**isolated_options_kwargs())  # type: ignore[arg-type]
    proxy = TcpProxy(loop, *_host_port(options.amqp_url))
    proxy.start()
    stack = Stack(generated, replace(options, service_amqp_url=through_port(options.amqp_url, proxy.port)))
    session: Session | None = None
    try:
        try:
            stack.start()
        except StackUsageError as exc:
            raise Unavailable(str(exc)) from None
        except StackError as exc:
            if str(exc).startswith(_INFRASTRUCTURE):
                raise Unavailable(str(exc)) from None
            raise
        session = _session(stack, proxy, loop, feature)
        yield session
    finally:
        if session is not None:
            session.e2e.tap.close()
        stack.stop()
        proxy.close()
        loop.close()
        _discard(stack)


def _session(stack: Stack, proxy: TcpProxy, loop: LoopThread, feature: Feature) -> Session:
    assert stack.gateway_url is not None
    tap = EventTap(loop, stack.options.broker_url, feature.exchanges)
    tap.start()
    consumers = {event: list(services) for event, services in feature.data["consumers"].items()}
    signing_key = stack.keys[stack.spec.jwt_algorithm].private.read_text()
    callees = [(service, method, route) for service, method, route in feature.data["callees"]]
    e2e = E2E(
        feature,
        stack.gateway_url,
        stack.service_url,
        tap,
        signing_key,
        consumers,
        callees=callees,
        timeout=30.0,
        service_tls=stack.client_tls(),
    )
    return Session(stack, proxy, e2e)


def _require_programs() -> None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if nginx is None:
        raise Unavailable("nginx (with its njs module) is not installed: the gateway cannot run")
    if shutil.which("rabbitmqctl") is None:
        raise Unavailable("rabbitmqctl is not installed: no fresh vhost can be made")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5672


def _discard(stack: Stack) -> None:
    options = stack.options
    databases = [name for name in (stack.database(s) for s in stack.selected) if name]
    try:
        discard(databases, options.postgres_url, options.vhost or "", options.redis_url, options.redis_prefix)
    finally:
        if options.state is not None:
            shutil.rmtree(options.state, ignore_errors=True)
