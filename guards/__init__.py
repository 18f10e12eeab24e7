"""Guard rails: query cost and limits, points-based rate limiting, persisted
queries. See docs/rate-limits.md.

`install(state, settings)` (called by `server.create_app`) puts one `Guards` in
the app state, where the `QueryGuards` extension and the HTTP view find it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from core.settings import Settings
from guards.analyses import AnalysisCache
from guards.apq import MODES, PersistedQueryStore
from guards.limits import DEFAULT_LIMITS, GuardLimits
from guards.ratelimit import RateLimiter, RateLimitState


@dataclass
class Guards:
    """The guard rails of one app (mutable: tests and deployments may swap limits)."""

    settings: Settings
    limits: GuardLimits
    limiter: RateLimiter
    store: PersistedQueryStore
    mode: str = "apq"
    # Document-only admission work, done once per document (guards.analyses).
    analyses: AnalysisCache = field(default_factory=AnalysisCache)


class GuardedContext(Protocol):
    """What the guard rails need of a request context (resolvers.context.Context,
    which they do not import: it sits in a layer above)."""

    guards: Guards | None
    rate_limit: RateLimitState | None
    # Documents of this request that were admitted (parsed, validated, within
    # limits), set by QueryGuards, read before a persisted query stores one.
    admitted_documents: set[str]

    def read_fresh(self) -> None:
        """Read around the process caches from now on (mutations, subscriptions)."""


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


__all__ = ["GuardedContext", "Guards", "GuardLimits", "install"]
