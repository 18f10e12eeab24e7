"""Mutation inputs, payloads and the Mutation root. Every mutation returns a
payload whose `errors` lists business and validation problems."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.permission import BasePermission

from resolvers import mutations as m
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


def _mutation(
    resolve: Callable[..., Awaitable[Any]],
    input_type: type,
    input_description: str,
    payload: type,
    description: str,
    **fixed: Any,
) -> Any:
    """A Mutation field taking one `input` argument: `resolve(info, input, **fixed)`
    from resolvers/mutations.py, declared with its argument and payload types."""

    async def resolver(info: Info, input: Any) -> Any:
        return await resolve(info, input, **fixed)

    # Real types, not strings: Strawberry reads them to build the field.
    resolver.__annotations__ = {
        "info": Info,
        "input": Annotated[input_type, strawberry.argument(description=input_description)],
        "return": payload,
    }
    return strawberry.mutation(resolver=resolver, description=description, permission_classes=AUTH)


@strawberry.type(description="Changes. Each one is one DynamoDB transaction with its audit entry.")
class Mutation:
    create_loan = _mutation(
        m.create_loan,
        CreateLoanInput,
        "The loan.",
        CreateLoanPayload,
        "Create a loan (you are its borrower).",
    )
    update_loan_terms = _mutation(
        m.update_loan_terms,
        UpdateLoanTermsInput,
        "The change.",
        UpdateLoanTermsPayload,
        "Change a PENDING loan's terms; writes a new LoanVersion.",
    )
    set_loan_status = _mutation(
        m.set_loan_status,
        SetLoanStatusInput,
        "The change.",
        SetLoanStatusPayload,
        "Move a loan along its lifecycle (borrower).",
    )
    delete_loan = _mutation(
        m.delete_loan,
        DeleteLoanInput,
        "The deletion.",
        DeleteLoanPayload,
        "Soft-delete a loan and its live participants (borrower).",
    )
    restore_loan = _mutation(
        m.restore_loan,
        RestoreLoanInput,
        "The loan.",
        RestoreLoanPayload,
        "Restore a soft-deleted loan (borrower, admins).",
    )
    invite_participant = _mutation(
        m.invite_participant,
        InviteParticipantInput,
        "The invitation.",
        InviteParticipantPayload,
        "Invite a lender by email (borrower).",
    )
    invite_participants = _mutation(
        m.invite_participants,
        InviteParticipantsInput,
        "The invitations.",
        InviteParticipantsPayload,
        "Invite up to 100 lenders (borrower).",
    )
    accept_invitation = _mutation(
        m.respond,
        RespondToInvitationInput,
        "The answer.",
        RespondToInvitationPayload,
        "Accept an invitation sent to your email; pins the loan version.",
        accept=True,
    )
    decline_invitation = _mutation(
        m.respond,
        RespondToInvitationInput,
        "The answer.",
        RespondToInvitationPayload,
        "Decline an invitation sent to your email.",
        accept=False,
    )
    remove_participant = _mutation(
        m.remove_participant,
        RemoveParticipantInput,
        "The removal.",
        RemoveParticipantPayload,
        "Remove a participant (borrower); soft delete.",
    )
    register_webhook = _mutation(
        m.register_webhook,
        RegisterWebhookInput,
        "The webhook.",
        RegisterWebhookPayload,
        "Register a webhook; its secret is shown once.",
    )
    delete_webhook = _mutation(
        m.delete_webhook,
        DeleteWebhookInput,
        "The webhook.",
        DeleteWebhookPayload,
        "Delete one of your webhooks.",
    )
    revert_loan_terms = _mutation(
        m.revert_loan_terms,
        RevertLoanTermsInput,
        "The revert.",
        RevertLoanTermsPayload,
        "Restore the terms of an earlier version as a new version (borrower).",
    )
