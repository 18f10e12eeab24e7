"""Small shared pieces of the write layer: clock, ids, record <-> JSON, the
limits every module agrees on, and the retry loop for lost races."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from pynamodb.models import Model

from core.errors import DomainError

log = logging.getLogger("loangraph.services")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
M = TypeVar("M", bound=Model)

# ------------------------------------------------------------------ limits
# DynamoDB allows 100 actions in one TransactWriteItems.
MAX_TRANSACTION_ACTIONS = 100
# deleteLoan writes loan + LoanVersion + audit entry + one update per live
# participant: 3 + N <= 100, so a loan holds at most 97 live participants.
MAX_LIVE_PARTICIPANTS = MAX_TRANSACTION_ACTIONS - 3
# An atomic inviteParticipants writes loan + metric point + (participant,
# guard, audit entry) per invite: 2 + 3N <= 100, so at most 32 invites.
MAX_ATOMIC_INVITES = (MAX_TRANSACTION_ACTIONS - 2) // 3
# Any list in an input.
MAX_LIST_ITEMS = 100

# Retry policy for lost races on the loan's `seq` (see docs/write-path.md).
RETRY_MAX_ATTEMPTS = 200
RETRY_DEADLINE_SECONDS = 20.0
RETRY_BASE_SECONDS = 0.004
RETRY_CAP_SECONDS = 0.08

# Attributes that are bookkeeping, not a change of meaning.
BOOKKEEPING_FIELDS = frozenset({"updated_at", "updated_by", "version", "seq", "kind", "feed"})
# Attributes that are evidence about the record, not part of it: never in
# before/after images or version snapshots (the chain head would otherwise
# feed back into the entries it chains, and a receipt into the entry it signs).
EVIDENCE_FIELDS = frozenset({"audit_head", "receipt"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Fixed-width ISO-8601 UTC with microseconds and a trailing Z: sorts as text."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return str(uuid.uuid4())


def json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


_CENT = Decimal("0.01")
_RATE = Decimal("0.0001")
RATE_FIELDS = frozenset({"interest_rate"})


def decimal_text(name: str, value: Decimal) -> str:
    """A stored number at its field's scale ("2500.50", "7.5000"): DynamoDB drops
    trailing zeros, so without this before/after would differ in form only."""
    quantum = _RATE if name in RATE_FIELDS else _CENT
    q = value.quantize(quantum)
    return str(q if q == value else value)


def record_dict(model: Model | None) -> dict[str, Any] | None:
    """Every attribute of a record as JSON-able values (Decimals as strings)."""
    if model is None:
        return None
    out: dict[str, Any] = {}
    for name in sorted(model.get_attributes()):
        if name in ("kind", "feed") or name in EVIDENCE_FIELDS:
            continue
        value = getattr(model, name, None)
        out[name] = decimal_text(name, value) if isinstance(value, Decimal) else json_value(value)
    return out


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    before = before or {}
    after = after or {}
    keys = set(before) | set(after)
    return sorted(k for k in keys if k not in BOOKKEEPING_FIELDS and before.get(k) != after.get(k))


def clone(model: M) -> M:
    """An independent copy of a record, to build the `after` state from `before`."""
    copy = type(model)()
    copy.deserialize(model.serialize(null_check=False))
    return copy


def next_participant(p: Any, actor: Any, at: datetime) -> Any:
    """The participant's next state: a copy with version + 1 and updated_at/by."""
    after = clone(p)
    after.version = int(p.version) + 1
    after.updated_at = at
    after.updated_by = actor.user_id if actor else None
    return after


class Retry(Exception):
    """A transaction lost a race (a condition failed or conflicted): re-read and retry."""

    def __init__(self, reason: str = "conflict") -> None:
        super().__init__(reason)
        self.reason = reason


# Changes to one loan made by this process queue on an asyncio lock before
# they reach DynamoDB. Correctness never depends on it (the `seq` condition
# does that, across processes); it only spares the database the transactions
# that would lose the race anyway (measured: 50 concurrent acceptances on one
# loan cost ~410 transactions without it, 50 with it). Tests switch it off to
# race at the database itself.
SERIALIZE_PER_LOAN = True
_loan_locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


@contextlib.asynccontextmanager
async def loan_lock(loan_id: str | None) -> AsyncIterator[None]:
    if not SERIALIZE_PER_LOAN or loan_id is None:
        yield
        return
    key = (id(asyncio.get_running_loop()), loan_id)
    lock = _loan_locks.get(key)
    if lock is None:
        lock = _loan_locks[key] = asyncio.Lock()
    async with lock:
        yield


class Attempt(Protocol[T_co]):
    """One attempt of a change, given its number (0, 1...). A Protocol rather than
    `Callable[[int], ...]`, so that `lambda n, x=x: ...` (a loop variable bound
    by default) type-checks."""

    def __call__(self, n: int, /) -> Awaitable[T_co]: ...


async def with_retry(op: str, attempt: Attempt[T], *, loan_id: str | None = None) -> T:
    """Run `attempt(n)` until it does not raise `Retry`: full-jitter exponential
    back-off, bounded by attempts and by a deadline. Every attempt re-reads and
    re-validates, so a retry that is no longer valid fails with its domain error."""
    async with loan_lock(loan_id):
        return await _retry_loop(op, attempt)


async def _retry_loop(op: str, attempt: Attempt[T]) -> T:
    started = time.monotonic()
    for n in range(RETRY_MAX_ATTEMPTS):
        try:
            return await attempt(n)
        except Retry as exc:
            if time.monotonic() - started > RETRY_DEADLINE_SECONDS:
                break
            delay = random.uniform(0, min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** min(n, 6)))
            log.debug(
                "%s lost a race (%s), attempt %d, retrying in %.3fs", op, exc.reason, n, delay
            )
            await asyncio.sleep(delay)
    raise DomainError("CONFLICT", f"{op}: too many concurrent changes to this loan; try again")
