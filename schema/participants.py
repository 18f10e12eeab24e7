"""The Participant type: a lender's place in a loan, under an id that never changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types.unset import UNSET

import models
from core.ids import to_global_id
from resolvers.context import Info
from schema.common import Node, PageInfo, ParticipantStatus
from schema.scalars import money
from schema.users import User, load_user

if TYPE_CHECKING:
    from schema.loans import Loan
    from schema.versions import LoanVersion

LoanT = Annotated["Loan", strawberry.lazy("schema.loans")]
LoanVersionT = Annotated["LoanVersion", strawberry.lazy("schema.versions")]


@strawberry.type(description="An invited lender's participation in a loan.")
class Participant(Node):
    _m: strawberry.Private[models.Participant]
    # The lender, when the page prefetched it (see resolvers/participants.py).
    _lender: strawberry.Private[Any] = UNSET
    _lender_id: strawberry.Private[str | None] = None
    participant_id: str = strawberry.field(
        default=None,
        description="The participant's uuid: never changes, whatever happens to the lender's account.",
    )
    lender_email: str = strawberry.field(
        default=None, description='The invited email address (lower-case), e.g. "ana@example.com".'
    )
    contribution_amount: Decimal = strawberry.field(
        default=None, description='The amount offered, e.g. "2500.00".'
    )
    status: ParticipantStatus = strawberry.field(default=None, description="Invitation status.")
    invited_at: dt.datetime = strawberry.field(
        default=None, description="When the invitation was sent."
    )
    responded_at: dt.datetime | None = strawberry.field(
        default=None, description="When the lender accepted or declined."
    )
    version: int = strawberry.field(
        default=None, description="Record version: +1 with each change of this participant."
    )
    created_at: dt.datetime = strawberry.field(
        default=None, description="When the participant was created (invited)."
    )
    updated_at: dt.datetime = strawberry.field(
        default=None, description="When the participant last changed."
    )
    deleted_at: dt.datetime | None = strawberry.field(
        default=None, description="When the participant was removed; null while live."
    )
    deletion_reason: str | None = strawberry.field(
        default=None, description="Why the participant was removed."
    )

    def __post_init__(self) -> None:
        # attribute_values: PynamoDB's storage, read directly (the descriptors
        # cost ~1 us each, and a page of 100 participants reads 1,100 of them).
        v = self._m.attribute_values
        self._lender_id = v.get("lender_id")
        self.participant_id = v["participant_id"]
        self.lender_email = v["lender_email"]
        self.contribution_amount = money(v["contribution_amount"])
        self.status = ParticipantStatus(v.get("status", "PENDING"))
        self.invited_at = v["invited_at"]
        self.responded_at = v.get("responded_at")
        self.version = int(v.get("version", 1))
        self.created_at = v["created_at"]
        self.updated_at = v["updated_at"]
        self.deleted_at = v.get("deleted_at")
        self.deletion_reason = v.get("deletion_reason")

    @strawberry.field(
        description='The amount offered, e.g. "2500.00": `contributionAmount` under the name '
        "`inviteParticipant` takes it by (`amount`)."
    )
    def amount(self) -> Decimal:
        return self.contribution_amount

    @strawberry.field(
        description='Global id, e.g. base64 of "Participant:<loan uuid>/<participant uuid>".'
    )
    def id(self) -> strawberry.ID:
        return strawberry.ID(
            to_global_id("Participant", f"{self._m.loan_id}/{self._m.participant_id}")
        )

    @strawberry.field(description="The loan.")
    async def loan(self, info: Info) -> LoanT:
        from resolvers.loans import loan_for_participant

        return await loan_for_participant(info, self._m)

    @strawberry.field(
        description="The lender's account: null until the invited person accepts or declines."
    )
    def lender(self, info: Info) -> User | None:
        # Prefetched for a whole page when the query selects it (one batch).
        if self._lender is not UNSET or self._lender_id is None:
            return None if self._lender is UNSET else self._lender
        # A coroutine, not a User: graphql-core awaits it (a sync resolver, so a
        # prefetched page costs no coroutine per participant).
        return load_user(info, self._lender_id)  # type: ignore[return-value]  # see above

    @strawberry.field(description="The exact loan terms (version) this lender accepted.")
    async def accepted_version(self, info: Info) -> LoanVersionT | None:
        if self._m.accepted_version is None:
            return None
        from resolvers.versions import load_version

        return await load_version(info, self._m.loan_id, int(self._m.accepted_version))

    @strawberry.field(
        description="The signed receipt of the acceptance; null before acceptance, and for "
        "anyone but the lender, the loan's borrower and admins."
    )
    async def receipt(self, info: Info) -> AcceptanceReceipt | None:
        r = self._m.receipt
        if not r:
            return None
        from resolvers.permissions import can_read_receipt

        if not await can_read_receipt(info.context, self._m):
            return None
        return AcceptanceReceipt(
            payload=r["payload"],
            signature=r["signature"],
            key_id=r["keyId"],
            algorithm=r["algorithm"],
        )

    @strawberry.field(description="Who created the participant (the borrower).")
    async def created_by(self, info: Info) -> User | None:
        return await load_user(info, self._m.created_by)

    @strawberry.field(description="Who last changed the participant.")
    async def updated_by(self, info: Info) -> User | None:
        return await load_user(info, self._m.updated_by)

    @strawberry.field(description="Who removed the participant.")
    async def deleted_by(self, info: Info) -> User | None:
        return await load_user(info, self._m.deleted_by)


@strawberry.type(
    description="A signed acceptance receipt: verify it offline with the public keys at "
    "/.well-known/receipt-keys.json (docs/evidence.md)."
)
class AcceptanceReceipt:
    payload: str = strawberry.field(
        description="The exact bytes signed, as UTF-8 text: canonical JSON with loanId, "
        "participantId, lenderId, lenderEmail, amount, currency, termsVersion, termsDigest, "
        "acceptedAt and auditHash."
    )
    signature: str = strawberry.field(description="The Ed25519 signature, base64url, no padding.")
    key_id: str = strawberry.field(description="`kid` of the signing key in the published JWKS.")
    algorithm: str = strawberry.field(description='Always "Ed25519".')


@strawberry.type(description="A participant in a connection.")
class ParticipantEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: Participant = strawberry.field(description="The participant.")


@strawberry.type(description="A page of participants (Relay connection).")
class ParticipantConnection:
    edges: list[ParticipantEdge] = strawberry.field(description="The participants of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    total_count: int | None = strawberry.field(
        description=(
            "How many items the whole list has, from the loan's counters: set for a borrower's "
            "or admin's view of live participants (all, PENDING or ACCEPTED); null where no "
            "counter answers it (removed participants, DECLINED, a lender's own view, invitations)."
        )
    )
