"""Errors as RFC 9457 problem details (application/problem+json), validation errors included."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from planforge_runtime.problem import PROBLEM_JSON, PROBLEM_SCHEMA

__all__ = ["PROBLEM_JSON", "PROBLEM_SCHEMA", "Problem", "install_problem_handlers", "problem_response"]

_log = logging.getLogger("planforge_runtime")


class Problem(Exception):
    """Raise to answer with a problem+json body; extensions become extra members of the body."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        type: str = "about:blank",
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or _phrase(status))
        self.status = status
        self.detail = detail
        self.title = title or _phrase(status)
        self.type = type
        self.headers = dict(headers or {})
        self.extensions = extensions


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    """The JSON response for a problem."""
    body: dict[str, Any] = {"type": problem.type, "title": problem.title, "status": problem.status}
    if problem.detail is not None:
        body["detail"] = problem.detail
    if instance is not None:
        body["instance"] = instance
    body.update(problem.extensions)
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    problem = Problem(exc.status_code, str(exc.detail), headers=exc.headers)
    return problem_response(problem, request.url.path)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only where and why: the input itself may hold a password or other personal data.
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    problem = Problem(422, "The request is not valid.", errors=errors)
    return problem_response(problem, request.url.path)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled error", exc_info=exc)
    return problem_response(Problem(500, "An unexpected error occurred."), request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of the app as problem+json."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
