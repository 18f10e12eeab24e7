"""Event brokers: how domain events reach subscribers.

`MemoryBroker` fans events out inside one process. `RedisBroker` publishes to
one Redis pub/sub channel per deployment (`<table prefix>events`); every
replica listens on it and fans out to its own subscribers, so an event
published by the replica (or worker) that runs the dispatcher reaches
subscribers everywhere.

Ordering: a `Subscription` yields each loan's events in `seq` order. An event
ahead of the next expected `seq` is held back up to `gap_wait` seconds for the
missing ones (events of one loan can come from different stream shards);
after that the gap is skipped. Events at or behind the position already
delivered are dropped, and every event id is delivered at most once per
subscription (stream replays after a restart are de-duplicated here). Pass
`after_seq` (the `seq` of the state the subscriber already has) for exact
ordering from the first event; without it (and on `subscribe_all`) the first
events of each loan are held `gap_wait` seconds and then released in order.

Redis pub/sub is fire and forget: events published while a replica is cut off
from Redis do not reach that replica's subscribers (webhooks, not
subscriptions, are the durable channel; a subscriber that reconnects gets the
current state first).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter

from core.errors import CodedError
from core.retry import Backoff, retry_call_async
from events.types import DomainEvent

log = logging.getLogger("loangraph.events.broker")

DEFAULT_GAP_WAIT = 0.5
DEFAULT_QUEUE_SIZE = 2000
_CLOSE = object()


class SubscriptionOverflow(Exception):
    """The subscriber fell too far behind; it was dropped (resubscribe and re-read)."""


class SubscriptionInterrupted(CodedError):
    """The event bus was cut off (Redis outage): events may have been missed, so
    the subscription ends with this error instead of carrying on with a gap."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "Live updates were interrupted (the event bus reconnected) and some may "
            "have been missed; subscribe again to get the current state",
            retryable=True,
        )


BROKER_OUTAGES: Any = Counter(
    "loangraph_broker_outages",
    "Times this process lost its connection to the event bus (Redis)",
)
BROKER_RECONNECTS: Any = Counter(
    "loangraph_broker_reconnects",
    "Times this process reconnected to the event bus after an outage",
)
INVALIDATION_RESTARTS: Any = Counter(
    "loangraph_cache_invalidation_restarts",
    "Times a replica's cache-invalidation consumer resubscribed (its cache was cleared)",
)
SUBSCRIPTIONS_INTERRUPTED: Any = Counter(
    "loangraph_subscriptions_interrupted",
    "Subscriptions ended with a resubscribe error because the event bus was cut off",
)


@dataclass
class _LoanOrder:
    last: int | None = None
    # The subscriber already shows the state at `floor`: every event of a
    # transaction at or before it is old news (`advance_to`).
    floor: int | None = None
    heap: list[tuple[int, int, int, DomainEvent]] = field(default_factory=list)
    deadline: float | None = None
    seen: set[str] = field(default_factory=set)
    seen_order: deque[str] = field(default_factory=lambda: deque(maxlen=512))

    def mark(self, event_id: str) -> None:
        if len(self.seen_order) == self.seen_order.maxlen:
            self.seen.discard(self.seen_order[0])
        self.seen_order.append(event_id)
        self.seen.add(event_id)


class Subscription(AsyncIterator[DomainEvent]):
    """Events of one loan (or of every loan, `loan_id=None`), per loan in `seq` order.

    Use as `async with broker.subscribe(loan_id, after_seq=n) as sub: async for e in sub`.
    """

    _counter = itertools.count()

    def __init__(
        self,
        broker: Broker,
        loan_id: str | None,
        *,
        after_seq: int | None = None,
        gap_wait: float = DEFAULT_GAP_WAIT,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self.broker = broker
        self.loan_id = loan_id
        self.gap_wait = gap_wait
        self._inbox: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._ready: deque[DomainEvent] = deque()
        self._orders: dict[str, _LoanOrder] = {}
        self._closed = False
        self.overflowed = False
        self.error: BaseException | None = None
        self.dropped_late = 0
        if loan_id is not None and after_seq is not None:
            self._orders[loan_id] = _LoanOrder(last=after_seq)

    # ------------------------------------------------------------ position
    def advance_to(self, seq: int, loan_id: str | None = None) -> None:
        """The subscriber already has the state at `seq`: skip everything up to it."""
        key = loan_id or self.loan_id
        if key is None:
            raise ValueError("advance_to needs a loan_id on a subscribe-all subscription")
        order = self._orders.setdefault(key, _LoanOrder())
        if order.last is None or seq > order.last:
            order.last = seq
        if order.floor is None or seq > order.floor:
            order.floor = seq
        # Drop anything already buffered at or before it.
        order.heap = [item for item in order.heap if item[0] > seq]
        order.deadline = None if not order.heap else order.deadline
        heapq.heapify(order.heap)
        self._ready = deque(e for e in self._ready if e.loan_id != key or e.seq > seq or e.seq <= 0)
        self._drain(order)

    # ------------------------------------------------------------ called by the broker
    def offer(self, event: DomainEvent) -> None:
        if self._closed:
            return
        try:
            self._inbox.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("subscriber for %s fell behind; dropping it", self.loan_id or "all loans")
            self.overflowed = True
            self._close_nowait()

    def interrupt(self, error: BaseException) -> None:
        """End the subscription with `error` once what it already has is consumed."""
        if self._closed:
            return
        self.error = error
        self._close_nowait()

    def _close_nowait(self) -> None:
        self._closed = True
        self.broker._remove(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(_CLOSE)
        if self._inbox.full():  # make room for the sentinel
            with contextlib.suppress(asyncio.QueueEmpty):
                self._inbox.get_nowait()
            self._inbox.put_nowait(_CLOSE)

    # ------------------------------------------------------------ ordering
    def _accept(self, event: DomainEvent) -> None:
        if event.seq <= 0:  # no order information: pass through once
            order = self._orders.setdefault(event.loan_id, _LoanOrder())
            if event.id not in order.seen:
                order.mark(event.id)
                self._ready.append(event)
            return
        order = self._orders.setdefault(event.loan_id, _LoanOrder())
        if event.id in order.seen:
            return
        order.mark(event.id)
        if order.floor is not None and event.seq <= order.floor:
            self.dropped_late += 1
            return
        if order.last is not None and event.seq < order.last:
            self.dropped_late += 1
            log.debug("late event %s (seq %s < %s) dropped", event.id, event.seq, order.last)
            return
        heapq.heappush(order.heap, (event.seq, event.tx_index, next(self._counter), event))
        self._drain(order)

    def _drain(self, order: _LoanOrder) -> None:
        if order.last is None:
            # Position unknown: hold the first events `gap_wait` so that ones
            # arriving slightly out of order still come out in order.
            if order.heap and order.deadline is None:
                order.deadline = time.monotonic() + self.gap_wait
            return
        while order.heap:
            seq = order.heap[0][0]
            if order.last is not None and seq > order.last + 1:
                break
            _, _, _, event = heapq.heappop(order.heap)
            if order.last is not None and seq < order.last:
                self.dropped_late += 1
                continue
            order.last = seq
            self._ready.append(event)
        if not order.heap:
            order.deadline = None
        elif order.deadline is None:
            order.deadline = time.monotonic() + self.gap_wait

    def _expire_gaps(self) -> None:
        now = time.monotonic()
        for loan_id, order in self._orders.items():
            if order.deadline is not None and order.deadline <= now and order.heap:
                skipped_to = order.heap[0][0]
                if order.last is not None:
                    log.info(
                        "loan %s: gap before seq %s not filled in %.2fs; skipping",
                        loan_id,
                        skipped_to,
                        self.gap_wait,
                    )
                order.last = skipped_to - 1
                order.deadline = None
                self._drain(order)

    def _next_deadline(self) -> float | None:
        deadlines = [o.deadline for o in self._orders.values() if o.deadline is not None]
        return min(deadlines) if deadlines else None

    # ------------------------------------------------------------ iteration
    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> DomainEvent:
        while True:
            if self._ready:
                return self._ready.popleft()
            deadline = self._next_deadline()
            if self._closed and self._inbox.empty():
                if self.error is not None:
                    raise self.error
                if self.overflowed:
                    raise SubscriptionOverflow("subscriber fell behind")
                raise StopAsyncIteration
            try:
                if deadline is None:
                    item = await self._inbox.get()
                else:
                    item = await asyncio.wait_for(
                        self._inbox.get(), max(0.0, deadline - time.monotonic())
                    )
            except TimeoutError:
                self._expire_gaps()
                continue
            if item is _CLOSE:
                self._closed = True
                # Flush what is buffered, in order, before ending.
                for order in self._orders.values():
                    while order.heap:
                        self._ready.append(heapq.heappop(order.heap)[3])
                    order.deadline = None
                continue
            self._accept(item)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._close_nowait()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class Broker:
    """Publish domain events; subscribe to one loan's events or all of them."""

    def __init__(
        self, *, gap_wait: float = DEFAULT_GAP_WAIT, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        self.gap_wait = gap_wait
        self.queue_size = queue_size
        self._by_loan: dict[str, set[Subscription]] = {}
        self._all: set[Subscription] = set()

    async def start(self) -> None:
        """Ready to receive: after it returns, published events reach subscribers."""

    async def stop(self) -> None:
        for sub in list(self._all) + [s for subs in self._by_loan.values() for s in subs]:
            sub.close()

    async def publish(self, event: DomainEvent) -> None:
        raise NotImplementedError

    def subscribe(
        self, loan_id: str | None = None, *, after_seq: int | None = None
    ) -> Subscription:
        """Events of `loan_id` (or all loans when None) from now on, in `seq` order.

        `after_seq`: the seq of the state the caller already shows; only later events come.
        Raises `SubscriptionInterrupted` while the broker is cut off from its bus."""
        if not self.available:
            raise SubscriptionInterrupted(
                "Live updates are unavailable right now (the event bus is reconnecting); "
                "subscribe again shortly"
            )
        sub = Subscription(
            self, loan_id, after_seq=after_seq, gap_wait=self.gap_wait, queue_size=self.queue_size
        )
        if loan_id is None:
            self._all.add(sub)
        else:
            self._by_loan.setdefault(loan_id, set()).add(sub)
        return sub

    @property
    def available(self) -> bool:
        """False while events published elsewhere cannot reach this process."""
        return True

    def subscribe_all(self) -> Subscription:
        return self.subscribe(None)

    @property
    def subscriber_count(self) -> int:
        return len(self._all) + sum(len(s) for s in self._by_loan.values())

    def _remove(self, sub: Subscription) -> None:
        if sub.loan_id is None:
            self._all.discard(sub)
            return
        subs = self._by_loan.get(sub.loan_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_loan[sub.loan_id]

    def _fanout(self, event: DomainEvent) -> None:
        for sub in list(self._by_loan.get(event.loan_id, ())):
            sub.offer(event)
        for sub in list(self._all):
            sub.offer(event)


class MemoryBroker(Broker):
    """One process: publish hands the event straight to local subscribers."""

    async def publish(self, event: DomainEvent) -> None:
        self._fanout(event)


class RedisBroker(Broker):
    """Across replicas: publish goes to Redis; every instance fans out what it hears."""

    def __init__(self, url: str, channel: str = "loangraph:events", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.channel = channel
        self._redis: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._running = False
        self._down_since: float | None = None

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(
            self.url, health_check_interval=30, socket_connect_timeout=5
        )
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        from redis.exceptions import RedisError

        try:
            await self._pubsub.subscribe(self.channel)
        except (RedisError, OSError) as exc:
            # Redis down when this process starts (e.g. restarted during an
            # outage): start anyway, as if it were lost just now; the reader
            # keeps trying, and publishes fail (the dispatcher keeps its batch).
            self._down_since = time.monotonic()
            BROKER_OUTAGES.inc()
            log.warning("redis broker: unavailable at start (%s); reconnecting", exc)
        self._running = True
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def stop(self) -> None:
        self._running = False
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None
        await super().stop()

    async def publish(self, event: DomainEvent) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        if self._redis is None:
            raise RuntimeError("RedisBroker.start() was not awaited")
        payload = event.to_json()
        # A short retry for a blip (redis-py reconnects on the next command); a
        # longer outage fails the publish, and the dispatcher keeps the batch.
        await retry_call_async(
            "broker.publish",
            lambda: self._redis.publish(self.channel, payload),
            deadline=1.0,
            base=0.05,
            cap=0.3,
            retry_on=lambda e: isinstance(e, RedisConnectionError | RedisTimeoutError | OSError),
        )

    async def _read(self) -> None:
        from redis.exceptions import RedisError

        backoff = Backoff(base=0.1, cap=2.0)
        while self._running:
            try:
                if self._down_since is not None:
                    await self._pubsub.subscribe(self.channel)
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._down_since is None:
                    self._down_since = time.monotonic()
                    BROKER_OUTAGES.inc()
                    log.warning("redis broker: connection lost (%s); reconnecting", exc)
                    # Whatever is published until we are back never reaches this
                    # process: end live subscriptions with a clear error now.
                    self._interrupt_subscribers()
                await asyncio.sleep(backoff.next())
                continue
            if self._down_since is not None:
                BROKER_RECONNECTS.inc()
                log.warning(
                    "redis broker: reconnected after %.1fs", time.monotonic() - self._down_since
                )
                self._down_since = None
                backoff.reset()
            if not message or message.get("type") != "message":
                continue
            try:
                event = DomainEvent.from_json(message["data"])
            except Exception:
                log.exception("redis broker: undecodable message dropped")
                continue
            self._fanout(event)

    @property
    def available(self) -> bool:
        return self._down_since is None

    def _interrupt_subscribers(self) -> None:
        subs = list(self._all) + [s for subs in self._by_loan.values() for s in subs]
        for sub in subs:
            sub.interrupt(SubscriptionInterrupted())
        if subs:
            SUBSCRIPTIONS_INTERRUPTED.inc(len(subs))
            log.warning("redis broker: %d subscriptions told to resubscribe", len(subs))


def build_broker(settings: Any) -> Broker:
    """`RedisBroker` when LOANGRAPH_REDIS_URL is set, else `MemoryBroker`."""
    if settings.redis_url:
        return RedisBroker(settings.redis_url, channel=f"{settings.table_prefix}events")
    return MemoryBroker()
