"""Regression tests for the server errors the Schemathesis run found
(docs/fuzzing.md): each input once gave INTERNAL_SERVER_ERROR."""

from __future__ import annotations

import pytest

from core.ids import to_global_id
from schema.scalars import parse_datetime
from tests.conftest import new_user
from tests.factories import make_loan, make_user, version_of, write_all
from tests.graphql_client import gql

BORROWER = new_user("borrower")


def codes(body: dict) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors") or []}


@pytest.fixture(scope="module")
def loan(settings):
    loan = make_loan(BORROWER)
    write_all([loan, version_of(loan), make_user(BORROWER)])
    return loan


NODE = "query N($id: ID!) { node(id: $id) { id ... on LoanVersion { version } } }"


@pytest.mark.parametrize("version", ["²", "١", "1²", "9" * 40])
async def test_loan_version_id_with_a_non_ascii_digit_is_bad_input(client, token, loan, version):
    # `"²".isdigit()` is True but `int("²")` raises: this id used to be a 500.
    bad = to_global_id("LoanVersion", f"{loan.loan_id}/{version}")
    body = await gql(client, NODE, {"id": bad}, token=token(BORROWER.user_id, BORROWER.email))
    assert codes(body) == {"BAD_USER_INPUT"}, body
    assert "Malformed id" in body["errors"][0]["message"]
    assert body["data"] == {"node": None}


async def test_a_well_formed_loan_version_id_still_resolves(client, token, loan):
    good = to_global_id("LoanVersion", f"{loan.loan_id}/1")
    body = await gql(client, NODE, {"id": good}, token=token(BORROWER.user_id, BORROWER.email))
    assert "errors" not in body, body
    assert body["data"]["node"] == {"id": good, "version": 1}


AUDIT = "query A($from: DateTime) { auditLog(filter: { from: $from }) { edges { cursor } } }"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "0001-01-01T05:00:00+05:30"])
async def test_datetime_before_year_one_in_utc_is_bad_input(client, token, value):
    # Valid ISO-8601, but converting it to UTC overflowed: an OverflowError, a 500
    # when typed into the document; now a ValueError naming the value.
    body = await gql(client, AUDIT, {"from": value}, token=token(BORROWER.user_id))
    assert codes(body) == {"BAD_USER_INPUT"}, body
    assert f"DateTime {value!r} is out of range in UTC" in body["errors"][0]["message"], body


def test_parse_datetime_range():
    with pytest.raises(ValueError, match="out of range"):
        parse_datetime("0001-01-01T00:00:00+14:00")
    assert parse_datetime("0001-01-01T14:00:00+14:00").year == 1
    assert parse_datetime("9999-12-31T23:59:59-00:00").year == 9999


CREATE = """
mutation C($input: CreateLoanInput!) {
  createLoan(input: $input) { loan { id amount } errors { code field message } }
}
"""


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1E+999999999", "Amount must be at most"),
        ("-1E+999999999", "Amount must be greater than 0"),
        ("1E-999999999", "Amount must have at most 2 decimal places"),
    ],
)
async def test_amount_with_an_extreme_exponent_is_a_validation_error(
    client, token, amount, message
):
    # `Decimal.normalize()` in the decimal-places check overflowed the context
    # (decimal.Overflow: a 500) for 1E+999999999, found by `make fuzz`.
    variables = {"input": {"title": "Exp", "amount": amount, "interestRate": "5", "termMonths": 12}}
    body = await gql(client, CREATE, variables, token=token(BORROWER.user_id))
    assert "errors" not in body, body
    payload = body["data"]["createLoan"]
    assert payload["loan"] is None
    assert [e["code"] for e in payload["errors"]] == ["VALIDATION"], payload
    assert payload["errors"][0]["message"].startswith(message), payload


async def test_amounts_with_exponents_in_range_are_still_accepted(client, token):
    variables = {
        "input": {"title": "Exp", "amount": "1.25E+3", "interestRate": "5", "termMonths": 12}
    }
    body = await gql(client, CREATE, variables, token=token(BORROWER.user_id))
    assert body["data"]["createLoan"]["errors"] == [], body
    assert body["data"]["createLoan"]["loan"]["amount"] == "1250.00"
