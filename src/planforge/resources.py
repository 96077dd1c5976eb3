"""Where planforge's own files live: the manifest schema and the templates.

In a wheel they are packaged under ``planforge/_data``; in a source checkout (editable install)
they are the repository's top-level ``spec/`` and ``templates/`` folders. PLANFORGE_DATA_DIR
points at another folder holding both (to try template changes without reinstalling).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

__all__ = ["schema_path", "templates_dir"]

_PACKAGE = Path(__file__).resolve().parent


@cache
def _data_root() -> Path:
    override = os.environ.get("PLANFORGE_DATA_DIR")
    if override:
        return Path(override)
    packaged = _PACKAGE / "_data"
    if (packaged / "spec").is_dir():
        return packaged
    return _PACKAGE.parent.parent


def schema_path() -> Path:
    """The manifest JSON Schema file."""
    return _data_root() / "spec" / "planforge.schema.json"


def templates_dir() -> Path:
    """The folder of Jinja2 templates, one per generated file kind."""
    return _data_root() / "templates"
