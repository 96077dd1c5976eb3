"""Which broker failures are worth retrying, and the exponential backoff between tries (tenacity)."""

from __future__ import annotations

from dataclasses import dataclass

from aiormq.exceptions import AMQPConnectionError, ChannelInvalidStateError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, stop_never, wait_exponential, wait_random

__all__ = ["TRANSIENT", "Backoff"]

# A lost or refused connection, a socket error, a timeout, a channel closed under us: the broker may come back.
TRANSIENT: tuple[type[BaseException], ...] = (
    AMQPConnectionError,
    ConnectionError,
    OSError,
    TimeoutError,
    ChannelInvalidStateError,
)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: initial and maximum delay, and how long to keep trying (None: forever)."""

    initial: float = 0.1
    maximum: float = 5.0
    deadline: float | None = 30.0

    def delay(self, failures: int) -> float:
        """The delay after the given number of consecutive failures (1-based), without jitter."""
        return float(min(self.maximum, self.initial * 2 ** max(failures - 1, 0)))

    def retrying(self) -> AsyncRetrying:
        """A tenacity loop that retries transient broker failures with this backoff and re-raises the last one."""
        return AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT),
            wait=wait_exponential(multiplier=self.initial, max=self.maximum) + wait_random(0, self.initial),
            stop=stop_never if self.deadline is None else stop_after_delay(self.deadline),
            reraise=True,
        )
