"""Row-level rules of the write layer, and the consistent reads they need.

- A loan is readable by its borrower, by admins, and by a lender holding a
  live invitation: a `ParticipantGuard` for (loan, their token email).
- A loan the actor may not read is NOT_FOUND (its existence stays hidden);
  readable but not allowed is FORBIDDEN.
- Deleted loans are NOT_FOUND to every mutation except `restoreLoan`."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist

from core.actor import Actor
from core.errors import DomainError
from models import Loan, Participant, ParticipantGuard
from models.participant import guard_key

# Where a loan mutation's loan id is in its input (errors name the field).
LOAN_INPUT_ID = ["input", "id"]


@dataclass(frozen=True)
class LoanAccess:
    loan: Loan
    is_borrower: bool
    is_admin: bool
    is_invited: bool

    @property
    def can_read(self) -> bool:
        if self.loan.deleted_at is not None:
            return self.is_borrower or self.is_admin
        return self.is_borrower or self.is_admin or self.is_invited


def get_loan(loan_id: str) -> Loan | None:
    try:
        return Loan.get(loan_id, consistent_read=True)
    except DoesNotExist:
        return None


def get_participant(loan_id: str, participant_id: str) -> Participant | None:
    try:
        return Participant.get(loan_id, participant_id, consistent_read=True)
    except DoesNotExist:
        return None


def get_guard(loan_id: str, email: str) -> ParticipantGuard | None:
    try:
        return ParticipantGuard.get(guard_key(loan_id, email), consistent_read=True)
    except DoesNotExist:
        return None


def loan_participants(loan_id: str) -> list[Participant]:
    """Every participant of the loan, deleted ones included (consistent Query)."""
    return list(Participant.query(loan_id, consistent_read=True))


def not_found(what: str = "Loan", field: list[str] | None = None) -> DomainError:
    return DomainError("NOT_FOUND", f"{what} not found", field)


def access(actor: Actor, loan: Loan) -> LoanAccess:
    viewer = actor.viewer
    is_borrower = loan.borrower_id == viewer.user_id
    invited = False
    if not is_borrower and not viewer.is_admin and viewer.email:
        guard = get_guard(loan.loan_id, viewer.email)
        invited = guard is not None and guard.loan_id == loan.loan_id
    return LoanAccess(loan, is_borrower, viewer.is_admin, invited)


def loan_for_change(actor: Actor, loan_id: str, field: list[str]) -> LoanAccess:
    """A live loan the actor may read; NOT_FOUND otherwise."""
    loan = get_loan(loan_id)
    if loan is None or loan.deleted_at is not None:
        raise not_found("Loan", field)
    acc = access(actor, loan)
    if not acc.can_read:
        raise not_found("Loan", field)
    return acc


def require_borrower(acc: LoanAccess, what: str = "change this loan") -> None:
    if not acc.is_borrower:
        raise DomainError("FORBIDDEN", f"Only the borrower may {what}")
