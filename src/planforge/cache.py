"""Where planforge's caches live, and how an entry is written (atomically; a failed write is just no entry).

The cache lives in PLANFORGE_CACHE_DIR, else $XDG_CACHE_HOME/planforge, else ~/.cache/planforge;
its users (rendercache) key entries by the sha256 of everything the text depends on.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["cache_dir", "store_text"]


def cache_dir() -> Path:
    """Where cached text is kept."""
    explicit = os.environ.get("PLANFORGE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "planforge"


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
