"""The retry schedule of webhook deliveries (docs/webhooks.md, "Retries").

A failed attempt is retried with exponential back-off: base
LOANGRAPH_WEBHOOK_RETRY_BASE_SECONDS, doubling, at most 6 h apart, +-10 %
jitter, until LOANGRAPH_WEBHOOK_RETRY_HORIZON_SECONDS after the delivery was
enqueued; then the delivery is FAILED. Pure functions: the deliverer asks
`next_attempt_at` and hands the answer to `services.webhook_deliveries`."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

MAX_RETRY_DELAY = 6 * 3600.0


def retry_delay(attempts: int, base: float) -> float:
    """Seconds before the next try after `attempts` failed ones (1 -> base)."""
    delay = min(base * (2 ** max(0, attempts - 1)), max(MAX_RETRY_DELAY, base))
    return delay * random.uniform(0.9, 1.1)


def retry_schedule(base: float, horizon: float) -> list[float]:
    """Offsets (seconds after enqueue) of every attempt, without jitter (docs, tests)."""
    out, t, n = [0.0], 0.0, 1
    while True:
        t += min(base * 2 ** (n - 1), max(MAX_RETRY_DELAY, base))
        if t > horizon:
            return out
        out.append(t)
        n += 1


def next_attempt_at(
    *, attempts: int, created_at: datetime, now: datetime, base: float, horizon: float
) -> datetime | None:
    """When to try again after `attempts` failed attempts (the one just made
    included), or None to give up: the next try would fall past `horizon`
    seconds after `created_at`."""
    next_at = now + timedelta(seconds=retry_delay(attempts, base))
    if (next_at - created_at).total_seconds() > horizon:
        return None
    return next_at


__all__ = ["MAX_RETRY_DELAY", "next_attempt_at", "retry_delay", "retry_schedule"]
