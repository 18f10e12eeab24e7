"""createLoan: validation, the first version, the audit entry."""

from __future__ import annotations

from decimal import Decimal

from core.errors import DomainErrors
from models import LoanVersion
from services.loans import create_loan
from tests.services.conftest import IP, UA, create, expect_error, fresh_loan, history


async def test_create_loan_writes_loan_version_and_audit(borrower):
    # given a borrower
    # when they create a loan
    loan = await create(borrower, amount="2500.5", interest_rate=Decimal("7.125"))
    # then the loan is stored PENDING at version 1 with exact, quantized money
    stored = fresh_loan(loan.loan_id)
    assert stored.status == "PENDING" and stored.version == 1 and stored.seq == 1
    assert stored.amount == Decimal("2500.50") and stored.interest_rate == Decimal("7.125")
    assert str(loan.amount) == "2500.50" and str(loan.interest_rate) == "7.1250"
    assert stored.borrower_id == borrower.user_id and stored.currency == "USD"
    assert stored.total_funded == 0 and stored.participant_count == 0
    # and version 1 is snapshotted
    v1 = LoanVersion.get(loan.loan_id, 1, consistent_read=True)
    assert v1.snapshot["amount"] == "2500.50" and v1.changed_by == borrower.user_id
    # and one audit entry records who, from where, and the after state
    [entry] = history("loans", loan.loan_id)
    assert entry.action == "CREATE" and entry.event == "LOAN_CREATED"
    assert entry.before is None and entry.after["amount"] == "2500.50"
    assert entry.actor_id == borrower.user_id and entry.ip_address == IP
    assert entry.user_agent == UA and entry.request_id == borrower.request_id
    assert entry.context["loan_seq"] == 1 and entry.context["borrower_id"] == borrower.user_id
    assert entry.context["loan"]["status"] == "PENDING" and entry.loan_id == loan.loan_id


async def test_create_loan_reports_every_invalid_field(borrower):
    # when every field is invalid
    try:
        await create_loan(
            borrower,
            title=" ",
            amount=Decimal("10.001"),
            currency="XYZ",
            interest_rate=Decimal("100.5"),
            term_months=601,
        )
    except DomainErrors as exc:
        errors = exc.errors
    else:
        raise AssertionError("expected validation errors")
    # then each is reported with its field, none rounded
    assert {tuple(e.field) for e in errors} == {
        ("input", "title"),
        ("input", "amount"),
        ("input", "currency"),
        ("input", "interestRate"),
        ("input", "termMonths"),
    }
    assert {e.code for e in errors} == {"VALIDATION"}


async def test_create_loan_rejects_bad_values_one_by_one(borrower):
    cases = [
        ({"amount": Decimal("0")}, ["input", "amount"]),
        ({"amount": Decimal("-5")}, ["input", "amount"]),
        ({"amount": 10.5}, ["input", "amount"]),  # floats are refused, never rounded
        ({"amount": "NaN"}, ["input", "amount"]),
        ({"interest_rate": Decimal("1.23456")}, ["input", "interestRate"]),
        ({"interest_rate": Decimal("-0.01")}, ["input", "interestRate"]),
        ({"term_months": 0}, ["input", "termMonths"]),
        ({"title": "x" * 201}, ["input", "title"]),
        ({"currency": "usd1"}, ["input", "currency"]),
    ]
    for change, field in cases:
        await expect_error("VALIDATION", create(borrower, **change), field)


async def test_create_loan_accepts_the_bounds(borrower):
    loan = await create(
        borrower,
        amount="0.01",
        interest_rate=Decimal("100"),
        term_months=600,
        currency="eur",
        title="t" * 200,
    )
    assert loan.currency == "EUR" and str(loan.interest_rate) == "100.0000"
    loan = await create(borrower, interest_rate=Decimal("0"), term_months=1)
    assert loan.term_months == 1
