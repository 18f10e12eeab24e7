"""Keep the garbage collector's full passes off a replica holding many
subscriptions.

Each open subscription is a few hundred long-lived Python objects (socket,
handler, generators, context). CPython's full collection walks every tracked
object: with 5,000 subscriptions on a replica that is over a million objects
and a stop-the-world pause of one to several seconds on a busy 2-core machine,
during which no update goes out and no request is answered (measured:
bench/burst.py, docs/PERFORMANCE.md section 6).

So once the replica's subscriptions have grown by LOANGRAPH_GC_FREEZE_SUBSCRIPTIONS
(default 200; 0 turns this off) since the last time, a young collection runs and
everything alive is moved to the permanent generation (`gc.freeze()`), which
later collections skip. Objects freed by reference counting are freed as
usual, but a closed subscription also leaves reference cycles (its handler and
schema proxy, tasks and their exceptions), which wait in the frozen
generation. They are bounded: once as many subscriptions have closed since the
last freeze as half of those open then (at least the step above), the replica
unfreezes, runs one full collection on purpose and freezes again; and when its
subscriptions fall below half of what they were at the last freeze, it
unfreezes and lets the collector work as usual until they grow again."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("loangraph.events.gc")

CHECK_SECONDS = 1.0


class GcFreezer:
    def __init__(
        self, count: Callable[[], int], every: int, closed: Callable[[], int] = lambda: 0
    ) -> None:
        self.count = count
        self.closed = closed
        self.every = every
        self.base = 0  # subscriptions at the last freeze (or unfreeze)
        self.peak = 0  # subscriptions at the last freeze; 0 when nothing is frozen
        self.closed_at = 0  # closed() at the last freeze
        self.freezes = 0
        self.reclaims = 0

    def check(self) -> None:
        n, closed = self.count(), self.closed()
        if self.every <= 0:
            return
        if self.peak and closed - self.closed_at >= max(self.every, self.peak // 2):
            # Closed subscriptions' cycles are waiting in the frozen generation.
            gc.unfreeze()
            gc.collect()
            self.reclaims += 1
            self._freeze(n, closed)
            log.info("gc: reclaimed closed subscriptions, refrozen at %d", n)
        elif n - self.base >= self.every:
            gc.collect(1)
            self._freeze(n, closed)
            log.info("gc: %d objects frozen at %d subscriptions", gc.get_freeze_count(), n)
        elif self.peak and n < self.peak // 2:
            gc.unfreeze()
            log.info("gc: unfrozen at %d subscriptions (peak %d)", n, self.peak)
            self.base = n
            self.peak = 0

    def _freeze(self, n: int, closed: int) -> None:
        gc.freeze()
        self.base = self.peak = n
        self.closed_at = closed
        self.freezes += 1

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                self.check()
            except Exception:  # never take the replica down for this
                log.exception("gc freezer check failed")


async def start(
    count: Callable[[], int], every: int, closed: Callable[[], int] = lambda: 0
) -> Callable[[], Any]:
    """Run the freezer until the returned coroutine function is awaited."""
    freezer = GcFreezer(count, every, closed)
    task = asyncio.create_task(freezer.run(), name="gc-freezer")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if freezer.peak:
            gc.unfreeze()

    return stop
