"""Mutation inputs, payloads and the Mutation root. Every mutation returns a
payload whose `errors` lists business and validation problems."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.permission import BasePermission
from strawberry.types.arguments import StrawberryArgumentAnnotation

from resolvers.context import Info
from resolvers.permissions import IsAuthenticated
from schema.common import LoanStatus, UserError, WebhookEvent
from schema.loans import Loan
from schema.participants import Participant
from schema.webhooks import Webhook

AUTH: list[type[BasePermission]] = [IsAuthenticated]


@strawberry.input(description="A new loan. Money has at most 2 decimals, rates at most 4.")
class CreateLoanInput:
    title: str = strawberry.field(description="1..200 characters.")
    amount: Decimal = strawberry.field(description='Principal > 0, e.g. "25000.00".')
    currency: str | None = strawberry.field(default="USD", description='ISO 4217 code, e.g. "USD".')
    interest_rate: Decimal = strawberry.field(description='Annual percent 0..100, e.g. "7.5".')
    term_months: int = strawberry.field(description="1..600.")


@strawberry.type(description="Result of createLoan.")
class CreateLoanPayload:
    loan: Loan | None = strawberry.field(description="The new loan (null on error).")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(description="New terms for a PENDING loan; omitted fields stay as they are.")
class UpdateLoanTermsInput:
    id: strawberry.ID = strawberry.field(description="Loan global id.")
    expected_version: int = strawberry.field(
        description="The version you are changing (optimistic locking): VERSION_MISMATCH when stale."
    )
    change_reason: str = strawberry.field(description="Why: kept on the new LoanVersion.")
    title: str | None = strawberry.field(default=None, description="New title.")
    amount: Decimal | None = strawberry.field(default=None, description="New principal.")
    interest_rate: Decimal | None = strawberry.field(default=None, description="New annual rate.")
    term_months: int | None = strawberry.field(default=None, description="New term.")


@strawberry.type(description="Result of updateLoanTerms.")
class UpdateLoanTermsPayload:
    loan: Loan | None = strawberry.field(description="The loan at its new version.")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(description="Move a loan along its lifecycle.")
class SetLoanStatusInput:
    id: strawberry.ID = strawberry.field(description="Loan global id.")
    status: LoanStatus = strawberry.field(
        description="Target: FUNDED->ACTIVE->COMPLETED, PENDING/FUNDED->CANCELLED (FUNDED is automatic)."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why (kept on the LoanVersion)."
    )


@strawberry.type(description="Result of setLoanStatus.")
class SetLoanStatusPayload:
    loan: Loan | None = strawberry.field(description="The loan.")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(description="Soft-delete a loan and, with it, its live participants.")
class DeleteLoanInput:
    id: strawberry.ID = strawberry.field(description="Loan global id.")
    reason: str = strawberry.field(description="Why (kept on the record).")


@strawberry.type(description="Result of deleteLoan.")
class DeleteLoanPayload:
    loan: Loan | None = strawberry.field(description="The deleted loan.")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(description="Restore a soft-deleted loan and what its deletion cascaded to.")
class RestoreLoanInput:
    id: strawberry.ID = strawberry.field(description="Loan global id.")


@strawberry.type(description="Result of restoreLoan.")
class RestoreLoanPayload:
    loan: Loan | None = strawberry.field(description="The restored loan.")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(description="Invite one lender by email.")
class InviteParticipantInput:
    loan_id: strawberry.ID = strawberry.field(description="Loan global id.")
    email: str = strawberry.field(description='Lender\'s email, e.g. "ana@example.com".')
    amount: Decimal = strawberry.field(description='Contribution offered, e.g. "2500.00".')


@strawberry.type(description="Result of inviteParticipant.")
class InviteParticipantPayload:
    participant: Participant | None = strawberry.field(description="The new participant.")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(description="One invitation of a batch.")
class InviteItem:
    email: str = strawberry.field(description="Lender's email.")
    amount: Decimal = strawberry.field(description="Contribution offered.")


@strawberry.input(description="Invite up to 100 lenders at once.")
class InviteParticipantsInput:
    loan_id: strawberry.ID = strawberry.field(description="Loan global id.")
    invites: list[InviteItem] = strawberry.field(description="At most 100 invitations.")
    atomic: bool | None = strawberry.field(
        default=False,
        description="true: all or nothing (smaller limit, see docs); false: one result per item.",
    )


@strawberry.enum(description="Outcome of one item of a batch.")
class BatchItemStatus(enum.Enum):
    CREATED = strawberry.enum_value("CREATED", description="The item was written.")
    FAILED = strawberry.enum_value(
        "FAILED", description="The item was not written; see its errors."
    )


@strawberry.type(description="Outcome of one invitation of a batch, in input order.")
class InviteResult:
    index: int = strawberry.field(description="Position in the input list, from 0.")
    email: str = strawberry.field(description="The email as given.")
    status: BatchItemStatus = strawberry.field(description="CREATED or FAILED.")
    participant: Participant | None = strawberry.field(description="The participant, when created.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty when created.")


@strawberry.type(description="Counts of a batch.")
class BatchSummary:
    total: int = strawberry.field(description="Items given.")
    succeeded: int = strawberry.field(description="Items written.")
    failed: int = strawberry.field(description="Items not written.")


@strawberry.type(description="Result of inviteParticipants.")
class InviteParticipantsPayload:
    results: list[InviteResult] = strawberry.field(
        description="One result per input item, in order."
    )
    summary: BatchSummary = strawberry.field(description="Counts.")
    errors: list[UserError] = strawberry.field(description="Problems with the whole batch.")


@strawberry.input(description="Accept or decline an invitation sent to your email.")
class RespondToInvitationInput:
    participant_id: strawberry.ID = strawberry.field(description="Participant global id.")
    expected_loan_version: int | None = strawberry.field(
        default=None,
        description="The loan version you read: TERMS_CHANGED when the terms moved on.",
    )


@strawberry.type(description="Result of acceptInvitation / declineInvitation.")
class RespondToInvitationPayload:
    participant: Participant | None = strawberry.field(description="The participant.")
    loan: Loan | None = strawberry.field(description="The loan with its new funding figures.")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(
    description="Remove a participant (soft delete) and free their email for a new invitation."
)
class RemoveParticipantInput:
    participant_id: strawberry.ID = strawberry.field(description="Participant global id.")
    reason: str = strawberry.field(description="Why (kept on the record).")


@strawberry.type(description="Result of removeParticipant.")
class RemoveParticipantPayload:
    participant: Participant | None = strawberry.field(description="The removed participant.")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(description="Register an endpoint for signed event notifications.")
class RegisterWebhookInput:
    url: str = strawberry.field(description="https URL (http on loopback only where allowed).")
    events: list[WebhookEvent] = strawberry.field(description="Event types to receive.")


@strawberry.type(description="Result of registerWebhook.")
class RegisterWebhookPayload:
    webhook: Webhook | None = strawberry.field(description="The webhook.")
    secret: str | None = strawberry.field(
        description="Signing secret, shown once, here only: store it to verify X-Loangraph-Signature."
    )
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(description="Delete one of your webhooks.")
class DeleteWebhookInput:
    id: strawberry.ID = strawberry.field(description="Webhook global id.")


@strawberry.type(description="Result of deleteWebhook.")
class DeleteWebhookPayload:
    webhook: Webhook | None = strawberry.field(description="The deleted webhook.")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.input(description="Write a new version whose terms equal an earlier version's.")
class RevertLoanTermsInput:
    id: strawberry.ID = strawberry.field(description="Loan global id.")
    to_version: int = strawberry.field(description="The version whose terms to restore.")
    expected_version: int = strawberry.field(
        description="The loan's current version (optimistic locking)."
    )
    change_reason: str = strawberry.field(description="Why (kept on the new LoanVersion).")


@strawberry.type(description="Result of revertLoanTerms.")
class RevertLoanTermsPayload:
    loan: Loan | None = strawberry.field(description="The loan at its new version.")
    errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


def _arg(description: str) -> StrawberryArgumentAnnotation:
    return strawberry.argument(description=description)


@strawberry.type(description="Changes. Each one is one DynamoDB transaction with its audit entry.")
class Mutation:
    @strawberry.mutation(
        description="Create a loan (you are its borrower).", permission_classes=AUTH
    )
    async def create_loan(
        self, info: Info, input: Annotated[CreateLoanInput, _arg("The loan.")]
    ) -> CreateLoanPayload:
        from resolvers import mutations as m

        return await m.create_loan(info, input)

    @strawberry.mutation(
        description="Change a PENDING loan's terms; writes a new LoanVersion.",
        permission_classes=AUTH,
    )
    async def update_loan_terms(
        self, info: Info, input: Annotated[UpdateLoanTermsInput, _arg("The change.")]
    ) -> UpdateLoanTermsPayload:
        from resolvers import mutations as m

        return await m.update_loan_terms(info, input)

    @strawberry.mutation(
        description="Move a loan along its lifecycle (borrower).", permission_classes=AUTH
    )
    async def set_loan_status(
        self, info: Info, input: Annotated[SetLoanStatusInput, _arg("The change.")]
    ) -> SetLoanStatusPayload:
        from resolvers import mutations as m

        return await m.set_loan_status(info, input)

    @strawberry.mutation(
        description="Soft-delete a loan and its live participants (borrower).",
        permission_classes=AUTH,
    )
    async def delete_loan(
        self, info: Info, input: Annotated[DeleteLoanInput, _arg("The deletion.")]
    ) -> DeleteLoanPayload:
        from resolvers import mutations as m

        return await m.delete_loan(info, input)

    @strawberry.mutation(
        description="Restore a soft-deleted loan (borrower, admins).", permission_classes=AUTH
    )
    async def restore_loan(
        self, info: Info, input: Annotated[RestoreLoanInput, _arg("The loan.")]
    ) -> RestoreLoanPayload:
        from resolvers import mutations as m

        return await m.restore_loan(info, input)

    @strawberry.mutation(
        description="Invite a lender by email (borrower).", permission_classes=AUTH
    )
    async def invite_participant(
        self, info: Info, input: Annotated[InviteParticipantInput, _arg("The invitation.")]
    ) -> InviteParticipantPayload:
        from resolvers import mutations as m

        return await m.invite_participant(info, input)

    @strawberry.mutation(
        description="Invite up to 100 lenders (borrower).", permission_classes=AUTH
    )
    async def invite_participants(
        self, info: Info, input: Annotated[InviteParticipantsInput, _arg("The invitations.")]
    ) -> InviteParticipantsPayload:
        from resolvers import mutations as m

        return await m.invite_participants(info, input)

    @strawberry.mutation(
        description="Accept an invitation sent to your email; pins the loan version.",
        permission_classes=AUTH,
    )
    async def accept_invitation(
        self, info: Info, input: Annotated[RespondToInvitationInput, _arg("The answer.")]
    ) -> RespondToInvitationPayload:
        from resolvers import mutations as m

        return await m.respond(info, input, accept=True)

    @strawberry.mutation(
        description="Decline an invitation sent to your email.", permission_classes=AUTH
    )
    async def decline_invitation(
        self, info: Info, input: Annotated[RespondToInvitationInput, _arg("The answer.")]
    ) -> RespondToInvitationPayload:
        from resolvers import mutations as m

        return await m.respond(info, input, accept=False)

    @strawberry.mutation(
        description="Remove a participant (borrower); soft delete.", permission_classes=AUTH
    )
    async def remove_participant(
        self, info: Info, input: Annotated[RemoveParticipantInput, _arg("The removal.")]
    ) -> RemoveParticipantPayload:
        from resolvers import mutations as m

        return await m.remove_participant(info, input)

    @strawberry.mutation(
        description="Register a webhook; its secret is shown once.", permission_classes=AUTH
    )
    async def register_webhook(
        self, info: Info, input: Annotated[RegisterWebhookInput, _arg("The webhook.")]
    ) -> RegisterWebhookPayload:
        from resolvers import mutations as m

        return await m.register_webhook(info, input)

    @strawberry.mutation(description="Delete one of your webhooks.", permission_classes=AUTH)
    async def delete_webhook(
        self, info: Info, input: Annotated[DeleteWebhookInput, _arg("The webhook.")]
    ) -> DeleteWebhookPayload:
        from resolvers import mutations as m

        return await m.delete_webhook(info, input)

    @strawberry.mutation(
        description="Restore the terms of an earlier version as a new version (borrower).",
        permission_classes=AUTH,
    )
    async def revert_loan_terms(
        self, info: Info, input: Annotated[RevertLoanTermsInput, _arg("The revert.")]
    ) -> RevertLoanTermsPayload:
        from resolvers import mutations as m

        return await m.revert_loan_terms(info, input)
