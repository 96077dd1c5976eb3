"""Prometheus recording and alerting rules derived from the feature's observability section.

One recording rule per watched metric (the manifest's `metrics`, plus the metric each of its `alerts` needs) and
one alerting rule per alert and per service, integration point (flow) or queue it watches. Every expression
reads only metrics the runtime exports (planforge_runtime.metrics), Prometheus's own `up`, RabbitMQ's
`rabbitmq_queue_messages_ready` (rabbitmq_prometheus, in deployments) and the nginx exporter's `nginx_up`.
"""

from __future__ import annotations

from dataclasses import dataclass

from planforge.model import Flow, Model
from planforge.paths import template_matches
from planforge.promql import go_literal_text, matchers, regex_alternatives
from planforge.units import percent, seconds

__all__ = [
    "AlertRule",
    "FlowPoint",
    "Recording",
    "Rules",
    "job_names",
    "rules",
]

WINDOW = "1m"  # the rate window of every recording rule (a few scrapes at the 10s scrape interval)
# The `for` of alerts whose manifest key gives only a threshold: long enough to skip one slow scrape.
FOR_ERROR_RATE = "2m"
FOR_QUEUE_DEPTH = "2m"
FOR_LATENCY = "5m"
FAILED_OUTCOMES = "retry|dead_letter|poison"

REQUEST_RATE = "planforge:http_requests:rate1m"
ERROR_RATIO = "planforge:integration_errors:ratio_rate1m"
QUEUE_DEPTH = "planforge:queue_depth:max"
CACHE_HIT_RATIO = "planforge:cache_hits:ratio_rate1m"
P95 = "planforge:http_request_duration_seconds:p95_rate1m"


@dataclass(frozen=True, slots=True)
class Recording:
    """A recording rule: the series it records, its PromQL and extra labels."""

    record: str
    expr: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AlertRule:
    """An alerting rule with the entity it names (service, flow slug or queue) and its threshold."""

    name: str
    kind: str
    expr: str
    for_: str
    severity: str
    labels: tuple[tuple[str, str], ...]
    summary: str  # plain text, as it must read once Prometheus expanded it
    summary_template: str  # the annotation as written in rules.yaml (free text quoted in a Go action)
    threshold: float


@dataclass(frozen=True, slots=True)
class FlowPoint:
    """An integration point's measurable parts: (service, route template) and (service, queue, event)."""

    flow: Flow
    routes: tuple[tuple[str, str], ...]
    deliveries: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything rules.yaml holds, and the jobs its expressions read."""

    recordings: tuple[Recording, ...]
    alerts: tuple[AlertRule, ...]
    points: tuple[FlowPoint, ...]
    services_job: str
    gateway_job: str
    rabbitmq_job: str


def job_names(model: Model) -> tuple[str, str, str]:
    """Prometheus job names of the feature's services, gateway exporter and RabbitMQ endpoint."""
    return f"{model.slug}-services", f"{model.slug}-gateway", f"{model.slug}-rabbitmq"


def rules(model: Model) -> Rules:
    """The feature's recording and alerting rules."""
    services_job, gateway_job, rabbitmq_job = job_names(model)
    obs = model.policies.value["observability"]
    alerts = obs["alerts"]
    watched = set(obs["metrics"])
    watched |= {"error_rate"} if alerts.get("error_rate_above") else set()
    watched |= {"queue_depth"} if alerts.get("queue_depth_above") else set()
    watched |= {"latency"} if alerts.get("p95_latency_above") else set()
    points = flow_points(model)
    recordings: list[Recording] = []
    job = matchers(job=services_job)
    if "request_rate" in watched:
        recordings.append(Recording(REQUEST_RATE, f"sum by (service) (rate(http_requests_total{{{job}}}[{WINDOW}]))"))
    if "error_rate" in watched:
        recordings += [_error_ratio(point, services_job) for point in points]
    queues = [q.name for q in model.queues if q.consumers]
    if "queue_depth" in watched and queues:
        recordings.append(_queue_depth(queues, services_job, rabbitmq_job))
    if "cache_hit_ratio" in watched and model.caches:
        hits = f'sum by (service, cache) (rate(planforge_cache_requests_total{{{job},result="hit"}}[{WINDOW}]))'
        total = f"sum by (service, cache) (rate(planforge_cache_requests_total{{{job}}}[{WINDOW}]))"
        recordings.append(Recording(CACHE_HIT_RATIO, f"{hits} / {total}"))
    if "latency" in watched:
        buckets = f"rate(http_request_duration_seconds_bucket{{{job}}}[{WINDOW}])"
        recordings.append(Recording(P95, f"histogram_quantile(0.95, sum by (service, le) ({buckets}))"))
    return Rules(
        tuple(recordings),
        _alerts(model, alerts, points, queues, services_job, gateway_job),
        points,
        services_job,
        gateway_job,
        rabbitmq_job,
    )


def flow_points(model: Model) -> tuple[FlowPoint, ...]:
    """Each flow with something to measure: the routes its calls reach and the deliveries its steps consume."""
    result = []
    for flow in model.flows:
        routes: list[tuple[str, str]] = []
        for contract in flow.rest_contracts:
            method, path = contract.split(" ", 1)
            routes += [
                (s.name, r.path)
                for s in model.services
                for r in s.routes
                if r.method == method and template_matches(r.path, path.split("?", 1)[0])
            ]
        consumed = {(s.on, s.by) for s in flow.steps if s.on} | {
            (e, c) for e in flow.events if e not in {s.publishes for s in flow.steps} for c in _consumers(model, e)
        }
        deliveries = sorted(
            {(c.service, c.queue, c.event) for s in model.services for c in s.consumes if (c.event, s.name) in consumed}
        )
        if routes or deliveries:
            result.append(FlowPoint(flow, tuple(dict.fromkeys(routes)), tuple(deliveries)))
    return tuple(result)


def _consumers(model: Model, event: str) -> tuple[str, ...]:
    return next((e.consumers for e in model.events if e.name == event), ())


def _error_ratio(point: FlowPoint, job: str) -> Recording:
    """Failed HTTP answers (5xx) and failed deliveries over all of them, on the integration point's parts (read
    from http_requests_total's status, which exists from a route's first request, unlike a counter of errors)."""
    failed, total = [], []
    for service, route in point.routes:
        labels = matchers(job=job, service=service, route=route)
        failed.append(_sum_rate(f'http_requests_total{{{labels},status=~"5.."}}'))
        total.append(_sum_rate(f"http_requests_total{{{labels}}}"))
    for service, queue, event in point.deliveries:
        labels = matchers(job=job, service=service, queue=queue, event=event)
        failed.append(_sum_rate(f'planforge_events_consumed_total{{{labels},outcome=~"{FAILED_OUTCOMES}"}}'))
        total.append(_sum_rate(f"planforge_events_consumed_total{{{labels}}}"))
    expr = f"({' + '.join(failed)}) / ({' + '.join(total)})"
    return Recording(ERROR_RATIO, expr, (("flow", point.flow.slug),))


def _sum_rate(selector: str) -> str:
    """The summed rate of a counter, 0 when it has no series yet (a ratio of absent series would be empty)."""
    return f"(sum(rate({selector}[{WINDOW}])) or vector(0))"


def _queue_depth(queues: list[str], services_job: str, rabbitmq_job: str) -> Recording:
    """The deepest reading per queue: the consumers' gauge, or RabbitMQ's own metric where it is scraped."""
    names = regex_alternatives(queues)
    gauge = f"planforge_queue_messages{{{matchers(job=services_job, queue_re=names)}}}"
    broker = f"rabbitmq_queue_messages_ready{{{matchers(job=rabbitmq_job, queue_re=names)}}}"
    return Recording(QUEUE_DEPTH, f"max by (queue) ({gauge} or {broker})")


def _alerts(
    model: Model,
    alerts: dict[str, str | int | None],
    points: tuple[FlowPoint, ...],
    queues: list[str],
    job: str,
    gw: str,
) -> tuple[AlertRule, ...]:
    result: list[AlertRule] = []
    unavailable = alerts.get("unavailable_for")
    if isinstance(unavailable, str):
        for service in model.services:
            expr = f"up{{{matchers(job=job, service=service.name)}}} == 0"
            text = f"Service {service.name} is unavailable for more than {unavailable}"
            result.append(
                _alert("ServiceUnavailable", "unavailable", expr, unavailable, "critical", service.name, text)
            )
        if model.gateway is not None:
            expr = f"up{{{matchers(job=gw)}}} == 0 or nginx_up{{{matchers(job=gw)}}} == 0"
            text = f"The API gateway is unavailable for more than {unavailable}"
            result.append(_alert("GatewayUnavailable", "gateway", expr, unavailable, "critical", "gateway", text))
    error_rate = alerts.get("error_rate_above")
    if isinstance(error_rate, str):
        for point in points:
            expr = f"{ERROR_RATIO}{{{matchers(flow=point.flow.slug)}}} > {_number(percent(error_rate))}"
            text = f"Error rate above {error_rate} on integration point {point.flow.name}"
            result.append(
                _alert(
                    "IntegrationErrorRate",
                    "error_rate",
                    expr,
                    FOR_ERROR_RATE,
                    "critical",
                    point.flow.slug,
                    text,
                    percent(error_rate),
                )
            )
    depth = alerts.get("queue_depth_above")
    if isinstance(depth, int):
        for queue in queues:
            expr = f"{QUEUE_DEPTH}{{{matchers(queue=queue)}}} > {depth}"
            text = f"Queue {queue} holds more than {depth} messages"
            result.append(_alert("QueueDepth", "queue_depth", expr, FOR_QUEUE_DEPTH, "warning", queue, text, depth))
    latency = alerts.get("p95_latency_above")
    if isinstance(latency, str):
        for service in model.services:
            expr = f"{P95}{{{matchers(service=service.name)}}} > {_number(seconds(latency))}"
            text = f"Service {service.name} answers slower than {latency} (p95)"
            result.append(
                _alert("SlowResponses", "latency", expr, FOR_LATENCY, "warning", service.name, text, seconds(latency))
            )
    return tuple(result)


_ENTITY_LABEL = {"unavailable": "service", "gateway": "service", "error_rate": "flow"}
_ENTITY_LABEL |= {"queue_depth": "queue", "latency": "service"}


def _alert(
    name: str, kind: str, expr: str, for_: str, severity: str, entity: str, text: str, threshold: float = 0.0
) -> AlertRule:
    labels = (("severity", severity), (_ENTITY_LABEL[kind], entity))
    return AlertRule(name, kind, expr, for_, severity, labels, text, go_literal_text(text), threshold)


def _number(value: float) -> str:
    """A PromQL number literal without float noise: 0.05, 0.5, 2."""
    return repr(round(value, 9)).removesuffix(".0")
