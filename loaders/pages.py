"""One-to-many reads: each parent's page is one DynamoDB Query, and every page
asked for in the same tick is fetched concurrently and delivered together, so
the loads they cause next (e.g. each participant's lender) batch together too."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiodataloader import DataLoader

from core.db import run_db
from core.pagination import Page, PageArgs, QuerySpec, fetch_page
from core.settings import Settings


class PageLoader(DataLoader):  # type: ignore[misc]
    """Key: (QuerySpec, PageArgs). Not cached across keys with different args."""

    max_batch_size = 200

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            max_batch_size=self.max_batch_size,
            get_cache_key=lambda key: (key[0].fingerprint, repr(key[0].hash_key), key[1]),
        )
        self.settings = settings

    async def batch_load_fn(self, keys: Sequence[tuple[QuerySpec, PageArgs]]) -> list[Page[Any]]:
        s = self.settings
        return list(
            await asyncio.gather(
                *(
                    run_db(fetch_page, spec, args, s.signing_secret, s.cursor_ttl_seconds)
                    for spec, args in keys
                )
            )
        )
