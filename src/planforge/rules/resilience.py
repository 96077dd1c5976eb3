"""PF801-PF802: the retry policy has exactly one delay per retry."""

from __future__ import annotations

from collections.abc import Iterator

from planforge.diagnostics import Diagnostic
from planforge.rules.manifest import Manifest

__all__ = ["check"]


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Backoff delays match max_retries: extra delays are never used, missing ones are undefined."""
    retry = m.data.get("resilience", {}).get("retry")
    if retry is None:
        return
    delays, retries = retry["backoff"], retry["max_retries"]
    path = ("resilience", "retry")
    if len(delays) > retries:
        unused = ", ".join(delays[retries:])
        yield m.warning(
            "PF801",
            (*path, "backoff", retries),
            f"backoff has {len(delays)} delays but max_retries is {retries}; never used: {unused}",
            f"set max_retries: {len(delays)}, or drop the extra delays",
        )
    elif len(delays) < retries:
        missing = retries - len(delays)
        yield m.error(
            "PF802",
            (*path, "max_retries"),
            f"max_retries is {retries} but backoff gives only {len(delays)} delays",
            f"add {missing} more {'delay' if missing == 1 else 'delays'} to backoff, or set max_retries: {len(delays)}",
        )
