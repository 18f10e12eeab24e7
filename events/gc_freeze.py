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
later collections skip. Objects freed by reference counting (almost all of a
closed subscription) are freed as usual; reference cycles among frozen objects
wait: when the replica's subscriptions fall below half of what they were at the
last freeze, everything is unfrozen (the next full collection reclaims them),
and freezing starts again from there."""

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
    def __init__(self, count: Callable[[], int], every: int) -> None:
        self.count = count
        self.every = every
        self.base = 0  # subscriptions at the last freeze (or unfreeze)
        self.peak = 0  # subscriptions at the last freeze; 0 when nothing is frozen
        self.freezes = 0

    def check(self) -> None:
        n = self.count()
        if self.every <= 0:
            return
        if n - self.base >= self.every:
            gc.collect(1)
            gc.freeze()
            self.base = self.peak = n
            self.freezes += 1
            log.info("gc: %d objects frozen at %d subscriptions", gc.get_freeze_count(), n)
        elif self.peak and n < self.peak // 2:
            gc.unfreeze()
            log.info("gc: unfrozen at %d subscriptions (peak %d)", n, self.peak)
            self.base = n
            self.peak = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                self.check()
            except Exception:  # never take the replica down for this
                log.exception("gc freezer check failed")


async def start(count: Callable[[], int], every: int) -> Callable[[], Any]:
    """Run the freezer until the returned coroutine function is awaited."""
    freezer = GcFreezer(count, every)
    task = asyncio.create_task(freezer.run(), name="gc-freezer")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if freezer.peak:
            gc.unfreeze()

    return stop
