"""One format checker for request bodies, event data and parameters, checking formats as the API's models do.

jsonschema's own `email` check only looks for an '@' (`a@@b.com` passes), while the API's `EmailStr`
runs email-validator; bodies and event data are checked with pydantic's very function, so every side agrees.

email-validator also refuses special-use domains (`.test`, `.local`, `.localhost`, ...), which JSON Schema's
`format: email` allows: a schema-valid request would get 422. Its documented list SPECIAL_USE_DOMAIN_NAMES is
emptied here, when the runtime is imported, so the API, bodies and events accept what the schema says.

Path and query parameters are parsed by pydantic, which reads `0` as a Unix timestamp for a `datetime` and takes
a UUID without its hyphens; `checked_format` checks the raw text with the same checker first, so only what the
schema's format allows (RFC 3339 for date-time and date) reaches the handler.
"""

from __future__ import annotations

from typing import Any

import email_validator
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BeforeValidator
from pydantic.networks import validate_email

email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()

__all__ = ["FORMAT_CHECKER", "checked_format", "is_email"]


def is_email(value: object) -> bool:
    """True for what pydantic's EmailStr accepts (non-strings are another keyword's business)."""
    if not isinstance(value, str):
        return True
    try:
        validate_email(value)
    except ValueError:
        return False
    return True


FORMAT_CHECKER = FormatChecker(formats=())
FORMAT_CHECKER.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
FORMAT_CHECKER.checks("email")(is_email)
FORMAT_CHECKER.checks("idn-email")(is_email)


def checked_format(name: str) -> BeforeValidator:
    """A validator for a parameter's raw value (or each item of a repeated query parameter): a string that the
    format checker accepts for the format name passes on to pydantic's parsing, anything else is refused."""
    if name not in FORMAT_CHECKER.checkers:
        raise ValueError(f"no checker for format {name!r}")

    def check(value: Any) -> Any:
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str) or not FORMAT_CHECKER.conforms(item, name):
                raise ValueError(f"not a valid {name}")
        return value

    return BeforeValidator(check)
