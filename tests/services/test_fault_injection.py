"""A failure between building and committing a transaction leaves no trace."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models import AuditEntry, Loan, LoanMetric, LoanVersion, ParticipantGuard
from models.participant import guard_key
from services import tx as txmod
from services.loans import update_loan_terms
from services.participants import accept_invitation, invite_participant
from tests.services.conftest import create, fresh_loan, history, participants_of
from tests.services.given import loan_with_lender


class Boom(RuntimeError):
    pass


@pytest.fixture
def fail_next_commit():
    seen: list[txmod.Tx] = []

    def hook(tx: txmod.Tx) -> None:
        seen.append(tx)
        raise Boom(f"injected before committing {tx.operation}")

    txmod.BEFORE_COMMIT_HOOKS.append(hook)
    yield seen
    txmod.BEFORE_COMMIT_HOOKS.remove(hook)


def snapshot(loan_id: str) -> tuple:
    loan = fresh_loan(loan_id)
    return (
        loan.serialize(),
        [p.serialize() for p in participants_of(loan_id)],
        len(list(LoanVersion.query(loan_id, consistent_read=True))),
        len(list(LoanMetric.query(loan_id, consistent_read=True))),
        len(list(AuditEntry.scan(AuditEntry.loan_id == loan_id, consistent_read=True))),
    )


@pytest.fixture
def faults():
    """faults.on(): every commit fails between building and committing."""

    class Switch:
        def __init__(self) -> None:
            self.active = False

        def on(self) -> None:
            self.active = True

        def off(self) -> None:
            self.active = False

    switch = Switch()

    def hook(tx: txmod.Tx) -> None:
        if switch.active:
            raise Boom(f"injected before committing {tx.operation}")

    txmod.BEFORE_COMMIT_HOOKS.append(hook)
    yield switch
    txmod.BEFORE_COMMIT_HOOKS.remove(hook)


async def test_failed_invitation_leaves_nothing(borrower, faults):
    loan = await create(borrower)
    before = snapshot(loan.loan_id)
    faults.on()
    with pytest.raises(Boom):
        await invite_participant(borrower, loan.loan_id, "ghost@example.com", Decimal("5"))
    assert snapshot(loan.loan_id) == before
    with pytest.raises(ParticipantGuard.DoesNotExist):
        ParticipantGuard.get(guard_key(loan.loan_id, "ghost@example.com"), consistent_read=True)


async def test_failed_funding_acceptance_and_terms_change_leave_nothing(borrower, faults):
    # given a loan one acceptance away from FUNDED
    loan, lender, p = await loan_with_lender(borrower, "100", "100")
    before = snapshot(loan.loan_id)
    audit_before = len(history("loans", loan.loan_id))
    # when the fault fires between building and committing
    faults.on()
    with pytest.raises(Boom):
        await accept_invitation(lender, loan.loan_id, p.participant_id)
    with pytest.raises(Boom):
        await update_loan_terms(
            borrower, loan.loan_id, expected_version=1, change_reason="r", title="never"
        )
    faults.off()
    # then nothing of either change exists: loan, participant, version, metric, audit
    assert snapshot(loan.loan_id) == before
    assert len(history("loans", loan.loan_id)) == audit_before
    # and the same changes succeed afterwards
    _, after = await accept_invitation(lender, loan.loan_id, p.participant_id)
    assert after.status == "FUNDED"


async def test_hook_sees_the_whole_transaction(borrower, fail_next_commit):
    with pytest.raises(Boom):
        await create(borrower)
    [tx] = fail_next_commit
    assert sorted(tx.labels()) == ["audit", "loan", "loan_version"]
    [loan] = tx.models(Loan)
    with pytest.raises(Loan.DoesNotExist):
        Loan.get(loan.loan_id, consistent_read=True)
