"""Scalars: Decimal as a JSON string (money is never a float), DateTime in UTC
with a trailing "Z", JSON for snapshots."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, overload

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode, print_ast
from strawberry.types.scalar import ScalarDefinition

from core.errors import BadUserInput
from core.times import serialize_datetime

UTC = dt.UTC


def parse_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string, e.g. 2026-11-25T09:30:00Z")
    text = value.strip()
    if len(text) > 64:
        raise ValueError("DateTime has too many characters (at most 64)")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"Invalid DateTime {value!r}: use ISO-8601, e.g. 2026-11-25T09:30:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"DateTime {value!r} needs a time zone; use UTC with a trailing Z")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise ValueError(f"DateTime {value!r} is out of range in UTC") from None


def parse_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError('Decimal must be a string such as "1250.00"')
    text = str(value).strip()
    if len(text) > 64:
        raise ValueError("Decimal has too many characters (at most 64)")
    try:
        result = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise ValueError(f'Invalid Decimal {value!r}: use a string such as "1250.00"') from None
    if not result.is_finite():
        raise ValueError(f"Decimal must be a finite number, got {value!r}")
    return result


def _literal(kinds: tuple[type, ...], parse: Any, name: str, example: str) -> Any:
    """parse_literal for a scalar typed into the document: the same rules as
    through variables, and a coded BAD_USER_INPUT naming the value, never a
    ValueError (graphql-core would wrap it as an unexpected, masked error)."""

    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
        if not isinstance(node, kinds):
            raise BadUserInput(
                f"{name} cannot represent {print_ast(node)[:40]}: use a string such as {example}"
            )
        try:
            return parse(node.value)  # type: ignore[attr-defined]  # one of `kinds`, checked above
        except ValueError as exc:
            raise BadUserInput(str(exc)[:200]) from None

    return parse_literal


DateTimeScalar: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description='An instant in UTC, ISO-8601 with a trailing "Z", e.g. "2026-11-25T09:30:00.000Z".',
    serialize=serialize_datetime,
    parse_value=parse_datetime,
    parse_literal=_literal(
        (StringValueNode,), parse_datetime, "DateTime", '"2026-11-25T09:30:00Z"'
    ),
)

DecimalScalar: ScalarDefinition = strawberry.scalar(
    name="Decimal",
    description=(
        'An exact decimal number serialized as a JSON string, e.g. "1250.00" (money, at most '
        '2 decimal places) or "7.5000" (rates, at most 4). Never a float.'
    ),
    serialize=str,
    parse_value=parse_decimal,
    parse_literal=_literal(
        (StringValueNode, IntValueNode, FloatValueNode), parse_decimal, "Decimal", '"1250.00"'
    ),
)

JSON = strawberry.scalars.JSON

SCALAR_MAP: dict[object, Any] = {dt.datetime: DateTimeScalar, decimal.Decimal: DecimalScalar}

MONEY = decimal.Decimal("0.01")
RATE = decimal.Decimal("0.0001")


@overload
def money(value: decimal.Decimal) -> decimal.Decimal: ...
@overload
def money(value: decimal.Decimal | None) -> decimal.Decimal | None: ...
def money(value: decimal.Decimal | None) -> decimal.Decimal | None:
    return None if value is None else decimal.Decimal(value).quantize(MONEY)


@overload
def rate(value: decimal.Decimal) -> decimal.Decimal: ...
@overload
def rate(value: decimal.Decimal | None) -> decimal.Decimal | None: ...
def rate(value: decimal.Decimal | None) -> decimal.Decimal | None:
    return None if value is None else decimal.Decimal(value).quantize(RATE)
