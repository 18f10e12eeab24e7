"""deleteLoan / restoreLoan: soft delete, cascade, exact restore, who may."""

from __future__ import annotations

from core.errors import DomainError
from models import LoanVersion, ParticipantGuard
from models.participant import guard_key
from services.loans import delete_loan, restore_loan, set_loan_status, update_loan_terms
from services.participants import accept_invitation, invite_participant, remove_participant
from tests.services.conftest import (
    IP,
    create,
    expect_error,
    fresh_loan,
    history,
    invite,
    participants_of,
    person,
    recount,
    stored,
)
from tests.services.given import loan_with_lender


async def test_delete_cascade_restore_round_trip(borrower, admin):
    # given a loan with an accepted, a pending and an earlier removed participant
    loan = await create(borrower)
    a, b, c = person("a"), person("b"), person("c")
    pa = await invite(borrower, loan, a, "300")
    pb = await invite(borrower, loan, b, "200")
    pc = await invite(borrower, loan, c, "100")
    await accept_invitation(a, loan.loan_id, pa.participant_id)
    await remove_participant(borrower, loan.loan_id, pc.participant_id, "changed my mind")
    before = fresh_loan(loan.loan_id)
    # when the borrower deletes the loan
    deleted = await delete_loan(borrower, loan.loan_id, "duplicate listing")
    # then the loan and its live participants are soft-deleted in one change
    d = fresh_loan(loan.loan_id)
    assert (
        d.deleted_at
        and d.deleted_by == borrower.user_id
        and d.deletion_reason == "duplicate listing"
    )
    assert d.version == before.version + 1 and d.deletion_id
    parts = {p.participant_id: p for p in participants_of(loan.loan_id)}
    assert parts[pa.participant_id].deletion_id == d.deletion_id
    assert parts[pb.participant_id].deletion_id == d.deletion_id
    assert parts[pc.participant_id].deletion_id is None  # removed before: not cascaded
    # and the aggregates still describe what the loan held, equal to a recount
    assert stored(d) == recount(d) and d.total_funded == before.total_funded
    entry = history("loans", loan.loan_id)[-1]
    assert entry.action == "DELETE" and entry.event == "LOAN_DELETED" and entry.ip_address == IP
    assert set(entry.context["cascaded_participant_ids"]) == {pa.participant_id, pb.participant_id}
    assert (
        LoanVersion.get(loan.loan_id, d.version, consistent_read=True).change_reason
        == "duplicate listing"
    )
    # and nothing else may change it; the lender no longer sees it
    await expect_error("NOT_FOUND", set_loan_status(borrower, loan.loan_id, "CANCELLED"))
    await expect_error("NOT_FOUND", accept_invitation(b, loan.loan_id, pb.participant_id))
    await expect_error("NOT_FOUND", delete_loan(borrower, loan.loan_id, "again"))
    # when an admin restores it
    restored = await restore_loan(admin, loan.loan_id)
    # then exactly the cascaded participants come back; the removed one stays removed
    assert restored.deleted_at is None and restored.version == deleted.version + 1
    parts = {p.participant_id: p for p in participants_of(loan.loan_id)}
    assert (
        parts[pa.participant_id].deleted_at is None
        and parts[pa.participant_id].status == "ACCEPTED"
    )
    assert parts[pb.participant_id].deleted_at is None
    assert parts[pc.participant_id].deleted_at is not None
    r = fresh_loan(loan.loan_id)
    assert stored(r) == recount(r) == stored(before)
    last = history("loans", loan.loan_id)[-1]
    assert last.action == "RESTORE" and last.event == "LOAN_RESTORED"
    assert last.actor_id == admin.user_id
    # and the loan works again: b can still accept, c's email can be invited afresh
    await accept_invitation(b, loan.loan_id, pb.participant_id)
    await invite_participant(borrower, loan.loan_id, c.viewer.email, "50")
    assert (
        ParticipantGuard.get(guard_key(loan.loan_id, c.viewer.email)).participant_id
        != pc.participant_id
    )


async def test_borrower_restores_and_restore_needs_a_deleted_loan(borrower):
    loan = await create(borrower)
    await expect_error("INVALID_STATE", restore_loan(borrower, loan.loan_id))
    await delete_loan(borrower, loan.loan_id, "oops")
    assert (await restore_loan(borrower, loan.loan_id)).deleted_at is None


async def test_who_may_delete_and_restore(borrower, stranger, admin):
    loan, lender, _ = await loan_with_lender(borrower, share="10")
    await expect_error("FORBIDDEN", delete_loan(lender, loan.loan_id, "x"))
    await expect_error("FORBIDDEN", delete_loan(admin, loan.loan_id, "x"))
    await expect_error("NOT_FOUND", delete_loan(stranger, loan.loan_id, "x"))
    await expect_error("VALIDATION", delete_loan(borrower, loan.loan_id, ""), ["input", "reason"])
    await delete_loan(borrower, loan.loan_id, "x")
    # a deleted loan is hidden from lenders and strangers
    await expect_error("NOT_FOUND", restore_loan(lender, loan.loan_id))
    await expect_error("NOT_FOUND", restore_loan(stranger, loan.loan_id))
    await expect_error("NOT_FOUND", restore_loan(stranger, "missing"))


async def test_funded_or_active_loans_cannot_be_deleted(borrower):
    loan, _, _ = await loan_with_lender(borrower, "10", "10", accept=True)
    await expect_error("INVALID_STATE", delete_loan(borrower, loan.loan_id, "x"))
    await set_loan_status(borrower, loan.loan_id, "ACTIVE")
    await expect_error("INVALID_STATE", delete_loan(borrower, loan.loan_id, "x"))


async def test_deleted_loan_terms_cannot_change(borrower):
    loan = await create(borrower)
    await delete_loan(borrower, loan.loan_id, "x")
    try:
        await update_loan_terms(
            borrower, loan.loan_id, expected_version=2, change_reason="r", title="t"
        )
    except DomainError as exc:
        assert exc.code == "NOT_FOUND"
    else:
        raise AssertionError("expected NOT_FOUND")
