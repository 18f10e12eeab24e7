"""The process-wide page cache: results of one-to-many reads (a loan's
participants, versions and funding history; loan lists) next to the record
cache (loaders.cache), invalidated by the same two paths.

Every cached page belongs to a *scope* whose generation is part of its key:

* `("loan", loan_id)`: a Query of a loan's partition (participants, versions,
  funding history);
* `("borrower", borrower_id)`: a borrower's loan list (GSI `by_borrower`);
* `("loan-lists",)`: the other loan lists (by status, all loans: admins).

A committed change bumps the generations of the scopes it touches (its loan,
the loan's borrower, the other loan lists), so every page read before it
becomes unreachable at once; the LRU or the TTL frees it later. A read that
raced with a change is stored under the generation it started with, so it
can never be found under the new one. Generations come from one process-wide
counter, so a forgotten scope (its entry evicted from the generation table)
is never confused with an older one: the whole cache is dropped then.

Bumped by
* this process's own writes at once: `after_commit` runs after every committed
  transaction (`services.tx.AFTER_COMMIT_HOOKS`), so a writer reads its write;
* events from any replica: `on_event` rides the same invalidation hook as the
  record cache (dispatcher, or the Redis broker on replicas).

Memory is bounded by LOANGRAPH_PAGE_CACHE_SIZE, counted in rows (a page
weighs its rows + 1), least recently used first out; LOANGRAPH_PAGE_CACHE_TTL_SECONDS
bounds how long a page can outlive a missed event. A size of 0 turns it off.

The cache holds query results only. Who may read a loan is decided per
request before any of its pages is asked for (`resolvers.permissions`, with an
uncached guard lookup for lenders); a lender's own-participations page is a
different query (its filter names the lender) and so a different key.
Mutations and subscriptions (`Loaders(fresh=True)`) never read from here.
Cached pages are shared between requests: treat them as read-only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterable
from typing import Any

from cachetools import TTLCache

from ops import metrics

Scope = tuple[str, ...]
LISTS: Scope = ("loan-lists",)
# How long after a change a GSI page is served but not kept (GSIs replicate
# asynchronously, typically well under a second).
SETTLE_SECONDS = 1.0


class _Pages(TTLCache[Hashable, Any]):
    """TTLCache that counts what it evicts for room (expiry is not eviction)."""

    evictions = 0

    def popitem(self) -> Any:
        item = super().popitem()
        self.evictions += 1
        return item


def _weight(value: tuple[int, Any]) -> int:
    return len(value[1].items) + 1


class PageCache:
    def __init__(self, maxsize: int = 20_000, ttl: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._counter = 0
        self.hits = 0
        self.misses = 0
        self.invalidations = 0
        self._evicted_before = 0
        self.configure(maxsize, ttl)

    def configure(self, maxsize: int, ttl: float) -> None:
        with self._lock:
            self.maxsize = int(maxsize)
            self.ttl = float(ttl)
            if hasattr(self, "_pages"):
                self._evicted_before += self._pages.evictions
            self._pages: _Pages = _Pages(
                maxsize=max(self.maxsize, 1), ttl=max(self.ttl, 0.001), getsizeof=_weight
            )
            self._gens: dict[Scope, int] = {}
            self._changed_at: dict[Scope, float] = {}
            self._counter += 1
            self._floor = self._counter
            # The generation table holds one int per scope changed within its
            # lifetime; it is dropped (with every page) past this many scopes.
            self._max_gens = max(10 * self.maxsize, 10_000)

    @property
    def enabled(self) -> bool:
        return self.maxsize > 0 and self.ttl > 0

    @property
    def evictions(self) -> int:
        return self._evicted_before + self._pages.evictions

    def generation(self, scope: Scope) -> int:
        return self._gens.get(scope, self._floor)

    def get(self, scope: Scope, key: Hashable) -> tuple[int, Any]:
        """(the scope's generation now, the cached page or None)."""
        with self._lock:
            gen = self._gens.get(scope, self._floor)
            hit = self._pages.get((scope, key))
            if hit is not None and hit[0] != gen:
                hit = None
            if hit is None:
                self.misses += 1
                return gen, None
            self.hits += 1
            return gen, hit[1]

    def put(self, scope: Scope, key: Hashable, gen: int, page: Any, eventual: bool = False) -> None:
        """Store a page read under generation `gen` (unreachable if it changed).
        An `eventual` read (a GSI: never strongly consistent) is not kept within
        SETTLE_SECONDS of its scope's last change: it may not show that change yet."""
        if not self.enabled:
            return
        with self._lock:
            if self._gens.get(scope, self._floor) != gen:
                return  # changed while we read: the page may predate the change
            if (
                eventual
                and time.monotonic() - self._changed_at.get(scope, -SETTLE_SECONDS) < SETTLE_SECONDS
            ):
                return
            if _weight((gen, page)) > self._pages.maxsize:
                return
            self._pages[(scope, key)] = (gen, page)

    def invalidate(self, scopes: Iterable[Scope]) -> None:
        now = time.monotonic()
        with self._lock:
            for scope in scopes:
                if len(self._gens) >= self._max_gens:
                    self._gens.clear()
                    self._changed_at.clear()
                    self._pages.clear()
                    self._counter += 1
                    self._floor = self._counter
                self._counter += 1
                self._gens[scope] = self._counter
                self._changed_at[scope] = now
                self.invalidations += 1

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._gens.clear()
            self._changed_at.clear()
            self._counter += 1
            self._floor = self._counter

    def stats(self) -> dict[str, int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "invalidations": self.invalidations,
            "rows": int(self._pages.currsize),
            "pages": len(self._pages),
        }

    def __len__(self) -> int:
        return len(self._pages)


# One per process, like the record cache.
PAGES = PageCache()


def configure(settings: Any) -> None:
    size, ttl = settings.page_cache_size, settings.page_cache_ttl_seconds
    if (size, ttl) != (PAGES.maxsize, PAGES.ttl):
        PAGES.configure(size, ttl)


def _condition_key(cond: Any) -> Any:
    if cond is None:
        return None
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    expr = cond.serialize(names, values)
    return expr, repr(sorted(names.items())), repr(sorted(values.items()))


def scope_of(spec: Any) -> Scope | None:
    """The scope of a QuerySpec, None for queries this cache does not keep
    (audit trails, webhooks, invitations by email)."""
    import models

    model, index = spec.model, spec.index
    if index is None and model in (models.Participant, models.LoanVersion, models.LoanMetric):
        return ("loan", str(spec.hash_key))
    if model is models.Loan and index is not None:
        if index is models.Loan.by_borrower:
            return ("borrower", str(spec.hash_key))
        return LISTS
    return None


def key_of(spec: Any, args: Any, secret: bytes, cursor_ttl: int) -> Hashable:
    """Everything the page's content depends on (and the cursors' signing key)."""
    index = spec.index.Meta.index_name if spec.index is not None else None
    return (
        spec.model.Meta.table_name,
        index,
        repr(spec.hash_key),
        _condition_key(spec.range_condition),
        _condition_key(spec.filter_condition),
        spec.fingerprint,
        args,
        secret,
        cursor_ttl,
    )


def loan_scopes(loan_id: str | None, borrower_id: str | None) -> list[Scope]:
    scopes: list[Scope] = [LISTS]
    if loan_id:
        scopes.append(("loan", loan_id))
    if borrower_id:
        scopes.append(("borrower", borrower_id))
    return scopes


def on_event(event: Any) -> None:
    """Event hook: every loan or participant event changes the loan's pages,
    its borrower's loan list and the other loan lists."""
    loan_id = getattr(event, "loan_id", None)
    if loan_id:
        PAGES.invalidate(loan_scopes(loan_id, getattr(event, "borrower_id", None)))


def after_commit(tx: Any) -> None:
    """`services.tx.AFTER_COMMIT_HOOKS` entry: a committed write of this process."""
    import models

    scopes: set[Scope] = set()
    for model in tx.models():
        loan_id = getattr(model, "loan_id", None)
        if isinstance(model, models.Loan):
            scopes.update(loan_scopes(loan_id, model.borrower_id))
        elif loan_id and isinstance(
            model, (models.Participant, models.LoanVersion, models.LoanMetric)
        ):
            scopes.update(loan_scopes(loan_id, None))
    if scopes:
        PAGES.invalidate(scopes)


def stats() -> dict[str, int]:
    return PAGES.stats()


metrics.register_cache("pages", stats)
