"""Prometheus metrics, exposed at `/metrics` (docs/operations.md lists them).

Everything registers on prometheus-client's default registry, so metrics
other packages define (events/: `loangraph_event_stream_lag_seconds`) appear
at `/metrics` too. Label values that clients control (operation names) are
bounded: at most `MAX_OPERATION_NAMES` distinct names, the rest are `other`.

Where /metrics is served: ops/metrics_http.py; the WebSocket handlers the
subscription gauges count: ops/metrics_ws.py (both re-exported here).

Hooks for other layers (call them, do not import prometheus-client there):
* `record_cache(cache, hit)`: a process cache lookup.
* `register_cache(name, stats)`: a process cache's counters (loaders/).
* `on_loader_batch(loader, size)`: one DataLoader batch (loaders/).
* `record_webhook_delivery(status)`: one delivery attempt's outcome, from
  events/webhooks/deliverer.py: `delivered` (2xx), `retrying` (failed, another attempt
  is scheduled) or `failed` (failed and past the retry horizon: given up).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from strawberry.extensions import SchemaExtension

from core import retry
from ops.metrics_http import api_routes, metrics_endpoint, metrics_port_hook, token_endpoint
from ops.metrics_ws import (
    TrackedTransportWSHandler,
    TrackedWSHandler,
    open_connections,
    open_subscriptions,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_OPERATION_NAMES = 200

GRAPHQL_REQUESTS = Counter(
    "loangraph_graphql_requests_total",
    "GraphQL operations executed, by operation name, type, API version and outcome "
    "(`ok` or the first error code, e.g. BAD_USER_INPUT, SERVICE_UNAVAILABLE)",
    ["operation", "type", "version", "outcome"],
)
GRAPHQL_LATENCY = Histogram(
    "loangraph_graphql_request_duration_seconds",
    "Time to execute a GraphQL operation (parse, validate, execute)",
    ["operation", "type", "version"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "loangraph_http_requests_total",
    "HTTP requests by route, method and status code",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "loangraph_http_request_duration_seconds",
    "HTTP request duration by route",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
DB_REQUESTS = Counter(
    "loangraph_dynamodb_requests_total",
    "DynamoDB API calls by operation and outcome (`ok` or the error code after retries)",
    ["operation", "outcome"],
)
DB_LATENCY = Histogram(
    "loangraph_dynamodb_request_duration_seconds",
    "DynamoDB API call duration, retries included, by operation",
    ["operation"],
    buckets=DB_BUCKETS,
)
DB_THROTTLES = Counter(
    "loangraph_dynamodb_throttles_total",
    "DynamoDB attempts refused by throttling (each retried attempt counts), by operation",
    ["operation"],
)
DB_FAILED_ATTEMPTS = Counter(
    "loangraph_dynamodb_failed_attempts",
    "DynamoDB attempts that failed (throttled, 5xx, timed out, dropped...), retried by "
    "botocore or final, by operation and error code",
    ["operation", "code"],
)
DB_ERRORS = Counter(
    "loangraph_dynamodb_errors_total",
    "DynamoDB API calls that failed after retries, by operation and error code",
    ["operation", "code"],
)
LOADER_BATCH = Histogram(
    "loangraph_loader_batch_size",
    "Keys per DataLoader batch, by loader",
    ["loader"],
    buckets=(1, 2, 5, 10, 25, 50, 100),
)
WEBHOOK_DELIVERIES = Counter(
    "loangraph_webhook_deliveries_total",
    "Webhook delivery attempts by outcome",
    ["status"],
)

THROTTLE_CODES = retry.THROTTLE_CODES
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")
_names: set[str] = set()
_names_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    """A bounded label value for a client-chosen operation name."""
    if not name:
        return "anonymous"
    if not _NAME.match(name):
        return "invalid"
    with _names_lock:
        if name in _names:
            return name
        if len(_names) >= MAX_OPERATION_NAMES:
            return "other"
        _names.add(name)
        return name


# ---------------------------------------------------------------- hooks
_cache_counts: dict[tuple[str, str], int] = {}
_cache_lock = threading.Lock()


def record_cache(cache: str, hit: bool) -> None:
    key = (cache, "hit" if hit else "miss")
    with _cache_lock:
        _cache_counts[key] = _cache_counts.get(key, 0) + 1


# The process caches (loaders/) report here: name -> a function returning their
# counters ("hits", "misses", "invalidations"; the page cache also "evictions"
# and "rows"). ops imports nothing above core: the caches register themselves.
CacheStats = Callable[[], Mapping[str, int]]
_cache_sources: dict[str, CacheStats] = {}


def register_cache(name: str, stats: CacheStats) -> None:
    """A process cache's counters, read at scrape time (idempotent by name)."""
    _cache_sources[name] = stats


def cache_counts() -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """(lookups by (cache, result), invalidations by cache): the registered caches
    (the record cache per table as `records:<table>`, the page cache as `pages`)
    plus `record_cache`."""
    with _cache_lock:
        lookups = dict(_cache_counts)
    invalidations: dict[str, int] = {}
    for name, source in list(_cache_sources.items()):
        st = source()
        lookups[(name, "hit")] = lookups.get((name, "hit"), 0) + int(st.get("hits", 0))
        lookups[(name, "miss")] = lookups.get((name, "miss"), 0) + int(st.get("misses", 0))
        invalidations[name] = int(st.get("invalidations", 0))
    return lookups, invalidations


def record_webhook_delivery(status: str) -> None:
    WEBHOOK_DELIVERIES.labels(status.lower()).inc()


def on_db_call(operation: str, seconds: float, error: str | None) -> None:
    """core.db CALL_LISTENERS: one finished DynamoDB API call."""
    DB_REQUESTS.labels(operation, error or "ok").inc()
    DB_LATENCY.labels(operation).observe(seconds)
    if error:
        DB_ERRORS.labels(operation, error).inc()


def on_db_attempt_failed(operation: str, error: str) -> None:
    """core.db ATTEMPT_LISTENERS: one failed attempt (retried or final)."""
    DB_FAILED_ATTEMPTS.labels(operation, error).inc()
    if error in THROTTLE_CODES:
        DB_THROTTLES.labels(operation).inc()


def on_loader_batch(loader: str, size: int) -> None:
    LOADER_BATCH.labels(loader).observe(size)


# ---------------------------------------------------------------- live gauges
class _LiveCollector(Collector):
    """Gauges computed at scrape time from live objects."""

    def collect(self) -> Iterable[Any]:
        subs = GaugeMetricFamily(
            "loangraph_subscriptions_open",
            "Open GraphQL subscriptions by WebSocket protocol",
            labels=["protocol"],
        )
        for protocol, n in open_subscriptions().items():
            subs.add_metric([protocol], n)
        yield subs
        yield GaugeMetricFamily(
            "loangraph_websocket_connections_open",
            "Open GraphQL WebSocket connections",
            value=open_connections(),
        )
        lookups, invalidations = cache_counts()
        requests = CounterMetricFamily(
            "loangraph_cache_requests",
            "Process cache lookups by cache and result (hit, miss)",
            labels=["cache", "result"],
        )
        for (cache, result), n in sorted(lookups.items()):
            requests.add_metric([cache, result], n)
        yield requests
        evicted = CounterMetricFamily(
            "loangraph_cache_invalidations",
            "Process cache invalidations (own writes and events) by cache",
            labels=["cache"],
        )
        for cache, n in sorted(invalidations.items()):
            evicted.add_metric([cache], n)
        yield evicted
        source = _cache_sources.get("pages")
        pages = source() if source is not None else {}
        yield CounterMetricFamily(
            "loangraph_page_cache_evictions",
            "Pages the page cache dropped for room (LOANGRAPH_PAGE_CACHE_SIZE)",
            value=pages.get("evictions", 0),
        )
        yield GaugeMetricFamily(
            "loangraph_page_cache_rows",
            "Rows held by the page cache (its size limit counts these)",
            value=pages.get("rows", 0),
        )


disable_created_metrics()  # `_created` series double the output for little use
REGISTRY.register(_LiveCollector())
INFLIGHT = Gauge("loangraph_http_requests_in_flight", "HTTP requests being served")


# ---------------------------------------------------------------- GraphQL
def _version(ctx: Any) -> str:
    request = getattr(ctx, "request", None)
    path = request.scope.get("path", "") if request is not None else ""
    return path.split("/")[1] if path.count("/") >= 2 and path.startswith("/v") else "current"


class MetricsExtension(SchemaExtension):
    """Counts and times every operation; leaves operation name, type, outcome and
    user in the request scope for the access log (ops.logging)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        ec = self.execution_context
        try:
            op_type = ec.operation_type.value
        except RuntimeError:  # the document did not parse
            op_type = "unknown"
        name = operation_label(ec.operation_name)
        codes = [
            str((e.extensions or {}).get("code", "INTERNAL_SERVER_ERROR"))
            for e in (ec.result.errors if ec.result and ec.result.errors else [])
        ]
        outcome = codes[0] if codes else "ok"
        version = _version(ec.context)
        GRAPHQL_REQUESTS.labels(name, op_type, version, outcome).inc()
        GRAPHQL_LATENCY.labels(name, op_type, version).observe(elapsed)
        request = getattr(ec.context, "request", None)
        if request is not None and op_type != "subscription":
            viewer = getattr(ec.context, "viewer", None)
            info = request.scope.setdefault("state", {}).setdefault("loangraph", {})
            info.update(
                operation=ec.operation_name or None,
                operation_type=op_type,
                outcome=outcome,
                error_codes=sorted(set(codes)),
                user=getattr(viewer, "user_id", None),
            )


_installed = False


def install() -> None:
    """Connect the listeners of core.db (idempotent)."""
    global _installed
    if _installed:
        return
    from core import db

    db.CALL_LISTENERS.append(on_db_call)
    db.ATTEMPT_LISTENERS.append(on_db_attempt_failed)
    _installed = True


__all__ = [
    "MetricsExtension",
    "TrackedTransportWSHandler",
    "TrackedWSHandler",
    "api_routes",
    "install",
    "metrics_endpoint",
    "metrics_port_hook",
    "open_connections",
    "open_subscriptions",
    "operation_label",
    "record_cache",
    "record_webhook_delivery",
    "token_endpoint",
]
