"""`fundingProgress`: the current state, then one update per committed change."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Any

from strawberry.types import Info

from core.errors import Forbidden
from core.ids import expect_global_id
from core.permissions import Access, readable_loan
from loaders import Loaders
from schema.common import LoanStatus, WebhookEvent
from schema.loans import Loan
from schema.scalars import money
from schema.subscriptions import FundingUpdate


def _update(loan: Any, access: Access, event: WebhookEvent, at: dt.datetime) -> FundingUpdate:
    return FundingUpdate(
        loan_id=loan.loan_id,
        loan=Loan(_m=loan, _access=access),
        event=event,
        total_funded=money(loan.total_funded),  # type: ignore[arg-type]
        funding_percentage=money(loan.funding_percentage),  # type: ignore[arg-type]
        participant_count=int(loan.participant_count),
        accepted_participant_count=int(loan.accepted_participant_count),
        is_fully_funded=bool(loan.is_fully_funded),
        status=LoanStatus(loan.status),
        version=int(loan.version),
        at=at,
    )


async def funding_progress(info: Info, loan_global_id: str) -> AsyncGenerator[FundingUpdate, None]:
    ctx = info.context
    loan_id = expect_global_id(loan_global_id, "Loan")
    broker = ctx.extras.get("broker")
    # Subscribe before reading, so no change falls between the read and the feed.
    stream = broker.subscribe(loan_id) if broker is not None else None
    try:
        model = await ctx.loaders.loan_by_id.load(loan_id)
        access = await readable_loan(ctx, model)
        if access == Access.NONE:
            raise Forbidden("You may not watch this loan")
        last_seq = int(model.seq or 0)
        yield _update(model, access, WebhookEvent.LOAN_UPDATED, model.updated_at)
        if stream is None:
            return
        async for event in stream:
            if event.seq is not None and event.seq <= last_seq:
                continue  # already reflected in what we sent
            ctx.loaders = Loaders()  # every update reads fresh
            model = await ctx.loaders.loan_by_id.load(loan_id)
            if model is None:
                return
            last_seq = max(last_seq, int(event.seq or 0))
            yield _update(model, access, WebhookEvent(event.type), event.occurred_at)
            if model.deleted_at is not None or event.type == "LOAN_DELETED":
                return
    finally:
        if stream is not None and hasattr(stream, "aclose"):
            await stream.aclose()
