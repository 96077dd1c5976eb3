"""Request bodies checked against the manifest's JSON Schemas (draft 2020-12), every keyword enforced.

The pydantic models parse bodies into typed values, but they are looser than the schemas (a ``null``
for an optional member that does not allow null, ``uniqueItems``, ``minProperties``...). So before an
operation runs, its body is validated against the schema it declares; what fails answers 422, naming
where and which keyword, never the value (it may be a password).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from planforge_runtime.formats import FORMAT_CHECKER

__all__ = ["RequestBodies"]

_MAX_ERRORS = 20


class RequestBodies:
    """The request schema of each operation (by operation id), with the named schemas they refer to."""

    def __init__(self, requests: Mapping[str, str] | Iterable[Sequence[str]], schemas: Mapping[str, Any]) -> None:
        pairs = requests.items() if isinstance(requests, Mapping) else ((pair[0], pair[1]) for pair in requests)
        registry: Registry[Any] = Registry().with_resources(
            (name, Resource.from_contents(schema, default_specification=DRAFT202012))
            for name, schema in schemas.items()
        )
        checker = FORMAT_CHECKER  # the API's own format checks (email as pydantic checks it)
        self._validators = {
            operation: Draft202012Validator({"$ref": name}, registry=registry, format_checker=checker)
            for operation, name in pairs
        }

    def __contains__(self, operation: object) -> bool:
        return operation in self._validators

    def errors(self, operation: str, body: Any) -> list[dict[str, Any]]:
        """What is wrong with body for operation, as FastAPI's validation errors are ([] when valid)."""
        validator = self._validators.get(operation)
        if validator is None:
            return []
        found = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
        return [_error(e) for e in found[:_MAX_ERRORS]]

    def check(self, operation: str, body: Any) -> None:
        """Raise RequestValidationError (422) when body does not match the operation's request schema."""
        errors = self.errors(operation, body)
        if errors:
            raise RequestValidationError(errors)


def _error(error: ValidationError) -> dict[str, Any]:
    expected = json.dumps(error.validator_value, ensure_ascii=False, default=str)
    if len(expected) > 80:
        expected = expected[:77] + "..."
    return {
        "loc": ["body", *error.absolute_path],
        "msg": f"does not satisfy {error.validator}: {expected}",
        "type": f"json_schema.{error.validator}",
    }
