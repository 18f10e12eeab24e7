"""migrate-legacy: pending:<email> and user-id rows become stable participants;
duplicates are merged and reported; dry run writes nothing; running twice is a no-op."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core import db
from models import AuditEntry, User
from services.common import utcnow
from services.migrate import migrate_legacy, participant_id_for
from tests.services.conftest import create, fresh_loan, participants_of, person, recount, stored


@pytest.fixture(scope="module")
def settings(fresh_settings):
    return fresh_settings


def legacy_table(settings, rows: list[dict[str, str]]) -> str:
    name = f"{settings.table_prefix}legacy_participants"
    client = db.boto_client()
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "loan_id", "KeyType": "HASH"},
            {"AttributeName": "lender_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "loan_id", "AttributeType": "S"},
            {"AttributeName": "lender_id", "AttributeType": "S"},
        ],
    )
    for row in rows:
        item = {
            k: ({"N": v[1:]} if k == "amount" and v.startswith("#") else {"S": v})
            for k, v in row.items()
        }
        client.put_item(TableName=name, Item=item)
    return name


async def test_migrate_legacy_twice(settings):
    # given loans in the new tables and a legacy participants table
    borrower = person("borrower")
    loan = await create(borrower, amount="1000.00")
    other = await create(borrower, amount="100.00")
    now = utcnow()
    User(user_id="legacy-user-2", email="Zoe@Example.com", created_at=now, updated_at=now).save()
    rows = [
        # ada: invited, then accepted with her account -> two rows, one person: merged
        {
            "loan_id": loan.loan_id,
            "lender_id": "pending:ada@example.com",
            "amount": "#300",
            "status": "PENDING",
            "created_at": "2024-01-02T10:00:00Z",
        },
        {
            "loan_id": loan.loan_id,
            "lender_id": "legacy-user-1",
            "email": "ADA@example.com",
            "amount": "#300",
            "status": "ACCEPTED",
            "responded_at": "2024-01-05T10:00:00Z",
        },
        # bob: only pending
        {
            "loan_id": loan.loan_id,
            "lender_id": "pending:bob@example.com",
            "amount": "#200",
            "status": "PENDING",
        },
        # two spellings of carl's email: merged
        {
            "loan_id": loan.loan_id,
            "lender_id": "pending:Carl@example.com",
            "amount": "#50",
            "status": "PENDING",
        },
        {
            "loan_id": loan.loan_id,
            "lender_id": "pending:carl@example.com",
            "amount": "#50",
            "status": "DECLINED",
        },
        # zoe: a user row whose email comes from the users table
        {
            "loan_id": loan.loan_id,
            "lender_id": "legacy-user-2",
            "amount": "#100",
            "status": "ACCEPTED",
        },
        # refused: no email anywhere, unknown loan, invalid amount, would overfund
        {
            "loan_id": loan.loan_id,
            "lender_id": "legacy-user-3",
            "amount": "#10",
            "status": "ACCEPTED",
        },
        {"loan_id": "gone-loan", "lender_id": "pending:dan@example.com", "amount": "#10"},
        {"loan_id": loan.loan_id, "lender_id": "pending:eve@example.com", "amount": "#10.555"},
        {
            "loan_id": other.loan_id,
            "lender_id": "pending:fay@example.com",
            "amount": "#150",
            "status": "ACCEPTED",
        },
    ]
    table = legacy_table(settings, rows)

    # when run as a dry run, then it reports and writes nothing
    dry = await migrate_legacy(table, dry_run=True)
    assert dry.summary() == {"rows": 10, "converted": 4, "merged": 2, "refused": 4, "skipped": 0}
    assert participants_of(loan.loan_id) == [] and fresh_loan(loan.loan_id).seq == 1

    # when run for real
    report = await migrate_legacy(table)
    # then four stable participants exist, duplicates merged (and listed), refusals explained
    assert report.summary() == {"rows": 10, "converted": 4, "merged": 2, "refused": 4, "skipped": 0}
    merged = {m["email"]: m for m in report.merged}
    assert set(merged) == {"ada@example.com", "carl@example.com"}
    assert len(merged["ada@example.com"]["rows"]) == 2
    reasons = " | ".join(r["reason"] for r in report.refused)
    assert "no valid email" in reasons and "loan not found" in reasons
    assert "2 decimal places" in reasons and "would fund" in reasons
    parts = {p.lender_email: p for p in participants_of(loan.loan_id)}
    assert set(parts) == {
        "ada@example.com",
        "bob@example.com",
        "carl@example.com",
        "zoe@example.com",
    }
    ada = parts["ada@example.com"]
    assert ada.status == "ACCEPTED" and ada.lender_id == "legacy-user-1"
    assert ada.contribution_amount == Decimal("300") and ada.accepted_version == 1
    assert ada.participant_id == participant_id_for(loan.loan_id, "ada@example.com")
    assert parts["carl@example.com"].status == "DECLINED"
    assert parts["zoe@example.com"].lender_id == "legacy-user-2"
    assert parts["bob@example.com"].lender_id is None
    after = fresh_loan(loan.loan_id)
    assert after.total_funded == Decimal("400") and stored(after) == recount(after)
    entries = list(
        AuditEntry.query(f"participants#{loan.loan_id}/{ada.participant_id}", consistent_read=True)
    )
    assert entries[0].context["migration"]["rows"] == [r for r in merged["ada@example.com"]["rows"]]
    assert entries[0].event is None and entries[0].actor_id == "system:migrate-legacy"

    # when run again, then everything is skipped and nothing changes
    again = await migrate_legacy(table)
    assert again.summary() == {"rows": 10, "converted": 0, "merged": 0, "refused": 4, "skipped": 4}
    assert fresh_loan(loan.loan_id).seq == after.seq
    assert len(participants_of(loan.loan_id)) == 4
