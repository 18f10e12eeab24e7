"""The loader base class: one BatchGetItem per 100 keys, results in key order."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader
from pynamodb.models import Model

from core.db import run_db
from core.retry import retry_call
from ops import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Loader(DataLoader[K, V | None]):
    """Per-request loader. Subclasses implement the blocking `fetch(keys)`,
    returning one value per key in key order (None for a miss)."""

    max_batch_size = 100

    def __init__(self) -> None:
        super().__init__(max_batch_size=self.max_batch_size)

    def fetch(self, keys: Sequence[K]) -> list[V | None]:
        raise NotImplementedError

    async def batch_load_fn(self, keys: Sequence[K]) -> list[V | None]:
        metrics.on_loader_batch(type(self).__name__, len(keys))
        return await run_db(self.fetch, list(keys))


def batch_get(
    model: type[Model], keys: Sequence[Any], key_of: Any, *, consistent_read: bool = False
) -> list[Any]:
    """BatchGetItem re-indexed to key order (PynamoDB returns rows in no order).

    Keys DynamoDB hands back as `UnprocessedKeys` (throttled partitions, the
    16 MB limit) are asked for again, with back-off and jitter, until every key
    is answered (PynamoDB's own loop re-asks at once, with no back-off and no
    end); past the deadline the read fails with `Unavailable`
    (SERVICE_UNAVAILABLE), never with a silently missing row."""
    unique = list(dict.fromkeys(keys))
    found: dict[Any, Any] = {}
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        for row in _batch_get_page(model, unique[start : start + BATCH_GET_LIMIT], consistent_read):
            found[key_of(row)] = row
    return [found.get(k) for k in keys]


BATCH_GET_LIMIT = 100
UNPROCESSED_DEADLINE_SECONDS = 8.0


def _serialized_key(model: type[Model], key: Any) -> dict[str, Any]:
    hash_attr = model._hash_key_attribute()
    range_attr = model._range_key_attribute()
    if range_attr is not None:
        h, r = key
        hs, rs = model._serialize_keys(h, r)
        return {hash_attr.attr_name: hs, range_attr.attr_name: rs}
    hs, _ = model._serialize_keys(key)
    return {hash_attr.attr_name: hs}


class _Unprocessed(Exception):
    """Some keys came back unprocessed: ask again after a back-off."""

    cause_response_code = "UnprocessedKeys"


def _batch_get_page(model: type[Model], keys: Sequence[Any], consistent_read: bool) -> list[Any]:
    pending = [_serialized_key(model, k) for k in keys]
    rows: list[Any] = []

    def once() -> None:
        nonlocal pending
        data = model._get_connection().batch_get_item(
            pending,  # type: ignore[arg-type]  # serialized keys: PynamoDB's hint says str
            consistent_read=consistent_read,
        )
        table = model.Meta.table_name
        rows.extend(model.from_raw_data(item) for item in data.get("Responses", {}).get(table, []))
        pending = data.get("UnprocessedKeys", {}).get(table, {}).get("Keys") or []
        if pending:
            raise _Unprocessed(f"{len(pending)} unprocessed keys")

    retry_call(
        "BatchGetItem",
        once,
        deadline=UNPROCESSED_DEADLINE_SECONDS,
        # Errors were retried by botocore already; only unprocessed keys are ours.
        retry_on=lambda e: isinstance(e, _Unprocessed),
    )
    return rows


def prime_many(loader: DataLoader, rows: Iterable[Any], key_of: Any) -> None:
    for row in rows:
        loader.prime(key_of(row), row)
