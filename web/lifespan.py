"""What runs while the app runs: tables created and persisted documents
imported at start-up, the event runtime and the other LIFESPAN_HOOKS, and the
cache invalidation feed; stopped in reverse order at shutdown. And the other
path of cache invalidation, this process's own writes (`wire_own_writes`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from graphql import GraphQLError
from starlette.applications import Starlette

from core import db
from core.settings import Settings
from models import tables
from ops import metrics as ops_metrics

log = logging.getLogger("loangraph.server")

# Async callables (app, settings, state, start_background) -> stop callable | None,
# run at startup by the lifespan (event dispatcher, broker, metrics...).
LIFESPAN_HOOKS: list[Any] = [ops_metrics.metrics_port_hook]


async def _import_persisted_documents(settings: Settings, guards: Any, schema: Any) -> None:
    """LOANGRAPH_PERSISTED_DOCUMENTS: load a manifest at start-up (idempotent)."""
    from guards import apq

    path = Path(settings.persisted_documents or "")
    try:
        docs = apq.parse_manifest(json.loads(path.read_text()))
        apq.check_manifest_schema(docs, schema._schema)
    except (OSError, ValueError, GraphQLError) as exc:
        raise RuntimeError(f"LOANGRAPH_PERSISTED_DOCUMENTS={path}: {exc}") from None
    added, present = await apq.import_manifest(guards.store, docs)
    log.info("persisted documents from %s: %d added, %d already stored", path, added, present)


def make_lifespan(
    settings: Settings,
    state: dict[str, Any],
    guards: Any,
    schema: Any,
    start_background: bool,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.create_tables:
            await db.run_db(tables.create_tables, settings)
        if settings.persisted_documents:
            await _import_persisted_documents(settings, guards, schema)
        from events.runtime import lifespan_hook as events_hook

        hooks: list[Any] = []
        for starter in (events_hook, *LIFESPAN_HOOKS):
            hooks.append(await starter(app, settings, state, start_background))
        runtime = app.state.events
        state["events"] = runtime
        hooks.append(await _wire_cache_invalidation(runtime))
        try:
            yield
        finally:
            for stop in reversed(hooks):
                if stop is not None:
                    with contextlib.suppress(Exception):
                        await stop()

    return lifespan


def wire_own_writes(state: dict[str, Any], settings: Settings) -> None:
    """Size the process caches (loaders/) and invalidate them after this
    process's own writes: every committed transaction (`services.tx`) and the
    viewer's profile upsert (read your writes)."""
    from loaders import cache, page_cache
    from services import tx

    cache.configure(settings)
    page_cache.configure(settings)
    for hook in (cache.after_commit, page_cache.after_commit):
        if hook not in tx.AFTER_COMMIT_HOOKS:
            tx.AFTER_COMMIT_HOOKS.append(hook)
    ensure = state["ensure_user"]

    async def ensure_user(viewer: Any) -> Any:
        wrote = await ensure(viewer)
        if wrote:
            cache.invalidate("users", viewer.user_id)
        return wrote

    state["ensure_user"] = ensure_user


async def _wire_cache_invalidation(runtime: Any) -> Any:
    """Every committed change invalidates the process cache: from the dispatcher
    when this process runs it, else from the broker (replicas behind Redis)."""

    from loaders import cache, page_cache

    if runtime.dispatcher is not None:
        runtime.add_invalidation_hook(cache.on_event)
        runtime.add_invalidation_hook(page_cache.on_event)
        return None
    # It restarts itself when its subscription ends (fell behind, or the broker
    # lost Redis): invalidations may have been missed, so the cache is cleared.
    from events.broker import (
        INVALIDATION_RESTARTS,
        SubscriptionInterrupted,
        SubscriptionOverflow,
    )

    stopping = asyncio.Event()
    current: list[Any] = []

    async def consume() -> None:
        ended = False  # the previous subscription ended: events may have been missed
        while not stopping.is_set():
            try:
                sub = runtime.broker.subscribe_all()
            except SubscriptionInterrupted:  # the broker is reconnecting
                await asyncio.sleep(0.2)
                continue
            current[:] = [sub]
            if ended:
                cache.CACHE.clear()
                page_cache.PAGES.clear()
                INVALIDATION_RESTARTS.inc()
                log.warning("cache invalidation feed resumed; the cache was cleared")
            try:
                async for event in sub:
                    cache.on_event(event)
                    page_cache.on_event(event)
            except (SubscriptionOverflow, SubscriptionInterrupted) as exc:
                log.warning("cache invalidation feed ended (%s); resubscribing", exc)
            finally:
                sub.close()
            ended = True
            await asyncio.sleep(0.05)

    task = asyncio.create_task(consume(), name="cache-invalidation")

    async def stop() -> None:
        stopping.set()
        for sub in current:
            sub.close()
        task.cancel()

    return stop
