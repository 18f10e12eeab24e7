"""Live funding: the Subscription root and FundingUpdate."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from core.permissions import IsAuthenticated
from schema.common import LoanStatus, WebhookEvent
from schema.loans import Loan


@strawberry.type(description="A loan's funding after one committed change.")
class FundingUpdate:
    _loan: strawberry.Private[Any]  # async () -> Loan, read only when selected
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

    @strawberry.field(description="The loan as it is now (read fresh when selected).")
    async def loan(self) -> Loan:
        return await self._loan()


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
    ) -> AsyncGenerator[FundingUpdate, None]:
        from resolvers.subscriptions import funding_progress

        async for update in funding_progress(info, loan_id):
            yield update
