"""Global Relay ids: base64 of "<Type>:<key>". Keys that need two parts (a
participant lives under its loan) join them with "/", so a global id is enough
to read the record with one GetItem/BatchGetItem, no index needed.

Error messages name the field that holds the id to pass (`Participant.id`, not
`Participant.participantId`) and say what an id looks like."""

from __future__ import annotations

import base64
import binascii
import re

from core.errors import BadUserInput

# The longest global id this API issues is ~200 characters (an AuditEntry's);
# anything longer is refused before it reaches a database key (DynamoDB would
# answer a ValidationException about key sizes).
MAX_ID_LENGTH = 512

NODE_TYPES = {"User", "Loan", "Participant", "LoanVersion", "AuditEntry", "Webhook"}

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)

# Where a client finds an id of each type: the field to copy it from.
WHERE = {
    "Loan": "`Loan.id` (createLoan's `loan { id }`, `loans`, `myInvitations { ... loan { id } }`)",
    "Participant": "`Participant.id` (inviteParticipant's `participant { id }`, `myInvitations`, "
    "`loan.participants`), not the bare uuid in `Participant.participantId`",
    "User": "`User.id` (`viewer { id }`)",
    "LoanVersion": "`LoanVersion.id` (`loan.versions`)",
    "AuditEntry": "`AuditEntry.id` (`auditTrail`, `auditLog`)",
    "Webhook": "`Webhook.id` (`webhooks`, registerWebhook's `webhook { id }`)",
}
LOOKS = 'ids are opaque base64 strings of "<Type>:<key>", e.g. "TG9hbjo0ZjNh..." for a Loan'


def to_global_id(type_name: str, key: str) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def _malformed(global_id: str, type_name: str | None = None) -> BadUserInput:
    what = f"{type_name} id" if type_name else "id"
    where = WHERE.get(type_name or "", "a record's `id` field (e.g. `Loan.id`, `Participant.id`)")
    hint = " is a bare uuid, not a global id" if _UUID.match(global_id.strip()) else ""
    return BadUserInput(
        f"Malformed {what}: {global_id[:80]!r}{hint}. Pass the value of {where}; {LOOKS}.",
        argument="id",
    )


def _decode(global_id: str) -> tuple[str, str] | None:
    if not isinstance(global_id, str) or len(global_id) > MAX_ID_LENGTH:
        raise BadUserInput(
            f"Malformed id: ids are at most {MAX_ID_LENGTH} characters; {LOOKS}.", argument="id"
        )
    try:
        raw = base64.b64decode(global_id.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, key = raw.partition(":")
    if not sep or not key or type_name not in NODE_TYPES:
        return None
    return type_name, key


def from_global_id(global_id: str) -> tuple[str, str]:
    """Decode a global id; a malformed one is `BAD_USER_INPUT`."""
    decoded = _decode(global_id)
    if decoded is None:
        raise _malformed(global_id)
    return decoded


def expect_global_id(global_id: str, type_name: str) -> str:
    """The key of a global id that must name a `type_name`."""
    decoded = _decode(global_id)
    if decoded is None:
        raise _malformed(global_id, type_name)
    kind, key = decoded
    if kind != type_name:
        where = WHERE.get(type_name, f"`{type_name}.id`")
        raise BadUserInput(
            f"Expected a {type_name} id, got a {kind} id: pass the value of {where}.",
            argument="id",
        )
    return key


def split_key(key: str, parts: int = 2) -> list[str]:
    pieces = key.split("/", parts - 1)
    if len(pieces) != parts or not all(pieces):
        raise BadUserInput(f"Malformed id key: {key!r}; {LOOKS}.")
    return pieces
