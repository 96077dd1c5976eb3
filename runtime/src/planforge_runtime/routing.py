"""Method matching as OpenAPI means it: a concrete path wins over a templated one, and 405 lists every method.

Starlette takes the first route whose path and method match, so `PUT /users/register` would reach
`PUT /users/{userId}`; OpenAPI matches the concrete `/users/register` first, which has no PUT: 405.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from planforge_runtime.problems import Problem, problem_response

__all__ = ["MethodMiddleware", "allowed_methods"]


def allowed_methods(routes: list[object], path: str) -> set[str]:
    """Methods the routes serve at path: those of concrete paths if any match, else of templated ones."""
    concrete: set[str] = set()
    templated: set[str] = set()
    for route in routes:
        regex = getattr(route, "path_regex", None)
        methods = getattr(route, "methods", None)
        if not isinstance(regex, re.Pattern) or not methods or not regex.match(path):
            continue
        (templated if "{" in str(getattr(route, "path", "")) else concrete).update(methods)
    return concrete or templated


class MethodMiddleware:
    """Answers 405 problem+json, with an Allow header naming every method of the path, before routing."""

    def __init__(self, app: ASGIApp, routes: list[object]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = allowed_methods(self.routes, scope["path"])
            if allowed and scope["method"] not in allowed:
                listed = ", ".join(sorted(allowed - {"HEAD"}))
                problem = Problem(405, f"{scope['method']} is not allowed here.", headers={"Allow": listed})
                await problem_response(problem, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)
