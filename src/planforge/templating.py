"""The one Jinja2 environment every target renders with: strict, deterministic, formatting only.

Templates come from planforge's own templates folder; manifest text is only ever passed in as data,
never compiled as template source.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from typing import Any

import jinja2

from planforge.cache import cache_dir
from planforge.promql import yaml_str
from planforge.resources import templates_dir

__all__ = ["environment", "render_template"]

_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|#])")


def md(text: object) -> str:
    """Free text as inert Markdown: markup characters escaped, so it shows as written."""
    return _MD_SPECIAL.sub(r"\\\1", str(text).replace("&", "&amp;"))


_MERMAID_SPECIAL = re.compile(r"[#;<>%&\"`|\\]")


def mermaid(text: object) -> str:
    """Free text for a mermaid label or message: special characters as mermaid entity codes (#35; for '#')."""
    return _MERMAID_SPECIAL.sub(lambda m: f"#{ord(m.group())};", str(text))


def cell(text: object) -> str:
    """Free text for a Markdown table cell."""
    return md(text).replace("\n", " ")


def code_block(content: str, language: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    body = content if content.endswith("\n") else content + "\n"
    return f"{fence}{language}\n{body}{fence}"


def to_json(value: Any, indent: int = 2) -> str:
    """Deterministic JSON for documents and code blocks."""
    return json.dumps(value, indent=indent, ensure_ascii=False)


def py_str(value: str) -> str:
    """A Python string literal that holds value exactly (JSON strings are valid Python literals)."""
    return json.dumps(value, ensure_ascii=False)


_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def human(duration: str) -> str:
    """'5m' -> '5 minutes', '1d' -> '1 day'; milliseconds stay as written ('500ms')."""
    if duration.endswith("ms") or duration[-1] not in _UNITS:
        return duration
    count = int(duration[:-1])
    return f"{count} {_UNITS[duration[-1]]}{'' if count == 1 else 's'}"


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept in planforge's cache folder (keyed by template source), unless caching is off."""
    if os.environ.get("PLANFORGE_NO_CACHE"):
        return None
    folder = cache_dir() / "jinja"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


def predicate(text: str) -> str:
    """A step's action after its actor's name: 'Stores the order' -> 'stores the order' ('JWT ...' stays)."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


@cache
def environment() -> jinja2.Environment:
    """The shared environment: StrictUndefined, trailing newline kept, block whitespace trimmed."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(
        human=human, predicate=predicate, md=md, cell=cell, code_block=code_block, to_json=to_json, py_str=py_str
    )
    env.filters.update(yaml_str=yaml_str, mermaid=mermaid)
    return env


def render_template(name: str, **context: Any) -> str:
    """Render one template file with the given data."""
    return environment().get_template(name).render(**context)
