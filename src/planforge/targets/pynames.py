"""Python names for what the manifest names: classes, fields and enum members that are identifiers, never keywords,
never a name the models module imports, and unique where they must be."""

from __future__ import annotations

import keyword
import re

__all__ = ["RESERVED", "field_names", "member_names", "pascal", "singular"]

# Names the models module imports or its annotations use: no class nor field may take one.
RESERVED = frozenset(
    {
        "Annotated", "Any", "Literal", "StrEnum", "UUID", "date", "time", "datetime", "IPv4Address", "IPv6Address",
        "AwareDatetime", "BaseModel", "ConfigDict", "EmailStr", "Field", "RootModel", "SecretStr", "annotations",
        "str", "int", "float", "bool", "list", "dict", "None", "True", "False",
    }
)  # fmt: skip
# Attributes of BaseModel a field would shadow (every model_* name is pydantic's too), its class's included.
_MODEL_ATTRIBUTES = frozenset(
    {"copy", "dict", "json", "schema", "schema_json", "validate", "construct", "from_orm", "fields"}
    | {"parse_obj", "parse_raw", "parse_file", "update_forward_refs"}
    | {"mro", "register"}  # its metaclass's (ABCMeta)
)
# Names a StrEnum member cannot take without hiding str's or Enum's own attributes: str's public methods
# spelled out (not read from the running Python, so that every Python gives the same names).
_STR_METHODS = (
    "capitalize casefold center count encode endswith expandtabs find format format_map index isalnum isalpha"
    " isascii isdecimal isdigit isidentifier islower isnumeric isprintable isspace istitle isupper join ljust lower"
    " lstrip maketrans partition removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip split"
    " splitlines startswith strip swapcase title translate upper zfill"
)
_ENUM_TAKEN = frozenset(_STR_METHODS.split()) | {"name", "value", "mro"}


def pascal(text: str) -> str:
    """A PascalCase ASCII identifier made of text's letters and digits ('' when it has none)."""
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9a-zA-Z]+", text) if part)
    return "Model" + name if name[:1].isdigit() else name


def singular(name: str) -> str:
    """The class name hint of an array's items: entries -> entry, lines -> line, data -> dataItem."""
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss") and len(name) > 1:
        return name[:-1]
    return name + "Item"


def member_names(values: list[str]) -> list[str]:
    """A StrEnum member name per value: the value when it is an identifier, else a clean one; all distinct."""
    names: list[str] = []
    used: set[str] = set()
    for value in values:
        member = re.sub(r"[^0-9A-Za-z_]+", "_", value).strip("_") or "value"
        member = "field_" + member if member[0].isdigit() else member
        member = member + "_" if keyword.iskeyword(member) or member in _ENUM_TAKEN else member
        candidate, number = member, 1
        while candidate in used:
            number += 1
            candidate = f"{member}_{number}"
        used.add(candidate)
        names.append(candidate)
    return names


def field_names(properties: list[str], reserved: set[str]) -> dict[str, str]:
    """A Python attribute per property: the property itself when it can be one, else a clean name (its alias)."""

    def usable(name: str) -> bool:
        return (
            name.isidentifier()
            and name.isascii()
            and not keyword.iskeyword(name)
            and not name.startswith(("_", "model_"))
            and name not in reserved
            and name not in _MODEL_ATTRIBUTES
        )

    names = {prop: prop for prop in properties if usable(prop)}
    taken = set(names.values())
    for prop in properties:
        if prop in names:
            continue
        base = re.sub(r"[^0-9A-Za-z_]+", "_", prop).strip("_") or "field"
        base = "field_" + base if base[0].isdigit() or base.startswith("model_") else base
        candidate = base
        while not usable(candidate) or candidate in taken:
            candidate += "_"
        taken.add(candidate)
        names[prop] = candidate
    return names
