"""What runs where.

* LOANGRAPH_REDIS_URL unset (one process): the server runs everything in
  process: a `MemoryBroker`, the dispatcher and webhook delivery
  (`EventRuntime.for_server`).
* LOANGRAPH_REDIS_URL set (several replicas): every server replica runs only a
  `RedisBroker` (its subscribers hear every event); `loangraph worker` runs the
  dispatcher and webhook delivery (`EventRuntime.for_worker`), publishing to
  Redis. Several workers may run: one tails the stream (the lease in the
  checkpoint table), all of them deliver webhooks (claims are conditional
  writes). LOANGRAPH_SERVER_EVENTS=always makes replicas also run them (then a
  replica is elected by the same lease and no worker is needed);
  =never makes a lone server leave them to a worker. (Settings fields
  `server_events`, `stream_lease_seconds`, `webhook_lease_seconds`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from events.broker import Broker, build_broker
from events.dispatcher import EventDispatcher
from events.webhooks.deliverer import WebhookDeliverer

log = logging.getLogger("loangraph.events")


class EventRuntime:
    """The broker plus (optionally) the dispatcher and the webhook deliverer."""

    def __init__(
        self,
        settings: Any,
        *,
        dispatch: bool,
        deliver: bool,
        broker: Broker | None = None,
        dispatcher_options: dict[str, Any] | None = None,
        deliverer_options: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker or build_broker(settings)
        self.deliverer = (
            WebhookDeliverer(settings, **(deliverer_options or {})) if deliver else None
        )
        dispatcher_options = dict(dispatcher_options or {})
        lease = getattr(settings, "stream_lease_seconds", None)
        if lease:
            dispatcher_options.setdefault("lease_seconds", lease)
        self.dispatcher = (
            EventDispatcher(self.broker, deliverer=self.deliverer, **dispatcher_options)
            if dispatch
            else None
        )
        self._delivery_task: asyncio.Task[None] | None = None

    @classmethod
    def for_server(cls, settings: Any, **kwargs: Any) -> EventRuntime:
        mode = (getattr(settings, "server_events", None) or "auto").lower()
        run = mode == "always" or (mode == "auto" and not settings.redis_url)
        return cls(settings, dispatch=run, deliver=run, **kwargs)

    @classmethod
    def for_worker(cls, settings: Any, **kwargs: Any) -> EventRuntime:
        return cls(settings, dispatch=True, deliver=True, **kwargs)

    def add_invalidation_hook(self, hook: Any) -> None:
        """Registered on the dispatcher when this process runs one. With Redis, a
        replica without a dispatcher should invalidate from a broker subscription
        (`broker.subscribe_all()`) instead."""
        if self.dispatcher is not None:
            self.dispatcher.add_invalidation_hook(hook)

    async def start(self) -> None:
        await self.broker.start()
        if self.deliverer is not None:
            self._delivery_task = asyncio.create_task(self.deliverer.run(), name="webhook-delivery")
        if self.dispatcher is not None:
            await self.dispatcher.start()

    async def stop(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.deliverer is not None and self._delivery_task is not None:
            self.deliverer.stop()
            try:
                await asyncio.wait_for(self._delivery_task, DELIVERY_STOP_TIMEOUT)
            except (TimeoutError, asyncio.CancelledError):
                self._delivery_task.cancel()
                with contextlib.suppress(BaseException):
                    await self._delivery_task
            self._delivery_task = None
        await self.broker.stop()


DELIVERY_STOP_TIMEOUT = 10.0


async def lifespan_hook(app: Any, settings: Any, state: Any, start_background: bool = True) -> Any:
    """For `server.LIFESPAN_HOOKS`: start the runtime, expose it as
    `app.state.events`, return its stop coroutine function. With
    `start_background=False` (in-process tests) only the broker runs."""
    if start_background:
        runtime = EventRuntime.for_server(settings)
    else:
        runtime = EventRuntime(settings, dispatch=False, deliver=False)
    await runtime.start()
    app.state.events = runtime
    every = int(getattr(settings, "gc_freeze_subscriptions", 0) or 0)
    if every <= 0:
        return runtime.stop
    from events import gc_freeze

    broker = runtime.broker
    stop_freezer = await gc_freeze.start(
        lambda: broker.subscriber_count, every, lambda: broker.closed_total
    )

    async def stop() -> None:
        await stop_freezer()
        await runtime.stop()

    return stop
