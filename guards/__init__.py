"""Guard rails: query cost and limits, points-based rate limiting, persisted
queries, and the record cache under the loaders. See docs/rate-limits.md.

`install(state, settings)` (called by `server.create_app`) puts one `Guards` in
the app state, where the `QueryGuards` extension and the HTTP view find it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.settings import Settings
from guards import cache
from guards.analyses import AnalysisCache
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
    # Document-only admission work, done once per document (guards.analyses).
    analyses: AnalysisCache = field(default_factory=AnalysisCache)


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
    from loaders import page_cache

    cache.configure(settings)
    page_cache.configure(settings)
    _hook_own_writes(state)
    return guards


def _hook_own_writes(state: dict[str, Any]) -> None:
    """Invalidate the record cache after this process's own writes."""
    from services import tx

    if cache.after_commit not in tx.AFTER_COMMIT_HOOKS:
        tx.AFTER_COMMIT_HOOKS.append(cache.after_commit)
    from loaders import page_cache

    if page_cache.after_commit not in tx.AFTER_COMMIT_HOOKS:
        tx.AFTER_COMMIT_HOOKS.append(page_cache.after_commit)
    ensure = state.get("ensure_user")
    if ensure is not None and not getattr(ensure, "invalidates_cache", False):

        async def ensure_user(viewer: Any) -> Any:
            wrote = await ensure(viewer)
            if wrote:
                cache.invalidate("users", viewer.user_id)
            return wrote

        ensure_user.invalidates_cache = True  # type: ignore[attr-defined]
        state["ensure_user"] = ensure_user


__all__ = ["Guards", "GuardLimits", "install"]
