"""setLoanStatus: the state machine, versions, audit, who may."""

from __future__ import annotations

from decimal import Decimal

from models import LoanVersion
from services.loans import set_loan_status
from tests.services.conftest import create, expect_error, fresh_loan, history
from tests.services.given import loan_with_lender


async def funded_loan(borrower):
    loan, _, _ = await loan_with_lender(borrower, "500.00", "500.00", accept=True)
    assert loan.status == "FUNDED"
    return loan


async def test_full_lifecycle_funded_active_completed(borrower):
    # given a loan that became FUNDED by its acceptance (version 2)
    loan = await funded_loan(borrower)
    # when the borrower activates and completes it
    active = await set_loan_status(borrower, loan.loan_id, "ACTIVE", "money disbursed")
    done = await set_loan_status(borrower, loan.loan_id, "COMPLETED")
    # then each step is a version with its reason and an audit entry
    assert (active.version, done.version) == (3, 4) and fresh_loan(
        loan.loan_id
    ).status == "COMPLETED"
    v3 = LoanVersion.get(loan.loan_id, 3, consistent_read=True)
    assert v3.change_reason == "money disbursed" and v3.changed_fields == ["status"]
    entry = history("loans", loan.loan_id)[-1]
    assert entry.before["status"] == "ACTIVE" and entry.after["status"] == "COMPLETED"
    assert entry.event == "LOAN_UPDATED" and entry.actor_id == borrower.user_id


async def test_cancel_pending_and_funded(borrower):
    loan = await create(borrower)
    assert (await set_loan_status(borrower, loan.loan_id, "CANCELLED")).status == "CANCELLED"
    loan = await funded_loan(borrower)
    assert (await set_loan_status(borrower, loan.loan_id, "CANCELLED")).status == "CANCELLED"


async def test_invalid_transitions(borrower):
    loan = await create(borrower)
    for target in ("ACTIVE", "COMPLETED", "FUNDED", "PENDING"):
        await expect_error(
            "INVALID_STATE", set_loan_status(borrower, loan.loan_id, target), ["input", "status"]
        )
    await set_loan_status(borrower, loan.loan_id, "CANCELLED")
    await expect_error("INVALID_STATE", set_loan_status(borrower, loan.loan_id, "PENDING"))
    await expect_error("VALIDATION", set_loan_status(borrower, loan.loan_id, "BOGUS"))
    assert fresh_loan(loan.loan_id).version == 2


async def test_only_the_borrower_sets_status(borrower, stranger, admin):
    loan, lender, _ = await loan_with_lender(borrower, share="10")
    await expect_error("FORBIDDEN", set_loan_status(lender, loan.loan_id, "CANCELLED"))
    await expect_error("FORBIDDEN", set_loan_status(admin, loan.loan_id, "CANCELLED"))
    await expect_error("NOT_FOUND", set_loan_status(stranger, loan.loan_id, "CANCELLED"))
    assert fresh_loan(loan.loan_id).status == "PENDING"
    assert fresh_loan(loan.loan_id).amount == Decimal("1000")
