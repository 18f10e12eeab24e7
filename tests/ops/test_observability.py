"""/metrics (parsed by prometheus-client's own parser), the JSON access log and
X-Request-ID."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops.logging import JsonFormatter
from tests.graphql_client import gql

VIEWER_AND_LOANS = """
query MyLoans {
  viewer { userId }
  loans(first: 5) { edges { node { id participants(first: 5) { edges { node { id } } } } } }
}
"""


def samples(text: str) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


async def test_metrics_exposition_parses_and_counts_a_request(
    client: httpx.AsyncClient, token
) -> None:
    # given one named query that reads DynamoDB
    body = await gql(client, VIEWER_AND_LOANS, token=token("metrics-user"))
    assert "errors" not in body, body

    # when /metrics is scraped
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    families = samples(r.text)

    # then the operation, its latency and its DynamoDB calls are there
    requests = families["loangraph_graphql_requests"]
    assert any(
        s.labels == {"operation": "MyLoans", "type": "query", "version": "current", "outcome": "ok"}
        and s.value >= 1
        for s in requests
    )
    assert any(
        s.name.endswith("_bucket") and s.labels.get("operation") == "MyLoans"
        for s in families["loangraph_graphql_request_duration_seconds"]
    )
    db_calls = families["loangraph_dynamodb_requests"]
    assert sum(s.value for s in db_calls if s.labels["outcome"] == "ok") > 0
    assert any(s.labels["operation"] == "Query" for s in db_calls)
    db_latency = families["loangraph_dynamodb_request_duration_seconds"]
    assert any(s.name.endswith("_count") for s in db_latency)
    for name in (
        "loangraph_dynamodb_throttles",
        "loangraph_dynamodb_errors",
        "loangraph_cache_requests",
        "loangraph_loader_batch_size",
        "loangraph_webhook_deliveries",
        "loangraph_subscriptions_open",
        "loangraph_websocket_connections_open",
        "loangraph_http_requests",
        "loangraph_http_request_duration_seconds",
    ):
        assert name in families, name
    assert {s.labels["protocol"] for s in families["loangraph_subscriptions_open"]} == {
        "graphql-transport-ws",
        "graphql-ws",
    }
    assert any(
        s.labels == {"route": "/graphql", "method": "POST", "status": "200"}
        for s in families["loangraph_http_requests"]
    )
    if importlib.util.find_spec("loaders.cache") is not None:
        caches = {s.labels["cache"] for s in families["loangraph_cache_requests"]}
        assert "records:loans" in caches
    if "events.stream" in sys.modules:
        assert "loangraph_event_stream_lag_seconds" in families


async def test_errors_are_counted_by_code(client: httpx.AsyncClient) -> None:
    await gql(client, "query Anonymous { viewer { userId } }")
    families = samples((await client.get("/metrics")).text)
    assert any(
        s.labels.get("operation") == "Anonymous" and s.labels["outcome"] == "UNAUTHENTICATED"
        for s in families["loangraph_graphql_requests"]
    )


async def test_operation_names_are_bounded(client: httpx.AsyncClient) -> None:
    from ops.metrics import operation_label

    assert operation_label(None) == "anonymous"
    assert operation_label("x" * 65) == "invalid"
    assert operation_label("has space") == "invalid"


async def test_request_id_is_accepted_and_returned(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": "req-abc-123"}
    )
    assert r.headers["x-request-id"] == "req-abc-123"

    generated = await client.post("/graphql", json={"query": "{ __typename }"})
    assert len(generated.headers["x-request-id"]) == 32

    too_long = await client.get("/healthz", headers={"X-Request-ID": "x" * 200})
    assert too_long.headers["x-request-id"] != "x" * 200


async def test_one_access_log_line_per_request(
    client: httpx.AsyncClient, token, caplog: pytest.LogCaptureFixture
) -> None:
    # when a named query runs with a request id
    with caplog.at_level(logging.INFO, logger="loangraph.access"):
        r = await client.post(
            "/graphql",
            json={"query": VIEWER_AND_LOANS},
            headers={"Authorization": f"Bearer {token('log-user')}", "X-Request-ID": "log-req-1"},
        )
    assert r.status_code == 200

    # then exactly one access line carries the request's facts
    lines = [
        rec
        for rec in caplog.records
        if rec.name == "loangraph.access" and getattr(rec, "request_id", None) == "log-req-1"
    ]
    assert len(lines) == 1
    line = lines[0]
    assert line.operation == "MyLoans"
    assert line.user == "log-user"
    assert line.status == 200
    assert line.duration_ms > 0
    assert line.dynamodb_calls >= 1
    assert line.dynamodb_calls == sum(line.dynamodb_by_operation.values())

    # and it formats as one JSON object
    parsed = json.loads(JsonFormatter().format(line))
    assert parsed["request_id"] == "log-req-1" and parsed["operation"] == "MyLoans"
    assert parsed["level"] == "info" and parsed["logger"] == "loangraph.access"


def test_tracing_is_optional() -> None:
    from ops import tracing

    has_otel = importlib.util.find_spec("opentelemetry") is not None
    assert tracing.available() == has_otel
    assert bool(tracing.extensions()) == has_otel
