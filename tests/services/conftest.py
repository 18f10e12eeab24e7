"""Helpers for the write-layer tests: actors with request metadata, a loan
with invitations, reads that bypass the write layer (to check what it wrote)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from core.actor import Actor
from core.auth import Viewer
from models import AuditEntry, Loan, Participant
from models.audit import record_key
from services import funding
from tests.conftest import new_user

IP = "203.0.113.7"
UA = "pytest-agent/1.0"


def actor(viewer: Viewer) -> Actor:
    return Actor(viewer, ip_address=IP, user_agent=UA, request_id=f"req-{uuid.uuid4().hex[:8]}")


def person(prefix: str = "user", admin: bool = False) -> Actor:
    return actor(new_user(prefix, admin=admin))


def fresh_loan(loan_id: str) -> Loan:
    return Loan.get(loan_id, consistent_read=True)


def participants_of(loan_id: str) -> list[Participant]:
    return list(Participant.query(loan_id, consistent_read=True))


def history(table: str, record_id: str) -> list[AuditEntry]:
    return list(AuditEntry.query(record_key(table, record_id), consistent_read=True))


def recount(loan: Loan) -> dict[str, object]:
    return funding.normalized(
        funding.compute(loan.amount, funding.counted(loan, participants_of(loan.loan_id)))
    )


def stored(loan: Loan) -> dict[str, object]:
    return funding.normalized(funding.of_loan(loan))


async def create(borrower: Actor, amount: str = "1000.00", **kw: object) -> Loan:
    from services.loans import create_loan

    args = {"title": "Bakery oven", "amount": Decimal(amount), "interest_rate": Decimal("7.5"),
            "term_months": 12}
    args.update(kw)
    return await create_loan(borrower, **args)  # type: ignore[arg-type]


@pytest.fixture
def borrower(settings) -> Actor:
    return person("borrower")


@pytest.fixture
def lender(settings) -> Actor:
    return person("lender")


@pytest.fixture
def stranger(settings) -> Actor:
    return person("stranger")


@pytest.fixture
def admin(settings) -> Actor:
    return person("admin", admin=True)
