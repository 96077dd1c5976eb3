"""The top-level modules a generated service or its tests may import, computed from declared dependencies.

A service's package sits on the same import path as everything it imports: a service named `jwt` or
`tenacity` would hide the library of that name. The set is the top-level modules of every distribution in
the dependency closure of planforge-runtime and planforge-testkit (what the generated services and their
tests install), read from the installed metadata. Reading it takes a second, so validation reads the set
from `imported_modules.txt` beside this file (the same on every machine, with or without those extras);
`make regen` refreshes it and a test checks that it holds everything the installed closure provides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

__all__ = ["SNAPSHOT", "imported_modules", "installed_modules"]

SNAPSHOT = Path(__file__).with_name("imported_modules.txt")
# What generated services (requirements.txt) and their tests (tests/requirements.txt) install.
ROOTS = ("planforge-runtime", "planforge-testkit")
OWN = frozenset({"planforge", "planforge_runtime", "planforge_testkit"})
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?")
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(distribution: str, extras: Iterable[str]) -> set[tuple[str, frozenset[str]]]:
    """(name, extras) of what distribution requires, with those extras; other markers are kept (over-approximated)."""
    from importlib import metadata  # only make regen and a test read the installed metadata

    try:
        listed = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return set()
    wanted = set(extras)
    found = set()
    for line in listed:
        match = _NAME.match(line)
        if match is None:
            continue
        needs = set(_EXTRA.findall(line))
        if needs and not needs & wanted:
            continue
        inner = frozenset(e.strip() for e in (match.group(2) or "[]")[1:-1].split(",") if e.strip())
        found.add((_normal(match.group(1)), inner))
    return found


def _closure(root: str, extras: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(_requirements(root, extras))
    while todo:
        name, inner = todo.pop()
        key = f"{name}[{','.join(sorted(inner))}]"
        if key in seen:
            continue
        seen.add(key)
        todo.extend(_requirements(name, inner))
    return {key.split("[", 1)[0] for key in seen}


def installed_modules() -> frozenset[str]:
    """Top-level modules of the installed distributions in the closure of planforge-runtime and planforge-testkit."""
    from importlib import metadata

    wanted = set().union(*(_closure(root, ()) for root in ROOTS)) | set(ROOTS)
    modules = set(OWN)
    for module, distributions in metadata.packages_distributions().items():
        if module.isidentifier() and any(_normal(d) in wanted for d in distributions):
            modules.add(module)
    return frozenset(modules)


@cache
def imported_modules() -> frozenset[str]:
    """The committed set of installed_modules()."""
    return frozenset(SNAPSHOT.read_text(encoding="utf-8").split())


def write_snapshot() -> None:
    """Record the installed closure's modules (run by `make regen`)."""
    SNAPSHOT.write_text("\n".join(sorted(installed_modules())) + "\n", encoding="utf-8")
