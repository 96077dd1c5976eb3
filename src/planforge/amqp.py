"""AMQP 0-9-1 routing as RabbitMQ does it: which binding patterns deliver which routing keys."""

from __future__ import annotations

from functools import cache

__all__ = ["binding_matches", "topic_matches"]


def binding_matches(exchange_type: str, pattern: str, routing_key: str) -> bool:
    """Whether a binding with this pattern routes this key on an exchange of this type."""
    if exchange_type == "fanout":
        return True
    if exchange_type == "direct":
        return pattern == routing_key
    return topic_matches(pattern, routing_key)


def topic_matches(pattern: str, routing_key: str) -> bool:
    """Topic matching: words split on '.', '*' matches exactly one word, '#' zero or more."""
    return _match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


@cache
def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
