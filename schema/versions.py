"""LoanVersion: the loan's full record at one version, so accepted terms can be proved."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

import models
from core.ids import to_global_id
from resolvers.context import Info
from resolvers.permissions import Access
from schema.common import LoanStatus, Node, PageInfo
from schema.loans import LoanTerms
from schema.scalars import money, rate
from schema.users import User, load_user
from services.funding import Aggregates

if TYPE_CHECKING:
    from schema.loans import Loan

LoanT = Annotated["Loan", strawberry.lazy("schema.loans")]

# Snapshot keys a lender does not see: the funding state at each version is a
# point of the funding series (docs/security.md, "What each party may see").
LENDER_HIDDEN_SNAPSHOT_KEYS = frozenset(
    (*Aggregates.FIELDS, "last_funding_update", "updated_by", "seq")
)


@strawberry.type(
    description="One version of a loan: its terms, the whole record, who changed what and why."
)
class LoanVersion(Node):
    _m: strawberry.Private[models.LoanVersion]
    _access: strawberry.Private[Access]

    @strawberry.field(description='Global id, e.g. base64 of "LoanVersion:<loan uuid>/3".')
    def id(self) -> strawberry.ID:
        return strawberry.ID(
            to_global_id("LoanVersion", f"{self._m.loan_id}/{int(self._m.version)}")
        )

    @strawberry.field(description="The loan (as it is now).")
    async def loan(self, info: Info) -> LoanT:
        from resolvers.loans import loan_with_access

        return await loan_with_access(info, self._m.loan_id, self._access)

    @strawberry.field(description="Version number, from 1.")
    def version(self) -> int:
        return int(self._m.version)

    @strawberry.field(description="The terms at this version.")
    def terms(self) -> LoanTerms:
        s = self._m.snapshot
        return LoanTerms(
            title=s["title"],
            amount=money(Decimal(str(s["amount"]))),
            currency=s.get("currency", "USD"),
            interest_rate=rate(Decimal(str(s["interest_rate"]))),
            term_months=int(s["term_months"]),
            status=LoanStatus(s["status"]),
        )

    @strawberry.field(
        description=(
            "The whole loan record as it was at this version (money as strings). For a lender, "
            "without the funding figures of that moment (totals, counts, contribution "
            "statistics, lastFundingUpdate, updatedBy): a series of them would reveal other "
            "lenders' contributions."
        )
    )
    def snapshot(self) -> JSON:
        snap = self._m.snapshot
        if self._access < Access.BORROWER and isinstance(snap, dict):
            return JSON({k: v for k, v in snap.items() if k not in LENDER_HIDDEN_SNAPSHOT_KEYS})
        return snap

    @strawberry.field(description='Fields this version changed, e.g. ["amount", "interest_rate"].')
    def changed_fields(self) -> list[str]:
        return list(self._m.changed_fields or [])

    @strawberry.field(
        description=(
            "Who made the change. A lender sees only the borrower or themself here, else null."
        )
    )
    async def changed_by(self, info: Info) -> User | None:
        user_id = self._m.changed_by
        if user_id and self._access < Access.BORROWER:
            viewer = info.context.viewer
            borrower_id = (self._m.snapshot or {}).get("borrower_id")
            if user_id != borrower_id and (viewer is None or user_id != viewer.user_id):
                return None
        return await load_user(info, user_id)

    @strawberry.field(description="When the change was committed.")
    def changed_at(self) -> dt.datetime:
        return self._m.changed_at

    @strawberry.field(description="Why, as given by the person who changed it.")
    def change_reason(self) -> str | None:
        return self._m.change_reason

    @strawberry.field(
        description="The version whose terms this one restored; null unless a revert."
    )
    def reverted_from(self) -> int | None:
        return None if self._m.reverted_from is None else int(self._m.reverted_from)


@strawberry.type(description="A loan version in a connection.")
class LoanVersionEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: LoanVersion = strawberry.field(description="The version.")


@strawberry.type(description="A page of loan versions (Relay connection).")
class LoanVersionConnection:
    edges: list[LoanVersionEdge] = strawberry.field(description="The versions of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
