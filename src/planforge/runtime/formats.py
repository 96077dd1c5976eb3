"""One format checker for event data, checking formats exactly as the API's pydantic models do.

jsonschema's own `email` check only looks for an '@' (`a@@b.com` passes), while the API's `EmailStr`
runs email-validator; event data is checked with pydantic's very function, so both sides agree.
"""

from __future__ import annotations

from jsonschema import Draft202012Validator, FormatChecker
from pydantic.networks import validate_email

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
