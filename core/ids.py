"""Global Relay ids: base64 of "<Type>:<key>". Keys that need two parts (a
participant lives under its loan) join them with "/", so a global id is enough
to read the record with one GetItem/BatchGetItem, no index needed."""

from __future__ import annotations

import base64
import binascii

from core.errors import BadUserInput

# The longest global id this API issues is ~200 characters (an AuditEntry's);
# anything longer is refused before it reaches a database key (DynamoDB would
# answer a ValidationException about key sizes).
MAX_ID_LENGTH = 512

NODE_TYPES = {"User", "Loan", "Participant", "LoanVersion", "AuditEntry", "Webhook"}


def to_global_id(type_name: str, key: str) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def from_global_id(global_id: str) -> tuple[str, str]:
    """Decode a global id; a malformed one is `BAD_USER_INPUT`."""
    if not isinstance(global_id, str) or len(global_id) > MAX_ID_LENGTH:
        raise BadUserInput(
            f"Malformed id: ids are at most {MAX_ID_LENGTH} characters", argument="id"
        )
    try:
        raw = base64.b64decode(global_id.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadUserInput(f"Malformed id: {global_id!r}", argument="id") from None
    type_name, sep, key = raw.partition(":")
    if not sep or not key or type_name not in NODE_TYPES:
        raise BadUserInput(f"Malformed id: {global_id!r}", argument="id")
    return type_name, key


def expect_global_id(global_id: str, type_name: str) -> str:
    """The key of a global id that must name a `type_name`."""
    kind, key = from_global_id(global_id)
    if kind != type_name:
        raise BadUserInput(f"Expected a {type_name} id, got a {kind} id", argument="id")
    return key


def split_key(key: str, parts: int = 2) -> list[str]:
    pieces = key.split("/", parts - 1)
    if len(pieces) != parts or not all(pieces):
        raise BadUserInput(f"Malformed id key: {key!r}")
    return pieces
