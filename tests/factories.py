"""Test data written straight to the tables (fast, for read-path tests and the
benchmark). Mutation tests use the domain layer instead."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import models
from core.auth import Viewer
from models.participant import guard_key

UTC = dt.UTC


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def make_loan(
    borrower: Viewer,
    *,
    title: str = "Loan",
    amount: str = "10000.00",
    status: str = "PENDING",
    created_at: dt.datetime | None = None,
    deleted: bool = False,
) -> models.Loan:
    t = created_at or now()
    loan = models.Loan(
        loan_id=str(uuid.uuid4()),
        borrower_id=borrower.user_id,
        title=title,
        amount=Decimal(amount),
        currency="USD",
        interest_rate=Decimal("7.5"),
        term_months=12,
        status=status,
        version=1,
        created_at=t,
        created_by=borrower.user_id,
        updated_at=t,
        updated_by=borrower.user_id,
    )
    if deleted:
        loan.deleted_at, loan.deleted_by, loan.deletion_reason = t, borrower.user_id, "test"
    return loan


def make_participant(
    loan: models.Loan,
    email: str,
    *,
    amount: str = "100.00",
    status: str = "PENDING",
    lender_id: str | None = None,
    deleted: bool = False,
) -> models.Participant:
    t = now()
    p = models.Participant(
        loan_id=loan.loan_id,
        participant_id=str(uuid.uuid4()),
        lender_email=email.lower(),
        lender_id=lender_id,
        contribution_amount=Decimal(amount),
        status=status,
        invited_at=t,
        created_at=t,
        created_by=loan.borrower_id,
        updated_at=t,
        updated_by=loan.borrower_id,
    )
    if status != "PENDING":
        p.responded_at = t
        p.accepted_version = 1 if status == "ACCEPTED" else None
    if deleted:
        p.deleted_at, p.deleted_by, p.deletion_reason = t, loan.borrower_id, "test"
    return p


def guard_for(p: models.Participant) -> models.ParticipantGuard:
    return models.ParticipantGuard(
        guard_key=guard_key(p.loan_id, p.lender_email),
        loan_id=p.loan_id,
        participant_id=p.participant_id,
        created_at=now(),
    )


def make_user(v: Viewer) -> models.User:
    return models.User(
        user_id=v.user_id, email=v.email, display_name=v.user_id, created_at=now(), updated_at=now()
    )


def version_of(loan: models.Loan) -> models.LoanVersion:
    return models.LoanVersion(
        loan_id=loan.loan_id,
        version=int(loan.version),
        snapshot={
            "title": loan.title,
            "amount": str(loan.amount),
            "currency": loan.currency,
            "interest_rate": str(loan.interest_rate),
            "term_months": int(loan.term_months),
            "status": loan.status,
        },
        changed_fields=["title", "amount"],
        changed_by=loan.borrower_id,
        changed_at=loan.created_at,
        change_reason="created",
    )


def loan_created_entry(loan: models.Loan, actor: Viewer) -> models.AuditEntry:
    """The audit entry of `loan`'s creation by `actor`."""
    t = now()
    return models.AuditEntry(
        record_key=f"loans#{loan.loan_id}",
        sk=f"{models.AuditEntry.timestamp.serialize(t)}#{uuid.uuid4()}",
        audit_id=str(uuid.uuid4()),
        timestamp=t,
        table_name="loans",
        record_id=loan.loan_id,
        action="CREATE",
        event="LOAN_CREATED",
        loan_id=loan.loan_id,
        actor_id=actor.user_id,
        after={"title": loan.title},
        changed_fields=["title"],
        ip_address="127.0.0.1",
    )


def write_all(rows: list) -> None:
    """Batch-write rows of any models (25 per request)."""
    by_model: dict[type, list] = {}
    for r in rows:
        by_model.setdefault(type(r), []).append(r)
    for model, items in by_model.items():
        with model.batch_write() as batch:
            for item in items:
                batch.save(item)
