"""The RateLimit type (see docs/rate-limits.md)."""

from __future__ import annotations

import datetime as dt

import strawberry


@strawberry.type(description="Your point budget in the current window.")
class RateLimit:
    limit: int = strawberry.field(description="Points per window (an hour).")
    cost: int = strawberry.field(description="What this request cost.")
    remaining: int = strawberry.field(description="Points left in the window.")
    reset_at: dt.datetime = strawberry.field(description="When the window resets.")
