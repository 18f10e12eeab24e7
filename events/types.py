"""Domain events: one committed audit entry (an INSERT in the audit table's
stream) that names a `WebhookEvent`, typed for subscriptions, cache
invalidation and webhooks."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from models.attributes import dumps
from models.audit import EVENT_TYPES


def wire_type(event_type: str) -> str:
    """`PARTICIPANT_ACCEPTED` -> `participant.accepted` (lower case, first underscore a dot)."""
    return event_type.lower().replace("_", ".", 1)


def from_wire_type(value: str) -> str:
    return value.replace(".", "_", 1).upper()


_CAMEL = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def camel_keys(d: dict[str, Any] | None) -> dict[str, Any] | None:
    """Shallow snake_case -> camelCase of an after-image's keys (wire payloads)."""
    if d is None:
        return None
    return {camel(k): v for k, v in d.items()}


def isoformat(dt: datetime) -> str:
    """UTC, microseconds, `Z` suffix: `2026-11-25T21:30:11.095989Z`."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_dt(value: str) -> datetime:
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# Keys of a webhook payload's `loan` a lender's receiver does not get: per-lender
# statistics, and who last changed the loan (after an acceptance: that lender).
LENDER_HIDDEN_LOAN_KEYS = frozenset(
    {"averageContribution", "largestContribution", "smallestContribution", "updatedBy"}
)


@dataclass(frozen=True)
class DomainEvent:
    """A committed change to a loan or one of its participants.

    `seq` is the loan's write counter after the change (`context.loan_seq`):
    events of one loan are applied in `seq` order; entries written by one
    transaction (e.g. a cascade, or an acceptance that also funds the loan)
    share a `seq` and are ordered by `tx_index`, and differ by `id`."""

    id: str  # the audit entry's audit_id: unique, the de-duplication key
    type: str  # WebhookEvent name, e.g. "PARTICIPANT_ACCEPTED"
    loan_id: str
    seq: int
    occurred_at: datetime
    actor_id: str | None
    record_id: str
    table_name: str  # "loans" or "participants"
    action: str  # CREATE UPDATE DELETE RESTORE
    borrower_id: str | None
    changed_fields: tuple[str, ...] = ()
    # Funding aggregates of the loan after the change (context.loan, snake_case):
    # status, version, total_funded, funding_percentage, participant_count, ...
    loan: dict[str, Any] = field(default_factory=dict)
    # The changed record's after-image as the write layer stored it (snake_case).
    after: dict[str, Any] | None = None
    # For participant events: whose invitation this is (visibility checks).
    participant_email: str | None = None
    participant_lender_id: str | None = None
    # Position inside the transaction (context.tx.index): orders entries sharing a seq.
    tx_index: int = 0
    # Stream position (diagnostics only).
    stream_sequence: str | None = field(default=None, compare=False)

    # ------------------------------------------------------------ derived
    @property
    def wire_type(self) -> str:
        return wire_type(self.type)

    @property
    def is_participant_event(self) -> bool:
        return self.type.startswith("PARTICIPANT_")

    @property
    def participant(self) -> dict[str, Any] | None:
        return self.after if self.is_participant_event else None

    @property
    def created_at(self) -> str:
        return isoformat(self.occurred_at)

    @property
    def data(self) -> dict[str, Any]:
        """The webhook/public payload: camelCase, money as exact decimal strings."""
        loan: dict[str, Any] = {"loanId": self.loan_id, "borrowerId": self.borrower_id}
        if not self.is_participant_event and self.after:
            loan.update(camel_keys(self.after) or {})
        loan.update(camel_keys(self.loan) or {})
        loan["seq"] = self.seq
        out: dict[str, Any] = {
            "loanId": self.loan_id,
            "seq": self.seq,
            "action": self.action,
            "recordType": self.table_name,
            "recordId": self.record_id,
            "actorId": self.actor_id,
            "changedFields": list(self.changed_fields),
            "loan": loan,
        }
        if self.is_participant_event:
            out["participant"] = camel_keys(self.after)
        return out

    def webhook_body(
        self, *, lender_view: bool = False, recipient_id: str | None = None
    ) -> dict[str, Any]:
        """The delivered body; `lender_view` for a receiver who is an invited lender
        (not the borrower, not an admin): without the figures that can reveal another
        lender's contribution or identity (docs/security.md)."""
        return {
            "id": self.id,
            "type": self.wire_type,
            "createdAt": self.created_at,
            "data": self.lender_data(recipient_id) if lender_view else self.data,
        }

    def lender_data(self, recipient_id: str | None) -> dict[str, Any]:
        data = self.data
        loan = {k: v for k, v in data["loan"].items() if k not in LENDER_HIDDEN_LOAN_KEYS}
        if loan.get("createdBy") not in (None, self.borrower_id, recipient_id):
            loan["createdBy"] = None
        data["loan"] = loan
        if data["actorId"] not in (None, self.borrower_id, recipient_id):
            data["actorId"] = None
        return data

    # ------------------------------------------------------------ transport (Redis)
    def to_json(self) -> str:
        d = asdict(self)
        d["occurred_at"] = isoformat(self.occurred_at)
        d["changed_fields"] = list(self.changed_fields)
        return dumps(d)

    @classmethod
    def from_json(cls, text: str | bytes) -> DomainEvent:
        d = json.loads(text)
        d["occurred_at"] = _parse_dt(d["occurred_at"])
        d["changed_fields"] = tuple(d.get("changed_fields") or ())
        return cls(**d)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_audit_entry(cls, entry: Any, stream_sequence: str | None = None) -> DomainEvent | None:
        """The event an `AuditEntry` is, or None (no WebhookEvent, no loan)."""
        if not entry.event or not entry.loan_id or entry.event not in EVENT_TYPES:
            return None
        context = entry.context if isinstance(entry.context, dict) else {}
        after = entry.after if isinstance(entry.after, dict) else None
        email = lender_id = None
        if entry.event.startswith("PARTICIPANT_") and after:
            email = after.get("lender_email") or after.get("lenderEmail")
            lender_id = after.get("lender_id") or after.get("lenderId")
        borrower_id = context.get("borrower_id")
        if borrower_id is None and after and entry.table_name == "loans":
            borrower_id = after.get("borrower_id")
        occurred = entry.timestamp
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        return cls(
            id=entry.audit_id,
            type=entry.event,
            loan_id=entry.loan_id,
            seq=int(context.get("loan_seq") or 0),
            occurred_at=occurred,
            actor_id=entry.actor_id,
            record_id=entry.record_id,
            table_name=entry.table_name,
            action=entry.action,
            borrower_id=borrower_id,
            changed_fields=tuple(entry.changed_fields or ()),
            loan=dict(context.get("loan") or {}),
            after=after,
            participant_email=email.lower() if isinstance(email, str) else None,
            participant_lender_id=lender_id,
            tx_index=int((context.get("tx") or {}).get("index") or 0),
            stream_sequence=stream_sequence,
        )

    @classmethod
    def from_stream_record(cls, record: dict[str, Any]) -> DomainEvent | None:
        """The event a DynamoDB Streams record of the audit table is, or None.

        Only INSERTs are events: audit entries are immutable, and DynamoDB Local
        reports TTL deletions as `UNKNOWN_TO_SDK_VERSION` rather than `REMOVE`."""
        entry = audit_entry_from_record(record)
        if entry is None:
            return None
        return cls.from_audit_entry(entry, record.get("dynamodb", {}).get("SequenceNumber"))


def audit_entry_from_record(record: dict[str, Any]) -> Any | None:
    """The `AuditEntry` of an INSERT stream record (NEW_IMAGE), else None."""
    from models import AuditEntry

    if record.get("eventName") != "INSERT":
        return None
    image = record.get("dynamodb", {}).get("NewImage")
    if not image:
        return None
    return AuditEntry.from_raw_data(image)
