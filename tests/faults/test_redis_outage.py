"""Redis killed (SIGKILL) and restarted while subscribers on two real uvicorn
replicas wait, a `loangraph worker` tailing the stream: every subscriber gets
a clear end (SERVICE_UNAVAILABLE, resubscribe) rather than a silent gap;
resubscribed, it sees the change made during the outage and the next one.
Each replica counts and logs the outage, and its cache-invalidation consumer
restarts by itself."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import httpx
import pytest

from tests.faults.redis_proc import RedisProcess
from tests.ops.conftest import start_server, start_worker
from tests.subscriptions.client import (
    ACCEPT,
    http_gql,
    loan_with_invites,
    next_update,
    recv,
    token_for,
    transport_ws_subscribe,
)

pytestmark = pytest.mark.slow  # two uvicorn replicas, a worker, redis-server killed


@pytest.fixture
def stack(dynamodb_endpoint, tmp_path):
    redis = RedisProcess().start()
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    env = {
        "LOANGRAPH_TABLE_PREFIX": prefix,
        "LOANGRAPH_REDIS_URL": redis.url,
        "LOANGRAPH_STREAM_LEASE_SECONDS": "3",
    }
    a = start_server(dynamodb_endpoint, tmp_path, **env)
    b = start_server(dynamodb_endpoint, tmp_path, **env)
    worker = start_worker(dynamodb_endpoint, tmp_path, **env)
    try:
        yield redis, a, b
    finally:
        worker.stop()
        a.stop()
        b.stop()
        redis.stop()


async def end_of(ws) -> dict:
    """Read until the subscription ends; the error it ended with."""
    while True:
        msg = await recv(ws, timeout=15)
        if msg["type"] in ("ping", "pong", "ka"):
            continue
        return msg


async def resubscribe(base: str, tok: str, loan: str, timeout: float = 30.0):
    """Subscribe until the replica takes it (it refuses, with SERVICE_UNAVAILABLE,
    while its event bus reconnects); the socket and the first update."""
    deadline = time.monotonic() + timeout
    refused = 0
    while True:
        ws = await transport_ws_subscribe(base, tok, loan)
        msg = await end_of(ws)
        if msg["type"] == "next" and not msg["payload"].get("errors"):
            return ws, msg["payload"]["data"]["fundingProgress"], refused
        await ws.close()
        errors = msg["payload"]["errors"] if msg["type"] == "next" else msg["payload"]
        assert errors[0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", msg
        refused += 1
        assert time.monotonic() < deadline, "the replica never took the subscription again"
        await asyncio.sleep(0.2)


def metric(base: str, name: str) -> float:
    text = httpx.get(base + "/metrics", timeout=5).text
    m = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def test_redis_killed_and_restarted_under_two_replicas(stack) -> None:
    redis, a, b = stack
    borrower = f"b-{uuid.uuid4().hex[:6]}"
    lenders = [f"l{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
    loan, pids = await loan_with_invites(b.url, borrower, [f"{l}@example.com" for l in lenders])
    tok = token_for(borrower, f"{borrower}@example.com")
    subs = [await transport_ws_subscribe(s.url, tok, loan) for s in (a, b)]
    try:
        for ws in subs:
            assert (await next_update(ws, timeout=10))["totalFunded"] == "0.00"

        redis.kill()
        for ws in subs:
            msg = await end_of(ws)
            assert msg["type"] in ("next", "error"), msg
            errors = msg["payload"]["errors"] if msg["type"] == "next" else msg["payload"]
            assert errors[0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", msg
            assert "subscribe again" in errors[0]["message"]

        # A change while Redis is down commits (DynamoDB is fine) ...
        await http_gql(
            a.url,
            ACCEPT,
            {"i": {"participantId": pids[0]}},
            token_for(lenders[0], f"{lenders[0]}@example.com"),
        )
        for ws in subs:
            await ws.close()
        redis.start()

        # ... resubscribed, each replica's client sees it at once, then the next one.
        subs = []
        for s in (a, b):
            ws, first, _ = await resubscribe(s.url, tok, loan)
            subs.append(ws)
            assert first["totalFunded"] == "10.00"
        await http_gql(
            b.url,
            ACCEPT,
            {"i": {"participantId": pids[1]}},
            token_for(lenders[1], f"{lenders[1]}@example.com"),
        )
        for ws in subs:
            update = await next_update(ws, timeout=20)
            assert update["event"] == "PARTICIPANT_ACCEPTED" and update["totalFunded"] == "20.00"

        for s in (a, b):
            assert metric(s.url, "loangraph_broker_outages_total") >= 1
            assert metric(s.url, "loangraph_broker_reconnects_total") >= 1
            assert metric(s.url, "loangraph_cache_invalidation_restarts_total") >= 1
            lines = [json.loads(l) for l in s.log().splitlines() if l.startswith("{")]
            msgs = [l["msg"] for l in lines if l.get("logger") == "loangraph.events.broker"]
            assert any(m.startswith("redis broker: connection lost") for m in msgs), msgs
            assert any(m.startswith("redis broker: reconnected after") for m in msgs), msgs
            assert not any(l.get("level") == "error" and "Traceback" in str(l) for l in lines)
    finally:
        for ws in subs:
            await ws.close()
