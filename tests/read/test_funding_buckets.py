"""fundingHistory(bucket:) on a generated series, against hand-computed buckets."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

import models
from core.ids import to_global_id
from tests.conftest import new_user
from tests.factories import make_loan, write_all
from tests.graphql_client import gql

UTC = dt.UTC
B = new_user("b")
T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
# (minutes after T0, total funded)
SERIES = [
    (0, 10),
    (20, 20),
    (59, 30),
    (60, 40),
    (61, 50),
    (179, 60),
    (24 * 60 + 5, 70),
    (24 * 60 + 6, 80),
    (48 * 60, 90),
]


@pytest.fixture(scope="module")
def loan(settings):
    loan = make_loan(B, amount="100")
    rows = [loan]
    for minutes, total in SERIES:
        ts = T0 + dt.timedelta(minutes=minutes)
        rows.append(
            models.LoanMetric(
                loan_id=loan.loan_id,
                sk=f"{models.LoanMetric.timestamp.serialize(ts)}#{uuid.uuid4()}",
                timestamp=ts,
                event="PARTICIPANT_ACCEPTED",
                total_funded=Decimal(total),
                funding_percentage=Decimal(total),
                participant_count=total // 10,
                accepted_participant_count=total // 10,
            )
        )
    write_all(rows)
    return to_global_id("Loan", loan.loan_id)


Q = """query($id: ID!, $b: FundingBucket, $first: Int, $after: String, $last: Int, $before: String, $from: DateTime, $to: DateTime) {
  loan(id: $id) { fundingHistory(bucket: $b, first: $first, after: $after, last: $last, before: $before, from: $from, to: $to) {
    edges { cursor node { timestamp totalFunded } } pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } } }"""


async def run(client, token, **v):
    r = await gql(client, Q, v, token=token(B.user_id, B.email))
    assert "errors" not in r, r
    h = r["data"]["loan"]["fundingHistory"]
    return [e["node"]["totalFunded"] for e in h["edges"]], h["pageInfo"]


async def test_raw_is_every_point(client, token, loan):
    totals, _ = await run(client, token, id=loan)
    assert totals == [f"{t}.00" for _, t in SERIES]


async def test_hour_buckets_keep_the_last_state(client, token, loan):
    # 09:xx -> 30, 10:0x -> 50, 11:59 -> 60, next day 09:05/09:06 -> 80, day after 09:00 -> 90
    totals, info = await run(client, token, id=loan, b="HOUR")
    assert totals == ["30.00", "50.00", "60.00", "80.00", "90.00"]
    assert not info["hasNextPage"] and not info["hasPreviousPage"]


async def test_day_buckets(client, token, loan):
    totals, _ = await run(client, token, id=loan, b="DAY")
    assert totals == ["60.00", "80.00", "90.00"]


async def test_bucket_pages_forward_and_backward(client, token, loan):
    first, info = await run(client, token, id=loan, b="HOUR", first=2)
    assert first == ["30.00", "50.00"] and info["hasNextPage"]
    rest, info2 = await run(client, token, id=loan, b="HOUR", first=10, after=info["endCursor"])
    assert (
        rest == ["60.00", "80.00", "90.00"]
        and info2["hasPreviousPage"]
        and not info2["hasNextPage"]
    )
    tail, info3 = await run(client, token, id=loan, b="HOUR", last=2)
    assert tail == ["80.00", "90.00"] and info3["hasPreviousPage"]
    before, info4 = await run(client, token, id=loan, b="HOUR", last=2, before=info3["startCursor"])
    assert before == ["50.00", "60.00"] and info4["hasPreviousPage"] and info4["hasNextPage"]


async def test_from_to_window(client, token, loan):
    totals, _ = await run(
        client,
        token,
        id=loan,
        b="HOUR",
        **{"from": "2026-05-01T10:00:00Z", "to": "2026-05-02T09:05:30Z"},
    )
    assert totals == ["50.00", "60.00", "70.00"]


async def test_cursor_of_another_bucket_is_refused(client, token, loan):
    _, info = await run(client, token, id=loan, b="HOUR", first=1)
    r = await gql(
        client,
        Q,
        {"id": loan, "b": "DAY", "first": 1, "after": info["endCursor"]},
        token=token(B.user_id, B.email),
    )
    assert r["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
