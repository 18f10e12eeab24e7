"""No N+1: the nested loans -> participants -> lender query makes at most 115
DynamoDB requests for 100 loans x 10 participants; the naive variant > 1,100."""

from __future__ import annotations

import httpx
import pytest

from bench.dataset import NESTED_QUERY, seed_nested
from bench.naive import NaiveLoaders
from core import db
from loaders import Loaders
from server import create_app
from tests.graphql_client import gql


@pytest.fixture(scope="module")
def dataset(settings):
    return seed_nested(100, 10, tag="batch")


async def _run(settings, token, naive: bool) -> tuple[dict, int]:
    app = create_app(settings, start_background=False)
    # cold: bypass the process cache, so every request reads the database
    app.state.graphql.loaders_factory = NaiveLoaders if naive else (lambda: Loaders(fresh=True))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as c:
        await gql(c, "{ viewer { userId } }", token=token)  # first use upserts the user
        before = db.TOTALS.total
        result = await gql(c, NESTED_QUERY, token=token)
        return result, db.TOTALS.total - before


async def test_nested_query_is_batched(settings, dataset, token):
    # given 100 loans with 10 accepted participants each, every one a distinct lender
    t = token(dataset.borrower.user_id, dataset.borrower.email)
    # when the borrower reads all loans, participants and lenders
    result, requests = await _run(settings, t, naive=False)
    # then all 1,000 lenders are there, read in at most 115 requests
    edges = result["data"]["loans"]["edges"]
    assert len(edges) == 100
    lenders = [
        p["node"]["lender"]["userId"] for e in edges for p in e["node"]["participants"]["edges"]
    ]
    assert len(lenders) == 1000 and len(set(lenders)) == 1000
    assert requests <= 115, requests
    # 1 page of loans + 100 participant Queries + 10 BatchGetItems of 100 users
    assert requests == 111


async def test_naive_variant_makes_over_1100_requests(settings, dataset, token):
    t = token(dataset.borrower.user_id, dataset.borrower.email)
    result, requests = await _run(settings, t, naive=True)
    assert len(result["data"]["loans"]["edges"]) == 100
    assert requests > 1100, requests
