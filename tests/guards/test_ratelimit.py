"""Points per window: exhaustion and reset on both backends, headers, 429 with
retryAfter, one DynamoDB-backed budget shared by two app instances (replicas),
client addresses for unauthenticated callers, and subscriptions."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from guards import ratelimit
from guards.limits import GuardLimits
from tests.conftest import new_user
from tests.factories import make_loan
from tests.guards.conftest import app_client, post

# 1 + 10 = 11 points (see test_cost.py)
COSTS_11 = """{ loans(first: 10) { edges { node { participants(first: 5) {
  edges { node { participantId } } } } } } }"""
COSTS_1 = "{ rateLimit { cost remaining } }"


@pytest.fixture
def frozen_clock(monkeypatch):
    """The limiter's clock, 100 s into a window; `.advance(s)` moves it."""

    class Clock:
        now = (time.time() // 3600) * 3600 + 100

        def __call__(self) -> float:
            return self.now

        def advance(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(ratelimit, "clock", clock)
    return clock


@pytest.mark.parametrize("backend", ["memory", "dynamodb"])
async def test_exhaustion_and_reset(settings, token, frozen_clock, backend):
    v = new_user(f"rl-{backend}")
    t = token(v.user_id, v.email)
    async with app_client(settings, rate_limit_points=25, rate_limit_backend=backend) as c:
        # given a budget of 25 points: two 11-point queries pass
        r1 = await post(c, COSTS_11, token=t)
        r2 = await post(c, COSTS_11, token=t)
        assert [r1.status_code, r2.status_code] == [200, 200]
        assert [r1.headers["X-RateLimit-Remaining"], r2.headers["X-RateLimit-Remaining"]] == [
            "14",
            "3",
        ]
        assert r2.headers["X-RateLimit-Used"] == "22" and r2.headers["X-RateLimit-Limit"] == "25"
        reset = int(frozen_clock.now // 3600 * 3600 + 3600)
        assert r2.headers["X-RateLimit-Reset"] == str(reset)
        # when a third one would pass the limit
        r3 = await post(c, COSTS_11, token=t)
        # then it is refused with 429, RATE_LIMITED and when to retry; nothing was spent
        assert r3.status_code == 429
        body = r3.json()
        assert body["data"] is None
        ext = body["errors"][0]["extensions"]
        assert ext["code"] == "RATE_LIMITED"
        assert ext["retryAfter"] == 3500 and r3.headers["Retry-After"] == "3500"
        assert (ext["cost"], ext["remaining"], ext["limit"]) == (11, 3, 25)
        assert r3.headers["X-RateLimit-Remaining"] == "3"
        # a cheaper request still fits
        small = (await post(c, COSTS_1, token=t)).json()
        assert small["data"]["rateLimit"] == {"cost": 1, "remaining": 2}
        # and in the next window the budget is whole again
        frozen_clock.advance(3600)
        r4 = await post(c, COSTS_11, token=t)
        assert r4.status_code == 200 and r4.headers["X-RateLimit-Remaining"] == "14"


async def test_two_replicas_share_one_dynamodb_budget(settings, token, frozen_clock):
    v = new_user("replicas")
    t = token(v.user_id, v.email)
    async with (
        app_client(settings, rate_limit_points=30, rate_limit_backend="dynamodb") as a,
        app_client(settings, rate_limit_points=30, rate_limit_backend="dynamodb") as b,
    ):
        assert (await post(a, COSTS_11, token=t)).headers["X-RateLimit-Used"] == "11"
        assert (await post(b, COSTS_11, token=t)).headers["X-RateLimit-Used"] == "22"
        refused = await post(a, COSTS_11, token=t)
        assert refused.status_code == 429
        assert refused.json()["errors"][0]["extensions"]["remaining"] == 8
        refused = await post(b, COSTS_11, token=t)
        assert refused.status_code == 429


async def test_memory_budgets_are_per_process(settings, token, frozen_clock):
    v = new_user("memory")
    t = token(v.user_id, v.email)
    async with (
        app_client(settings, rate_limit_points=15, rate_limit_backend="memory") as a,
        app_client(settings, rate_limit_points=15, rate_limit_backend="memory") as b,
    ):
        assert (await post(a, COSTS_11, token=t)).status_code == 200
        assert (await post(b, COSTS_11, token=t)).status_code == 200
        assert (await post(a, COSTS_11, token=t)).status_code == 429


async def test_concurrent_spending_never_passes_the_limit(settings, token, frozen_clock):
    v = new_user("race")
    t = token(v.user_id, v.email)
    async with app_client(settings, rate_limit_points=55, rate_limit_backend="dynamodb") as c:
        results = await asyncio.gather(*(post(c, COSTS_11, token=t) for _ in range(12)))
    assert sorted(r.status_code for r in results) == [200] * 5 + [429] * 7


async def test_unauthenticated_callers_are_counted_by_address(settings, frozen_clock):
    async with app_client(settings, rate_limit_points=2) as c:
        assert (await post(c, "{ __typename }")).status_code == 200
        assert (await post(c, "{ __typename }")).headers["X-RateLimit-Remaining"] == "0"
        r = await post(c, "{ __typename }")
        assert r.status_code == 429
    caller = ratelimit.RateLimiter.caller_of(
        type("Ctx", (), {"viewer": None, "ip_address": "198.51.100.9"})()
    )
    assert caller == "ip:198.51.100.9"


async def _recv(ws) -> dict:
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] not in ("ping", "pong", "ka"):
            return msg


async def test_subscriptions_cost_points_and_are_capped_per_user(settings, token):
    import uvicorn
    from websockets.asyncio.client import connect

    from core.dynamodb_local import free_port
    from core.ids import to_global_id
    from server import create_app

    v = new_user("subs")
    loan = make_loan(v)
    loan.save()
    app = create_app(settings.with_(rate_limit_points=100), start_background=False)
    app.state.shared["guards"].limits = GuardLimits(max_subscriptions_per_user=2)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    sub = "subscription($id: ID!) { fundingProgress(loanId: $id) { totalFunded } }"
    payload = {"query": sub, "variables": {"id": to_global_id("Loan", loan.loan_id)}}
    limiter = app.state.shared["guards"].limiter
    try:
        url = f"ws://127.0.0.1:{server.config.port}/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {token(v.user_id, v.email)}"},
                    }
                )
            )
            assert (await _recv(ws))["type"] == "connection_ack"
            for op in ("1", "2"):
                await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
                msg = await _recv(ws)
                assert msg["type"] == "next" and msg["id"] == op, msg
                # opening one costs 10 points
                assert msg["payload"]["extensions"]["cost"]["requestedQueryCost"] == 10
            # when a third one opens while two are held
            await ws.send(json.dumps({"id": "3", "type": "subscribe", "payload": payload}))
            msg = await _recv(ws)
            assert msg["id"] == "3", msg
            errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
            assert errors[0]["extensions"] == {
                "code": "TOO_MANY_SUBSCRIPTIONS",
                "open": 2,
                "maxSubscriptions": 2,
            }
            # closing one frees its slot
            await ws.send(json.dumps({"id": "1", "type": "complete"}))
            for _ in range(250):
                if limiter.open_subscriptions(f"user:{v.user_id}") == 1:
                    break
                await asyncio.sleep(0.02)
            assert limiter.open_subscriptions(f"user:{v.user_id}") == 1
            await ws.send(json.dumps({"id": "4", "type": "subscribe", "payload": payload}))
            msg = await _recv(ws)
            assert msg["type"] == "next" and msg["id"] == "4", msg
            status = msg["payload"]["extensions"]["cost"]["throttleStatus"]
            assert status["currentlyAvailable"] == 70  # 3 opened at 10 points, the refused one free
        for _ in range(250):  # the connection closed: every slot is back
            if limiter.open_subscriptions(f"user:{v.user_id}") == 0:
                break
            await asyncio.sleep(0.02)
        assert limiter.open_subscriptions(f"user:{v.user_id}") == 0
    finally:
        server.should_exit = True
        await task
