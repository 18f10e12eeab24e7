"""`rateLimit`: the figures the rate limiter recorded for this request."""

from __future__ import annotations

import datetime as dt

from resolvers.context import Info
from schema.ratelimit import RateLimit


def resolve_rate_limit(info: Info) -> RateLimit:
    ctx = info.context
    state = ctx.rate_limit
    if state is not None:
        return RateLimit(
            limit=state.limit, cost=state.cost, remaining=state.remaining, reset_at=state.reset_at
        )
    # No limiter ran for this request (e.g. limits disabled): the full budget.
    now = dt.datetime.now(dt.UTC)
    reset = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    limit = ctx.settings.rate_limit_points
    return RateLimit(limit=limit, cost=0, remaining=limit, reset_at=reset)
