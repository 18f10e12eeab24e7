"""The event pipeline: the audit table's stream is the event log.

    stream (events.stream) -> dispatcher (events.dispatcher)
        -> invalidation hooks, broker (events.broker), webhooks (events.webhooks)

Start it with `events.runtime.EventRuntime` (see its docstring for who runs what)."""

from events.broker import (
    Broker,
    MemoryBroker,
    RedisBroker,
    Subscription,
    SubscriptionOverflow,
    build_broker,
)
from events.dispatcher import EventDispatcher
from events.runtime import EventRuntime
from events.types import DomainEvent, wire_type

__all__ = [
    "Broker",
    "DomainEvent",
    "EventDispatcher",
    "EventRuntime",
    "MemoryBroker",
    "RedisBroker",
    "Subscription",
    "SubscriptionOverflow",
    "build_broker",
    "wire_type",
]
