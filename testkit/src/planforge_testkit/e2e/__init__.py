"""What generated end-to-end tests share: sample values, the event tap and TCP proxy, journeys and scenarios."""

from __future__ import annotations

from planforge_runtime.samples import sample

from planforge_testkit.e2e.broker import EventTap, LoopThread, TcpProxy
from planforge_testkit.e2e.feature import Feature, RouteFacts, sign_token
from planforge_testkit.e2e.isolation import required
from planforge_testkit.e2e.journey import E2E, Journey, consumed_count
from planforge_testkit.e2e.scenarios import LoadReport, concurrent_updates, load_test
from planforge_testkit.e2e.session import Session, Unavailable, running_stack

__all__ = [
    "E2E",
    "EventTap",
    "Feature",
    "Journey",
    "LoadReport",
    "LoopThread",
    "RouteFacts",
    "Session",
    "TcpProxy",
    "Unavailable",
    "concurrent_updates",
    "consumed_count",
    "load_test",
    "required",
    "running_stack",
    "sample",
    "sign_token",
]
