"""Out-of-range query values get a 4xx from the API, never a 5xx from a datastore (issue 10: unbounded offset)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import cast

import pytest
from fastapi import FastAPI
from planforge_testkit.testing import assert_problem, bearer

from planforge.build import INT64_RANGE, bounded

from .test_services import MANIFESTS, client_for, generate, load_service

USER = "3f1c9a52-8d4e-4b7a-9c61-2e5f0b7d8a11"


def test_integer_parameters_get_the_int64_range_unless_they_set_bounds() -> None:
    assert bounded({"type": "integer"}) == {"type": "integer", "minimum": INT64_RANGE[0], "maximum": INT64_RANGE[1]}
    assert bounded({"type": "integer", "minimum": 0, "exclusiveMaximum": 9}) == {
        "type": "integer",
        "minimum": 0,
        "exclusiveMaximum": 9,
    }
    assert bounded({"type": "string"}) == {"type": "string"}


@pytest.fixture(scope="module")
def notifications(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = generate(MANIFESTS["user-accounts"], tmp_path_factory.mktemp("bounds"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield load_service(Path(root), "notification_service")


@pytest.mark.parametrize("offset", ["10001", str(2**63), "1" + "0" * 40, "-1"])
def test_an_out_of_range_offset_is_a_422(notifications: ModuleType, offset: str) -> None:
    with client_for(notifications) as client:
        response = client.get(f"/notifications/{USER}?offset={offset}", headers=bearer(cast(FastAPI, client.app)))
        assert_problem(response, 422)
