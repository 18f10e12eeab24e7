"""`RedisBroker`: across replicas, publish goes to one Redis pub/sub channel;
every replica listens and fans out to its own subscribers (events/broker.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from prometheus_client import Counter

from core.retry import Backoff, retry_call_async
from events.memory_broker import Broker
from events.ordering import SubscriptionInterrupted
from events.types import DomainEvent

log = logging.getLogger("loangraph.events.broker")

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
