"""Participant mutations: invite (one or a batch: services/invites.py,
re-exported here), accept, decline, remove.

Participants are stable: `participant_id` never changes and `lender_id` is set
in place when the invited person responds (no delete-and-recreate). One live
participant per (loan, email) is enforced by a `ParticipantGuard` item written
with attribute_not_exists in the invitation's transaction and deleted by the
removal's. Every change also rewrites the loan (funding fields recomputed from
a consistent read of its participants, `seq` + 1 under `seq = <read>`) and
writes a metric point, so the aggregates always equal a recount
(services/participant_change.py)."""

from __future__ import annotations

from typing import Any

from core.actor import Actor
from core.db import run_db
from core.errors import DomainError
from models import Loan, Participant
from services import access as acl
from services import funding
from services import validation as v
from services.change import funding_change
from services.common import Retry, next_participant, utcnow, with_retry
from services.invites import (
    BatchSummary,
    InviteBatchResult,
    InviteResult,
    invite_participant,
    invite_participants,
)
from services.loans import TERM_FIELDS
from services.participant_change import PID_FIELD, commit_participant_change, guard_for


# ------------------------------------------------------------------ respond
def _invitation(
    actor: Actor, loan_id: str, participant_id: str
) -> tuple[Loan, Participant, list[Participant]]:
    """The live invitation addressed to the actor (token email, case-insensitive),
    with its loan and the loan's whole participant partition (consistent reads)."""
    loan = acl.get_loan(loan_id)
    if loan is None or loan.deleted_at is not None:
        raise acl.not_found("Participant", PID_FIELD)
    everyone = acl.loan_participants(loan_id)
    p = next((q for q in everyone if q.participant_id == participant_id), None)
    if p is None or p.deleted_at is not None:
        raise acl.not_found("Participant", PID_FIELD)
    email = (actor.viewer.email or "").strip().lower()
    if not email or email != p.lender_email:
        if acl.access(actor, loan).can_read:
            raise DomainError(
                "FORBIDDEN", "Only the invited person may respond to this invitation", PID_FIELD
            )
        raise acl.not_found("Participant", PID_FIELD)
    return loan, p, everyone


def _terms(loan: Loan) -> dict[str, Any]:
    return {k: getattr(loan, k) for k in TERM_FIELDS}


def _check_terms(loan: Loan, expected: int | None, seen: list[dict[str, Any]]) -> None:
    """TERMS_CHANGED when the lender's `expected` version is stale, or when a
    retry after a lost race finds other terms than the first attempt read:
    a lender never silently accepts terms they were not shown."""
    if expected is not None and int(loan.version) != expected:
        raise DomainError(
            "TERMS_CHANGED",
            f"The loan's terms moved on to version {loan.version} since version {expected}",
            ["input", "expectedLoanVersion"],
        )
    if not seen:
        seen.append(_terms(loan))
    elif seen[0] != _terms(loan):
        raise DomainError(
            "TERMS_CHANGED",
            f"The loan's terms changed (version {loan.version}) while responding",
            ["input", "expectedLoanVersion"],
        )


def _respond_once(
    actor: Actor,
    loan_id: str,
    participant_id: str,
    expected: int | None,
    seen: list[dict[str, Any]],
    accept: bool,
) -> tuple[Participant, Loan]:
    loan, p, everyone = _invitation(actor, loan_id, participant_id)
    if p.status != "PENDING":
        raise DomainError(
            "INVALID_STATE", f"The invitation was already {p.status.lower()}", PID_FIELD
        )
    if accept:
        if loan.status not in ("PENDING", "FUNDED"):
            raise DomainError(
                "INVALID_STATE",
                f"The loan is {loan.status}: it takes no more contributions",
                PID_FIELD,
            )
        total = funding.compute(loan.amount, funding.counted(loan, everyone)).total_funded
        if total + p.contribution_amount > loan.amount:
            raise DomainError(
                "OVERFUNDED",
                f"Accepting {p.contribution_amount} would fund {total + p.contribution_amount} "
                f"of {loan.amount}; {loan.amount - total} remains",
                PID_FIELD,
            )
    _check_terms(loan, expected, seen)
    at = utcnow()
    pa = next_participant(p, actor, at)
    pa.status = "ACCEPTED" if accept else "DECLINED"
    pa.lender_id = actor.user_id
    pa.responded_at = at
    if accept:
        pa.accepted_version = int(loan.version)
    after_list = [pa if q.participant_id == p.participant_id else q for q in everyone]
    loan_after = funding_change(loan, after_list, at=at)
    fills = accept and loan.status == "PENDING" and loan_after.is_fully_funded
    if fills:
        loan_after.status = "FUNDED"
        loan_after.version = int(loan.version) + 1
        loan_after.updated_at = at
        loan_after.updated_by = actor.user_id
    event = "PARTICIPANT_ACCEPTED" if accept else "PARTICIPANT_DECLINED"
    commit_participant_change(
        "acceptInvitation" if accept else "declineInvitation",
        actor,
        loan,
        loan_after,
        [(p, pa)],
        at=at,
        action="UPDATE",
        event=event,
        fills=fills,
    )
    return pa, loan_after


async def accept_invitation(
    actor: Actor, loan_id: str, participant_id: str, expected_loan_version: int | None = None
) -> tuple[Participant, Loan]:
    """The invited person accepts: lender_id set in place, acceptedVersion pinned;
    OVERFUNDED when it would exceed the amount; the loan turns FUNDED in the same
    transaction that fills it. Lost races are retried while the terms stay put."""
    seen: list[dict[str, Any]] = []
    return await with_retry(
        "acceptInvitation",
        lambda n: run_db(
            _respond_once, actor, loan_id, participant_id, expected_loan_version, seen, True
        ),
        loan_id=loan_id,
    )


async def decline_invitation(
    actor: Actor, loan_id: str, participant_id: str, expected_loan_version: int | None = None
) -> tuple[Participant, Loan]:
    seen: list[dict[str, Any]] = []
    return await with_retry(
        "declineInvitation",
        lambda n: run_db(
            _respond_once, actor, loan_id, participant_id, expected_loan_version, seen, False
        ),
        loan_id=loan_id,
    )


# ------------------------------------------------------------------ remove
async def remove_participant(
    actor: Actor, loan_id: str, participant_id: str, reason: str
) -> Participant:
    """Soft delete by the borrower, releasing the (loan, email) guard. An ACCEPTED
    participant can only be removed while the loan is still PENDING."""
    why = v.reason(reason, v.path("input", "reason"), required=True)

    def once() -> Participant:
        loan = acl.get_loan(loan_id)
        if loan is None or loan.deleted_at is not None:
            raise acl.not_found("Participant", PID_FIELD)
        acc = acl.access(actor, loan)
        if not acc.can_read:
            raise acl.not_found("Participant", PID_FIELD)
        everyone = acl.loan_participants(loan_id)
        p = next(
            (q for q in everyone if q.participant_id == participant_id and q.deleted_at is None),
            None,
        )
        if p is None:
            raise acl.not_found("Participant", PID_FIELD)
        acl.require_borrower(acc, "remove participants")
        if p.status == "ACCEPTED" and loan.status != "PENDING":
            raise DomainError(
                "INVALID_STATE",
                f"An accepted contribution cannot be removed from a {loan.status} loan",
                PID_FIELD,
            )
        at = utcnow()
        pa = next_participant(p, actor, at)
        pa.deleted_at, pa.deleted_by, pa.deletion_reason = at, actor.user_id, why
        after_list = [pa if q.participant_id == p.participant_id else q for q in everyone]
        loan_after = funding_change(loan, after_list, at=at)
        guard = guard_for(p, at)
        commit_participant_change(
            "removeParticipant",
            actor,
            loan,
            loan_after,
            [(p, pa)],
            at=at,
            action="DELETE",
            event="PARTICIPANT_REMOVED",
            guards_delete=[guard],
        )
        return pa

    return await with_retry("removeParticipant", lambda n: run_db(once), loan_id=loan_id)


__all__ = [
    "BatchSummary",
    "InviteBatchResult",
    "InviteResult",
    "Retry",
    "accept_invitation",
    "decline_invitation",
    "invite_participant",
    "invite_participants",
    "remove_participant",
]
