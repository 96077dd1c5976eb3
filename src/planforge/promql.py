"""PromQL and Prometheus-template text built from untrusted manifest values: every value is quoted, never spliced.

Label values become PromQL string literals, regular expressions are escaped for RE2 first, and free text in
alert annotations and labels (which Prometheus expands as Go templates) is wrapped in a Go string literal
inside an action, so it prints exactly as written and can never run as a template.
"""

from __future__ import annotations

import json
import re

__all__ = ["go_literal_text", "matchers", "promql_str", "regex_alternatives", "yaml_str"]

# YAML 1.2 printable characters; anything else must be written as an escape in a double-quoted scalar.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def promql_str(value: str) -> str:
    """A PromQL double-quoted string literal holding value exactly (Go escapes; JSON's are a subset)."""
    return _escaped(json.dumps(value, ensure_ascii=False))


def yaml_str(value: str) -> str:
    """A YAML double-quoted scalar holding value exactly, with only printable characters in the file."""
    return _escaped(json.dumps(value, ensure_ascii=False))


def _escaped(quoted: str) -> str:
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return _NOT_PRINTABLE.sub(escape, quoted)


def regex_alternatives(values: list[str]) -> str:
    """An RE2 pattern matching exactly one of values (each escaped: no value is read as a pattern)."""
    return "|".join(re.escape(v) for v in sorted(set(values)))


def matchers(**labels: str) -> str:
    """A PromQL label selector body, every value quoted: job="a",service="b"; a key ending in '_re' matches =~."""
    parts = []
    for key, value in labels.items():
        if key.endswith("_re"):
            parts.append(f"{key[:-3]}=~{promql_str(value)}")
        else:
            parts.append(f"{key}={promql_str(value)}")
    return ",".join(parts)


def go_literal_text(text: str) -> str:
    """Free text for a Prometheus annotation or alert label: a Go template action printing a string literal."""
    return "{{ " + promql_str(text) + " }}"
