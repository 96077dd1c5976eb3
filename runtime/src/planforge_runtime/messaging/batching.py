"""Deliveries handled in batches: one transaction for the messages in hand, a savepoint for each.

The consumer's deliveries (up to its prefetch) that arrive while a batch is being handled join the next
batch. Each delivery runs in its own SAVEPOINT (begun when its handler first uses the database): its
handler's effects are released into the batch's transaction, or rolled back alone with its processed_events
row when the handler fails. Every delivery learns its outcome only after the batch's COMMIT, so the
consumer acks a message only once its effects are durable; when the commit fails, every delivery that was
to be recorded counts as a failed attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from planforge_runtime.messaging.envelope import Envelope
from planforge_runtime.messaging.idempotency import Processing, SqlIdempotency

__all__ = ["Batcher", "Run"]

# Runs the handler of one delivery, given what the batch says about it (its session, the batch's session).
Run = Callable[[Envelope, int, Processing], Awaitable[None]]
# A delivery's outcome: True (duplicate), False (processed), or the exception that failed it.
Outcome = bool | Exception
# Turns of the event loop without a new delivery after which a batch starts.
_QUIET_TURNS = 3
_Claim = Callable[[str, str], AbstractAsyncContextManager[Processing]]


@dataclass
class _Delivery:
    envelope: Envelope
    attempt: int
    done: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Batcher:
    """Collects one queue's deliveries and handles them a batch (at most `limit`) per transaction."""

    def __init__(self, store: SqlIdempotency, queue: str, run: Run, limit: int) -> None:
        self.store = store
        self.queue = queue
        self.run = run
        self.limit = max(1, limit)
        self._pending: list[_Delivery] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, envelope: Envelope, attempt: int) -> Outcome:
        """Handle the delivery in the next batch; its outcome, once the batch has committed (or failed to)."""
        delivery = _Delivery(envelope, attempt)
        self._pending.append(delivery)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        # Awaited directly, not through shield() (a future and two callbacks more per delivery): a cancelled
        # handler cancels only its own future, which the batch then skips; the batch goes on for the others.
        return await delivery.done

    async def _drain(self) -> None:
        while self._pending:
            await self._gather()
            batch, self._pending = self._pending[: self.limit], self._pending[self.limit :]
            outcomes = await self._handle(batch)
            for delivery, outcome in zip(batch, outcomes, strict=True):
                if not delivery.done.done():
                    delivery.done.set_result(outcome)

    async def _gather(self) -> None:
        """Let the deliveries already on their way join the batch: yield to the event loop while they keep
        arriving (a delivery takes a few turns of the loop from the socket to submit()), never waiting a set time."""
        quiet = 0
        while quiet < _QUIET_TURNS and len(self._pending) < self.limit:
            before = len(self._pending)
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self._pending) == before else 0

    async def _handle(self, batch: list[_Delivery]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            async with self.store.batch() as transaction:
                await transaction.claim([d.envelope.event_id for d in batch], self.queue)
                for delivery in batch:
                    outcomes.append(await self._one(transaction.processing, delivery))
        except Exception as exc:  # the commit (or the connection) failed: nothing of this batch was recorded
            outcomes += [exc] * (len(batch) - len(outcomes))
            return [exc if outcome is False else outcome for outcome in outcomes]
        return outcomes

    async def _one(self, processing: _Claim, delivery: _Delivery) -> Outcome:
        try:
            async with processing(delivery.envelope.event_id, self.queue) as claim:
                if claim.duplicate:
                    return True
                await self.run(delivery.envelope, delivery.attempt, claim)
        except Exception as exc:  # whatever the handler raised is a failed attempt of this delivery only
            return exc
        return False
