"""One-to-many reads: each parent's page is one DynamoDB Query, and every page
asked for in the same tick is fetched concurrently and delivered together, so
the loads they cause next (e.g. each participant's lender) batch together too.

Pages of loans and loan lists come from the process page cache
(loaders.page_cache) when nothing changed since they were read; `fresh=True`
(mutations, subscriptions) always asks DynamoDB."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from aiodataloader import DataLoader

from core.db import run_db
from core.pagination import Page, PageArgs, QuerySpec, fetch_page
from core.settings import Settings
from loaders.page_cache import PAGES, key_of, scope_of


class PageLoader(DataLoader[tuple[QuerySpec, PageArgs], Page[Any]]):
    """Key: (QuerySpec, PageArgs). Not cached across keys with different args."""

    max_batch_size = 200

    def __init__(self, settings: Settings, fresh: bool = False) -> None:
        super().__init__(
            max_batch_size=self.max_batch_size,
            get_cache_key=lambda key: (key[0].fingerprint, repr(key[0].hash_key), key[1]),
        )
        self.settings = settings
        self.fresh = fresh

    def _fetch(self, spec: QuerySpec, args: PageArgs) -> Any:
        s = self.settings
        return run_db(fetch_page, spec, args, s.signing_secret, s.cursor_ttl_seconds)

    async def batch_load_fn(self, keys: Sequence[tuple[QuerySpec, PageArgs]]) -> list[Page[Any]]:
        if self.fresh or not PAGES.enabled:
            return list(await asyncio.gather(*(self._fetch(spec, args) for spec, args in keys)))
        s = self.settings
        out: list[Any] = [None] * len(keys)
        todo: list[tuple[int, Any, Any, int, QuerySpec, PageArgs]] = []
        for i, (spec, args) in enumerate(keys):
            scope = scope_of(spec)
            if scope is None:
                todo.append((i, None, None, 0, spec, args))
                continue
            key = key_of(spec, args, s.signing_secret, s.cursor_ttl_seconds)
            gen, page = PAGES.get(scope, key)
            if page is not None:
                out[i] = page
            elif spec.index is None:
                # A page that will be kept is read consistently: it must not
                # predate a commit whose invalidation came before the read.
                todo.append(
                    (i, scope, key, gen, dataclasses.replace(spec, consistent_read=True), args)
                )
            else:
                todo.append((i, scope, key, gen, spec, args))
        if todo:
            pages = await asyncio.gather(*(self._fetch(spec, args) for *_, spec, args in todo))
            for (i, scope, key, gen, spec, _args), page in zip(todo, pages, strict=True):
                out[i] = page
                if scope is not None:
                    PAGES.put(scope, key, gen, page, eventual=spec.index is not None)
        return out
