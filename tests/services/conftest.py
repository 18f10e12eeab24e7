"""Helpers for the write-layer tests: actors with request metadata, a loan
with invitations, reads that bypass the write layer (to check what it wrote)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from core import db
from core.actor import Actor
from core.auth import Viewer
from models import AuditEntry, Loan, Participant, tables
from models.audit import record_key
from services import funding
from tests.conftest import make_settings, new_user

IP = "203.0.113.7"


@pytest.fixture(scope="package")
def shared_settings(dynamodb_endpoint: str):
    """One set of tables for the write-layer tests (every test uses its own
    random users and loans, so they never see each other's data); creating
    the tables per module would cost ~3 s each."""
    s = make_settings(dynamodb_endpoint)
    tables.configure(s)
    tables.create_tables(s)
    return s


@pytest.fixture(scope="module")
def settings(shared_settings):
    """Re-point the models at the shared tables (another module may have
    configured its own fresh ones). Modules that scan whole tables (integrity,
    migration) override this with `fresh_settings`."""
    try:
        current = db.settings()
    except RuntimeError:
        current = None
    if current is not shared_settings:
        tables.configure(shared_settings)
    return shared_settings


@pytest.fixture(scope="module")
def fresh_settings(dynamodb_endpoint: str):
    s = make_settings(dynamodb_endpoint)
    tables.configure(s)
    tables.create_tables(s)
    return s


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


async def create(borrower: Actor, amount: object = "1000.00", **kw: object) -> Loan:
    from services.loans import create_loan

    args = {
        "title": "Bakery oven",
        "amount": amount,
        "interest_rate": Decimal("7.5"),
        "term_months": 12,
    }
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


async def expect_error(code: str, awaitable, field: list[str] | None = None):
    """Await `awaitable`, which must fail with DomainError `code` (and `field`)."""
    from core.errors import DomainError

    with pytest.raises(DomainError) as info:
        await awaitable
    assert info.value.code == code, f"{info.value.code}: {info.value.message}"
    if field is not None:
        assert info.value.field == field
    return info.value


async def invite(borrower: Actor, loan: Loan, who: Actor, amount: str = "100.00") -> Participant:
    from services.participants import invite_participant

    assert who.viewer.email
    return await invite_participant(borrower, loan.loan_id, who.viewer.email, Decimal(amount))


@pytest.fixture
def race_at_the_database(monkeypatch):
    """Turn off the in-process per-loan queue, so concurrent changes really
    race at DynamoDB and only the transaction conditions keep them apart."""
    import services.common

    monkeypatch.setattr(services.common, "SERIALIZE_PER_LOAN", False)
