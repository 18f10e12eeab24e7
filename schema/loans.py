"""The Loan type, its terms and its funding time series."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

import models
from core.errors import Forbidden
from core.ids import to_global_id
from resolvers.context import Info
from resolvers.permissions import Access
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
    enum_value,
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


# Defined before Loan: as a forward reference, the argument's description is lost.
@strawberry.enum(description="Granularity of `fundingHistory` points.")
class FundingBucket(enum.Enum):
    RAW = enum_value("RAW", description="Every funding change.")
    HOUR = enum_value("HOUR", description="One point per UTC hour: the last state in it.")
    DAY = enum_value("DAY", description="One point per UTC day: the last state in it.")


@strawberry.type(
    description="A loan: its terms, its status and its funding, kept exact by every change."
)
class Loan(Node):
    _m: strawberry.Private[models.Loan]
    _access: strawberry.Private[Access]
    # Set on a point-in-time read (`loan(asOf:)`): a services.history.PointInTime,
    # from which `participants` answers.
    _as_of: strawberry.Private[Any] = None
    loan_id: str = strawberry.field(
        default=None, description='The loan\'s uuid, e.g. "7f1d0c1e-...".'
    )
    title: str = strawberry.field(default=None, description="Title, 1..200 characters.")
    amount: Decimal = strawberry.field(default=None, description='Principal, e.g. "25000.00".')
    currency: str = strawberry.field(
        default=None, description='ISO 4217 currency code, e.g. "USD".'
    )
    interest_rate: Decimal = strawberry.field(
        default=None, description='Annual interest rate in percent, e.g. "7.5000".'
    )
    term_months: int = strawberry.field(default=None, description="Term in months, 1..600.")
    status: LoanStatus = strawberry.field(default=None, description="Lifecycle status.")
    version: int = strawberry.field(
        default=None,
        description=(
            "Number of the newest LoanVersion: +1 with each change of terms, status, deletion "
            "or restoration; funding changes do not move it."
        ),
    )
    total_funded: Decimal = strawberry.field(
        default=None, description='Sum of accepted contributions, e.g. "12500.00".'
    )
    funding_percentage: Decimal = strawberry.field(
        default=None, description='totalFunded / amount x 100, 2 decimals, e.g. "50.00".'
    )
    is_fully_funded: bool = strawberry.field(
        default=None, description="True when totalFunded equals the amount."
    )
    participant_count: int = strawberry.field(
        default=None, description="Live participants in any status."
    )
    accepted_participant_count: int = strawberry.field(
        default=None, description="Participants who accepted."
    )
    pending_participant_count: int = strawberry.field(
        default=None, description="Participants who have not answered yet."
    )
    last_funding_update: dt.datetime | None = strawberry.field(
        default=None, description="When the funding figures last changed."
    )
    created_at: dt.datetime = strawberry.field(
        default=None, description="When the loan was created."
    )
    updated_at: dt.datetime = strawberry.field(
        default=None, description="When the loan record last changed (funding included)."
    )
    deleted_at: dt.datetime | None = strawberry.field(
        default=None, description="When the loan was soft-deleted; null while live."
    )
    deletion_reason: str | None = strawberry.field(
        default=None, description="Why the loan was deleted."
    )

    def __post_init__(self) -> None:
        m = self._m
        self.loan_id = m.loan_id
        self.title = m.title
        self.amount = money(m.amount)
        self.currency = m.currency
        self.interest_rate = rate(m.interest_rate)
        self.term_months = int(m.term_months)
        self.status = LoanStatus(m.status)
        self.version = int(m.version)
        self.total_funded = money(m.total_funded)
        self.funding_percentage = money(m.funding_percentage)
        self.is_fully_funded = bool(m.is_fully_funded)
        self.participant_count = int(m.participant_count)
        self.accepted_participant_count = int(m.accepted_participant_count)
        self.pending_participant_count = int(m.pending_participant_count)
        self.last_funding_update = m.last_funding_update
        self.created_at = m.created_at
        self.updated_at = m.updated_at
        self.deleted_at = m.deleted_at
        self.deletion_reason = m.deletion_reason

    def _lender_refused(self, field: str) -> None:
        """A lender sees aggregates, never another lender's figures (docs/security.md)."""
        if self._access < Access.BORROWER:
            raise Forbidden(
                f"`{field}` can reveal another lender's contribution: only the borrower and "
                "admins may read it"
            )

    @strawberry.field(
        description=(
            "Mean accepted contribution; null with no acceptances. Borrower and admins only: "
            "for a lender, null with a FORBIDDEN error."
        )
    )
    def average_contribution(self) -> Decimal | None:
        self._lender_refused("averageContribution")
        return money(self._m.average_contribution)

    @strawberry.field(
        description=(
            "Largest accepted contribution; null with no acceptances. Borrower and admins only: "
            "for a lender, null with a FORBIDDEN error."
        )
    )
    def largest_contribution(self) -> Decimal | None:
        self._lender_refused("largestContribution")
        return money(self._m.largest_contribution)

    @strawberry.field(
        description=(
            "Smallest accepted contribution; null with no acceptances. Borrower and admins only: "
            "for a lender, null with a FORBIDDEN error."
        )
    )
    def smallest_contribution(self) -> Decimal | None:
        self._lender_refused("smallestContribution")
        return money(self._m.smallest_contribution)

    @strawberry.field(description='Global id, e.g. base64 of "Loan:<uuid>".')
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Loan", self._m.loan_id))

    @strawberry.field(description="The borrower who created the loan.")
    async def borrower(self, info: Info) -> User:
        user = await load_user(info, self._m.borrower_id)
        assert user is not None
        return user

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
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> LoanVersionConnectionT:
        from resolvers.versions import resolve_loan_versions

        return await resolve_loan_versions(info, self, first, after, last, before)

    @strawberry.field(
        description="Audit trail of the loan and its participants, oldest first (borrower, admins)."
    )
    async def audit_trail(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> AuditEntryConnectionT:
        from resolvers.audit import resolve_loan_audit_trail

        return await resolve_loan_audit_trail(info, self, first, after, last, before)

    @strawberry.field(
        description=(
            "Funding time series, one point per funding change, oldest first. Borrower and admins "
            "only: every step and bucket of it can reveal one lender's contribution, so a lender "
            "gets a FORBIDDEN error (and, the field being non-null, a null loan: ask for it in "
            "its own operation)."
        )
    )
    async def funding_history(
        self,
        info: Info,
        from_: Annotated[
            dt.datetime | None,
            strawberry.argument(
                name="from", description='Only points at or after, e.g. "2026-11-01T00:00:00Z".'
            ),
        ] = None,
        to: Annotated[
            dt.datetime | None, strawberry.argument(description="Only points at or before.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        bucket: Annotated[
            FundingBucket | None,
            strawberry.argument(
                description="RAW (default): every point; HOUR or DAY (UTC): one point per bucket, its last state."
            ),
        ] = None,
    ) -> FundingPointConnection:
        from resolvers.loans import resolve_funding_history

        return await resolve_funding_history(
            info, self, from_, to, first, after, last, before, bucket.value if bucket else None
        )

    @strawberry.field(description="Who created the loan.")
    async def created_by(self, info: Info) -> User | None:
        return await load_party(info, self._access, self._m, self._m.created_by)

    @strawberry.field(
        description=(
            "Who last changed the loan record (funding changes included). A lender sees only "
            "the borrower or themself here, else null: never which other lender acted."
        )
    )
    async def updated_by(self, info: Info) -> User | None:
        return await load_party(info, self._access, self._m, self._m.updated_by)

    @strawberry.field(description="Who deleted the loan.")
    async def deleted_by(self, info: Info) -> User | None:
        return await load_party(info, self._access, self._m, self._m.deleted_by)


async def load_party(
    info: Info, access: Access, loan: models.Loan, user_id: str | None
) -> User | None:
    """A user who acted on the loan, as the viewer may know them: a lender sees the
    borrower and themself, never another lender (null instead)."""
    if user_id and access < Access.BORROWER:
        viewer = info.context.viewer
        if user_id != loan.borrower_id and (viewer is None or user_id != viewer.user_id):
            return None
    return await load_user(info, user_id)


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
    funding_percentage: Decimal = strawberry.field(
        description="Percentage funded after the change."
    )
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
