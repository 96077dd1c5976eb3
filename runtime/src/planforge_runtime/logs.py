"""Structured JSON logs: one object a line, with the correlation ID and personal data masked."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from planforge_runtime.correlation import current_correlation_id
from planforge_runtime.tracing import current_ids

__all__ = ["MASK", "JsonFormatter", "configure_logging", "mask_pii", "safe_exception", "safe_message"]

MASK = "***"
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_OWN_HANDLER = "planforge-json"


def mask_pii(value: Any, fields: frozenset[str]) -> Any:
    """A copy of value in which every member named in fields is masked, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if k in fields else mask_pii(v, fields) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_pii(v, fields) for v in value]
    return value


def safe_message(error: BaseException) -> str:
    """The exception's message, or for a database (SQLAlchemy) error what it is without any value."""
    if _is_database_error(error):
        original = getattr(error, "orig", None) or error.__cause__
        parts = [type(original).__name__] if original is not None else []
        for attribute in ("sqlstate", "pgcode"):
            code = getattr(original, attribute, None)
            if isinstance(code, str) and code:
                parts.append(f"SQLSTATE {code}")
                break
        constraint = getattr(original, "constraint_name", None) or getattr(
            getattr(original, "__cause__", None), "constraint_name", None
        )
        if isinstance(constraint, str) and constraint:
            parts.append(f"constraint {constraint}")
        return "database error" + (f" ({', '.join(parts)})" if parts else "")
    return str(error)


def _is_database_error(error: BaseException) -> bool:
    module = type(error).__module__
    return module.startswith(("sqlalchemy.", "asyncpg.", "sqlite3", "psycopg", "aiosqlite"))


def safe_exception(error: BaseException) -> str:
    """A logged exception: its stack (code lines only) and its safe_message, without the text of its causes."""
    stack = "".join(traceback.format_tb(error.__traceback__))
    return f"Traceback (most recent call last):\n{stack}{type(error).__name__}: {safe_message(error)}"


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON: time, level, logger, message, correlation_id and its extra fields."""

    def __init__(self, pii_fields: Iterable[str] = ()) -> None:
        super().__init__()
        self.pii_fields = frozenset(pii_fields)

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": current_correlation_id(),
        }
        ids = current_ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        line.update(mask_pii(extra, self.pii_fields))
        if record.exc_info and record.exc_info[1] is not None:
            line["exception"] = safe_exception(record.exc_info[1])
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(pii_fields: Iterable[str], level: str = "INFO") -> None:
    """Send the root logger's records to stderr as JSON lines (replacing a previous planforge handler)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _OWN_HANDLER]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_OWN_HANDLER)
    handler.setFormatter(JsonFormatter(pii_fields))
    root.addHandler(handler)
    root.setLevel(level.upper())
