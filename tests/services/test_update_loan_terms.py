"""updateLoanTerms and revertLoanTerms: versions, optimistic locking, who may."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from core.errors import DomainError
from models import LoanVersion
from services.loans import revert_loan_terms, update_loan_terms
from tests.services.conftest import (
    IP,
    create,
    expect_error,
    fresh_loan,
    history,
    invite,
)
from tests.services.given import loan_with_lender


async def test_update_terms_writes_a_new_version_and_audit(borrower):
    # given a loan at version 1
    loan = await create(borrower)
    # when the borrower changes amount and rate
    after = await update_loan_terms(
        borrower,
        loan.loan_id,
        expected_version=1,
        change_reason="bigger oven",
        amount=Decimal("1500"),
        interest_rate=Decimal("6.25"),
    )
    # then version 2 holds the new terms, the change and its reason
    assert after.version == 2 and after.seq == 2
    stored = fresh_loan(loan.loan_id)
    assert stored.amount == Decimal("1500") and stored.version == 2
    v2 = LoanVersion.get(loan.loan_id, 2, consistent_read=True)
    assert v2.change_reason == "bigger oven" and v2.changed_by == borrower.user_id
    assert set(v2.changed_fields) == {"amount", "interest_rate"}
    assert v2.snapshot["amount"] == "1500.00" and v2.snapshot["interest_rate"] == "6.2500"
    # and the audit entry has before/after/actor/ip
    entry = history("loans", loan.loan_id)[-1]
    assert entry.action == "UPDATE" and entry.event == "LOAN_UPDATED"
    assert entry.before["amount"] == "1000.00" and entry.after["amount"] == "1500.00"
    assert entry.changed_fields == ["amount", "interest_rate"]
    assert entry.actor_id == borrower.user_id and entry.ip_address == IP
    assert entry.context["loan_seq"] == 2 and entry.context["loan"]["version"] == 2


async def test_stale_expected_version_is_version_mismatch(borrower):
    loan = await create(borrower)
    await update_loan_terms(
        borrower, loan.loan_id, expected_version=1, change_reason="r", title="New title"
    )
    await expect_error(
        "VERSION_MISMATCH",
        update_loan_terms(
            borrower, loan.loan_id, expected_version=1, change_reason="r", term_months=24
        ),
        ["input", "expectedVersion"],
    )
    assert fresh_loan(loan.loan_id).term_months == 12


async def test_update_terms_validation(borrower):
    loan = await create(borrower)
    await expect_error(
        "VALIDATION",
        update_loan_terms(
            borrower, loan.loan_id, expected_version=1, change_reason="r", amount=Decimal("1.005")
        ),
        ["input", "amount"],
    )
    await expect_error(
        "VALIDATION",
        update_loan_terms(borrower, loan.loan_id, expected_version=1, change_reason=" ", title="x"),
        ["input", "changeReason"],
    )
    await expect_error(
        "VALIDATION",
        update_loan_terms(borrower, loan.loan_id, expected_version=1, change_reason="nothing"),
        ["input"],
    )
    await expect_error(
        "VALIDATION",
        update_loan_terms(
            borrower, loan.loan_id, expected_version=1, change_reason="same", title="Bakery oven"
        ),
    )
    assert fresh_loan(loan.loan_id).version == 1


async def test_only_the_borrower_changes_terms(borrower, lender, stranger, admin):
    loan = await create(borrower)
    await invite(borrower, loan, lender)
    kw = {"expected_version": 1, "change_reason": "r", "title": "mine now"}
    # an invited lender can read the loan: FORBIDDEN
    await expect_error("FORBIDDEN", update_loan_terms(lender, loan.loan_id, **kw))
    # an admin can read it but is not the borrower: FORBIDDEN
    await expect_error("FORBIDDEN", update_loan_terms(admin, loan.loan_id, **kw))
    # a stranger cannot even know it exists: NOT_FOUND
    await expect_error(
        "NOT_FOUND", update_loan_terms(stranger, loan.loan_id, **kw), ["input", "id"]
    )
    await expect_error("NOT_FOUND", update_loan_terms(borrower, "no-such-loan", **kw))
    assert fresh_loan(loan.loan_id).title == "Bakery oven"


async def test_terms_change_only_while_pending(borrower):
    from services.loans import set_loan_status

    loan = await create(borrower)
    await set_loan_status(borrower, loan.loan_id, "CANCELLED")
    await expect_error(
        "INVALID_STATE",
        update_loan_terms(
            borrower, loan.loan_id, expected_version=2, change_reason="r", title="again"
        ),
    )


async def test_amount_below_funded_is_overfunded_and_equal_funds_the_loan(borrower):
    loan, _, _ = await loan_with_lender(borrower, "1000.00", "600.00", accept=True)
    await expect_error(
        "OVERFUNDED",
        update_loan_terms(
            borrower, loan.loan_id, expected_version=1, change_reason="r", amount=Decimal("599.99")
        ),
        ["input", "amount"],
    )
    after = await update_loan_terms(
        borrower, loan.loan_id, expected_version=1, change_reason="smaller", amount=Decimal("600")
    )
    assert after.status == "FUNDED" and after.is_fully_funded
    assert str(after.funding_percentage) == "100.00"
    assert history("loans", loan.loan_id)[-1].event == "LOAN_FUNDED"


async def test_concurrent_updates_with_the_same_expected_version_one_wins(
    borrower, race_at_the_database
):
    # given a loan at version 1
    loan = await create(borrower)

    async def attempt(i: int):
        try:
            return await update_loan_terms(
                borrower,
                loan.loan_id,
                expected_version=1,
                change_reason=f"writer {i}",
                title=f"Title {i}",
            )
        except DomainError as exc:
            return exc

    # when ten writers race with expected_version 1
    outcomes = await asyncio.gather(*(attempt(i) for i in range(10)))
    # then exactly one wins and the others get VERSION_MISMATCH
    winners = [o for o in outcomes if not isinstance(o, DomainError)]
    losers = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(winners) == 1 and {e.code for e in losers} == {"VERSION_MISMATCH"}
    stored = fresh_loan(loan.loan_id)
    assert stored.version == 2 and stored.title == winners[0].title
    assert len(list(LoanVersion.query(loan.loan_id, consistent_read=True))) == 2
    assert len(history("loans", loan.loan_id)) == 2


async def test_revert_writes_a_new_version_with_old_terms(borrower, stranger):
    loan = await create(borrower)
    await update_loan_terms(
        borrower,
        loan.loan_id,
        expected_version=1,
        change_reason="r",
        amount=Decimal("2000"),
        term_months=36,
    )
    # when reverting to version 1
    after = await revert_loan_terms(
        borrower,
        loan.loan_id,
        to_version=1,
        expected_version=2,
        change_reason="back to the original",
    )
    # then version 3 carries version 1's terms and says where they came from
    assert after.version == 3 and after.amount == Decimal("1000.00") and after.term_months == 12
    v3 = LoanVersion.get(loan.loan_id, 3, consistent_read=True)
    assert v3.reverted_from == 1 and set(v3.changed_fields) == {"amount", "term_months"}
    # errors: unknown version, stale version, nothing to change, stranger
    await expect_error(
        "NOT_FOUND",
        revert_loan_terms(
            borrower, loan.loan_id, to_version=9, expected_version=3, change_reason="r"
        ),
        ["input", "toVersion"],
    )
    await expect_error(
        "VERSION_MISMATCH",
        revert_loan_terms(
            borrower, loan.loan_id, to_version=2, expected_version=2, change_reason="r"
        ),
    )
    await expect_error(
        "VALIDATION",
        revert_loan_terms(
            borrower, loan.loan_id, to_version=1, expected_version=3, change_reason="r"
        ),
    )
    await expect_error(
        "NOT_FOUND",
        revert_loan_terms(
            stranger, loan.loan_id, to_version=2, expected_version=3, change_reason="r"
        ),
    )
