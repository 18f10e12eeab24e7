"""fundingProgress end to end over a real server: both WebSocket protocols, the
initial state, ordered updates, close codes, and the end of a deleted loan."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from tests.subscriptions.client import (
    ACCEPT,
    DELETE,
    SUBSCRIPTION,
    http_gql,
    loan_with_invites,
    next_update,
    recv,
    token_for,
    transport_ws_subscribe,
    ws_connect,
)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_graphql_transport_ws_initial_state_then_updates_in_order(server):
    borrower = uid("b")
    lenders = [uid("l") for _ in range(3)]
    loan, pids = await loan_with_invites(
        server.url, borrower, [f"{l}@example.com" for l in lenders]
    )
    ws = await transport_ws_subscribe(
        server.url, token_for(borrower, f"{borrower}@example.com"), loan
    )
    try:
        first = await next_update(ws)
        assert (first["event"], first["totalFunded"], first["participantCount"]) == (
            "LOAN_UPDATED",
            "0.00",
            3,
        )
        for i, (lender, pid) in enumerate(zip(lenders, pids)):
            d = await http_gql(
                server.url,
                ACCEPT,
                {"i": {"participantId": pid}},
                token_for(lender, f"{lender}@example.com"),
            )
            assert d["acceptInvitation"]["errors"] == []
        totals = [await next_update(ws) for _ in lenders]

        assert [u["totalFunded"] for u in totals] == ["10.00", "20.00", "30.00"]
        assert [u["acceptedParticipantCount"] for u in totals] == [1, 2, 3]
        assert {u["event"] for u in totals} == {"PARTICIPANT_ACCEPTED"}
        assert all(u["at"].endswith("Z") for u in totals)
    finally:
        await ws.close()


async def test_legacy_graphql_ws_protocol(server):
    borrower, lender = uid("b"), uid("l")
    loan, (pid,) = await loan_with_invites(server.url, borrower, [f"{lender}@example.com"])
    ws = await ws_connect(server.url, "graphql-ws")
    try:
        await ws.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {
                        "authorization": f"Bearer {token_for(lender, f'{lender}@example.com')}"
                    },
                }
            )
        )
        assert (await recv(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "a",
                    "type": "start",
                    "payload": {"query": SUBSCRIPTION, "variables": {"id": loan}},
                }
            )
        )
        first = await next_update(ws)
        assert first["totalFunded"] == "0.00"
        await http_gql(
            server.url,
            ACCEPT,
            {"i": {"participantId": pid}},
            token_for(lender, f"{lender}@example.com"),
        )
        update = await next_update(ws)
        assert update["totalFunded"] == "10.00" and update["event"] == "PARTICIPANT_ACCEPTED"
    finally:
        await ws.close()


async def test_bad_init_is_closed_4403(server):
    ws = await ws_connect(server.url, "graphql-transport-ws")
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer forged"}})
    )
    with pytest.raises(ConnectionClosed) as info:
        await recv(ws)
    assert info.value.rcvd.code == 4403


async def test_missing_token_is_closed_4403(server):
    ws = await ws_connect(server.url, "graphql-transport-ws")
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    with pytest.raises(ConnectionClosed) as info:
        await recv(ws)
    assert info.value.rcvd.code == 4403


async def test_forbidden_subscription_gets_an_error(server):
    borrower, stranger = uid("b"), uid("s")
    loan, _ = await loan_with_invites(server.url, borrower, [])
    ws = await transport_ws_subscribe(
        server.url, token_for(stranger, f"{stranger}@example.com"), loan
    )
    try:
        msg = await recv(ws)
        assert msg["type"] == "error" or (msg["type"] == "next" and msg["payload"].get("errors")), (
            msg
        )
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    finally:
        await ws.close()


async def test_duplicate_subscription_id_is_closed_4409(server):
    borrower = uid("b")
    loan, _ = await loan_with_invites(server.url, borrower, [])
    ws = await transport_ws_subscribe(
        server.url, token_for(borrower, f"{borrower}@example.com"), loan, op_id="dup"
    )
    await next_update(ws)
    await ws.send(
        json.dumps(
            {
                "id": "dup",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": {"id": loan}},
            }
        )
    )
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(5):
            await recv(ws)
    assert info.value.rcvd.code == 4409


async def test_deleted_loan_ends_the_subscription(server):
    borrower = uid("b")
    loan, _ = await loan_with_invites(server.url, borrower, [])
    tb = token_for(borrower, f"{borrower}@example.com")
    ws = await transport_ws_subscribe(server.url, tb, loan)
    try:
        await next_update(ws)
        await http_gql(server.url, DELETE, {"i": {"id": loan, "reason": "gone"}}, tb)
        last = await next_update(ws)
        assert last["event"] == "LOAN_DELETED"
        msg = await recv(ws)
        assert msg == {"id": "1", "type": "complete"}
    finally:
        await ws.close()


async def test_200_rapid_changes_arrive_in_order_without_loss(server):
    borrower = uid("b")
    n = 40  # 40 invitations + 40 acceptances = 80 changes... plus 120 more below
    lenders = [uid("l") for _ in range(n)]
    loan, pids = await loan_with_invites(
        server.url, borrower, [f"{l}@example.com" for l in lenders], amount="100000", each="1"
    )
    tb = token_for(borrower, f"{borrower}@example.com")
    ws = await transport_ws_subscribe(server.url, tb, loan)
    try:
        await next_update(ws)
        # 200 changes: 40 acceptances racing, then 160 terms updates in sequence
        await asyncio.gather(
            *(
                http_gql(
                    server.url,
                    ACCEPT,
                    {"i": {"participantId": p}},
                    token_for(l, f"{l}@example.com"),
                )
                for l, p in zip(lenders, pids)
            )
        )
        upd = "mutation($i: UpdateLoanTermsInput!) { updateLoanTerms(input: $i) { loan { version } errors { code } } }"
        for v in range(1, 161):
            d = await http_gql(
                server.url,
                upd,
                {
                    "i": {
                        "id": loan,
                        "expectedVersion": v,
                        "changeReason": "tick",
                        "termMonths": 12 + v % 2,
                    }
                },
                tb,
            )
            assert d["updateLoanTerms"]["errors"] == [], d
        got = [await next_update(ws, timeout=10) for _ in range(200)]
        accepted = [u["acceptedParticipantCount"] for u in got[:40]]
        assert accepted == list(range(1, 41))  # each acceptance once, in commit order
        assert [u["version"] for u in got[40:]] == list(range(2, 162))
    finally:
        await ws.close()


async def test_bad_variables_get_a_coded_error_message(server):
    b = uid("b")
    ws = await ws_connect(server.url, "graphql-transport-ws")
    try:
        await ws.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {token_for(b, f'{b}@example.com')}"},
                }
            )
        )
        assert (await recv(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "v",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {}},
                }
            )
        )
        msg = await recv(ws)
        assert msg["type"] == "error" and msg["id"] == "v"
        assert msg["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    finally:
        await ws.close()
