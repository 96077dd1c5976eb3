"""The whole rendering of a manifest, remembered by content, so a no-op check or generate is load + hash.

The key is the sha256 of the manifest's bytes, how it is named (in diagnostics and headers), and a
fingerprint of everything else the output depends on: planforge's own code, templates and schema, and
the versions of the libraries that shape generated text. A hit returns the diagnostics (warnings) and
the files exactly as rendering them would: output stays byte-for-byte deterministic. Only manifests
without errors are remembered. The cache lives with planforge's other caches (planforge.cache);
PLANFORGE_NO_CACHE=1 turns it off, and an unreadable or corrupt entry is just a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from planforge.cache import cache_dir, store_text
from planforge.diagnostics import Diagnostic, Severity
from planforge.resources import schema_path, templates_dir
from planforge.targets import Output

__all__ = ["Remembered", "recall", "remember", "run_key"]

_FORMAT = "1"
_PACKAGE = Path(__file__).resolve().parent
# Libraries whose version changes generated text (the templating and the YAML emitter).
_LIBRARIES = ("jinja2", "pyyaml")


@dataclass(frozen=True)
class Remembered:
    """A rendering as it was: the warnings it printed, the feature's slug and every file."""

    diagnostics: list[Diagnostic]
    slug: str
    output: Output


def run_key(manifest: bytes, display: str, ref: str) -> str:
    """The content address of rendering these manifest bytes, shown as display, headed with ref."""
    digest = hashlib.sha256()
    for part in (_FORMAT, code_fingerprint(), display, ref):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(manifest)
    return digest.hexdigest()


@cache
def code_fingerprint() -> str:
    """sha256 of planforge's sources, templates and manifest schema, and of the shaping libraries' versions."""
    digest = hashlib.sha256()
    files = sorted(_PACKAGE.rglob("*.py")) + sorted(p for p in templates_dir().rglob("*") if p.is_file())
    for path in [*files, schema_path()]:
        digest.update(str(path).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    digest.update(_versions().encode())
    return digest.hexdigest()


def _versions() -> str:
    """name=version of each shaping library, as the first distribution of that name on sys.path says.

    Read from the `<name>-<version>.dist-info` folder names (what importlib.metadata finds first) rather than
    through importlib.metadata, whose import alone costs a no-op run about a third of its time."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))  # noqa: PTH208 (names only, on the no-op path: no Path objects)
        except OSError:
            continue
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            distribution, _, version = stem.partition("-")
            found.setdefault(_normal(distribution), version)
    return ",".join(f"{name}={found.get(_normal(name), 'none')}" for name in _LIBRARIES)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _path(key: str) -> Path:
    return cache_dir() / "runs" / f"{key}.json"


def recall(key: str) -> Remembered | None:
    """The remembered rendering for key, or None (miss, caching off, unreadable or corrupt entry)."""
    if os.environ.get("PLANFORGE_NO_CACHE"):
        return None
    try:
        data = json.loads(_path(key).read_text(encoding="utf-8"))
        diagnostics = [_diagnostic(d) for d in data["diagnostics"]]
        output = Output(dict(data["owned"]), dict(data["user"]))
        return Remembered(diagnostics, str(data["slug"]), output)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None


def remember(key: str, rendering: Remembered) -> None:
    """Store a rendering under key (silently not, when caching is off or the cache cannot be written)."""
    if os.environ.get("PLANFORGE_NO_CACHE"):
        return
    data = {
        "diagnostics": [d.as_dict() for d in rendering.diagnostics],
        "slug": rendering.slug,
        "owned": rendering.output.owned,
        "user": rendering.output.user,
    }
    store_text(_path(key), json.dumps(data, ensure_ascii=False))


def _diagnostic(data: dict[str, Any]) -> Diagnostic:
    return Diagnostic(
        str(data["code"]),
        Severity(data["severity"]),
        str(data["path"]),
        int(data["line"]),
        int(data["col"]),
        str(data["message"]),
        str(data["hint"]),
    )
