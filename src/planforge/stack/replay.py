"""`planforge replay`: dead-lettered events back to their queues, for a generated feature's broker topology."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from planforge.errors import FindingsError, InputError

if TYPE_CHECKING:  # the runtime (aio-pika) is imported only when a replay runs
    from planforge_runtime.messaging.replay import ReplayFilter

__all__ = ["ReplayError", "ReplayOptions", "ReplayUsageError", "dead_letter_queues", "run_replay"]


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """What to replay, from where: queues (all with a dead letter queue when empty), the filter, a dry run."""

    amqp_url: str
    queues: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    dry_run: bool = False
    limit: int | None = None


class ReplayUsageError(InputError):
    """Bad input: no such generated folder, queue or time (exit 2)."""


class ReplayError(FindingsError):
    """The broker could not be reached or refused the replay (exit 1)."""


def dead_letter_queues(generated: Path) -> dict[str, str]:
    """queue -> its dead letter queue, read from the feature's broker/definitions.json."""
    from planforge.topology import dead_letter_queue

    path = generated / "broker" / "definitions.json"
    try:
        names = {q["name"] for q in json.loads(path.read_text(encoding="utf-8"))["queues"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReplayUsageError(f"{path}: not a generated broker topology ({exc})") from None
    return {name: dead_letter_queue(name) for name in sorted(names) if dead_letter_queue(name) in names}


def run_replay(generated: Path, options: ReplayOptions, out: TextIO) -> None:
    """Replay and print one line per queue; ReplayUsageError for bad input, ReplayError when the broker failed."""
    queues = _chosen(dead_letter_queues(generated), options.queues)
    which = _filter(options)
    try:
        asyncio.run(_replay(queues, which, options, out))
    except (OSError, ConnectionError) as exc:
        raise ReplayError(f"cannot reach the broker at {_where(options.amqp_url)}: {exc}") from None
    except Exception as exc:  # aio-pika's channel errors (a queue missing on the broker, a refused publish)
        if type(exc).__module__.startswith(("aio_pika", "aiormq", "pamqp")):
            raise ReplayError(f"the broker refused: {exc}") from None
        raise


def _chosen(available: dict[str, str], wanted: tuple[str, ...]) -> dict[str, str]:
    unknown = [q for q in wanted if q not in available]
    if unknown:
        known = ", ".join(available) or "none"
        raise ReplayUsageError(f"no dead letter queue for {', '.join(unknown)} (queues with one: {known})")
    return {q: available[q] for q in wanted} if wanted else available


def _filter(options: ReplayOptions) -> ReplayFilter:
    from datetime import datetime

    from planforge_runtime.messaging.replay import ReplayFilter

    def when(text: str | None, name: str) -> datetime | None:
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ReplayUsageError(f"--{name} {text!r} is not an ISO 8601 time (e.g. 2026-12-01T09:00:00Z)") from None
        if moment.tzinfo is None:
            raise ReplayUsageError(f"--{name} {text!r} has no time zone (add Z or +01:00)")
        return moment

    return ReplayFilter(frozenset(options.event_types), when(options.since, "since"), when(options.until, "until"))


async def _replay(queues: dict[str, str], which: ReplayFilter, options: ReplayOptions, out: TextIO) -> None:
    import aio_pika
    from planforge_runtime.messaging.replay import replay_dead_letters

    connection = await aio_pika.connect(options.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        for queue, dlq in queues.items():
            result = await replay_dead_letters(channel, queue, dlq, which, dry_run=options.dry_run, limit=options.limit)
            verb = "would replay" if options.dry_run else "replayed"
            done = result.matched if options.dry_run else result.replayed
            out.write(
                f"{queue}: {result.examined} dead letters examined, {result.matched} matched, "
                f"{verb} {done}, {result.examined - (0 if options.dry_run else result.replayed)} left in {dlq}\n"
            )


def _where(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5672}{parts.path or '/'}"
