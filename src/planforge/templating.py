"""The one Jinja2 environment every target renders with: strict, deterministic, formatting only.

Templates come from planforge's own templates folder; manifest text is only ever passed in as data,
never compiled as template source, and written through the escaping filter of its output language
(planforge.escape).

Compiling the templates (Jinja2's lexer, parser and code generator) took a third of a cold run on a small
feature, so planforge ships them compiled, as Python modules in ``planforge._compiled_templates`` (written
by ``scripts/compile-templates``; Python keeps their bytecode like any module's). A shipped module is used
only when it was compiled from the very source the templates folder holds now (sha256) by the installed
Jinja2 version; otherwise the template is compiled from its source, with the bytecode cache in planforge's
cache folder. So an edited template, or ``PLANFORGE_DATA_DIR``, never renders stale code.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from collections.abc import MutableMapping
from functools import cache
from typing import Any

import jinja2

from planforge.cache import cache_dir
from planforge.escape import FILTERS, json_document
from planforge.resources import templates_dir

__all__ = ["compiled_modules", "environment", "render_template"]

_COMPILED = "planforge._compiled_templates"


def code_block(content: str, language: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    body = content if content.endswith("\n") else content + "\n"
    return f"{fence}{language}\n{body}{fence}"


def to_json(value: Any, indent: int = 2) -> str:
    """Deterministic JSON for documents and code blocks."""
    return json_document(value, indent)


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


class _Loader(jinja2.FileSystemLoader):
    """The templates folder, each template taken from its shipped compiled module when that is current."""

    def load(
        self, environment: jinja2.Environment, name: str, globals: MutableMapping[str, Any] | None = None
    ) -> jinja2.Template:
        module = _shipped().get(name)
        if module is not None:
            source, _, _ = self.get_source(environment, name)
            if module[1] == _digest(source):
                namespace = importlib.import_module(f"{_COMPILED}.{module[0]}").__dict__
                return environment.template_class.from_module_dict(environment, namespace, globals or {})
        return super().load(environment, name, globals)


@cache
def _shipped() -> dict[str, tuple[str, str]]:
    """Template name -> (module, sha256 of the source it was compiled from); empty for another Jinja2."""
    try:
        index = importlib.import_module(_COMPILED)
    except ImportError:
        return {}
    if getattr(index, "JINJA2", None) != jinja2.__version__:
        return {}
    return dict(getattr(index, "TEMPLATES", {}))


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def compiled_modules() -> dict[str, str]:
    """The files of ``planforge._compiled_templates`` for the templates folder now and the installed Jinja2:
    file name -> text. Deterministic: the same templates give the same bytes."""
    env = environment()
    files: dict[str, str] = {}
    index: dict[str, tuple[str, str]] = {}
    for name in sorted(env.list_templates()):
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        module = "t_" + hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
        index[name] = (module, _digest(source))
        code = env.compile(source, name, None, raw=True, defer_init=True)
        files[f"{module}.py"] = f"# Compiled by scripts/compile-templates from templates/{name}. Do not edit.\n{code}\n"
    entries = "".join(f"    {name!r}: {entry!r},\n" for name, entry in index.items())
    files["__init__.py"] = (
        '"""planforge\'s templates, compiled by Jinja2 (scripts/compile-templates writes this package)."""\n\n'
        f"JINJA2 = {jinja2.__version__!r}\n"
        f"TEMPLATES = {{\n{entries}}}\n"
    )
    return files


@cache
def environment() -> jinja2.Environment:
    """The shared environment: StrictUndefined, trailing newline kept, block whitespace trimmed."""
    # output is code and config, not HTML; planforge.escape escapes (bandit B701)
    env = jinja2.Environment(  # nosec B701
        loader=_Loader(str(templates_dir())),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    env.filters.update(human=human, predicate=predicate, code_block=code_block, to_json=to_json)
    return env


def render_template(name: str, **context: Any) -> str:
    """Render one template file with the given data."""
    return environment().get_template(name).render(**context)
