"""Points-based rate limiting: each caller (a user, or a client address when
unauthenticated) has `LOANGRAPH_RATE_LIMIT_POINTS` points per fixed window of an
hour; each operation spends its requested cost (at least 1).

Two backends, chosen by `LOANGRAPH_RATE_LIMIT_BACKEND`:

* `memory`: a cachetools TTLCache of counters, for one process.
* `dynamodb`: one counter item per caller and window in the `rate_limits` table,
  spent with one atomic conditional UpdateItem (`ADD used :cost` if
  `attribute_not_exists(used) OR used <= :limit - :cost`), expired by TTL. The
  limit holds across every replica; a refused request writes nothing.

Subscriptions also hold a slot each while they are open: at most
`GuardLimits.max_subscriptions_per_user` at once per user and process."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError
from cachetools import TTLCache

from core import db
from core.settings import Settings
from core.times import serialize_datetime
from guards.errors import RateLimited, TooManySubscriptions

WINDOW_SECONDS = 3600
# Seconds since the epoch; tests may replace it to move between windows.
clock = time.time


@dataclass(slots=True)
class RateLimitState:
    """What `Query.rateLimit`, the headers and `extensions.cost` report."""

    limit: int
    cost: int
    used: int
    window_start: int
    window_seconds: int = WINDOW_SECONDS

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def reset_epoch(self) -> int:
        return self.window_start + self.window_seconds

    @property
    def reset_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.reset_epoch, dt.UTC)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Used": str(self.used),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }


class Backend(Protocol):
    def spend(self, caller: str, cost: int, limit: int, window_start: int) -> tuple[bool, int]:
        """Spend `cost` unless that passes `limit`. Returns (allowed, used after)."""
        ...


class MemoryBackend:
    """Counters of one process (cachetools; entries expire with their window)."""

    def __init__(self, maxsize: int = 200_000) -> None:
        self._used: TTLCache[tuple[str, int], int] = TTLCache(
            maxsize=maxsize, ttl=WINDOW_SECONDS * 2
        )
        self._lock = threading.Lock()

    def spend(self, caller: str, cost: int, limit: int, window_start: int) -> tuple[bool, int]:
        key = (caller, window_start)
        with self._lock:
            used = self._used.get(key, 0)
            if used + cost > limit:
                return False, used
            self._used[key] = used = used + cost
            return True, used


class DynamoDBBackend:
    """Counters shared by every replica (atomic conditional ADD with a TTL).

    A process reserves points in blocks of 1/50 of the limit (at least what the
    request costs) with one conditional write, then spends them locally: one
    write per block instead of one per request (~4 ms each on DynamoDB Local).
    The shared counter never passes the limit, so the limit holds across
    replicas; a replica's unspent block (at most limit/50) can only make another
    replica refuse slightly early, never let anyone over. Small limits (under
    50 points) reserve exactly what each request costs."""

    BLOCK_FRACTION = 50

    def __init__(self) -> None:
        # (caller, window) -> (points reserved and not yet spent, shared counter after our last reservation)
        self._blocks: TTLCache[tuple[str, int], tuple[int, int]] = TTLCache(
            maxsize=200_000, ttl=WINDOW_SECONDS * 2
        )
        # One lock per caller and window: a reservation (a DynamoDB write) holds
        # up that caller's other requests only, not everyone's.
        self._locks: TTLCache[tuple[str, int], threading.Lock] = TTLCache(
            maxsize=200_000, ttl=WINDOW_SECONDS * 2
        )
        self._locks_lock = threading.Lock()

    def _lock_for(self, key: tuple[str, int]) -> threading.Lock:
        with self._locks_lock:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def _get(self, key: tuple[str, int]) -> tuple[int, int]:
        with self._locks_lock:  # cachetools caches are not thread-safe
            return self._blocks.get(key, (0, 0))

    def _put(self, key: tuple[str, int], value: tuple[int, int]) -> None:
        with self._locks_lock:
            self._blocks[key] = value

    def spend(self, caller: str, cost: int, limit: int, window_start: int) -> tuple[bool, int]:
        key = (caller, window_start)
        with self._lock_for(key):
            left, shared = self._get(key)
            if cost <= left:
                left -= cost
                self._put(key, (left, shared))
                return True, shared - left
            need = cost - left
            block = max(need, limit // self.BLOCK_FRACTION)
            ok, shared = self._reserve(caller, block, limit, window_start)
            if not ok and block > need:
                block = need
                ok, shared = self._reserve(caller, block, limit, window_start)
            if not ok:
                return False, max(shared - left, 0)
            left = left + block - cost
            self._put(key, (left, shared))
            return True, shared - left

    def _reserve(self, caller: str, points: int, limit: int, window_start: int) -> tuple[bool, int]:
        """Add `points` to the shared counter unless that passes `limit`.
        Returns (done, the counter after, or as it stands when refused)."""
        from models import RateLimitCounter

        values: dict[str, Any] = {
            ":cost": {"N": str(points)},
            ":max": {"N": str(limit - points)},
            ":exp": {"N": str(window_start + 2 * WINDOW_SECONDS)},
        }
        condition = "used <= :max"
        if points <= limit:
            condition = "attribute_not_exists(used) OR " + condition
        try:
            out = db.boto_client().update_item(
                TableName=RateLimitCounter.Meta.table_name,
                Key={"key": {"S": f"{caller}#{window_start}"}},
                UpdateExpression="ADD used :cost SET expires_at = :exp",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            item = exc.response.get("Item") or {}
            return False, int(item.get("used", {}).get("N", limit))
        return True, int(out["Attributes"]["used"]["N"])


def build_backend(settings: Settings) -> MemoryBackend | DynamoDBBackend:
    name = (settings.rate_limit_backend or "memory").lower()
    if name == "memory":
        return MemoryBackend()
    if name == "dynamodb":
        return DynamoDBBackend()
    raise ValueError(f"LOANGRAPH_RATE_LIMIT_BACKEND must be 'memory' or 'dynamodb', not {name!r}")


class RateLimiter:
    """One per app: spends points, and counts open subscriptions per user."""

    def __init__(
        self, settings: Settings, backend: MemoryBackend | DynamoDBBackend | None = None
    ) -> None:
        self.limit = settings.rate_limit_points
        self.backend = backend or build_backend(settings)
        self._in_thread = isinstance(self.backend, DynamoDBBackend)
        self._subscriptions: Counter[str] = Counter()

    @staticmethod
    def caller_of(ctx: Any) -> str:
        viewer = getattr(ctx, "viewer", None)
        if viewer is not None:
            return f"user:{viewer.user_id}"
        return f"ip:{getattr(ctx, 'ip_address', None) or 'unknown'}"

    async def spend(self, ctx: Any, cost: int) -> RateLimitState:
        """Spend `cost` points for the caller of `ctx`; raise RATE_LIMITED when they
        would pass the limit (nothing is spent then)."""
        caller = self.caller_of(ctx)
        now = clock()
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        if self._in_thread:
            allowed, used = await db.run_db(
                self.backend.spend, caller, cost, self.limit, window_start
            )
        else:
            allowed, used = self.backend.spend(caller, cost, self.limit, window_start)
        state = RateLimitState(
            limit=self.limit, cost=cost if allowed else 0, used=used, window_start=window_start
        )
        if not allowed:
            retry_after = max(int(state.reset_epoch - now + 0.999), 1)
            raise RateLimitExceeded(state, cost, retry_after)
        return state

    def open_subscription(self, ctx: Any, cap: int) -> str:
        caller = self.caller_of(ctx)
        if self._subscriptions[caller] >= cap:
            raise TooManySubscriptions(
                f"You already hold {self._subscriptions[caller]} subscriptions; "
                f"at most {cap} at once",
                open=self._subscriptions[caller],
                maxSubscriptions=cap,
            )
        self._subscriptions[caller] += 1
        return caller

    def close_subscription(self, caller: str) -> None:
        self._subscriptions[caller] -= 1
        if self._subscriptions[caller] <= 0:
            del self._subscriptions[caller]

    def open_subscriptions(self, caller: str) -> int:
        return self._subscriptions.get(caller, 0)


class RateLimitExceeded(Exception):
    """Carries the state for the headers along with the coded error."""

    def __init__(self, state: RateLimitState, cost: int, retry_after: int) -> None:
        super().__init__("rate limited")
        self.state = state
        self.retry_after = retry_after
        self.error = RateLimited(
            f"This request costs {cost} points and {state.remaining} of your {state.limit} "
            f"remain until {state.reset_at.isoformat()}; retry after {retry_after} s",
            retryAfter=retry_after,
            cost=cost,
            remaining=state.remaining,
            limit=state.limit,
            resetAt=serialize_datetime(state.reset_at),
        )
