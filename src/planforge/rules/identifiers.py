"""Which names are unsafe as the Python identifiers generated code makes of them, and why."""

from __future__ import annotations

import builtins
import keyword
import sys

from planforge.rules.imported import imported_modules

__all__ = ["class_problem", "handler_problem", "package_problem", "parameter_problem"]

_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))
# fmt: off
# Modules a generated service module imports, and the module-level names it defines.
_SERVICE_MODULE_NAMES = frozenset({
    "asyncio", "contextlib", "datetime", "enum", "functools", "json", "logging", "os", "re", "sys", "time",
    "typing", "uuid", "fastapi", "pydantic", "starlette", "httpx", "aio_pika", "redis", "asyncpg",
    "app", "router", "settings", "logger", "lifespan",
})
# Folders of the generated project that share the import path with the service packages.
_PROJECT_FOLDERS = frozenset({"tests", "conftest", "services"})
# Classes generated models and service modules import.
_IMPORTED_CLASSES = frozenset({
    "Any", "Optional", "Union", "Literal", "Annotated", "List", "Dict", "Enum", "UUID", "Decimal",
    "BaseModel", "Field", "ConfigDict", "RootModel", "EmailStr", "AnyUrl", "AwareDatetime",
    "FastAPI", "APIRouter", "Request", "Response", "HTTPException", "Depends", "Header", "Query", "Path", "Body",
})
# fmt: on


def handler_problem(name: str) -> str | None:
    """Why an operation id cannot name a handler function, or None when it can."""
    if keyword.iskeyword(name):
        return "a Python keyword"
    if name in _BUILTINS:
        return "a Python builtin"
    if name in _SERVICE_MODULE_NAMES:
        return "a module or name the generated service module uses"
    return None


def package_problem(package: str) -> str | None:
    """Why a service's package name is unsafe, or None when it is fine."""
    if keyword.iskeyword(package):
        return "a Python keyword"
    if package in sys.stdlib_module_names:
        return "a standard library module it would hide"
    if package in _PROJECT_FOLDERS:
        return "a folder of the generated project"
    if package in imported_modules():
        return "a module the generated services or their tests import"
    return None


def class_problem(name: str) -> str | None:
    """Why a schema name cannot name a generated model class, or None when it can."""
    if name in _BUILTINS:
        return "a Python builtin"
    if name in _IMPORTED_CLASSES:
        return "a class generated code imports"
    return None


def parameter_problem(name: str) -> str | None:
    """Why a parameter cannot be a handler argument, or None when it can."""
    return "a Python keyword" if keyword.iskeyword(name) else None
