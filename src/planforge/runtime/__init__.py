"""The runtime every generated service shares: app factory, settings, errors, auth, logs, metrics, caches, breaker.

Generated services only pass their configuration (computed by planforge from the manifest) to it.
Install with the ``runtime`` extra: ``pip install 'planforge[runtime]'``.
"""

from __future__ import annotations

from planforge.runtime.app import PROBLEM, create_app
from planforge.runtime.auth import TokenIssuer, TokenVerifier
from planforge.runtime.breaker import CircuitBreaker, CircuitOpenError, http_client
from planforge.runtime.cache import CacheAside
from planforge.runtime.clients import CallFailed, ServiceClient
from planforge.runtime.config import BreakerConfig, CacheConfig, DatastoreConfig, ServiceConfig, Settings
from planforge.runtime.correlation import current_correlation_id
from planforge.runtime.formats import checked_format
from planforge.runtime.logs import mask_pii
from planforge.runtime.operations import Context, Operations, Reply
from planforge.runtime.problems import PROBLEM_JSON, Problem
from planforge.runtime.resources import Resources

__all__ = [
    "PROBLEM",
    "PROBLEM_JSON",
    "BreakerConfig",
    "CacheAside",
    "CacheConfig",
    "CallFailed",
    "CircuitBreaker",
    "CircuitOpenError",
    "Context",
    "DatastoreConfig",
    "Operations",
    "Problem",
    "Reply",
    "Resources",
    "ServiceClient",
    "ServiceConfig",
    "Settings",
    "TokenIssuer",
    "TokenVerifier",
    "checked_format",
    "create_app",
    "current_correlation_id",
    "http_client",
    "mask_pii",
]
