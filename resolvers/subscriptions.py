"""`fundingProgress`: the current state, then one update per committed change,
in commit order (the broker orders each loan's events by its write counter)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Any

from strawberry.types import Info

import models
from core.errors import Forbidden
from core.ids import expect_global_id
from core.permissions import Access, readable_loan
from loaders import Loaders
from schema.common import LoanStatus, WebhookEvent
from schema.loans import Loan
from schema.scalars import money
from schema.subscriptions import FundingUpdate


def _fresh_loan(loan_id: str, access: Access, model: models.Loan | None = None) -> Any:
    async def load() -> Loan:
        row = model or await Loaders(fresh=True).loan_by_id.load(loan_id)
        return Loan(_m=row, _access=access)

    return load


def _initial(model: models.Loan, access: Access) -> FundingUpdate:
    return FundingUpdate(
        _loan=_fresh_loan(model.loan_id, access, model),
        loan_id=model.loan_id,
        event=WebhookEvent.LOAN_UPDATED,
        total_funded=money(model.total_funded),  # type: ignore[arg-type]
        funding_percentage=money(model.funding_percentage),  # type: ignore[arg-type]
        participant_count=int(model.participant_count),
        accepted_participant_count=int(model.accepted_participant_count),
        is_fully_funded=bool(model.is_fully_funded),
        status=LoanStatus(model.status),
        version=int(model.version),
        at=model.updated_at,
    )


def _from_event(event: Any, loan_id: str, access: Access, last: FundingUpdate) -> FundingUpdate:
    """Built from the aggregates the event carries: no read per subscriber."""
    agg = event.loan or {}

    def dec(name: str, prev: Decimal) -> Decimal:
        value = agg.get(name)
        return prev if value is None else money(Decimal(str(value)))  # type: ignore[return-value]

    def num(name: str, prev: int) -> int:
        value = agg.get(name)
        return prev if value is None else int(value)

    return FundingUpdate(
        _loan=_fresh_loan(loan_id, access),
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
    )


async def funding_progress(info: Info, loan_global_id: str) -> AsyncGenerator[FundingUpdate, None]:
    ctx = info.context
    loan_id = expect_global_id(loan_global_id, "Loan")
    runtime = ctx.extras.get("events")
    # Subscribe before reading, so no change falls between the read and the feed.
    sub = runtime.broker.subscribe(loan_id) if runtime is not None else None
    try:
        model = await Loaders(fresh=True).loan_by_id.load(loan_id)
        ctx.loaders = Loaders(fresh=True)
        access = await readable_loan(ctx, model)
        if access == Access.NONE:
            raise Forbidden("You may not watch this loan (or it does not exist)")
        assert model is not None
        if sub is not None:
            sub.advance_to(int(model.seq or 0))
        last = _initial(model, access)
        yield last
        if sub is None:
            return
        async for event in sub:
            last = _from_event(event, loan_id, access, last)
            # Fresh loaders per update: the per-request batches cache what they
            # load, so `loan { participants }` would repeat the first update's rows.
            ctx.loaders = Loaders(fresh=True)
            yield last
            if event.type == "LOAN_DELETED":
                return
    finally:
        if sub is not None:
            sub.close()
