"""`promtool test rules` cases derived from the alerting rules: series just below and just above each threshold.

For every alert two cases: "above" feeds a series past the threshold from the start and expects no alert one
evaluation before the `for` has passed and the alert (with its labels and summary) one evaluation after;
"below" feeds a series at the threshold (or, for availability, a target that stays up) and expects no alert.
"""

from __future__ import annotations

from dataclasses import dataclass

from planforge.alerting import AlertRule, FlowPoint, Rules
from planforge.promql import matchers
from planforge.units import seconds

__all__ = ["STEP_MS", "Check", "RuleTest", "rule_tests"]

STEP_MS = 15_000  # the series and evaluation interval of every case (several samples per rate window)
_SCALE = 100_000  # requests per step in error-rate cases: a threshold of 5.25% is 5250 of them


@dataclass(frozen=True, slots=True)
class Check:
    """At eval_time, alertname fires with these (labels, summary) pairs; none means it must not fire."""

    eval_time: str
    alertname: str
    fired: tuple[tuple[tuple[tuple[str, str], ...], str], ...]


@dataclass(frozen=True, slots=True)
class RuleTest:
    """One promtool test: its interval, input series (selector, values) and alert checks."""

    name: str
    series: tuple[tuple[str, str], ...]
    checks: tuple[Check, ...]


def rule_tests(rules: Rules) -> tuple[RuleTest, ...]:
    """Two cases per alerting rule (one when its threshold cannot be exceeded, as an error rate of 100%)."""
    points = {p.flow.slug: p for p in rules.points}
    result: list[RuleTest] = []
    for alert in rules.alerts:
        entity = dict(alert.labels)
        for above in (False, True):
            if alert.kind == "error_rate" and above and alert.threshold >= 1.0:
                continue
            if alert.kind == "error_rate":
                point = points[entity["flow"]]
                labels, series = _error_series(rules.services_job, point, alert.threshold, above)
                result.append(_case(alert, labels, series, above, _sharing(rules, alert, point)))
            else:
                labels, series = _series(alert, rules, above)
                result.append(_case(alert, labels, series, above, (alert,)))
    return tuple(result)


def _sharing(rules: Rules, alert: AlertRule, point: FlowPoint) -> tuple[AlertRule, ...]:
    """The error-rate alerts of every integration point that shares the part the case feeds (they fire too)."""
    part = point.routes[0] if point.routes else point.deliveries[0]
    slugs = {p.flow.slug for p in rules.points if part in p.routes or part in p.deliveries}
    return tuple(a for a in rules.alerts if a.name == alert.name and dict(a.labels)["flow"] in slugs)


def _case(
    alert: AlertRule, labels: dict[str, str], series: list[tuple[str, int]], above: bool, firing: tuple[AlertRule, ...]
) -> RuleTest:
    """Checks one evaluation before and at the first evaluation where the expression has held for `for`."""
    active_from = 0 if alert.kind in ("unavailable", "gateway", "queue_depth") else STEP_MS  # a rate needs 2 samples
    fires = active_from + -(-_ms(alert.for_) // STEP_MS) * STEP_MS
    values = tuple((selector, pattern.format(n=fires // STEP_MS + 2)) for selector, pattern in _patterns(series))
    fired = tuple((tuple(sorted((labels | dict(a.labels)).items())), a.summary) for a in firing)
    checks = [Check(_duration(fires), alert.name, fired if above else ())]
    if above:
        checks.insert(0, Check(_duration(fires - STEP_MS), alert.name, ()))
    name = f"{alert.name} {dict(alert.labels)[_entity_key(alert)]} {'above' if above else 'below'} threshold"
    return RuleTest(name, values, tuple(checks))


def _duration(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _patterns(series: list[tuple[str, int]]) -> list[tuple[str, str]]:
    """(selector, increment) -> promtool values: a constant when the increment is negative (a gauge)."""
    return [(s, f"{-inc - 1}x{{n}}" if inc < 0 else f"0+{inc}x{{n}}") for s, inc in series]


def _entity_key(alert: AlertRule) -> str:
    return next(k for k, _ in alert.labels if k != "severity")


def _ms(duration: str) -> int:
    return round(seconds(duration) * 1000)


def _gauge(value: int) -> int:
    """A constant series value, encoded as a negative increment for _patterns."""
    return -value - 1


def _series(alert: AlertRule, rules: Rules, above: bool) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """(labels the alert carries from its series, [(selector, increment)]) for every alert but error rates."""
    entity = dict(alert.labels)
    if alert.kind == "unavailable":
        labels = {"job": rules.services_job, "service": entity["service"], "instance": "test:1"}
        return labels, [(f"up{{{matchers(**labels)}}}", _gauge(0 if above else 1))]
    if alert.kind == "gateway":
        labels = {"job": rules.gateway_job, "instance": "test:1"}
        return labels, [(f"up{{{matchers(**labels)}}}", _gauge(0 if above else 1))]
    if alert.kind == "queue_depth":
        labels = {"job": rules.services_job, "instance": "test:1", "service": "test", "queue": entity["queue"]}
        depth = int(alert.threshold) + (1 if above else 0)
        return {"queue": entity["queue"]}, [(f"planforge_queue_messages{{{matchers(**labels)}}}", _gauge(depth))]
    # latency: every observation in one bucket (0, X], so p95 is 0.95 * X: 1% past the threshold, or 1% short
    upper = alert.threshold * (1.01 if above else 0.99) / 0.95
    labels = {"job": rules.services_job, "instance": "test:1", "service": entity["service"]}
    labels |= {"method": "GET", "route": "/test"}
    return {"service": entity["service"]}, [
        (f"http_request_duration_seconds_bucket{{{matchers(**labels, le=repr(upper))}}}", 100),
        (f"http_request_duration_seconds_bucket{{{matchers(**labels, le='+Inf')}}}", 100),
    ]


def _error_series(
    job: str, point: FlowPoint, threshold: float, above: bool
) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """Traffic on the integration point's first part with errors one in _SCALE past (or short of) the threshold."""
    failed = round(threshold * _SCALE) + (1 if above else -1)
    failed = max(failed, 0)
    base = {"job": job, "instance": "test:1"}
    if point.routes:
        service, route = point.routes[0]
        labels = base | {"service": service, "route": route, "method": "GET"}
        return {}, [
            (f"http_requests_total{{{matchers(**labels, status='200')}}}", _SCALE - failed),
            (f"http_requests_total{{{matchers(**labels, status='500')}}}", failed),
        ]
    service, queue, event = point.deliveries[0]
    labels = base | {"service": service, "queue": queue, "event": event}
    return {}, [
        (f"planforge_events_consumed_total{{{matchers(**labels, outcome='ok')}}}", _SCALE - failed),
        (f"planforge_events_consumed_total{{{matchers(**labels, outcome='dead_letter')}}}", failed),
    ]
