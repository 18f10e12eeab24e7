"""The audit stream on a real DynamoDB Local: tailing, checkpoints across a
restart, shard lineage, and 200 rapid changes reaching a subscriber in order."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core import db
from events.broker import MemoryBroker
from events.dispatcher import EventDispatcher
from events.stream import StreamTailer
from events.types import DomainEvent
from models import StreamCheckpoint
from tests.events.conftest import audit_entry, eventually, new_id, write_audit


class Collector:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.batches = 0
        self.sequence_numbers: list[str] = []

    async def __call__(self, records: list[dict[str, Any]]) -> None:
        self.batches += 1
        for r in records:
            self.sequence_numbers.append(r["dynamodb"]["SequenceNumber"])
            e = DomainEvent.from_stream_record(r)
            if e is not None:
                self.events.append(e)

    def ids_for(self, loan_id: str) -> list[str]:
        return [e.id for e in self.events if e.loan_id == loan_id]


async def _run(tailer: StreamTailer) -> asyncio.Task[None]:
    return asyncio.create_task(tailer.run())


async def test_tail_checkpoint_and_resume(settings) -> None:
    loan = new_id()
    first = [await db.run_db(write_audit, loan, i) for i in range(1, 6)]
    c1 = Collector()
    t1 = StreamTailer(c1, poll_interval=0.05, checkpoint_interval=0.0)
    task = await _run(t1)
    await eventually(lambda: len(c1.ids_for(loan)) == 5)
    assert c1.ids_for(loan) == [e.audit_id for e in first]
    t1.stop()
    await task
    cps = [
        c
        for c in await db.run_db(lambda: list(StreamCheckpoint.scan()))
        if c.stream_arn == t1.stream_arn
    ]
    assert cps and all(c.sequence_number for c in cps)

    # Changes committed while nothing tails the stream are not lost on restart ...
    later = [await db.run_db(write_audit, loan, i) for i in range(6, 11)]
    c2 = Collector()
    t2 = StreamTailer(c2, poll_interval=0.05)
    task = await _run(t2)
    await eventually(lambda: len(c2.ids_for(loan)) >= 5)
    await asyncio.sleep(0.3)
    t2.stop()
    await task
    # ... and nothing already handled is replayed (the stop checkpointed).
    assert c2.ids_for(loan) == [e.audit_id for e in later]
    assert t2.lag_seconds == 0.0


async def test_unclean_stop_replays_at_most_the_checkpoint_window(settings) -> None:
    loan = new_id()
    c1 = Collector()
    # Checkpoint at most every 2 s: a kill loses the position of the last window only.
    t1 = StreamTailer(c1, poll_interval=0.05, checkpoint_interval=2.0)
    task = await _run(t1)
    for i in range(1, 4):
        await db.run_db(write_audit, loan, i)
    await eventually(lambda: len(c1.ids_for(loan)) == 3)
    # The next empty poll after the window checkpoints the third record.
    third = c1.sequence_numbers[-1]
    await eventually(lambda: any(s.checkpointed == third for s in t1.shards.values()), timeout=15)
    for i in range(4, 7):
        await db.run_db(write_audit, loan, i)
    await eventually(lambda: len(c1.ids_for(loan)) == 6)
    # Simulate a crash: stop without the final checkpoint.
    t1._checkpoint_all = _noop  # type: ignore[method-assign]
    t1.stop()
    await task
    c2 = Collector()
    t2 = StreamTailer(c2, poll_interval=0.05)
    task = await _run(t2)
    await db.run_db(write_audit, loan, 7)
    await eventually(lambda: c2.ids_for(loan) and c2.events[-1].seq == 7)
    t2.stop()
    await task
    seqs = [e.seq for e in c2.events if e.loan_id == loan]
    assert seqs[-1] == 7 and set(seqs) <= {4, 5, 6, 7}  # replayed only the unsaved window


async def _noop() -> None:
    return None


async def test_children_wait_for_their_parent_shard(settings) -> None:
    started: list[str] = []

    class Recording(StreamTailer):
        async def _read_shard(self, state):  # type: ignore[override]
            started.append(state.shard_id)

    t = Recording(Collector())
    shards = [
        {"ShardId": "parent"},
        {"ShardId": "child-a", "ParentShardId": "parent"},
        {"ShardId": "child-b", "ParentShardId": "parent"},
        {"ShardId": "orphan", "ParentShardId": "trimmed-away"},
    ]
    t._schedule(shards)
    await asyncio.sleep(0)
    assert sorted(started) == ["orphan", "parent"]
    t._tasks.clear()
    t.shards["parent"].finished = True
    t.shards["orphan"].finished = True
    t._schedule(shards)
    await asyncio.sleep(0)
    assert sorted(started) == ["child-a", "child-b", "orphan", "parent"]


async def test_200_rapid_changes_arrive_in_order(settings) -> None:
    loan = new_id()
    broker = MemoryBroker(gap_wait=1.0)
    dispatcher = EventDispatcher(broker, webhooks=False, lease_seconds=3, poll_interval=0.05)
    invalidated: list[str] = []
    dispatcher.add_invalidation_hook(lambda e: invalidated.append(e.id))
    sub = broker.subscribe(loan, after_seq=0)
    everything = broker.subscribe_all()
    await dispatcher.start()
    try:
        # Writes race each other (16 threads) and alternate between the loan's
        # record and participant records (different partition keys).
        entries = []
        for seq in range(1, 201):
            event = "LOAN_UPDATED" if seq % 2 else "PARTICIPANT_INVITED"
            entries.append(audit_entry(loan, seq, event))
        t0 = time.monotonic()
        await asyncio.gather(*(db.run_db(e.save) for e in entries))
        got: list[DomainEvent] = []
        async with sub:
            while len(got) < 200:
                got.append(await asyncio.wait_for(sub.__anext__(), 10))
        elapsed = time.monotonic() - t0
        assert [e.seq for e in got] == list(range(1, 201))
        assert len({e.id for e in got}) == 200
        assert {e.id for e in got} == {e.audit_id for e in entries}
        assert elapsed < 10
        await eventually(lambda: set(invalidated) >= {e.audit_id for e in entries})
        seen_all = []
        while len(seen_all) < 200:
            ev = await asyncio.wait_for(everything.__anext__(), 5)
            if ev.loan_id == loan:
                seen_all.append(ev.seq)
        assert seen_all == list(range(1, 201))
        assert dispatcher.is_leader and dispatcher.lag_seconds < 5
    finally:
        everything.close()
        await dispatcher.stop()


async def test_second_dispatcher_waits_for_the_lease(settings) -> None:
    b1, b2 = MemoryBroker(), MemoryBroker()
    d1 = EventDispatcher(b1, webhooks=False, lease_seconds=1.5, poll_interval=0.05)
    d2 = EventDispatcher(b2, webhooks=False, lease_seconds=1.5, poll_interval=0.05)
    await d1.start()
    await eventually(lambda: d1.is_leader)
    await d2.start()
    await asyncio.sleep(0.8)
    assert not d2.is_leader
    await d1.stop()  # releases the lease: d2 takes over
    await eventually(lambda: d2.is_leader, timeout=5)
    loan = new_id()
    sub = b2.subscribe(loan, after_seq=0)
    await db.run_db(write_audit, loan, 1)
    ev = await asyncio.wait_for(sub.__anext__(), 5)
    assert ev.seq == 1
    sub.close()
    await d2.stop()
