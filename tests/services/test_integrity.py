"""check-integrity: silent on seeded data; finds and repairs injected damage."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models import Loan, LoanVersion, Participant, ParticipantGuard
from models.participant import guard_key
from services.integrity import check_integrity
from services.seed import seed
from tests.services.conftest import fresh_loan, participants_of, recount, stored


@pytest.fixture(scope="module")
def settings(fresh_settings):
    """Own tables: the check scans everything."""
    return fresh_settings


async def test_seeded_data_is_consistent_and_damage_is_found(settings):
    # given the demo marketplace
    made = await seed(progress=False)
    assert made["loans"] >= 15
    assert (await seed(progress=False)) == {"skipped": True}
    statuses = {loan.status for loan in Loan.scan()}
    assert statuses == {"PENDING", "FUNDED", "ACTIVE", "COMPLETED", "CANCELLED"}
    assert any(loan.deleted_at for loan in Loan.scan())
    # when checked, then nothing is reported
    report = await check_integrity()
    assert report.issues == [] and report.loans == made["loans"]

    # given damage done behind the write path's back
    loans = [loan for loan in Loan.scan(consistent_read=True) if loan.deleted_at is None]
    bad_sum, bad_guard, bad_version, bad_seq = loans[0], loans[1], loans[2], loans[3]
    bad_sum.update(actions=[Loan.total_funded.set(bad_sum.total_funded + Decimal("1"))])
    live = [p for p in participants_of(bad_guard.loan_id) if p.deleted_at is None]
    ParticipantGuard.get(guard_key(bad_guard.loan_id, live[0].lender_email)).delete()
    ParticipantGuard(
        guard_key=guard_key(bad_guard.loan_id, "ghost@example.com"),
        loan_id=bad_guard.loan_id,
        participant_id="nobody",
        created_at=live[0].created_at,
    ).save()
    LoanVersion.get(bad_version.loan_id, 1).delete()
    bad_seq.update(actions=[Loan.seq.add(1)])
    Participant(
        loan_id="no-such-loan",
        participant_id="p",
        lender_email="o@example.com",
        contribution_amount=Decimal("1"),
        invited_at=live[0].created_at,
        created_at=live[0].created_at,
        updated_at=live[0].created_at,
    ).save()
    # when checked, then each kind is found
    report = await check_integrity()
    assert report.kinds() == {
        "aggregates",
        "missing_guard",
        "orphaned_guard",
        "version_gap",
        "unaudited_change",
        "orphaned_participant",
    }
    # when repaired, then what can be recomputed is, and stays audited
    report = await check_integrity(repair=True)
    assert {i.kind for i in report.issues if i.repaired} == {
        "aggregates",
        "missing_guard",
        "orphaned_guard",
    }
    after = await check_integrity()
    assert after.kinds() == {"version_gap", "unaudited_change", "orphaned_participant"}
    fixed = fresh_loan(bad_sum.loan_id)
    assert stored(fixed) == recount(fixed)
