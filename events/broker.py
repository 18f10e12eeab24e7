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

Modules: the ordering buffer (`events.ordering`), the base and the in-process
broker (`events.memory_broker`), the Redis transport (`events.redis_broker`);
this module keeps the names importable from `events.broker`.
"""

from __future__ import annotations

from typing import Any

from events.memory_broker import Broker, MemoryBroker
from events.ordering import (
    DEFAULT_GAP_WAIT,
    DEFAULT_QUEUE_SIZE,
    Subscription,
    SubscriptionInterrupted,
    SubscriptionOverflow,
)
from events.redis_broker import (
    BROKER_OUTAGES,
    BROKER_RECONNECTS,
    INVALIDATION_RESTARTS,
    SUBSCRIPTIONS_INTERRUPTED,
    RedisBroker,
)

__all__ = [
    "BROKER_OUTAGES",
    "BROKER_RECONNECTS",
    "DEFAULT_GAP_WAIT",
    "DEFAULT_QUEUE_SIZE",
    "INVALIDATION_RESTARTS",
    "SUBSCRIPTIONS_INTERRUPTED",
    "Broker",
    "MemoryBroker",
    "RedisBroker",
    "Subscription",
    "SubscriptionInterrupted",
    "SubscriptionOverflow",
    "build_broker",
]


def build_broker(settings: Any) -> Broker:
    """`RedisBroker` when LOANGRAPH_REDIS_URL is set, else `MemoryBroker`."""
    if settings.redis_url:
        return RedisBroker(settings.redis_url, channel=f"{settings.table_prefix}events")
    return MemoryBroker()
