"""Units of the shared subscription path: which selections may share one
execution (schema/event_memo.py), one update object per event and values, and
fresh reads shared within one turn of the event loop only
(resolvers/subscriptions.py)."""

from __future__ import annotations

import asyncio
import datetime as dt

from graphql import parse

from core.auth import Viewer
from events.types import DomainEvent
from resolvers.subscriptions import (
    RECHECK_SECONDS,
    TICK_READS,
    _from_event,
    _initial,
    must_recheck,
)
from schema.event_memo import shape_key
from tests.factories import make_loan


def _op(text: str):
    return parse(text).definitions[0]


def test_only_selections_of_the_updates_own_values_share_an_execution() -> None:
    plain = "subscription($id: ID!) { fundingProgress(loanId: $id) { totalFunded at cursor } }"
    assert shape_key(1, _op(plain), {"id": "L"}) is not None
    assert shape_key(1, _op(plain), {"id": "L"}) == shape_key(1, _op(plain), {"id": "L"})
    assert shape_key(1, _op(plain), {"id": "L"}) != shape_key(1, _op(plain), {"id": "M"})
    assert shape_key(1, _op(plain), {"id": "L"}) != shape_key(2, _op(plain), {"id": "L"})
    for text in (
        "subscription($id: ID!) { fundingProgress(loanId: $id) { totalFunded loan { id } } }",
        "subscription($id: ID!) { fundingProgress(loanId: $id) { ...F } }"
        " fragment F on FundingUpdate { totalFunded }",
        "subscription($id: ID!, $b: Boolean!) { fundingProgress(loanId: $id)"
        " { totalFunded @include(if: $b) } }",
        "subscription($id: ID!) { fundingProgress(loanId: $id) { ... on FundingUpdate { at } } }",
    ):
        assert shape_key(1, _op(text), {"id": "L"}) is None, text


def _event(event_id: str, seq: int) -> DomainEvent:
    return DomainEvent(
        id=event_id,
        type="PARTICIPANT_ACCEPTED",
        loan_id="L",
        seq=seq,
        occurred_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        actor_id="l",
        record_id="p",
        table_name="participants",
        action="UPDATE",
        borrower_id="b",
        loan={"total_funded": "10", "accepted_participant_count": 1, "version": 2},
    )


def test_one_update_object_per_event_and_values() -> None:
    model = make_loan(Viewer(user_id="b", email="b@example.com"))
    model.loan_id = "L"
    a, b = _initial(model), _initial(model)
    assert a is not b and a._key is None  # first states are each subscriber's own
    e1 = _event("e1", 5)
    assert _from_event(e1, "L", a) is _from_event(e1, "L", b)
    assert _from_event(e1, "L", a)._key is not None
    assert _from_event(_event("e2", 6), "L", a) is not _from_event(e1, "L", a)


async def test_fresh_reads_are_shared_within_one_loop_turn_only() -> None:
    first = TICK_READS.loaders()
    assert TICK_READS.loaders() is first and first.fresh
    await asyncio.sleep(0)
    assert TICK_READS.loaders() is not first


def test_a_lender_is_rechecked_when_an_event_could_have_ended_their_access() -> None:
    """Only a removal deletes an invitation's guard and a deletion hides the
    loan (declines and restorations are re-checked too, to err on the strict
    side); an invitation or an acceptance ends nobody's
    access, so ten thousand lenders are not read again for each acceptance. A
    gap given up on (the missing event may have been the removal) and the
    60 s timer re-check whatever came."""
    for event in ("PARTICIPANT_REMOVED", "PARTICIPANT_DECLINED", "LOAN_DELETED", "LOAN_RESTORED"):
        assert must_recheck(event, False, 0.0), event
    for event in ("PARTICIPANT_ACCEPTED", "PARTICIPANT_INVITED", "LOAN_UPDATED", "LOAN_FUNDED"):
        assert not must_recheck(event, False, 0.0), event
        assert must_recheck(event, True, 0.0), event
        assert must_recheck(event, False, RECHECK_SECONDS + 1), event


def test_updates_made_from_one_event_are_remembered_by_the_event(monkeypatch) -> None:
    from resolvers import subscriptions

    built = []
    real = subscriptions._build_from_event
    monkeypatch.setattr(subscriptions, "_build_from_event", lambda *a: built.append(a) or real(*a))
    model = make_loan(Viewer(user_id="b", email="b@example.com"))
    model.loan_id = "L"
    event = _event("e-memo", 3)
    # Subscribers with their own (equal) initial states: one update object,
    # built once (the rest is a lookup on the event).
    first = _from_event(event, "L", _initial(model))
    for _ in range(5):
        assert _from_event(event, "L", _initial(model)) is first
    assert len(built) == 1
    # A previous value the event does not carry (here: the status) is part of the key.
    model.status = "FUNDED"
    other = _from_event(event, "L", _initial(model))
    assert other is not first and other.status.value == "FUNDED"
    assert first.total_funded == other.total_funded
