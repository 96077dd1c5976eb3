"""One format checker for request bodies and event data, checking formats exactly as the API's pydantic models do.

jsonschema's own `email` check only looks for an '@' (`a@@b.com` passes), while the API's `EmailStr`
runs email-validator; bodies and event data are checked with pydantic's very function, so every side agrees.

email-validator also refuses special-use domains (`.test`, `.local`, `.localhost`, ...), which JSON Schema's
`format: email` allows: a schema-valid request would get 422. Its documented list SPECIAL_USE_DOMAIN_NAMES is
emptied here, when the runtime is imported, so the API, bodies and events accept what the schema says.
"""

from __future__ import annotations

import email_validator
from jsonschema import Draft202012Validator, FormatChecker
from pydantic.networks import validate_email

email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()

__all__ = ["FORMAT_CHECKER", "is_email"]


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
