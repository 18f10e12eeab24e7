"""Mutation resolvers: decode ids, call the domain layer, shape the payload.
Expected failures (DomainError) become payload errors here, in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import models
from core.db import run_db
from core.errors import BadUserInput, DomainError, DomainErrors
from core.ids import expect_global_id, split_key
from resolvers.context import Info
from resolvers.permissions import loan_access
from schema.common import UserError
from schema.loans import Loan
from schema.participants import Participant

if TYPE_CHECKING:
    from schema.mutations import (
        CreateLoanInput,
        CreateLoanPayload,
        DeleteLoanInput,
        DeleteLoanPayload,
        DeleteWebhookInput,
        DeleteWebhookPayload,
        InviteParticipantInput,
        InviteParticipantPayload,
        InviteParticipantsInput,
        InviteParticipantsPayload,
        RegisterWebhookInput,
        RegisterWebhookPayload,
        RemoveParticipantInput,
        RemoveParticipantPayload,
        RespondToInvitationInput,
        RespondToInvitationPayload,
        RestoreLoanInput,
        RestoreLoanPayload,
        RevertLoanTermsInput,
        RevertLoanTermsPayload,
        SetLoanStatusInput,
        SetLoanStatusPayload,
        UpdateLoanTermsInput,
        UpdateLoanTermsPayload,
    )

P = TypeVar("P")


async def _guard(make_error: Callable[[list[UserError]], P], call: Awaitable[P]) -> P:
    """Run a mutation; turn domain errors into the payload's `errors`."""
    try:
        return await call
    except DomainErrors as exc:
        return make_error([UserError.of(e) for e in exc.errors])
    except DomainError as exc:
        return make_error([UserError.of(exc)])


def _id(global_id: str, type_name: str, field: str) -> str:
    try:
        return expect_global_id(global_id, type_name)
    except BadUserInput as exc:
        raise DomainError("VALIDATION", exc.message, ["input", field]) from None


def _participant_key(global_id: str, field: str = "participantId") -> tuple[str, str]:
    key = _id(global_id, "Participant", field)
    try:
        loan_id, pid = split_key(key)
    except BadUserInput as exc:
        raise DomainError("VALIDATION", exc.message, ["input", field]) from None
    return loan_id, pid


async def _loan(info: Info, model: models.Loan) -> Loan:
    ctx = info.context
    ctx.loaders.loan_by_id.clear(model.loan_id).prime(model.loan_id, model)
    return Loan(_m=model, _access=await loan_access(ctx, model))


def _participant(info: Info, model: models.Participant) -> Participant:
    key = (model.loan_id, model.participant_id)
    info.context.loaders.participant_by_key.clear(key).prime(key, model)
    return Participant(_m=model)


async def create_loan(info: Info, input: CreateLoanInput) -> CreateLoanPayload:
    from schema.mutations import CreateLoanPayload
    from services import loans

    async def run() -> CreateLoanPayload:
        model = await loans.create_loan(
            info.context.actor,
            title=input.title,
            amount=input.amount,
            currency=input.currency if input.currency is not None else "USD",
            interest_rate=input.interest_rate,
            term_months=input.term_months,
        )
        return CreateLoanPayload(loan=await _loan(info, model), errors=[])

    return await _guard(lambda e: CreateLoanPayload(loan=None, errors=e), run())


async def update_loan_terms(info: Info, input: UpdateLoanTermsInput) -> UpdateLoanTermsPayload:
    from schema.mutations import UpdateLoanTermsPayload
    from services import loans

    async def run() -> UpdateLoanTermsPayload:
        model = await loans.update_loan_terms(
            info.context.actor,
            _id(input.id, "Loan", "id"),
            expected_version=input.expected_version,
            change_reason=input.change_reason,
            title=input.title,
            amount=input.amount,
            interest_rate=input.interest_rate,
            term_months=input.term_months,
        )
        return UpdateLoanTermsPayload(loan=await _loan(info, model), errors=[])

    return await _guard(lambda e: UpdateLoanTermsPayload(loan=None, errors=e), run())


async def revert_loan_terms(info: Info, input: RevertLoanTermsInput) -> RevertLoanTermsPayload:
    from schema.mutations import RevertLoanTermsPayload
    from services import loans

    async def run() -> RevertLoanTermsPayload:
        model = await loans.revert_loan_terms(
            info.context.actor,
            _id(input.id, "Loan", "id"),
            to_version=input.to_version,
            expected_version=input.expected_version,
            change_reason=input.change_reason,
        )
        return RevertLoanTermsPayload(loan=await _loan(info, model), errors=[])

    return await _guard(lambda e: RevertLoanTermsPayload(loan=None, errors=e), run())


async def set_loan_status(info: Info, input: SetLoanStatusInput) -> SetLoanStatusPayload:
    from schema.mutations import SetLoanStatusPayload
    from services import loans

    async def run() -> SetLoanStatusPayload:
        model = await loans.set_loan_status(
            info.context.actor, _id(input.id, "Loan", "id"), input.status.value, input.reason
        )
        return SetLoanStatusPayload(loan=await _loan(info, model), errors=[])

    return await _guard(lambda e: SetLoanStatusPayload(loan=None, errors=e), run())


async def delete_loan(info: Info, input: DeleteLoanInput) -> DeleteLoanPayload:
    from schema.mutations import DeleteLoanPayload
    from services import loans

    async def run() -> DeleteLoanPayload:
        model = await loans.delete_loan(
            info.context.actor, _id(input.id, "Loan", "id"), input.reason
        )
        return DeleteLoanPayload(loan=await _loan(info, model), errors=[])

    return await _guard(lambda e: DeleteLoanPayload(loan=None, errors=e), run())


async def restore_loan(info: Info, input: RestoreLoanInput) -> RestoreLoanPayload:
    from schema.mutations import RestoreLoanPayload
    from services import loans

    async def run() -> RestoreLoanPayload:
        model = await loans.restore_loan(info.context.actor, _id(input.id, "Loan", "id"))
        return RestoreLoanPayload(loan=await _loan(info, model), errors=[])

    return await _guard(lambda e: RestoreLoanPayload(loan=None, errors=e), run())


async def invite_participant(info: Info, input: InviteParticipantInput) -> InviteParticipantPayload:
    from schema.mutations import InviteParticipantPayload
    from services import participants

    async def run() -> InviteParticipantPayload:
        model = await participants.invite_participant(
            info.context.actor, _id(input.loan_id, "Loan", "loanId"), input.email, input.amount
        )
        return InviteParticipantPayload(participant=_participant(info, model), errors=[])

    return await _guard(lambda e: InviteParticipantPayload(participant=None, errors=e), run())


async def invite_participants(
    info: Info, input: InviteParticipantsInput
) -> InviteParticipantsPayload:
    from schema.mutations import (
        BatchItemStatus,
        BatchSummary,
        InviteParticipantsPayload,
        InviteResult,
    )
    from services import participants

    async def run() -> InviteParticipantsPayload:
        result = await participants.invite_participants(
            info.context.actor,
            _id(input.loan_id, "Loan", "loanId"),
            [(i.email, i.amount) for i in input.invites],
            bool(input.atomic),
        )
        return InviteParticipantsPayload(
            results=[
                InviteResult(
                    index=r.index,
                    email=r.email,
                    status=BatchItemStatus(r.status),
                    participant=_participant(info, r.participant)
                    if r.participant is not None
                    else None,
                    errors=[UserError.of(e) for e in r.errors],
                )
                for r in result.results
            ],
            summary=BatchSummary(
                total=result.summary.total,
                succeeded=result.summary.succeeded,
                failed=result.summary.failed,
            ),
            errors=[UserError.of(e) for e in getattr(result, "errors", [])],
        )

    def failed(errors: list[UserError]) -> InviteParticipantsPayload:
        n = len(input.invites)
        return InviteParticipantsPayload(
            results=[], summary=BatchSummary(total=n, succeeded=0, failed=n), errors=errors
        )

    return await _guard(failed, run())


async def respond(
    info: Info, input: RespondToInvitationInput, *, accept: bool
) -> RespondToInvitationPayload:
    from schema.mutations import RespondToInvitationPayload
    from services import participants

    async def run() -> RespondToInvitationPayload:
        loan_id, pid = _participant_key(input.participant_id)
        fn = participants.accept_invitation if accept else participants.decline_invitation
        part, loan = await fn(info.context.actor, loan_id, pid, input.expected_loan_version)
        if accept:
            _prime_own_guard(info, part)
        return RespondToInvitationPayload(
            participant=_participant(info, part), loan=await _loan(info, loan), errors=[]
        )

    return await _guard(
        lambda e: RespondToInvitationPayload(participant=None, loan=None, errors=e), run()
    )


def _prime_own_guard(info: Info, part: models.Participant) -> None:
    """The payload's `loan` needs the acceptor's access: their invitation's
    (loan, email) guard, which the acceptance found live and left in place (the
    transaction was conditioned on the invitation being live). Known, so not
    read again: one request fewer per acceptance."""
    from services.participant_change import guard_for

    viewer = info.context.viewer
    email = (viewer.email or "").strip().lower() if viewer is not None else ""
    if email and email == part.lender_email and part.deleted_at is None:
        guard = guard_for(part, part.invited_at)
        info.context.loaders.guard_by_key.clear(guard.guard_key).prime(guard.guard_key, guard)


async def remove_participant(info: Info, input: RemoveParticipantInput) -> RemoveParticipantPayload:
    from schema.mutations import RemoveParticipantPayload
    from services import participants

    async def run() -> RemoveParticipantPayload:
        loan_id, pid = _participant_key(input.participant_id)
        model = await participants.remove_participant(
            info.context.actor, loan_id, pid, input.reason
        )
        return RemoveParticipantPayload(participant=_participant(info, model), errors=[])

    return await _guard(lambda e: RemoveParticipantPayload(participant=None, errors=e), run())


async def register_webhook(info: Info, input: RegisterWebhookInput) -> RegisterWebhookPayload:
    from schema.mutations import RegisterWebhookPayload
    from schema.webhooks import Webhook
    from services import webhooks

    async def run() -> RegisterWebhookPayload:
        # Blocking (DNS resolution of the URL, the transaction): the thread pool.
        model, secret = await run_db(
            webhooks.register_webhook,
            info.context.actor,
            input.url,
            [e.value for e in input.events],
        )
        return RegisterWebhookPayload(webhook=Webhook(_m=model), secret=secret, errors=[])

    return await _guard(
        lambda e: RegisterWebhookPayload(webhook=None, secret=None, errors=e), run()
    )


async def delete_webhook(info: Info, input: DeleteWebhookInput) -> DeleteWebhookPayload:
    from schema.mutations import DeleteWebhookPayload
    from schema.webhooks import Webhook
    from services import webhooks

    async def run() -> DeleteWebhookPayload:
        model = await run_db(
            webhooks.delete_webhook, info.context.actor, _id(input.id, "Webhook", "id")
        )
        return DeleteWebhookPayload(webhook=Webhook(_m=model), errors=[])

    return await _guard(lambda e: DeleteWebhookPayload(webhook=None, errors=e), run())
