"""A process that starts while redis-server is down (the worker restarted during
an outage, as the chaos soak does) starts anyway and joins the bus once Redis is
back, instead of dying at start and leaving events undispatched."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from events.broker import RedisBroker
from events.types import DomainEvent
from tests.faults.redis_proc import RedisProcess


async def test_a_broker_started_during_an_outage_joins_when_redis_returns() -> None:
    redis = RedisProcess()  # its port, nothing listening yet: Redis is down
    late = RedisBroker(redis.url, "start-outage")
    await late.start()  # no exception: the process comes up
    try:
        assert not late.available
        redis.start()
        deadline = time.monotonic() + 15
        while not late.available and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert late.available, "the broker did not reconnect once Redis was up"
        sub = late.subscribe_all()
        other = RedisBroker(redis.url, "start-outage")
        await other.start()
        try:
            event = DomainEvent(
                id="e1",
                type="LOAN_UPDATED",
                loan_id="L1",
                seq=1,
                occurred_at=dt.datetime.now(dt.UTC),
                actor_id=None,
                record_id="L1",
                table_name="loans",
                action="UPDATE",
                borrower_id="b1",
            )
            await other.publish(event)
            got = await asyncio.wait_for(sub.__anext__(), 10)
            assert got.id == "e1"
        finally:
            sub.close()
            await other.stop()
    finally:
        await late.stop()
        redis.stop()
