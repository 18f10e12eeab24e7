"""inviteParticipant: stable participant, guard, aggregates, audit, who may."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from core.errors import DomainError
from models import LoanMetric, ParticipantGuard
from models.participant import guard_key
from services.loans import set_loan_status
from services.participants import invite_participant
from tests.services.conftest import (
    IP,
    create,
    expect_error,
    fresh_loan,
    history,
    participants_of,
    person,
    recount,
    stored,
)


async def test_invite_creates_participant_guard_metric_and_audit(borrower):
    # given a loan
    loan = await create(borrower)
    # when the borrower invites a mixed-case email
    p = await invite_participant(
        borrower, loan.loan_id, "  Ada.Lovelace@Example.COM ", Decimal("250")
    )
    # then the participant is pending, lender unknown, email lower-cased
    assert p.status == "PENDING" and p.lender_id is None
    assert p.lender_email == "ada.lovelace@example.com" and p.contribution_amount == Decimal("250")
    [stored_p] = participants_of(loan.loan_id)
    assert stored_p.participant_id == p.participant_id
    # and the guard holds (loan, email)
    g = ParticipantGuard.get(
        guard_key(loan.loan_id, "ADA.lovelace@example.com"), consistent_read=True
    )
    assert g.participant_id == p.participant_id
    # and the loan's counts moved (seq, not version)
    loan2 = fresh_loan(loan.loan_id)
    assert loan2.participant_count == 1 and loan2.pending_participant_count == 1
    assert loan2.seq == 2 and loan2.version == 1 and stored(loan2) == recount(loan2)
    # and a metric point and an audit entry were written
    [point] = list(LoanMetric.query(loan.loan_id, consistent_read=True))
    assert point.event == "PARTICIPANT_INVITED" and point.participant_count == 1
    [entry] = history("participants", f"{loan.loan_id}/{p.participant_id}")
    assert entry.action == "CREATE" and entry.event == "PARTICIPANT_INVITED"
    assert entry.before is None and entry.after["lender_email"] == "ada.lovelace@example.com"
    assert entry.actor_id == borrower.user_id and entry.ip_address == IP
    assert entry.context["loan_seq"] == 2 and entry.context["loan"]["participant_count"] == 1
    assert point.sk.endswith(entry.audit_id)


async def test_same_email_twice_is_duplicate(borrower):
    loan = await create(borrower)
    await invite_participant(borrower, loan.loan_id, "bob@example.com", Decimal("1"))
    await expect_error(
        "DUPLICATE_PARTICIPANT",
        invite_participant(borrower, loan.loan_id, "BOB@example.com", Decimal("2")),
        ["input", "email"],
    )
    assert len(participants_of(loan.loan_id)) == 1


async def test_twenty_concurrent_invitations_of_one_email_yield_one_participant(
    borrower, race_at_the_database
):
    # given a loan
    loan = await create(borrower)

    async def attempt(i: int):
        try:
            return await invite_participant(
                borrower,
                loan.loan_id,
                "Race@Example.com" if i % 2 else "race@example.com",
                Decimal("10"),
            )
        except DomainError as exc:
            return exc

    # when 20 invitations of the same email race
    outcomes = await asyncio.gather(*(attempt(i) for i in range(20)))
    # then one participant exists and 19 got DUPLICATE_PARTICIPANT
    errors = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(errors) == 19 and {e.code for e in errors} == {"DUPLICATE_PARTICIPANT"}
    parts = participants_of(loan.loan_id)
    assert len(parts) == 1
    loan2 = fresh_loan(loan.loan_id)
    assert loan2.participant_count == 1 and stored(loan2) == recount(loan2)


async def test_invite_validation(borrower):
    loan = await create(borrower, amount="100")
    await expect_error(
        "VALIDATION",
        invite_participant(borrower, loan.loan_id, "not-an-email", Decimal("1")),
        ["input", "email"],
    )
    await expect_error(
        "VALIDATION",
        invite_participant(borrower, loan.loan_id, "a@b.co", Decimal("1.234")),
        ["input", "amount"],
    )
    await expect_error(
        "VALIDATION",
        invite_participant(borrower, loan.loan_id, "a@b.co", Decimal("100.01")),
        ["input", "amount"],
    )
    await expect_error(
        "VALIDATION",
        invite_participant(borrower, loan.loan_id, borrower.viewer.email, Decimal("1")),
    )
    assert participants_of(loan.loan_id) == []


async def test_only_the_borrower_invites(borrower, stranger, admin):
    loan = await create(borrower)
    lender = person("lender")
    await invite_participant(borrower, loan.loan_id, lender.viewer.email, Decimal("5"))
    await expect_error("FORBIDDEN", invite_participant(lender, loan.loan_id, "x@example.com", "5"))
    await expect_error("FORBIDDEN", invite_participant(admin, loan.loan_id, "x@example.com", "5"))
    await expect_error(
        "NOT_FOUND",
        invite_participant(stranger, loan.loan_id, "x@example.com", "5"),
        ["input", "loanId"],
    )
    await expect_error("NOT_FOUND", invite_participant(borrower, "nope", "x@example.com", "5"))


async def test_invite_needs_a_pending_loan(borrower):
    loan = await create(borrower)
    await set_loan_status(borrower, loan.loan_id, "CANCELLED")
    await expect_error(
        "INVALID_STATE", invite_participant(borrower, loan.loan_id, "x@example.com", "5")
    )
