"""DynamoDB access: the thread pool every blocking PynamoDB call runs in, request
counting (a botocore event hook), table creation, the transaction connection."""

from __future__ import annotations

import contextvars
import logging
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import TableError
from pynamodb.models import Model

import models
from core.settings import Settings

log = logging.getLogger("loangraph.db")
T = TypeVar("T")


@dataclass
class RequestStats:
    """DynamoDB requests made on behalf of one GraphQL request (or one test block)."""

    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, operation: str) -> None:
        with self.lock:
            self.calls[operation] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


# Process-wide totals (metrics, tests) and the current request's stats.
TOTALS = RequestStats()
current_stats: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar(
    "loangraph_request_stats", default=None
)
# Listeners called with (operation, seconds, error code or None) after each call.
CALL_LISTENERS: list[Callable[[str, float, str | None], None]] = []


def _before_send(**kwargs: Any) -> None:
    model = kwargs.get("model")
    op = getattr(model, "name", "Unknown")
    TOTALS.add(op)
    stats = current_stats.get()
    if stats is not None:
        stats.add(op)


_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()


def instrument_client(client: Any) -> Any:
    """Count every DynamoDB request this botocore client sends."""
    if client not in _instrumented:
        client.meta.events.register("before-call.dynamodb.*", _before_send)
        _instrumented.add(client)
    return client


@contextmanager
def count_requests() -> Iterator[RequestStats]:
    stats = RequestStats()
    token = current_stats.set(stats)
    try:
        yield stats
    finally:
        current_stats.reset(token)


# ---------------------------------------------------------------- thread pool
_limiters: weakref.WeakKeyDictionary[Any, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()
_threads = 32


def _limiter() -> anyio.CapacityLimiter:
    import asyncio

    loop = asyncio.get_running_loop()
    lim = _limiters.get(loop)
    if lim is None:
        lim = _limiters[loop] = anyio.CapacityLimiter(_threads)
    return lim


async def run_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking PynamoDB/botocore call in the database thread pool."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=_limiter())


# ---------------------------------------------------------------- setup
_settings: Settings | None = None
_tx_connection: Connection | None = None


def configure(settings: Settings) -> None:
    """Point every model at the database of `settings` and instrument the clients."""
    global _settings, _tx_connection, _threads
    _settings = settings
    _threads = settings.db_threads
    _limiters.clear()
    models.configure(settings)
    for model in models.REGISTRY:
        instrument_client(model._get_connection().connection.client)
    _tx_connection = None


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("core.db.configure() has not been called")
    return _settings


def tx_connection() -> Connection:
    """The PynamoDB connection that TransactWrite/TransactGet use."""
    global _tx_connection
    if _tx_connection is None:
        s = settings()
        kwargs: dict[str, Any] = {}
        if s.dynamodb_endpoint:
            kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")
        conn = Connection(
            region=s.aws_region,
            host=s.dynamodb_endpoint,
            max_pool_connections=max(s.db_threads + 8, 10),
            max_retry_attempts=3,
            connect_timeout_seconds=2,
            read_timeout_seconds=10,
            **kwargs,
        )
        instrument_client(conn.client)
        _tx_connection = conn
    return _tx_connection


def boto_client() -> Any:
    """A plain botocore DynamoDB client on the configured endpoint (instrumented)."""
    return tx_connection().client


def create_tables(settings_: Settings | None = None, *, wait: bool = True) -> list[str]:
    """Create every missing table (idempotent). Returns the names created."""
    s = settings_ or settings()
    created: list[str] = []
    client = boto_client()
    existing: set[str] = set()
    paginator = client.get_paginator("list_tables")
    for page in paginator.paginate():
        existing.update(page.get("TableNames", []))
    for model in models.REGISTRY:
        name = model.Meta.table_name
        if name in existing:
            continue
        try:
            model.create_table(wait=wait, billing_mode="PAY_PER_REQUEST")
        except TableError as exc:  # created by a concurrent process meanwhile
            if "ResourceInUseException" not in str(exc) and "already exists" not in str(exc):
                raise
        created.append(name)
        _enable_recovery(client, name, local=bool(s.dynamodb_endpoint))
    return created


def _enable_recovery(client: Any, name: str, *, local: bool) -> None:
    """Point-in-time recovery where the service supports it (AWS; not DynamoDB Local).
    Encryption at rest is always on in AWS DynamoDB (AWS-owned key by default)."""
    if local:
        return
    try:
        client.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    except ClientError as exc:  # pragma: no cover - depends on the service
        log.warning("point-in-time recovery not enabled on %s: %s", name, exc)


def delete_tables() -> None:
    for model in models.REGISTRY:
        if model.exists():
            model.delete_table()


def model_tables() -> list[type[Model]]:
    return list(models.REGISTRY)
