"""Shared set-ups of the service tests: a loan with a lender invited to it
(and their acceptance), through the domain layer."""

from __future__ import annotations

from core.actor import Actor
from models import Loan, Participant
from services.participants import accept_invitation
from tests.services.conftest import create, invite, person


async def loan_with_lender(
    borrower: Actor, amount: str = "1000.00", share: str = "100.00", *, accept: bool = False
) -> tuple[Loan, Actor, Participant]:
    """A new loan of `borrower` for `amount`, a new lender invited for `share`
    and, with `accept`, their acceptance: (loan, lender, participant) as they
    stand after the last step."""
    loan = await create(borrower, amount=amount)
    lender = person("lender")
    p = await invite(borrower, loan, lender, share)
    if accept:
        p, loan = await accept_invitation(lender, loan.loan_id, p.participant_id)
    return loan, lender, p
