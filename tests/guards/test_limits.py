"""Every query limit refuses with its code and figures, before anything runs."""

from __future__ import annotations

import json

import pytest
from graphql import get_introspection_query

from core import db
from guards.limits import GuardLimits
from tests.conftest import new_user
from tests.guards.conftest import app_client, post

# loan 1, participants 2, edges 3, node 4, loan 5, participants 6, edges 7, node 8, loan 9, <10>
DEPTH_10 = """query($id: ID!) { loan(id: $id) { participants { edges { node { loan { participants {
  edges { node { loan { loanId } } } } } } } } } }"""
DEPTH_11 = """query($id: ID!) { loan(id: $id) { participants { edges { node { loan { participants {
  edges { node { loan { borrower { userId } } } } } } } } } } }"""
ALIASES_30 = "{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }"
ALIASES_31 = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
TOKENS_OVER = "{ " + "__typename " * 10_001 + "}"
NODES_BY_IDS = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
# The classic introspection blow-up: types > fields > type > fields > type > fields.
INTROSPECTION_BOMB = (
    """{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"""
)
LOAN_GID = "TG9hbjptaXNzaW5n"  # Loan:missing


async def _refused(client, document, variables=None, token=None) -> dict:
    before = db.TOTALS.total
    r = await post(client, document, variables, token=token)
    assert db.TOTALS.total == before, "a refused query reached DynamoDB"
    body = r.json()
    assert body.get("data") is None, body
    (error,) = body["errors"]
    return error


@pytest.fixture
async def client(settings):
    async with app_client(settings) as c:
        yield c


@pytest.fixture
def bearer(token):
    v = new_user("limits")
    return token(v.user_id, v.email)


async def test_depth(client, bearer):
    await post(client, "{ viewer { userId } }", token=bearer)  # upsert the user first
    ok = (await post(client, DEPTH_10, {"id": LOAN_GID}, token=bearer)).json()
    assert "errors" not in ok and ok["data"] == {"loan": None}
    error = await _refused(client, DEPTH_11, {"id": LOAN_GID}, token=bearer)
    assert error["extensions"] == {"code": "QUERY_TOO_DEEP", "depth": 11, "maxDepth": 10}


async def test_aliases(client):
    ok = (await post(client, ALIASES_30)).json()
    assert ok["data"]["a29"] == "Query"
    error = await _refused(client, ALIASES_31)
    assert error["extensions"] == {"code": "TOO_MANY_ALIASES", "aliases": 31, "maxAliases": 30}


async def test_tokens(client):
    error = await _refused(client, TOKENS_OVER)
    assert error["extensions"] == {"code": "TOO_MANY_TOKENS", "maxTokens": 10_000}


async def test_introspection_runs_and_its_blow_up_does_not(client):
    ok = (await post(client, get_introspection_query())).json()
    assert ok["data"]["__schema"]["queryType"]["name"] == "Query"
    error = await _refused(client, INTROSPECTION_BOMB)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_list_inputs(client, bearer):
    await post(client, "{ viewer { userId } }", token=bearer)
    ok = (await post(client, NODES_BY_IDS, {"ids": [LOAN_GID] * 100}, token=bearer)).json()
    assert "errors" not in ok and len(ok["data"]["nodes"]) == 100
    error = await _refused(client, NODES_BY_IDS, {"ids": [LOAN_GID] * 101}, token=bearer)
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "variable": "ids",
        "items": 101,
        "maxItems": 100,
    }
    literal = "{ nodes(ids: [" + ", ".join(f'"{LOAN_GID}"' for _ in range(101)) + "]) { id } }"
    error = await _refused(client, literal, token=bearer)
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "argument": "ids",
        "items": 101,
        "maxItems": 100,
    }


async def test_body_size_is_413(client):
    before = db.TOTALS.total
    big = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (1024 * 1024)}})
    r = await client.post("/graphql", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "maxBytes": 1048576}

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(20):
            yield b" " * 65536

    r = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert db.TOTALS.total == before
    # just under the limit is fine
    ok = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (1024 * 1024 - 100)}})
    r = await client.post("/graphql", content=ok, headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["data"] == {"__typename": "Query"}


async def test_batches(client):
    r = await client.post(
        "/graphql", json=[{"query": "{ __typename }"}, {"query": "{ a: __typename }"}]
    )
    assert r.status_code == 200
    assert [b["data"] for b in r.json()] == [{"__typename": "Query"}, {"a": "Query"}]
    r = await client.post("/graphql", json=[{"query": "{ __typename }"}] * 11)
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"] == {
        "code": "TOO_MANY_OPERATIONS",
        "maxOperations": 10,
    }


async def test_limits_are_per_app(settings):
    async with app_client(settings, limits=GuardLimits(max_depth=2, max_batch_operations=1)) as c:
        error = await _refused(c, "{ loans { pageInfo { hasNextPage } } }")
        assert error["extensions"] == {"code": "QUERY_TOO_DEEP", "depth": 3, "maxDepth": 2}
        r = await c.post("/graphql", json=[{"query": "{ __typename }"}] * 2)
        assert r.status_code == 400
        assert r.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"
