"""A content-addressed cache of derived text, so repeated runs skip expensive generators.

The key is the sha256 of everything the text depends on (input, options, generator version), so a
hit returns exactly the bytes the generator would produce: output stays deterministic. The cache
lives in PLANFORGE_CACHE_DIR, else $XDG_CACHE_HOME/planforge, else ~/.cache/planforge;
PLANFORGE_NO_CACHE=1 turns it off. A cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["cache_dir", "cached_text", "store_text"]

_FORMAT = "1"


def cache_dir() -> Path:
    """Where cached text is kept."""
    explicit = os.environ.get("PLANFORGE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "planforge"


def cached_text(kind: str, key: str, produce: Callable[[], str]) -> str:
    """The text for key: from the cache when present, else produce() and remember it."""
    if os.environ.get("PLANFORGE_NO_CACHE"):
        return produce()
    digest = hashlib.sha256(f"{_FORMAT}\0{kind}\0{key}".encode()).hexdigest()
    path = cache_dir() / kind / f"{digest}.txt"
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    text = produce()
    store_text(path, text)
    return text


def store_text(path: Path, text: str) -> None:
    """Write text to path atomically (a reader sees the old file or the whole new one); errors are ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        Path(temp).replace(path)
    except OSError:
        return
