"""The node tree PyYAML's SafeRepresenter builds for plain data, built in one pass.

yaml.dump spends most of its time in the representer, which looks up a function for every value and keeps
every container for aliases. For dicts, lists (and their read-only forms), strings, numbers, booleans and
None this module builds the same nodes (tags, values, styles, block style) directly, so either emitter gets
exactly what it would have got. For anything else (another type, or a container met twice, which PyYAML
writes as an anchor and an alias) it answers None and the caller lets PyYAML's representer run
(tests/test_speedups.py compares the trees).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from planforge.frozen import FrozenDict, FrozenList

__all__ = ["node_tree", "remembered_resolve"]

_STD = "tag:yaml.org,2002:"
_STR, _INT, _BOOL, _NULL, _MAP, _SEQ = (f"{_STD}{t}" for t in ("str", "int", "bool", "null", "map", "seq"))
_MAPPINGS = (dict, FrozenDict)
_SEQUENCES = (list, FrozenList)


class _Elsewhere(Exception):
    """A value this module leaves to PyYAML's representer."""


def node_tree(
    data: Any, dumper: yaml.SafeDumper, str_style: Callable[[str], str | None], aliases: bool
) -> yaml.Node | None:
    """The nodes dumper's representer builds for data, str_style giving each string's style (as the str
    representer registered on dumper does); None when the representer must run. aliases: the dumper writes
    a container met twice as an alias (PyYAML's default), so such data is left to it."""
    seen: set[int] = set()
    scalar, mapping, sequence = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode

    def node(value: Any) -> yaml.Node:
        kind = type(value)
        if kind is str:
            return scalar(_STR, value, style=str_style(value))
        if kind in _MAPPINGS or kind in _SEQUENCES:
            if aliases:
                if id(value) in seen:
                    raise _Elsewhere
                seen.add(id(value))
            if kind in _MAPPINGS:
                return mapping(_MAP, [(node(k), node(v)) for k, v in value.items()], flow_style=False)
            return sequence(_SEQ, [node(item) for item in value], flow_style=False)
        return _other_scalar(value, dumper)

    try:
        return node(data)
    except _Elsewhere:
        return None


def _other_scalar(value: Any, dumper: yaml.SafeDumper) -> yaml.Node:
    """A boolean, an integer, None or a float as SafeRepresenter writes it."""
    kind = type(value)
    if kind is bool:
        return yaml.ScalarNode(_BOOL, "true" if value else "false", style=None)
    if kind is int:
        return yaml.ScalarNode(_INT, str(value), style=None)
    if value is None:
        return yaml.ScalarNode(_NULL, "null", style=None)
    if kind is float:
        found: yaml.Node = dumper.represent_float(value)
        return found
    raise _Elsewhere


_resolve: Callable[..., Any] = yaml.resolver.Resolver.resolve
_RESOLVED: dict[tuple[str, Any], str] = {}
_REMEMBERED = 1 << 16


def remembered_resolve(self: yaml.SafeDumper, kind: type[yaml.Node], value: Any, implicit: Any) -> Any:
    """Resolver.resolve, remembered for scalars: the serializer asks twice for every scalar written, and
    the answer depends on the text alone (no path resolvers are registered: other kinds ask PyYAML)."""
    if kind is not yaml.ScalarNode or self.yaml_path_resolvers:
        return _resolve(self, kind, value, implicit)
    key = (value, implicit)
    found = _RESOLVED.get(key)
    if found is None:
        if len(_RESOLVED) >= _REMEMBERED:
            _RESOLVED.clear()
        found = _RESOLVED[key] = _resolve(self, kind, value, implicit)
    return found
