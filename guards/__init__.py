"""Guard rails: query cost and limits, points-based rate limiting, persisted
queries. See docs/rate-limits.md.

`install(state, settings)` (called by `server.create_app`) puts one `Guards` in
the app state, where the `QueryGuards` extension and the HTTP view find it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.settings import Settings
from guards.apq import MODES, PersistedQueryStore
from guards.limits import DEFAULT_LIMITS, GuardLimits
from guards.ratelimit import RateLimiter


@dataclass
class Guards:
    """The guard rails of one app (mutable: tests and deployments may swap limits)."""

    settings: Settings
    limits: GuardLimits
    limiter: RateLimiter
    store: PersistedQueryStore
    mode: str = "apq"


def install(state: dict[str, Any], settings: Settings, limits: GuardLimits | None = None) -> Guards:
    mode = (settings.persisted_queries or "apq").lower()
    if mode not in MODES:
        raise ValueError(
            f"LOANGRAPH_PERSISTED_QUERIES must be one of {', '.join(MODES)}, not {mode!r}"
        )
    guards = Guards(
        settings, limits or DEFAULT_LIMITS, RateLimiter(settings), PersistedQueryStore(), mode
    )
    state["guards"] = guards
    return guards


__all__ = ["Guards", "GuardLimits", "install"]
