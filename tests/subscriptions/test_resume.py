"""fundingProgress resumes from a cursor: a client drops its socket while 50
changes are committed in quick succession, reconnects (to the other replica,
then to the same one) with the last cursor it saw, and sees every change
exactly once and in order, then continues live. Two real uvicorn replicas,
one DynamoDB Local, a real redis-server."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.ops.conftest import start_server
from tests.subscriptions.client import (
    ACCEPT,
    http_gql,
    loan_with_invites,
    recv,
    token_for,
    ws_connect,
)

pytestmark = pytest.mark.slow  # two uvicorn replicas

RESUME = """subscription($id: ID!, $after: String) { fundingProgress(loanId: $id, after: $after) {
  cursor event acceptedParticipantCount totalFunded } }"""


@pytest.fixture(scope="module")
def replicas(dynamodb_endpoint, redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    env = {"LOANGRAPH_TABLE_PREFIX": f"s{uuid.uuid4().hex[:8]}_", "LOANGRAPH_REDIS_URL": redis_url}
    a = start_server(dynamodb_endpoint, tmp, **env)
    b = start_server(dynamodb_endpoint, tmp, **env, LOANGRAPH_SERVER_EVENTS="always")
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


async def subscribe(base: str, token: str, loan: str, after: str | None):
    ws = await ws_connect(base, "graphql-transport-ws")
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    assert (await recv(ws))["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": RESUME, "variables": {"id": loan, "after": after}},
            }
        )
    )
    return ws


async def message(ws, timeout: float = 10.0) -> dict:
    while True:
        msg = await recv(ws, timeout)
        if msg["type"] not in ("ping", "pong", "ka"):
            return msg


async def update(ws, timeout: float = 10.0) -> dict:
    msg = await message(ws, timeout)
    assert msg["type"] == "next" and "errors" not in msg["payload"], msg
    return msg["payload"]["data"]["fundingProgress"]


async def test_reconnecting_with_the_last_cursor_misses_nothing(replicas):
    a, b = replicas
    n = 60
    borrower = f"b-{uuid.uuid4().hex[:6]}"
    lenders = [f"l{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    loan, pids = await loan_with_invites(
        b.url, borrower, [f"{x}@example.com" for x in lenders], amount="100000"
    )
    tb = token_for(borrower, f"{borrower}@example.com")

    async def accept(i: int) -> None:
        who = lenders[i]
        d = await http_gql(
            b.url if i % 2 else a.url,
            ACCEPT,
            {"i": {"participantId": pids[i]}},
            token_for(who, f"{who}@example.com"),
        )
        assert d["acceptInvitation"]["errors"] == [], d

    # given a subscriber on replica A that saw the state and five changes
    ws = await subscribe(a.url, tb, loan, None)
    first = await update(ws)
    assert first["acceptedParticipantCount"] == 0
    seen = []
    for i in range(5):
        await accept(i)
        seen.append(await update(ws))
    assert [u["acceptedParticipantCount"] for u in seen] == [1, 2, 3, 4, 5]
    cursor = seen[-1]["cursor"]
    # when its socket drops and 50 changes are committed in quick succession
    # (through both replicas, several at once)
    await ws.close()
    sem = asyncio.Semaphore(5)

    async def limited(i: int) -> None:
        async with sem:
            await accept(i)

    await asyncio.gather(*(limited(i) for i in range(5, 55)))
    # then reconnecting to replica B with the last cursor replays exactly those
    ws = await subscribe(b.url, tb, loan, cursor)
    replayed = [await update(ws) for _ in range(50)]
    counts = [u["acceptedParticipantCount"] for u in replayed]
    assert counts == list(range(6, 56))
    assert all(u["event"] == "PARTICIPANT_ACCEPTED" for u in replayed)
    assert len({u["cursor"] for u in seen + replayed}) == 55
    # and then continues live, with no duplicate at the seam
    await accept(55)
    live = await update(ws)
    assert live["acceptedParticipantCount"] == 56
    with pytest.raises(asyncio.TimeoutError):
        await message(ws, timeout=1.5)
    cursor = live["cursor"]
    await ws.close()

    # a second drop, reconnecting to the first replica this time
    for i in range(56, 60):
        await accept(i)
    ws = await subscribe(a.url, tb, loan, cursor)
    again = [await update(ws) for _ in range(4)]
    assert [u["acceptedParticipantCount"] for u in again] == [57, 58, 59, 60]
    with pytest.raises(asyncio.TimeoutError):
        await message(ws, timeout=1.5)
    await ws.close()

    # a cursor at the current state replays nothing; the initial state's cursor works too
    ws = await subscribe(b.url, tb, loan, None)
    now = await update(ws)
    await ws.close()
    assert now["acceptedParticipantCount"] == 60
    ws = await subscribe(a.url, tb, loan, now["cursor"])
    with pytest.raises(asyncio.TimeoutError):
        await message(ws, timeout=1.5)
    await ws.close()


async def test_foreign_or_tampered_cursors_are_refused(replicas):
    a, _ = replicas
    borrower = f"b-{uuid.uuid4().hex[:6]}"
    tb = token_for(borrower, f"{borrower}@example.com")
    loan1, _ = await loan_with_invites(a.url, borrower, [])
    loan2, _ = await loan_with_invites(a.url, borrower, [])
    ws = await subscribe(a.url, tb, loan1, None)
    cursor = (await update(ws))["cursor"]
    await ws.close()
    for loan, bad in ((loan2, cursor), (loan1, cursor[:-2] + "xx"), (loan1, "garbage")):
        ws = await subscribe(a.url, tb, loan, bad)
        msg = await message(ws)
        await ws.close()
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"].get("errors")
        assert errors and errors[0]["extensions"]["code"] == "BAD_USER_INPUT", msg
