"""Two real uvicorn replicas and a `loangraph worker` behind one DynamoDB Local
and a real redis-server: subscribe on one replica, change through the other."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.ops.conftest import start_server, start_worker
from tests.subscriptions.client import (
    ACCEPT,
    http_gql,
    loan_with_invites,
    next_update,
    token_for,
    transport_ws_subscribe,
)

pytestmark = pytest.mark.slow  # two uvicorn replicas and a worker


@pytest.fixture(scope="module")
def replicas(dynamodb_endpoint, redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replicas")
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    env = {"LOANGRAPH_TABLE_PREFIX": prefix, "LOANGRAPH_REDIS_URL": redis_url}
    a = start_server(dynamodb_endpoint, tmp, **env)
    b = start_server(dynamodb_endpoint, tmp, **env)
    worker = start_worker(dynamodb_endpoint, tmp, **env)
    try:
        yield a, b
    finally:
        worker.stop()
        a.stop()
        b.stop()


async def test_change_through_one_replica_reaches_a_subscriber_on_the_other(replicas):
    a, b = replicas
    borrower, lender = f"b-{uuid.uuid4().hex[:6]}", f"l-{uuid.uuid4().hex[:6]}"
    loan, (pid,) = await loan_with_invites(b.url, borrower, [f"{lender}@example.com"])
    ws = await transport_ws_subscribe(a.url, token_for(borrower, f"{borrower}@example.com"), loan)
    try:
        first = await next_update(ws, timeout=10)
        assert first["participantCount"] == 1 and first["totalFunded"] == "0.00"
        t0 = time.monotonic()
        await http_gql(
            b.url, ACCEPT, {"i": {"participantId": pid}}, token_for(lender, f"{lender}@example.com")
        )
        update = await next_update(ws, timeout=10)
        elapsed = time.monotonic() - t0
        assert update["event"] == "PARTICIPANT_ACCEPTED" and update["totalFunded"] == "10.00"
        assert elapsed < 2.0, f"cross-replica update took {elapsed:.2f}s"
    finally:
        await ws.close()


async def test_cache_on_the_other_replica_is_invalidated_by_the_event(replicas):
    a, b = replicas
    borrower, lender = f"b-{uuid.uuid4().hex[:6]}", f"l-{uuid.uuid4().hex[:6]}"
    loan, (pid,) = await loan_with_invites(b.url, borrower, [f"{lender}@example.com"])
    tb = token_for(borrower, f"{borrower}@example.com")
    q = "query($id: ID!) { loan(id: $id) { totalFunded } }"
    assert (await http_gql(a.url, q, {"id": loan}, tb))["loan"][
        "totalFunded"
    ] == "0.00"  # cached on A
    await http_gql(
        b.url, ACCEPT, {"i": {"participantId": pid}}, token_for(lender, f"{lender}@example.com")
    )
    deadline = time.monotonic() + 3
    while True:
        total = (await http_gql(a.url, q, {"id": loan}, tb))["loan"]["totalFunded"]
        if total == "10.00":
            break
        assert time.monotonic() < deadline, "replica A still serves the old value after the event"
        time.sleep(0.1)
