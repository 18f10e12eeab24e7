"""The example clients resume on their own: the replica an example is connected
to restarts while changes are committed through another replica; the example
reconnects with the last cursor it printed and prints every missed change
exactly once, in order, then continues live. Real replicas, real redis-server,
the examples as documented."""

from __future__ import annotations

import asyncio
import uuid

import pytest

import tests.ops.conftest as ops
from tests.docs.test_examples import CLIENTS, Example
from tests.ops.conftest import start_server
from tests.subscriptions.client import ACCEPT, http_gql, loan_with_invites, token_for

pytestmark = pytest.mark.slow  # several uvicorn replicas, one restarted


@pytest.fixture(scope="module")
def cluster(dynamodb_endpoint, redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("examples-resume")
    env = {"LOANGRAPH_TABLE_PREFIX": f"x{uuid.uuid4().hex[:8]}_", "LOANGRAPH_REDIS_URL": redis_url}
    # B tails the audit stream; A only serves, so it can restart freely.
    b = start_server(dynamodb_endpoint, tmp, **env, LOANGRAPH_SERVER_EVENTS="always")
    a = start_server(dynamodb_endpoint, tmp, **env, LOANGRAPH_SERVER_EVENTS="never")
    servers = {"a": a, "b": b}

    def restart_a() -> None:
        """A again, on the same port (start_server takes its port from free_port)."""
        port = servers["a"].port
        original = ops.free_port
        ops.free_port = lambda: port
        try:
            servers["a"] = start_server(
                dynamodb_endpoint, tmp, **env, LOANGRAPH_SERVER_EVENTS="never"
            )
        finally:
            ops.free_port = original

    try:
        yield servers, restart_a
    finally:
        for s in servers.values():
            s.stop()


@pytest.mark.parametrize("client", ["node-graphql-ws", "python-gql"])
async def test_example_resumes_after_its_server_restarts(cluster, client):
    servers, restart_a = cluster
    a, b = servers["a"], servers["b"]
    borrower = f"b-{uuid.uuid4().hex[:6]}"
    lenders = [f"l{i}-{uuid.uuid4().hex[:6]}" for i in range(8)]
    loan, pids = await loan_with_invites(
        b.url, borrower, [f"{x}@example.com" for x in lenders], amount="1000"
    )
    tb = token_for(borrower, f"{borrower}@example.com")

    async def accept(i: int) -> None:
        who = lenders[i]
        d = await http_gql(
            b.url, ACCEPT, {"i": {"participantId": pids[i]}}, token_for(who, f"{who}@example.com")
        )
        assert d["acceptInvitation"]["errors"] == [], d

    ws = a.url.replace("http://", "ws://") + "/graphql"
    example = await Example.start(CLIENTS[client], [ws, tb, loan])
    try:
        assert (await example.update())["acceptedParticipantCount"] == 0
        await accept(0)
        assert (await example.update())["acceptedParticipantCount"] == 1
        # when its server goes away and five changes are committed elsewhere
        await asyncio.to_thread(a.stop)
        for i in range(1, 6):
            await accept(i)
        await asyncio.to_thread(restart_a)
        # then the example reconnects by itself and prints exactly the missed changes
        resumed = [await example.update(timeout=60) for _ in range(5)]
        assert [u["acceptedParticipantCount"] for u in resumed] == [2, 3, 4, 5, 6]
        assert all(u["event"] == "PARTICIPANT_ACCEPTED" for u in resumed)
        # and goes on live, with nothing repeated at the seam
        await accept(6)
        assert (await example.update(timeout=30))["acceptedParticipantCount"] == 7
        with pytest.raises(asyncio.TimeoutError):
            await example.update(timeout=2)
    finally:
        await example.kill()
