"""The runtime every generated service shares: app factory, settings, errors, auth, logs, metrics, caches, breaker.

Generated services only pass their configuration (computed by planforge from the manifest) to it. It is a
distribution of its own, ``planforge-runtime``, released with the same version as planforge, and imports
nothing from planforge. The names below load on first use, so importing one submodule (the topology types,
the problem schema) does not import FastAPI or SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planforge_runtime.app import PROBLEM, create_app
    from planforge_runtime.auth import TokenIssuer, TokenVerifier
    from planforge_runtime.breaker import CircuitBreaker, CircuitOpenError, http_client
    from planforge_runtime.cache import CacheAside
    from planforge_runtime.clients import CallFailed, ServiceClient
    from planforge_runtime.config import BreakerConfig, CacheConfig, DatastoreConfig, ServiceConfig, Settings
    from planforge_runtime.correlation import current_correlation_id
    from planforge_runtime.formats import checked_format
    from planforge_runtime.logs import mask_pii
    from planforge_runtime.operations import Context, Operations, Reply
    from planforge_runtime.problems import PROBLEM_JSON, Problem
    from planforge_runtime.resources import Resources

__version__ = "0.1.0"

_EXPORTS = {
    "PROBLEM": "app",
    "create_app": "app",
    "TokenIssuer": "auth",
    "TokenVerifier": "auth",
    "CircuitBreaker": "breaker",
    "CircuitOpenError": "breaker",
    "http_client": "breaker",
    "CacheAside": "cache",
    "CallFailed": "clients",
    "ServiceClient": "clients",
    "BreakerConfig": "config",
    "CacheConfig": "config",
    "DatastoreConfig": "config",
    "ServiceConfig": "config",
    "Settings": "config",
    "current_correlation_id": "correlation",
    "checked_format": "formats",
    "mask_pii": "logs",
    "Context": "operations",
    "Operations": "operations",
    "Reply": "operations",
    "PROBLEM_JSON": "problems",
    "Problem": "problems",
    "Resources": "resources",
}

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
    "__version__",
    "checked_format",
    "create_app",
    "current_correlation_id",
    "http_client",
    "mask_pii",
]


def __getattr__(name: str) -> Any:
    """Load an exported name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'planforge_runtime' has no attribute {name!r}")
    value = getattr(import_module(f"planforge_runtime.{module}"), name)
    globals()[name] = value
    return value
