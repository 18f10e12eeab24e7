"""`fast_from_raw_data` builds exactly what PynamoDB's own path builds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pynamodb.attributes import AttributeContainer

import models
from models.webhook import DeliveryAttempt
from tests.conftest import new_user
from tests.factories import guard_for, make_loan, make_participant, make_user, version_of

UTC = dt.UTC


def pynamodb_way(cls, data):
    instance = cls(_user_instantiated=False)
    AttributeContainer._container_deserialize(instance, data)
    return instance


def samples():
    b = new_user("b")
    loan = make_loan(b, deleted=True)
    loan.average_contribution = Decimal("12.34")
    p = make_participant(loan, "x@example.com", status="ACCEPTED", lender_id="u1")
    sparse = models.Participant(
        loan_id="l",
        participant_id="p",
        lender_email="e@x.com",
        contribution_amount=Decimal("1"),
        invited_at=dt.datetime.now(UTC),
        created_at=dt.datetime.now(UTC),
        updated_at=dt.datetime.now(UTC),
    )
    delivery = models.WebhookDelivery(
        webhook_id="w",
        delivery_id="d",
        event_id="e",
        event="LOAN_FUNDED",
        payload={"a": [1, "2"]},
        attempt_log=[DeliveryAttempt(at=dt.datetime.now(UTC), status_code=500, error="boom")],
        created_at=dt.datetime.now(UTC),
        updated_at=dt.datetime.now(UTC),
    )
    return [loan, p, sparse, guard_for(p), make_user(b), version_of(loan), delivery]


@pytest.mark.parametrize("row", samples(), ids=lambda r: type(r).__name__)
def test_same_values_as_pynamodb(row):
    data = row.serialize()
    data["not_a_known_attribute"] = {"S": "ignored"}
    fast = type(row).from_raw_data(data)
    slow = pynamodb_way(type(row), data)
    assert fast.serialize() == slow.serialize()
    assert fast.attribute_values.keys() == slow.attribute_values.keys()


def test_null_values_fall_back_to_defaults():
    b = new_user("b")
    data = make_loan(b).serialize()
    data["total_funded"] = {"NULL": True}
    data.pop("status")
    fast = models.Loan.from_raw_data(data)
    assert fast.total_funded == 0 and fast.status == "PENDING"
    assert fast.serialize() == pynamodb_way(models.Loan, data).serialize()
