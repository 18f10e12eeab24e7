"""acceptInvitation / declineInvitation: in-place responses, pinned versions,
overfunding, automatic FUNDED, who may."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

from core.errors import DomainError
from models import LoanMetric, LoanVersion
from services.loans import set_loan_status, update_loan_terms
from services.participants import accept_invitation, decline_invitation, invite_participants
from tests.services.conftest import (
    IP,
    actor,
    create,
    expect_error,
    fresh_loan,
    history,
    invite,
    participants_of,
    person,
    recount,
    stored,
)
from tests.services.given import loan_with_lender


async def test_accept_sets_lender_in_place_and_pins_version(borrower):
    # given a loan at version 2 and an invitation
    loan = await create(borrower)
    await update_loan_terms(
        borrower, loan.loan_id, expected_version=1, change_reason="r", term_months=18
    )
    lender = person("lender")
    p = await invite(borrower, loan, lender, "400.00")
    # when the invited person accepts, with the token email in another case
    shouting = actor(replace(lender.viewer, email=lender.viewer.email.upper()))
    part, after = await accept_invitation(shouting, loan.loan_id, p.participant_id, 2)
    # then the same participant (same id) now names the lender and the version
    assert part.participant_id == p.participant_id and part.lender_id == lender.user_id
    assert part.status == "ACCEPTED" and part.accepted_version == 2 and part.responded_at
    [stored_p] = participants_of(loan.loan_id)
    assert stored_p.participant_id == p.participant_id and stored_p.lender_id == lender.user_id
    # and the funding fields moved, the version did not
    assert after.version == 2 and after.total_funded == Decimal("400")
    assert str(after.funding_percentage) == "40.00" and after.accepted_participant_count == 1
    assert after.average_contribution == after.largest_contribution == Decimal("400")
    assert stored(fresh_loan(loan.loan_id)) == recount(fresh_loan(loan.loan_id))
    # and the audit entry says who accepted from where
    entry = history("participants", f"{loan.loan_id}/{p.participant_id}")[-1]
    assert entry.event == "PARTICIPANT_ACCEPTED" and entry.actor_id == lender.user_id
    assert entry.before["status"] == "PENDING" and entry.after["status"] == "ACCEPTED"
    assert entry.before["lender_id"] is None and entry.after["lender_id"] == lender.user_id
    assert entry.ip_address == IP and entry.context["loan"]["total_funded"] == "400.00"
    points = list(LoanMetric.query(loan.loan_id, consistent_read=True))
    assert points[-1].event == "PARTICIPANT_ACCEPTED" and points[-1].total_funded == Decimal("400")


async def test_acceptance_that_fills_the_loan_funds_it_in_the_same_change(borrower):
    loan = await create(borrower, amount="1000.00")
    a, b = person("a"), person("b")
    pa = await invite(borrower, loan, a, "600")
    pb = await invite(borrower, loan, b, "400")
    await accept_invitation(a, loan.loan_id, pa.participant_id)
    part, after = await accept_invitation(b, loan.loan_id, pb.participant_id, 1)
    assert after.status == "FUNDED" and after.version == 2 and after.is_fully_funded
    assert part.accepted_version == 1  # the terms b agreed to
    v2 = LoanVersion.get(loan.loan_id, 2, consistent_read=True)
    assert v2.snapshot["status"] == "FUNDED" and "status" in v2.changed_fields
    loan_entry = history("loans", loan.loan_id)[-1]
    part_entry = history("participants", f"{loan.loan_id}/{pb.participant_id}")[-1]
    assert loan_entry.event == "LOAN_FUNDED" and part_entry.event == "PARTICIPANT_ACCEPTED"
    assert loan_entry.context["loan_seq"] == part_entry.context["loan_seq"] == after.seq
    assert (part_entry.context["tx"]["index"], loan_entry.context["tx"]["index"]) == (0, 1)


async def test_overfunded_and_terms_changed(borrower):
    loan = await create(borrower, amount="500")
    a, b = person("a"), person("b")
    pa = await invite(borrower, loan, a, "300")
    pb = await invite(borrower, loan, b, "300")
    await accept_invitation(a, loan.loan_id, pa.participant_id)
    await expect_error(
        "OVERFUNDED",
        accept_invitation(b, loan.loan_id, pb.participant_id),
        ["input", "participantId"],
    )
    await update_loan_terms(
        borrower, loan.loan_id, expected_version=1, change_reason="more", amount=Decimal("600")
    )
    await expect_error(
        "TERMS_CHANGED",
        accept_invitation(b, loan.loan_id, pb.participant_id, 1),
        ["input", "expectedLoanVersion"],
    )
    _, after = await accept_invitation(b, loan.loan_id, pb.participant_id, 2)
    assert after.status == "FUNDED" and after.total_funded == Decimal("600")


async def test_decline_sets_lender_and_counts(borrower):
    loan, lender, p = await loan_with_lender(borrower)
    part, after = await decline_invitation(lender, loan.loan_id, p.participant_id)
    assert part.status == "DECLINED" and part.lender_id == lender.user_id
    assert part.accepted_version is None and after.declined_participant_count == 1
    assert after.pending_participant_count == 0 and after.participant_count == 1
    assert (
        history("participants", f"{loan.loan_id}/{p.participant_id}")[-1].event
        == "PARTICIPANT_DECLINED"
    )
    # responding twice is INVALID_STATE
    await expect_error("INVALID_STATE", decline_invitation(lender, loan.loan_id, p.participant_id))
    await expect_error("INVALID_STATE", accept_invitation(lender, loan.loan_id, p.participant_id))
    # a stale expected version is TERMS_CHANGED for a decline too
    other = person("other")
    q = await invite(borrower, loan, other)
    await expect_error(
        "TERMS_CHANGED", decline_invitation(other, loan.loan_id, q.participant_id, 7)
    )


async def test_only_the_invited_person_responds(borrower, stranger, admin):
    loan = await create(borrower)
    lender, other = person("lender"), person("other")
    p = await invite(borrower, loan, lender)
    await invite(borrower, loan, other)
    for fn in (accept_invitation, decline_invitation):
        await expect_error("FORBIDDEN", fn(borrower, loan.loan_id, p.participant_id))
        await expect_error("FORBIDDEN", fn(admin, loan.loan_id, p.participant_id))
        await expect_error("FORBIDDEN", fn(other, loan.loan_id, p.participant_id))
        await expect_error("NOT_FOUND", fn(stranger, loan.loan_id, p.participant_id))
        await expect_error("NOT_FOUND", fn(lender, loan.loan_id, "no-such-participant"))
    assert participants_of(loan.loan_id)[0].status == "PENDING"


async def test_no_acceptance_on_a_cancelled_loan(borrower):
    loan, lender, p = await loan_with_lender(borrower)
    await set_loan_status(borrower, loan.loan_id, "CANCELLED")
    await expect_error("INVALID_STATE", accept_invitation(lender, loan.loan_id, p.participant_id))


async def test_fifty_concurrent_acceptances_never_overfund(borrower, race_at_the_database):
    # given a loan of 10,000 and 50 invitations of 250 (12,500 in total)
    loan = await create(borrower, amount="10000.00")
    lenders = [person(f"l{i}") for i in range(50)]
    for chunk in (lenders[:25], lenders[25:]):
        out = await invite_participants(
            borrower, loan.loan_id, [(x.viewer.email, Decimal("250")) for x in chunk], atomic=True
        )
        assert out.summary.succeeded == 25
    parts = {p.lender_email: p for p in participants_of(loan.loan_id)}

    async def accept(x):
        try:
            return await accept_invitation(x, loan.loan_id, parts[x.viewer.email].participant_id)
        except DomainError as exc:
            return exc

    # when all 50 accept at once
    outcomes = await asyncio.gather(*(accept(x) for x in lenders))
    # then exactly 40 got in, 10 were OVERFUNDED, and the loan is exactly full
    errors = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(errors) == 10 and {e.code for e in errors} == {"OVERFUNDED"}
    final = fresh_loan(loan.loan_id)
    assert final.total_funded == Decimal("10000") and final.status == "FUNDED"
    assert final.version == 2 and final.accepted_participant_count == 40
    # and the stored aggregates equal a recount
    assert stored(final) == recount(final)
    assert len(list(LoanVersion.query(loan.loan_id, consistent_read=True))) == 2
