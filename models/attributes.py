"""Attribute types PynamoDB lacks: exact Decimals and JSON that keeps them exact."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from pynamodb.attributes import Attribute, ListAttribute, UnicodeAttribute
from pynamodb.constants import NUMBER, STRING


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number read back as `Decimal`, never as float (money is exact)."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return str(Decimal(value))

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


def string_list(**kwargs: Any) -> ListAttribute[str]:
    """A list of strings. PynamoDB types `ListAttribute(of=UnicodeAttribute)` as a
    list of attributes; its values are the strings they hold."""
    return cast(ListAttribute[str], ListAttribute(of=UnicodeAttribute, **kwargs))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"), sort_keys=True)


class JSONTextAttribute(Attribute[Any]):
    """JSON stored as a string; Decimals become strings, so nothing is rounded."""

    attr_type = STRING

    def serialize(self, value: Any) -> str:
        return dumps(value)

    def deserialize(self, value: str) -> Any:
        return json.loads(value)
