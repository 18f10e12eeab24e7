"""The admission analysis is cached per document (guards.analyses), and the cache
never lets a request through that the uncached checks would refuse: the figures
follow the variables that change them, the limits are part of the key, and the
variables' own checks run on every request."""

from __future__ import annotations

import pytest

from core import db
from guards.cost import analyze
from guards.limits import GuardLimits
from schema import default_schema
from tests.conftest import new_user
from tests.guards.conftest import app_client, post

PAGED = """query Paged($n: Int, $m: Int = 3) { loans(first: $n) { edges { node {
  loanId participants(first: $m) { edges { node { participantId } } } } } } }"""
BY_IDS = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
LIMITS = GuardLimits(max_cost=50)


@pytest.fixture
def bearer(token):
    v = new_user("analyses")
    return token(v.user_id, v.email)


def _cost(body: dict) -> int:
    assert "errors" not in body, body
    return body["extensions"]["cost"]["requestedQueryCost"]


async def _refusal(client, document, variables, token) -> dict:
    before = db.TOTALS.total
    body = (await post(client, document, variables, token=token)).json()
    assert db.TOTALS.total == before, "a refused query reached DynamoDB"
    assert body.get("data") is None, body
    (error,) = body["errors"]
    return error["extensions"]


async def test_a_cheap_run_does_not_admit_an_expensive_one(settings, bearer):
    async with app_client(settings, limits=LIMITS) as client:
        await post(client, "{ viewer { userId } }", token=bearer)
        cache = client.app.state.shared["guards"].analyses
        assert _cost((await post(client, PAGED, {"n": 5}, token=bearer)).json()) == 6
        # the same document, pages that multiply past max_cost: refused, with
        # the figures of these variables, not of the run cached before
        refused = await _refusal(client, PAGED, {"n": 60}, bearer)
        assert refused["code"] == "QUERY_TOO_COMPLEX"
        assert refused["cost"] == 61 and refused["maxCost"] == 50
        hits = cache.hits
        assert _cost((await post(client, PAGED, {"n": 5}, token=bearer)).json()) == 6
        assert cache.hits == hits + 1  # the first analysis, from the cache
        # absent, explicit null and the default are different inputs to the formula
        for variables in ({}, {"n": None}, {"n": 2, "m": None}, {"n": 2, "m": 40}, {"n": 49}):
            expected = analyze(default_schema()._schema, _parse(PAGED), None, variables)
            body = (await post(client, PAGED, variables, token=bearer)).json()
            if expected.cost > LIMITS.max_cost:
                assert body["errors"][0]["extensions"]["cost"] == expected.cost
            else:
                assert _cost(body) == expected.cost, variables


async def test_list_variables_are_checked_on_every_request(settings, bearer):
    async with app_client(settings) as client:
        ok = await post(client, BY_IDS, {"ids": ["TG9hbjptaXNzaW5n"] * 3}, token=bearer)
        assert ok.json()["data"] == {"nodes": [None, None, None]}
        refused = await _refusal(client, BY_IDS, {"ids": ["TG9hbjptaXNzaW5n"] * 101}, bearer)
        assert refused["code"] == "BAD_USER_INPUT" and refused["items"] == 101
        deep: object = "x"
        for _ in range(40):
            deep = [deep]
        refused = await _refusal(client, BY_IDS, {"ids": ["a"], "pad": deep}, bearer)
        assert refused["code"] == "BAD_USER_INPUT"


async def test_limits_swapped_after_a_document_was_cached(settings, bearer):
    async with app_client(settings) as client:
        await post(client, "{ viewer { userId } }", token=bearer)
        assert _cost((await post(client, PAGED, {"n": 5}, token=bearer)).json()) == 6
        guards = client.app.state.shared["guards"]
        guards.limits = GuardLimits(max_expanded_fields=5)
        refused = await _refusal(client, PAGED, {"n": 5}, bearer)
        assert refused == {"code": "QUERY_TOO_COMPLEX", "maxExpandedFields": 5}
        guards.limits = GuardLimits(max_depth=4)
        refused = await _refusal(client, PAGED, {"n": 5}, bearer)
        assert refused["code"] == "QUERY_TOO_DEEP"
        literal = '{ nodes(ids: ["TG9hbjptaXNzaW5n", "TG9hbjptaXNzaW5n"]) { id } }'
        guards.limits = GuardLimits()
        ok = (await post(client, literal, token=bearer)).json()
        assert ok["data"] == {"nodes": [None, None]}
        guards.limits = GuardLimits(max_list_items=1)
        refused = await _refusal(client, literal, None, bearer)
        assert refused["code"] == "BAD_USER_INPUT" and refused["items"] == 2


def _parse(text: str):
    from graphql import parse

    return parse(text)
