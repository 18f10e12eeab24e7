"""The process-wide record cache under the loaders (loans, users, loan versions).

A cachetools TTLCache (LOANGRAPH_CACHE_TTL_SECONDS, default 5 s; 0 turns it
off). Per-request loaders consult it before DynamoDB and fill it from what they
read (with consistent reads, so a fill never brings back a value older than a
commit this process saw). It is invalidated

* by this process's own writes: `after_commit` runs after every committed
  transaction (`services.tx.AFTER_COMMIT_HOOKS`), and
* by events from any replica: `on_event` is the event dispatcher's invalidation
  hook (`EventDispatcher.add_invalidation_hook(loaders.cache.on_event)`).

The TTL bounds staleness across replicas when an invalidation is missed.
Mutations and subscriptions read fresh (`Loaders(fresh=True)`), never from here.

A fill that raced with an invalidation of the same key is dropped: each
invalidation bumps an epoch, and a loader only stores rows whose key was not
invalidated after its read began. Cached rows are shared: treat them as read-only.

Refills are single-flight: when a key is missing, the first loader to miss it
claims it (`claim`) and reads it; loaders that miss it while that read is in
flight (on the same event loop) wait for its outcome instead of reading it
again, so a TTL expiry under 8 concurrent requests costs one BatchGetItem, not
eight. They get its rows, or its exception. An invalidation of the key ends its
flight for newcomers (a reader that starts after a commit never waits for a
read that began before it); a reader whose owner was cancelled reads itself.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from functools import partial
from typing import Any

from cachetools import TTLCache

from ops import metrics

TABLES = ("loans", "users", "loan_versions")


class Abandoned(Exception):
    """The read a waiter joined was cancelled (its request went away): read again."""


def _physical(table: str) -> str:
    """The configured (prefixed) table name: tests and tenants never share rows."""
    import models

    model = {"loans": models.Loan, "users": models.User, "loan_versions": models.LoanVersion}[table]
    return model.Meta.table_name


class RecordCache:
    def __init__(self, ttl: float = 5.0, maxsize: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._epoch = 0
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()
        self.invalidations: Counter[str] = Counter()
        self.joined: Counter[str] = Counter()  # misses served by another's read
        # (table, key) -> the future of the read in flight for it
        self._flights: dict[tuple[str, Hashable], asyncio.Future[Any]] = {}
        self.configure(ttl, maxsize)

    def configure(self, ttl: float, maxsize: int = 50_000) -> None:
        with self._lock:
            self.ttl = float(ttl)
            self._rows: TTLCache[tuple[str, Hashable], Any] = TTLCache(
                maxsize=maxsize, ttl=max(self.ttl, 0.001)
            )
            # (table, key) -> epoch of its last invalidation, kept long enough to
            # outlive any read in flight.
            self._invalidated: TTLCache[tuple[str, Hashable], int] = TTLCache(
                maxsize=maxsize, ttl=max(self.ttl, 60.0)
            )

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def epoch(self) -> int:
        return self._epoch

    def get_many(
        self, table: str, keys: Sequence[Hashable]
    ) -> tuple[dict[Hashable, Any], list[Hashable]]:
        """Cached rows by key, and the keys to read (in order, de-duplicated)."""
        name = _physical(table)
        found: dict[Hashable, Any] = {}
        missing: list[Hashable] = []
        with self._lock:
            rows = self._rows
            for k in keys:
                row = rows.get((name, k))
                if row is not None:
                    found[k] = row
                elif k not in found:
                    missing.append(k)
        missing = list(dict.fromkeys(missing))
        self.hits[table] += len(keys) - len(missing)
        self.misses[table] += len(missing)
        return found, missing

    def fill(self, table: str, rows: Iterable[tuple[Hashable, Any]], read_epoch: int) -> None:
        """Store rows read since `read_epoch`, except those invalidated meanwhile."""
        if not self.enabled:
            return
        name = _physical(table)
        with self._lock:
            for k, row in rows:
                if row is None:
                    continue  # no negative caching: a new record must show at once
                if self._invalidated.get((name, k), -1) > read_epoch:
                    continue
                self._rows[(name, k)] = row

    # ------------------------------------------------------------ single flight
    def claim(
        self, table: str, keys: Sequence[Hashable]
    ) -> tuple[dict[Hashable, asyncio.Future[Any]], dict[Hashable, asyncio.Future[Any]]]:
        """Split missing keys (on the running loop) into those another reader
        has in flight (key -> its future, to `wait` for) and those this caller
        now owns (key -> a future it must `settle` whatever happens)."""
        name = _physical(table)
        loop = asyncio.get_running_loop()
        joined: dict[Hashable, asyncio.Future[Any]] = {}
        owned: dict[Hashable, asyncio.Future[Any]] = {}
        with self._lock:
            flights = self._flights
            for k in keys:
                f = flights.get((name, k))
                if f is not None and not f.done() and f.get_loop() is loop:
                    joined[k] = f
                else:
                    owned[k] = flights[(name, k)] = loop.create_future()
        if joined:
            self.joined[table] += len(joined)
        return joined, owned

    def settle(
        self,
        table: str,
        owned: dict[Hashable, asyncio.Future[Any]],
        rows: dict[Hashable, Any] | None = None,
        error: BaseException | None = None,
    ) -> None:
        """End the owner's flights: their waiters get `rows` (a key -> row map)
        or `error`. Called on the loop that claimed them."""
        name = _physical(table)
        with self._lock:
            for k, f in owned.items():
                if self._flights.get((name, k)) is f:
                    del self._flights[(name, k)]
        for k, f in owned.items():
            if f.done():
                continue
            if error is None:
                f.set_result(rows.get(k) if rows is not None else None)
            else:
                f.set_exception(error)
                f.exception()  # retrieved: no "never retrieved" warning without waiters

    @staticmethod
    async def wait(
        futures: dict[Hashable, asyncio.Future[Any]],
    ) -> tuple[dict[Hashable, Any], list[Hashable]]:
        """The rows of joined flights, and the keys whose owner was cancelled
        (to read again). Another flight's exception is raised here."""
        found: dict[Hashable, Any] = {}
        again: list[Hashable] = []
        for k, f in futures.items():
            try:
                found[k] = await asyncio.shield(f)
            except Abandoned:
                again.append(k)
        return found, again

    def invalidate(self, table: str, key: Hashable) -> None:
        name = _physical(table)
        with self._lock:
            self._epoch += 1
            self._invalidated[(name, key)] = self._epoch
            self._rows.pop((name, key), None)
            # newcomers must not wait for a read that began before this change
            self._flights.pop((name, key), None)
            self.invalidations[table] += 1

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._rows.clear()
            self._invalidated.clear()
            self._flights.clear()

    def stats(self) -> dict[str, dict[str, int]]:
        """Hits, misses and invalidations per table (metrics read this)."""
        return {
            t: {
                "hits": self.hits[t],
                "misses": self.misses[t],
                "invalidations": self.invalidations[t],
            }
            for t in TABLES
        }

    def __len__(self) -> int:
        return len(self._rows)


# The process-wide cache (one per process by design: it is what replicas don't share).
CACHE = RecordCache()


def configure(settings: Any) -> None:
    if settings.cache_ttl_seconds != CACHE.ttl:
        CACHE.configure(settings.cache_ttl_seconds)


def invalidate(table: str, key: Hashable) -> None:
    """Drop one record: table is "loans", "users" or "loan_versions"."""
    CACHE.invalidate(table, key)


def on_event(event: Any) -> None:
    """Event dispatcher hook: every loan or participant event changes the loan."""
    loan_id = getattr(event, "loan_id", None)
    if loan_id:
        CACHE.invalidate("loans", loan_id)


def after_commit(tx: Any) -> None:
    """`services.tx.AFTER_COMMIT_HOOKS` entry: drop what a committed change wrote."""
    import models

    for model in tx.models():
        if isinstance(model, models.Loan):
            CACHE.invalidate("loans", model.loan_id)
        elif isinstance(model, models.User):
            CACHE.invalidate("users", model.user_id)
        elif isinstance(model, models.LoanVersion):
            CACHE.invalidate("loan_versions", (model.loan_id, int(model.version)))
        elif isinstance(model, models.Participant):
            CACHE.invalidate("loans", model.loan_id)


def stats() -> dict[str, dict[str, int]]:
    return CACHE.stats()


def _table_stats(table: str) -> dict[str, int]:
    return CACHE.stats()[table]


for _table in TABLES:
    metrics.register_cache(f"records:{_table}", partial(_table_stats, _table))
