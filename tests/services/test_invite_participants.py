"""inviteParticipants: per-item results, atomic all-or-nothing, limits."""

from __future__ import annotations

from decimal import Decimal

from services.common import MAX_ATOMIC_INVITES
from services.participants import invite_participant, invite_participants
from tests.services.conftest import (
    create,
    expect_error,
    fresh_loan,
    history,
    participants_of,
    recount,
    stored,
)


async def test_non_atomic_gives_one_result_per_item_in_order(borrower):
    # given a loan where c@example.com is already invited
    loan = await create(borrower)
    await invite_participant(borrower, loan.loan_id, "c@example.com", Decimal("5"))
    invites = [
        ("a@example.com", Decimal("10")),
        ("bad email", Decimal("10")),
        ("c@example.com", Decimal("10")),
        ("A@example.com", Decimal("10")),  # duplicate of item 0 inside the batch
        ("e@example.com", Decimal("10.001")),
        ("f@example.com", Decimal("20")),
    ]
    # when they are invited non-atomically
    out = await invite_participants(borrower, loan.loan_id, invites, atomic=False)
    # then each item has its own result, in order
    assert [r.index for r in out.results] == list(range(6))
    assert [r.status for r in out.results] == [
        "CREATED",
        "FAILED",
        "FAILED",
        "FAILED",
        "FAILED",
        "CREATED",
    ]
    assert out.results[1].errors[0].field == ["input", "invites", "1", "email"]
    assert out.results[2].errors[0].code == "DUPLICATE_PARTICIPANT"
    assert out.results[3].errors[0].code == "DUPLICATE_PARTICIPANT"
    assert out.results[3].errors[0].field == ["input", "invites", "3", "email"]
    assert out.results[4].errors[0].field == ["input", "invites", "4", "amount"]
    assert out.results[0].participant.lender_email == "a@example.com"
    assert (out.summary.total, out.summary.succeeded, out.summary.failed) == (6, 2, 4)
    loan2 = fresh_loan(loan.loan_id)
    assert loan2.participant_count == 3 and stored(loan2) == recount(loan2)


async def test_atomic_writes_all_in_one_transaction(borrower):
    loan = await create(borrower)
    invites = [(f"p{i}@example.com", Decimal("10")) for i in range(MAX_ATOMIC_INVITES)]
    out = await invite_participants(borrower, loan.loan_id, invites, atomic=True)
    assert out.summary.succeeded == MAX_ATOMIC_INVITES and out.errors == []
    loan2 = fresh_loan(loan.loan_id)
    # one change: seq moved once, all audit entries share it
    assert loan2.seq == 2 and loan2.participant_count == MAX_ATOMIC_INVITES
    seqs = {
        history("participants", f"{loan.loan_id}/{r.participant.participant_id}")[0].context[
            "loan_seq"
        ]
        for r in out.results
    }
    assert seqs == {2}


async def test_atomic_failure_writes_nothing(borrower):
    loan = await create(borrower)
    await invite_participant(borrower, loan.loan_id, "taken@example.com", Decimal("5"))
    invites = [
        ("new1@example.com", Decimal("1")),
        ("taken@example.com", Decimal("1")),
        ("new2@example.com", Decimal("1")),
    ]
    out = await invite_participants(borrower, loan.loan_id, invites, atomic=True)
    assert [r.status for r in out.results] == ["FAILED"] * 3
    assert out.results[1].errors[0].code == "DUPLICATE_PARTICIPANT"
    assert out.results[0].errors == [] and out.errors[0].field == ["input", "invites"]
    assert out.summary.failed == 3
    assert {p.lender_email for p in participants_of(loan.loan_id)} == {"taken@example.com"}
    # an invalid item also aborts the batch before any read
    out = await invite_participants(
        borrower, loan.loan_id, [("ok@example.com", "1"), ("x@y", "1")], atomic=True
    )
    assert out.summary.succeeded == 0 and len(participants_of(loan.loan_id)) == 1


async def test_batch_limits(borrower, stranger):
    loan = await create(borrower)
    too_many_atomic = [(f"q{i}@example.com", "1") for i in range(MAX_ATOMIC_INVITES + 1)]
    err = await expect_error(
        "VALIDATION",
        invite_participants(borrower, loan.loan_id, too_many_atomic, atomic=True),
        ["input", "invites"],
    )
    assert str(MAX_ATOMIC_INVITES) in err.message
    await expect_error(
        "VALIDATION",
        invite_participants(
            borrower, loan.loan_id, [(f"r{i}@example.com", "1") for i in range(101)]
        ),
        ["input", "invites"],
    )
    await expect_error("VALIDATION", invite_participants(borrower, loan.loan_id, []))
    await expect_error(
        "NOT_FOUND", invite_participants(stranger, loan.loan_id, [("s@example.com", "1")])
    )
    assert participants_of(loan.loan_id) == []
