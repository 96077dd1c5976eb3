"""A route's `access` is enforced by the generated service before the handler runs, and listed in OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest
import yaml
from fastapi import FastAPI
from planforge_runtime.access import Access
from planforge_runtime.problems import Problem
from planforge_testkit.testing import assert_problem, bearer

from .test_services import MANIFESTS, client_for, generate, load_service

ME = "3f1c9a52-8d4e-4b7a-9c61-2e5f0b7d8a11"
SOMEONE_ELSE = "9d2b7c14-5e3f-4a8b-b1c2-7f6e5d4c3b2a"


@pytest.mark.parametrize(
    ("access", "claims", "allowed"),
    [
        (Access(owner="userId"), {"sub": ME}, True),
        (Access(owner="userId"), {"sub": SOMEONE_ELSE}, False),
        (Access(owner="userId"), {}, False),
        (Access(scopes=("orders:read",)), {"scope": "profile orders:read"}, True),
        (Access(scopes=("orders:read",)), {"scp": ["orders:read"]}, True),
        (Access(scopes=("orders:read", "orders:write")), {"scope": "orders:read"}, False),
        (Access(roles=("admin",)), {"roles": ["admin", "user"]}, True),
        (Access(roles=("admin",)), {"roles": "admin"}, False),
    ],
)
def test_the_access_rule(access: Access, claims: dict[str, Any], allowed: bool) -> None:
    try:
        access.check(claims, {"userId": ME})
    except Problem as refused:
        assert not allowed and refused.status == 403
    else:
        assert allowed


@pytest.fixture(scope="module")
def user_accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ModuleType]]:
    root = generate(MANIFESTS["user-accounts"], tmp_path_factory.mktemp("access"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield root, load_service(root, "user_service")


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_another_users_profile_is_forbidden(user_accounts: tuple[Path, ModuleType], method: str) -> None:
    """GET/PUT /users/{userId} of the example are owner-only: 403 problem+json before the handler runs."""
    _, app_module = user_accounts
    with client_for(app_module) as client:
        headers = bearer(cast(FastAPI, client.app), subject=ME)
        other = client.request(method, f"/users/{SOMEONE_ELSE}", headers=headers, json={"name": "x"})
        body = assert_problem(other, 403)
        assert "owner" in body["detail"]
        own = client.request(method, f"/users/{ME}", headers=headers, json={"name": "x"})
        assert own.status_code != 403
        assert_problem(client.request(method, f"/users/{ME}"), 401)


def test_openapi_lists_the_access(user_accounts: tuple[Path, ModuleType]) -> None:
    root, _ = user_accounts
    document = yaml.safe_load((root / "openapi" / "user-service.yaml").read_text(encoding="utf-8"))
    for method in ("get", "put"):
        operation = document["paths"]["/users/{userId}"][method]
        assert "403" in operation["responses"] and operation["security"] == [{"bearerAuth": []}]
        assert operation["x-planforge-access"] == "owner (userId)"
