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
from resolvers.subscriptions import TICK_READS, _from_event, _initial
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
