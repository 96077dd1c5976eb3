"""AMQP 0-9-1 routing as RabbitMQ does it: which binding patterns deliver which routing keys."""

from __future__ import annotations

import re
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
    return _topic_pattern(pattern).fullmatch("." + routing_key) is not None


@cache
def _topic_pattern(pattern: str) -> re.Pattern[str]:
    """The pattern as a regular expression over '.' + routing key, where every word is '.' and its text.

    Prefixing each word with its dot lets '#' match zero or more whole words; '*' and a literal word
    match one word, as RabbitMQ's trie does. Rules and the model ask for every (binding, event) pair."""
    parts = []
    for word in pattern.split("."):
        if word == "#":
            parts.append(r"(?:\.[^.]*)*")
        elif word == "*":
            parts.append(r"\.[^.]*")
        else:
            parts.append(r"\." + re.escape(word))
    return re.compile("".join(parts))
