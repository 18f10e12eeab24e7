"""Live funding: the Subscription root and FundingUpdate."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from resolvers.context import Info
from resolvers.permissions import IsAuthenticated
from schema.common import LoanStatus, WebhookEvent
from schema.loans import Loan


@strawberry.type(description="A loan's funding after one committed change.")
class FundingUpdate:
    _loan: strawberry.Private[Any]  # async (context) -> Loan, read only when selected
    loan_id: str = strawberry.field(description="The loan's uuid.")
    event: WebhookEvent = strawberry.field(
        description="What caused this update (the first message: LOAN_UPDATED)."
    )
    total_funded: Decimal = strawberry.field(description='Total funded, e.g. "12500.00".')
    funding_percentage: Decimal = strawberry.field(description='Percent funded, e.g. "50.00".')
    participant_count: int = strawberry.field(description="Live participants.")
    accepted_participant_count: int = strawberry.field(description="Accepted participants.")
    is_fully_funded: bool = strawberry.field(description="True when fully funded.")
    status: LoanStatus = strawberry.field(description="Loan status.")
    version: int = strawberry.field(description="Loan version.")
    at: dt.datetime = strawberry.field(description="When the change was committed.")
    # Position of the change in the loan's commit order (loan seq, index in its
    # transaction), for `cursor`.
    _seq: strawberry.Private[int] = 0
    _idx: strawberry.Private[int] = 0
    # Set when one object serves every subscriber of an event on this process:
    # its execution is shared by those who selected the same fields
    # (schema/event_memo.py).
    _key: strawberry.Private[Any] = None

    @strawberry.field(
        description="Opaque position of this update: pass it as `after` to fundingProgress to "
        "resume after it without a gap or a duplicate."
    )
    def cursor(self, info: Info) -> str:
        from resolvers.funding_resume import encode

        return encode(info.context.settings, self.loan_id, self._seq, self._idx)

    @strawberry.field(description="The loan as it is now (read fresh when selected).")
    async def loan(self, info: Info) -> Loan:
        # With the access of whoever resolves it, now (the update may be shared).
        return await self._loan(info.context)


@strawberry.type(description="Live updates over WebSocket (graphql-transport-ws or graphql-ws).")
class Subscription:
    @strawberry.subscription(
        description=(
            "Sends the loan's current state at once, then one update per committed change to the "
            "loan or its participants, in commit order, from whichever server replica made it. "
            "Ends when the loan is deleted."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def funding_progress(
        self,
        info: Info,
        loan_id: Annotated[strawberry.ID, strawberry.argument(description="Loan global id.")],
        after: Annotated[
            str | None,
            strawberry.argument(
                description="Resume: the `cursor` of the last update received. Sends every "
                "update committed after it (from the audit trail, in commit order) instead of the "
                "current state, then continues live. A cursor of another loan, tampered with or "
                "expired is refused with BAD_USER_INPUT."
            ),
        ] = None,
    ) -> AsyncGenerator[FundingUpdate, None]:
        from resolvers.funding_resume import resumable
        from resolvers.subscriptions import funding_progress

        updates = resumable(info, loan_id, after, funding_progress(info, loan_id))
        try:
            async for update in updates:
                yield update
        finally:
            # At once when the subscriber stops: its broker subscription ends with it.
            await updates.aclose()
