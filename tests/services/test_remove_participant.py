"""removeParticipant: soft delete by the borrower, guard released, aggregates."""

from __future__ import annotations

from decimal import Decimal

from pynamodb.exceptions import DoesNotExist

from models import ParticipantGuard
from models.participant import guard_key
from services.participants import invite_participant, remove_participant
from tests.services.conftest import (
    IP,
    expect_error,
    fresh_loan,
    history,
    participants_of,
    recount,
    stored,
)
from tests.services.given import loan_with_lender


async def test_remove_soft_deletes_and_releases_the_guard(borrower):
    # given an accepted participant
    loan, lender, p = await loan_with_lender(borrower, share="300", accept=True)
    # when the borrower removes them
    removed = await remove_participant(borrower, loan.loan_id, p.participant_id, "wrong amount")
    # then the record stays, marked deleted, and the guard is gone
    assert removed.deleted_at and removed.deleted_by == borrower.user_id
    assert removed.deletion_reason == "wrong amount"
    [stored_p] = participants_of(loan.loan_id)
    assert stored_p.deleted_at is not None and stored_p.lender_id == lender.user_id
    try:
        ParticipantGuard.get(guard_key(loan.loan_id, lender.viewer.email), consistent_read=True)
        raise AssertionError("guard should be released")
    except DoesNotExist:
        pass
    # and the loan no longer counts them
    after = fresh_loan(loan.loan_id)
    assert (
        after.total_funded == 0 and after.participant_count == 0 and stored(after) == recount(after)
    )
    entry = history("participants", f"{loan.loan_id}/{p.participant_id}")[-1]
    assert entry.action == "DELETE" and entry.event == "PARTICIPANT_REMOVED"
    assert (
        entry.before["deleted_at"] is None and entry.after["deleted_at"] and entry.ip_address == IP
    )
    # and the same email can be invited again, as a new participant
    again = await invite_participant(borrower, loan.loan_id, lender.viewer.email, Decimal("10"))
    assert again.participant_id != p.participant_id
    # removing twice is NOT_FOUND
    await expect_error(
        "NOT_FOUND", remove_participant(borrower, loan.loan_id, p.participant_id, "x")
    )


async def test_who_may_remove(borrower, stranger, admin):
    loan, lender, p = await loan_with_lender(borrower)
    await expect_error("FORBIDDEN", remove_participant(lender, loan.loan_id, p.participant_id, "x"))
    await expect_error("FORBIDDEN", remove_participant(admin, loan.loan_id, p.participant_id, "x"))
    await expect_error(
        "NOT_FOUND",
        remove_participant(stranger, loan.loan_id, p.participant_id, "x"),
        ["input", "participantId"],
    )
    await expect_error(
        "VALIDATION",
        remove_participant(borrower, loan.loan_id, p.participant_id, ""),
        ["input", "reason"],
    )
    assert participants_of(loan.loan_id)[0].deleted_at is None


async def test_accepted_contribution_stays_once_funded(borrower):
    loan, _, p = await loan_with_lender(borrower, "100", "100", accept=True)
    await expect_error(
        "INVALID_STATE", remove_participant(borrower, loan.loan_id, p.participant_id, "x")
    )
