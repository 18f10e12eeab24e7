"""The nested-query comparison: 100 loans x 10 participants x lender.

server: the real app in-process (httpx ASGI transport: routing, auth, Strawberry,
        loaders, PynamoDB, JSON) — what a client gets minus the socket.
naive:  the same app with unbatched loaders (one request per record).
floor:  the same data read with boto3 directly at the same concurrency
        (1 Query, 100 concurrent Queries, concurrent BatchGetItems), no GraphQL.
memory: Strawberry executing the same shaped result from memory (no database).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.dataset import NESTED_QUERY, Dataset
from bench.naive import NaiveLoaders
from core import db
from core.settings import Settings
from loaders import Loaders


async def interleaved(
    variants: dict[str, Any], runs: int, warmup: int = 3
) -> dict[str, tuple[float, list[float], int]]:
    """Run the variants round-robin (A B C D, A B C D, ...) after a warm-up, so
    every one sees the same machine state (DynamoDB Local's JIT warms up for
    minutes; run in blocks, whichever ran first would look slowest)."""
    for _ in range(warmup):
        for fn in variants.values():
            await fn()
    samples: dict[str, list[float]] = {k: [] for k in variants}
    requests: dict[str, int] = {}
    for _ in range(runs):
        for name, fn in variants.items():
            before = db.TOTALS.total
            t0 = time.perf_counter()
            await fn()
            samples[name].append((time.perf_counter() - t0) * 1000)
            requests[name] = db.TOTALS.total - before
    return {k: (statistics.median(v), v, requests[k]) for k, v in samples.items()}


def floor_fetch(settings: Settings, ds: Dataset, pool: ThreadPoolExecutor) -> int:
    """Same reads with boto3's low-level client, no models, no GraphQL."""
    client = db.boto_client()
    p = settings.table_prefix
    loans = client.query(
        TableName=p + "loans",
        IndexName="borrower-created-index",
        Limit=101,
        KeyConditionExpression="borrower_id = :b",
        ExpressionAttributeValues={":b": {"S": ds.borrower.user_id}},
        FilterExpression="attribute_not_exists(deleted_at)",
    )["Items"][:100]

    def parts(loan_id: str) -> list[dict]:
        return client.query(
            TableName=p + "participants",
            Limit=11,
            KeyConditionExpression="loan_id = :l",
            ExpressionAttributeValues={":l": {"S": loan_id}},
            FilterExpression="attribute_not_exists(deleted_at)",
        )["Items"][:10]

    all_parts = [x for chunk in pool.map(parts, [l["loan_id"]["S"] for l in loans]) for x in chunk]
    ids = sorted({x["lender_id"]["S"] for x in all_parts})

    def users(chunk: list[str]) -> list[dict]:
        out = client.batch_get_item(
            RequestItems={p + "users": {"Keys": [{"user_id": {"S": i}} for i in chunk]}}
        )
        return out["Responses"][p + "users"]

    found = [
        u
        for chunk in pool.map(users, [ids[i : i + 100] for i in range(0, len(ids), 100)])
        for u in chunk
    ]
    assert len(found) == len(ids) == 1000
    return len(all_parts)


@contextlib.asynccontextmanager
async def server_client(
    settings: Settings, token: str, naive: bool = False, cached: bool = False
) -> Any:
    """A callable that runs the nested query once against an in-process app."""
    from server import create_app

    app = create_app(settings, start_background=False)
    if naive:
        app.state.graphql.loaders_factory = NaiveLoaders
    elif not cached:
        app.state.graphql.loaders_factory = lambda: Loaders(fresh=True)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c,
    ):

        async def once() -> None:
            r = await c.post("/graphql", json={"query": NESTED_QUERY}, headers=headers)
            body = r.json()
            assert "errors" not in body and len(body["data"]["loans"]["edges"]) == 100, body

        yield once


def floor_callable(settings: Settings, ds: Dataset, pool: ThreadPoolExecutor) -> Any:
    async def once() -> None:
        n = await asyncio.get_running_loop().run_in_executor(None, floor_fetch, settings, ds, pool)
        assert n == 1000

    return once


def memory_callable(ds: Dataset) -> Any:
    from bench.memory_schema import build

    schema = build(ds)

    async def once() -> None:
        result = await schema.execute(NESTED_QUERY)
        assert result.errors is None and result.data is not None
        assert len(result.data["loans"]["edges"]) == 100

    return once
