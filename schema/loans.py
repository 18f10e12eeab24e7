"""The Loan type, its terms and its funding time series."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

import models
from core.ids import to_global_id
from core.permissions import Access
from schema.common import (
    After,
    Before,
    First,
    Last,
    LoanStatus,
    Node,
    PageInfo,
    ParticipantStatus,
    WebhookEvent,
)
from schema.scalars import money, rate
from schema.users import User, load_user

if TYPE_CHECKING:
    from schema.audit import AuditEntryConnection
    from schema.participants import ParticipantConnection
    from schema.versions import LoanVersionConnection

ParticipantConnectionT = Annotated["ParticipantConnection", strawberry.lazy("schema.participants")]
LoanVersionConnectionT = Annotated["LoanVersionConnection", strawberry.lazy("schema.versions")]
AuditEntryConnectionT = Annotated["AuditEntryConnection", strawberry.lazy("schema.audit")]


@strawberry.type(description="A loan: its terms, its status and its funding, kept exact by every change.")
class Loan(Node):
    _m: strawberry.Private[models.Loan]
    _access: strawberry.Private[Access]

    @strawberry.field(description='Global id, e.g. base64 of "Loan:<uuid>".')
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Loan", self._m.loan_id))

    @strawberry.field(description='The loan\'s uuid, e.g. "7f1d0c1e-...".')
    def loan_id(self) -> str:
        return self._m.loan_id

    @strawberry.field(description="The borrower who created the loan.")
    async def borrower(self, info: Info) -> User:
        user = await load_user(info, self._m.borrower_id)
        assert user is not None
        return user

    @strawberry.field(description="Title, 1..200 characters.")
    def title(self) -> str:
        return self._m.title

    @strawberry.field(description='Principal, e.g. "25000.00".')
    def amount(self) -> Decimal:
        return money(self._m.amount)  # type: ignore[return-value]

    @strawberry.field(description='ISO 4217 currency code, e.g. "USD".')
    def currency(self) -> str:
        return self._m.currency

    @strawberry.field(description='Annual interest rate in percent, e.g. "7.5000".')
    def interest_rate(self) -> Decimal:
        return rate(self._m.interest_rate)  # type: ignore[return-value]

    @strawberry.field(description="Term in months, 1..600.")
    def term_months(self) -> int:
        return int(self._m.term_months)

    @strawberry.field(description="Lifecycle status.")
    def status(self) -> LoanStatus:
        return LoanStatus(self._m.status)

    @strawberry.field(
        description=(
            "Number of the newest LoanVersion: +1 with each change of terms, status, deletion "
            "or restoration; funding changes do not move it."
        )
    )
    def version(self) -> int:
        return int(self._m.version)

    @strawberry.field(description='Sum of accepted contributions, e.g. "12500.00".')
    def total_funded(self) -> Decimal:
        return money(self._m.total_funded)  # type: ignore[return-value]

    @strawberry.field(description='totalFunded / amount x 100, 2 decimals, e.g. "50.00".')
    def funding_percentage(self) -> Decimal:
        return money(self._m.funding_percentage)  # type: ignore[return-value]

    @strawberry.field(description="True when totalFunded equals the amount.")
    def is_fully_funded(self) -> bool:
        return bool(self._m.is_fully_funded)

    @strawberry.field(description="Live participants in any status.")
    def participant_count(self) -> int:
        return int(self._m.participant_count)

    @strawberry.field(description="Participants who accepted.")
    def accepted_participant_count(self) -> int:
        return int(self._m.accepted_participant_count)

    @strawberry.field(description="Participants who have not answered yet.")
    def pending_participant_count(self) -> int:
        return int(self._m.pending_participant_count)

    @strawberry.field(description="Mean accepted contribution; null with no acceptances.")
    def average_contribution(self) -> Decimal | None:
        return money(self._m.average_contribution)

    @strawberry.field(description="Largest accepted contribution; null with no acceptances.")
    def largest_contribution(self) -> Decimal | None:
        return money(self._m.largest_contribution)

    @strawberry.field(description="Smallest accepted contribution; null with no acceptances.")
    def smallest_contribution(self) -> Decimal | None:
        return money(self._m.smallest_contribution)

    @strawberry.field(description="When the funding figures last changed.")
    def last_funding_update(self) -> dt.datetime | None:
        return self._m.last_funding_update

    @strawberry.field(
        description=(
            "Participants. Borrowers and admins see all; an invited lender sees only their own "
            "participation (never other lenders' emails or amounts)."
        )
    )
    async def participants(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            ParticipantStatus | None, strawberry.argument(description="Only this status.")
        ] = None,
        include_deleted: Annotated[
            bool | None,
            strawberry.argument(description="Include removed participants (borrower and admins)."),
        ] = False,
    ) -> ParticipantConnectionT:
        from resolvers.participants import resolve_loan_participants

        return await resolve_loan_participants(
            info, self, first, after, last, before, status, bool(include_deleted)
        )

    @strawberry.field(description="Every version of the loan's terms, oldest first.")
    async def versions(
        self, info: Info, first: First = None, after: After = None, last: Last = None,
        before: Before = None,
    ) -> LoanVersionConnectionT:
        from resolvers.versions import resolve_loan_versions

        return await resolve_loan_versions(info, self, first, after, last, before)

    @strawberry.field(
        description="Audit trail of the loan and its participants, oldest first (borrower, admins)."
    )
    async def audit_trail(
        self, info: Info, first: First = None, after: After = None, last: Last = None,
        before: Before = None,
    ) -> AuditEntryConnectionT:
        from resolvers.audit import resolve_loan_audit_trail

        return await resolve_loan_audit_trail(info, self, first, after, last, before)

    @strawberry.field(description="Funding time series, one point per funding change, oldest first.")
    async def funding_history(
        self,
        info: Info,
        from_: Annotated[
            dt.datetime | None,
            strawberry.argument(name="from", description='Only points at or after, e.g. "2026-11-01T00:00:00Z".'),
        ] = None,
        to: Annotated[
            dt.datetime | None, strawberry.argument(description="Only points at or before.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> FundingPointConnection:
        from resolvers.loans import resolve_funding_history

        return await resolve_funding_history(info, self, from_, to, first, after, last, before)

    @strawberry.field(description="When the loan was created.")
    def created_at(self) -> dt.datetime:
        return self._m.created_at

    @strawberry.field(description="Who created the loan.")
    async def created_by(self, info: Info) -> User | None:
        return await load_user(info, self._m.created_by)

    @strawberry.field(description="When the loan record last changed (funding included).")
    def updated_at(self) -> dt.datetime:
        return self._m.updated_at

    @strawberry.field(description="Who last changed the loan record.")
    async def updated_by(self, info: Info) -> User | None:
        return await load_user(info, self._m.updated_by)

    @strawberry.field(description="When the loan was soft-deleted; null while live.")
    def deleted_at(self) -> dt.datetime | None:
        return self._m.deleted_at

    @strawberry.field(description="Who deleted the loan.")
    async def deleted_by(self, info: Info) -> User | None:
        return await load_user(info, self._m.deleted_by)

    @strawberry.field(description="Why the loan was deleted.")
    def deletion_reason(self) -> str | None:
        return self._m.deletion_reason


@strawberry.type(description="The terms of a loan at one version.")
class LoanTerms:
    title: str = strawberry.field(description="Title.")
    amount: Decimal = strawberry.field(description='Principal, e.g. "25000.00".')
    currency: str = strawberry.field(description='ISO 4217 code, e.g. "USD".')
    interest_rate: Decimal = strawberry.field(description='Annual percent, e.g. "7.5000".')
    term_months: int = strawberry.field(description="Term in months.")
    status: LoanStatus = strawberry.field(description="Status at that version.")


@strawberry.type(description="The loan's funding at one moment (a point of the time series).")
class FundingPoint:
    timestamp: dt.datetime = strawberry.field(description="When the change was committed.")
    event: WebhookEvent = strawberry.field(description="The change that moved the funding.")
    total_funded: Decimal = strawberry.field(description="Total funded after the change.")
    funding_percentage: Decimal = strawberry.field(description="Percentage funded after the change.")
    participant_count: int = strawberry.field(description="Live participants after the change.")
    accepted_participant_count: int = strawberry.field(
        description="Accepted participants after the change."
    )


@strawberry.type(description="A loan in a connection.")
class LoanEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: Loan = strawberry.field(description="The loan.")


@strawberry.type(description="A page of loans (Relay connection).")
class LoanConnection:
    edges: list[LoanEdge] = strawberry.field(description="The loans of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    total_count: int | None = strawberry.field(
        description=(
            "Always null: DynamoDB keeps no counter of a borrower's or a status's loans, and "
            "counting would read the whole list."
        )
    )


@strawberry.type(description="A funding point in a connection.")
class FundingPointEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: FundingPoint = strawberry.field(description="The point.")


@strawberry.type(description="A page of the funding time series.")
class FundingPointConnection:
    edges: list[FundingPointEdge] = strawberry.field(description="The points of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
