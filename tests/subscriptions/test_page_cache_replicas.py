"""The page cache across replicas: two real uvicorn replicas, a `loangraph
worker` (the event dispatcher) and a real redis-server. A loan page repeated
on replica A makes no DynamoDB request (counted by A's own database client,
read from its /metrics); a change through replica B reaches A's cached pages
through the event pipeline within the event lag."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from tests.subscriptions.client import ACCEPT, http_gql, loan_with_invites, token_for
from tests.subscriptions.test_replicas import replicas  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow  # two uvicorn replicas and a worker

PAGE = """query($id: ID!) { loan(id: $id) {
  totalFunded
  participants(first: 10) { edges { node { lenderEmail status } } }
  fundingHistory(last: 5) { edges { node { totalFunded } } }
} }"""


def dynamodb_requests(base: str) -> float:
    text = httpx.get(base + "/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("loangraph_dynamodb_requests_total{")
    )


async def test_a_change_through_one_replica_invalidates_the_other_replicas_pages(
    replicas,  # noqa: F811
):
    for _ in range(2):
        await _round(*replicas)


async def _round(a, b) -> None:
    borrower, lender = f"b-{uuid.uuid4().hex[:6]}", f"l-{uuid.uuid4().hex[:6]}"
    loan, (pid,) = await loan_with_invites(b.url, borrower, [f"{lender}@example.com"])
    tb = token_for(borrower, f"{borrower}@example.com")
    first = (await http_gql(a.url, PAGE, {"id": loan}, tb))["loan"]
    assert first["participants"]["edges"][0]["node"]["status"] == "PENDING"

    # The events of the set-up (creation, invitation) reach A in their own time and
    # drop its pages; once they have, repeated reads cost A nothing.
    deadline = time.monotonic() + 15
    while True:
        before = dynamodb_requests(a.url)
        for _ in range(3):
            assert (await http_gql(a.url, PAGE, {"id": loan}, tb))["loan"] == first
        if dynamodb_requests(a.url) == before:
            break  # all three from A's memory
        assert time.monotonic() < deadline, "replica A keeps asking DynamoDB for an unchanged page"
        await asyncio.sleep(0.5)

    await http_gql(
        b.url, ACCEPT, {"i": {"participantId": pid}}, token_for(lender, f"{lender}@example.com")
    )
    t0 = time.monotonic()
    while True:
        page = (await http_gql(a.url, PAGE, {"id": loan}, tb))["loan"]
        if page["participants"]["edges"][0]["node"]["status"] == "ACCEPTED":
            break
        # the TTL (60 s) is far away: only the event can have done it (the bound is
        # loose: this machine is shared, the worker's stream polling is what lags)
        assert time.monotonic() - t0 < 10, "replica A still serves the old page after the event"
        await asyncio.sleep(0.05)
    assert page["fundingHistory"]["edges"][-1]["node"]["totalFunded"] == "10.00"
    assert page["totalFunded"] == "10.00"
