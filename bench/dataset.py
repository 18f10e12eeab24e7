"""The benchmark data set: one borrower, N loans x M participants, each with a lender."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import models
from core.auth import Viewer
from tests.factories import make_loan, make_participant, make_user, write_all

UTC = dt.UTC


@dataclass
class Dataset:
    borrower: Viewer
    loans: list[models.Loan]
    participants: list[models.Participant]


def seed_nested(loans: int = 100, per_loan: int = 10, tag: str = "bench") -> Dataset:
    """Written with BatchWriteItem (fast); every participant accepted by its own lender."""
    borrower = Viewer(user_id=f"{tag}-borrower", email=f"{tag}-borrower@example.com")
    base = dt.datetime(2026, 1, 1, tzinfo=UTC)
    loan_rows = [
        make_loan(borrower, title=f"Loan {i}", created_at=base + dt.timedelta(seconds=i))
        for i in range(loans)
    ]
    parts, users = [], [make_user(borrower)]
    for li, loan in enumerate(loan_rows):
        for pi in range(per_loan):
            lender = Viewer(
                user_id=f"{tag}-lender-{li}-{pi}", email=f"{tag}-lender-{li}-{pi}@example.com"
            )
            users.append(make_user(lender))
            parts.append(
                make_participant(
                    loan, lender.email or "", status="ACCEPTED", lender_id=lender.user_id
                )
            )
    write_all([*loan_rows, *parts, *users])
    return Dataset(borrower, loan_rows, parts)


NESTED_QUERY = """
query Nested {
  loans(first: 100) {
    edges { node {
      loanId title amount status
      participants(first: 10) { edges { node {
        participantId lenderEmail contributionAmount status
        lender { userId displayName }
      } } }
    } }
  }
}
"""
