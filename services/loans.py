"""Loan mutations: create, status, delete, restore; changing and reverting the
terms live in services/terms.py (re-exported here).

Each is one transaction: the loan under `seq = <read>` (or attribute_not_exists
on create), its LoanVersion snapshot under attribute_not_exists (no gaps, no
overwrites), its audit entry, and where funding moves the metric point. See
docs/write-path.md."""

from __future__ import annotations

from typing import Any

from core.actor import Actor
from core.db import run_db
from core.errors import DomainError
from models import Loan, Participant
from services import access as acl
from services import funding
from services import validation as v
from services.change import Change, next_loan, versioned_change
from services.common import (
    MAX_LIVE_PARTICIPANTS,
    new_id,
    next_participant,
    utcnow,
    with_retry,
)
from services.terms import revert_loan_terms, update_loan_terms

TERM_FIELDS = ("title", "amount", "currency", "interest_rate", "term_months")
LOAN_STATUSES = ("PENDING", "FUNDED", "ACTIVE", "COMPLETED", "CANCELLED")
# The state machine; FUNDED is reached automatically when a loan fills.
TRANSITIONS = {
    "PENDING": {"CANCELLED"},
    "FUNDED": {"ACTIVE", "CANCELLED"},
    "ACTIVE": {"COMPLETED"},
    "COMPLETED": set(),
    "CANCELLED": set(),
}
# Soft delete is refused while money is committed or outstanding.
DELETABLE_STATUSES = {"PENDING", "CANCELLED", "COMPLETED"}

ID_FIELD = acl.LOAN_INPUT_ID


# ------------------------------------------------------------------ create
async def create_loan(
    actor: Actor,
    *,
    title: str,
    amount: Any,
    currency: str = "USD",
    interest_rate: Any,
    term_months: int,
) -> Loan:
    c = v.Collector()
    t = c.run(v.title, title, v.path("input", "title"))
    amt = c.run(v.money, amount, v.path("input", "amount"))
    cur = c.run(
        v.currency, currency if currency is not None else "USD", v.path("input", "currency")
    )
    rate = c.run(v.interest_rate, interest_rate, v.path("input", "interestRate"))
    term = c.run(v.term_months, term_months, v.path("input", "termMonths"))
    c.raise_if_any()

    def once() -> Loan:
        at = utcnow()
        loan = Loan(
            loan_id=new_id(),
            borrower_id=actor.user_id,
            title=t,
            amount=amt,
            currency=cur,
            interest_rate=rate,
            term_months=term,
            status="PENDING",
            version=1,
            seq=1,
            created_at=at,
            created_by=actor.user_id,
            updated_at=at,
            updated_by=actor.user_id,
        )
        funding.apply(loan, funding.compute(amt, []))
        change = Change("createLoan", actor, at=at, before=None, after=loan)
        change.version(reason="created", changed=[*TERM_FIELDS, "status"])
        change.loan_entry(action="CREATE", event="LOAN_CREATED")
        change.commit()
        return loan

    return await with_retry("createLoan", lambda n: run_db(once))


# ------------------------------------------------------------------ status
async def set_loan_status(
    actor: Actor, loan_id: str, status: str, reason: str | None = None
) -> Loan:
    """PENDING -> CANCELLED, FUNDED -> ACTIVE | CANCELLED, ACTIVE -> COMPLETED.
    FUNDED itself is only reached by funding; anything else is INVALID_STATE."""
    c = v.Collector()
    st = str(status or "").upper()
    if st not in LOAN_STATUSES:
        c.errors.append(
            DomainError("VALIDATION", f"Unknown loan status {status!r}", ["input", "status"])
        )
    why = c.run(v.reason, reason, v.path("input", "reason"), required=False)
    c.raise_if_any()

    def once() -> Loan:
        acc = acl.loan_for_change(actor, loan_id, ID_FIELD)
        acl.require_borrower(acc, "change the status of this loan")
        loan = acc.loan
        if st not in TRANSITIONS[loan.status]:
            raise DomainError(
                "INVALID_STATE",
                f"The loan is {loan.status}: it cannot become {st}",
                ["input", "status"],
            )
        at = utcnow()
        after = next_loan(loan, actor=actor, at=at, move_version=True)
        after.status = st
        versioned_change(
            "setLoanStatus",
            actor,
            loan,
            after,
            at=at,
            action="UPDATE",
            event="LOAN_UPDATED",
            reason=why,
        ).commit()
        return after

    return await with_retry("setLoanStatus", lambda n: run_db(once), loan_id=loan_id)


# ------------------------------------------------------------------ delete / restore
async def delete_loan(actor: Actor, loan_id: str, reason: str) -> Loan:
    """Soft delete, cascading to the loan's live participants in the same transaction
    (each marked with the loan's new `deletion_id`; their guards stay, so a restore
    needs no uniqueness re-check)."""
    why = v.reason(reason, v.path("input", "reason"), required=True)

    def once() -> Loan:
        acc = acl.loan_for_change(actor, loan_id, ID_FIELD)
        acl.require_borrower(acc, "delete this loan")
        loan = acc.loan
        if loan.status not in DELETABLE_STATUSES:
            raise DomainError(
                "INVALID_STATE",
                f"The loan is {loan.status}: it cannot be deleted; cancel or complete it first",
                ID_FIELD,
            )
        live = [p for p in acl.loan_participants(loan_id) if p.deleted_at is None]
        if len(live) > MAX_LIVE_PARTICIPANTS:
            raise DomainError(
                "CONFLICT",
                f"A loan with more than {MAX_LIVE_PARTICIPANTS} participants "
                "cannot be deleted in one transaction",
                ID_FIELD,
            )
        at = utcnow()
        after = next_loan(loan, actor=actor, at=at, move_version=True)
        deletion_id = new_id()
        after.deleted_at, after.deleted_by, after.deletion_reason = at, actor.user_id, why
        after.deletion_id = deletion_id
        change = versioned_change(
            "deleteLoan",
            actor,
            loan,
            after,
            at=at,
            action="DELETE",
            event="LOAN_DELETED",
            reason=why,
            context={
                "deletion_id": deletion_id,
                "cascaded_participant_ids": [p.participant_id for p in live],
            },
        )
        for p in live:
            pa = next_participant(p, actor, at)
            pa.deleted_at, pa.deleted_by, pa.deletion_reason = at, actor.user_id, why
            pa.deletion_id = deletion_id
            change.tx.put(
                pa, Participant.version == int(p.version), label=f"participant:{p.participant_id}"
            )
        change.commit()
        return after

    return await with_retry("deleteLoan", lambda n: run_db(once), loan_id=loan_id)


async def restore_loan(actor: Actor, loan_id: str) -> Loan:
    """Undo a soft delete (borrower or admin): the loan and exactly the participants
    that delete cascaded to, not ones removed before it."""

    def once() -> Loan:
        loan = acl.get_loan(loan_id)
        if loan is None:
            raise acl.not_found("Loan", ID_FIELD)
        acc = acl.access(actor, loan)
        if not (acc.is_borrower or acc.is_admin):
            if acc.can_read:
                raise DomainError(
                    "FORBIDDEN", "Only the borrower or an admin may restore this loan"
                )
            raise acl.not_found("Loan", ID_FIELD)
        if loan.deleted_at is None:
            raise DomainError("INVALID_STATE", "The loan is not deleted", ID_FIELD)
        cascaded = [
            p
            for p in acl.loan_participants(loan_id)
            if p.deleted_at is not None and p.deletion_id == loan.deletion_id
        ]
        at = utcnow()
        after = next_loan(loan, actor=actor, at=at, move_version=True)
        after.deleted_at = after.deleted_by = after.deletion_reason = after.deletion_id = None
        change = versioned_change(
            "restoreLoan",
            actor,
            loan,
            after,
            at=at,
            action="RESTORE",
            event="LOAN_RESTORED",
            reason="restored",
            context={
                "deletion_id": loan.deletion_id,
                "restored_participant_ids": [p.participant_id for p in cascaded],
            },
        )
        for p in cascaded:
            pa = next_participant(p, actor, at)
            pa.deleted_at = pa.deleted_by = pa.deletion_reason = pa.deletion_id = None
            change.tx.put(
                pa, Participant.version == int(p.version), label=f"participant:{p.participant_id}"
            )
        change.commit()
        return after

    return await with_retry("restoreLoan", lambda n: run_db(once), loan_id=loan_id)


__all__ = [
    "create_loan",
    "delete_loan",
    "restore_loan",
    "revert_loan_terms",
    "set_loan_status",
    "update_loan_terms",
]
