"""Retries, in one place.

* Every DynamoDB and DynamoDB Streams call: botocore's `standard` (or
  `adaptive`) retry mode, configured by `botocore_retries(settings)`:
  exponential back-off with full jitter on throttling
  (`ThrottlingException`, `ProvisionedThroughputExceededException`,
  `RequestLimitExceeded`, `TransactionInProgressException`, ...), on 5xx, on
  connection errors and read timeouts; a retry quota stops retry storms.
* What botocore cannot retry for us (a batch's `UnprocessedKeys`, a
  transaction re-sent with its `ClientRequestToken` after botocore gave up, a
  background loop's next attempt): `retry_call` / `retry_call_async` (tenacity,
  full-jitter exponential back-off bounded by a deadline) and `Backoff` for
  the long-running loops (stream tailer, dispatcher, broker reader).
* The codes: `THROTTLE_CODES`, `TRANSIENT_CODES`; `error_code(exc)` digs the
  service's code out of botocore and PynamoDB exceptions;
  `is_transient(exc)` says whether trying again later can help.

When the helper gives up it raises `Unavailable`, which the API turns into
the retryable `SERVICE_UNAVAILABLE` (schema/errors.py).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity
from prometheus_client import Counter

log = logging.getLogger("loangraph.retry")
T = TypeVar("T")

THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",  # DynamoDB Streams
        "TransactionInProgressException",
    }
)
TRANSIENT_CODES = THROTTLE_CODES | {
    "InternalServerError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
}
# Cancellation reasons of a TransactWriteItems after which nothing was applied
# and the change may be rebuilt from a fresh read (a lost race or throttling).
RETRYABLE_TX_REASONS = frozenset(
    {
        "ConditionalCheckFailed",
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    }
)

RETRIES = Counter(
    "loangraph_retries_total",
    "Retries made by the app itself (not botocore's): where and why",
    ["where", "reason"],
)
GIVE_UPS = Counter(
    "loangraph_retry_give_ups_total",
    "Retried work abandoned at its deadline (the client gets SERVICE_UNAVAILABLE)",
    ["where"],
)


class Unavailable(Exception):
    """A dependency kept failing past the retry deadline: retry later."""

    def __init__(self, where: str, cause: BaseException | None = None) -> None:
        super().__init__(f"{where}: the database kept failing ({cause})")
        self.where = where
        self.cause = cause


def botocore_retries(settings: Any) -> dict[str, Any]:
    """The `retries` of every botocore client's Config."""
    return {"mode": settings.db_retry_mode, "total_max_attempts": settings.db_max_attempts}


def error_code(exc: BaseException | None) -> str | None:
    """The service's error code (or the exception class for transport errors)."""
    from botocore.exceptions import BotoCoreError, ClientError

    seen = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            return seen.response.get("Error", {}).get("Code")
        code = getattr(seen, "cause_response_code", None)
        if code:
            return code
        if isinstance(seen, BotoCoreError):
            return type(seen).__name__
        seen = getattr(seen, "cause", None) or seen.__cause__
    return None


def _own_code(exc: BaseException) -> str | None:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return getattr(exc, "cause_response_code", None)


def is_transient(exc: BaseException) -> bool:
    """Throttling, a 5xx, a timeout or a lost connection: trying again can help."""
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    transport = (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
        Unavailable,
    )
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, transport) or _own_code(seen) in TRANSIENT_CODES:
            return True
        seen = getattr(seen, "cause", None) or seen.__cause__
    return False


@dataclass
class Backoff:
    """Exponential back-off with full jitter for long-running loops."""

    base: float = 0.1
    cap: float = 5.0
    attempt: int = 0

    def next(self) -> float:
        delay = random.uniform(0, min(self.cap, self.base * 2 ** min(self.attempt, 30)))
        self.attempt += 1
        return max(delay, self.base / 2)

    def reset(self) -> None:
        self.attempt = 0


def _policy(
    where: str,
    *,
    deadline: float,
    base: float,
    cap: float,
    retry_on: Callable[[BaseException], bool],
) -> dict[str, Any]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = error_code(exc) or type(exc).__name__
        RETRIES.labels(where, reason).inc()
        log.info("%s: %s; retry %d", where, reason, state.attempt_number)

    return {
        "retry": tenacity.retry_if_exception(retry_on),
        "wait": tenacity.wait_random_exponential(multiplier=base, max=cap),
        "stop": tenacity.stop_after_delay(deadline),
        "before_sleep": before_sleep,
        "reraise": True,
    }


def retry_call(
    where: str,
    fn: Callable[[], T],
    *,
    deadline: float = 10.0,
    base: float = 0.05,
    cap: float = 2.0,
    retry_on: Callable[[BaseException], bool] = is_transient,
) -> T:
    """Blocking: call `fn()` until it succeeds or raises a non-retryable error;
    past `deadline` seconds the last transient error becomes `Unavailable`."""
    try:
        for attempt in tenacity.Retrying(
            **_policy(where, deadline=deadline, base=base, cap=cap, retry_on=retry_on)
        ):
            with attempt:
                return fn()
    except Exception as exc:
        if retry_on(exc) and not isinstance(exc, Unavailable):
            GIVE_UPS.labels(where).inc()
            raise Unavailable(where, exc) from exc
        raise
    raise AssertionError("unreachable")  # pragma: no cover


async def retry_call_async(
    where: str,
    fn: Callable[[], Awaitable[T]],
    *,
    deadline: float = 10.0,
    base: float = 0.05,
    cap: float = 2.0,
    retry_on: Callable[[BaseException], bool] = is_transient,
) -> T:
    """`retry_call` for coroutines (sleeps with asyncio)."""
    try:
        async for attempt in tenacity.AsyncRetrying(
            **_policy(where, deadline=deadline, base=base, cap=cap, retry_on=retry_on)
        ):
            with attempt:
                return await fn()
    except Exception as exc:
        if retry_on(exc) and not isinstance(exc, Unavailable):
            GIVE_UPS.labels(where).inc()
            raise Unavailable(where, exc) from exc
        raise
    raise AssertionError("unreachable")  # pragma: no cover
