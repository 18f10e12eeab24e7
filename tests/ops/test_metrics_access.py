"""/metrics kept from the API listener: behind LOANGRAPH_METRICS_TOKEN, or moved
to LOANGRAPH_METRICS_PORT, against real `loangraph serve` processes."""

from __future__ import annotations

import signal

import httpx
import pytest

from core.dynamodb_local import free_port
from core.settings import Settings
from tests.ops.conftest import start_server

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def token_server(dynamodb_endpoint, tmp_path_factory):
    server = start_server(
        dynamodb_endpoint, tmp_path_factory.mktemp("mtoken"), LOANGRAPH_METRICS_TOKEN=METRICS_TOKEN
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def port_server(dynamodb_endpoint, tmp_path_factory):
    metrics_port = free_port()
    server = start_server(
        dynamodb_endpoint,
        tmp_path_factory.mktemp("mport"),
        LOANGRAPH_METRICS_PORT=str(metrics_port),
    )
    try:
        yield server, metrics_port
    finally:
        server.stop()


def test_token_required_on_the_api_port(token_server) -> None:
    url = token_server.url + "/metrics"
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-of-the-same-length-0123"},
        {"Authorization": METRICS_TOKEN},  # no scheme
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
    ):
        r = httpx.get(url, headers=headers, timeout=5)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "loangraph_" not in r.text
    r = httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5)
    assert r.status_code == 200
    assert "loangraph_" in r.text and "process_" in r.text
    # the API itself does not need it
    assert httpx.get(token_server.url + "/healthz", timeout=5).status_code == 200


def test_metrics_port_moves_metrics_off_the_api_port(port_server) -> None:
    server, metrics_port = port_server
    # the API port: no /metrics at all
    assert httpx.get(server.url + "/metrics", timeout=5).status_code == 404
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
    # the metrics port: /metrics only, and it counts the API's own traffic
    httpx.post(server.url + "/graphql", json={"query": "{ __typename }"}, timeout=5)
    r = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    assert r.status_code == 200
    served = [
        line
        for line in r.text.splitlines()
        if line.startswith("loangraph_graphql_requests_total{") and not line.endswith(" 0.0")
    ]
    assert served, r.text[:2000]
    for path in ("/graphql", "/healthz", "/"):
        assert httpx.get(f"http://127.0.0.1:{metrics_port}{path}", timeout=5).status_code == 404
    # SIGTERM stops both listeners cleanly (uvicorn re-raises the signal once
    # shut down, hence -SIGTERM)
    assert server.stop() in (0, -signal.SIGTERM), server.log()[-2000:]
    assert "Traceback" not in server.log()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)


def test_settings_refuse_unsafe_metrics_configuration(monkeypatch) -> None:
    with pytest.raises(ValueError, match="METRICS_PORT must differ"):
        Settings(port=8000, metrics_port=8000)
    with pytest.raises(ValueError, match="at least 16"):
        Settings(metrics_token="short")
    monkeypatch.setenv("LOANGRAPH_METRICS_PORT", "nine")
    with pytest.raises(ValueError, match="not a number"):
        Settings.from_env()
    monkeypatch.setenv("LOANGRAPH_METRICS_PORT", "9100")
    monkeypatch.setenv("LOANGRAPH_METRICS_TOKEN", METRICS_TOKEN)
    s = Settings.from_env()
    assert (s.metrics_port, s.metrics_token) == (9100, METRICS_TOKEN)
