"""Loan mutations: create, change terms, revert terms, status, delete, restore.

Each is one transaction: the loan under `seq = <read>` (or attribute_not_exists
on create), its LoanVersion snapshot under attribute_not_exists (no gaps, no
overwrites), its audit entry, and where funding moves the metric point. See
docs/write-path.md."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from core.actor import Actor
from core.db import run_db
from core.errors import DomainError
from models import Loan, LoanVersion, Participant
from services import access as acl
from services import audit, funding
from services import validation as v
from services.common import (
    MAX_LIVE_PARTICIPANTS,
    changed_fields,
    clone,
    iso,
    new_id,
    next_participant,
    record_dict,
    utcnow,
    with_retry,
)
from services.tx import Tx

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

ID_FIELD = ["input", "id"]


def version_snapshot(
    loan: Loan,
    actor: Actor | None,
    *,
    at: datetime,
    changed: list[str],
    reason: str | None,
    reverted_from: int | None = None,
) -> LoanVersion:
    return LoanVersion(
        loan_id=loan.loan_id,
        version=int(loan.version),
        snapshot=record_dict(loan),
        changed_fields=changed,
        changed_by=actor.user_id if actor else None,
        changed_at=at,
        change_reason=reason,
        reverted_from=reverted_from,
    )


def _next(before: Loan, actor: Actor | None, at: datetime, *, move_version: bool) -> Loan:
    after = clone(before)
    after.seq = int(before.seq) + 1
    if move_version:
        after.version = int(before.version) + 1
        after.updated_at = at
        after.updated_by = actor.user_id if actor else None
    return after


def loan_write(tx: Tx, before: Loan, after: Loan) -> None:
    """The loan item, conditioned on the `seq` that was read."""
    tx.put(after, Loan.seq == int(before.seq), label="loan")


def versioned_change(
    tx: Tx,
    actor: Actor | None,
    before: Loan,
    after: Loan,
    *,
    at: datetime,
    action: str,
    event: str,
    reason: str | None,
    reverted_from: int | None = None,
    context: dict[str, Any] | None = None,
    funding_moved: bool = False,
) -> None:
    """loan + LoanVersion + audit entry (+ metric point when funding moved)."""
    b, a = record_dict(before), record_dict(after)
    loan_write(tx, before, after)
    tx.put(
        version_snapshot(
            after,
            actor,
            at=at,
            changed=changed_fields(b, a),
            reason=reason,
            reverted_from=reverted_from,
        ),
        LoanVersion.version.does_not_exist(),
        label="loan_version",
    )
    entry = audit.entry(
        actor,
        at=at,
        table="loans",
        record_id=after.loan_id,
        action=action,
        event=event,
        loan=after,
        before=b,
        after=a,
        extra_context=context,
    )
    audit.seal([entry], after)
    tx.put(entry, label="audit")
    if funding_moved:
        tx.put(
            funding.metric_point(after, at=at, sk=f"{iso(at)}#{entry.audit_id}", event=event),
            label="metric",
        )


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
        tx = Tx("createLoan")
        a = record_dict(loan)
        tx.put(loan, Loan.loan_id.does_not_exist(), label="loan")
        tx.put(
            version_snapshot(
                loan, actor, at=at, changed=[*TERM_FIELDS, "status"], reason="created"
            ),
            LoanVersion.version.does_not_exist(),
            label="loan_version",
        )
        entry = audit.entry(
            actor,
            at=at,
            table="loans",
            record_id=loan.loan_id,
            action="CREATE",
            event="LOAN_CREATED",
            loan=loan,
            before=None,
            after=a,
        )
        audit.seal([entry], loan)
        tx.put(entry, label="audit")
        tx.commit()
        return loan

    return await with_retry("createLoan", lambda n: run_db(once))


# ------------------------------------------------------------------ terms
def _terms_once(
    actor: Actor,
    loan_id: str,
    *,
    expected_version: int,
    reason: str,
    changes: dict[str, Any],
    reverted_from: int | None,
    op: str,
) -> Loan:
    acc = acl.loan_for_change(actor, loan_id, ID_FIELD)
    acl.require_borrower(acc, "change the terms of this loan")
    loan = acc.loan
    if int(loan.version) != expected_version:
        raise DomainError(
            "VERSION_MISMATCH",
            f"The loan is at version {loan.version}, not {expected_version}: re-read it and retry",
            ["input", "expectedVersion"],
        )
    if loan.status != "PENDING":
        raise DomainError(
            "INVALID_STATE", f"Terms change only while PENDING (loan is {loan.status})", ID_FIELD
        )
    if reverted_from is not None:
        target = _get_version(loan_id, reverted_from)
        if target is None or reverted_from >= int(loan.version):
            raise DomainError(
                "NOT_FOUND", f"Loan version {reverted_from} not found", ["input", "toVersion"]
            )
        snap = target.snapshot
        changes = {
            "title": snap["title"],
            "amount": Decimal(snap["amount"]),
            "interest_rate": Decimal(snap["interest_rate"]),
            "term_months": int(snap["term_months"]),
        }
    at = utcnow()
    after = _next(loan, actor, at, move_version=True)
    for k, val in changes.items():
        setattr(after, k, val)
    moved = [k for k in changes if getattr(after, k) != getattr(loan, k)]
    if not moved:
        raise DomainError(
            "VALIDATION",
            "The new terms equal the current ones: nothing to change",
            ["input", "toVersion"] if reverted_from is not None else ["input"],
        )
    funding_moved = False
    event = "LOAN_UPDATED"
    if "amount" in moved:
        agg = funding.compute(after.amount, funding.counted(loan, acl.loan_participants(loan_id)))
        if agg.total_funded > after.amount:
            raise DomainError(
                "OVERFUNDED",
                f"Accepted contributions total {agg.total_funded}, "
                f"more than the new amount {after.amount}",
                ["input", "toVersion"] if reverted_from is not None else ["input", "amount"],
            )
        funding_moved = funding.apply(after, agg)
        if funding_moved:
            after.last_funding_update = at
        if agg.is_fully_funded:
            after.status = "FUNDED"
            event = "LOAN_FUNDED"
    tx = Tx(op)
    versioned_change(
        tx,
        actor,
        loan,
        after,
        at=at,
        action="UPDATE",
        event=event,
        reason=reason,
        reverted_from=reverted_from,
        funding_moved=funding_moved,
    )
    tx.commit()
    return after


def _get_version(loan_id: str, version: int) -> LoanVersion | None:
    try:
        return LoanVersion.get(loan_id, version, consistent_read=True)
    except LoanVersion.DoesNotExist:
        return None


def _expected(value: Any, field: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DomainError("VALIDATION", "Expected version must be a positive integer", field)
    return value


async def update_loan_terms(
    actor: Actor,
    loan_id: str,
    *,
    expected_version: int,
    change_reason: str,
    title: str | None = None,
    amount: Any = None,
    interest_rate: Any = None,
    term_months: int | None = None,
) -> Loan:
    """New terms as a new LoanVersion; VERSION_MISMATCH when `expected_version` is stale."""
    c = v.Collector()
    exp = c.run(_expected, expected_version, v.path("input", "expectedVersion"))
    why = c.run(
        v.reason,
        change_reason,
        v.path("input", "changeReason"),
        required=True,
        what="Change reason",
    )
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = c.run(v.title, title, v.path("input", "title"))
    if amount is not None:
        changes["amount"] = c.run(v.money, amount, v.path("input", "amount"))
    if interest_rate is not None:
        changes["interest_rate"] = c.run(
            v.interest_rate, interest_rate, v.path("input", "interestRate")
        )
    if term_months is not None:
        changes["term_months"] = c.run(v.term_months, term_months, v.path("input", "termMonths"))
    if not c.errors and not changes:
        c.errors.append(DomainError("VALIDATION", "Give at least one term to change", ["input"]))
    c.raise_if_any()
    return await with_retry(
        "updateLoanTerms",
        lambda n: run_db(
            _terms_once,
            actor,
            loan_id,
            expected_version=exp,
            reason=why,
            changes=changes,
            reverted_from=None,
            op="updateLoanTerms",
        ),
        loan_id=loan_id,
    )


async def revert_loan_terms(
    actor: Actor, loan_id: str, *, to_version: int, expected_version: int, change_reason: str
) -> Loan:
    """A NEW version whose terms equal `to_version`'s (LoanVersion.reverted_from = to_version)."""
    c = v.Collector()
    exp = c.run(_expected, expected_version, v.path("input", "expectedVersion"))
    target = c.run(_expected, to_version, v.path("input", "toVersion"))
    why = c.run(
        v.reason,
        change_reason,
        v.path("input", "changeReason"),
        required=True,
        what="Change reason",
    )
    c.raise_if_any()
    return await with_retry(
        "revertLoanTerms",
        lambda n: run_db(
            _terms_once,
            actor,
            loan_id,
            expected_version=exp,
            reason=why,
            changes={},
            reverted_from=target,
            op="revertLoanTerms",
        ),
        loan_id=loan_id,
    )


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
        after = _next(loan, actor, at, move_version=True)
        after.status = st
        tx = Tx("setLoanStatus")
        versioned_change(
            tx, actor, loan, after, at=at, action="UPDATE", event="LOAN_UPDATED", reason=why
        )
        tx.commit()
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
        after = _next(loan, actor, at, move_version=True)
        deletion_id = new_id()
        after.deleted_at, after.deleted_by, after.deletion_reason = at, actor.user_id, why
        after.deletion_id = deletion_id
        tx = Tx("deleteLoan")
        versioned_change(
            tx,
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
            tx.put(
                pa, Participant.version == int(p.version), label=f"participant:{p.participant_id}"
            )
        tx.commit()
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
        after = _next(loan, actor, at, move_version=True)
        after.deleted_at = after.deleted_by = after.deletion_reason = after.deletion_id = None
        tx = Tx("restoreLoan")
        versioned_change(
            tx,
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
            tx.put(
                pa, Participant.version == int(p.version), label=f"participant:{p.participant_id}"
            )
        tx.commit()
        return after

    return await with_retry("restoreLoan", lambda n: run_db(once), loan_id=loan_id)
