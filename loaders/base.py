"""The loader base class: one BatchGetItem per 100 keys, results in key order."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from aiodataloader import DataLoader
from pynamodb.models import Model

from core.db import run_db

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Observers of batch sizes (metrics): called with (loader name, number of keys).
BATCH_LISTENERS: list[Any] = []


class Loader(DataLoader, Generic[K, V]):  # type: ignore[misc]
    """Per-request loader. Subclasses implement the blocking `fetch(keys)`,
    returning one value per key in key order (None for a miss)."""

    max_batch_size = 100

    def __init__(self) -> None:
        super().__init__(max_batch_size=self.max_batch_size)

    def fetch(self, keys: Sequence[K]) -> list[V | None]:
        raise NotImplementedError

    async def batch_load_fn(self, keys: Sequence[K]) -> list[V | None]:
        for listener in BATCH_LISTENERS:
            listener(type(self).__name__, len(keys))
        return await run_db(self.fetch, list(keys))


def batch_get(
    model: type[Model], keys: Sequence[Any], key_of: Any, *, consistent_read: bool = False
) -> list[Any]:
    """BatchGetItem re-indexed to key order (PynamoDB returns rows in no order)."""
    unique = list(dict.fromkeys(keys))
    found = {key_of(row): row for row in model.batch_get(unique, consistent_read=consistent_read)}
    return [found.get(k) for k in keys]


def prime_many(loader: DataLoader, rows: Iterable[Any], key_of: Any) -> None:
    for row in rows:
        loader.prime(key_of(row), row)
