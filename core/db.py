"""DynamoDB access: the thread pool every blocking PynamoDB call runs in, request
counting (a botocore event hook), the shared connection (table creation and
pointing the models at it: `models.tables`)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from pynamodb.connection import Connection

from core.retry import botocore_retries
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
# Listeners called with (operation, seconds, error code or None) after each call
# (retries included), and with (operation, error code) after each failed attempt.
CALL_LISTENERS: list[Callable[[str, float, str | None], None]] = []
ATTEMPT_LISTENERS: list[Callable[[str, str], None]] = []


# DynamoDB calls made on a thread that runs an event loop (they block it). The
# test suite asserts this stays empty: every call must go through `run_db`.
ON_LOOP_CALLS: list[str] = []


def _record_on_loop_call(op: str) -> None:
    """A blocking call on an event-loop thread, unless a test made it directly
    (tests may read the tables to check what the code wrote)."""
    import traceback

    stack = traceback.extract_stack(limit=40)
    if any("/tests/" in frame.filename for frame in stack):
        return
    where = next(
        (
            f"{f.filename}:{f.lineno}"
            for f in reversed(stack)
            if "/site-packages/" not in f.filename and not f.filename.endswith("core/db.py")
        ),
        "?",
    )
    ON_LOOP_CALLS.append(f"{op} from {where}")


def _before_send(**kwargs: Any) -> None:
    model = kwargs.get("model")
    op = getattr(model, "name", "Unknown")
    if asyncio._get_running_loop() is not None:
        _record_on_loop_call(op)
    TOTALS.add(op)
    stats = current_stats.get()
    if stats is not None:
        stats.add(op)
    context = kwargs.get("context")
    if isinstance(context, dict):
        context["loangraph_started"] = time.perf_counter()


def _notify_call(kwargs: dict[str, Any], error: str | None) -> None:
    context = kwargs.get("context")
    started = context.get("loangraph_started") if isinstance(context, dict) else None
    seconds = time.perf_counter() - started if started is not None else 0.0
    op = getattr(kwargs.get("model"), "name", "Unknown")
    for listener in CALL_LISTENERS:
        try:
            listener(op, seconds, error)
        except Exception:  # noqa: BLE001 - metrics must never fail a request
            log.exception("DynamoDB call listener failed")


def _after_call(**kwargs: Any) -> None:
    parsed = kwargs.get("parsed") or {}
    code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
    _notify_call(kwargs, code or None)


def _after_call_error(**kwargs: Any) -> None:
    _notify_call(kwargs, type(kwargs.get("exception")).__name__)


def _on_attempt(**kwargs: Any) -> None:
    """needs-retry: called after every attempt; report the failed ones."""
    response = kwargs.get("response")
    exc = kwargs.get("caught_exception")
    code = None
    if exc is not None:
        code = type(exc).__name__
    elif response is not None and isinstance(response[1], dict):
        code = response[1].get("Error", {}).get("Code")
    if not code or not ATTEMPT_LISTENERS:
        return
    op = getattr(kwargs.get("operation"), "name", "Unknown")
    for listener in ATTEMPT_LISTENERS:
        try:
            listener(op, code)
        except Exception:  # noqa: BLE001
            log.exception("DynamoDB attempt listener failed")


_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()


def instrument_client(client: Any) -> Any:
    """Count every DynamoDB request this botocore client sends."""
    if client not in _instrumented:
        client.meta.events.register("before-call.dynamodb.*", _before_send)
        client.meta.events.register("after-call.dynamodb.*", _after_call)
        client.meta.events.register("after-call-error.dynamodb.*", _after_call_error)
        client.meta.events.register("needs-retry.dynamodb.*", _on_attempt)
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
_executor: ThreadPoolExecutor | None = None
_threads = 32


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="loangraph-db")
    return _executor


async def run_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking PynamoDB/botocore call in the database thread pool (never on
    the event loop). The caller's contextvars (request stats) go along."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    return await loop.run_in_executor(_pool(), partial(ctx.run, fn, *args, **kwargs))


# ---------------------------------------------------------------- setup
_settings: Settings | None = None
_tx_connection: Connection | None = None


def connect(settings: Settings) -> Connection:
    """Point the thread pool and the shared connection at the database of
    `settings` and return that connection. All tables share its instrumented
    botocore client (thread-safe, one connection pool), built once per endpoint:
    creating a client per table costs ~100 ms each. `models.tables.configure`
    calls this and points every model at the client."""
    global _settings, _tx_connection, _threads
    _settings = settings
    if _threads != settings.db_threads and _executor is not None:
        _executor.shutdown(wait=False)
        globals()["_executor"] = None
    _threads = settings.db_threads
    key = (
        settings.dynamodb_endpoint,
        settings.aws_region,
        settings.db_threads,
        settings.db_retry_mode,
        settings.db_max_attempts,
        settings.db_connect_timeout,
        settings.db_read_timeout,
    )
    conn = _connections.get(key)
    if conn is None:
        conn = _connections[key] = _new_connection(settings)
    _tx_connection = conn
    return conn


_connections: dict[tuple[Any, ...], Connection] = {}


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("models.tables.configure() has not been called")
    return _settings


def _new_connection(s: Settings) -> Connection:
    kwargs: dict[str, Any] = {}
    if s.dynamodb_endpoint:
        kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")
    conn = Connection(
        region=s.aws_region,
        host=s.dynamodb_endpoint,
        max_pool_connections=max(s.db_threads + 8, 10),
        # Retries: botocore's standard/adaptive mode (core/retry.py).
        retry_configuration=botocore_retries(s),
        connect_timeout_seconds=s.db_connect_timeout,
        read_timeout_seconds=s.db_read_timeout,
        **kwargs,
    )
    instrument_client(conn.client)
    return conn


def tx_connection() -> Connection:
    """The PynamoDB connection that TransactWrite/TransactGet use (shared client)."""
    if _tx_connection is None:
        raise RuntimeError("models.tables.configure() has not been called")
    return _tx_connection


def boto_client() -> Any:
    """A plain botocore DynamoDB client on the configured endpoint (instrumented)."""
    return tx_connection().client
