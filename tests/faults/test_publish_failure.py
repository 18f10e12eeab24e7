"""The dispatcher with a failing publish: Redis refuses the dispatcher's
PUBLISH (an ACL, so subscribers stay connected); the stream checkpoint does
not advance, and the event reaches the subscriber once publishing works again."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from core import db
from events.broker import RedisBroker
from events.dispatcher import PUBLISH_FAILURES, EventDispatcher
from models import StreamCheckpoint
from tests.events.conftest import eventually, new_id, redis_url, write_audit  # noqa: F401


def checkpoints(arn: str) -> dict[str, str | None]:
    return {
        c.shard_id: c.sequence_number
        for c in StreamCheckpoint.scan(consistent_read=True)
        if c.stream_arn == arn
    }


async def test_failed_publish_holds_the_checkpoint_and_delivers_later(settings, redis_url) -> None:
    admin = aioredis.from_url(redis_url)
    user, password = f"pub{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    pub_url = redis_url.replace("redis://", f"redis://{user}:{password}@")
    channel = f"test-{new_id('ch')}"
    worker_side = RedisBroker(pub_url, channel)
    replica = RedisBroker(redis_url, channel)
    await worker_side.start()
    await replica.start()
    dispatcher = EventDispatcher(
        worker_side, webhooks=False, lease_seconds=3, poll_interval=0.05, checkpoint_interval=0.0
    )
    await dispatcher.start()
    loan = new_id()
    sub = replica.subscribe(loan, after_seq=0)
    try:
        first = await db.run_db(write_audit, loan, 1)
        got = await asyncio.wait_for(sub.__anext__(), 15)
        assert got.id == first.audit_id
        arn = dispatcher.tailer.stream_arn
        await eventually(
            lambda: (
                dispatcher.tailer.shards
                and all(s.checkpointed == s.position for s in dispatcher.tailer.shards.values())
            )
        )
        held = await db.run_db(checkpoints, arn)

        # PUBLISH is refused from now on.
        await admin.execute_command("ACL", "SETUSER", user, "-publish")
        failures0 = PUBLISH_FAILURES._value.get()
        second = await db.run_db(write_audit, loan, 2)
        await eventually(lambda: PUBLISH_FAILURES._value.get() >= failures0 + 2, timeout=15)
        assert await db.run_db(checkpoints, arn) == held  # not advanced past the event
        assert not sub._inbox and not sub._ready  # and not delivered

        # Publishing works again: the held batch goes out, then the checkpoint moves.
        await admin.execute_command("ACL", "SETUSER", user, "+publish")
        got = await asyncio.wait_for(sub.__anext__(), 20)
        assert got.id == second.audit_id and got.seq == 2
        await eventually(
            lambda: (
                dispatcher.tailer.shards
                and all(s.checkpointed == s.position for s in dispatcher.tailer.shards.values())
            )
        )
        assert await db.run_db(checkpoints, arn) != held
    finally:
        sub.close()
        await dispatcher.stop()
        await worker_side.stop()
        await replica.stop()
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.aclose()
