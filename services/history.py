"""Point-in-time reads: a loan and its participants as they were at an instant,
rebuilt from the audit trail (docs/evidence.md).

Every audit entry of a loan or participant holds the record's full image
after the change (`after`, every attribute as `record_dict` writes it). So the
state at instant T is, for each record, the `after` of its newest entry
recorded at or before T, applied in commit order (`context.loan_seq`, then
`context.tx.index`). Two changes are not recorded per participant and are
replayed from the loan's entry that made them: a deletion's cascade
(`context.cascaded_participant_ids`) and a restore's
(`context.restored_participant_ids`). The funding figures are then
recomputed from the participants at T with the same function the write path
uses (`services.funding`), and `last_funding_update` is the newest
participant change at or before T.

An instant is compared with the entries' recorded `timestamp` (taken just
before the transaction commits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from models import AuditEntry, Loan, Participant
from models.attributes import DecimalAttribute
from services import funding
from services.chain import commit_key
from services.common import iso


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def from_image(cls: type[Model], image: dict[str, Any]) -> Any:
    """A model from a `record_dict` image (the inverse of `record_dict`)."""
    attrs = cls.get_attributes()
    kwargs: dict[str, Any] = {}
    for name, value in image.items():
        attr = attrs.get(name)
        if attr is None or value is None:
            continue
        if isinstance(attr, UTCDateTimeAttribute):
            kwargs[name] = parse_iso(value)
        elif isinstance(attr, DecimalAttribute):
            kwargs[name] = Decimal(value)
        elif isinstance(attr, BooleanAttribute):
            kwargs[name] = bool(value)
        elif isinstance(attr, NumberAttribute):
            kwargs[name] = Decimal(str(value)) if isinstance(value, str) else value
        else:
            kwargs[name] = value
    return cls(**kwargs)


@dataclass
class PointInTime:
    at: datetime
    loan: Loan
    participants: list[Participant]  # every participant at `at`, removed ones included


def _pid(e: AuditEntry) -> str:
    ctx = e.context or {}
    return str(ctx.get("participant_id") or e.record_id.split("/", 1)[1])


def reconstruct(entries: list[AuditEntry], at: datetime) -> PointInTime | None:
    """Pure: the loan at `at` from its trail (entries of any time, any order)."""
    upto = sorted((e for e in entries if e.timestamp <= at), key=commit_key)
    loan_img: dict[str, Any] | None = None
    parts: dict[str, dict[str, Any]] = {}
    last_participant_change: datetime | None = None
    for e in upto:
        ctx = e.context or {}
        if e.table_name == "loans":
            if e.after is None:
                continue
            loan_img = dict(e.after)
            ts, who = iso(e.timestamp), e.actor_id
            for pid in ctx.get("cascaded_participant_ids") or []:
                p = parts.get(pid)
                if p is not None:
                    p.update(
                        deleted_at=ts,
                        deleted_by=who,
                        deletion_reason=loan_img.get("deletion_reason"),
                        deletion_id=ctx.get("deletion_id"),
                        version=int(p.get("version") or 1) + 1,
                        updated_at=ts,
                        updated_by=who,
                    )
            for pid in ctx.get("restored_participant_ids") or []:
                p = parts.get(pid)
                if p is not None:
                    p.update(
                        deleted_at=None,
                        deleted_by=None,
                        deletion_reason=None,
                        deletion_id=None,
                        version=int(p.get("version") or 1) + 1,
                        updated_at=ts,
                        updated_by=who,
                    )
        elif e.table_name == "participants" and e.after is not None:
            parts[_pid(e)] = dict(e.after)
            last_participant_change = e.timestamp
    if loan_img is None:
        return None
    loan: Loan = from_image(Loan, loan_img)
    people = [from_image(Participant, img) for img in parts.values()]
    funding.apply(loan, funding.compute(loan.amount, funding.counted(loan, people)))
    if last_participant_change is not None and (
        loan.last_funding_update is None or last_participant_change > loan.last_funding_update
    ):
        loan.last_funding_update = last_participant_change
    people.sort(key=lambda p: p.participant_id)
    return PointInTime(at, loan, people)


def loan_as_of(loan_id: str, at: datetime) -> PointInTime | None:
    """Blocking: one Query of the loan's trail up to `at`."""
    entries = list(AuditEntry.by_loan.query(loan_id, AuditEntry.sk <= iso(at) + "~"))
    return reconstruct(entries, at)
