"""`fundingProgress`: the current state, then one update per committed change,
in commit order (the broker orders each loan's events by its write counter)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Any

from cachetools import TTLCache

import models
from core.errors import Forbidden
from core.ids import expect_global_id
from loaders import Loaders
from resolvers.context import Info
from resolvers.permissions import Access, readable_loan
from schema.common import LoanStatus, WebhookEvent
from schema.loans import Loan
from schema.scalars import money
from schema.subscriptions import FundingUpdate


def _fresh_loan(loan_id: str, model: models.Loan | None = None) -> Any:
    """`FundingUpdate.loan`: read fresh and shown with the access of the moment it
    is resolved, in the context of the subscriber resolving it (a lender removed
    since the update was built gets FORBIDDEN). No subscriber's context is kept
    in the update: one update object serves every subscriber of the event."""

    async def load(ctx: Any) -> Loan:
        now_ctx = _fresh_context(ctx)
        row = model or await now_ctx.loaders.loan_by_id.load(loan_id)
        access = await readable_loan(now_ctx, row)
        if access == Access.NONE:
            raise Forbidden("You may no longer read this loan")
        return Loan(_m=row, _access=access)

    return load


def _fresh_context(ctx: Any) -> Any:
    """The subscriber's context with loaders that read DynamoDB, not any cache."""
    return dataclasses.replace(ctx, loaders=Loaders(fresh=True))


class _TickReads:
    """Fresh loaders shared by the subscriptions of this process that read in
    the same turn of the event loop: an event wakes all its loan's subscribers
    in one turn, so their access re-checks are one BatchGetItem (the loan once,
    each lender's invitation once) instead of two reads per subscriber; the
    same for subscriptions opening together.

    Still fresh for each of them: a reader takes the loaders after it
    subscribed (or received the event), and every read through them is sent
    after the turn in which they were handed out; the next turn gets new ones."""

    def __init__(self) -> None:
        self._current: Loaders | None = None

    def loaders(self) -> Loaders:
        if self._current is None:
            self._current = Loaders(fresh=True)
            asyncio.get_running_loop().call_soon(self._rotate)
        return self._current

    def _rotate(self) -> None:
        self._current = None


TICK_READS = _TickReads()


async def _current_access(ctx: Any, loan_id: str) -> Access:
    shared = dataclasses.replace(ctx, loaders=TICK_READS.loaders())
    row = await shared.loaders.loan_by_id.load(loan_id)
    return await readable_loan(shared, row)


def _initial(model: models.Loan) -> FundingUpdate:
    return FundingUpdate(
        _loan=_fresh_loan(model.loan_id, model),
        loan_id=model.loan_id,
        event=WebhookEvent.LOAN_UPDATED,
        total_funded=money(model.total_funded),
        funding_percentage=money(model.funding_percentage),
        participant_count=int(model.participant_count),
        accepted_participant_count=int(model.accepted_participant_count),
        is_fully_funded=bool(model.is_fully_funded),
        status=LoanStatus(model.status),
        version=int(model.version),
        at=model.updated_at,
        _seq=int(model.seq or 0),
        _idx=1 << 30,  # after every entry of that seq (resume cursors)
    )


_AGGREGATES = (
    "total_funded",
    "funding_percentage",
    "participant_count",
    "accepted_participant_count",
    "is_fully_funded",
    "status",
    "version",
)


def _from_event(event: Any, loan_id: str, last: FundingUpdate) -> FundingUpdate:
    """Built from the aggregates the event carries: no read per subscriber. One
    object per event and the previous values it falls back on (none when the
    event carries every aggregate), so its execution and encoding are done once
    for all who selected the same fields (schema/event_memo.py; the key is the
    update's `_key`). The event object, handed to every subscriber of its loan
    on this process, remembers its updates (the second subscriber on costs a
    dict lookup); `_SHARED` finds them for other copies of the event (a resume
    replays the trail)."""
    agg = event.loan or {}
    missing = tuple(n for n in _AGGREGATES if agg.get(n) is None)
    timed = isinstance(event.occurred_at, dt.datetime)
    key = (
        event.id,
        loan_id,
        missing,
        tuple(getattr(last, n) for n in missing),
        None if timed else last.at,
    )
    # A frozen dataclass: the memo goes straight into its __dict__.
    made: dict[Any, FundingUpdate] = event.__dict__.setdefault("_updates", {})
    found = made.get(key)
    if found is None:
        found = _SHARED.get(key)
        if found is None:
            found = _build_from_event(event, loan_id, last, agg)
            found._key = key
            _SHARED[key] = found
        made[key] = found
    return found


# Updates of recent events, for copies of an event other than the one that
# built them. Short-lived and bounded.
_SHARED: TTLCache[tuple[Any, ...], FundingUpdate] = TTLCache(maxsize=4096, ttl=30)


def _build_from_event(
    event: Any, loan_id: str, last: FundingUpdate, agg: dict[str, Any]
) -> FundingUpdate:
    def dec(name: str, prev: Decimal) -> Decimal:
        value = agg.get(name)
        return prev if value is None else money(Decimal(str(value)))

    def num(name: str, prev: int) -> int:
        value = agg.get(name)
        return prev if value is None else int(value)

    return FundingUpdate(
        _loan=_fresh_loan(loan_id),
        loan_id=loan_id,
        event=WebhookEvent(event.type),
        total_funded=dec("total_funded", last.total_funded),
        funding_percentage=dec("funding_percentage", last.funding_percentage),
        participant_count=num("participant_count", last.participant_count),
        accepted_participant_count=num(
            "accepted_participant_count", last.accepted_participant_count
        ),
        is_fully_funded=bool(agg.get("is_fully_funded", last.is_fully_funded)),
        status=LoanStatus(agg.get("status", last.status.value)),
        version=num("version", last.version),
        at=event.occurred_at if isinstance(event.occurred_at, dt.datetime) else last.at,
        _seq=int(event.seq),
        _idx=int(event.tx_index),
    )


# Who must be checked again, and when. A borrower stays the borrower and an
# admin an admin (the socket closes when their token expires); a lender's access
# is their live invitation (its (loan, email) guard), which only a removal
# deletes; a deletion hides the loan. Declines (which keep the guard) and
# restorations are re-checked too, to err on the strict side. Invitations and
# acceptances never delete a guard, so they cannot end anyone's access and are
# not re-checked (at ten thousand subscribers, a read per lender
# and acceptance). A lender is also re-checked when the ordering buffer gave up
# waiting for a missing event (it may have been the removal) and at least every
# RECHECK_SECONDS, so an event lost between processes cannot keep a removed
# lender subscribed.
RECHECK_EVENTS = frozenset(
    {
        "PARTICIPANT_REMOVED",
        "PARTICIPANT_DECLINED",
        "LOAN_DELETED",
        "LOAN_RESTORED",
    }
)
RECHECK_SECONDS = 60.0


def must_recheck(event_type: str, gap_skipped: bool, seconds_since_check: float) -> bool:
    """Whether a lender's access is read again before this event is delivered."""
    return event_type in RECHECK_EVENTS or gap_skipped or seconds_since_check > RECHECK_SECONDS


async def funding_progress(info: Info, loan_global_id: str) -> AsyncGenerator[FundingUpdate, None]:
    ctx = info.context
    loan_id = expect_global_id(loan_global_id, "Loan")
    runtime = ctx.events
    # Subscribe before reading, so no change falls between the read and the feed.
    sub = runtime.broker.subscribe(loan_id) if runtime is not None else None
    try:
        shared = dataclasses.replace(ctx, loaders=TICK_READS.loaders())
        model = await shared.loaders.loan_by_id.load(loan_id)
        access = await readable_loan(shared, model)
        ctx.loaders = Loaders(fresh=True)
        if access == Access.NONE:
            raise Forbidden("You may not watch this loan (or it does not exist)")
        assert model is not None
        if sub is not None:
            sub.advance_to(int(model.seq or 0))
        last = _initial(model)
        yield last
        if sub is None:
            return
        checked_at = time.monotonic()
        gaps = sub.gaps_skipped
        async for event in sub:
            if event.type == "LOAN_DELETED":
                # The last update says so, without the loan (hidden once deleted).
                yield _from_event(event, loan_id, last)
                return
            if access == Access.LENDER and must_recheck(
                event.type, sub.gaps_skipped != gaps, time.monotonic() - checked_at
            ):
                access = await _current_access(ctx, loan_id)
                checked_at = time.monotonic()
                gaps = sub.gaps_skipped
                if access == Access.NONE:
                    raise Forbidden(
                        "You may no longer watch this loan: your invitation was removed or "
                        "declined",
                    )
            last = _from_event(event, loan_id, last)
            # Fresh loaders per update: the per-request batches cache what they
            # load, so `loan { participants }` would repeat the first update's rows.
            ctx.loaders = Loaders(fresh=True)
            yield last
    finally:
        if sub is not None:
            sub.close()
