"""Redis pub/sub carries events between broker instances (replicas)."""

from __future__ import annotations

import asyncio
import random

from core import db
from events.broker import RedisBroker
from events.dispatcher import EventDispatcher
from events.types import DomainEvent
from tests.events.conftest import audit_entry, new_id, write_audit


def _ev(loan: str, seq: int) -> DomainEvent:
    ev = DomainEvent.from_audit_entry(audit_entry(loan, seq))
    assert ev is not None
    return ev


async def test_events_cross_broker_instances_in_order(redis_url: str) -> None:
    channel = f"test-{new_id('ch')}"
    a, b = (
        RedisBroker(redis_url, channel, gap_wait=1.0),
        RedisBroker(redis_url, channel, gap_wait=1.0),
    )
    await a.start()
    await b.start()
    try:
        loan = new_id()
        on_b = b.subscribe(loan, after_seq=0)
        on_a = a.subscribe(loan, after_seq=0)
        events = [_ev(loan, s) for s in range(1, 31)]
        shuffled = events[:]
        random.Random(7).shuffle(shuffled)
        for ev in shuffled + events[:5]:  # out of order, with duplicates
            await a.publish(ev)
        for sub in (on_b, on_a):
            got = [await asyncio.wait_for(sub.__anext__(), 5) for _ in range(30)]
            assert [e.seq for e in got] == list(range(1, 31))
            assert got == events  # the event survives the JSON round trip intact
            sub.close()
    finally:
        await a.stop()
        await b.stop()


async def test_dispatcher_on_one_replica_reaches_subscribers_on_another(
    settings, redis_url
) -> None:
    channel = f"test-{new_id('ch')}"
    worker_side = RedisBroker(redis_url, channel)
    replica = RedisBroker(redis_url, channel)
    await worker_side.start()
    await replica.start()
    dispatcher = EventDispatcher(worker_side, webhooks=False, lease_seconds=3, poll_interval=0.05)
    await dispatcher.start()
    try:
        loan = new_id()
        sub = replica.subscribe(loan, after_seq=0)
        loop = asyncio.get_running_loop()
        for seq in range(1, 11):
            await db.run_db(write_audit, loan, seq)
        t0 = loop.time()
        got = [await asyncio.wait_for(sub.__anext__(), 10) for _ in range(10)]
        assert [e.seq for e in got] == list(range(1, 11))
        assert loop.time() - t0 < 5
        sub.close()
    finally:
        await dispatcher.stop()
        await worker_side.stop()
        await replica.stop()
