"""JSON Schema (draft 2020-12) to pydantic v2 class definitions, in one pass over already resolved schemas.

Why planforge writes its models itself: datamodel-code-generator took about 4 ms a schema (5.8 s for the 1,454
schemas of a 500-operation feature) and its output had to be parsed again to find which class each schema became
and which classes each service needs. Here the emitter knows both as it writes each class.

The models are a typed view, not the check: every request body and every event is validated against the
manifest's JSON Schema before a handler or a consumer sees it (planforge_runtime.bodies). So a model may be
LOOSER than its schema, never stricter: where a keyword cannot be typed faithfully (allOf of several schemas,
not, if/then/else, patternProperties, prefixItems, dependentSchemas, unevaluated*, multipleOf on numbers,
uniqueItems, a pattern Python's re cannot compile, ...), the value is typed more loosely
(`Any`, `dict[str, Any]`, the constraint dropped) rather than valid data refused.

Every manifest string written into the source (names, descriptions, enum values, defaults, patterns) goes
through planforge.escape, so it can only ever be a Python string literal or docstring text. Patterns are
read by Python's re (pydantic's regex_engine="python-re"), with re.search, as the JSON Schema check reads them.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from planforge.escape import py_doc
from planforge.targets.pykeywords import LENGTH_TYPES, bound, fits, integral, keeps_extra, reshaped
from planforge.targets.pylayout import WIDTH, Seq, code, kw, layout, literal, py_str
from planforge.targets.pylayout import annotation as tree
from planforge.targets.pynames import RESERVED, field_names, member_names, pascal, singular

__all__ = ["Definition", "Emitter"]

# format -> (annotation, import module); other formats stay str (looser, never stricter).
_FORMATS = {
    "email": ("EmailStr", "pydantic"),
    "uuid": ("UUID", "uuid"),
    "date-time": ("AwareDatetime", "pydantic"),
    "date": ("date", "datetime"),
    "time": ("time", "datetime"),
    "password": ("SecretStr", "pydantic"),
    "ipv4": ("IPv4Address", "ipaddress"),
    "ipv6": ("IPv6Address", "ipaddress"),
}
# A default written as a plain literal when its JSON type is the annotation's.
_NUMBER = "float | int"
_SCALARS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), _NUMBER: (float, int), "bool": (bool,)}
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}


@dataclass(frozen=True)
class Definition:
    """One top-level statement of the models module: a class, what it is, what it uses and imports."""

    name: str
    kind: str  # "model", "enum" or "root"
    text: str
    uses: frozenset[str]
    imports: frozenset[tuple[str, str]]


@dataclass
class _Scope:
    """What the class being written refers to: other classes, and (module, name) imports."""

    uses: set[str] = field(default_factory=set)
    imports: set[tuple[str, str]] = field(default_factory=set)
    patterns: bool = False  # a pattern constraint: the class reads it with Python's re

    def need(self, module: str, name: str) -> str:
        self.imports.add((module, name))
        return name


def _compiles(pattern: Any) -> bool:
    """True for a pattern Python's re compiles: the body check reads it with re.search, and so do the models."""
    if not isinstance(pattern, str):
        return False
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


class Emitter:
    """Writes each schema's class once, dependencies first, naming every class uniquely and deterministically."""

    def __init__(self, named: dict[str, Any], taken: set[str]) -> None:
        self.named = named
        self.taken = set(RESERVED) | taken
        self.fields: set[str] = set()
        self.class_of: dict[str, str] = {}
        self.definitions: dict[str, Definition] = {}
        self._pending: set[str] = set()
        self._nested: dict[tuple[str, str], str] = {}
        self._values: dict[str, str] = {}
        self._members: dict[str, dict[str, str]] = {}  # an enum class's member name of each value
        self._numbered: dict[str, int] = {}  # the last number name() gave each base

    def name(self, hint: str) -> str:
        """A new class name from hint: the hint itself when free, else numbered (Status, Status1, ...)."""
        base = pascal(hint) or "Model"
        # Numbers are only ever taken, never freed: the search goes on from the last one given for this base.
        number = self._numbered.get(base, 0)
        candidate = f"{base}{number}" if number else base
        while candidate in self.taken or candidate in self.fields or keyword.iskeyword(candidate):
            number += 1
            candidate = f"{base}{number}"
        self._numbered[base] = number
        self.taken.add(candidate)
        return candidate

    def declare(self, schema_name: str) -> str:
        """The class a named schema becomes: its own name when that is a free identifier."""
        if schema_name not in self.class_of:
            free = schema_name not in self.taken and schema_name not in self.fields
            if free and pascal(schema_name) == schema_name:
                self.taken.add(schema_name)
                self.class_of[schema_name] = schema_name
            else:
                self.class_of[schema_name] = self.name(schema_name)
        return self.class_of[schema_name]

    def emit_named(self, schema_name: str) -> str:
        """Write a named schema's class (once; what it refers to first) and return its name."""
        name = self.declare(schema_name)
        if name in self.definitions or name in self._pending:
            return name
        self._pending.add(name)
        self._emit(name, self.named[schema_name], f"The manifest's {py_doc(schema_name)} schema.")
        self._pending.discard(name)
        return name

    def _emit(self, name: str, schema: Any, doc: str) -> None:
        if _nullable(schema):
            # The class of its non-null values (what references to it use, `| None`), and a root model of both.
            value = self._values[name] = self.name(name + "Value")
            self._add(self._top(value, _without_null(schema), doc))
            scope = _Scope(uses={value})
            self._add(self._root(name, f"{value} | None", [], scope, doc))
        else:
            self._add(self._top(name, schema, doc))

    def emit_event(self, name: str, schema: Any, doc: str) -> None:
        """Write an event payload's class: a bare $ref to a model becomes its subclass."""
        target = self._ref_class(schema.get("$ref")) if isinstance(schema, dict) else None
        known = self.definitions.get(target) if target is not None else None
        if target is not None and known is not None and known.kind == "model":
            text = _header(name, target) + (_docstring(doc).rstrip("\n") or "    pass")
            self._add(Definition(name, "model", text, frozenset({target}), frozenset()))
            return
        self._emit(name, schema, doc)  # an object that may be null too: a root model, so null is a payload

    def _add(self, definition: Definition) -> None:
        self.definitions[definition.name] = definition

    def _top(self, name: str, schema: Any, doc: str) -> Definition:
        if _is_model(schema):
            return self._model(name, schema, doc)
        if _string_enum(schema):
            return self._enum(name, schema, doc)
        scope = _Scope()
        annotation, kws = self._type(schema, name + "Value", scope)
        return self._root(name, annotation, kws, scope, doc)

    def _root(self, name: str, annotation: str, kws: list[str], scope: _Scope, doc: str) -> Definition:
        scope.need("pydantic", "RootModel")
        root = f"    root: {annotation}"
        if kws or len(root) > WIDTH:
            root = code(Seq("root: Annotated", (tree(annotation), Seq("Field", tuple(kws))), "[]"), 4)
            scope.need("typing", "Annotated")
            scope.need("pydantic", "Field")
        if scope.patterns:
            scope.need("pydantic", "ConfigDict")
            root = _config(['regex_engine="python-re"']) + "\n" + root
        header = f"class {name}(RootModel[{annotation}]):"
        later = (scope.uses | {name}) - self.definitions.keys()  # classes not defined yet: the header runs now
        if len(header) > WIDTH or set(re.findall(r"\w+", annotation)) & later:
            # The root field's annotation types the value (read later, as a string); the header stays one line.
            header = _header(name, f"RootModel[{scope.need('typing', 'Any')}]").rstrip("\n")
        text = header + "\n" + _docstring(doc, body=True) + root
        return Definition(name, "root", text, frozenset(scope.uses), frozenset(scope.imports))

    def _enum(self, name: str, schema: dict[str, Any], doc: str | None) -> Definition:
        values = list(dict.fromkeys(v for v in schema["enum"] if isinstance(v, str)))
        members = [
            f"    {member} = {py_str(value)}" for member, value in zip(member_names(values), values, strict=True)
        ]
        self._members[name] = dict(zip(values, member_names(values), strict=True))
        text = _header(name, "StrEnum") + _docstring(doc, body=True) + "\n".join(members)
        return Definition(name, "enum", text, frozenset(), frozenset({("enum", "StrEnum")}))

    def _model(self, name: str, schema: dict[str, Any], doc: str | None) -> Definition:
        scope = _Scope()
        scope.need("pydantic", "BaseModel")
        properties = {k: v for k, v in schema["properties"].items() if v is not False}
        required = set(schema.get("required") or ()) if isinstance(schema.get("required"), list) else set()
        fields = field_names(list(properties), self.taken)
        self.fields |= set(fields.values())  # no class defined later may be named like a field
        lines: list[str] = []
        for prop, sub in properties.items():
            lines.append(self._field(fields[prop], prop, sub, prop in required, scope))
        config: list[str] = []
        if schema.get("additionalProperties") is False and not schema.get("patternProperties"):
            config.append('extra="forbid"')
        elif keeps_extra(schema):
            config.append('extra="allow"')
        if any(fields[prop] != prop for prop in properties):
            config.append("populate_by_name=True")
        if scope.patterns:
            config.append('regex_engine="python-re"')
        if config:
            scope.need("pydantic", "ConfigDict")
            lines.insert(0, _config(config))
        body = "\n".join(lines)
        text = _header(name, "BaseModel") + _docstring(doc, body=bool(body)) + (body or ("" if doc else "    pass"))
        return Definition(name, "model", text.rstrip("\n"), frozenset(scope.uses), frozenset(scope.imports))

    def _field(self, python: str, prop: str, schema: Any, required: bool, scope: _Scope) -> str:
        own = _Scope()
        annotation, kws = self._type(schema, prop, own)
        scope.uses |= own.uses
        scope.imports |= own.imports
        scope.patterns |= own.patterns
        kws = ([f"alias={py_str(prop)}"] if python != prop else []) + kws
        tail = ""
        if not required:
            default = self._default(schema, annotation, own)
            if default is None:
                if annotation != "Any" and not annotation.endswith("| None") and annotation != "None":
                    annotation += " | None"
                tail = " = None"
            elif isinstance(default, str) and (annotation in _SCALARS or "." in default):
                tail = " = " + default
            else:
                scope.need("pydantic", "Field")
                return _with_default(python, annotation, Seq("Field", (kw("default", default), *kws)))
        line = f"    {python}: {annotation}{tail}"
        if not kws and len(line) <= WIDTH:
            return line
        scope.need("typing", "Annotated")
        scope.need("pydantic", "Field")
        return code(Seq(f"{python}: Annotated", (tree(annotation), Seq("Field", tuple(kws))), "[]", tail), 4)

    def _default(self, schema: Any, annotation: str, own: _Scope) -> Seq | str | None:
        """The field's default as Python source of its annotation's type (None: no default, the field is optional):
        an enum's member, or a JSON value where the annotation is JSON's types; other defaults are left out."""
        default = integral(schema.get("default")) if isinstance(schema, dict) else None
        if default is None:
            return None
        enum = annotation.removesuffix(" | None")
        if isinstance(default, str) and default in self._members.get(enum, {}):
            return f"{enum}.{self._members[enum][default]}"
        plain = own.imports <= {("typing", "Any"), ("typing", "Annotated"), ("pydantic", "Field")}
        if own.uses or not plain or not fits(default, schema):
            return None
        if annotation in _SCALARS and type(default) not in _SCALARS[annotation]:
            return None
        return literal(default)

    def _ref_class(self, ref: Any) -> str | None:
        if isinstance(ref, str) and ref in self.named:
            return self.emit_named(ref)
        return None

    def _wrapped(self, schema: Any, hint: str, scope: _Scope) -> str:
        """The annotation of a nested value: its constraints inside Annotated[...]."""
        annotation, kws = self._type(schema, hint, scope)
        if not kws:
            return annotation
        scope.need("typing", "Annotated")
        scope.need("pydantic", "Field")
        return f"Annotated[{annotation}, Field({', '.join(kws)})]"

    def _type(self, schema: Any, hint: str, scope: _Scope) -> tuple[str, list[str]]:
        """The annotation of a value of schema, and the Field() constraints on it."""
        if not isinstance(schema, dict):
            return scope.need("typing", "Any"), []
        if "$ref" in schema:
            target = self._ref_class(schema["$ref"])
            if target is None:
                return scope.need("typing", "Any"), []
            scope.uses.add(target)
            value = self._values.get(target)
            if value is not None:  # a schema that also takes null: its class of non-null values, or None
                scope.uses.add(value)
                return f"{value} | None", []
            return target, []
        if "type" not in schema and "properties" not in schema:
            combined = self._combined(schema, hint, scope)
            if combined is not None:
                return combined
        if "const" in schema:
            const = schema["const"]
            if isinstance(const, str):
                return f"{scope.need('typing', 'Literal')}[{py_str(const)}]", []
            return scope.need("typing", "Any"), []
        if "enum" in schema:
            return self._enum_type(schema, hint, scope), []
        return self._typed(schema, hint, scope)

    def _inline(self, hint: str, schema: dict[str, Any], write: Callable[[str], Definition]) -> str:
        """The class of a nested schema: one class for equal schemas under the same hint, named after it."""
        key = (pascal(hint), json.dumps(schema, sort_keys=True, default=str))
        if key not in self._nested:
            name = self._nested[key] = self.name(hint)
            self._add(write(name))
        return self._nested[key]

    def _combined(self, schema: dict[str, Any], hint: str, scope: _Scope) -> tuple[str, list[str]] | None:
        """oneOf/anyOf as a union of their branches, allOf of one schema as that schema, of more as Any."""
        branches = schema.get("oneOf", schema.get("anyOf"))
        if isinstance(branches, list) and branches:
            if "oneOf" in schema and "anyOf" in schema:
                return scope.need("typing", "Any"), []
            return self._union([self._wrapped(b, hint, scope) for b in branches], scope), []
        if isinstance(schema.get("allOf"), list):
            if len(schema["allOf"]) == 1:
                return self._type(schema["allOf"][0], hint, scope)
            return scope.need("typing", "Any"), []
        return None

    def _enum_type(self, schema: dict[str, Any], hint: str, scope: _Scope) -> str:
        if not _string_enum(schema):
            return scope.need("typing", "Any")
        doc = py_doc(schema["description"]) if _described(schema) else None
        name = self._inline(hint, schema, lambda name: self._enum(name, schema, doc))
        scope.need("enum", "StrEnum")
        scope.uses.add(name)
        return f"{name} | None" if _nullable(schema) else name

    def _typed(self, schema: dict[str, Any], hint: str, scope: _Scope) -> tuple[str, list[str]]:
        types = _types(schema)
        if types is None:
            return scope.need("typing", "Any"), []
        concrete = [t for t in types if t != "null"]
        if not concrete:
            return "None", []
        if len(concrete) == 1:
            annotation, kws = self._single(concrete[0], schema, hint, scope)
        else:
            parts = []
            for kind in concrete:
                part, part_kws = self._single(kind, schema, hint, scope)
                parts.append(f"Annotated[{part}, Field({', '.join(part_kws)})]" if part_kws else part)
                if part_kws:
                    scope.need("typing", "Annotated")
                    scope.need("pydantic", "Field")
            annotation, kws = self._union(parts, scope), []
        return (f"{annotation} | None" if "null" in types and annotation != "Any" else annotation), kws

    def _union(self, parts: list[str], scope: _Scope) -> str:
        unique = list(dict.fromkeys(parts))
        if "Any" in unique:
            return scope.need("typing", "Any")
        if "None" in unique:
            unique = [p for p in unique if p != "None"]
            unique += [] if any(p.endswith("| None") for p in unique) else ["None"]
        return " | ".join(unique)

    def _single(self, kind: str, schema: dict[str, Any], hint: str, scope: _Scope) -> tuple[str, list[str]]:
        if kind == "string":
            return self._string(schema, scope)
        if kind in ("integer", "number"):
            integer = kind == "integer"
            kws = []
            for keyword_, name in _BOUNDS.items():
                value = bound(keyword_, schema.get(keyword_), integer)
                if value is not None:
                    kws.append(f"{name}={value}")
            multiple = schema.get("multipleOf")
            if integer and isinstance(multiple, int) and not isinstance(multiple, bool) and multiple > 0:
                kws.append(f"multiple_of={multiple}")
            # A number is a float or an int: an int keeps its value (10**400 has no float, 2**53 + 1 no exact one).
            return ("int" if integer else _NUMBER), sorted(kws)
        if kind == "boolean":
            return "bool", []
        if kind == "array":
            return self._array(schema, hint, scope)
        if kind == "object":
            return self._object(schema, hint, scope), []
        return scope.need("typing", "Any"), []

    def _string(self, schema: dict[str, Any], scope: _Scope) -> tuple[str, list[str]]:
        known = _FORMATS.get(schema.get("format", "")) if isinstance(schema.get("format"), str) else None
        if known and reshaped(known[0], schema):
            known = None
        annotation = scope.need(known[1], known[0]) if known else "str"
        kws = []
        if annotation in LENGTH_TYPES:
            for keyword_, name in (("minLength", "min_length"), ("maxLength", "max_length")):
                value = schema.get(keyword_)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    kws.append(f"{name}={value}")
        if annotation == "str" and _compiles(schema.get("pattern")):
            scope.patterns = True
            kws.append(f"pattern={py_str(schema['pattern'])}")
        return annotation, sorted(kws)

    def _array(self, schema: dict[str, Any], hint: str, scope: _Scope) -> tuple[str, list[str]]:
        items = schema.get("items")
        if "prefixItems" in schema or not isinstance(items, dict):
            inner = scope.need("typing", "Any")
        else:
            inner = self._wrapped(items, singular(hint), scope)
        kws = []
        for keyword_, name in (("minItems", "min_length"), ("maxItems", "max_length")):
            value = schema.get(keyword_)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                kws.append(f"{name}={value}")
        return f"list[{inner}]", sorted(kws)

    def _object(self, schema: dict[str, Any], hint: str, scope: _Scope) -> str:
        if isinstance(schema.get("properties"), dict) and schema["properties"]:
            doc = py_doc(schema["description"]) if _described(schema) else None
            name = self._inline(hint, schema, lambda name: self._model(name, schema, doc))
            scope.uses.add(name)
            return name
        values = schema.get("additionalProperties")
        if isinstance(values, dict) and not schema.get("patternProperties"):
            return f"dict[str, {self._wrapped(values, hint + 'Value', scope)}]"
        return f"dict[str, {scope.need('typing', 'Any')}]"


def _with_default(python: str, annotation: str, value: Seq) -> str:
    """`python: annotation = Field(default=...)`: an annotation too long for the line is split first, its
    brackets one item a line, as ruff splits it, and the value follows its last bracket."""
    node = tree(annotation)
    if len(f"    {python}: {annotation} = Field(") <= WIDTH or not isinstance(node, Seq):
        return code(Seq(f"{python}: {annotation} = {value.head}", value.items), 4)
    lines = layout(Seq(f"{python}: {node.head}", node.items, node.brackets), 4)
    rest = layout(Seq(lines[-1].strip() + " = " + value.head, value.items), 4)
    return "\n".join(lines[:-1] + rest)


def _header(name: str, base: str) -> str:
    """The class statement's line, split as ruff splits it when the name is too long for one."""
    return code(Seq(f"class {name}", (base,), "()", ":")) + "\n"


def _config(settings: list[str]) -> str:
    """model_config, one setting a line (the magic trailing comma keeps ruff format from joining them)."""
    return "\n".join(["    model_config = ConfigDict(", *(f"        {c}," for c in settings), "    )"])


def _docstring(doc: str | None, body: bool = False) -> str:
    if not doc:
        return ""
    return f'    """\n    {doc}\n    """\n' + ("\n" if body else "")


def _described(schema: dict[str, Any]) -> bool:
    return isinstance(schema.get("description"), str) and bool(schema["description"].strip())


def _types(schema: dict[str, Any]) -> list[str] | None:
    """The schema's JSON types, inferred from its keywords when it names none (None: any value)."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list) and declared and all(isinstance(t, str) for t in declared):
        return list(dict.fromkeys(declared))
    return None


def _is_model(schema: Any) -> bool:
    """An object schema with properties (that may also take null): a BaseModel (its references add `| None`)."""
    if not isinstance(schema, dict) or "$ref" in schema or not isinstance(schema.get("properties"), dict):
        return False
    return bool(schema["properties"]) and schema.get("type") in (
        "object",
        ["object"],
        ["object", "null"],
        ["null", "object"],
    )


def _string_enum(schema: Any) -> bool:
    if not isinstance(schema, dict) or not isinstance(schema.get("enum"), list):
        return False
    values = [v for v in schema["enum"] if v is not None]
    return bool(values) and all(isinstance(v, str) for v in values)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema less its null: the enum's other values, the object alone."""
    if _string_enum(schema):
        return schema | {"enum": [v for v in schema["enum"] if v is not None]}
    return schema | {"type": "object"}


def _nullable(schema: Any) -> bool:
    """A named schema whose class stands for its non-null values: an enum holding null, an object or null."""
    if not isinstance(schema, dict):
        return False
    if _string_enum(schema):
        return None in schema["enum"]
    return _is_model(schema) and isinstance(schema.get("type"), list) and "null" in schema["type"]
