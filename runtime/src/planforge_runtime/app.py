"""create_app: the FastAPI app every generated service is, given its config, routes and handlers."""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from planforge_runtime.audit import AuditMiddleware, AuditRecord
from planforge_runtime.config import ServiceConfig, Settings
from planforge_runtime.correlation import CorrelationMiddleware
from planforge_runtime.logs import configure_logging
from planforge_runtime.metrics import Metrics, MetricsMiddleware
from planforge_runtime.operations import Operations
from planforge_runtime.problems import PROBLEM_JSON, PROBLEM_SCHEMA, Problem, install_problem_handlers, problem_response
from planforge_runtime.resources import Resources
from planforge_runtime.routing import MethodMiddleware
from planforge_runtime.tracing import instrument_app

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from planforge_runtime.events import ServiceBus, ServiceEvents

__all__ = ["PROBLEM", "create_app"]

# The OpenAPI description of a problem+json answer, for the `responses` of generated routes.
PROBLEM: dict[str, Any] = {
    "description": "Problem details (RFC 9457).",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def create_app(
    config: ServiceConfig,
    router: APIRouter,
    operations: Operations,
    settings: Settings | None = None,
    events: ServiceEvents | None = None,
) -> FastAPI:
    """The service's app: routes, health, metrics, problem+json errors, correlation IDs and JSON logs; with
    events and a rabbitmq datastore, its event bus too (app.state.bus: declared, relaying and consuming while
    the app runs; built in the lifespan, so its connections belong to the serving event loop)."""
    settings = settings or Settings()
    resources = Resources(config, settings)
    metrics = Metrics(caches=tuple(c.name for c in config.caches))
    resources.on_cache_lookup = metrics.cache_lookup

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.owns_database and settings.migrate_on_start:
            from planforge_runtime.migrate import apply_migrations  # alembic only for services with a database

            await apply_migrations(resources.engine, _migrations_of(operations.package))
        await operations.startup(resources)
        bus = app.state.bus = _service_bus(resources, events, operations, metrics)
        if bus is not None:
            await bus.start()
        try:
            yield
        finally:
            if bus is not None:
                await bus.stop()
            app.state.bus = None
            await resources.close()

    app = FastAPI(title=config.title, version=config.version, description=config.summary, lifespan=lifespan)
    app.state.resources = resources
    app.state.metrics = metrics
    app.state.operations = operations
    app.state.bus = None
    install_problem_handlers(app)
    health = _health_router(resources, metrics)
    app.include_router(router)
    app.include_router(health)
    app.add_middleware(MethodMiddleware, routes=[*router.routes, *health.routes])
    app.add_middleware(AuditMiddleware, log=_Audit(resources))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(CorrelationMiddleware, header=config.correlation_header)
    app.openapi = _documented(app)  # type: ignore[method-assign]
    instrument_app(app, config.name)  # outermost: every log line of a request carries its trace ID
    configure_logging(config.pii_fields, settings.log_level)
    return app


def _migrations_of(package: str) -> Path | None:
    """services/<package>/migrations/: the service's own revisions (branch app), when it has any.

    package is the service package as imported (Operations gets __package__), whatever name it was loaded under.
    """
    if not package:
        return None
    module = sys.modules.get(package) or importlib.import_module(package)
    folder = Path(module.__file__ or ".").parent / "migrations"
    return folder if folder.is_dir() else None


class _Audit:
    """The service's audit store, looked up per record (its connections open lazily, per event loop)."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def append(self, record: AuditRecord, session: AsyncSession | None = None) -> None:
        await self.resources.audit.append(record, session)


def _service_bus(
    resources: Resources, events: ServiceEvents | None, operations: Operations, metrics: Metrics
) -> ServiceBus | None:
    """The service's bus when it has events and uses RabbitMQ (imported only then: aio-pika is optional)."""
    if events is None or not resources.config.uses("rabbitmq"):
        return None
    from planforge_runtime.events import ServiceBus

    return ServiceBus(resources, events, operations, metrics)


def _health_router(resources: Resources, metrics: Metrics) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        checks = await resources.readiness()
        bus: ServiceBus | None = request.app.state.bus
        if bus is not None and bus.enabled:
            checks["events"] = bus.readiness()
        if all(result == "ok" for result in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        return problem_response(Problem(503, "A datastore is not reachable.", checks=checks), "/readyz")

    router.add_api_route("/metrics", metrics.endpoint, methods=["GET"])
    return router


def _documented(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """app.openapi with the Problem schema that the routes' problem+json answers refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi
