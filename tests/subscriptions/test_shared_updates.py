"""One update per event, shared by the subscribers of a process (resolvers/
subscriptions.py `_from_event`, schema/event_memo.py, web/sockets.py): against a
real server and real sockets, every subscriber still gets its own operation id,
its own view of `loan`, and a lender removed in the meantime is refused."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.security.test_sockets import REMOVE, messages_for, open_socket, start
from tests.subscriptions.client import (
    ACCEPT,
    SUBSCRIPTION,
    http_gql,
    loan_with_invites,
    token_for,
)

WITH_LOAN = """subscription($id: ID!) { fundingProgress(loanId: $id) {
  event acceptedParticipantCount
  loan { participants(first: 10) { edges { node { lenderEmail } } } }
} }"""
ODD_ID = 'q"\\x'


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def emails(update: dict) -> list[str]:
    return sorted(e["node"]["lenderEmail"] for e in update["loan"]["participants"]["edges"])


async def test_a_shared_update_keeps_ids_access_and_revocation_per_subscriber(server):
    b, l1, l2, l3 = uid("b"), uid("l"), uid("l"), uid("l")
    mails = [f"{x}@example.com" for x in (l1, l2, l3)]
    loan, (p1, p2, _p3) = await loan_with_invites(server.url, b, mails)
    tb = token_for(b, f"{b}@example.com")
    borrower = await open_socket(server.url, "graphql-transport-ws", tb)
    second = await open_socket(server.url, "graphql-transport-ws", tb)
    legacy = await open_socket(server.url, "graphql-ws", tb)
    removed = await open_socket(server.url, "graphql-transport-ws", token_for(l2, mails[1]))
    lender = await open_socket(server.url, "graphql-transport-ws", token_for(l3, mails[2]))
    try:
        await start(borrower, "graphql-transport-ws", "a", SUBSCRIPTION, {"id": loan})
        await start(second, "graphql-transport-ws", ODD_ID, SUBSCRIPTION, {"id": loan})
        await start(legacy, "graphql-ws", "old", SUBSCRIPTION, {"id": loan})
        await start(removed, "graphql-transport-ws", "r", SUBSCRIPTION, {"id": loan})
        await start(lender, "graphql-transport-ws", "p", WITH_LOAN, {"id": loan})
        for ws, op in ((borrower, "a"), (second, ODD_ID), (legacy, "old"), (removed, "r")):
            initial = await messages_for(ws, op, 10)
            assert initial["type"] in ("next", "data")
            # The opening is charged, and its first message says so.
            assert initial["payload"]["extensions"]["cost"]["throttleStatus"]["used"] >= 10
        first = await messages_for(lender, "p", 10)
        assert emails(first["payload"]["data"]["fundingProgress"]) == [mails[2]]

        await http_gql(server.url, ACCEPT, {"i": {"participantId": p1}}, token_for(l1, mails[0]))
        a = await messages_for(borrower, "a", 10)
        odd = await messages_for(second, ODD_ID, 10)
        old = await messages_for(legacy, "old", 10)
        r = await messages_for(removed, "r", 10)
        assert a["type"] == odd["type"] == r["type"] == "next" and old["type"] == "data"
        assert odd["id"] == ODD_ID
        update = a["payload"]["data"]["fundingProgress"]
        assert update["event"] == "PARTICIPANT_ACCEPTED" and update["totalFunded"] == "10.00"
        assert odd["payload"]["data"] == a["payload"]["data"] == old["payload"]["data"]
        assert r["payload"]["data"] == a["payload"]["data"]
        # Updates cost nothing and repeat no rate-limit state: the same bytes
        # for every subscriber of the same selection, but for the operation id.
        assert "extensions" not in a["payload"] and "extensions" not in odd["payload"]
        assert "extensions" not in old["payload"] and "extensions" not in r["payload"]
        mine = (await messages_for(lender, "p", 10))["payload"]["data"]["fundingProgress"]
        assert mine["acceptedParticipantCount"] == 1
        assert emails(mine) == [mails[2]]  # a lender sees only their own participation

        # l2 is removed: refused and ended; the others carry on.
        d = await http_gql(server.url, REMOVE, {"i": {"participantId": p2, "reason": "x"}}, tb)
        assert d["removeParticipant"]["errors"] == []
        msg = await messages_for(removed, "r", 10)
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"].get("errors")
        assert errors and errors[0]["extensions"]["code"] == "FORBIDDEN", msg
        assert (await messages_for(removed, "r"))["type"] == "complete"
        after = (await messages_for(borrower, "a", 10))["payload"]["data"]["fundingProgress"]
        assert after["event"] == "PARTICIPANT_REMOVED" and after["participantCount"] == 2
        assert (await messages_for(second, ODD_ID, 10))["payload"]["data"][
            "fundingProgress"
        ] == after
        mine = (await messages_for(lender, "p", 10))["payload"]["data"]["fundingProgress"]
        assert mine["event"] == "PARTICIPANT_REMOVED" and emails(mine) == [mails[2]]
        with pytest.raises(asyncio.TimeoutError):
            await messages_for(removed, "r", timeout=1.0)
        # The four subscribers of one shape shared executions of those updates.
        metrics = httpx.get(server.url + "/metrics", timeout=10).text
        shared = [
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("loangraph_subscription_shared_results_total ")
        ]
        assert shared and shared[0] >= 3, shared
    finally:
        for ws in (borrower, second, legacy, removed, lender):
            await ws.close()
