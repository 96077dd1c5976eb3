"""What to install when something planforge needs is missing, read from the requirements planforge declares.

A module that cannot be imported, or a distribution whose metadata is missing, is looked up among the
requirements of planforge (its core and each extra) and of planforge-runtime (all core to planforge): the
error then names the extra to install, or says the installation is broken. Nothing here is a hand-kept list.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata

from planforge.errors import InputError, MissingDependency, MissingExtra

__all__ = ["declared_requirements", "missing_part"]

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
ROOTS = ("planforge", "planforge-runtime")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def declared_requirements() -> dict[str, str | None]:
    """Normalised distribution name -> the extra that brings it (None: always installed with planforge)."""
    found: dict[str, str | None] = {}
    for root in ROOTS:
        try:
            listed = metadata.requires(root) or []
        except metadata.PackageNotFoundError:
            continue
        for line in listed:
            match = _NAME.match(line)
            if match is None:
                continue
            extras = _EXTRA.findall(line)
            name = _normal(match.group(1))
            extra = extras[0] if extras and root == "planforge" else None
            if name not in found or extra is None:  # a core requirement wins over the same one in an extra
                found[name] = extra
    return found


def missing_part(error: ImportError | metadata.PackageNotFoundError) -> InputError | None:
    """The error to report for a missing module or distribution that planforge declares; None when it does not
    (then the missing import is planforge's bug)."""
    missing = error.name if isinstance(error, metadata.PackageNotFoundError) else (error.name or "").split(".")[0]
    if not missing:
        return None
    declared = declared_requirements()
    wanted = _normal(missing)
    candidates = [wanted] if wanted in declared else sorted(d for d in declared if d.startswith(wanted + "-"))
    if not candidates:
        return None
    extra = declared[candidates[0]]
    return MissingExtra(candidates[0], extra) if extra else MissingDependency(candidates[0])
