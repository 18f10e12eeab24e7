"""GraphQL over HTTP conformance: graphql-http's `auditServer` against a real
server, and the status codes and media types we promise in docs/graphql-over-http.md."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from tests.ops.conftest import ROOT, LiveServer

AUDIT = ROOT / "tests/ops/graphql_http_audit.mjs"
GRJ = "application/graphql-response+json"

# Audits that end in `warn`, with the reason we accept each (docs/graphql-over-http.md).
ACCEPTED_WARNINGS: dict[str, str] = {}


def run_audit(url: str) -> list[dict]:
    out = subprocess.run(
        ["node", str(AUDIT), url], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/graphql", "/v1/graphql"])
def test_graphql_http_audits_pass(server: LiveServer, path: str) -> None:
    # given a running server; when graphql-http audits it
    results = run_audit(server.url + path)

    # then no audit ends in error and every warning is explained
    assert len(results) > 50
    errors = [r for r in results if r["status"] == "error"]
    assert not errors, json.dumps(errors, indent=1)
    warnings = [r for r in results if r["status"] == "warn" and r["id"] not in ACCEPTED_WARNINGS]
    assert not warnings, json.dumps(warnings, indent=1)


async def test_graphql_response_json_request_error_is_400_without_data(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/graphql", json={"query": "{ nope }"}, headers={"Accept": f"{GRJ}, application/json;q=0.9"}
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith(GRJ)
    body = r.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_application_json_keeps_200_for_legacy_clients(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/graphql", json={"query": "{ nope }"}, headers={"Accept": "application/json"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["errors"]


async def test_graphql_response_json_success(client: httpx.AsyncClient) -> None:
    r = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"Accept": GRJ})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(GRJ)
    assert r.json()["data"] == {"__typename": "Query"}


async def test_unacceptable_accept_is_406(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Accept": "application/xml"}
    )
    assert r.status_code == 406


async def test_non_json_body_is_415(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/graphql", content="{ __typename }", headers={"Content-Type": "application/graphql"}
    )
    assert r.status_code == 415
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_mutation_over_get_is_405(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


async def test_other_methods_are_405(client: httpx.AsyncClient) -> None:
    r = await client.put("/graphql", json={"query": "{ __typename }"})
    assert r.status_code == 405


async def test_unparsable_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/graphql", content="{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400


async def test_browser_get_renders_graphiql(client: httpx.AsyncClient) -> None:
    r = await client.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200
    assert "/assets/graphiql/graphiql.min.js" in r.text
