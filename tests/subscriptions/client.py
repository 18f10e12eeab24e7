"""Helpers: GraphQL over HTTP against a live server, and WebSocket clients for
both protocols Strawberry speaks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from core.auth import mint_token
from core.settings import Settings
from tests.conftest import TEST_JWT_SECRET

SETTINGS = Settings(jwt_secret=TEST_JWT_SECRET)


def token_for(sub: str, email: str, admin: bool = False) -> str:
    return mint_token(SETTINGS, sub=sub, email=email, admin=admin)


async def http_gql(base: str, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        body = r.json()
        assert "errors" not in body, body
        return body["data"]


SUBSCRIPTION = """subscription($id: ID!) { fundingProgress(loanId: $id) {
  loanId event totalFunded fundingPercentage participantCount acceptedParticipantCount isFullyFunded status version at
} }"""


async def ws_connect(base: str, protocol: str) -> ClientConnection:
    url = base.replace("http://", "ws://") + "/graphql"
    return await connect(url, subprotocols=[protocol], open_timeout=10)  # type: ignore[list-item]


async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def transport_ws_subscribe(
    base: str, token: str, loan_gid: str, op_id: str = "1"
) -> ClientConnection:
    ws = await ws_connect(base, "graphql-transport-ws")
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    assert (await recv(ws))["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": op_id,
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": {"id": loan_gid}},
            }
        )
    )
    return ws


async def next_update(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    while True:
        msg = await recv(ws, timeout)
        if msg["type"] in ("next", "data"):
            assert "errors" not in msg["payload"], msg
            return msg["payload"]["data"]["fundingProgress"]
        if msg["type"] in ("ping", "pong", "ka"):
            continue
        raise AssertionError(f"unexpected message {msg}")


CREATE = "mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { id } errors { code } } }"
INVITE = "mutation($i: InviteParticipantInput!) { inviteParticipant(input: $i) { participant { id } errors { code } } }"
ACCEPT = "mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { loan { totalFunded } errors { code } } }"
DELETE = "mutation($i: DeleteLoanInput!) { deleteLoan(input: $i) { loan { id } errors { code } } }"


async def loan_with_invites(
    base: str, borrower: str, emails: list[str], amount: str = "1000", each: str = "10"
) -> tuple[str, list[str]]:
    tb = token_for(borrower, f"{borrower}@example.com")
    d = await http_gql(
        base,
        CREATE,
        {"i": {"title": "Live", "amount": amount, "interestRate": "5", "termMonths": 12}},
        tb,
    )
    loan = d["createLoan"]["loan"]["id"]
    pids = []
    for e in emails:
        d = await http_gql(base, INVITE, {"i": {"loanId": loan, "email": e, "amount": each}}, tb)
        assert d["inviteParticipant"]["errors"] == [], d
        pids.append(d["inviteParticipant"]["participant"]["id"])
    return loan, pids
