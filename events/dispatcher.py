"""The event dispatcher: tails the audit stream and fans every domain event
out to cache-invalidation hooks, the broker (subscriptions) and webhook
enqueueing, in that order, before the stream position is checkpointed.

One dispatcher tails the stream per deployment: it holds a lease item in the
checkpoint table (`StreamLease`), renewed every third of its TTL
(LOANGRAPH_STREAM_LEASE_SECONDS, default 15). Another dispatcher (a second
worker, or a restarted one after a kill -9) takes over when the lease runs
out, from the checkpoints. Who starts dispatchers is decided in
`events.runtime`.

Failures: an invalidation hook failing is logged and does not hold events
back. Enqueueing webhooks or publishing to the broker failing (Redis down)
makes the tailer retry the whole batch with back-off: the stream position is
not advanced, so nothing is silently lost (webhooks are at least once, and
subscribers get the event once Redis is back; replicas that were cut off
meanwhile end their subscriptions with a resubscribe error, see
events/redis_broker.py). Events are published first (subscribers are the
latency-sensitive consumers); webhooks of the batch are enqueued even when the
publish failed, so a Redis outage does not hold back the batch in hand. Replays are harmless:
hooks and subscribers see event ids they already had (subscriptions drop
them), and deliveries are keyed by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter

from core.retry import Backoff
from events.broker import Broker
from events.checkpoints import StreamLease
from events.stream import StreamTailer
from events.types import DomainEvent, audit_entry_from_record
from events.webhooks.deliverer import WebhookDeliverer
from events.webhooks.fanout import WebhookFanout

log = logging.getLogger("loangraph.events.dispatcher")

InvalidationHook = Callable[[DomainEvent], Any]

PUBLISH_FAILURES: Any = Counter(
    "loangraph_event_publish_failures",
    "Broker publishes that failed (the batch was retried, the checkpoint held)",
)


class PublishFailed(Exception):
    """The broker could not take an event: the tailer retries the batch."""


DEFAULT_STREAM_LEASE_SECONDS = 15.0


class EventDispatcher:
    def __init__(
        self,
        broker: Broker,
        *,
        fanout: WebhookFanout | None = None,
        webhooks: bool = True,
        deliverer: WebhookDeliverer | None = None,
        owner_id: str | None = None,
        lease_seconds: float | None = None,
        **tailer_options: Any,
    ) -> None:
        self.broker = broker
        self.fanout = fanout if fanout is not None else (WebhookFanout() if webhooks else None)
        self.deliverer = deliverer
        self.owner_id = owner_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # EventRuntime passes Settings.stream_lease_seconds (LOANGRAPH_STREAM_LEASE_SECONDS).
        self.lease = StreamLease(self.owner_id, lease_seconds or DEFAULT_STREAM_LEASE_SECONDS)
        self.tailer_options = tailer_options
        self.tailer: StreamTailer | None = None
        self._hooks: list[InvalidationHook] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.is_leader = False
        self.events_dispatched = 0

    # ------------------------------------------------------------ public
    def add_invalidation_hook(self, hook: InvalidationHook) -> None:
        """`hook(event)` (sync or async) runs for every event before subscribers see it."""
        self._hooks.append(hook)

    @property
    def lag_seconds(self) -> float:
        return self.tailer.lag_seconds if self.tailer is not None else 0.0

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="event-dispatcher")

    async def stop(self) -> None:
        self._stopping.set()
        if self.tailer is not None:
            self.tailer.stop()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 15)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            except Exception:
                log.exception("event dispatcher ended with an error")
            self._task = None

    # ------------------------------------------------------------ the batch handler
    async def handle(self, records: list[dict[str, Any]]) -> None:
        """Handle one batch of stream records (called by the tailer, retried on error)."""
        events: list[DomainEvent] = []
        for record in records:
            if record.get("eventName") != "INSERT":
                continue  # audit entries are immutable: only INSERTs are events
            try:
                entry = audit_entry_from_record(record)
                if entry is None:
                    continue
                if entry.table_name == "webhooks" and self.fanout is not None:
                    self.fanout.invalidate()
                event = DomainEvent.from_audit_entry(
                    entry, record["dynamodb"].get("SequenceNumber")
                )
            except Exception:
                log.exception("undecodable audit record %s skipped", record.get("eventID"))
                continue
            if event is not None:
                events.append(event)
        if not events:
            return
        for event in events:
            for hook in self._hooks:
                try:
                    result = hook(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("invalidation hook %r failed on event %s", hook, event.id)
        failed: BaseException | None = None
        for event in events:
            try:
                await self.broker.publish(event)
            except Exception as exc:
                PUBLISH_FAILURES.inc()
                log.warning(
                    "broker publish failed for event %s (%s): the batch is kept and retried; "
                    "the stream position does not advance",
                    event.id,
                    exc,
                )
                failed = exc
                break
        # Webhooks are enqueued even when the publish failed: they do not wait
        # for Redis (a retried batch enqueues nothing twice).
        if self.fanout is not None:
            created = await self.fanout.enqueue(events)
            if created and self.deliverer is not None:
                self.deliverer.notify()
        if failed is not None:
            raise PublishFailed(str(failed)) from failed
        self.events_dispatched += len(events)

    # ------------------------------------------------------------ leadership + tailing
    async def _run(self) -> None:
        backoff = Backoff(base=0.5, cap=10.0)
        try:
            while not self._stopping.is_set():
                if not await self.lease.acquire():
                    if self.is_leader:
                        log.warning("stream lease lost")
                    self.is_leader = False
                    await self._sleep(self.lease.ttl / 3)
                    continue
                self.is_leader = True
                log.info("dispatcher %s holds the stream lease; tailing", self.owner_id)
                self.tailer = StreamTailer(self.handle, **self.tailer_options)
                task = asyncio.create_task(self.tailer.run(), name="stream-tailer")
                while not self._stopping.is_set() and not task.done():
                    await asyncio.wait(
                        [task, asyncio.ensure_future(self._sleep(self.lease.ttl / 3))],
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if self._stopping.is_set() or task.done():
                        break
                    if not await self.lease.acquire():
                        log.warning("stream lease lost to another dispatcher; stopping the tailer")
                        self.is_leader = False
                        break
                self.tailer.stop()
                try:
                    await task
                    backoff.reset()
                except Exception:
                    log.exception("stream tailer failed; restarting")
                    await self._sleep(backoff.next())
        finally:
            if self.is_leader:
                await self.lease.release()
            self.is_leader = False

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
